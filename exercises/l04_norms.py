# GENERATED from solutions/l04_norms.py by `make stubs` (fingerprint 67e8ea708c5c3b1e).
# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,
# then run `make grade`.
"""Lesson 04 - normalisation from scratch, and RunningBatchNorm at batch size 2.

The layers, each an `nn.Module` for 4-d activations of shape (N, C, H, W):

- `BatchNorm(nf, mom=0.1, eps=1e-5)`: batch norm from the paper, numerically PyTorch's
  `nn.BatchNorm2d` (statistics over (N, H, W) per channel, the biased variance to normalise, the
  unbiased one in the running variance, `mom` the weight of the new value).
- `LayerNorm(eps=1e-5)`: statistics over (C, H, W) per image, one scalar `mult` and `add`.
- `InstanceNorm(nf, eps=1e-5)`: statistics over (H, W) per image and channel.
- `GroupNorm(num_groups, nf, eps=1e-5)`: statistics over (C/G, H, W) per image and group of channels.
- `RunningBatchNorm(nf, mom=0.1, eps=1e-5)`: batch norm that uses its running statistics in
  training too, so it works at batch size 2; `LectureRunningBatchNorm` keeps the lecture's
  wrong debiasing for comparison.
- `BatchNormFunction`: the training step of both batch norms as one autograd node, its backward
  written by hand; `AutogradBatchNorm` is BatchNorm with autograd instead, to check it against.

The pieces they are made of are functions of their own: `batch_stats`, `ema_update`,
`norm_affine`, `fog`, `rbn_momentum`, `debias_factor`, `running_mean_var`, `clamp_var`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context

import torch
from torch import nn

from course import threads
from course.seed import set_seed
from solutions.l03_cnn_hooks import (  # noqa: F401  (re-exported: the lesson imports them from here)
    AvgStatsCallback, BatchDataLoader, Callback, CancelEpochException, DataBunch, Dataset, GeneralRelu, Hook, Hooks,
    ParamScheduler, Recorder, accuracy, append_stats, combine_scheds, get_learn_run, mnist_databunch, sched_lin,
)

# ------------------------------------------------------------------- the pieces


def batch_stats(x: torch.Tensor, dims=(0, 2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the *biased* variance (divide by n, not n - 1) of `x` over `dims`.

    Both keep the reduced dimensions (size 1), so they broadcast against `x`: for x of shape
    (N, C, H, W) and the default dims, each has shape (1, C, 1, 1). Returns `(mean, var)`; both
    are part of the autograd graph (gradients flow through them).
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
    Written as `x * factor + offset` with `factor = mults / sqrt(var + eps)` and
    `offset = adds - mean * factor`, so that only one pass goes over the large tensor `x`.
    """
    raise NotImplementedError("exercise 04-normalize: norm_affine")


def fog(x: torch.Tensor, contrast: float = 0.5, haze: float = 1.0) -> torch.Tensor:
    """A "foggy day" version of the images `x`: lower contrast, brighter.

    Each image is pulled towards its own mean by the factor `contrast` (0 < contrast <= 1; 1 keeps
    the contrast) and then `haze` is added to every pixel: `x_mean + contrast * (x - x_mean) + haze`,
    the mean taken per image over all its dimensions but the first. `x` is not changed.
    """
    if not 0 < contrast <= 1:
        raise ValueError(f"contrast must be in (0, 1], got {contrast}")
    raise NotImplementedError("exercise 04-fog: fog")


# -------------------------------------------------------------------- batch norm


class BatchNorm(nn.Module):
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
        """Learned parameters `mults` (ones) and `adds` (zeros), each of shape (nf, 1, 1); buffers
        (`register_buffer`: saved in the state dict, moved by `.to()`, not trained) `means` (zeros)
        and `vars` (ones), each of shape (1, nf, 1, 1). Keep `mom` and `eps` as attributes."""
        super().__init__()
        raise NotImplementedError("exercise 04-batchnorm-init: BatchNorm.__init__")

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean and biased variance per channel (`batch_stats`), returned with their
        gradients; and, without gradients, the running statistics moved towards them with
        `ema_update` and `mom`: `means` towards the mean, `vars` towards the *unbiased* variance
        (the biased one times n / (n - 1), n = N * H * W values per channel), as PyTorch does."""
        raise NotImplementedError("exercise 04-batchnorm-update: BatchNorm.update_stats")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In training, normalise with the batch statistics from `update_stats(x)`, with the gradient
        flowing through them, as in `nn.BatchNorm2d`; in evaluation (`self.training` False), with the
        running `means` and `vars`; then `mults` and `adds` (`norm_affine`). Write it with autograd
        (`norm_affine` of what `update_stats` returns); ours trains through section 7's
        `BatchNormFunction`, which gives the same numbers faster."""
        raise NotImplementedError("exercise 04-batchnorm-forward: BatchNorm.forward")

    def extra_repr(self) -> str:
        return f"{self.mults.shape[0]}, mom={self.mom}, eps={self.eps}"


# --------------------------------------------------------------- the other norms


class LayerNorm(nn.Module):
    """Layer normalisation (Ba et al., 2016): each image normalised over all its (C, H, W) values
    with their mean and biased variance, then one learned scalar `mult` (1) and `add` (0). Same in
    training and evaluation: no running statistics."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.mult = nn.Parameter(torch.tensor(1.0))
        self.add = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`norm_affine` with the statistics of each image over dims (1, 2, 3)."""
        raise NotImplementedError("exercise 04-layernorm: LayerNorm.forward")


class InstanceNorm(nn.Module):
    """Instance normalisation (Ulyanov et al., 2016): each channel of each image normalised over its
    (H, W) values, then per-channel `mults` (ones) and `adds` (zeros) of shape (nf, 1, 1), as
    `nn.InstanceNorm2d(nf, affine=True)`. No running statistics."""

    def __init__(self, nf: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.mults = nn.Parameter(torch.ones(nf, 1, 1))
        self.adds = nn.Parameter(torch.zeros(nf, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`norm_affine` with the statistics of each image and channel over dims (2, 3)."""
        raise NotImplementedError("exercise 04-instancenorm: InstanceNorm.forward")


class GroupNorm(nn.Module):
    """Group normalisation (Wu & He, 2018): the `nf` channels split into `num_groups` groups of
    consecutive channels; each group of each image normalised over its (C / G, H, W) values; then
    per-channel `mults` (ones) and `adds` (zeros) of shape (nf, 1, 1), as `nn.GroupNorm`.
    `num_groups = 1` is layer norm (with per-channel affine), `num_groups = nf` instance norm."""

    def __init__(self, num_groups: int, nf: int, eps: float = 1e-5):
        super().__init__()
        if num_groups < 1 or nf % num_groups:
            raise ValueError(f"{nf} channels cannot be split into {num_groups} equal groups")
        self.num_groups, self.eps = num_groups, eps
        self.mults = nn.Parameter(torch.ones(nf, 1, 1))
        self.adds = nn.Parameter(torch.zeros(nf, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """View x as (N, G, C // G, H, W), take each (image, group)'s mean and biased variance over
        the last three dims, normalise, view back to (N, C, H, W), then `mults` and `adds`."""
        raise NotImplementedError("exercise 04-groupnorm: GroupNorm.forward")

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.mults.shape[0]}, eps={self.eps}"


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

    `mean = sums / count` and `var = E[x^2] - E[x]^2 = sqrs / count - mean^2`. (A common factor of
    the three averages, such as their debias factor, cancels out of both.)
    """
    raise NotImplementedError("exercise 04-running-var: running_mean_var")


def clamp_var(var: torch.Tensor, n_seen, min_var: float = 0.01, until: int = 20) -> torch.Tensor:
    """`var` with every value raised to at least `min_var` while fewer than `until` items have been
    seen (`n_seen < until`; a number or a 0-d tensor such as the buffer `seen`); `var` unchanged
    after that. Not in place: `var` itself keeps its values."""
    raise NotImplementedError("exercise 04-var-clamp: clamp_var")


class RunningBatchNorm(nn.Module):
    """Batch norm that normalises with running statistics in training too (fast.ai, 2019).

    It keeps exponential moving averages (buffers) of each channel's sum `sums` and sum of squares
    `sqrs` over (N, H, W), both of shape (1, nf, 1, 1), and of the number of values per channel
    `count` (a scalar), all starting at 0, moved with the weight `rbn_momentum(mom, bs)` at each
    training batch; `seen` counts the items (images) seen. Mean and variance come from
    `running_mean_var`; the variance is clamped with `clamp_var` until 20 items have been seen.
    Averaging sums and counts, not means and variances, weights each batch by its size.

    In training, the current batch's share of the averages keeps its gradient (the earlier batches'
    shares are constants), so the layer still learns through its statistics like batch norm does.
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.mom, self.eps = mom, eps
        self.mults = nn.Parameter(torch.ones(nf, 1, 1))
        self.adds = nn.Parameter(torch.zeros(nf, 1, 1))
        self.register_buffer("sums", torch.zeros(1, nf, 1, 1))
        self.register_buffer("sqrs", torch.zeros(1, nf, 1, 1))
        self.register_buffer("count", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(0))

    def update_stats(self, x: torch.Tensor) -> float:
        """Move `sums`, `sqrs` and `count` towards this batch's per-channel sums over (0, 2, 3)
        (keepdim), sums of squares, and number of values per channel (numel / C), each with the
        weight `mom1 = rbn_momentum(self.mom, N)`; add N to `seen`; return mom1.

        The old averages are detached first (`self.sums.detach()`), so only this batch's share
        carries a gradient; assign the new averages to `self.sums` and `self.sqrs`.
        """
        raise NotImplementedError("exercise 04-rbn-update: RunningBatchNorm.update_stats")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In training, `update_stats(x)` first; then (in training and evaluation) normalise with
        `running_mean_var` of the averages and the variance from `clamp_var(var, seen)`, and apply
        `mults` and `adds` (`norm_affine`). In training the gradient flows through this batch's
        share of the averages (`update_stats` keeps it), and not through a clamped variance: the
        gradients of x, `mults` and `adds` are autograd's for that computation. Before any training
        batch there is nothing to normalise with: RuntimeError in evaluation."""
        raise NotImplementedError("exercise 04-rbn-forward: RunningBatchNorm.forward")

    def extra_repr(self) -> str:
        return f"{self.mults.shape[0]}, mom={self.mom}, eps={self.eps}"


class LectureRunningBatchNorm(RunningBatchNorm):
    """RunningBatchNorm with a wrong debiasing, kept to show what goes wrong.

    For its first 100 steps it divides the averages of the sums and of the squares by their debias
    factor (`dbias`, the running `debias_factor` of the momenta used), but not the average of the
    counts, which is biased towards zero in exactly the same way. The mean comes out `1 / dbias`
    times too large (10 times at the first step), and the variance is wrong with it.
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        super().__init__(nf, mom, eps)
        self.register_buffer("dbias", torch.tensor(0.0))
        self.register_buffer("step", torch.tensor(0))

    def update_stats(self, x: torch.Tensor) -> float:
        mom1 = super().update_stats(x)
        self.dbias.lerp_(torch.ones_like(self.dbias), mom1)  # 1 - prod(1 - mom1) so far
        self.step += 1
        return mom1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.update_stats(x)
        sums, sqrs = self.sums, self.sqrs
        if self.step < 100:
            sums, sqrs = sums / self.dbias, sqrs / self.dbias  # ... but not self.count
        mean, var = running_mean_var(sums, sqrs, self.count)
        return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)


class AutogradBatchNorm(BatchNorm):
    """BatchNorm as section 2 builds it first: in training, `norm_affine` of the batch statistics from
    `update_stats`, and autograd for the gradient through them (12 recorded operations where
    `BatchNormFunction` is one). Kept to check and time `BatchNormFunction` against."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        return norm_affine(x, *self.update_stats(x), self.mults, self.adds, self.eps)


class LectureBatchNorm(AutogradBatchNorm):
    """The lecture notebook's BatchNorm, kept to show the difference: its batch statistics are
    computed under `torch.no_grad()` (no gradient flows through the mean and variance) and with
    `x.var` (the unbiased variance) for normalising as well as for the running variance."""

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True)
            ema_update(self.means, mean, self.mom)
            ema_update(self.vars, var, self.mom)
        return mean, var


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
    """`LayerNorm()` for a layer of `nf` channels (it has no per-channel parameters)."""
    return LayerNorm()


@dataclass
class Experiment:
    """One training run of the lesson's CNN on MNIST: what `train_cnn` needs to know.

    `norm` makes the norm layer for `nf` channels (a class, a `partial`, a module-level function:
    it must pickle); `sched`, if given, is a list of `(fraction, start, end)` linear pieces of the
    learning-rate schedule (`combine_scheds` of `sched_lin`s), which overrides `lr`.
    """

    name: str
    norm: object = BatchNorm
    bs: int = 512
    lr: float = 1.0
    epochs: int = 3
    sched: list = field(default_factory=list)
    seed: int = 42
    n_train: int | None = None  # use only the first n_train training images (a quick check)


_DATA = {}


def mnist_images(n_train=None):
    """The course split of MNIST as image tensors `(x_train, y_train, x_valid, y_valid)`, images shaped
    (N, 1, 28, 28) and normalised with `normalize_to`; loaded once per process, the first `n_train`
    training images only if given."""
    if "x" not in _DATA:
        data = mnist_databunch()
        _DATA.update(x=data.train_ds.x.view(-1, 1, 28, 28), y=data.train_ds.y,
                     xv=data.valid_ds.x.view(-1, 1, 28, 28), yv=data.valid_ds.y)
    n = n_train or len(_DATA["x"])
    return _DATA["x"][:n], _DATA["y"][:n], _DATA["xv"], _DATA["yv"]


class CancelEpochOnNaN(Callback):
    """Ends an epoch's training pass (CancelEpochException) after the first step whose loss was `nan`.

    A `nan` loss has `nan` gradients, so that step has made the weights `nan`, and no later step can
    bring them back (`nan - lr * grad` is `nan`): the rest of the pass would compute nothing but `nan`
    and end where it is now. Validation still runs and measures the network as it is."""

    def after_step(self):
        if torch.isnan(self.loss):
            raise CancelEpochException()


class TinyBatchConvs(Callback):
    """Trains with PyTorch's own CPU convolution kernels, not oneDNN's, in epochs whose training
    batches hold at most `max_bs` items; validation (and everything after the fit) uses whatever was
    set before the fit (`torch.backends.mkldnn.enabled`), restored even when the fit ends in an error.

    oneDNN pays a fixed cost per call that only large batches earn back: on one thread, the lesson's
    five convolutions, forward and backward, take less than half the time without it at batch size 2,
    and at 32 and for validation oneDNN is much the faster (lesson 04, section 7). The results change
    only by float rounding - which at batch size 2 is enough to move a run's accuracy."""

    def __init__(self, max_bs: int = 8):
        self.max_bs, self.onednn = max_bs, None

    def begin_fit(self):
        self.onednn = torch.backends.mkldnn.enabled

    def begin_epoch(self):
        torch.backends.mkldnn.enabled = self.onednn and self.data.train_dl.bs > self.max_bs

    def begin_validate(self):
        if self.onednn is not None:  # None: the fit failed before begin_fit reached this callback
            torch.backends.mkldnn.enabled = self.onednn

    def after_fit(self):
        self.begin_validate()
        self.onednn = None  # a later fit of this instance saves the setting anew


def train_cnn(exp: Experiment) -> dict:
    """Train the lesson's CNN (`get_learn_run` with `conv_layer(norm=exp.norm)`, `init_cnn`, SGD) as
    `exp` says and return its numbers: `valid_acc`, `valid_loss` and `train_loss` of each epoch,
    the `losses` of every training batch, and `seconds`.

    The images are already shaped (N, 1, 28, 28), so no callback reshapes them, and validation
    goes in batches of 1000 whatever the training batch size: in evaluation mode a norm layer
    does not use the batch's statistics, so the validation batch size changes nothing but speed.
    A run whose loss turns `nan` skips the rest of each epoch's training (`CancelEpochOnNaN`), and
    batches of at most 8 train with PyTorch's own convolution kernels (`TinyBatchConvs`).
    """
    set_seed(exp.seed)
    x, y, xv, yv = mnist_images(exp.n_train)
    data = DataBunch(BatchDataLoader(Dataset(x, y), exp.bs, shuffle=True), BatchDataLoader(Dataset(xv, yv), 1000),
                     c_in=784, c_out=10)
    epochs = []
    cbs = [Recorder, CancelEpochOnNaN, TinyBatchConvs,
           partial(AvgStatsCallback, accuracy, report=lambda _: epochs.append(
               (run.avg_stats.train_stats.avg_stats, run.avg_stats.valid_stats.avg_stats)))]
    if exp.sched:
        pcts, scheds = zip(*[(p, sched_lin(a, b)) for p, a, b in exp.sched])
        cbs.append(partial(ParamScheduler, "lr", combine_scheds(list(pcts), list(scheds))))
    learn, run = get_learn_run(NFS, data, exp.lr, partial(conv_layer, norm=exp.norm), cbs=cbs)
    start = time.perf_counter()
    run.fit(exp.epochs, learn)
    return dict(name=exp.name, seconds=time.perf_counter() - start, losses=run.recorder.losses,
                train_loss=[t[0] for t, _ in epochs], valid_loss=[v[0] for _, v in epochs],
                valid_acc=[v[1] for _, v in epochs])


def _start_worker():
    """A worker process's set-up: one thread, and a session of its own (`os.setsid`, where there is one).

    Linux shares the CPUs fairly between sessions ("autogroups") before it shares them between the
    processes of a session. Workers in the notebook kernel's session would together get what one busy
    program in another session gets - one core of two, however many workers there are; each in a
    session of its own, a worker has the same claim as any other program."""
    torch.set_num_threads(1)
    if hasattr(os, "setsid"):
        with contextlib.suppress(OSError):  # already a session or process group leader
            os.setsid()


def run_cost(exp: Experiment) -> int:
    """About how long `train_cnn(exp)` takes, in units of one image's forward and backward pass: every
    step also costs as much as about 25 images (15-30) in per-step overhead (one thread, 2026-12-05: at batch
    size 2 a step takes 1.8 ms, 3.1 ms with RunningBatchNorm, and 512 images about 50 ms)."""
    n = exp.n_train or 50_000
    return exp.epochs * (n + 25 * math.ceil(n / exp.bs))


def default_workers(n_runs: int) -> int:
    """How many runs `run_experiments` trains at once: one per CPU, plus one for each CPU that other
    processes keep busy now (measured as `course.threads` measures idle cores), at most `n_runs`.

    Beside a program that keeps one of two cores busy, the CPUs are shared evenly among it and the
    workers (each in a session of its own, `_start_worker`): two workers get 2/3 of a core each, 1.33
    cores in all, and three get half a core each, 1.5 cores. On an idle machine an extra worker only
    costs time (about 9% more, measured on 2 cores), so there is none."""
    cpus = os.cpu_count() or 1
    busy = cpus - min(cpus, int(threads.idle_cores() + 0.25))
    return max(1, min(n_runs, cpus + busy))


def run_experiments(exps, workers: int | None = None) -> dict[str, dict]:
    """`train_cnn` for each experiment, `workers` at a time (default: `default_workers`) in separate
    processes, each on one thread and in a session of its own; results by experiment name. An
    interrupt (or any error) ends the workers at once.

    The runs are independent and each seeds itself, so the numbers do not depend on how many run
    at once. Longest first (`run_cost`), so that no long run starts last."""
    exps = sorted(exps, key=run_cost, reverse=True)
    workers = workers or default_workers(len(exps))
    with get_context("spawn").Pool(workers, initializer=_start_worker) as pool:  # leaving it ends the workers
        return {r["name"]: r for r in pool.map(train_cnn, exps, chunksize=1)}
