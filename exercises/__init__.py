# GENERATED from solutions/__init__.py by `make stubs` (fingerprint b76c1cbde87c6596).
"""The course library, one module per lesson: reference answers in solutions/, your copy in exercises/."""
