"""Benchmarks: `python -m course.bench.<topic>` prints its figures and ratios in one run."""
