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
# **Exercises.** The code lives in `solutions/l00_training_loop.py`, the course library this lesson
# builds. We show each piece from there rather than copying it, and then use it. Pieces marked
# *Exercise* are yours to write in `exercises/l00_training_loop.py`; `make grade LESSON=00` grades
# them. Each is folded behind "Show our version", so you can write yours before you read ours.
#
# | exercise | what you write |
# | --- | --- |
# | `00-dataset` | `Dataset.__len__`, `__getitem__` |
# | `00-dataloader` | `DataLoader.__len__`, `__iter__`: batches, in order or shuffled anew each pass |
# | `00-get-dls` | `get_dls`: a shuffled training loader, an ordered validation loader twice as wide |
# | `00-accuracy` | `accuracy` |
# | `00-callback-getattr` | `Callback.__getattr__`: a callback reads what it lacks from its runner |
# | `00-camel2snake` | `camel2snake` and `Callback.name` |
# | `00-runner` | `Runner.__call__`, `one_batch`, `all_batches`, `fit` |
# | `00-train-eval` | `TrainEvalCallback`: train/eval mode and progress counters |
# | `00-avg-stats` | `AvgStats.avg_stats`, `accumulate`: averages weighted by batch size |
# | `00-recorder` | `Recorder.begin_fit`, `after_batch` |
# | `00-annealers` | `sched_lin`, `sched_cos`, `sched_exp` |
# | `00-combine-scheds` | `combine_scheds`: a schedule made of pieces |
# | `00-param-scheduler` | `ParamScheduler.set_param` |

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
import matplotlib.pyplot as plt
import torch

from course.data import get_mnist
from course.seed import set_seed
from course.show import show_source
from solutions.l00_training_loop import (
    AvgStats, AvgStatsCallback, Callback, DataBunch, DataLoader, Dataset, ParamScheduler, Recorder,
    Runner, TrainEvalCallback, accuracy, annealer, camel2snake, combine_scheds, get_dls, get_learner, sched_cos,
    sched_exp, sched_lin, sched_no,
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
# methods, `__len__` and `__getitem__`, are all Python needs for `len(ds)` and `ds[i]`.
#
# *Exercise `00-dataset`.*

# %%
show_source(Dataset)
train_ds, valid_ds = Dataset(x_train, y_train), Dataset(x_valid, y_valid)
len(train_ds), train_ds[0][0].shape, train_ds[0][1]

# %% [markdown]
# A `DataLoader` turns a dataset into mini-batches. Training batches are drawn in a new random
# order every epoch, so the model can't learn anything from the order; validation batches come in
# order, and twice as large, because without gradients there is memory to spare (`get_dls`).
#
# *Exercise `00-dataloader` and Exercise `00-get-dls`.*

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
# react. These names are the **events**.
#
# *Exercise `00-runner`*: write `Runner.__call__`, `one_batch`, `all_batches` and `fit`.

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
# from `cb_funcs` (`run.avg_stats`), as we will see at the end: the class name without `Callback`,
# in snake_case, which `camel2snake` computes with two regular expressions.
#
# *Exercise `00-callback-getattr` and Exercise `00-camel2snake`.*

# %%
show_source(Callback, camel2snake)
print(AvgStatsCallback([]).name, TrainEvalCallback().name, camel2snake("HTTPServer"))

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
#
# *Exercise `00-train-eval`.*

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
#
# *Exercise `00-accuracy` and Exercise `00-avg-stats`.*

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
#
# *Exercise `00-annealers`*: write `sched_lin`, `sched_cos` and `sched_exp`.

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
# cool-down, here 30% up and 70% down, both cosine.
#
# *Exercise `00-combine-scheds`.*

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
#
# *Exercise `00-param-scheduler` and Exercise `00-recorder`.*

# %%
show_source(ParamScheduler.set_param, Recorder.begin_fit, Recorder.after_batch)

# %% [markdown]
# ## Putting it together
#
# Three epochs with the one-cycle schedule, statistics and a recorder. `cb_funcs` takes things
# that *make* callbacks (a class, or a `partial` with its arguments filled in); the runner stores
# each one under its name, so we can reach the recorder afterwards as `run.recorder`, and a
# callback can reach another the same way: `ValidHistory` below keeps each epoch's validation
# loss and accuracy by reading `self.avg_stats`, which its `__getattr__` finds on the runner.

# %%
from functools import partial


class ValidHistory(Callback):
    """Keeps [validation loss, accuracy] of every epoch, read from the runner's AvgStatsCallback."""
    def begin_fit(self):   self.history = []
    def after_epoch(self): self.history.append(self.avg_stats.valid_stats.avg_stats)


def train(seed, report=print):
    set_seed(seed)
    learn = get_learner(data)  # the optimiser's lr is overwritten by the schedule before every batch
    run = Runner(cb_funcs=[Recorder, partial(AvgStatsCallback, accuracy, report=report),
                           partial(ParamScheduler, "lr", one_cycle), ValidHistory])
    run.fit(3, learn)
    return run


run = train(42)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
run.recorder.plot_lr(ax=ax1)
run.recorder.plot_loss(ax=ax2)
fig.tight_layout()

# %% [markdown]
# The learning rate followed the one-cycle shape, and the loss dropped steeply in the first few
# dozen iterations - random weights are far from any good solution, so every step helps - then
# kept falling slowly and noisily. One run is one draw of the initial weights and of the batch
# order, though. What holds for *this* recipe, and what was luck? The same training on four more
# seeds, with the validation loss and accuracy after each epoch, and how much the loss jumps from
# one batch to the next in each third of training (warm-up towards the peak rate, high rate,
# cooling down):

# %%
def jumps(losses):
    """Mean |change| of the training loss between consecutive batches, in each third of training."""
    d = (torch.tensor(losses[1:]) - torch.tensor(losses[:-1])).abs()
    return [third.mean().item() for third in d.tensor_split(3)]


runs = {42: run} | {seed: train(seed, report=lambda line: None) for seed in (0, 1, 2, 3)}
print("seed | valid loss, epochs 0 1 2 | valid accuracy, epochs 0 1 2 | loss jumps, thirds 1 2 3")
for seed, r in runs.items():
    losses, accs = zip(*r.valid_history.history)
    print(f"{seed:4d} | {' '.join(f'{x:.3f}' for x in losses)}        | {' '.join(f'{x:.4f}' for x in accs)}"
          f"        | {' '.join(f'{x:.3f}' for x in jumps(r.recorder.losses))}")
valid = torch.tensor([r.valid_history.history for r in runs.values()])  # (seed, epoch, [loss, accuracy])
print("validation loss, lowest to highest over the seeds, per epoch:",
      ", ".join(f"{lo:.3f}-{hi:.3f}" for lo, hi in zip(valid[:, :, 0].min(0).values, valid[:, :, 0].max(0).values)))
rose = sum(bool((run_losses[1:] > run_losses[:-1]).any()) for run_losses in valid[:, :, 0])
print(f"runs whose validation loss rose from one epoch to the next: {rose} of {len(runs)}")
final = valid[:, -1, 1]
print(f"final validation accuracy over {len(runs)} seeds: mean {final.mean():.4f}, "
      f"min {final.min():.4f}, max {final.max():.4f}")

# %% [markdown]
# Read the result off the last line: this small MLP gets the validation accuracy it prints after
# three epochs, and the spread between seeds is the size of difference that seed alone makes - a
# change to the recipe that moves the accuracy by less than that has not shown anything yet.
#
# The validation loss after the first epoch differs a lot from seed to seed: that epoch ends just
# after the schedule's peak learning rate (at 30% of training), where the steps are largest, so
# where the weights happen to stand at its end is most a matter of luck. Too large a step can
# even make the validation loss go *up* from one epoch to the next while the training loss keeps
# falling: the second-to-last line counts the runs where that happened. The cool-down at the end
# brings the runs close together: compare the range of the last epoch with that of the first.
#
# The jumps of the training loss from one batch to the next shrink in the last third, where the
# learning rate is lowest. That fits "smaller steps, calmer loss", but the loss itself is lower
# there too, so smaller jumps are expected anyway: the table shows that the curve calms down, not
# why.

# %% [markdown]
# ## Check your understanding
#
# 1. Why does `AvgStats` multiply each batch's loss by the batch size before averaging, instead of
#    averaging the batch losses?
#
#    <details><summary>Answer</summary>
#
#    The last batch is usually smaller. A mean of batch means gives each batch the same weight, so
#    the items of a small batch would count more than the others. Weighting by size and dividing
#    by the item count gives the mean over items, which is what "the validation loss" means.
#
#    </details>
#
# 2. Why is the training set shuffled every epoch, and the validation set not at all?
#
#    <details><summary>Answer</summary>
#
#    Training batches in a fixed order would let the model (and the optimiser's path) depend on
#    that order, and every epoch would repeat the same sequence of steps; a new order each pass
#    gives each step a fresh random mix. Validation only measures: the order changes nothing in the
#    result, so shuffling it would only cost time and make runs harder to compare.
#
#    </details>
#
# 3. A callback returns True from `after_step` at every batch of lesson 00's Runner. What happens
#    to training, and why?
#
#    <details><summary>Answer</summary>
#
#    `one_batch` returns before `zero_grad`, so the gradients are never reset: each step uses the
#    sum of all the gradients since the first cancelled one, the steps grow ever larger, and
#    training is wrecked. The True cancels only the rest of that batch, not the epoch or the fit.
#    Lesson 02 shows this on a real run and fixes it with exceptions.
#
#    </details>
#
# 4. How can `ValidHistory` write `self.avg_stats` when it has no such attribute?
#
#    <details><summary>Answer</summary>
#
#    Python calls `Callback.__getattr__` only after the normal lookup fails; ours looks the name up
#    on the runner, and the runner stored the `AvgStatsCallback` it made from `cb_funcs` under the
#    callback's `name`, `avg_stats` (`camel2snake` of the class name without `Callback`).
#
#    </details>
#
# 5. What does `sched_cos(0.3, 0.6)` return, and why is it not a number?
#
#    <details><summary>Answer</summary>
#
#    A `partial` of the cosine annealer with `start=0.3` and `end=0.6` filled in: a function that
#    still waits for `pos`. `ParamScheduler` needs a function of the position in training alone, and
#    the `annealer` decorator turns "a function of start, end and pos" into "a maker of functions of
#    pos".
#
#    </details>
#
# 6. Why does the final section train five seeds instead of one?
#
#    <details><summary>Answer</summary>
#
#    One run mixes the recipe with the luck of one draw of initial weights and batch order. The
#    spread over seeds shows how much of a result is luck: the validation loss after the first
#    epoch and the final accuracy both differ from seed to seed, and a claim about the recipe
#    should hold for all of them.
#
#    </details>

# %% [markdown]
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
