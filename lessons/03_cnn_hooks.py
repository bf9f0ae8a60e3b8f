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
# # Lesson 03 - A CNN, a device callback, hooks, telemetry and initialisation
#
# So far we trained a small MLP. This lesson turns it into a convolutional network, and then
# opens it up: while it trains, we watch the mean, the spread and the whole distribution of every
# layer's activations. Those pictures show what a bad initialisation looks like, why it matters,
# and what to change - first the weights (Kaiming init), then the activation function
# (`GeneralRelu`).
#
# **What you will learn**
#
# 1. a CNN built from `nn.Sequential`, `Lambda` layers and stride-2 convolutions; why the first
#    layer is 5x5, by counting the inputs of each dot product;
# 2. callbacks that move the work elsewhere: `DeviceCallback` (GPU when there is one) and
#    `BatchTransformXCallback` (reshape in a callback, not in the model);
# 3. a DataLoader that fetches a whole batch in one indexing call;
# 4. telemetry: by hand, then with PyTorch **hooks** (callbacks inside the model), a `Hook` class,
#    a `ListContainer` and `Hooks` as a context manager that never leaks;
# 5. Kaiming initialisation, derived by experiment; uniform or normal?
# 6. the "colorful dimension": histograms of activations over time, the fraction of dead
#    activations, and `GeneralRelu`, which revives them - compared over several seeds;
# 7. **backward hooks**: the size of the gradient at each layer, batch by batch;
# 8. a one-cycle schedule for 8 epochs, a progress bar that is just another callback, and the
#    lecture's homework.
#
# **Exercises.** The code lives in `solutions/l03_cnn_hooks.py`; we show each piece from there.
# Pieces marked *Exercise* are yours to write in `exercises/l03_cnn_hooks.py`; `make grade
# LESSON=03` grades them. Try each one before you read our version.
#
# | exercise | what you write |
# | --- | --- |
# | `03-normalize-to` | `normalize_to`: both sets with the training statistics |
# | `03-lambda` | `Lambda.forward`, `flatten`, `mnist_resize` |
# | `03-dot-products` | `dot_product_sizes`: inputs and outputs of each convolution |
# | `03-device` | `DeviceCallback`: model at begin_fit, batch at begin_batch |
# | `03-batch-transform` | `BatchTransformXCallback.begin_batch` |
# | `03-view-tfm` | `view_tfm(*size)`: a closure that reshapes a batch |
# | `03-cnn-layers` | `get_cnn_layers`: the CNN from a list of channel counts and a `layer` function |
# | `03-batch-loader` | `BatchDataLoader.__iter__`: one indexing call per batch |
# | `03-sequential-model` | `SequentialModel.forward`: telemetry by hand |
# | `03-hook-class` | `Hook`: register a forward or backward hook, `remove` it |
# | `03-list-index` | `ListContainer.__getitem__`: int, slice, indices, boolean mask |
# | `03-list-container` | `ListContainer`: `len`, iteration, set, delete, a short repr |
# | `03-hooks` | `Hooks`: a ListContainer of Hooks, and a context manager |
# | `03-append-stats` | `append_stats`: means, stds, histograms of training batches only |
# | `03-get-hist` | `get_hist`: histograms as an image |
# | `03-get-min` | `get_min`: the fraction of activations near zero |
# | `03-init-cnn` | `init_cnn`: Kaiming init at every depth |
# | `03-general-relu` | `GeneralRelu.forward`: leak, subtract, clamp |
# | `03-grad-stats` | `append_grad_stats`: a backward hook function, the size of each layer's gradient |

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
import math
import pickle
import warnings
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course.data import get_mnist
from course.seed import set_seed
from course.show import show_source
from solutions import l00_training_loop as l00
from solutions import l02_exceptions as l02
from solutions.l03_cnn_hooks import (
    AvgStatsCallback, BatchDataLoader, BatchTransformXCallback, DataBunch, Dataset, DeviceCallback, GeneralRelu,
    Hook, Hooks, Lambda, ListContainer, ParamScheduler, ProgressCallback, Recorder, Runner, SequentialModel,
    StopAfterStep, accuracy, append_grad_stats, append_stats, combine_scheds, conv2d, conv_layer, default_device,
    dot_product_sizes, flatten, get_cnn_layers, get_cnn_model, get_dls, get_hist, get_learn_run, get_min,
    get_runner, init_cnn, mnist_resize, normalize_to, plot_hists, plot_mins, plot_stats, sched_cos, view_tfm,
)

set_seed(42)
plt.rcParams["figure.figsize"] = (6, 3)

# %% [markdown]
# ## 1. The data, normalised with the training statistics
#
# Lesson 00's loader normalised MNIST for us. Here we do it ourselves, because the rule matters:
# the validation set goes through *exactly* the transformation the model was trained with, so it
# is normalised with the **training** set's mean and std, never its own. A model that learned
# "ink is above 2.0" must see the same 2.0 on new images.
#
# *Exercise `03-normalize-to`*: write `normalize_to(train, valid)`.

# %%
show_source(normalize_to)

# %%
x_train, y_train, x_valid, y_valid = get_mnist(normalize=False)
print(f"raw pixels:  train mean {x_train.mean():.4f} std {x_train.std():.4f} | "
      f"valid mean {x_valid.mean():.4f} std {x_valid.std():.4f}")
x_train, x_valid = normalize_to(x_train, x_valid)
print(f"normalised:  train mean {x_train.mean():.4f} std {x_train.std():.4f} | "
      f"valid mean {x_valid.mean():.4f} std {x_valid.std():.4f}")

# %% [markdown]
# The training set is now exactly mean 0, std 1; the validation set is close to it but not
# exactly, which is how it should be: it is a different set of images, shifted by the same
# amount. As in fast.ai's lesson, batches of 512 for training (1024 for validation):

# %%
bs = 512
train_ds, valid_ds = Dataset(x_train, y_train), Dataset(x_valid, y_valid)
data = DataBunch(*get_dls(train_ds, valid_ds, bs), c_in=784, c_out=10)
print(f"{len(data.train_dl)} training batches of {bs}, {len(data.valid_dl)} validation batches of {2 * bs}")

# %% [markdown]
# (`get_dls` here is this lesson's; its `BatchDataLoader` is the subject of section 4. It yields
# the same batches as lesson 00's.)
#
# ## 2. A first CNN
#
# An image is 28 x 28 pixels; our data holds it as 784 numbers in a row. A convolution wants
# (batch, channels, height, width), so the model's first job is a reshape, and a CNN's last job
# before the classifier is to flatten again. `nn.Sequential` only takes modules, so we wrap
# these two functions in a tiny module, `Lambda`.
#
# *Exercise `03-lambda`*: write `Lambda.forward`, `flatten` and `mnist_resize`.

# %%
show_source(Lambda, flatten, mnist_resize)

# %% [markdown]
# Why named functions rather than `Lambda(lambda x: x.view(-1, 1, 28, 28))`? Saving a model
# (`torch.save`) pickles it, and pickle saves a function as *the name you import it by*. A
# `lambda` has no such name:

# %%
with_lambda = nn.Sequential(Lambda(lambda x: x.view(-1, 1, 28, 28)))
with_name = nn.Sequential(Lambda(mnist_resize))
try:
    pickle.dumps(with_lambda)
except (pickle.PicklingError, AttributeError) as e:
    print(f"lambda:         {type(e).__name__}: ...{str(e).split(':')[-1]}")  # (without the lambda's address)
restored = pickle.loads(pickle.dumps(with_name))
print(f"named function: pickled as {restored[0].func.__module__}.{restored[0].func.__qualname__}, "
      f"restored: {restored}")

# %% [markdown]
# Now the network: four convolutions with stride 2, each halving the image (rounding up), then
# `AdaptiveAvgPool2d(1)`, which averages each channel over whatever size is left, a flatten and a
# linear layer to the 10 classes.

# %%
def first_cnn(data):
    return nn.Sequential(
        Lambda(mnist_resize),
        nn.Conv2d(1, 8, 5, padding=2, stride=2), nn.ReLU(),  # 28 -> 14
        nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(),  # 14 -> 7
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),  # 7 -> 4
        nn.Conv2d(32, 32, 3, padding=1, stride=2), nn.ReLU(),  # 4 -> 2
        nn.AdaptiveAvgPool2d(1),
        Lambda(flatten),
        nn.Linear(32, data.c_out),
    )


def print_shapes(model, x):
    """Run `x` through the layers of `model` one by one, printing each output's shape."""
    print(f"{'input':>22} {tuple(x.shape)}")
    for layer in model:
        x = layer(x)
        print(f"{type(layer).__name__:>22} {tuple(x.shape)}")


model = first_cnn(data)
print_shapes(model, x_train[:bs])

# %% [markdown]
# 28 -> 14 -> 7 -> 4 -> 2: a stride-2 convolution with padding `ks // 2` computes one output for
# every second pixel, so a size n becomes ceil(n / 2). The formula is
# $\lfloor (n + 2p - k) / s \rfloor + 1$; for each layer:

# %%
n = 28
for k, p in [(5, 2), (3, 1), (3, 1), (3, 1)]:
    out = (n + 2 * p - k) // 2 + 1
    print(f"n={n:2d}, k={k}, p={p}: ({n} + {2 * p} - {k}) // 2 + 1 = {out} = ceil({n} / 2) = {math.ceil(n / 2)}")
    n = out

# %% [markdown]
# One epoch at learning rate 0.4, with lesson 02's callbacks, on the CPU:

# %%
set_seed(42)
model = first_cnn(data)
learn = l00.Learner(model, torch.optim.SGD(model.parameters(), lr=0.4), F.cross_entropy, data)
run = Runner(cb_funcs=[Recorder, partial(AvgStatsCallback, accuracy)])
run.fit(1, learn)

# %% [markdown]
# fast.ai's notebook got a validation accuracy of 0.7742 (in about 6 s on its CPU); ours is the
# second number of the `valid` line above. One short epoch at a high learning rate with PyTorch's
# default initialisation is a rough start, and sections 5 to 12 are about why, and what to do
# about it.
#
# ### Why the first layer is 5x5
#
# Each output value of a convolution is a dot product: of the weights with the patch of input
# under the kernel, across all input channels. With one input channel, a 3x3 kernel reads 9
# numbers; if the layer makes 8 channels, it turns 9 numbers into 8 - barely a summary, more a
# reshuffle. A layer earns its cost by computing clearly *fewer* numbers than it reads, so that it
# has to find what matters. 5x5 on one channel reads 25 numbers for 8 outputs. The lecture's
# example of the opposite is ImageNet: 3 colour channels and a 3x3 kernel read 3 x 3 x 3 = 27
# numbers, and a first layer of 32 channels computes *more* numbers than it reads - wasted work.
# That is why ImageNet models start with a bigger kernel (ResNet: 7x7 on 3 channels, 147 inputs
# for 64 outputs).
#
# *Exercise `03-dot-products`*: write `dot_product_sizes(model)`.

# %%
show_source(dot_product_sizes)


def verdict(inputs, outputs):
    """Our reading of a layer's (inputs, outputs): the threshold of 2 is a rule of thumb."""
    if outputs > inputs:
        return "more outputs than inputs: wasted work"
    if inputs < 2 * outputs:
        return "barely a summary: a reshuffle"
    return "summarises"


def review(model, name):
    print(name)
    for i, (inputs, outputs) in enumerate(dot_product_sizes(model)):
        print(f"  conv {i}: {inputs:4d} inputs -> {outputs:3d} outputs per position "
              f"({inputs / outputs:4.1f} inputs per output: {verdict(inputs, outputs)})")


review(first_cnn(data), "the lesson's CNN")
review(nn.Conv2d(1, 8, 3, padding=1, stride=2), "a 3x3 first layer on MNIST")
review(nn.Conv2d(3, 32, 3, padding=1, stride=2), "a 3x3 first layer on ImageNet (the lecture's example)")
review(nn.Conv2d(3, 64, 7, padding=3, stride=2), "ResNet's 7x7 first layer on ImageNet")

# %% [markdown]
# Reading an architecture this way - "how many numbers go into each dot product, how many come
# out" - is a quick review of any CNN you meet. Later layers summarise easily: 3x3 on 16
# channels already reads 144 numbers.
#
# ## 3. Callbacks that move the work
#
# ### A device callback
#
# To train on a GPU, two kinds of tensors must be there: the model's **parameters** (and
# buffers), and each batch of **inputs and targets**. Nothing else: the activations are computed
# by the model, so they are created wherever its parameters are. That is two events of the
# Runner: `begin_fit` for the model and `begin_batch` for the batch.
#
# *Exercise `03-device`*: write `DeviceCallback.begin_fit` and `begin_batch`.

# %%
show_source(default_device, DeviceCallback)

# %%
print(f"CUDA available: {torch.cuda.is_available()}; DeviceCallback() trains on: {DeviceCallback().device}")

# %% [markdown]
# This machine has no GPU, so the callback falls back to the CPU by itself, and the same lesson
# runs everywhere. To see that it moves only what it should, we can still send the work to
# another device: PyTorch's `meta` device, which has shapes and dtypes but no data. Operations on
# it compute nothing, but they do say *where* each tensor lives. A hook (section 6) on the first
# convolution reports where its output - an activation - was created:

# %%
class Where(l02.Callback):
    """Reports where the parameters, the batch and the loss are, after the first batch's step."""

    def after_step(self):
        print(f"parameters on {next(self.model.parameters()).device}, xb on {self.xb.device}, "
              f"yb on {self.yb.device}, loss on {self.loss.device}")


set_seed(42)
model = first_cnn(data)
conv_out = []
handle = model[1].register_forward_hook(lambda mod, inp, out: conv_out.append(out.device))
learn = l00.Learner(model, torch.optim.SGD(model.parameters(), lr=0.4), F.cross_entropy, data)
Runner(cbs=[DeviceCallback("meta"), Where(), StopAfterStep(0)]).fit(1, learn)
handle.remove()
print(f"first convolution's output created on: {conv_out[0]}; the data itself stays on {x_train.device}")

# %% [markdown]
# Everything the step needed was moved, the data set itself was not (each batch is copied as it
# is used), and the activation appeared on the model's device without anyone moving it. On a
# machine with CUDA, `DeviceCallback()` does the same with `cuda`.
#
# > **Note** This course's lessons run on CPUs; the device callback is tested here on the CPU and
# > on `meta` only.
#
# ### Reshaping in a callback
#
# `Lambda(mnist_resize)` inside the model ties the model to flat 784-pixel inputs. Reshaping is a
# property of the *data*, so it belongs with the data: a callback that transforms each batch
# before the model sees it. `view_tfm(1, 28, 28)` is a **closure** (lesson 01): a function that
# remembers the `size` it was made with.
#
# *Exercise `03-batch-transform`, Exercise `03-view-tfm`*.

# %%
show_source(BatchTransformXCallback, view_tfm)

# %%
mnist_view = view_tfm(1, 28, 28)
print(f"{tuple(x_train[:5].shape)} -> {tuple(mnist_view(x_train[:5]).shape)}; "
      f"the last batch of 50,000 at bs 512 has {len(x_train) % bs}: "
      f"{tuple(mnist_view(x_train[:len(x_train) % bs]).shape)}")

# %% [markdown]
# Its `_order` is 2, so it runs after the `DeviceCallback` (order 0): the reshape happens on the
# device. From now on, every CNN run uses these callback makers (or, where we train many runs,
# the same with the statistics' epoch lines silenced):

# %%
cbfs = [Recorder, partial(AvgStatsCallback, accuracy), DeviceCallback, partial(BatchTransformXCallback, mnist_view)]

# %% [markdown]
# And the model is now built from a list of channel counts. `conv2d` is a convolution and a ReLU;
# `get_cnn_layers` chains one `layer` per entry of `nfs`, 5x5 for the first and 3x3 for the rest.
# The `layer` function is a parameter, so later we can plug in other layers (in this lesson
# `conv_layer` with a better activation; in lesson 04, layers with normalisation).
#
# *Exercise `03-cnn-layers`*: write `get_cnn_layers`.

# %%
show_source(conv2d, get_cnn_layers, get_cnn_model)

# %%
nfs = [8, 16, 32, 32]
print(get_cnn_model(data, nfs, conv2d))

# %% [markdown]
# ## 4. A batch in one call
#
# Lesson 00's DataLoader asks the Dataset for each item, `ds[i]`, one Python call per image, and
# then `collate` stacks the pairs into two tensors. Our Dataset holds two tensors, and a tensor
# can be indexed by a tensor of indices: `x[idx]` returns all those rows at once, in one call. So
# `BatchDataLoader` asks the dataset for the whole batch, `ds[idx]`. The batches are the same,
# in the same order (one `randperm` per pass), and the last one keeps the leftover items:
#
# *Exercise `03-batch-loader`*: write `BatchDataLoader.__iter__`.

# %%
show_source(l00.DataLoader.__iter__, BatchDataLoader)

# %%
set_seed(0)
old = [yb for _, yb in l00.DataLoader(Dataset(x_train[:1000], y_train[:1000]), 64, shuffle=True)]
set_seed(0)
new = [yb for _, yb in BatchDataLoader(Dataset(x_train[:1000], y_train[:1000]), 64, shuffle=True)]
print(f"{len(new)} batches (the last of {len(new[-1])}), identical to lesson 00's: "
      f"{all(torch.equal(a, b) for a, b in zip(old, new))}")

# %% [markdown]
# All the runs of this lesson, section 2's included, use this lesson's `Runner`: lesson 02's, with
# the same events and exceptions, except that it looks up each event's handlers once per fit instead
# of at every event (`tests/test_l03_runner.py` checks that both fire the same events in the same
# order). What these two changes save is measured in the course's benchmark notes,
# `docs/benchmarks.md`.
#
# ## 5. Telemetry by hand
#
# Now we want to see inside the model while it trains. The simplest way: our own version of
# `nn.Sequential` that, in training mode, records the mean and std of each layer's output.
#
# *Exercise `03-sequential-model`*: write `SequentialModel.forward`.

# %%
show_source(SequentialModel)

# %% [markdown]
# fast.ai's run: learning rate 0.9, two epochs, PyTorch's default initialisation.

# %%
set_seed(42)
model = SequentialModel(*get_cnn_layers(data, nfs, conv2d))
learn, run = get_runner(model, data, lr=0.9, cbs=cbfs)
run.fit(2, learn)

# %%
fig, axs = plt.subplots(1, 2, figsize=(9, 3))
plot_stats(model, axs=axs, title="default init, lr 0.9:")
for ax in axs:
    ax.axvline(len(data.train_dl), color="grey", ls=":", lw=1)  # the end of epoch 1

# %% [markdown]
# The legend names the layers: 0 to 3 are the convolutions (each with its ReLU), 4 the pooling,
# 5 the flatten - drawn dashed on top of layer 4, because flattening moves numbers without
# changing them, so its statistics are exactly layer 4's - and 6 the linear layer.
#
# Read the first hundred iterations of this run: the means and stds of the later layers start
# near zero, then rise sharply and collapse, more than once, before training gets going.
# A std near zero means the layer outputs nearly the same number whatever the input: no
# information flows through it, and so no useful gradient flows back. Each rise is the optimiser
# finding a direction; each collapse, the activations falling off a cliff, with many ReLUs ending
# up at zero. This is what bad initialisation looks like. The run above recovers, but it is only
# four convolutions deep (section 9 shows what the same init does over 20 layers), and already
# the std of its later layers at the very start was

# %%
model_stds = model.act_stds
print("  ".join(f"layer {i}: {stds[0]:.3f}" for i, stds in enumerate(model_stds)))

# %% [markdown]
# ## 6. PyTorch hooks
#
# Writing our own Sequential works, but only for models we write. PyTorch has callbacks for
# *any* module: **hooks**. `module.register_forward_hook(f)` makes the module call
# `f(module, input, output)` after each forward pass, and returns a handle whose `remove()`
# takes the hook off. Like our Runner's callbacks, a hook sees the state of the computation
# without the model knowing about it.
#
# A hook function doesn't know which layer it is on; a `partial` (lesson 01) binds the index:

# %%
model = get_cnn_model(data, nfs, conv2d)
act_means, act_stds = [[] for _ in model], [[] for _ in model]


def record_stats(i, mod, inp, outp):
    if mod.training:
        act_means[i].append(outp.detach().mean().item())
        act_stds[i].append(outp.detach().std().item())


handles = [m.register_forward_hook(partial(record_stats, i)) for i, m in enumerate(model)]
model(mnist_view(x_train[:bs]))
print(f"after one forward pass: {[len(m) for m in act_means]} means recorded per layer")
print("stds: " + ", ".join(f"{s[0]:.3f}" for s in act_stds))
for h in handles:
    h.remove()

# %% [markdown]
# The state (the two lists) lives outside, in globals. A `Hook` class keeps it in the hook
# object instead: it registers `partial(f, self)`, so `f` receives the Hook as its first
# argument and can store whatever it likes on it.
#
# The same class will also hold a *backward* hook (section 12): with `backward=True` it registers
# `f` with `register_full_backward_hook`, which PyTorch calls with the gradients instead of the
# activations.
#
# *Exercise `03-hook-class`*: write `Hook`.

# %%
show_source(Hook)

# %% [markdown]
# Why `remove` matters: a registered hook lives as long as the module. Register hooks in a loop -
# say, each time you re-run a notebook cell - without removing them, and they pile up: each one
# runs at every forward pass, and each one keeps its state (here, its statistics) alive, so memory
# grows too. Counting the hooks on a module after five "re-runs":

# %%
def count_hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


model = get_cnn_model(data, nfs, conv2d)
for rerun in range(5):
    leaked = [Hook(m, append_stats) for m in model]  # the previous list is dropped, never removed
    model(mnist_view(x_train[:64]))
print(f"after 5 re-runs: {count_hooks(model)} hooks on the model, {len(model[0]._forward_hooks)} on its first layer; "
      f"each forward pass now records {count_hooks(model)} sets of statistics")

# %% [markdown]
# But doesn't `Hook.__del__` remove a hook when the Hook is dropped? Only if the Hook is ever
# deleted - and it is not: the module keeps `partial(f, self)`, which refers to the Hook, so the
# Hook stays alive as long as the module does. fast.ai's lesson suggests `__del__` cleans up
# after you; it does not, here:

# %%
model = get_cnn_model(data, nfs, conv2d)
hook = Hook(model[0], append_stats)
del hook  # our last name for it
print(f"after `del hook`: {count_hooks(model)} hook still registered; the partial holds the Hook: "
      f"{type(next(iter(model[0]._forward_hooks.values())).args[0]).__name__}")

# %% [markdown]
# `__del__` only runs once the module itself is gone, and then nothing is left to clean. The
# reliable ways out are to call `remove()`, or - better, because it cannot be forgotten even when
# something fails - a `with` block (section 7).
#
# ## 7. A ListContainer, and Hooks
#
# We will hold one Hook per layer, so we want a list of them with a few conveniences: numpy-style
# indexing (an int, a slice, a list of indices, a boolean mask) and a short repr. All of it is
# dunder methods (lesson 01).
#
# *Exercise `03-list-index`, Exercise `03-list-container`*.

# %%
show_source(ListContainer)

# %%
c = ListContainer(list(range(12)))
print(repr(c))
print(f"c[3] = {c[3]}, c[2:5] = {c[2:5]}, c[[0, 11, 5]] = {c[[0, 11, 5]]}")
print(f"c[mask] = {c[[i % 4 == 0 for i in range(12)]]}; len {len(c)}; sum over iteration {sum(c)}")
c[0] = "zero"
del c[1]
print(f"after c[0] = 'zero' and del c[1]: {c[:3]}, len {len(c)}")
try:
    c[[True, False]]
except IndexError as e:
    print(f"IndexError: {e}")

# %% [markdown]
# `Hooks` is a ListContainer of Hooks that is also a **context manager**: `__enter__` runs at the
# start of a `with` block and `__exit__` at its end, whether the block finishes or raises, so
# every hook is removed in both cases.
#
# *Exercise `03-hooks`*: write `Hooks`.

# %%
show_source(Hooks)

# %%
model = get_cnn_model(data, nfs, conv2d)
with Hooks(model, append_stats) as hooks:
    print(f"inside the with block: {count_hooks(model)} hooks; {hooks}")
print(f"after it: {count_hooks(model)} hooks")


class FailAtStep(l02.Callback):
    def after_step(self):
        if self.n_iter == 3:
            raise RuntimeError("out of memory, say, at step 3")


learn, run = get_runner(model, data, lr=0.1, cbs=cbfs)
try:
    with Hooks(model, append_stats) as hooks:
        run.cbs.append(FailAtStep())
        run.fit(1, learn)
except RuntimeError as e:
    print(f"after a fit that raised ({e}): {count_hooks(model)} hooks; they had recorded "
          f"{len(hooks[0].stats[0])} batches")

# %% [markdown]
# ## 8. Statistics of the training batches, and only those
#
# The hook function that the rest of the lesson uses keeps, for each layer, the mean, the std and
# a **histogram** of its output at every training batch: `torch.histc` counts how many
# activations fall into each of 40 equal bins over a range.
#
# *Exercise `03-append-stats`*: write `append_stats`.

# %%
show_source(append_stats)

# %% [markdown]
# It ignores validation batches (`mod.training` is False in eval mode). fast.ai's lesson
# notebook did not: its `append_stats` recorded every forward pass (the version it later
# exported added the check). Here is what mixing them does, with both versions hooked into the
# same run: two epochs on the first 10,000 training images (20 training batches an epoch), each
# epoch followed by the 10 validation batches.

# %%
def append_stats_every_batch(hook, mod, inp, outp):
    """fast.ai's notebook version: no `mod.training` check."""
    if not hasattr(hook, "stats"):
        hook.stats, hook.hist_range = ([], [], []), (0.0, 10.0)
    hook.stats[0].append(outp.detach().mean().item())
    hook.stats[1].append(outp.detach().std().item())
    hook.stats[2].append(outp.detach().histc(40, 0, 10))


small = DataBunch(*get_dls(Dataset(x_train[:10_000], y_train[:10_000]), valid_ds, bs), c_in=784, c_out=10)
quiet_cbfs = [Recorder, partial(AvgStatsCallback, accuracy, report=lambda line: None), DeviceCallback,
              partial(BatchTransformXCallback, mnist_view)]  # cbfs, without the epoch lines
set_seed(42)
model = get_cnn_model(small, nfs, conv2d)
learn, run = get_runner(model, small, lr=0.9, cbs=quiet_cbfs)
with Hooks(model[:4], partial(append_stats, range=(0.0, 10.0))) as train_only, \
        Hooks(model[:4], append_stats_every_batch) as every_batch:
    run.fit(2, learn)

n_train = len(small.train_dl)
print(f"training batches: {len(run.recorder.losses)}; points recorded: training only "
      f"{len(train_only[0].stats[0])}, every batch {len(every_batch[0].stats[0])}")
counts = [torch.stack(h[0].stats[2]).sum(1) for h in (train_only, every_batch)]
fig, axs = plt.subplots(1, 2, figsize=(9, 3))
axs[0].plot(counts[1], label="every batch (fast.ai's notebook)", color="tab:red")
axs[0].plot(counts[0], label="training batches only", color="tab:blue")
axs[0].set(xlabel="recorded point", ylabel="activations counted", title="Layer 0: histogram totals")
axs[0].legend(fontsize=7)
axs[1].plot(every_batch[3].stats[1], color="tab:red", label="every batch")
axs[1].plot(train_only[3].stats[1], color="tab:blue", label="training only")
for x in (n_train, 2 * n_train):
    axs[1].axvline(x, color="grey", ls=":", lw=1)  # where training-only's epochs end
axs[1].set(xlabel="recorded point", ylabel="std", title="Layer 3: std")
axs[1].legend(fontsize=7)
plt.tight_layout()

# %% [markdown]
# Left: each validation batch holds 1024 images where a training batch holds 512, so its histogram
# counts twice as many activations - in a histogram image, a bright column. (The dips are the last
# batch of each pass, which holds the leftover images: smaller than the others.) Right: the two
# curves agree for the first epoch's 20 training batches (up to the first dotted line); then the
# "every batch" curve goes on with the 10 validation points, and its second epoch starts 10 points
# late. From there on its x axis no longer lines up with the Recorder's losses and learning rates,
# which count training batches only, and every further epoch adds 10 more points of shift. (The
# validation values themselves look like the training ones here, because nothing in this model
# behaves differently in eval mode; in lesson 04, batch norm does.)
#
# Two more helpers turn the recorded histograms into pictures: `get_hist` gives an image (bins x
# iterations, $\log(1 + \text{count})$ so that a few huge bins don't drown the rest), `get_min`
# the fraction of activations in the bins around zero at each iteration.
#
# *Exercise `03-get-hist`, Exercise `03-get-min`*.

# %%
show_source(get_hist, get_min)

# %% [markdown]
# ## 9. Initialisation, derived by experiment
#
# Back to the collapsing stds of section 5. Take the first layer of a fresh CNN and a batch of
# normalised images (mean 0, std 1), and look at its output with PyTorch's default
# initialisation:

# %%
x = mnist_view(x_train[:bs])
conv = nn.Conv2d(1, 8, 5, padding=2, stride=2)
print(f"input: mean {x.mean():.3f}, std {x.std():.3f}")
with torch.no_grad():
    out = conv(x)
    print(f"default init:             output mean {out.mean():.3f}, std {out.std():.3f}")
    nn.init.kaiming_normal_(conv.weight, a=1.0)
    out = conv(x)
    print(f"kaiming_normal_(a=1):     output mean {out.mean():.3f}, std {out.std():.3f}  (no non-linearity)")
    nn.init.kaiming_normal_(conv.weight)
    out = F.relu(conv(x))
    print(f"kaiming_normal_ + ReLU:   output mean {out.mean():.3f}, std {out.std():.3f}, "
          f"mean square {out.pow(2).mean():.3f}")

# %% [markdown]
# Where does Kaiming's formula come from? Each output is a dot product of `fan_in` inputs with
# `fan_in` weights (here 1 x 5 x 5 = 25). If inputs and weights are independent with mean 0, the
# variances add up: $\mathrm{Var}(y) = \mathrm{fan\_in} \cdot \mathrm{Var}(w) \cdot E[x^2]$.
# A ReLU then zeroes the negative half, so $E[\mathrm{relu}(y)^2] = \mathrm{Var}(y) / 2$. Write
# the weight std as $c / \sqrt{\mathrm{fan\_in}}$; then each layer multiplies $E[x^2]$ by
# $c^2 / 2$. Let's not take that on trust: measure the factor of one layer for several $c$, and
# push a batch through 20 layers.

# %%
def mean_square_after(c, depth=1, width=256, n=1024):
    """E[x^2] after `depth` (linear + ReLU) layers with weight std c / sqrt(width), from x of mean square 1."""
    x, squares = torch.randn(n, width), []
    for _ in range(depth):
        x = F.relu(x @ (torch.randn(width, width) * c / math.sqrt(width)))
        squares.append(x.pow(2).mean().item())
    return squares


set_seed(0)
cs = torch.linspace(0.5, 2.5, 9)
factors = [mean_square_after(c.item())[0] for c in cs]
for c, f in zip(cs, factors):
    print(f"c = {c:.2f}: one layer multiplies E[x^2] by {f:.3f}   (c^2 / 2 = {c * c / 2:.3f})")
lo, hi = 0.5, 2.5  # bisection for the c that keeps E[x^2]: factor 1
for _ in range(12):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if sum(mean_square_after(mid, n=4096)) < 1 else (lo, mid)
print(f"factor 1 at c = {(lo + hi) / 2:.3f}; sqrt(2) = {math.sqrt(2):.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
default_c = math.sqrt(2 / (1 + 5))  # PyTorch's default: kaiming_uniform_(a=sqrt(5)), std = c / sqrt(fan_in)
for c, label in [(default_c, f"PyTorch default, c = {default_c:.3f}"), (1.0, "c = 1"),
                 (math.sqrt(2), "Kaiming, c = sqrt(2)"), (2.0, "c = 2")]:
    ax.plot(range(1, 21), mean_square_after(c, depth=20), marker=".", label=label)
ax.set(yscale="log", xlabel="layer", ylabel="E[x^2] (log scale)", title="20 layers of linear + ReLU")
ax.legend(fontsize=7);

# %% [markdown]
# Only $c = \sqrt 2$ keeps the signal's size: std $= \sqrt{2 / \mathrm{fan\_in}}$, Kaiming (He)
# initialisation. Anything smaller shrinks it geometrically, anything larger blows it up. And
# PyTorch's default for conv and linear layers (`kaiming_uniform_` with `a = sqrt(5)`) has
# $c = 1/\sqrt 3 \approx 0.577$: each ReLU layer divides $E[x^2]$ by about 6. That is the
# near-zero std of the later layers at the start of section 5. For our first layer:

# %%
conv = nn.Conv2d(1, 8, 5)
fan_in = conv.weight[0].numel()
nn.init.kaiming_normal_(conv.weight)
print(f"fan_in = {fan_in}; sqrt(2 / fan_in) = {math.sqrt(2 / fan_in):.4f}; "
      f"std of kaiming_normal_ weights: {conv.weight.std():.4f}")

# %% [markdown]
# The rule is about an *expectation over random weights*, and the first layer has only 8 filters:
# one draw is a small sample. Worse, many 5x5 patches of an MNIST image are plain background, the
# same value everywhere, so on them a filter outputs (nearly) one number, positive or negative for
# the whole image. The mean square after the ReLU printed above is therefore one noisy draw;
# averaged over many draws of the weights it is what the formula says, about $E[x^2] \approx 1$:

# %%
squares = []
with torch.no_grad():
    for _ in range(200):
        nn.init.kaiming_normal_(conv.weight)
        squares.append(F.relu(F.conv2d(x[:64], conv.weight, stride=2, padding=2)).pow(2).mean().item())
squares = torch.tensor(squares)
print(f"mean square after kaiming_normal_ + ReLU, 200 draws: average {squares.mean():.3f} "
      f"(input: {x[:64].pow(2).mean():.3f}); single draws from {squares.min():.3f} to {squares.max():.3f}")

# %% [markdown]
# `init_cnn` applies it to every convolution of a model, at any depth - our layers are
# Sequentials inside a Sequential, so it recurses into each module's children. `a=0.1` adjusts the
# gain for a leaky ReLU of slope 0.1: $\sqrt{2 / (1 + a^2)}$.
#
# *Exercise `03-init-cnn`*: write `init_cnn`.

# %%
show_source(init_cnn)

# %% [markdown]
# The run of section 5 - lr 0.9, plain ReLUs - now with Kaiming init, for one epoch. One run
# says little about a learning rate this high: whether it trains well depends on its first random
# weights and batches. So we train with four seeds, and keep, for each run, the telemetry of its
# four convolutions: forward hooks with `append_stats`, and backward hooks with
# `append_grad_stats` (section 12 explains them; they only read the gradients, so the runs train
# exactly as without them).

# %%
SEEDS = [0, 1, 2, 3]
warnings.filterwarnings("ignore", message="Full backward hook is firing")  # layer 0: see section 12


def one_epoch(seed, layer, hist_range, **kwargs):
    """Kaiming init, lr 0.9, one epoch; returns the valid accuracy, the forward and the backward Hooks."""
    set_seed(seed)
    learn, run = get_learn_run(nfs, data, 0.9, layer, cbs=quiet_cbfs, **kwargs)
    convs = learn.model[:4]
    with Hooks(convs, partial(append_stats, range=hist_range)) as acts, \
            Hooks(convs, append_grad_stats, backward=True) as grads:
        run.fit(1, learn)
    return run.avg_stats.valid_stats.avg_stats[1], acts, grads


relu_runs = {seed: one_epoch(seed, conv2d, (0.0, 10.0)) for seed in SEEDS}
relu_hooks = relu_runs[0][1]  # seed 0's telemetry, for the plots
fig, axs = plt.subplots(1, 2, figsize=(9, 3))
plot_stats(relu_hooks, axs=axs, title="Kaiming init, lr 0.9, seed 0:");

# %% [markdown]
# The start is fixed: at the first batch every layer's std is of order 1, where the default init
# had the later layers near 0:

# %%
print("std at the first batch, Kaiming init: " + ", ".join(f"layer {i}: {h.stats[1][0]:.3f}"
                                                           for i, h in enumerate(relu_hooks)))
print("default init (section 5):             " + ", ".join(f"layer {i}: {stds[0]:.3f}"
                                                           for i, stds in enumerate(model_stds[:4])))
print("valid accuracy after the epoch, by seed: "
      + ", ".join(f"{seed}: {acc:.4f}" for seed, (acc, _, _) in relu_runs.items()))

# %% [markdown]
# fast.ai's lesson went further and said the plots are now smooth, without the cycles of
# growth and collapse. Kaiming init makes the signal the right size *at the start*; it does not
# make lr 0.9 safe for plain ReLUs. Compare the plot with section 5's, and look at the accuracies
# of the four seeds: same model, same data, same learning rate, and the results differ a lot from
# one seed to the next. Section 10 shows what goes on inside, and section 11 fixes it.
#
# ### Uniform or normal?
#
# fast.ai's notebook offers `init_cnn(uniform=True)` with the remark that uniform init "may
# provide more useful initial weights (normal distribution puts a lot of them at 0)". Let's
# measure it. `kaiming_uniform_` draws from $U(-b, b)$ with $b = \sqrt 3 \cdot$ std, so both have
# the same std; what differs is the shape. The fraction of weights within a small distance of
# 0, in units of that std:

# %%
set_seed(0)
std = 1.0
normal = torch.randn(1_000_000) * std
uniform = (torch.rand(1_000_000) * 2 - 1) * math.sqrt(3) * std
print(f"stds: normal {normal.std():.4f}, uniform {uniform.std():.4f}")
for t in (0.01, 0.1, 0.25, 0.5):
    fn, fu = (normal.abs() < t * std).float().mean(), (uniform.abs() < t * std).float().mean()
    print(f"|w| < {t:4.2f} std: normal {fn:6.2%}, uniform {fu:6.2%}  (normal/uniform {fn / fu:.2f})")
print(f"|w| > 2 std:      normal {(normal.abs() > 2 * std).float().mean():6.2%}, "
      f"uniform {(uniform.abs() > 2 * std).float().mean():6.2%}")

# %% [markdown]
# The claim is true only in a weak sense. Near zero, the normal density is $1/\sqrt{2\pi} \approx
# 0.399$ per std against the uniform's $1 / (2\sqrt 3) \approx 0.289$, so a normal init has about
# 1.38 times as many weights in any narrow band around 0 - but that is a few percent of the
# weights, not "a lot", and it pays for them with a tail (5% beyond 2 std) that the uniform does
# not have. What a layer passes on is a sum of many weight-input products, whose distribution
# depends on the weights' variance, not on their shape; at equal std the two inits give layer
# outputs of the same spread:

# %%
def output_stds(uniform, draws=200):
    conv = nn.Conv2d(1, 8, 5, padding=2, stride=2)
    weight_stds, out_stds = [], []
    with torch.no_grad():
        for _ in range(draws):
            init_cnn(conv, uniform=uniform)
            weight_stds.append(conv.weight.std().item())
            out_stds.append(conv(x[:64]).std().item())
    return torch.tensor(weight_stds).mean(), torch.tensor(out_stds).mean()


for name, uniform in [("normal", False), ("uniform", True)]:
    w, o = output_stds(uniform)
    print(f"kaiming {name:7s}: weight std {w:.4f}, first-layer output std {o:.4f} (averages over 200 draws)")

# %% [markdown]
# (Both about 1.4 rather than 1: there is no ReLU after the convolution here, and Kaiming's gain of
# about $\sqrt 2$ is there to make up for the half a ReLU would zero.) The 8-epoch runs of section
# 13 train with both.
#
# ## 10. The colorful dimension
#
# Means and stds summarise a whole layer in two numbers. A histogram per iteration keeps the
# shape: stacking them side by side gives an image with the iteration on the x axis, the
# activation value on the y axis, and the colour for how many activations had that value
# (yellow: many; the colour bar gives $\log(1 + \text{count})$). Here is seed 0's run above,
# plain ReLUs, lr 0.9:

# %%
plot_hists(relu_hooks, title="plain ReLU, Kaiming init, lr 0.9, seed 0: histograms over (0, 10)");

# %% [markdown]
# The bright band at the bottom is the bin of zero, and it dominates: with a ReLU, every negative
# input becomes exactly 0, and a unit that is zero has no gradient.
#
# Layer 0 also shows thin horizontal **stripes**. They come from the images, not from training:
# many 5x5 patches of an MNIST digit are plain background, every pixel the same (normalised)
# value, so on all of them a filter computes one and the same number. Each of the 8 filters puts
# all those outputs into one bin, the value it gives to blank background (0 after the ReLU if that
# value is negative); the patches on the border, which read some padding zeros, add a few more
# such values. That makes a handful of bright lines, which drift as the weights change. Later
# layers mix many channels and positions, and the stripes fade. How many outputs of the first
# convolution share one value, for one batch:

# %%
with torch.no_grad():
    # fresh random weights will do: which patches are blank depends on the images, not the weights
    out = init_cnn(nn.Conv2d(1, 8, 5, padding=2, stride=2))(mnist_view(x_train[:bs]))
shares = [out[:, c].flatten().unique(return_counts=True)[1].max().item() / out[:, c].numel() for c in range(8)]
print("share of each filter's outputs equal to its most common value: "
      + ", ".join(f"{share:.1%}" for share in shares))

# %% [markdown]
# All eight filters give the same share: the blank patches are the same for every filter, only the
# value each filter gives them differs.
#
# The fraction of activations in the bins near zero (centred within 0.5 of it: here the first
# two bins, [0, 0.5)), per layer:

# %%
plot_mins(relu_hooks, title="plain ReLU, seed 0: fraction of activations near 0");

# %% [markdown]
# fast.ai's run reported over 90% of the last layer's activations near zero. Section 11's table
# gives this fraction for layer 3 over the last 10 batches of each seed's epoch. A unit whose
# output is 0 passes no gradient back, so most of these layers' work is wasted.
#
# ## 11. A better ReLU
#
# `GeneralRelu` changes three things. A **leak** (slope 0.1 for negative inputs) keeps a gradient
# for every unit. A **subtraction** pulls the mean back down: a ReLU's outputs are never
# negative, so their mean is positive, and the next layer's inputs are no longer centred. And a
# **maximum** clips the rare huge activation.
#
# *Exercise `03-general-relu`*: write `GeneralRelu.forward`.

# %%
show_source(GeneralRelu, conv_layer)

# %% [markdown]
# Where does 0.4 come from? It is about the mean of a leaky ReLU of a unit normal input, computed
# here two ways:

# %%
z = torch.linspace(-8, 8, 200_001)
density = torch.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)
leaky_mean = torch.trapezoid(F.leaky_relu(z, 0.1) * density, z)
print(f"E[leaky_relu(z, 0.1)] for z ~ N(0, 1): integral {leaky_mean:.4f}, "
      f"formula 0.9 / sqrt(2 pi) = {0.9 / math.sqrt(2 * math.pi):.4f}, "
      f"sample {F.leaky_relu(torch.randn(1_000_000), 0.1).mean():.4f}")
relu6 = GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(z[::100], F.relu(z[::100]), label="ReLU")
ax.plot(z[::100], relu6(z[::100]), label="GeneralRelu(0.1, 0.4, 6)")
ax.axhline(0, color="grey", lw=0.5)
ax.set(xlabel="input", ylabel="output", xlim=(-8, 8), title="ReLU and GeneralRelu")
ax.legend(fontsize=8);

# %% [markdown]
# `conv_layer` is the lesson's layer: a convolution and a `GeneralRelu`, with the activation's
# arguments passed through `**kwargs` - by `get_cnn_layers`, `get_cnn_model` and
# `get_learn_run` (which also calls `init_cnn`) - so the whole model is configured in one call.
# The same runs, lr 0.9 for one epoch and the same four seeds, with
# `GeneralRelu(leak=0.1, sub=0.4, maxv=6)`; the histograms now cover (-7, 7), as activations can
# be negative:

# %%
show_source(get_learn_run)
grelu_runs = {seed: one_epoch(seed, conv_layer, (-7.0, 7.0), leak=0.1, sub=0.4, maxv=6.0) for seed in SEEDS}
grelu_hooks = grelu_runs[0][1]
fig, axs = plt.subplots(1, 2, figsize=(9, 3))
plot_stats(grelu_hooks, axs=axs, title="GeneralRelu, seed 0:")
plot_hists(grelu_hooks, title="GeneralRelu(0.1, 0.4, 6), seed 0: histograms over (-7, 7)")
plot_mins(grelu_hooks, title="GeneralRelu, seed 0: fraction of activations near 0");

# %% [markdown]
# The comparison, seed by seed: the validation accuracy after the epoch, the fraction of layer 3's
# activations near zero (on GeneralRelu's range (-7, 7), the two bins of [-0.35, 0.35)), and the
# fraction on the leak side (in bins entirely below -0.35, which a plain ReLU would have set to 0),
# both over the last 10 batches:

# %%
def fraction_below(hook, value):
    """Fraction of the activations in the bins entirely below `value`, over the last 10 batches."""
    hists = torch.stack(hook.stats[2][-10:]).float()
    lo, hi = hook.hist_range
    edges = torch.linspace(lo, hi, hists.shape[1] + 1)
    return (hists[:, edges[1:] <= value].sum() / hists.sum()).item()


def near_zero(hook):
    return get_min(hook)[-10:].mean().item()


columns = {
    "accuracy, ReLU": [relu_runs[s][0] for s in SEEDS],
    "accuracy, GeneralRelu": [grelu_runs[s][0] for s in SEEDS],
    "near 0, ReLU": [near_zero(relu_runs[s][1][3]) for s in SEEDS],
    "near 0, GeneralRelu": [near_zero(grelu_runs[s][1][3]) for s in SEEDS],
    "leak side, GeneralRelu": [fraction_below(grelu_runs[s][1][3], -0.35) for s in SEEDS],
}


def print_table(columns, fmt="{:.4f}"):
    """One row per seed, then the mean and the spread (std over the seeds) of each column."""
    print("seed  " + "".join(f"{name:>24}" for name in columns))
    for i, seed in enumerate(SEEDS):
        print(f"{seed:<6}" + "".join(f"{fmt.format(col[i]):>24}" for col in columns.values()))
    for label, stat in [("mean", torch.mean), ("std", torch.std)]:
        print(f"{label:<6}" + "".join(f"{fmt.format(stat(torch.tensor(col)).item()):>24}"
                                      for col in columns.values()))


print_table(columns)

# %% [markdown]
# Same seeds, same learning rate. Read the table by its rows of mean and std: with GeneralRelu
# the epochs end with a higher accuracy on average, and far closer to each other than the plain
# ReLU runs, whose results scatter from seed to seed. The near-zero fraction of layer 3 (the last
# convolution) drops from most of the activations to a small share, below the 20% fast.ai
# reported. The histograms are spread over many bins instead of piled up in the bin of zero, with
# a bright line at the top (the clamp at 6) and the brightest band just below 0.
#
# Read the near-zero fractions with care, though: `sub=0.4` also *moved* the point where a ReLU
# would have put all the negative inputs, from 0 to -0.4, and those values now lie outside the
# bins counted as "near zero". The last column counts them: a large share of the activations are
# on the leak side. They are no longer dead - each passes a gradient of 0.1 - and that, not the
# shift, is the real gain.
#
# ## 12. Gradients, with backward hooks
#
# The forward hooks showed the activations. The other half of training is the gradients, and
# PyTorch has hooks for them too: `module.register_full_backward_hook(f)` makes the module call
# `f(module, grad_input, grad_output)` during the backward pass, once the gradients with respect
# to its inputs are computed. `grad_output` holds the gradient of the loss with respect to the
# module's output, `grad_input` with respect to its input, each a tuple with one tensor per
# output or input. Our `Hook(m, f, backward=True)` registers `partial(f, self)` this way, so the
# same class and the same `Hooks` context manager serve both directions.
#
# A useful number to record is the size of the gradient that reaches each layer, batch by batch:
# the root mean square of `grad_output[0]`. (Not its std: a gradient's mean is part of its size.)
# For layer 0, `grad_input` is `(None,)`: the images need no gradient, and PyTorch warns about it,
# which is the warning we silenced in section 9.
#
# *Exercise `03-grad-stats`*: write `append_grad_stats`.

# %%
show_source(append_grad_stats)

# %% [markdown]
# The runs of sections 9 and 11 recorded it for every seed. Seed 0's, ReLU against GeneralRelu:

# %%
fig, axs = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
for ax, (name, runs) in zip(axs, [("plain ReLU", relu_runs), ("GeneralRelu", grelu_runs)]):
    for i, h in enumerate(runs[0][2]):
        ax.plot(h.grad_rms, label=f"layer {i} ({h.module_name})")
    ax.set(yscale="log", xlabel="iteration", title=f"{name}, seed 0: gradient size")
axs[0].set_ylabel("RMS of d loss / d output")
axs[1].legend(fontsize=7)
plt.tight_layout()

# %% [markdown]
# The gradient shrinks on its way back: each layer passes on less than it receives, so layer 0
# gets the smallest. (The values are small because the loss is a mean over the 512 images of a
# batch.) Two numbers per run summarise the plots: how many times smaller the gradient of layer 0
# is than that of layer 3 (averaged over the epoch), and how much layer 0's gradient jumps from one
# batch to the next (the std of the log10 of the ratio between consecutive batches):
# "gap 3/0" and "jumps 0" below.

# %%
def gap(grads):
    return (torch.tensor(grads[3].grad_rms).mean() / torch.tensor(grads[0].grad_rms).mean()).item()


def jumpiness(grads):
    return torch.tensor(grads[0].grad_rms).log10().diff().std().item()


print_table({
    "gap 3/0, ReLU": [gap(relu_runs[s][2]) for s in SEEDS],
    "gap 3/0, GeneralRelu": [gap(grelu_runs[s][2]) for s in SEEDS],
    "jumps 0, ReLU": [jumpiness(relu_runs[s][2]) for s in SEEDS],
    "jumps 0, GeneralRelu": [jumpiness(grelu_runs[s][2]) for s in SEEDS],
}, fmt="{:.3f}")

# %% [markdown]
# This is what the telemetry of a run that trains well looks like: gradients of a steady size,
# not too different from layer to layer, changing smoothly from batch to batch. With plain ReLUs
# a dead unit passes nothing back, and the gradient that reaches the first layer is smaller and
# noisier; compare the rows of mean and std. That is the view from the backward pass of the
# same failure the histograms showed.
#
# ## 13. Eight epochs with a one-cycle schedule, and a progress bar
#
# Longer runs deserve a progress bar, and a progress bar is just another callback: it hears
# about every batch anyway. `ProgressCallback` uses tqdm: a bar with the running loss while you
# watch in a terminal or in Jupyter, and one line per epoch otherwise - as when this page was
# built - so that the saved output stays readable. Each epoch below then prints two lines: the
# statistics' line, whose training loss is the average over the whole epoch, and the progress
# line, whose running loss weighs the last batches most - so it is clearly lower in the first
# epochs, while the loss falls fast.

# %%
show_source(ProgressCallback)

# %% [markdown]
# fast.ai's schedule: the learning rate rises along a cosine from 0.2 to 1.0 over the first half
# of training, then falls to 0.1.

# %%
sched = combine_scheds([0.5, 0.5], [sched_cos(0.2, 1.0), sched_cos(1.0, 0.1)])
pos = torch.linspace(0, 0.999, 200)
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(pos, [sched(p.item()) for p in pos])
ax.set(xlabel="position in training", ylabel="learning rate", title="combine_scheds: one cycle");

# %% [markdown]
# fast.ai's 8-epoch runs called `get_learn_run(nfs, data, 1., conv_layer, ...)` without the
# GeneralRelu arguments, so they trained with plain ReLUs (Kaiming init, normal and uniform),
# reaching 0.9826 and 0.9822. We run those two, and the one with `GeneralRelu(0.1, 0.4, 6)`
# that the lesson has been building up to.

# %%
def eight_epochs(uniform=False, **kwargs):
    set_seed(42)
    learn, run = get_learn_run(nfs, data, 1.0, conv_layer, uniform=uniform,
                               cbs=cbfs + [partial(ParamScheduler, "lr", sched), ProgressCallback], **kwargs)
    run.fit(8, learn)
    return run.avg_stats.valid_stats.avg_stats[1]


results = {}
print("plain ReLU, normal init")
results["plain ReLU, kaiming_normal_"] = eight_epochs()

# %%
print("plain ReLU, uniform init")
results["plain ReLU, kaiming_uniform_"] = eight_epochs(uniform=True)

# %%
print("GeneralRelu(0.1, 0.4, 6), normal init")
results["GeneralRelu, kaiming_normal_"] = eight_epochs(leak=0.1, sub=0.4, maxv=6.0)

# %%
for name, acc in results.items():
    print(f"{name:30s} valid accuracy {acc:.4f}")
standard_error = math.sqrt(0.98 * 0.02 / len(valid_ds))
print(f"standard error of an accuracy near 0.98 measured on {len(valid_ds)} images: {standard_error:.4f}")

# %% [markdown]
# These are single runs (seed 42 each), to set beside fast.ai's single runs (0.9826 normal,
# 0.9822 uniform). Differences of about one standard error between them are noise, not evidence
# that one init or activation is better: telling them apart would take several seeds each, as in
# section 11. The conditions differ from the one-epoch runs of section 11: the schedule starts at
# lr 0.2 and only reaches 1.0 once training is under way, and there are 8 epochs to recover from a
# bad stretch. GeneralRelu's advantage was measured where training was hard: one epoch at lr 0.9.
#
# ### Homework: beat 98%
#
# The lecture ends with a challenge: get above 98% validation accuracy with only the layers of
# this lesson - convolutions, `GeneralRelu`, pooling, a linear layer, Kaiming init, and any
# schedule - no normalisation layers. The course runs it as the **beat-98** challenge, with its
# rules checked by code and a leaderboard: see the Challenges page of this site
# (`docs/challenges.md` in the repository). Use the telemetry of this lesson to guide you, as the
# lecture suggests: a run worth keeping has
#
# - activation means and stds that settle instead of growing and collapsing (sections 5 and 9);
# - a small fraction of activations near zero in every layer, with histograms spread over the
#   range rather than piled into one bin (sections 10 and 11);
# - gradients of a steady size at every layer, not too different from the last layer to the
#   first (section 12).
#
# Lesson 04 adds the other fix for unstable activations: normalisation.
#
# ## Check your understanding
#
# 1. Why is the validation set normalised with the training set's mean and std, not its own?
#
#    <details><summary>Answer</summary>
#
#    The model learned on inputs transformed one particular way; new inputs must go through the
#    same transformation, or the same image would look different to the model depending on the
#    set it is in. The validation set stands for new data, whose statistics we would not know.
#
#    </details>
#
# 2. A first layer of 3x3 convolutions on a colour image with 32 output channels: what is wrong
#    with it, by counting?
#
#    <details><summary>Answer</summary>
#
#    Each output value is a dot product of 3 x 3 x 3 = 27 inputs, and the layer computes 32 values
#    per position: more numbers out than in. It cannot summarise; it spends work to spread the
#    same information over more numbers. A bigger kernel (ResNet's 7x7: 147 inputs for 64
#    outputs) makes the first layer find something worth keeping.
#
#    </details>
#
# 3. `Hook.__del__` calls `remove()`. Why does dropping the last name for a Hook not remove the
#    hook from its module?
#
#    <details><summary>Answer</summary>
#
#    The module keeps the registered `partial(f, hook)`, which refers to the Hook, so the Hook is
#    still referenced and `__del__` never runs while the module lives. Call `remove()`, or use
#    `Hooks` in a `with` block, whose `__exit__` removes the hooks even when the block raises.
#
#    </details>
#
# 4. Why does `append_stats` skip forward passes in eval mode?
#
#    <details><summary>Answer</summary>
#
#    Validation batches are not training iterations: recording them adds points that shift the
#    x axis away from the Recorder's losses and learning rates, and mixes in batches of a
#    different size (and, with batch norm, computed differently).
#
#    </details>
#
# 5. Where does the $\sqrt 2$ in Kaiming init come from, and what does PyTorch's default init do
#    to a deep stack of ReLU layers?
#
#    <details><summary>Answer</summary>
#
#    A dot product of `fan_in` independent terms has variance `fan_in * Var(w) * E[x^2]`, and a ReLU
#    keeps half of it; a weight std of $c / \sqrt{\mathrm{fan\_in}}$ multiplies $E[x^2]$ by $c^2/2$ per
#    layer, so $c = \sqrt 2$ keeps it constant. PyTorch's default has $c \approx 0.577$: each layer
#    divides $E[x^2]$ by about 6, and the later layers start with activations near zero.
#
#    </details>
#
# 6. Why is the comparison of ReLU and GeneralRelu made over several seeds, and what would one
#    seed each have told you?
#
#    <details><summary>Answer</summary>
#
#    At lr 0.9 the outcome of a single epoch depends on the random initial weights and batch
#    order: the same setup ends far apart from one seed to the next (the ReLU column). One run of
#    each could show either order, or a blow-up; the mean and the spread over seeds show what
#    holds in general.
#
#    </details>
#
# 7. What does `GeneralRelu`'s `sub=0.4` change in the "near zero" fraction, and what is its real
#    gain?
#
#    <details><summary>Answer</summary>
#
#    It shifts the outputs of negative inputs from about 0 to about -0.4, outside the bins counted
#    as near zero, so the fraction drops partly by moving values. The real gain is the leak:
#    those units still pass a gradient (0.1 of it), so they are not dead.
#
#    </details>
#
# 8. What does a backward hook receive, and why record the RMS of `grad_output[0]` rather than
#    its std?
#
#    <details><summary>Answer</summary>
#
#    `f(module, grad_input, grad_output)`: tuples with the gradients of the loss with respect to
#    the module's inputs and outputs. The RMS measures the gradient's size including its mean,
#    which the std subtracts; it is also defined for a single value, where the std is not.
#
#    </details>
