"""solutions/l04_variants.py holds comparison-only layers and no exercises: nothing to mutate."""

MUTANTS = []
