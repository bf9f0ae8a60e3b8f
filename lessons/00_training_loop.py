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
# # Lesson 00 - The training loop so far
#
# Every later lesson stands on one small training loop. This lesson rebuilds it quickly, piece by
# piece, so that you know exactly what each part does before we start changing it:
#
# 1. **data**: `Dataset`, `DataLoader`, `DataBunch`;
# 2. **the loop**: a `Learner` (model + optimiser + loss + data) and a `Runner` that fires
#    *events* (`begin_fit`, `after_loss`, ...) at `Callback`s;
# 3. **callbacks** that do the rest: `TrainEvalCallback`, `AvgStatsCallback`, `Recorder`,
#    `ParamScheduler` with annealers and `combine_scheds`.
#
# The code lives in `solutions/l00_training_loop.py`, the course library this lesson builds. We show
# each piece from there rather than copying it, and then use it. The graded exercises for this lesson
# (`make grade LESSON=00`) ask you to write these same pieces yourself in `exercises/`: a piece that
# is an exercise is folded behind "Show our version", so you can write yours before you read ours.

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
import time

import matplotlib.pyplot as plt
import torch

from course.data import get_mnist
from course.seed import set_seed
from course.show import show_source
from solutions.l00_training_loop import (
    AvgStats, AvgStatsCallback, Callback, DataBunch, DataLoader, Dataset, ParamScheduler, Recorder,
    Runner, TrainEvalCallback, accuracy, annealer, combine_scheds, get_dls, get_learner, sched_cos, sched_exp,
    sched_lin, sched_no,
)

set_seed(42)
plt.rcParams["figure.figsize"] = (6, 3)

# %% [markdown]
# ## The data
#
# MNIST: 28x28 greyscale digits. The course uses the first 50,000 of the official training images
# for training and the last 10,000 for validation, each image flattened to 784 numbers and
# normalised with the *training* mean and standard deviation (the validation set must be treated
# exactly like the training set, so it gets the training statistics too).

# %%
x_train, y_train, x_valid, y_valid = get_mnist()
print(x_train.shape, y_train.shape, x_valid.shape, y_valid.shape)
print(f"train mean {x_train.mean():.3f} std {x_train.std():.3f} | "
      f"valid mean {x_valid.mean():.3f} std {x_valid.std():.3f}")

# %%
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, img, label in zip(axes, x_train[:8], y_train[:8]):
    ax.imshow(img.view(28, 28), cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")

# %% [markdown]
# A `Dataset` only has to answer two questions: how many items, and what is item `i`. Two dunder
# methods, `__len__` and `__getitem__`, are all Python needs for `len(ds)` and `ds[i]`:

# %%
show_source(Dataset)
train_ds, valid_ds = Dataset(x_train, y_train), Dataset(x_valid, y_valid)
len(train_ds), train_ds[0][0].shape, train_ds[0][1]

# %% [markdown]
# A `DataLoader` turns a dataset into mini-batches. Training batches are drawn in a new random
# order every epoch, so the model can't learn anything from the order; validation batches come in
# order, and twice as large, because without gradients there is memory to spare (`get_dls`).

# %%
show_source(DataLoader.__iter__, get_dls)
train_dl, valid_dl = get_dls(train_ds, valid_ds, bs=64)
xb, yb = next(iter(train_dl))
print(f"{len(train_dl)} training batches of {xb.shape}, {len(valid_dl)} validation batches; "
      f"first labels {yb[:8].tolist()}")

# %% [markdown]
# `DataBunch` keeps both loaders with the number of inputs and classes, which is all a model
# factory needs to know. A `Learner` bundles what is trained together: model, optimiser, loss, data.

# %%
data = DataBunch(train_dl, valid_dl, c_in=784, c_out=10)
learn = get_learner(data, lr=0.5)
learn.model

# %% [markdown]
# ## The Runner and its callbacks
#
# The training loop itself is short: for each batch, predict, compute the loss, backpropagate,
# step, zero the gradients. Everything *else* a real training run needs - statistics, schedules,
# recording, early stopping, moving to a GPU, mixed precision - would make that loop unreadable if
# we wrote it inline. So the loop only announces what it is doing, by name, and lets callbacks
# react. These names are the **events**:

# %%
show_source(Runner.__call__, Runner.one_batch, Runner.all_batches, Runner.fit)

# %% [markdown]
# Two design choices to notice:
#
# - A callback cancels by **returning True**: from `begin_batch` it skips the batch, from
#   `begin_epoch` the training pass, from `after_epoch` the remaining epochs. Every step of the loop
#   has to check the return value, and "skip the rest of the batch" is blunt: a True from
#   `after_backward` or `after_step` also skips `zero_grad`, so the gradients leak into the next
#   batch. Lesson 02 replaces this with exceptions, and explains why.
# - `after_fit` sits in a `finally:` block, so clean-up runs even when something fails.
#
# A `Callback` gets access to everything the runner knows through `__getattr__`: an attribute the
# callback doesn't have itself is looked up on the runner, so callbacks can say `self.model` or
# `self.in_train`. Its `name` is the attribute under which the runner stores a callback it made
# from `cb_funcs` (`run.avg_stats`), as we will see at the end.

# %%
show_source(Callback)

# %% [markdown]
# The simplest callback is one that prints what it sees. Let's run a single epoch on a small
# slice of the data, so the output stays short, and cancel every batch after the first two.

# %%
class Tracer(Callback):
    def begin_fit(self):      print("begin_fit")
    def begin_epoch(self):    print(f"  begin_epoch {self.epoch}")
    def begin_validate(self): print("  begin_validate")
    def after_batch(self):    print(f" -> after_batch, n_iter {self.n_iter}")
    def after_epoch(self):    print("  after_epoch")
    def after_fit(self):      print("after_fit")
    def begin_batch(self):
        print(f"    batch of {len(self.xb)} ({'train' if self.in_train else 'valid'})", end="")
        if self.n_iter >= 2 and self.in_train:
            print(" skipped", end="")
            return True  # cancel the rest of this batch


small = DataBunch(*get_dls(Dataset(x_train[:256], y_train[:256]), Dataset(x_valid[:256], y_valid[:256]), bs=64),
                  784, 10)
Runner(cbs=[Tracer()]).fit(1, get_learner(small))

# %% [markdown]
# The third and fourth training batches were skipped: `begin_batch` returned True, so the runner
# never made a prediction for them. But the loop carried on around them: each skipped batch still
# reached `after_batch`, where `TrainEvalCallback` counted it (`n_iter` went on to 4), and
# validation ran as usual. Returning True cancels only the rest of *this* step; stopping the whole
# fit this way would need a check at every level of the loop. Lesson 02 fixes that.
#
# `TrainEvalCallback` is the one callback every runner gets: it puts the model in training or
# evaluation mode and counts progress as a fractional number of epochs, which is what schedules
# need.

# %%
show_source(TrainEvalCallback)

# %% [markdown]
# ## Statistics: loss and accuracy
#
# The loss we print at the end of an epoch must be the average over *items*, not over batches: the
# last batch is usually smaller, and averaging batch means would over-weight it. `AvgStats`
# therefore multiplies each batch's loss and metrics by the batch size and divides by the item
# count at the end. `AvgStatsCallback` keeps one `AvgStats` for training and one for validation,
# feeds them after every loss, and reports both after each epoch.

# %%
show_source(accuracy, AvgStats, AvgStatsCallback)

# %% [markdown]
# ## Schedules
#
# A learning rate that changes during training works better than a constant one: start low while
# the weights are random and gradients are wild (warm-up), go high to move fast, and finish low to
# settle into a good minimum. An *annealer* maps the position in training, `pos` from 0 to 1, to a
# value between `start` $s$ and `end` $e$:
#
# $$\text{lin}(p) = s + p\,(e - s)$$
#
# $$\text{cos}(p) = s + \frac{1 + \cos(\pi (1 - p))}{2}\,(e - s)$$
#
# $$\text{exp}(p) = s \left(\frac{e}{s}\right)^{p}$$
#
# A schedule has to be a function of `pos` alone, but an annealer needs `start` and `end` too.
# The `annealer` decorator bridges the two: `sched_cos(0.3, 0.6)` does not compute anything, it
# returns `partial(f, 0.3, 0.6)`, a function that still waits for `pos`. (Lesson 01 builds the
# pieces a decorator is made of - functions as objects, closures, `partial`, `*args, **kwargs`
# wrappers - and writes a small decorator, `timed`, from them.)

# %%
show_source(annealer, sched_cos)
warm_up = sched_cos(0.3, 0.6)
print(f"{type(warm_up).__name__} of {warm_up.func.__name__} with {warm_up.args}; "
      f"at pos 0.5 it gives {warm_up(0.5):.2f}")
pos = torch.linspace(0.01, 1, 100)
fig, ax = plt.subplots()
for name, sched in [("lin", sched_lin), ("cos", sched_cos), ("no", sched_no), ("exp", sched_exp)]:
    ax.plot(pos, [sched(2, 1e-2)(p.item()) for p in pos], label=name)
ax.set(xlabel="position in training", ylabel="value", title="Annealers from 2 to 0.01")
ax.legend();

# %% [markdown]
# `combine_scheds` glues annealers together: each piece runs over its own fraction of training
# and sees its own position from 0 to 1. A one-cycle schedule is a warm-up followed by a long
# cool-down, here 30% up and 70% down, both cosine:

# %%
show_source(combine_scheds)
one_cycle = combine_scheds([0.3, 0.7], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])
fig, ax = plt.subplots()
ax.plot(pos, [one_cycle(p.item()) for p in pos])
ax.axvline(0.3, color="gray", linestyle=":")
ax.set(xlabel="position in training", ylabel="learning rate", title="One-cycle: 30% warm-up, 70% cool-down");

# %% [markdown]
# `ParamScheduler` writes the scheduled value into the optimiser before every training batch, and
# `Recorder` remembers the learning rates and losses so we can plot them.

# %%
show_source(ParamScheduler.set_param, Recorder.after_batch)

# %% [markdown]
# ## Putting it together
#
# Three epochs with the one-cycle schedule, statistics and a recorder. `cb_funcs` takes things
# that *make* callbacks (a class, or a `partial` with its arguments filled in); the runner stores
# each one under its name, so we can reach the recorder afterwards as `run.recorder`.

# %%
from functools import partial

set_seed(42)
learn = get_learner(data, lr=0.5)
run = Runner(cb_funcs=[Recorder, partial(AvgStatsCallback, accuracy), partial(ParamScheduler, "lr", one_cycle)])
start = time.perf_counter()
run.fit(3, learn)
print(f"3 epochs in {time.perf_counter() - start:.1f} s")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
run.recorder.plot_lr(ax=ax1)
run.recorder.plot_loss(ax=ax2)
fig.tight_layout()

# %% [markdown]
# The learning rate followed the one-cycle shape. The loss dropped steeply in the first few dozen
# iterations - from random weights, even a small learning rate makes fast progress - then kept
# falling slowly and noisily. The biggest spikes come while the learning rate is near its peak,
# where the steps are largest, and the curve calms down as the rate comes down at the end. The
# last line printed above is the result: this small MLP gets about 97% of the validation digits
# right after three epochs.
#
# ## What you built, and what's next
#
# | piece | job |
# |---|---|
# | `Dataset`, `DataLoader`, `DataBunch` | items, batches, both loaders together |
# | `Learner` | model + optimiser + loss + data |
# | `Runner` | the loop, announcing events; callbacks cancel by returning True |
# | `TrainEvalCallback` | train/eval mode, progress counters |
# | `AvgStatsCallback` | item-weighted loss and metrics per epoch |
# | `Recorder`, `ParamScheduler` | record and schedule hyper-parameters |
#
# Lesson 01 looks closely at the Python ideas this design relies on - callbacks, closures,
# `partial`, dunder methods - and lesson 02 replaces "return True" with exceptions.
#
# **Exercises**: `exercises/l00_training_loop.py`; grade them with `make grade LESSON=00`.
