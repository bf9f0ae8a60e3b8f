"""Lesson 02 - exceptions as control flow, and a learning-rate finder.

This lesson's Runner cancels with exceptions; lesson 00's `solutions.l00_training_loop.Runner`
cancels by returning True. Both stay available under their lesson's module, and later lessons
import `Runner` (and the callbacks that go with it) from this module.

What is new here:

- `Callback.__call__(event)` runs the callback's handler for an event, so a callback can override
  it to see every event (trace them, break into a debugger, ...).
- `CancelBatchException`, `CancelEpochException` and `CancelTrainException`: a callback raises one
  to skip the rest of the batch, the rest of the pass over the data, or the rest of the fit. The
  Runner catches each at its own level (`one_batch`, `all_batches`, `fit`) and then calls the
  optional event `after_cancel_batch`, `after_cancel_epoch` or `after_cancel_train`; `finally`
  blocks make sure `after_batch` and `after_fit` always run. Any other exception is an error and
  propagates with its traceback (after those `finally` blocks ran).
- Lesson 00's callbacks work unchanged: each is mixed with the new `Callback` base to get `__call__`.
- An LR finder: `lr_find_schedule`, `should_stop`, `DebiasedEMA`, `LRFinder`, `suggest_lr`.
"""

from __future__ import annotations

import math
from copy import deepcopy
from functools import partial

import matplotlib.pyplot as plt
import torch

from solutions import l00_training_loop as l00
from solutions.l00_training_loop import (  # noqa: F401  (re-exported: later lessons import them from here)
    AvgStats, DataBunch, DataLoader, Dataset, Learner, accuracy, annealer, camel2snake, collate,
    combine_scheds, get_dls, get_learner, get_model, listify, mnist_databunch, sched_cos, sched_exp,
    sched_lin, sched_no,
)

# ------------------------------------------------------------------------ callbacks


class Callback(l00.Callback):
    """Lesson 00's Callback, plus `__call__(event)`: the Runner now calls `cb(event)` for every
    event, and the base class looks up the handler. A subclass that overrides `__call__` sees
    every event, even those it has no method for."""

    def __call__(self, event: str) -> bool:
        """Run this callback's handler for `event` (a method named like the event), if it has one.

        Returns True if the handler returned something true, else False (also when there is no
        handler). A callback that is not attached to a runner yet simply has no handler for an
        event it does not define: this must not raise.
        """
        # BEGIN SOLUTION 02-callback-call
        handler = getattr(self, event, None)
        if handler and handler():
            return True
        return False
        # END SOLUTION


class TrainEvalCallback(Callback, l00.TrainEvalCallback):
    """Lesson 00's TrainEvalCallback, unchanged, on the new base (train/eval mode, n_epochs, n_iter)."""


class AvgStatsCallback(Callback, l00.AvgStatsCallback):
    """Lesson 00's AvgStatsCallback, unchanged, on the new base."""


class ParamScheduler(Callback, l00.ParamScheduler):
    """Lesson 00's ParamScheduler, unchanged, on the new base."""


class Recorder(Callback, l00.Recorder):
    """Lesson 00's Recorder on the new base, plus `plot`: the loss against the learning rate."""

    def plot(self, skip_last: int = 0, pgid: int = -1, ax=None):
        """Training loss against learning rate on a log x axis, leaving out the last `skip_last` points."""
        ax = ax or plt.gca()
        n = len(self.losses) - skip_last
        ax.plot(self.lrs[pgid][:n], self.losses[:n])
        ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
               title="Loss against learning rate")


class TraceEvents(Callback):
    """Records the name of every event it is called with in `events` and passes each to `report`
    (e.g. `print`), if given. It defines no handler: it overrides `__call__` instead."""

    _order = -10  # first, so it sees an event even when a later callback raises at it

    def __init__(self, report=None):
        self.events, self.report = [], report

    def __call__(self, event: str) -> bool:
        self.events.append(event)
        if self.report:
            self.report(event)
        return super().__call__(event)


# ---------------------------------------------------------------------- exceptions


class CancelTrainException(Exception):
    """Raised by a callback to end the whole fit now: `after_cancel_train`, then `after_fit`, run."""


class CancelEpochException(Exception):
    """Raised by a callback during a pass over the data (training or validation) to end that pass
    now: `after_cancel_epoch` runs, then the fit goes on (validation, `after_epoch`, next epoch)."""


class CancelBatchException(Exception):
    """Raised by a callback during a batch to skip the rest of it: `after_cancel_batch`, then
    `after_batch`, run, then the next batch."""


# -------------------------------------------------------------------------- runner


class Runner(l00.Runner):
    """Lesson 00's Runner with exceptions for control flow (its model/opt/loss_func/data properties
    and `cb_funcs` are unchanged).

    Events, in order: begin_fit; per epoch begin_epoch, the training batches (begin_batch,
    after_pred, after_loss, [zero_grad] after_backward, after_step, after_batch), begin_validate, the
    validation batches (begin_batch, after_pred, after_loss, after_batch), after_epoch; after_fit.

    A callback's return value is ignored. To cancel, a callback raises:

    - `CancelBatchException` from begin_batch ... after_step: the rest of the batch is skipped,
      then `after_cancel_batch` and `after_batch` run;
    - `CancelEpochException` from any batch event (after_batch included): the rest of the current
      pass over the data is skipped, then `after_cancel_epoch` runs and the fit carries on;
    - `CancelTrainException` from any event but after_fit: the rest of the fit is skipped, then
      `after_cancel_train` and `after_fit` run.

    `after_batch` and `after_fit` run whatever happens, also when a callback raises an ordinary
    error, which then propagates with its traceback. Lesson 00's `stop` flag is not used.
    """

    def __init__(self, cbs=None, cb_funcs=None):
        super().__init__(cbs, cb_funcs)
        self.cbs[0] = TrainEvalCallback()  # lesson 00 put its own first; this one has __call__
        for cb in self.cbs:
            if not callable(cb):
                raise TypeError(f"{type(cb).__name__} has no __call__, so it was written for lesson 00's Runner: "
                                "use this lesson's version of it, or derive it from solutions.l02_exceptions.Callback")

    def __call__(self, event: str) -> None:
        """Call every callback with `event` (`cb(event)`), in the order of their `_order`."""
        # BEGIN SOLUTION 02-callback-call
        for cb in sorted(self.cbs, key=lambda cb: cb._order):
            cb(event)
        # END SOLUTION

    def one_batch(self, xb, yb):
        """Forward and loss, then (in training) zero_grad, backward and step, with an event after each.

        As in lesson 00, the batch, the prediction and the loss are kept on the runner (`xb`, `yb`,
        `pred`, `loss`), where callbacks read them. The gradients are zeroed just before `backward`
        (lesson 00 did it after the step), so a step only ever uses its own batch's gradients, even
        when an earlier batch was cancelled between its backward and its step. A
        CancelBatchException skips the rest of the batch and triggers `after_cancel_batch`;
        `after_batch` runs in every case (a `finally` block), also after another exception, which is
        not caught here.
        """
        # BEGIN SOLUTION 02-cancel-batch
        try:
            self.xb, self.yb = xb, yb
            self("begin_batch")
            self.pred = self.model(self.xb)
            self("after_pred")
            self.loss = self.loss_func(self.pred, self.yb)
            self("after_loss")
            if not self.in_train:
                return  # the finally block still runs after_batch
            self.opt.zero_grad()
            self.loss.backward()
            self("after_backward")
            self.opt.step()
            self("after_step")
        except CancelBatchException:
            self("after_cancel_batch")
        finally:
            self("after_batch")
        # END SOLUTION

    def all_batches(self, dl):
        """One pass over `dl`, batch after batch (set `iters` to `len(dl)` first); a
        CancelEpochException ends the pass early and triggers `after_cancel_epoch`."""
        # BEGIN SOLUTION 02-cancel-epoch
        self.iters = len(dl)
        try:
            for xb, yb in dl:
                self.one_batch(xb, yb)
        except CancelEpochException:
            self("after_cancel_epoch")
        # END SOLUTION

    def fit(self, epochs: int, learn: Learner):
        """Train for `epochs` epochs, validating (under `torch.no_grad()`) after each.

        A CancelTrainException ends the fit and triggers `after_cancel_train`; `after_fit` runs in
        every case, then the runner lets go of `learn` (sets `self.learn = None`).
        """
        # BEGIN SOLUTION 02-cancel-train
        self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
        try:
            for cb in self.cbs:
                cb.set_runner(self)
            self("begin_fit")
            for epoch in range(epochs):
                self.epoch = epoch
                self("begin_epoch")
                self.all_batches(self.data.train_dl)
                with torch.no_grad():
                    self("begin_validate")
                    self.all_batches(self.data.valid_dl)
                self("after_epoch")
        except CancelTrainException:
            self("after_cancel_train")
        finally:
            self("after_fit")
            self.learn = None
        # END SOLUTION


class StopAfterStep(Callback):
    """Ends training (CancelTrainException) right after optimiser step number `n`.

    Steps are numbered from 0 by `run.n_iter`, so `n + 1` steps run: `StopAfterStep(10)` lets
    steps 0, 1, ..., 10 run. If `report` is given (e.g. `print`), it is called with the number of
    every step, before the check.
    """

    def __init__(self, n: int, report=None):
        self.n, self.report = n, report

    def after_step(self):
        # BEGIN SOLUTION 02-stop-after
        if self.report:
            self.report(self.n_iter)
        if self.n_iter >= self.n:
            raise CancelTrainException()
        # END SOLUTION


# ----------------------------------------------------------------------- LR finder


def lr_find_schedule(i: int, max_iter: int = 100, min_lr: float = 1e-6, max_lr: float = 10.0) -> float:
    """The LR finder's learning rate at iteration `i` (0, 1, ..., max_iter - 1).

    Exponential: `min_lr` at the first iteration, `max_lr` at the last (i = max_iter - 1), and the
    same ratio from each iteration to the next, so that on a log axis the points are evenly spaced.
    `max_iter` is at least 2.
    """
    # BEGIN SOLUTION 02-lr-schedule
    return sched_exp(min_lr, max_lr)(i / (max_iter - 1))
    # END SOLUTION


def should_stop(loss: float, best_loss: float, stop_factor: float = 10.0) -> bool:
    """The LR finder's stop rule: True once `loss` is more than `stop_factor` times `best_loss`,
    or is not a finite number at all (nan, inf or -inf: the training has blown up), whatever
    `best_loss` is (`should_stop(inf, inf)` is True)."""
    # BEGIN SOLUTION 02-lr-stop-rule
    return not math.isfinite(loss) or loss > stop_factor * best_loss
    # END SOLUTION


class DebiasedEMA:
    """Exponential moving average with bias correction (the one Adam uses).

    After values x_1 ... x_n: m_0 = 0, m_n = beta * m_{n-1} + (1 - beta) * x_n, and the debiased
    average is m_n / (1 - beta ** n). `beta` in [0, 1); beta = 0 gives back the latest value.
    """

    def __init__(self, beta: float = 0.9):
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta, self.avg, self.n = beta, 0.0, 0

    def update(self, x: float) -> float:
        """Add the value `x` (count it in `n`, update the raw average `avg`); return `value`."""
        # BEGIN SOLUTION 02-smooth-loss
        self.n += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * x
        return self.value
        # END SOLUTION

    @property
    def value(self) -> float:
        """The debiased average `avg / (1 - beta ** n)`; ValueError before the first update."""
        # BEGIN SOLUTION 02-smooth-loss
        if not self.n:
            raise ValueError("no value has been added yet")
        return self.avg / (1 - self.beta ** self.n)
        # END SOLUTION


def smooth(values, beta: float = 0.9) -> list[float]:
    """The debiased exponential moving average after each of `values`."""
    ema = DebiasedEMA(beta)
    return [ema.update(float(v)) for v in values]


class LRFinder(Callback):
    """An LR range test: one short training run with a growing learning rate.

    Before each training batch, sets the lr of every parameter group to
    `lr_find_schedule(n_iter, max_iter, min_lr, max_lr)`. After each step it updates the loss,
    smoothed by a `DebiasedEMA(beta)` (beta = 0: the raw loss), and raises CancelTrainException
    when `should_stop` says so or after the step of the last iteration (`max_iter - 1`). The
    model's weights and the optimiser's state (its learning rates included) are saved at begin_fit
    and restored at after_fit, so the run leaves the Learner as it found it.

    Use it with a Recorder, which keeps the learning rates and losses (or call `lr_find`). Two
    settings: the raw loss with `stop_factor=10`, or a smoothed loss (e.g. `beta=0.9`) with
    `stop_factor=3`: smoothing lets a lower factor work without stopping on one noisy batch.
    """

    _order = 1  # after TrainEvalCallback, like a ParamScheduler

    def __init__(self, max_iter: int = 100, min_lr: float = 1e-6, max_lr: float = 10.0,
                 stop_factor: float = 10.0, beta: float = 0.0):
        if max_iter < 2:
            raise ValueError(f"max_iter must be at least 2, got {max_iter}")
        self.max_iter, self.min_lr, self.max_lr = max_iter, min_lr, max_lr
        self.stop_factor, self.beta = stop_factor, beta
        self.reset()

    def reset(self):
        """Forget the losses seen so far (done at every begin_fit)."""
        self.best_loss, self.ema = math.inf, DebiasedEMA(self.beta)

    def save_state(self):
        """Keep a copy of the model's and the optimiser's `state_dict()` that training cannot change."""
        # BEGIN SOLUTION 02-restore-state
        self.saved_model = deepcopy(self.model.state_dict())
        self.saved_opt = deepcopy(self.opt.state_dict())
        # END SOLUTION

    def restore_state(self):
        """Load the copies made by `save_state` back into the model and the optimiser."""
        # BEGIN SOLUTION 02-restore-state
        self.model.load_state_dict(self.saved_model)
        self.opt.load_state_dict(self.saved_opt)
        # END SOLUTION

    def begin_fit(self):
        self.reset()
        self.save_state()

    def begin_batch(self):
        if not self.in_train:
            return
        lr = lr_find_schedule(self.n_iter, self.max_iter, self.min_lr, self.max_lr)
        for group in self.opt.param_groups:
            group["lr"] = lr

    def after_step(self):
        """Smooth the loss with `self.ema`; stop (raise CancelTrainException) if `should_stop` with
        `self.best_loss` and `self.stop_factor`, or if this was iteration `max_iter - 1`; else
        keep the smaller of `best_loss` and the smoothed loss."""
        # BEGIN SOLUTION 02-lr-stop-rule
        loss = self.ema.update(self.loss.item())
        if should_stop(loss, self.best_loss, self.stop_factor) or self.n_iter >= self.max_iter - 1:
            raise CancelTrainException()
        self.best_loss = min(self.best_loss, loss)
        # END SOLUTION

    def after_fit(self):
        self.restore_state()


def suggest_lr(lrs, losses, beta: float = 0.9) -> float:
    """A learning rate to train with, from an LR finder run: ten times smaller than the one at
    the minimum of the smoothed loss.

    Smooth `losses` with `smooth(losses, beta)`, find the minimum of the smoothed losses (ignoring
    nan and inf), and return the matching learning rate of `lrs` divided by 10, as a float.
    ValueError if `lrs` and `losses` differ in length or no smoothed loss is finite. `lrs` and
    `losses` are left as they were.
    """
    # BEGIN SOLUTION 02-suggest-lr
    if len(lrs) != len(losses):
        raise ValueError(f"{len(lrs)} learning rates for {len(losses)} losses")
    finite = [(loss, i) for i, loss in enumerate(smooth(losses, beta)) if math.isfinite(loss)]
    if not finite:
        raise ValueError("no finite loss to suggest a learning rate from")
    _, i = min(finite)
    return lrs[i] / 10
    # END SOLUTION


def plot_lr_find(lrs, losses, beta: float = 0.9, ax=None, title: str = "LR finder") -> float:
    """Plot an LR finder run, loss against lr on a log axis: the raw losses, their smoothed curve,
    its minimum, the `suggest_lr` learning rate, and the range between the two (the learning rates
    worth trying: the suggestion is its cautious end). Returns the suggestion."""
    ax = ax or plt.gca()
    smoothed, suggestion = smooth(losses, beta), suggest_lr(lrs, losses, beta)
    i_min = min((s, i) for i, s in enumerate(smoothed) if math.isfinite(s))[1]
    ax.plot(lrs, losses, color="tab:blue", alpha=0.35, lw=1, label="loss")
    ax.plot(lrs, smoothed, color="tab:blue", lw=2, label=f"smoothed (beta={beta})")
    ax.plot(lrs[i_min], smoothed[i_min], "o", color="tab:red", label=f"minimum at lr={lrs[i_min]:.2g}")
    ax.axvline(suggestion, color="tab:green", ls="--", label=f"suggestion: min / 10 = {suggestion:.2g}")
    ax.axvspan(suggestion, lrs[i_min], color="tab:green", alpha=0.1, label="range: suggestion to minimum")
    start = [x for x in losses[:max(i_min, 1)] if math.isfinite(x)]
    top = max(start) if start else smoothed[i_min]
    ax.set_ylim(min(x for x in losses if math.isfinite(x)) * 0.9, top * 1.15)  # the blow-up goes off the top
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss", title=title)
    ax.legend(fontsize=8)
    return suggestion


def lr_find(learn: Learner, max_iter: int = 100, min_lr: float = 1e-6, max_lr: float = 10.0,
            stop_factor: float = 10.0, beta: float = 0.0) -> Runner:
    """Run an `LRFinder` (with a `Recorder`) on `learn`, for as many epochs as `max_iter` needs.

    Returns the runner: `run.recorder.lrs[0]` and `run.recorder.losses` hold the run, and
    `learn`'s model and optimiser are as they were before.
    """
    run = Runner(cb_funcs=[Recorder, partial(LRFinder, max_iter, min_lr, max_lr, stop_factor, beta)])
    run.fit(math.ceil(max_iter / len(learn.data.train_dl)), learn)
    return run
