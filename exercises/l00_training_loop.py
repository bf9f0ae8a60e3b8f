# GENERATED from solutions/l00_training_loop.py by `make stubs` (fingerprint eb1bb03633e20258).
# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,
# then run `make grade`.
"""Lesson 00 - the training loop so far.

Data (Dataset, DataLoader, DataBunch), a Learner that bundles model, optimiser, loss and data,
and the event-based Runner whose Callbacks do everything else: train/eval mode, statistics,
recording, hyper-parameter schedules. In this version a callback cancels a step by returning
True; lesson 02 replaces that with exceptions (`solutions.l02_exceptions.Runner`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from functools import partial, wraps

import matplotlib.pyplot as plt
import torch
from torch import nn

from course.data import get_mnist


def listify(o) -> list:
    """`o` as a list: None -> [], a list stays, a str or single object is wrapped, iterables are listed."""
    if o is None:
        return []
    if isinstance(o, list):
        return o
    if isinstance(o, (str, nn.Module, torch.Tensor)) or not hasattr(o, "__iter__"):
        return [o]
    return list(o)


# ---------------------------------------------------------------------------- data


class Dataset:
    """Pairs inputs with targets: `ds[i] -> (x[i], y[i])`.

    Args:
        x: inputs, shape (N, ...).
        y: targets, shape (N, ...).
    """

    def __init__(self, x, y):
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        """Number of (input, target) pairs."""
        raise NotImplementedError("exercise 00-dataset: Dataset.__len__")

    def __getitem__(self, i):
        """The pair `(x[i], y[i])`; `i` may be an int, a slice or a tensor of indices."""
        raise NotImplementedError("exercise 00-dataset: Dataset.__getitem__")

    def __repr__(self):
        return f"{type(self).__name__}(n={len(self)})"


def collate(batch: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a list of (x, y) pairs into a batch `(xb, yb)` with a leading batch dimension."""
    xs, ys = zip(*batch)
    return torch.stack(xs), torch.stack(ys)


class DataLoader:
    """Iterates over a Dataset in mini-batches of `bs` items.

    With `shuffle=True` each pass draws a new random order (torch's global generator, so
    `set_seed` makes it repeatable); the last batch may be smaller than `bs`.
    """

    def __init__(self, ds, bs: int, shuffle: bool = False, collate_fn=collate):
        if bs < 1:
            raise ValueError(f"batch size must be at least 1, got {bs}")
        self.ds, self.bs, self.shuffle, self.collate_fn = ds, bs, shuffle, collate_fn

    def __len__(self) -> int:
        """Number of batches in one pass (the last one may be partial)."""
        raise NotImplementedError("exercise 00-dataloader: DataLoader.__len__")

    def __iter__(self):
        """Yield `collate_fn([ds[i] for i in batch_indices])` for each batch, in order or shuffled."""
        raise NotImplementedError("exercise 00-dataloader: DataLoader.__iter__")


class DataBunch:
    """The training and validation DataLoaders, plus the number of input and output channels."""

    def __init__(self, train_dl: DataLoader, valid_dl: DataLoader, c_in: int | None = None, c_out: int | None = None):
        self.train_dl, self.valid_dl, self.c_in, self.c_out = train_dl, valid_dl, c_in, c_out

    @property
    def train_ds(self):
        return self.train_dl.ds

    @property
    def valid_ds(self):
        return self.valid_dl.ds


def get_dls(train_ds, valid_ds, bs: int) -> tuple[DataLoader, DataLoader]:
    """Training loader (shuffled, batch size `bs`) and validation loader (in order, `2 * bs`).

    Validation needs no gradients, so twice the batch fits in the same memory; its order
    doesn't matter, so it isn't shuffled.
    """
    raise NotImplementedError("exercise 00-get-dls: get_dls")


# ------------------------------------------------------------------- model, learner


class Learner:
    """Everything that is trained together: the model, its optimiser, the loss and the data."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, loss_func, data: DataBunch):
        self.model, self.opt, self.loss_func, self.data = model, opt, loss_func, data


def get_model(data: DataBunch, lr: float = 0.5, nh: int = 50) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A one-hidden-layer MLP for `data` and a plain SGD optimiser on it."""
    model = nn.Sequential(nn.Linear(data.c_in, nh), nn.ReLU(), nn.Linear(nh, data.c_out))
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def accuracy(out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Fraction of rows of `out` (N, C) whose largest score is at the target class `yb` (N,): a 0-dim float tensor."""
    raise NotImplementedError("exercise 00-accuracy: accuracy")


# ------------------------------------------------------------------------ callbacks

def camel2snake(name: str) -> str:
    """A CamelCase name in snake_case (a `str`): an underscore where a new word starts, then lowercase.

    A word starts at a capital followed by lowercase letters, or at a capital that follows a lowercase
    letter or a digit; a run of capitals (an acronym) is one word:

    `"TrainEvalCallback"` -> `"train_eval_callback"`, `"AvgStats"` -> `"avg_stats"`,
    `"HTTPServer"` -> `"http_server"`, `"Layer2Norm"` -> `"layer2_norm"`, `"lr"` -> `"lr"`.
    """
    raise NotImplementedError("exercise 00-camel2snake: camel2snake")


class Callback:
    """Base class of everything that plugs into the Runner.

    A subclass defines methods named after the Runner's events (`begin_fit`, `after_loss`, ...);
    the Runner calls those that exist. Attributes a callback does not have are looked up on the
    runner, so a callback can write `self.model` or `self.in_train`.
    """

    _order = 0

    def set_runner(self, run):
        self.run = run

    def __getattr__(self, name):
        """Delegate unknown attributes to the runner: `cb.epoch` is `cb.run.epoch`.

        Python calls this only for an attribute the callback itself lacks. `run` itself is never
        delegated (that would recurse): before `set_runner`, and for a name the runner lacks too,
        raise AttributeError."""
        raise NotImplementedError("exercise 00-callback-getattr: Callback.__getattr__")

    @property
    def name(self) -> str:
        """The attribute name the Runner stores this callback under: the class name without a trailing
        `Callback`, in snake_case (`TrainEvalCallback` -> `train_eval`, `Recorder` -> `recorder`); the bare
        `Callback` class itself is `callback`."""
        raise NotImplementedError("exercise 00-camel2snake: Callback.name")


class TrainEvalCallback(Callback):
    """Switches train/eval mode and counts progress on the runner: `run.n_epochs` (a float) and `run.n_iter`.

    - begin_fit: both start at 0.
    - after_batch, training batches only: `n_epochs` grows by `1 / iters`, `n_iter` by 1.
    - begin_epoch: `n_epochs` is set to the epoch number (even when the last epoch was cut short),
      the model goes to train mode and `in_train` is True.
    - begin_validate: eval mode, `in_train` False.
    """

    def begin_fit(self):
        raise NotImplementedError("exercise 00-train-eval: TrainEvalCallback.begin_fit")

    def after_batch(self):
        raise NotImplementedError("exercise 00-train-eval: TrainEvalCallback.after_batch")

    def begin_epoch(self):
        raise NotImplementedError("exercise 00-train-eval: TrainEvalCallback.begin_epoch")

    def begin_validate(self):
        raise NotImplementedError("exercise 00-train-eval: TrainEvalCallback.begin_validate")


class Runner:
    """Runs the training loop and, at each event, every callback that handles it.

    Events, in order: begin_fit, then per epoch begin_epoch, per batch (begin_batch, after_pred,
    after_loss, after_backward, after_step, after_batch), begin_validate, its batches, after_epoch;
    finally after_fit. A callback that returns True at an event cancels what follows it: the rest
    of the batch (batch events), the training or validation pass (begin_epoch / begin_validate),
    the remaining epochs (after_epoch) or the whole fit (begin_fit). Setting `stop = True` ends the
    current pass after the batch.

    Args:
        cbs: callback instances.
        cb_funcs: callables that make callbacks (a class, a `partial`); each one made is also
            stored on the runner under its `name`, e.g. `run.avg_stats`.
    """

    def __init__(self, cbs=None, cb_funcs=None):
        cbs = list(listify(cbs))  # a copy: the caller's list stays as it was
        for make in listify(cb_funcs):
            cb = make()
            setattr(self, cb.name, cb)
            cbs.append(cb)
        self.stop, self.in_train, self.cbs = False, False, [TrainEvalCallback()] + cbs

    @property
    def model(self):
        return self.learn.model

    @property
    def opt(self):
        return self.learn.opt

    @property
    def loss_func(self):
        return self.learn.loss_func

    @property
    def data(self):
        return self.learn.data

    def __call__(self, event: str) -> bool:
        """Call `event` on every callback that has it, in `_order`; True if one asked to cancel."""
        raise NotImplementedError("exercise 00-runner: Runner.__call__")

    def one_batch(self, xb, yb):
        """Forward, loss, and (in training) backward, step and zero_grad, with an event after each.

        The batch, the prediction and the loss are kept on the runner (`xb`, `yb`, `pred`, `loss`),
        where callbacks read them. begin_batch, after_pred, after_loss, after_backward, after_step:
        a True from any of them ends the batch there (the runner still calls after_batch). Outside
        training it stops after after_loss. zero_grad comes last, after after_step: a batch that runs
        to the end leaves no gradients behind, but a True from after_backward or after_step skips it,
        and those gradients are added to the next batch's (lesson 02 shows what that does)."""
        raise NotImplementedError("exercise 00-runner: Runner.one_batch")

    def all_batches(self, dl):
        """One pass over `dl`: each batch then `after_batch`, until `stop` is set."""
        raise NotImplementedError("exercise 00-runner: Runner.all_batches")

    def fit(self, epochs: int, learn: Learner):
        """Train for `epochs` epochs, validating after each (under `torch.no_grad()`); `after_fit`
        runs even after an error (a `finally`), then the runner lets go of `learn`."""
        raise NotImplementedError("exercise 00-runner: Runner.fit")


# ------------------------------------------------------------------------- metrics


class AvgStats:
    """Running averages of the loss and metrics over one pass, weighted by batch size.

    Args:
        metrics: functions `metric(pred, yb) -> scalar tensor`, e.g. `accuracy`.
        in_train: whether these are training (True) or validation (False) statistics.
    """

    def __init__(self, metrics, in_train: bool):
        self.metrics, self.in_train = listify(metrics), in_train
        self.reset()

    def reset(self):
        self.tot_loss, self.count, self.tot_mets = 0.0, 0, [0.0] * len(self.metrics)

    @property
    def all_stats(self) -> list[float]:
        return [self.tot_loss] + self.tot_mets

    @property
    def avg_stats(self) -> list[float]:
        """[mean loss, mean metric 1, ...] over every item seen since `reset`; ValueError before any batch."""
        raise NotImplementedError("exercise 00-avg-stats: AvgStats.avg_stats")

    def accumulate(self, run):
        """Add one batch: `run.loss` and each metric of (`run.pred`, `run.yb`), weighted by its size."""
        raise NotImplementedError("exercise 00-avg-stats: AvgStats.accumulate")

    def __repr__(self):
        if not self.count:
            return f"{'train' if self.in_train else 'valid'}: (nothing yet)"
        names = ["loss"] + [getattr(m, "__name__", type(m).__name__) for m in self.metrics]
        values = ", ".join(f"{n} {v:.4f}" for n, v in zip(names, self.avg_stats))
        return f"{'train' if self.in_train else 'valid'}: {values}"


class AvgStatsCallback(Callback):
    """Keeps training and validation AvgStats for each epoch and reports them after it."""

    def __init__(self, metrics, report=print):
        self.train_stats, self.valid_stats, self.report = AvgStats(metrics, True), AvgStats(metrics, False), report

    def begin_epoch(self):
        self.train_stats.reset()
        self.valid_stats.reset()

    def after_loss(self):
        stats = self.train_stats if self.in_train else self.valid_stats
        with torch.no_grad():
            stats.accumulate(self.run)

    def after_epoch(self):
        self.report(f"epoch {self.epoch}: {self.train_stats} | {self.valid_stats}")


class Recorder(Callback):
    """Records the learning rate of each parameter group and the loss at every training batch.

    `lrs[g]` is the list of parameter group `g`'s learning rates, `losses` the losses as Python
    floats; begin_fit starts them empty, validation batches are not recorded."""

    def begin_fit(self):
        raise NotImplementedError("exercise 00-recorder: Recorder.begin_fit")

    def after_batch(self):
        raise NotImplementedError("exercise 00-recorder: Recorder.after_batch")

    def plot_lr(self, pgid: int = -1, ax=None):
        ax = ax or plt.gca()
        ax.plot(self.lrs[pgid])
        ax.set(xlabel="iteration", ylabel="learning rate", title="Learning rate")

    def plot_loss(self, skip_last: int = 0, ax=None):
        ax = ax or plt.gca()
        ax.plot(self.losses[:len(self.losses) - skip_last])
        ax.set(xlabel="iteration", ylabel="training loss", title="Loss")


# ---------------------------------------------------------------------- schedules


class ParamScheduler(Callback):
    """Sets hyper-parameter `pname` of each parameter group before every training batch.

    Args:
        pname: the optimiser's name for it, e.g. "lr" or "momentum".
        sched_funcs: one function `f(pos) -> value` of the training position `pos` in [0, 1)
            (`n_epochs / epochs`), or a list with one per parameter group.
    """

    _order = 1  # after TrainEvalCallback has updated n_epochs

    def __init__(self, pname: str, sched_funcs):
        self.pname, self.sched_funcs = pname, sched_funcs

    def begin_fit(self):
        if not isinstance(self.sched_funcs, (list, tuple)):
            self.sched_funcs = [self.sched_funcs] * len(self.opt.param_groups)
        if len(self.sched_funcs) != len(self.opt.param_groups):
            raise ValueError(f"{len(self.sched_funcs)} schedules for {len(self.opt.param_groups)} parameter groups")

    def set_param(self):
        """Write `f(n_epochs / epochs)` into each group's `pname`."""
        raise NotImplementedError("exercise 00-param-scheduler: ParamScheduler.set_param")

    def begin_batch(self):
        if self.in_train:
            self.set_param()


def annealer(f):
    """Turn `f(start, end, pos)` into a maker: `sched_lin(1, 2)` is the function `pos -> f(1, 2, pos)`."""
    @wraps(f)  # keep f's name, docstring and source visible through the decorator
    def make(start, end):
        return partial(f, start, end)
    return make


@annealer
def sched_lin(start, end, pos):
    """Straight line from `start` (pos 0) to `end` (pos 1)."""
    raise NotImplementedError("exercise 00-annealers: sched_lin")


@annealer
def sched_cos(start, end, pos):
    """Half a cosine from `start` to `end`: flat at both ends, steepest in the middle."""
    raise NotImplementedError("exercise 00-annealers: sched_cos")


@annealer
def sched_no(start, end, pos):
    """Constant `start`."""
    return start


@annealer
def sched_exp(start, end, pos):
    """Geometric from `start` to `end`: equal ratios in equal steps (both must be > 0)."""
    raise NotImplementedError("exercise 00-annealers: sched_exp")


def combine_scheds(pcts, scheds):
    """One schedule made of pieces: `scheds[i]` runs over the fraction `pcts[i]` of training.

    Each piece sees its own position from 0 to 1. A boundary belongs to the piece that starts
    there, and pos = 1 to the last piece. ValueError unless there are as many fractions as
    schedules, each is positive and they sum to 1 up to rounding (`[0.6, 0.3, 0.1]` sums to
    0.9999999999999999: use `math.isclose`). `pcts` and `scheds` are left as they were (the caller
    may use them again). Example, a one-cycle schedule:
    `combine_scheds([0.3, 0.7], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])`.
    """
    raise NotImplementedError("exercise 00-combine-scheds: combine_scheds")


# ------------------------------------------------------------------- convenience


def get_learner(data: DataBunch, lr: float = 0.5, nh: int = 50, loss_func=nn.functional.cross_entropy) -> Learner:
    return Learner(*get_model(data, lr, nh), loss_func, data)


def mnist_databunch(bs: int = 64, data_dir=None) -> DataBunch:
    """The course's MNIST split (50k train / 10k valid, flattened, normalised) as a DataBunch."""
    x_train, y_train, x_valid, y_valid = get_mnist(data_dir)
    return DataBunch(*get_dls(Dataset(x_train, y_train), Dataset(x_valid, y_valid), bs),
                     c_in=x_train.shape[1], c_out=int(y_train.max()) + 1)
