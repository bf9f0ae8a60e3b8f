# GENERATED from solutions/l04_norms.py by `make stubs` (fingerprint 6f5f4afcfccc42a8).
# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,
# then run `make grade`.
"""Lesson 04 - normalisation from scratch: batch, layer, instance and group norm, and RunningBatchNorm.

The layers, each an `nn.Module` for 4-d activations of shape (N, C, H, W), all subclasses of `Norm`
(the learned `mults` and `adds`, and `eps`):

- `BatchNorm(nf, mom=0.1, eps=1e-5)`: batch norm from the paper, numerically PyTorch's
  `nn.BatchNorm2d` (statistics over (N, H, W) per channel, the biased variance to normalise, the
  unbiased one in the running variance, `mom` the weight of the new value).
- `LayerNorm(eps=1e-5)`: statistics over (C, H, W) per image, a scalar `mults` and `adds`.
- `InstanceNorm(nf, eps=1e-5)`: statistics over (H, W) per image and channel.
- `GroupNorm(num_groups, nf, eps=1e-5)`: statistics over (C/G, H, W) per image and group of channels.
- `RunningBatchNorm(nf, mom=0.1, eps=1e-5)`: batch norm that normalises with its running statistics
  in training too, so it works at batch size 2.
- `BatchNormFunction`: batch norm's training step as one autograd node, its backward written by
  hand; `FastBatchNorm` and `FastRunningBatchNorm` train through it (same numbers, fewer operations).

The pieces they are made of are functions of their own: `upcast`, `batch_stats`, `ema_update`,
`norm_affine`, `fog`, `rbn_momentum`, `debias_factor`, `running_mean_var`, `clamp_var`.
Statistics of half-precision inputs (float16, bfloat16) are taken in float32, as PyTorch does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from solutions.l03_cnn_hooks import GeneralRelu

# ------------------------------------------------------------------- the pieces


def upcast(x: torch.Tensor) -> torch.Tensor:
    """`x` in float32 if it is half precision (float16 or bfloat16), else `x` itself.

    Sums of many half-precision numbers lose most of their digits (bfloat16 keeps about three) or
    overflow (float16 stops at 65504), so the norms take their statistics in float32."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def batch_stats(x: torch.Tensor, dims=(0, 2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the *biased* variance (divide by n, not n - 1) of `x` over `dims`.

    Both keep the reduced dimensions (size 1), so they broadcast against `x`: for x of shape
    (N, C, H, W) and the default dims, each has shape (1, C, 1, 1). Returns `(mean, var)`; both
    are part of the autograd graph (gradients flow through them).

    Numerically sound: the variance is the mean of the squared deviations from the mean (two passes
    over x), not E[x^2] - E[x]^2, which cancels catastrophically when the mean is large against the
    spread. A half-precision `x` has its statistics computed, and returned, in float32 (`upcast`).
    """
    raise NotImplementedError("exercise 04-batch-stats: batch_stats")


def ema_update(avg: torch.Tensor, new: torch.Tensor, mom: float) -> torch.Tensor:
    """Move the running average `avg` a fraction `mom` of the way to `new`, in place, and return it.

    `avg <- (1 - mom) * avg + mom * new`: `mom` is the weight of the *new* value, as in PyTorch's
    batch-norm `momentum` (0.1 by default) - the opposite of the `beta` of an optimiser's momentum.
    """
    raise NotImplementedError("exercise 04-ema: ema_update")


def norm_affine(x, mean, var, mults, adds, eps: float = 1e-5) -> torch.Tensor:
    """Normalise `x` with `mean` and `var`, then scale by `mults` and shift by `adds`.

    `(x - mean) / sqrt(var + eps) * mults + adds`, with every argument broadcasting against `x`.
    The result has x's dtype (for a half-precision x with float32 statistics the arithmetic is done
    in float32 and the result rounded back to x's dtype, as `nn.BatchNorm2d` does).
    """
    raise NotImplementedError("exercise 04-norm-affine: norm_affine")


def fog(x: torch.Tensor, contrast: float = 0.5, dim: float = 1.0) -> torch.Tensor:
    """A "foggy day" version of the images `x`: darker and lower in contrast.

    Each image is pulled towards its own mean by the factor `contrast` (0 < contrast <= 1; 1 keeps
    the contrast) and then `dim` is subtracted from every pixel: `x_mean + contrast * (x - x_mean) - dim`,
    the mean taken per image over all its dimensions but the first. `x` is not changed.
    """
    if not 0 < contrast <= 1:
        raise ValueError(f"contrast must be in (0, 1], got {contrast}")
    raise NotImplementedError("exercise 04-fog: fog")


# -------------------------------------------------------------------- the layers


class Norm(nn.Module):
    """The base of the lesson's norm layers: the learned scale `mults` (ones) and shift `adds`
    (zeros), one per channel of shape (nf, 1, 1) - or, with `nf=None`, one scalar each - and `eps`,
    added to the variance before the square root."""

    def __init__(self, nf: int | None, eps: float = 1e-5):
        super().__init__()
        shape = () if nf is None else (nf, 1, 1)
        self.eps = eps
        self.mults = nn.Parameter(torch.ones(shape))
        self.adds = nn.Parameter(torch.zeros(shape))

    def extra_repr(self) -> str:
        nf = "" if self.mults.ndim == 0 else f"{self.mults.shape[0]}, "
        return f"{nf}eps={self.eps}"


class BatchNorm(Norm):
    """Batch normalisation (Ioffe & Szegedy, 2015) of (N, C, H, W) activations, from scratch.

    In training it normalises each channel with the mean and biased variance of the batch over
    (N, H, W), and updates the running statistics; in evaluation it uses the running statistics.
    Then it multiplies by the learned `mults` and adds the learned `adds`. Numerically the same as
    `nn.BatchNorm2d(nf, eps=eps, momentum=mom)`.

    Args:
        nf: number of channels C.
        mom: weight of the new batch in the running statistics (PyTorch's `momentum`).
        eps: added to the variance before the square root.
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        """`Norm` makes `mults`, `adds` and `eps`. Add the buffers (`register_buffer`: saved in the
        state dict, moved by `.to()`, not trained) `means` (zeros) and `vars` (ones), each of shape
        (1, nf, 1, 1), and keep `mom` as an attribute."""
        super().__init__(nf, eps)
        raise NotImplementedError("exercise 04-batchnorm-init: BatchNorm.__init__")

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean and biased variance per channel (`batch_stats`), returned with their
        gradients; and, without gradients, the running statistics moved towards them with
        `ema_update` and `mom`: `means` towards the mean, `vars` towards the *unbiased* variance
        (the biased one times n / (n - 1), n = N * H * W values per channel), as PyTorch does.

        With a single value per channel (n = 1) there is no variance to speak of: raise a
        ValueError that says so, as `nn.BatchNorm2d` does, instead of normalising every value to 0.
        """
        raise NotImplementedError("exercise 04-batchnorm-update: BatchNorm.update_stats")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In training, normalise with the batch statistics from `update_stats(x)`, with the gradient
        flowing through them (autograd), as in `nn.BatchNorm2d`; in evaluation (`self.training`
        False), with the running `means` and `vars`; then `mults` and `adds` (`norm_affine`)."""
        raise NotImplementedError("exercise 04-batchnorm-forward: BatchNorm.forward")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mom={self.mom}"


class LayerNorm(Norm):
    """Layer normalisation (Ba et al., 2016): each image normalised over all its (C, H, W) values
    with their mean and biased variance, then one learned scalar `mults` (1) and `adds` (0). Same in
    training and evaluation: no running statistics."""

    def __init__(self, eps: float = 1e-5):
        super().__init__(None, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`norm_affine` with the statistics of each image over dims (1, 2, 3)."""
        raise NotImplementedError("exercise 04-layernorm: LayerNorm.forward")


class InstanceNorm(Norm):
    """Instance normalisation (Ulyanov et al., 2016): each channel of each image normalised over its
    (H, W) values, then per-channel `mults` and `adds`, as `nn.InstanceNorm2d(nf, affine=True)`.
    No running statistics."""

    def __init__(self, nf: int, eps: float = 1e-5):
        super().__init__(nf, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`norm_affine` with the statistics of each image and channel over dims (2, 3)."""
        raise NotImplementedError("exercise 04-instancenorm: InstanceNorm.forward")


class GroupNorm(Norm):
    """Group normalisation (Wu & He, 2018): the `nf` channels split into `num_groups` groups of
    consecutive channels; each group of each image normalised over its (C / G, H, W) values; then
    per-channel `mults` and `adds`, as `nn.GroupNorm`. `num_groups = 1` is layer norm (with
    per-channel affine), `num_groups = nf` instance norm."""

    def __init__(self, num_groups: int, nf: int, eps: float = 1e-5):
        if num_groups < 1 or nf % num_groups:
            raise ValueError(f"{nf} channels cannot be split into {num_groups} equal groups")
        super().__init__(nf, eps)
        self.num_groups = num_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Take each (image, group)'s mean and biased variance (view x as (N, G, C // G * H * W)),
        give every channel its group's statistics (shape (N, C, 1, 1)), then `norm_affine`."""
        raise NotImplementedError("exercise 04-groupnorm: GroupNorm.forward")

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {super().extra_repr()}"


# ------------------------------------------------------------- RunningBatchNorm


def rbn_momentum(mom: float, bs: int) -> float:
    """RunningBatchNorm's weight of a new batch of `bs` items: `1 - (1 - mom) / sqrt(bs - 1)`.

    `mom` at bs = 2 (and for bs = 1, where the formula would divide by zero), growing towards 1 as
    batches get larger and their statistics more trustworthy. Returns a Python float, not a tensor.
    """
    raise NotImplementedError("exercise 04-rbn-momentum: rbn_momentum")


def debias_factor(moms) -> float:
    """The total weight an exponential moving average started at zero has given to the values it
    has seen, after updates with the weights `moms` (one per update, any iterable of floats - an
    iterator too, so go through it once; none: 0.0).

    With `avg <- (1 - m) * avg + m * x` at each update, that total is `1 - prod(1 - m)`: for a
    constant m after t updates, `1 - (1 - m) ** t`. Dividing the average by it removes the pull
    towards the starting zero (Adam's bias correction).
    """
    raise NotImplementedError("exercise 04-debias: debias_factor")


def running_mean_var(sums, sqrs, count) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the (biased) variance from averages of sums, sums of squares and counts.

    `mean = sums / count` and `var = E[x^2] - E[x]^2 = sqrs / count - mean^2`, never negative: when
    a channel hardly varies, the two terms are nearly equal and rounding can make their difference
    negative (the square root of which is `nan`), so raise the variance to at least 0. (A common
    factor of the three averages, such as their debias factor, cancels out of both.)
    """
    raise NotImplementedError("exercise 04-running-var: running_mean_var")


def clamp_var(var: torch.Tensor, n_seen, min_var: float = 0.01, until: int = 20) -> torch.Tensor:
    """`var` with every value raised to at least `min_var` while fewer than `until` items have been
    seen (`n_seen < until`; a number or a 0-d tensor such as the buffer `seen`); `var` unchanged
    after that. Not in place: `var` itself keeps its values."""
    raise NotImplementedError("exercise 04-clamp-var: clamp_var")


class RunningBatchNorm(Norm):
    """Batch norm that normalises with running statistics in training too (fast.ai, 2019).

    It keeps exponential moving averages (buffers) of each channel's sum `sums` and sum of squares
    `sqrs` over (N, H, W), both of shape (1, nf, 1, 1), and of the number of values per channel
    `count` (a scalar), all starting at 0, moved with the weight `rbn_momentum(mom, bs)` at each
    training batch; `seen` counts the items (images) seen. Mean and variance come from
    `running_mean_var`; the variance is clamped with `clamp_var` until 20 items have been seen.
    Averaging sums and counts, not means and variances, weights each batch by its size. Sums of a
    half-precision input are taken in float32 (`upcast`).

    In training, the current batch's share of the averages keeps its gradient (the earlier batches'
    shares are constants), so the layer still learns through its statistics like batch norm does.
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        super().__init__(nf, eps)
        self.mom = mom
        self.register_buffer("sums", torch.zeros(1, nf, 1, 1))
        self.register_buffer("sqrs", torch.zeros(1, nf, 1, 1))
        self.register_buffer("count", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(0))

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's averages of the sums and of the squares: the buffers `sums` and `sqrs` moved
        towards this batch's per-channel sums over (0, 2, 3) (keepdim) and sums of squares, with the
        weight `rbn_momentum(self.mom, N)`, returned with the gradient of this batch's share (the
        buffers themselves hold no gradient: the old averages are constants). Also store them in
        the buffers (without gradient), move `count` towards the number of values per channel
        (numel / C) with the same weight, and add N to `seen`. Sums of a half-precision x in float32.
        """
        raise NotImplementedError("exercise 04-rbn-update: RunningBatchNorm.update_stats")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In training, the averages from `update_stats(x)`; in evaluation, the buffers `sums` and
        `sqrs`. Then (both modes) the mean and variance from `running_mean_var` with `count`, the
        variance through `clamp_var(var, seen)`, and `norm_affine` with `mults` and `adds`. Before
        any training batch there is nothing to normalise with: RuntimeError in evaluation."""
        raise NotImplementedError("exercise 04-rbn-forward: RunningBatchNorm.forward")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mom={self.mom}"


# ------------------------------------------------------ one autograd node: the backward by hand


class BatchNormFunction(torch.autograd.Function):
    """`norm_affine(x, mean, var, mults, adds, eps)` as one autograd node, for statistics made from x.

    `mean` and `var` (shape (1, C, 1, 1)) come without gradients, but they were computed from `x`,
    and the backward pass includes the gradient through them. Each value of x counts in its channel's
    statistics with the weight `share`: d mean / dx = share, d var / dx = 2 share (x - mean). Batch
    norm: share = 1 / n (n = N * H * W values per channel); RunningBatchNorm: mom1 / count. Where
    `var_grad` (a (1, C, 1, 1) tensor, or None: everywhere) is False, the variance is a constant
    (clamped) and passes no gradient. Use it as `BatchNormFunction.apply(x, mean, var, ...)`.
    """

    @staticmethod
    def forward(ctx, x, mean, var, mults, adds, eps: float, share: float, var_grad=None):
        rstd = torch.rsqrt(var + eps)
        xhat = (x - mean).mul_(rstd)
        ctx.save_for_backward(xhat, mults * rstd, var_grad)
        ctx.share = share
        return torch.addcmul(adds, xhat, mults)

    @staticmethod
    def backward(ctx, grad):
        """The gradients of the loss for `x`, `mults` and `adds` from `grad`, the loss's gradient for
        the output (shape (N, C, H, W)): one value per input of `forward`, in order, `None` for
        the others - `(grad_x, None, None, grad_mults, grad_adds, None, None, None)`. They must be
        autograd's gradients of the same computation through the statistics (checked against
        PyTorch's batch norm, with `torch.autograd.gradcheck`, and with a share other than 1 / n
        and a clamped variance).

        `ctx.saved_tensors` holds `xhat`, the normalised input `(x - mean) / sqrt(var + eps)`, and
        `factor = mults / sqrt(var + eps)` (shape (1, C, 1, 1)), and `var_grad` (see the class);
        `ctx.share` is the share. The lesson (section 7) derives the formulas: the gradients of
        `mults` and `adds` are per-channel sums over (0, 2, 3), shaped like `mults` ((C, 1, 1));
        x's gradient collects its three paths to the output - directly, through the mean and through
        the variance - with `share` in the place of the paper's 1 / m, and without the path through
        the variance in the channels where `var_grad` is False.
        """
        raise NotImplementedError("exercise 04-batchnorm-backward: BatchNormFunction.backward")


class FastBatchNorm(BatchNorm):
    """`BatchNorm` whose training step is one autograd node, `BatchNormFunction`: the same outputs
    and gradients (up to rounding) with far fewer recorded operations."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        with torch.no_grad():
            mean, var = self.update_stats(x)
        return BatchNormFunction.apply(x, mean, var, self.mults, self.adds, self.eps, mean.numel() / x.numel())


class FastRunningBatchNorm(RunningBatchNorm):
    """`RunningBatchNorm` whose training step is `BatchNormFunction`: each value of x has the weight
    `share = mom1 / count` in the mean, and a variance raised by `clamp_var` is a constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        with torch.no_grad():
            mean, var = running_mean_var(*self.update_stats(x), self.count)
        clamped = clamp_var(var, self.seen)
        share = rbn_momentum(self.mom, x.shape[0]) / self.count.item()
        return BatchNormFunction.apply(x, mean, clamped, self.mults, self.adds, self.eps, share, clamped == var)


# ------------------------------------------------------------------------ the CNN


def conv_layer(ni: int, nf: int, ks: int = 3, stride: int = 2, norm=BatchNorm, **kwargs) -> nn.Sequential:
    """Lesson 04's layer: a `ks` x `ks` convolution from `ni` to `nf` channels (padding `ks // 2`,
    stride `stride`), a `GeneralRelu(**kwargs)`, then `norm(nf)` (a class or any callable that
    makes a layer for `nf` channels); `norm=None`: no norm layer.

    With a norm the convolution has no bias (`bias=False`), as in the lecture: the norms' `adds`
    play that part (the previous layer's, through this convolution). Without a norm it keeps its bias.
    """
    raise NotImplementedError("exercise 04-conv-layer: conv_layer")


NFS = [8, 16, 32, 64, 64]  # the lesson's CNN: channels of its five conv layers


def layer_norm(nf: int) -> LayerNorm:
    """`LayerNorm()` for a layer of `nf` channels (it has no per-channel parameters), for `conv_layer`."""
    return LayerNorm()
