"""One seeding helper for lessons, tests and challenges. Importing it changes nothing."""

import random

import numpy as np
import torch


def set_seed(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and PyTorch's (CUDA's too) generators; switch PyTorch's deterministic kernels
    on (`deterministic=False`: off). An op with no deterministic kernel warns."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
