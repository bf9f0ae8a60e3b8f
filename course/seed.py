"""One seeding helper for lessons, tests and challenges.

Importing it also applies the course's thread policy (`course.threads.configure()`), before torch
is imported where this is the first import of torch (the conftest, the challenge runner).
"""

import random

from course import threads

threads.configure()

import numpy as np  # noqa: E402  (after the thread policy: torch's OpenMP reads it once, at import)
import torch  # noqa: E402


def set_seed(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators, and switch PyTorch's deterministic
    kernels on (or, with `deterministic=False`, off); an op with no deterministic kernel warns."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too, when present
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
