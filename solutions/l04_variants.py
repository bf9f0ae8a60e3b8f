"""Lesson 04's comparison-only layers: variants of the library's norms that the lesson trains to show
what goes wrong. Not for use; `solutions.l04_norms` holds the layers to use.

- `NoGradBatchNorm`: the lecture notebook's BatchNorm (fast.ai course-v3, 07_batchnorm): batch
  statistics under `torch.no_grad()` and with the unbiased variance.
- `TranscriptRunningBatchNorm`: RunningBatchNorm with the debiasing the lecture describes in words
  (a running product of the momentum). The video's code is not published; this is our reading.
"""

from __future__ import annotations

import torch

from solutions.l04_norms import BatchNorm, RunningBatchNorm, clamp_var, ema_update, norm_affine, rbn_momentum, \
    running_mean_var


class NoGradBatchNorm(BatchNorm):
    """The lecture notebook's BatchNorm: its batch statistics are computed under `torch.no_grad()`
    (no gradient flows through the mean and variance) and with `x.var` (the unbiased variance) for
    normalising as well as for the running variance."""

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True)
            ema_update(self.means, mean, self.mom)
            ema_update(self.vars, var, self.mom)
        return mean, var


class TranscriptRunningBatchNorm(RunningBatchNorm):
    """RunningBatchNorm with the debiasing as the lecture's transcript describes it: a debiasing
    amount that starts at the momentum and is multiplied by the momentum at every step (momentum,
    momentum squared, momentum cubed...), the averages of the sums, squares and counts divided by it
    for the first 100 steps. The momentum is the layer's weight of the new batch, `rbn_momentum`."""

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        super().__init__(nf, mom, eps)
        self.register_buffer("dbias", torch.tensor(1.0))
        self.register_buffer("step", torch.tensor(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            sums, sqrs = self.update_stats(x)
            self.dbias *= rbn_momentum(self.mom, x.shape[0])
            self.step += 1
        else:
            sums, sqrs = self.sums, self.sqrs
        count = self.count
        if self.step < 100:
            sums, sqrs, count = sums / self.dbias, sqrs / self.dbias, count / self.dbias
        mean, var = running_mean_var(sums, sqrs, count)
        return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)
