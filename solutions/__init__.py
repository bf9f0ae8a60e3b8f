"""The course library, one module per lesson: reference answers in solutions/, your copy in exercises/."""
