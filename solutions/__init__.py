"""Reference solutions: the course library each lesson builds, one module per lesson."""
