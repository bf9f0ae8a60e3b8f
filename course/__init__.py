"""The course's machinery: a small runtime that content imports (paths, data, seed, show, check),
and the tools that use the content (grading, stubs, mutants, lessons, site, challenges, bench)."""
