# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 02 - Exceptions as control flow, and a learning-rate finder
#
# In lesson 00 a callback could cancel part of the training loop by returning `True`. That looks
# simple, but it only cancels the one step the Runner happens to be checking, and every step of
# the loop has to check. This lesson shows the problem on a real run, then fixes it with a tool
# Python already has for "stop what you are doing, however deep you are, and go back to
# whoever is ready to handle it": **exceptions**.
#
# With that in place we build a callback that takes over the whole run for a moment: a
# **learning-rate finder**. It trains for at most 100 mini-batches with an exponentially growing
# learning rate, stops by itself when the loss blows up, puts the model back exactly as it was,
# and suggests a learning rate from the curve it saw.
#
# **What you will learn**
#
# 1. why "return True" is not enough to stop training cleanly;
# 2. `Callback.__call__`: letting a callback decide how it is called (trace every event, stop in a debugger);
# 3. exceptions as control flow: cancelling a batch, a pass over the data, or the whole fit, with
#    `try` / `except` / `finally` guaranteeing the clean-up;
# 4. the LR finder: an exponential schedule, a stop rule, loss smoothing with a debiased moving
#    average, saving and restoring state, and reading a suggestion off the curve.
#
# **Two Runners.** Lesson 00's Runner is still there, unchanged, as
# `solutions.l00_training_loop.Runner`: it cancels by returning True. This lesson's Runner is
# `solutions.l02_exceptions.Runner`: it cancels with exceptions, and it is the one later lessons
# use. Below we import lesson 00's module as `l00`, so `l00.Runner` is always the old one.
#
# **Exercises.** The code lives in `solutions/l02_exceptions.py`; we show each piece from there
# (with `show_source`) instead of copying it. Pieces marked *Exercise* are yours to write in
# `exercises/l02_exceptions.py`; `make grade LESSON=02` grades them. Try each one before you read
# our version, which is folded behind "Show our version".
#
# | exercise | what you write |
# | --- | --- |
# | `02-callback-call` | `Callback.__call__` and `Runner.__call__`: dispatch an event |
# | `02-cancel-batch` | `Runner.one_batch`: `CancelBatchException`, `finally: after_batch` |
# | `02-cancel-epoch` | `Runner.all_batches`: `CancelEpochException` |
# | `02-cancel-train` | `Runner.fit`: `CancelTrainException`, `finally: after_fit`, errors propagate |
# | `02-stop-after` | `StopAfterStep`: a callback that stops training on a condition |
# | `02-lr-schedule` | `lr_find_schedule`: the finder's exponential learning rates |
# | `02-smooth-loss` | `DebiasedEMA`: exponential smoothing with bias correction |
# | `02-lr-stop-rule` | `should_stop` and `LRFinder.after_step`: when to stop |
# | `02-restore-state` | `LRFinder.save_state` / `restore_state`: leave the model as you found it |
# | `02-suggest-lr` | `suggest_lr`: a learning rate from the curve |

# %%
# The course's library: in the repository it is installed; anywhere else (Colab, VS Code, a plain
# Jupyter) this cell installs it with pip first, which takes a few minutes once.
try:
    import course.check  # noqa: F401  (checks that this kernel has what the lesson needs)
except ModuleNotFoundError:
    import importlib, os, subprocess, sys  # noqa: E401
    source = os.environ.get("COURSE_PIP_SOURCE", "git+https://github.com/callbacks-to-norms/callbacks-to-norms")
    print(f"The course is not installed in this kernel: installing it with pip from {source} ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
    importlib.invalidate_caches()
    import course.check  # noqa: F401

# %%
import io
import math
import pdb
import sys
import traceback
from copy import deepcopy
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from course.seed import set_seed
from course.show import show_source
from solutions import l00_training_loop as l00
from solutions.l02_exceptions import (
    AvgStatsCallback, CancelBatchException, CancelEpochException, CancelTrainException, Callback,
    DataBunch, DebiasedEMA, Dataset, LRFinder, Recorder, Runner, StopAfterStep, TraceEvents,
    TrainEvalCallback, accuracy, get_dls, get_learner, lr_find, lr_find_schedule, mnist_databunch,
    plot_lr_find, should_stop, smooth, suggest_lr,
)

set_seed(42)

# %% [markdown]
# The data is lesson 00's MNIST split (50,000 training and 10,000 validation images, flattened
# and normalised, batches of 64) and the model is lesson 00's one-hidden-layer MLP, trained with
# plain SGD. For the event traces we also cut a tiny DataBunch out of it, so a trace fits on a
# screen: `tiny` has three training batches of 4 images and one validation batch, `one` has a
# single batch of each.

# %%
data = mnist_databunch(bs=64)
x_train, y_train = data.train_ds.x, data.train_ds.y
x_valid, y_valid = data.valid_ds.x, data.valid_ds.y


def small_bunch(n_train, n_valid, bs):
    return DataBunch(*get_dls(Dataset(x_train[:n_train], y_train[:n_train]),
                              Dataset(x_valid[:n_valid], y_valid[:n_valid]), bs), c_in=784, c_out=10)


tiny, one = small_bunch(12, 4, bs=4), small_bunch(4, 4, bs=4)
print(f"MNIST: {len(data.train_dl)} training batches, {len(data.valid_dl)} validation batches")
print(f"tiny: {len(tiny.train_dl)} training batches, {len(tiny.valid_dl)} validation batch")

# %% [markdown]
# ## 1. Returning True is not enough
#
# Say we want to stop training after step 10 - maybe the loss has become nan, or we are only
# checking that the code runs. With lesson 00's Runner, a callback cancels by returning True.
# Let's try the obvious thing:

# %%
class StopWithTrue(l00.Callback):
    """Lesson 00 style: return True to cancel."""

    def after_step(self):
        if self.n_iter >= 10:
            return True  # "please stop"


set_seed(42)
run = l00.Runner(cbs=[StopWithTrue()], cb_funcs=[l00.Recorder, partial(l00.AvgStatsCallback, accuracy)])
run.fit(1, get_learner(data, lr=0.5))
print(f"training batches run: {len(run.recorder.losses)} of {len(data.train_dl)}")

# %% [markdown]
# It did not stop: all 782 training batches ran, and then the validation pass. Look at where the
# True went in lesson 00's `one_batch`, near the end: `if self("after_step"): return`.

# %%
show_source(l00.Runner.one_batch, fold=False)  # lesson 00's exercise, in full: this lesson is about it

# %% [markdown]
# The True makes `one_batch` return early, which cancels *the rest of this batch* and nothing
# else: `all_batches` knows nothing about it and moves on to the next batch, `fit` knows
# nothing about it and moves on to validation. And look at the losses printed above: a model that
# guesses evenly among the ten digits gets $-\ln(1/10) = \ln 10 \approx 2.3$, and this one is far
# above that. That is because "the rest of this
# batch" included `zero_grad()`. From step 10 on the gradients were never reset, so every step
# used the sum of all the gradients since:

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(run.recorder.losses)
ax.axvline(10, color="tab:red", ls=":", label="step 10: the callback returns True")
ax.set(yscale="log", xlabel="iteration", ylabel="training loss (log scale)",
       title="Lesson 00's Runner: 'return True' from step 10 on")
ax.legend(fontsize=8);

# %% [markdown]
# To really stop with lesson 00's Runner, a callback has to cancel at *every level*, using every
# mechanism that Runner offers: the `stop` flag that `all_batches` checks before each batch (and
# resets after each pass, so we need our own flag too), a True from `begin_validate` to skip
# validation, and a True from `after_epoch` to skip the remaining epochs.

# %%
class StopForReal(l00.Callback):
    stopping = False

    def after_step(self):
        if self.n_iter >= 10:
            self.stopping = True
            self.run.stop = True  # 1. all_batches leaves the loop before the next batch

    def begin_validate(self):
        return self.stopping  # 2. skip the validation pass

    def after_epoch(self):
        return self.stopping  # 3. skip the remaining epochs


set_seed(42)
run = l00.Runner(cbs=[StopForReal()], cb_funcs=[l00.Recorder])
run.fit(3, get_learner(data, lr=0.5))
print(f"training batches run: {len(run.recorder.losses)}")

# %% [markdown]
# It works, but think about what it cost: three events, two mechanisms, a flag the Runner resets
# behind our back, and a Runner whose every line is followed by an `if` to check a return value.
# Each new way to stop needs a new check somewhere in the Runner. What we want is one statement,
# valid from any event, that says "stop the fit now", and a Runner that still gets to clean up.
# That is exactly what an exception is. But first, one small refactoring that makes callbacks more
# flexible.
#
# ## 2. A callback decides how it is called
#
# Lesson 00's Runner did the dispatch itself: "does this callback have a method called
# `after_loss`? then call it". We move that into the callback, as its `__call__` method, and the
# Runner just calls `cb(event)` - which Python turns into `type(cb).__call__(cb, event)`, the dunder
# method of lesson 01.
#
# *Exercise `02-callback-call`*: write `Callback.__call__` and the new `Runner.__call__`.

# %%
show_source(Callback, Runner.__call__)

# %% [markdown]
# The Runner no longer looks at what a callback returns: in this Runner, a callback cancels by
# raising an exception (section 3). `Callback.__call__` still reports what the handler returned,
# for code that calls a callback directly.
#
# Why bother? Because now a callback can override `__call__` and see **every** event, including
# the ones it has no method for. The library's `TraceEvents` does just that: it defines no handler
# at all, only a `__call__` that appends each event to its `events` list and passes it to
# `report` (if given), before handing over to the base class. Its `_order` of -10 puts it first,
# so it sees an event even when a later callback raises there (section 3). With `report=print`,
# on a single training batch and a single validation batch:

# %%
show_source(TraceEvents)
Runner(cbs=[TraceEvents(report=print)]).fit(1, get_learner(one))

# %% [markdown]
# And here is one for debugging: it stops in Python's debugger, `pdb`, at a chosen event when a
# condition holds - say `DebugAt("after_loss", when=lambda run: run.loss.isnan())` to catch the
# first nan. In pdb you can look at everything the Runner knows - `p self.loss`,
# `p self.xb.shape`, `p self.pred.argmax(1)` - then type `c` to carry on training.

# %%
class DebugAt(Callback):
    """Stops in pdb at `event` whenever `when(run)` is true; pdb reads its commands from the
    keyboard, or from `stdin` if given."""

    def __init__(self, event, when=lambda run: True, stdin=None):
        self.event, self.when, self.stdin = event, when, stdin

    def __call__(self, event):
        if event == self.event and self.when(self.run):
            if self.stdin is None:
                breakpoint()  # pdb at the keyboard: stops at the next line
            else:
                pdb.Pdb(stdin=self.stdin, stdout=sys.stdout).set_trace()  # the same, reading `stdin`
        return super().__call__(event)


# %% [markdown]
# This lesson also has to run from top to bottom with nobody at the keyboard, so here pdb reads
# commands written in advance (`Typed` echoes each one, so the output reads like a session at the keyboard; in a
# notebook, IPython swaps in its own, colourful pdb, whose prompt is `ipdb>`). Run `DebugAt(...)`
# without `stdin` in your notebook to type the commands yourself.

# %%
class Typed(io.StringIO):
    """Commands typed in advance, one per line; each is echoed as pdb reads it."""

    def readline(self, *args):
        line = super().readline(*args)
        print(line, end="")
        return line


commands = Typed("p event, self.n_iter, self.loss.item()\nc\n" * 2)
debug = DebugAt("after_loss", when=lambda run: run.in_train and run.n_iter in (1, 2), stdin=commands)
Runner(cbs=[debug]).fit(1, get_learner(tiny))

# %% [markdown]
# ## 3. Exceptions as control flow
#
# An exception does not have to mean "error". `raise` means: stop here, leave every enclosing
# block and function until one has an `except` for this kind of exception, and continue there.
# However deep we are, one statement gets us out. Here it leaves two loops at once, which
# `break` cannot do:

# %%
class Found(Exception):
    pass


try:
    for i in range(5):
        for j in range(5):
            if i * j == 6:
                raise Found()
except Found:
    print(f"found i={i}, j={j}: both loops are left")

# %% [markdown]
# The Runner has three levels - the fit, a pass over the data, a batch - so we make three
# exceptions, each a class with nothing in it but a docstring: only its *type* matters, because
# the type decides which `except` catches it.

# %%
show_source(CancelTrainException, CancelEpochException, CancelBatchException)

# %% [markdown]
# Each level of the Runner catches its own exception, calls an event announcing that it did (a
# callback that cares can handle `after_cancel_batch`; most won't), and carries on with the next
# thing at that level. A `finally:` block runs whatever happens - a normal end, a `return`, a
# cancel, or a real error - so `after_batch` and `after_fit` always run.
#
# *Exercise `02-cancel-batch`, Exercise `02-cancel-epoch` and Exercise `02-cancel-train`*:
# write `one_batch`, `all_batches` and `fit`.

# %%
show_source(Runner.one_batch, Runner.all_batches, Runner.fit)

# %% [markdown]
# | a callback raises | caught in | then runs | skipped |
# | --- | --- | --- | --- |
# | `CancelBatchException` | `one_batch` | `after_cancel_batch`, `after_batch` | the rest of this batch |
# | `CancelEpochException` | `all_batches` | `after_batch` (if raised during a batch), `after_cancel_epoch` | the rest of this pass over the data |
# | `CancelTrainException` | `fit` | `after_batch` (if raised during a batch), `after_cancel_train`, `after_fit` | the rest of the fit |
# | anything else (a bug) | nowhere | `after_batch` (if raised during a batch), `after_fit` | everything: the error reaches you, with its traceback |
#
# The `after_batch` in those rows is the one of the interrupted batch: the exception passes
# through `one_batch` on its way up, and `one_batch`'s `finally` runs on the way.
#
# Compare `one_batch` with lesson 00's: no `if` after the events, and one more change - the
# gradients are zeroed just *before* `backward` instead of after the step. A batch cancelled
# between its backward and its step could otherwise leave its gradients behind, to be added to
# the next batch's, which is exactly the disaster of section 1. Now every step uses only its own
# batch's gradients, whatever was cancelled before it.
#
# The price: cancelling a step no longer *accumulates* gradients. With lesson 00's order, a
# callback that returned True at `after_backward` on every other batch would have summed two
# batches' gradients into one step (gradient accumulation, a way to train with a larger effective
# batch than fits in memory). Here the next batch's `zero_grad` wipes them first. A callback that
# wants accumulation must now do it on purpose: keep its own sum of the gradients, or take over
# `zero_grad` and the step itself.
#
# Notice also that "epoch" in `CancelEpochException` means one pass over a DataLoader: raised
# during training, it ends the training part of the epoch, and validation still runs, so the
# epoch's statistics still get reported.
#
# The Runner keeps lesson 00's constructor and properties (it is a subclass of `l00.Runner`). The
# callbacks of lesson 00 work unchanged too; they only lack the new `__call__`, so each one gets it
# by also deriving from the new `Callback`. For example:

# %%
show_source(TrainEvalCallback)
print(" -> ".join(f"{c.__module__.rpartition('.')[2]}.{c.__name__}" for c in TrainEvalCallback.__mro__))

# %% [markdown]
# Python looks up a method along that chain, the *method resolution order*: `__call__` comes
# from this lesson's `Callback`, `begin_epoch` and friends from lesson 00's `TrainEvalCallback`,
# `__getattr__` and `name` from lesson 00's `Callback`. A lesson-00 callback on its own has no
# `__call__`, and the new Runner says so at once instead of failing in the middle of a fit:

# %%
try:
    Runner(cbs=[l00.Recorder()])
except TypeError as e:
    print(f"TypeError: {e}")

# %% [markdown]
# ## 4. Stopping after 10 steps, for real
#
# Now stopping is one line.
#
# *Exercise `02-stop-after`*: write `StopAfterStep.after_step`.

# %%
show_source(StopAfterStep)

# %%
set_seed(42)
trace = TraceEvents()  # no report this time: we only look at trace.events afterwards
run = Runner(cbs=[trace, StopAfterStep(10, report=lambda i: print(i, end=" "))])
run.fit(1, get_learner(data, lr=0.5))
print(f"\nsteps: {trace.events.count('after_step')}, validation: {'begin_validate' in trace.events}, "
      f"last events: {trace.events[-3:]}")

# %% [markdown]
# Steps 0 to 10, then `after_batch` (a `finally`), `after_cancel_train`, `after_fit`, and no
# traceback: the exception was the plan, not an error. The validation pass never started.
#
# ## 5. Skipping a batch, cutting a pass short
#
# The other two levels, on `tiny` so that we can read the whole story. `show_trace` prints a
# recorded trace with one line per batch, indented by level.

# %%
LEVEL = {"begin_fit": 0, "after_fit": 0, "after_cancel_train": 0,
         "begin_epoch": 1, "begin_validate": 1, "after_epoch": 1, "after_cancel_epoch": 1}


def show_trace(events):
    batch = []
    for event in events:
        if event in LEVEL:
            print("  " * LEVEL[event] + event)
        else:
            batch.append(event)
            if event == "after_batch":
                print("    " + " > ".join(batch))
                batch = []


class SkipBatch(Callback):
    """Skips training batch number `i` (counting from 0), before the model sees it."""

    def __init__(self, i):
        self.i = i

    def begin_batch(self):
        if self.in_train and self.n_iter == self.i:
            raise CancelBatchException()


trace = TraceEvents()
run = Runner(cbs=[trace, SkipBatch(1)], cb_funcs=[Recorder])
run.fit(1, get_learner(tiny))
show_trace(trace.events)
print(f"n_iter: {run.n_iter}; Recorder losses: {[round(x, 4) for x in run.recorder.losses]}")

# %% [markdown]
# The second batch ran `begin_batch`, then jumped straight to `after_cancel_batch` and
# `after_batch`, and the third batch ran normally. A skipped batch still counts as a batch,
# though: `TrainEvalCallback` and `Recorder` do their work at `after_batch`, which runs for it
# too, so `n_iter` counts it and the Recorder records a loss for it - `self.loss`, which this
# batch never computed, so it is still the previous batch's loss (the repeated value above).
# Keep that in mind when you read a Recorder's losses from a run that skipped batches.
#
# Now a callback that ends the training pass of the first epoch at its second batch:

# %%
class CutFirstEpoch(Callback):
    def begin_batch(self):
        if self.in_train and self.epoch == 0 and self.n_iter == 1:
            raise CancelEpochException()


trace = TraceEvents()
Runner(cbs=[trace, CutFirstEpoch()]).fit(2, get_learner(tiny))
show_trace(trace.events)

# %% [markdown]
# Epoch 0 trained on one batch. The second batch was interrupted at `begin_batch`, yet it still
# ran its `after_batch` (the `finally` of `one_batch`, on the exception's way up); then
# `all_batches` caught the exception and announced `after_cancel_epoch`, and the epoch validated
# and ended normally. Epoch 1 ran in full.
#
# ## 6. Errors are still errors
#
# What if a callback has a bug? The Runner catches only its three exceptions, so a real error goes
# through every level - running `after_batch` and `after_fit` on its way out, so that callbacks can
# clean up - and reaches us with its traceback intact, pointing at the line that failed:

# %%
class Broken(Callback):
    def after_loss(self):
        if self.n_iter == 1:
            raise ValueError("a bug in my metric")


trace = TraceEvents()
try:
    Runner(cbs=[trace, Broken()]).fit(1, get_learner(tiny))
except ValueError as e:
    print(f"ValueError: {e}\nTraceback, innermost last:")
    for frame in traceback.extract_tb(e.__traceback__)[1:]:  # [0] is this cell
        where = Path(frame.filename).name if "solutions" in frame.filename else "(this lesson)"
        print(f"  {where}: {frame.name}: {frame.line}")
print()
show_trace(trace.events)

# %% [markdown]
# Exceptions carry both kinds of news: "stop, this is planned" (the three Cancel exceptions,
# caught) and "stop, something is wrong" (everything else, not caught). The `finally` blocks
# serve both.
#
# ## 7. A learning-rate finder
#
# The learning rate is the hyper-parameter that matters most, and the hardest to guess: too small
# and training crawls, too large and it diverges. The **LR range test** (Leslie Smith,
# *Cyclical Learning Rates for Training Neural Networks*, 2015) measures it instead: train for a
# hundred mini-batches at most while the learning rate grows from tiny to huge, and watch the loss. At
# first it hardly moves (the steps are too small to matter), then it falls (good learning rates),
# then it shoots up (the steps overshoot). That costs a fraction of one epoch, and we read a good
# learning rate off the curve.
#
# As a callback it needs everything this lesson built: it sets the learning rate before each
# batch, watches the loss after each step, stops the fit by itself, and must clean up afterwards.
#
# ### The schedule
#
# We want to try learning rates across many orders of magnitude, from $10^{-6}$ to $10$, spending
# as many iterations on each decade. So the rate grows by the same *factor* every iteration, an
# exponential schedule: with $N$ iterations numbered $i = 0, \dots, N-1$,
#
# $$\text{lr}_i = \text{lr}_{\min} \left(\frac{\text{lr}_{\max}}{\text{lr}_{\min}}\right)^{i/(N-1)}$$
#
# which is lesson 00's `sched_exp` at position $i/(N-1)$: the first iteration gets
# $\text{lr}_{\min}$, the last one exactly $\text{lr}_{\max}$.
#
# *Exercise `02-lr-schedule`*: write `lr_find_schedule`.

# %%
show_source(lr_find_schedule)
iters = range(100)
sched = [lr_find_schedule(i, 100, 1e-6, 10) for i in iters]
print(f"first {sched[0]:.0e}, last {sched[-1]:g}; every step multiplies the lr by "
      f"{sched[1] / sched[0]:.4f} = 10^(7/99), so a factor of ten takes {99 / 7:.1f} iterations")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
ax1.plot(iters, sched)
ax1.set(xlabel="iteration", ylabel="learning rate", title="The finder's schedule")
ax2.plot(iters, sched)
ax2.set(yscale="log", xlabel="iteration", ylabel="learning rate (log scale)", title="... on a log axis")
fig.tight_layout()

# %% [markdown]
# On a linear axis nothing seems to happen for most of the run; on a log axis it is a straight
# line, with the same number of iterations (printed above) for every factor of ten.
#
# ### The stop rule
#
# Once the loss has blown up, more iterations teach us nothing, so we stop when the loss is more
# than 10 times the best one so far. Careful with one case: when training diverges the loss can
# become `nan`, and *every* comparison with nan is False, so `loss > 10 * best` would never stop it.
#
# *Exercise `02-lr-stop-rule`* (first part): write `should_stop`.

# %%
show_source(should_stop)
nan = float("nan")
print(f"nan > 10 * 0.3 is {nan > 10 * 0.3};  should_stop(nan, 0.3) is {should_stop(nan, 0.3)}")

# %% [markdown]
# ### Leaving the model as we found it
#
# The finder trains the model, up to learning rates that wreck it. Afterwards we want the model
# (and the optimiser) exactly as before, so we save their `state_dict()` at `begin_fit` and load it
# back at `after_fit` - which runs even if the finder stops early or something fails. There is a
# trap: `state_dict()` does not copy anything. Its tensors *are* the model's parameters, and an
# optimiser step changes those in place:

# %%
model = nn.Linear(2, 1)
saved = model.state_dict()  # not a copy!
with torch.no_grad():
    model.weight.add_(1.0)  # what an optimiser step does: change the tensor in place
print("'saved' weights followed the change:", torch.equal(saved["weight"], model.weight))
saved = deepcopy(model.state_dict())  # a copy that training cannot touch
with torch.no_grad():
    model.weight.add_(1.0)
print("deepcopy'd weights followed the change:", torch.equal(saved["weight"], model.weight))

# %% [markdown]
# Here is the whole finder. `begin_batch` applies the schedule; `after_step` smooths the loss
# (with `beta=0`, the default, "smoothing" returns the raw loss - we come back to this in a moment)
# and raises `CancelTrainException` when the stop rule says so or after the last iteration.
#
# *Exercise `02-lr-stop-rule`* (second part, `after_step`) and *Exercise `02-restore-state`*
# (`save_state`, `restore_state`).

# %%
show_source(LRFinder)

# %% [markdown]
# Let's run it on a fresh model, with a `Recorder` to keep the learning rates and losses. One
# epoch has 782 batches, plenty for 100 iterations.

# %%
set_seed(42)
learn = get_learner(data, lr=0.5)
before = deepcopy(learn.model.state_dict())
run = Runner(cb_funcs=[Recorder, LRFinder])
run.fit(1, learn)
lrs, losses = run.recorder.lrs[0], run.recorder.losses
finder = run.lr_finder
print(f"{len(losses)} iterations; best loss {finder.best_loss:.3f}")
if should_stop(losses[-1], finder.best_loss, finder.stop_factor):
    print(f"stopped by the stop rule after {len(losses)} of {finder.max_iter} planned iterations, "
          f"at lr {lrs[-1]:.3g}: loss {losses[-1]:.3g} > {finder.stop_factor:g} x best loss "
          f"{finder.best_loss:.3f}")
else:
    print(f"it ran all {finder.max_iter} iterations, up to lr {lrs[-1]:.3g}")

# %% [markdown]
# This lesson's `Recorder` is lesson 00's plus one method, `plot`: the loss against the learning
# rate, on a log axis so that every decade of learning rates gets the same width.

# %%
show_source(Recorder.plot)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
run.recorder.plot(skip_last=1, ax=ax1)
run.recorder.plot_lr(ax=ax2)
ax2.set(title="Learning rate against iteration")
fig.tight_layout()

# %% [markdown]
# The curve has the three parts we expected: flat at the smallest learning rates, then falling,
# then climbing until a last batch with a huge loss (left out of the plot: it would squash
# everything else) triggered the stop rule before the planned 100 iterations were up: the printout
# above says after how many, and at which learning rate, which is why both plots end short of
# $\text{lr} = 10$. The schedule on the right is the exponential one, cut short there.
#
# And the model and optimiser are back as they were:

# %%
same = all(torch.equal(value, before[key]) for key, value in learn.model.state_dict().items())
print(f"weights equal to those before the finder: {same}; optimiser lr: {learn.opt.param_groups[0]['lr']}")

# %% [markdown]
# ### Smoothing the loss
#
# Each point of that curve is the loss of *one* mini-batch of 64 images, so it is noisy. A noisy
# curve is hard to read, and it makes the stop rule jumpy: one unlucky batch could look like a
# blow-up, one lucky batch could set a "best loss" that later batches are unfairly compared with.
# The standard fix is an **exponential moving average** (EMA): each new loss $x_n$ moves the
# average a fraction $1-\beta$ of the way towards it,
#
# $$m_0 = 0, \qquad m_n = \beta\, m_{n-1} + (1-\beta)\, x_n .$$
#
# Unrolled, $m_n = (1-\beta) \sum_{k=1}^{n} \beta^{\,n-k} x_k$: a weighted average in which older
# losses count exponentially less, about the last $1/(1-\beta)$ of them counting most (10 for
# $\beta = 0.9$). But the weights do not add up to 1: they add up to
# $(1-\beta)(1 + \beta + \dots + \beta^{n-1}) = 1-\beta^n$. Early on that is far from 1 - for
# $n = 1$ it is $1-\beta$ - so starting from $m_0 = 0$ drags the average towards zero. Dividing by
# the sum of the weights removes this **bias** (Adam does exactly this with its moment estimates):
#
# $$\hat m_n = \frac{m_n}{1-\beta^n}.$$
#
# Let's check the sum of the weights numerically before trusting it:

# %%
beta, n = 0.9, 5
weights = [(1 - beta) * beta ** (n - k) for k in range(1, n + 1)]
print(f"weights {[round(w, 4) for w in weights]}: sum {sum(weights):.5f}, 1 - beta^n = {1 - beta ** n:.5f}")

# %% [markdown]
# *Exercise `02-smooth-loss`*: write `DebiasedEMA`.

# %%
show_source(DebiasedEMA, smooth)

# %% [markdown]
# Now the three versions of the finder's losses: raw, the biased average $m_n$, and the debiased
# $\hat m_n$, for $\beta = 0.9$; and, for comparison, $\hat m_n$ with $\beta = 0.98$.

# %%
ema = DebiasedEMA(0.9)
debiased, biased = [], []
for x in losses:
    debiased.append(ema.update(x))
    biased.append(ema.avg)
print("iteration   raw   biased  debiased")
for i in range(3):
    print(f"{i:9d} {losses[i]:6.3f} {biased[i]:8.3f} {debiased[i]:8.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(losses, color="tab:blue", alpha=0.35, lw=1, label="raw loss")
ax.plot(biased, color="tab:orange", ls="--", label=r"biased $m_n$, $\beta=0.9$")
ax.plot(debiased, color="tab:blue", label=r"debiased $\hat m_n$, $\beta=0.9$")
ax.plot(smooth(losses, 0.98), color="tab:green", label=r"debiased, $\beta=0.98$")
ax.set(ylim=(0, 4), xlabel="iteration", ylabel="training loss", title="Smoothing the finder's loss")
ax.legend(fontsize=8);

# %% [markdown]
# The biased average starts near 0 and needs a few dozen iterations to catch up: without the
# correction, the finder's "best loss" would be a tenth of the first loss from the very first
# step (the biased column above), a value no real loss comes near. The debiased one starts right
# at the first loss. The price of smoothing is **lag**: the average trails the raw curve by roughly $1/(1-\beta)$ iterations. With $\beta = 0.98$ that is 50
# iterations, half of a 100-iteration run, and the green curve reacts far too late to the
# blow-up. For a run this short we use $\beta = 0.9$.
#
# With a smoothed loss a single bad batch moves the curve only a little, so the stop rule can be
# stricter: stop at **3 times** the best smoothed loss instead of 10. `lr_find` runs the finder
# with a `Recorder`, for as many epochs as `max_iter` needs:

# %%
show_source(lr_find)
set_seed(42)
learn = get_learner(data, lr=0.5)
run = lr_find(learn, max_iter=100, stop_factor=3, beta=0.9)
lrs, losses = run.recorder.lrs[0], run.recorder.losses
print(f"{len(losses)} iterations; best smoothed loss {run.lr_finder.best_loss:.3f}; "
      f"stopped at lr {lrs[-1]:.3g}; optimiser lr back to {learn.opt.param_groups[0]['lr']}")

# %% [markdown]
# ### Reading a learning rate off the curve
#
# Which learning rate should we train with? The **minimum** of the curve is the obvious
# candidate, but not a safe one to take blindly: the loss stops falling there because the steps are
# becoming too large, so it is not far from where training diverges - and the smoothed curve lags,
# so its minimum is even a bit further right than the raw one. The finder saw each learning rate
# for a single batch, early in training; it cannot tell us how much margin the minimum leaves over
# a whole run. It may work well, or it may be too much.
#
# So we suggest the **minimum of the smoothed loss, divided by 10**: one order of magnitude back,
# where the loss has clearly started to fall. Think of the suggestion as the cautious end of a
# *range* that reaches up to the minimum, not as the one right answer. It is a simple rule and a
# robust one, because finding the lowest point of a smoothed curve is hardly disturbed by noise.
# The other popular rule, the point of **steepest descent**, needs the slope of the curve, and a
# slope is a difference of neighbouring noisy losses: it amplifies exactly the noise we smoothed
# away. We check below what the caution costs, and whether the minimum itself was too much.
#
# *Exercise `02-suggest-lr`*: write `suggest_lr`.

# %%
show_source(suggest_lr)
suggestion = suggest_lr(lrs, losses, beta=0.9)
i_sugg = next(i for i, lr in enumerate(lrs) if lr >= suggestion)
print(f"suggested learning rate: {suggestion:.3g} "
      f"(minimum of the smoothed loss at lr {10 * suggestion:.3g}, divided by 10)")
smoothed = smooth(losses, beta=0.9)
i_min = min((s, i) for i, s in enumerate(smoothed) if math.isfinite(s))[1]
print(f"smoothed loss: {smoothed[0]:.2f} at the start, "
      f"{smoothed[i_sugg]:.2f} at the suggestion (lr {lrs[i_sugg]:.2g}), "
      f"{smoothed[i_min]:.2f} at the minimum (lr {lrs[i_min]:.2g})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
plot_lr_find(lrs, losses, beta=0.9, ax=ax1, title="LR finder: loss against learning rate")
run.recorder.plot_lr(ax=ax2)
ax2.axhline(suggestion, color="tab:green", ls="--", label=f"suggestion {suggestion:.2g}")
ax2.plot(i_sugg, lrs[i_sugg], "o", color="tab:green")
ax2.set(yscale="log", ylabel="learning rate (log scale)", title="LR finder: learning rate against iteration")
ax2.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ### Does the suggestion train well?
#
# On the plot, the suggestion (green line) sits where the smoothed loss has started to fall, and
# the minimum (red dot) at the bottom of the fall, as the numbers printed above confirm; the shaded
# band between them is the range the finder points to.
#
# A finder run is 100 batches from a random start, so its answer is a hint, not a measurement.
# How much does it move? The same finder on five more seeds (new initial weights, new batches):

# %%
seed_suggestions = []
for seed in range(5):
    set_seed(seed)
    r = lr_find(get_learner(data, lr=0.5), max_iter=100, stop_factor=3, beta=0.9)
    seed_suggestions.append(suggest_lr(r.recorder.lrs[0], r.recorder.losses, beta=0.9))
print("suggestions, seeds 0-4:", ", ".join(f"{x:.3g}" for x in seed_suggestions))
print(f"largest / smallest: {max(seed_suggestions) / min(seed_suggestions):.2f}; "
      f"one step of the schedule multiplies the lr by {10 ** (7 / 99):.3f}")

# %% [markdown]
# The suggestion moves by several steps of the schedule from seed to seed (the ratio printed
# above): read it as a rough position on a log scale, not to three digits. The only real test is training. One epoch each at the
# suggestion, at ten times it (the minimum of the curve) and at ten times *that* (past the
# minimum, where the finder's loss was climbing), each on three seeds:

# %%
print("lr      | validation accuracy, seeds 0 1 2 | mean")
for lr in (suggestion, 10 * suggestion, 100 * suggestion):
    accs = []
    for seed in range(3):
        set_seed(seed)
        run = Runner(cb_funcs=[partial(AvgStatsCallback, accuracy, report=lambda s: None)])
        run.fit(1, get_learner(data, lr=lr))
        accs.append(run.avg_stats.valid_stats.avg_stats[1])
    print(f"{lr:7.3g} | {'  '.join(f'{a:.4f}' for a in accs)}             | {sum(accs) / len(accs):.4f}")

# %% [markdown]
# The suggestion trains on every seed. Ten times it, the minimum of the curve, learns faster when
# it goes well, but its results spread more from seed to seed: one epoch at a high rate can also
# land badly. A hundred times it, beyond the minimum, fails on every seed, as the curve warned. So read the finder as a *range*: anything from the suggestion up to (but not past) the
# minimum is a sensible learning rate, and the suggestion is the safe end of it. Schedules like
# lesson 00's one-cycle make good use of such a range: they warm up towards its top and cool down
# away from it.

# %% [markdown]
# ## Check your understanding
#
# 1. In lesson 00's Runner, a callback returns True from `after_step` to stop training. Why does
#    training not stop, and why does the loss blow up?
#
#    <details><summary>Answer</summary>
#
#    The True only makes `one_batch` return early: `all_batches` and `fit` never see it and carry on
#    with the next batch and the validation pass. And the part of the batch it skips includes
#    `zero_grad`, so from then on every step uses the sum of all the gradients since.
#
#    </details>
#
# 2. Why do the three Cancel exceptions have nothing in them but a docstring?
#
#    <details><summary>Answer</summary>
#
#    Only their type matters: `except CancelEpochException` decides which level of the Runner
#    catches one. They carry no data because the Runner needs none to know what to skip.
#
#    </details>
#
# 3. A callback raises `CancelTrainException` in `after_loss`. Which events still run, and why?
#
#    <details><summary>Answer</summary>
#
#    `after_batch` (the `finally` of `one_batch`, on the exception's way up), then
#    `after_cancel_train` (the `except` in `fit`) and `after_fit` (its `finally`). Nothing else:
#    the rest of the batch, the pass, the validation and the remaining epochs are skipped.
#
#    </details>
#
# 4. Why does this lesson's `one_batch` call `zero_grad` just before `backward`, and what does that
#    cost?
#
#    <details><summary>Answer</summary>
#
#    So that a step only ever uses its own batch's gradients, even when an earlier batch was
#    cancelled between its backward and its step. The cost: gradient accumulation by cancelling
#    steps no longer works; a callback that wants it must keep its own sum of gradients.
#
#    </details>
#
# 5. What does overriding `Callback.__call__` give a callback that methods named after events
#    cannot?
#
#    <details><summary>Answer</summary>
#
#    It sees every event, including those it has no method for, so one small class can trace all
#    of them (`TraceEvents`) or stop in the debugger at any event chosen at run time (`DebugAt`).
#
#    </details>
#
# 6. Why must the LR finder `deepcopy` the `state_dict()` it saves?
#
#    <details><summary>Answer</summary>
#
#    `state_dict()` returns the model's own tensors, not copies, and the optimiser changes them in
#    place; the "saved" state would follow the training into the blow-up. A deep copy cannot.
#
#    </details>
#
# 7. Why does the debiased moving average divide by $1 - \beta^n$?
#
#    <details><summary>Answer</summary>
#
#    Starting from $m_0 = 0$, the weights of the $n$ values seen so far add up to $1 - \beta^n$, not
#    1, so early averages are pulled towards zero. Dividing by the sum of the weights makes the
#    average a true weighted mean from the first value on.
#
#    </details>
#
# 8. Why does the finder suggest a tenth of the learning rate at the minimum of its curve, and
#    how far should you trust the suggestion?
#
#    <details><summary>Answer</summary>
#
#    At the minimum the loss has stopped falling because the steps are becoming too large, close to
#    where training diverges, and the smoothed curve lags; a tenth of it is where the loss has
#    clearly started to fall. It is a hint: it moves from seed to seed by several steps of the
#    schedule, so read it as the safe end of a range that reaches up to the minimum.
#
#    </details>

# %% [markdown]
# ## What you built, and what's next
#
# | piece | job |
# |---|---|
# | `Callback.__call__`, `Runner.__call__` | dispatch an event; a callback may override it to see every event |
# | `CancelBatchException`, `CancelEpochException`, `CancelTrainException` | cancel a batch, a pass, or the fit, from any event |
# | `Runner` (this lesson) | catches each at its level; `finally` runs `after_batch` and `after_fit`; errors propagate |
# | `TraceEvents`, `StopAfterStep` | record every event; stop after a given step |
# | `lr_find_schedule`, `should_stop`, `DebiasedEMA`, `smooth` | the finder's schedule, stop rule and smoothing |
# | `LRFinder`, `lr_find`, `suggest_lr`, `plot_lr_find` | the finder itself, a one-call version, and reading it |
#
# Lesson 00's `l00.Runner` stays as it was (cancel by returning True); from now on the course
# uses this lesson's `Runner` from `solutions.l02_exceptions`. Next we put a CNN on it, look
# inside it while it trains, and see why initialisation matters.
#
# **Exercises**: `exercises/l02_exceptions.py`; grade them with `make grade LESSON=02`.
