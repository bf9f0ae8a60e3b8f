# GENERATED from solutions/__init__.py by `make stubs`. This file is yours to edit: replace each
# `raise NotImplementedError(...)` with your answer, then run `make grade`.
"""Reference solutions: the course library each lesson builds, one module per lesson."""
