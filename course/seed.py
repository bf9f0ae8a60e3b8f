"""One seeding helper for lessons, tests and challenges."""

import random

import numpy as np
import torch


def set_seed(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python's and PyTorch's random generators; optionally ask for deterministic kernels."""
    random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too, when present
    np.random.seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
