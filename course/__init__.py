"""The course's machinery: data, seeding, lesson execution, exercise stubs, grading, the site."""
