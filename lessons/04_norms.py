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
# # Lesson 04 - Normalisation from scratch, and RunningBatchNorm at batch size 2
#
# Lesson 03 showed that a CNN trains well only while every layer's activations keep a mean near 0
# and a standard deviation near 1, and got there by careful initialisation - which lasts only while
# the weights stay near their initial values. **Batch normalisation** keeps the activations in shape
# during all of training by measuring and rescaling them, layer after layer, batch after batch.
#
# **What you will learn**: batch norm's algorithm and a variance that survives large means; running
# statistics in buffers and PyTorch's momentum convention; batch norm's limits (batch size 1 and 2,
# recurrent networks, `eps`); what layer, instance and group norm normalise away; RunningBatchNorm
# (averages of sums, a batch-size-aware momentum, debiasing and why it cancels, a variance that never
# goes negative); and batch norm's backward pass by hand, checked with `gradcheck`.
#
# **Exercises.** The code lives in `solutions/l04_norms.py` and is shown from there. Pieces marked
# *Exercise* are yours to write in `exercises/l04_norms.py`; `make grade LESSON=04` grades them,
# mostly against PyTorch's own layers on random shapes. Try each before reading ours.
#
# | exercise | what you write |
# | --- | --- |
# | `04-batch-stats` | `batch_stats`: mean and biased variance over given dims, in two passes |
# | `04-norm-affine` | `norm_affine`: normalise, scale and shift |
# | `04-ema` | `ema_update`: a moving average in place, PyTorch's momentum |
# | `04-batchnorm-init` | `BatchNorm.__init__`: the buffers |
# | `04-batchnorm-update` | `BatchNorm.update_stats`: batch statistics and running statistics |
# | `04-batchnorm-forward` | `BatchNorm.forward`: training and evaluation |
# | `04-conv-layer` | `conv_layer`: conv without bias, activation, norm |
# | `04-layernorm`, `04-instancenorm`, `04-groupnorm` | the three other norms |
# | `04-fog` | `fog`: a foggy-day version of an image |
# | `04-rbn-momentum` | `rbn_momentum`: the batch-size-aware momentum |
# | `04-debias` | `debias_factor`: the weight an average started at zero has seen |
# | `04-running-var` | `running_mean_var`: mean and variance from sums of values and of squares |
# | `04-clamp-var` | `clamp_var`: a floor for the variance of the first few items |
# | `04-rbn-update`, `04-rbn-forward` | `RunningBatchNorm.update_stats` and `forward` |
# | `04-batchnorm-backward` | `BatchNormFunction.backward`: batch norm's gradient by hand |

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
import statistics
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course.seed import set_seed
from course.show import show_source
from solutions.l03_cnn_hooks import (
    AvgStatsCallback, BatchDataLoader, DataBunch, Dataset, Hooks, ParamScheduler, accuracy, append_stats,
    combine_scheds, get_cnn_model, get_learn_run, init_cnn, mnist_databunch, plot_stats, sched_lin,
)
from solutions.l04_norms import (
    NFS, BatchNorm, BatchNormFunction, FastBatchNorm, FastRunningBatchNorm, GroupNorm, InstanceNorm, LayerNorm, Norm,
    RunningBatchNorm, batch_stats, clamp_var, conv_layer, debias_factor, ema_update, fog, layer_norm, norm_affine,
    rbn_momentum, running_mean_var, upcast,
)
from solutions.l04_variants import (
    NoGradBatchNorm, PlainAttribute, TranscriptRunningBatchNorm, batch_vars, compare_with_torch, gradchecked,
    max_diffs, raw_running_var, recorded_ops, seed_table,
)

mnist = mnist_databunch()
x_train, y_train = mnist.train_ds.x.view(-1, 1, 28, 28), mnist.train_ds.y
x_valid, y_valid = mnist.valid_ds.x.view(-1, 1, 28, 28), mnist.valid_ds.y
print(f"training images {tuple(x_train.shape)}, validation images {tuple(x_valid.shape)}")

# %% [markdown]
# ## 1. Batch norm from the paper
#
# Ioffe and Szegedy's *Batch Normalization* (2015) gives the algorithm for one mini-batch
# $x_1, \dots, x_m$ of values of one feature:
#
# $$\mu = \frac{1}{m}\sum_i x_i, \qquad \sigma^2 = \frac{1}{m}\sum_i (x_i - \mu)^2,$$
#
# $$\hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y_i = \gamma\,\hat x_i + \beta .$$
#
# In a CNN a feature is a channel: for activations (N, C, H, W) the statistics of channel c are
# taken over all N x H x W of its values, dims (0, 2, 3). The $\frac{1}{m}$ makes this the **biased**
# variance. $\epsilon$ keeps the division finite when a channel hardly varies. $\gamma$ and $\beta$
# (our `mults` and `adds`) are learned: without them every layer would be forced to output mean 0
# and variance 1; with them the network can choose any scale, even undo the normalisation
# ($\gamma = \sqrt{\sigma^2 + \epsilon}$, $\beta = \mu$).
#
# The variance can be taken as the paper writes it, in two passes (the mean, then the squared
# distances from it), or by the one-pass shortcut $\sigma^2 = E[x^2] - E[x]^2$. Equal on paper, but
# float32 keeps about seven significant digits: when the mean is large against the spread, $E[x^2]$
# and $E[x]^2$ are two large, nearly equal numbers whose difference loses the variance. Values with
# a spread of 1 around a growing mean:

# %%
noise = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
print(f"{'mean':>8s} {'E[x^2] - E[x]^2':>16s} {'two passes':>11s} {'float64':>9s}")
for shift in (0.0, 100.0, 1000.0, 1e4):
    x = noise + shift
    shortcut = (x * x).mean() - x.mean() ** 2
    two_pass = (x - x.mean()).pow(2).mean()
    exact = x.double().var(correction=0)
    print(f"{shift:8.0f} {shortcut.item():16.4f} {two_pass.item():11.4f} {exact.item():9.4f}")

# %% [markdown]
# At a mean of 1000 the shortcut is already wrong in the third decimal. At 10,000 the squares are
# near $10^8$, where neighbouring float32 numbers are 8 apart: a variance of 1 is below the rounding
# and the shortcut returns 0. It can also come out **negative**, whose square root is `nan`
# (section 6 shows it). Large means are not exotic (a ReLU that is almost always on, an input never
# normalised), so our `batch_stats` takes two passes. For half-precision activations (bfloat16 keeps
# about three significant digits) it takes the statistics in float32: `upcast`.
#
# *Exercise `04-batch-stats`*: write `batch_stats`; *Exercise `04-norm-affine`*: write `norm_affine`.
# Then, on real activations: a freshly initialised first conv layer on 512 images, and histograms of
# two of its eight channels, the one with the smallest mean and the one with the largest spread.

# %%
show_source(upcast, batch_stats, norm_affine)
set_seed(42)
conv = init_cnn(nn.Conv2d(1, 8, 5, stride=2, padding=2))
with torch.no_grad():
    acts = F.relu(conv(x_train[:512]))
    mean, var = batch_stats(acts)
    normed = norm_affine(acts, mean, var, torch.ones(8, 1, 1), torch.zeros(8, 1, 1))
after_mean, after_var = batch_stats(normed)
print("activations (512, 8, 14, 14); per channel:")
summary = {"mean before": mean, "std  before": var.sqrt(), "mean after ": after_mean, "std  after ": after_var.sqrt()}
for what, t in summary.items():
    print(f"  {what}", [round(v, 2) + 0.0 for v in t.flatten().tolist()])  # + 0.0: no "-0.0"

fig, axs = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for c in (int(mean.argmin()), int(var.argmax())):  # the lowest mean, the widest spread
    axs[0].hist(acts[:, c].flatten(), bins=60, histtype="step", label=f"channel {c}")
    axs[1].hist(normed[:, c].flatten(), bins=60, histtype="step", label=f"channel {c}")
axs[0].set(title="before batch norm", xlabel="activation", ylabel="count", yscale="log")
axs[1].set(title="after (mults 1, adds 0)", xlabel="normalised activation")
axs[0].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Before, the two channels live on different scales; after, both have mean 0 and standard deviation
# 1, each keeping its own shape (a ReLU's pile of zeros and a tail).
#
# ## 2. Running statistics, buffers and PyTorch's momentum
#
# At inference there may be a single image, and a prediction should not depend on which other
# images share its batch. So in training the layer also keeps **running** estimates of each
# channel's mean and variance, and in evaluation mode normalises with those: exponentially weighted
# moving averages, each batch moving the estimate a fraction $m$ of the way,
#
# $$\text{running} \leftarrow (1 - m)\,\text{running} + m\,\text{batch},$$
#
# which is `running.lerp_(batch, m)`, in place. In PyTorch's batch norm `momentum=0.1` is this $m$,
# the weight of the **new** value - the opposite of an optimiser's momentum, where 0.9 is the weight
# of the old one. *Exercise `04-ema`*: write `ema_update`.
#
# With $m = 0.1$ the weight of the starting value (zeros for the means, ones for the variances)
# shrinks by a factor 0.9 per batch. After checking ours against PyTorch's, channel 0's mean over
# 200 batches of 64 and its moving average for three momenta, 0.9 being PyTorch's `momentum` read
# the optimiser's way:

# %%
show_source(ema_update)
set_seed(0)
torch_bn = nn.BatchNorm2d(8, momentum=0.1)
ours_mean = torch.zeros(8)
for step in range(5):
    xb = acts[torch.randint(0, 512, (64,))]
    torch_bn(xb)
    ema_update(ours_mean, xb.mean((0, 2, 3)), 0.1)
gap = (ours_mean - torch_bn.running_mean).abs().max()
print(f"after 5 batches: max |ours - nn.BatchNorm2d.running_mean| = {gap:.2e}")

batch_means = torch.stack([acts[torch.randint(0, 512, (64,)), 0].mean() for _ in range(200)])
fig, ax = plt.subplots(figsize=(6, 3))
for m in (0.9, 0.1, 0.01):
    avg, curve = torch.zeros(()), []
    for b in batch_means:
        curve.append(ema_update(avg, b, m).item())
    ax.plot(curve, lw=1 if m == 0.9 else 1.5, ls="--" if m == 0.9 else "-", label=f"running mean, momentum {m}")
    print(f"momentum {m}: running mean after 200 batches {curve[-1]:.3f}, its std over the last 100 "
          f"{torch.tensor(curve[100:]).std():.4f}")
ax.plot(batch_means, "o", color="black", ms=1.5, label="batch mean (channel 0)")
ax.set(xlabel="batch", ylabel="mean", title="The running mean is a moving average")
ax.legend(fontsize=8);

# %% [markdown]
# Momentum 0.9 jumps with every batch's noise; 0.1 settles within about 25 batches; 0.01 is still
# climbing after 200, so its "std over the last 100" measures that climb, not noise.
#
# The running statistics are not parameters (the optimiser must not train them) but part of the
# model's state, saved and moved with it: `register_buffer`. All the lesson's norms get `mults` and
# `adds` from a small base class, `Norm`; `BatchNorm` adds the buffers.
#
# *Exercise `04-batchnorm-init`, Exercise `04-batchnorm-update`, Exercise `04-batchnorm-forward`*. In
# training, `forward` normalises with the statistics `update_stats` returns, and autograd carries the
# gradient through them. A batch with one value per channel is refused, as PyTorch does (section 4).

# %%
show_source(Norm, BatchNorm)
bn = BatchNorm(8)
print(bn)
print("parameters :", [name for name, _ in bn.named_parameters()])
print("buffers    :", [name for name, _ in bn.named_buffers()])
print("state_dict :", list(bn.state_dict()))
print(f".to(float64) moved the buffers too: vars is {BatchNorm(8).to(torch.float64).vars.dtype}")
plain = PlainAttribute().to(torch.float64)  # keeps `means` as a plain tensor attribute, not a buffer
print(f"a plain tensor attribute is not saved ({list(plain.state_dict())}) and does not move ({plain.means.dtype})")

# %% [markdown]
# ### Is it PyTorch's batch norm?
#
# `compare_with_torch` runs ours and `nn.BatchNorm2d` side by side with the same random `mults`,
# `adds` and inputs, and reports the largest differences: training output, input and parameter
# gradients and running statistics after three steps, then an evaluation output. Inputs with mean
# 1 and standard deviation 3 on random shapes, then with mean 100 and 1000 and standard deviation 1:

# %%
show_source(compare_with_torch)
set_seed(1)
shapes = [(2, 3, 1, 1), (2, 8, 14, 14), (32, 16, 7, 7), (7, 5, 3, 2), (64, 64, 2, 2)]
settings = [(1.0, 3.0, shape) for shape in shapes] + [(m, 1.0, (32, 16, 7, 7)) for m in (100.0, 1000.0)]
print(f"{'input, shape':>30s} " + " ".join(f"{k:>10s}" for k in compare_with_torch(BatchNorm, shapes[0])))
for m, sd, shape in settings:
    d = compare_with_torch(BatchNorm, shape, mean=m, std=sd)
    print(f"{f'mean {m:g}, std {sd:g}, {shape}':>30s} " + " ".join(f"{v:10.1e}" for v in d.values()))

# %% [markdown]
# At mean 1 everything agrees to about $10^{-6}$ or better, except the gradients of `mults` and
# `adds`: sums over hundreds to over a thousand values per channel, added in different orders by the
# two layers. At mean 1000 float32 keeps only about four digits after the decimal point, in the input
# and in each layer's channel means; the outputs inherit that, and the gradient of `mults` sums it.
#
# Two details make the agreement possible. The layer normalises with the biased variance (divide by
# $n = N \cdot H \cdot W$), as the paper says, but PyTorch stores the **unbiased** one (divide by
# $n - 1$) in `running_var`: evaluation needs an estimate of the population's variance. The factor
# $n / (n-1)$ is negligible for large batches and 2 for two values (below). The second detail is the
# gradient. The lecture's notebook computed the batch statistics under `torch.no_grad()` (and
# normalised with `x.var`, the unbiased variance). The outputs are still normalised, but autograd
# treats $\mu$ and $\sigma$ as constants and the gradient misses the terms that come through them.
# `NoGradBatchNorm` (in `solutions/l04_variants.py`, kept for comparison) is that version:

# %%
for shape in [(512, 8, 14, 14), (32, 64, 2, 2), (2, 64, 1, 1)]:
    n = shape[0] * shape[2] * shape[3]
    print(f"{str(shape):>17s}: n = {n:6d} values per channel, unbiased / biased = n / (n - 1) = {n / (n - 1):.5f}")
show_source(NoGradBatchNorm)
set_seed(1)
d = compare_with_torch(NoGradBatchNorm, (32, 16, 7, 7))
print("NoGradBatchNorm against nn.BatchNorm2d, shape (32, 16, 7, 7):")
print("  " + ", ".join(f"{k} {v:.1e}" for k, v in d.items()))

# %% [markdown]
# Its outputs differ a little (the unbiased variance); its input gradients a lot. The missing part
# has a meaning: shifting or scaling a whole channel cannot change the loss, since the layer
# normalises it away, so the true gradient is the no-grad one minus its mean and minus its component
# along $\hat x$ (section 7 derives it). The no-grad gradient keeps pushing the layers before in
# directions that change nothing but the statistics. Section 3 trains both.
#
# **Half precision.** Under `torch.autocast` with bfloat16 the activations arrive as bfloat16 while
# parameters and buffers stay float32. Ours takes the statistics in float32 and returns bfloat16,
# like PyTorch's:

# %%
set_seed(0)
ours, theirs = BatchNorm(16), nn.BatchNorm2d(16)
x = torch.randn(32, 16, 7, 7) * 2 + 30
with torch.autocast("cpu", dtype=torch.bfloat16):
    xb = x.bfloat16()
    y1, y2 = ours(xb), theirs(xb)
print(f"bfloat16 input: ours {y1.dtype}, nn.BatchNorm2d {y2.dtype}; max output difference "
      f"{(y1.float() - y2.float()).abs().max():.1e}, running var {(ours.vars.flatten() - theirs.running_var).abs().max():.1e}")

# %% [markdown]
# ## 3. Training with batch norm
#
# *Exercise `04-conv-layer`*: lesson 03's layer with a norm after the activation, and no conv bias
# when there is a norm: the norm's `adds` is a bias. (With the norm straight after the convolution,
# as in the paper, subtracting the channel mean cancels a conv bias outright; `conv_layer`, like the
# lecture's, puts the activation in between and drops it all the same: from the second layer on, the
# previous norm's `adds` shift each channel.) Lesson 03's `init_cnn` recurses into these blocks.

# %%
show_source(conv_layer, init_cnn)
data = DataBunch(BatchDataLoader(Dataset(x_train, y_train), 512, shuffle=True),
                 BatchDataLoader(Dataset(x_valid, y_valid), 1000), c_in=784, c_out=10)
model = init_cnn(get_cnn_model(data, NFS, partial(conv_layer, norm=BatchNorm)))
print(model[:2])
print(f"conv biases: {[m.bias for m in model.modules() if isinstance(m, nn.Conv2d)]}")

# %% [markdown]
# Telemetry, as in lesson 03: hooks record the mean and standard deviation of each block's output
# at every batch of one epoch at learning rate 0.6, without a norm (lesson 03's network) and with
# our `BatchNorm`, on the same axes.

# %%
fig, axs = plt.subplots(2, 2, figsize=(9, 5.5), sharey="col", sharex=True)
telemetry = {}
for row, (norm, label) in enumerate([(None, "no norm:"), (BatchNorm, "BatchNorm:")]):
    set_seed(42)
    learn, run = get_learn_run(NFS, data, 0.6, partial(conv_layer, norm=norm))
    with Hooks(list(learn.model)[:5], append_stats) as hooks:
        run.fit(1, learn)
        plot_stats(hooks, axs=axs[row], title=label)
        telemetry[label] = [(h.stats[0], h.stats[1]) for h in hooks]
for label, layers in telemetry.items():
    print(f"{label:10s} block outputs over the epoch: means in "
          f"[{min(min(m) for m, _ in layers):+.2f}, {max(max(m) for m, _ in layers):+.2f}], "
          f"stds in [{min(min(s) for _, s in layers):.2f}, {max(max(s) for _, s in layers):.2f}]")

# %% [markdown]
# Without a norm (top) each layer's statistics go their own way: spikes, then spreads that collapse
# towards 0 and slowly climb back - lesson 03's picture. With batch norm (bottom) every layer starts
# at mean 0 and standard deviation 1 by construction (`mults` 1, `adds` 0) and moves away only as far
# as `mults` and `adds` learn to; the printed ranges say how far.
#
# ### Training runs, over seeds
#
# Runs that differ only in the seed end at different accuracies, so each comparison in this lesson
# is a table over three seeds with the mean and the spread (standard deviation over seeds). Most
# runs train on the first 10,000 training images, to keep the lesson quick; validation is always on
# the 10,000 validation images. `train` is lesson 03's runner; `seed_table` runs it over seeds:

# %%
def train(norm, bs=512, lr=1.0, epochs=2, n_train=10_000, seed=0, sched=None):
    """Train the lesson's CNN with `conv_layer(norm=norm)` on the first `n_train` training images with
    SGD (lr, or the schedule `sched`); return the validation (loss, accuracy) after the last epoch."""
    set_seed(seed)
    train_dl = BatchDataLoader(Dataset(x_train[:n_train], y_train[:n_train]), bs, shuffle=True)
    data = DataBunch(train_dl, BatchDataLoader(Dataset(x_valid, y_valid), 1000), c_in=784, c_out=10)
    cbs = [partial(AvgStatsCallback, [accuracy], report=lambda _: None)]
    if sched is not None:
        cbs.append(partial(ParamScheduler, "lr", sched))
    learn, run = get_learn_run(NFS, data, lr, partial(conv_layer, norm=norm), cbs=cbs)
    run.fit(epochs, learn)
    loss, acc = run.avg_stats.valid_stats.avg_stats
    return float(loss), float(acc)


show_source(seed_table)
bn_table = seed_table(train, {"BatchNorm (ours)": dict(norm=BatchNorm), "nn.BatchNorm2d": dict(norm=nn.BatchNorm2d),
                              "NoGradBatchNorm (notebook's)": dict(norm=NoGradBatchNorm)})

# %% [markdown]
# Two epochs on 10,000 images at learning rate 1.0 (40 steps of 512). Ours and PyTorch's differ only
# by rounding at each step, yet end a few thousandths apart on each seed: rounding grows over a run,
# here to less than the spread between seeds. The no-grad row shows what the gradient through the
# statistics is worth: each seed below all batch-norm seeds, and a much larger spread (fast.ai's
# notebook: 0.9707 no-grad, 0.9813 `nn.BatchNorm2d`, 3 epochs on all 50,000 images).
#
# One longer run: all 50,000 images, three epochs, the learning rate rising linearly from 0.6 to 2.0
# over the first 30% and falling to 0.1 over the rest - a warm-up, so that the peak, twice section
# 3's rate, does not hit the freshly initialised weights (fast.ai: 0.9877 after 8 epochs of this).

# %%
warmup = combine_scheds([0.3, 0.7], [sched_lin(0.6, 2.0), sched_lin(2.0, 0.1)])
loss, acc = train(BatchNorm, epochs=3, n_train=50_000, sched=warmup, seed=0)
print(f"BatchNorm, 3 epochs, lr 0.6 -> 2.0 -> 0.1, one run: validation accuracy {acc:.4f} (loss {loss:.4f})")

# %% [markdown]
# ## 4. Where batch norm breaks
#
# Batch norm's statistics are only as good as the batch is big. **Batch size 1.** Where a channel
# has one value per image (the last conv's 1 x 1 output, or a fully connected layer), a batch of one
# has variance **zero** - not infinite, as the lecture said. The output would be
# $0 / \sqrt{\epsilon} = 0$: `adds`, whatever the input. Both layers refuse:

# %%
x1 = torch.randn(1, 4, 1, 1)
for layer in (BatchNorm(4), nn.BatchNorm2d(4)):
    try:
        layer(x1)
    except ValueError as e:
        print(f"{type(layer).__name__}: ValueError: {e}")

# %% [markdown]
# **Batch size 2.** On a 1 x 1 map a channel then has two values, and after normalising they are
# always $\pm 1$ (the biased standard deviation of two numbers is half their distance), unless they
# are so close that $\epsilon$ dominates. The amplification $1/\sqrt{\sigma^2 + \epsilon}$ swings
# with every batch: when the two images agree, $\sigma^2$ is tiny and the layer multiplies by up to
# $1/\sqrt{\epsilon}$ - in the backward pass too. `batch_vars` hooks the input of each batch norm
# of a fresh model; over 300 random batches of 2 and 20 of 512:

# %%
show_source(batch_vars)
set_seed(0)
probe = init_cnn(get_cnn_model(data, NFS, partial(conv_layer, norm=nn.BatchNorm2d)))
var2, var512 = batch_vars(probe, x_train, 2, 300), batch_vars(probe, x_train, 512, 20)
amp2 = {i: 1 / (v + 1e-5).sqrt() for i, v in var2.items()}
amp512 = {i: 1 / (v + 1e-5).sqrt() for i, v in var512.items()}
print("amplification 1/sqrt(var + eps):       bs 512: median     max | bs 2: median     max")
for i, size in enumerate([14, 7, 4, 2, 1]):
    print(f"  layer {i}: {NFS[i]:2d} channels of {size}x{size}      {amp512[i].median():10.2f} {amp512[i].max():7.2f} |"
          f" {amp2[i].median():12.2f} {amp2[i].max():7.1f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(amp2[4].log10(), bins=50, alpha=0.7, density=True, label="bs 2, last layer")
ax.hist(amp512[4].log10(), bins=50, alpha=0.7, density=True, label="bs 512, last layer")
ax.axvline(math.log10(1 / math.sqrt(1e-5)), color="tab:red", ls=":", label=r"$1/\sqrt{\epsilon}$, eps 1e-5")
ax.set(xlabel=r"log10 amplification $1/\sqrt{\sigma^2+\epsilon}$", ylabel="density",
       title="How much a batch norm amplifies")
ax.legend(fontsize=8);

# %% [markdown]
# At batch size 512 the amplification is modest in every layer. At batch size 2 the first layers,
# with many positions per image, behave much the same; but the 2 x 2 and 1 x 1 layers hit the
# ceiling $1/\sqrt{\epsilon}$: a channel often has the same value in both images (for instance both
# at the ReLU's floor), its batch variance is 0, and only $\epsilon$ bounds the factor. The
# histogram (each of area 1) shows the last layer: at batch size 2 a spread over orders of magnitude
# and a pile at the ceiling; at 512 one narrow peak. So $\epsilon$ is a hyperparameter, not just a
# guard. The same batch variances with three values of eps:

# %%
print("last layer, bs 2:   eps   ceiling 1/sqrt(eps)   amplification: median    90th percentile     max")
for eps in (1e-5, 1e-2, 1e-1):
    amp = 1 / (var2[4] + eps).sqrt()
    print(f"{eps:22.0e} {1 / math.sqrt(eps):13.1f} {amp.median():23.2f} {amp.quantile(0.9):18.2f} {amp.max():7.1f}")

# %% [markdown]
# A larger eps caps the amplification directly. Does it help training? Batch size 2, one epoch at
# learning rate 0.4 (the lecture's setting: about 26% with the default eps; its notebook 0.2604), on
# the first 4,000 images (2,000 steps), `nn.BatchNorm2d` with three values of eps, three seeds each:

# %%
bs2 = dict(bs=2, lr=0.4, epochs=1, n_train=4000)
seed_table(train, {f"nn.BatchNorm2d, eps {eps:g}": dict(norm=partial(nn.BatchNorm2d, eps=eps), **bs2)
                   for eps in (1e-5, 1e-2, 1e-1)});

# %% [markdown]
# Every row stays far below section 3's accuracies at batch size 512: one pair of images amplified
# hundreds of times can throw the weights anywhere. A larger eps brings no clear gain in accuracy
# (0.01 ends below the default on every seed; 0.1's seeds scatter widely). It shows in the validation
# loss: evaluation uses running averages of batch statistics that jump from one pair to the next,
# and with the default eps the median loss is by far the largest. A larger eps bounds the blow-up;
# it does not give batch norm good statistics from two images. Section 6 does.
#
# **Recurrent networks.** An RNN applies the same layer at every time step. Batch norm would need
# statistics per step - steps 1 and 30 need not be distributed alike - and sequences differ in
# length, so late steps have few sequences to take statistics from. A tiny random RNN shows the
# first point:

# %%
set_seed(0)
W, U = torch.randn(32, 32) / 32 ** 0.5 * 1.5, torch.randn(8, 32) / 8 ** 0.5
h, per_step = torch.zeros(256, 32), []
for t in range(30):
    h = torch.tanh(h @ W + torch.randn(256, 8) @ U)
    per_step.append((h.mean().item(), h.std().item()))
print("hidden state statistics:",
      ", ".join(f"step {t + 1}: mean {per_step[t][0]:+.2f} std {per_step[t][1]:.2f}" for t in (0, 1, 4, 29)))

# %% [markdown]
# The spread of the hidden state grows over the first steps, then settles: one set of running
# statistics shared by every step would be wrong for the first ones.
#
# ## 5. Layer, instance and group norm
#
# All norm layers compute the same formula; they differ in **which numbers** share a mean and a
# variance. For activations (N, C, H, W):
#
# | norm | statistics over | one (mean, var) per |
# | --- | --- | --- |
# | batch | N, H, W | channel |
# | layer | C, H, W | image |
# | instance | H, W | image and channel |
# | group | C/G, H, W | image and group of channels |
#
# Layer, instance and group norm never mix images: they are the same in training and evaluation, need
# no running statistics and do not care about the batch size. Ours against PyTorch, at mean 1 and at
# the awkward means. *Exercise `04-layernorm`, Exercise `04-instancenorm`, Exercise `04-groupnorm`*.

# %%
show_source(LayerNorm, InstanceNorm, GroupNorm)
set_seed(3)
print(f"{'max difference at input mean:':42s} {'1':>8s} {'100':>8s} {'1000':>8s}")
checks = {
    "LayerNorm vs F.layer_norm": (LayerNorm(), lambda x: F.layer_norm(x, x.shape[1:])),
    "InstanceNorm vs F.instance_norm": (InstanceNorm(12), F.instance_norm),
    "GroupNorm(4, 12) vs nn.GroupNorm(4, 12)": (GroupNorm(4, 12), nn.GroupNorm(4, 12)),
    "GroupNorm(1, 12) vs F.layer_norm": (GroupNorm(1, 12), lambda x: F.layer_norm(x, x.shape[1:])),
    "GroupNorm(12, 12) vs F.instance_norm": (GroupNorm(12, 12), F.instance_norm),
}
inputs = [torch.randn(6, 12, 5, 4) * 2 + 1, torch.randn(6, 12, 5, 4) + 100, torch.randn(6, 12, 5, 4) + 1000]
for what, (ours, theirs) in checks.items():
    print(f"{what:42s} " + " ".join(f"{(ours(x) - theirs(x)).abs().max():8.1e}" for x in inputs))

# %% [markdown]
# The last two lines are identities: one group of all channels is layer norm, one group per
# channel is instance norm; group norm interpolates between them.
#
# ### A foggy day
#
# Layer norm on the image itself takes out each image's own mean and standard deviation. A photo
# taken on a foggy day is darker and lower in contrast, as the lecture puts it; if the weather is
# what you want to predict, layer norm removes exactly that information. *Exercise `04-fog`*:
# write `fog`.

# %%
show_source(fog)
sunny = x_train[:8]
foggy = fog(sunny, contrast=0.4, dim=1.0)
pair = torch.cat([sunny, foggy])  # a batch holding each image twice: sunny, then foggy
with torch.no_grad():
    ln_out = LayerNorm()(pair)
    bn_out = BatchNorm(1)(pair)  # training mode: normalised with this batch's statistics
stats = lambda t: f"mean {t.mean():+.2f}, std {t.std():.2f}"  # noqa: E731
print(f"input:  sunny {stats(pair[:8])}; foggy {stats(pair[8:])}")
print(f"sunny vs foggy after layer norm: max difference {(ln_out[:8] - ln_out[8:]).abs().max():.1e}; "
      f"after batch norm: {(bn_out[:8] - bn_out[8:]).abs().max():.2f}")

fig, axs = plt.subplots(2, 3, figsize=(7, 4.6))
for row, (i, label) in enumerate([(0, "sunny"), (8, "foggy")]):
    for col, (img, title) in enumerate([(pair, "input"), (ln_out, "after layer norm"), (bn_out, "after batch norm")]):
        axs[row, col].imshow(img[i, 0], cmap="gray", vmin=-2.5, vmax=3)
        axs[row, col].set(title=f"{label}: {title}", xticks=[], yticks=[])
fig.tight_layout()

# %% [markdown]
# The foggy input is darker and flatter (all panels share one grey scale). After layer norm the two
# images are the same up to the printed difference ($\epsilon$ weighs more against the foggy image's
# smaller variance). Batch norm uses one mean and variance for the whole batch, so the foggy image
# stays darker and flatter. Fog that brightened the image would be undone just the same: layer norm
# removes level and contrast whichever way they moved.
#
# ### Why instance norm cannot classify
#
# Instance norm takes out each channel's level and contrast in each image. Our CNN's last conv
# outputs 1 x 1: one value per channel per image, whose variance is zero, so the normalised output is
# 0 and every image gets the same output, `adds`:

# %%
set_seed(0)
in_model = init_cnn(get_cnn_model(data, NFS, partial(conv_layer, norm=InstanceNorm)))
with torch.no_grad():
    last_block = in_model[:5](x_train[:100])
    logits = in_model(x_train[:100])
print(f"last block's output: shape {tuple(last_block.shape[1:])}, std across 100 images {last_block.std(0).max():.1e}")
print(f"logits for different images differ by at most {(logits - logits[0]).abs().max():.1e}")

# %% [markdown]
# Whatever the weights, the prediction cannot depend on the input, so training cannot fix it. (In
# the 2 x 2 layer before, only the pattern of four values is left.) Instance norm was designed for
# style transfer, where removing each image's contrast is the point.
#
# Layer norm does train - the lecture's verdict: it trains, but worse than batch norm. In section
# 3's setting: layer norm at learning rates 0.1, 0.4 and 1.0, batch norm at 0.1, group norm (four
# groups) at 0.4, and section 3's batch-norm row at 1.0. (`layer_norm(nf)` returns `LayerNorm()`,
# which has no per-channel parameters, so that `conv_layer` can pass it the channel count.)

# %%
runs = {"BatchNorm, lr 0.1": dict(norm=BatchNorm, lr=0.1)}
runs |= {f"LayerNorm, lr {lr}": dict(norm=layer_norm, lr=lr) for lr in (0.1, 0.4, 1.0)}
seed_table(train, runs | {"GroupNorm(4 groups), lr 0.4": dict(norm=partial(GroupNorm, 4), lr=0.4)})
accs = bn_table["BatchNorm (ours)"]
print(f"{'BatchNorm, lr 1.0 (section 3)':34s} {' '.join(f'{a:6.4f}' for a in accs):>22s} "
      f"{statistics.mean(accs):7.4f} {statistics.stdev(accs):7.4f}")

# %% [markdown]
# At learning rate 0.1 layer norm keeps up with batch norm (compare means and spreads); the
# difference is how hard they can be pushed. At 1.0, where batch norm does best here, layer norm
# diverges (a `nan` loss; the accuracy of always answering 0), and its best row, at 0.4, ends below
# batch norm's at 1.0 on every seed: it trains, but worse. Layer norm gives the whole layer one mean
# and variance and a scalar `mults` and `adds`, so it cannot rescale one channel against another.
# Group norm, with per-channel `mults` and `adds`, does no better than layer norm at 0.4 here; its
# strength is that it never looks at another image - a common choice when batches must be small.
#
# ## 6. RunningBatchNorm
#
# Batch norm fails at batch size 2 because it trains with two images' statistics and evaluates with
# averages over many batches. fast.ai's idea: use the moving averages **in training too**, so that
# training and evaluation normalise alike, with statistics built from many batches. Four details
# make it work.
#
# **1. Average sums, not means and variances.** Batches can differ in size, and a mean of means
# would weight a small batch like a big one. So the layer keeps moving averages of each channel's
# sum $\sum x$, sum of squares $\sum x^2$ and count $n$; the mean is $\bar S / \bar n$ and the
# variance $\bar Q/\bar n - (\bar S / \bar n)^2$ - section 1's shortcut, now unavoidable, since only
# sums are kept. It can round **negative**, here inside the layer at batch size 2, on a channel that
# hardly varies (values near 7, spread 0.001) and on one saturated at 6.0, lesson 03's `maxv` ceiling:

# %%
set_seed(0)
awkward = {"near 7": lambda: 7 + 1e-3 * torch.randn(2, 1, 1, 1), "saturated": lambda: torch.full((2, 1, 1, 1), 6.0),
           "mean 1e4": lambda: 1e4 + torch.randn(2, 1, 1, 1)}  # one channel, batches of 2
for name in ("near 7", "saturated"):
    rbn, raw = RunningBatchNorm(1), []
    for step in range(300):
        rbn(awkward[name]())
        raw.append(raw_running_var(rbn).item())  # sqrs / count - (sums / count) ** 2, no guard
    raw = torch.tensor(raw)
    first_nan = next((i + 1 for i, v in enumerate(raw) if v + rbn.eps < 0), None)
    print(f"{name:9s}: E[x^2] - E[x]^2 negative at {(raw < 0).sum():3d} of 300 steps, most negative {raw.min():.1e}; "
          f"sqrt(var + eps) first nan at step {first_nan}")

# %% [markdown]
# Below $-\epsilon$ the square root gives `nan`, and one `nan` in one channel spreads to every
# weight at the next step. The fix is one line: a variance is never negative, so `running_mean_var`
# clamps it at 0 (`clamp_min(0)`), and $\epsilon$ then bounds the amplification as in batch norm.
# *Exercise `04-running-var`*: write `running_mean_var`.
#
# **2. A momentum that depends on the batch size.** A batch of 512 tells us more than a batch of
# 2, so it should count for more: $m_1 = 1 - (1 - m) / \sqrt{\text{bs} - 1}$ (the noise of a batch's
# statistics shrinks like one over the square root of its size), $m$ itself at batch size 2,
# towards 1 for large batches, where the layer becomes almost plain batch norm.
# *Exercise `04-rbn-momentum`*: write `rbn_momentum`.

# %%
show_source(running_mean_var, rbn_momentum)
fmt = lambda t: "[" + ", ".join(f"{v:.4g}" for v in t.flatten().tolist()) + "]"  # noqa: E731
xs = torch.randn(10, 3, 4, 4) * 2 + 5
mean, var = running_mean_var(xs.sum((0, 2, 3)), (xs * xs).sum((0, 2, 3)), torch.tensor(160.0))
print(f"from sums: mean {fmt(mean)}, var {fmt(var)}")
print(f"directly : mean {fmt(xs.mean((0, 2, 3)))}, var {fmt(xs.var((0, 2, 3), correction=0))}")
bss = [2, 5, 32, 128, 512]
print("weight of the new batch, m = 0.1: " + ", ".join(f"bs {bs}: {rbn_momentum(0.1, bs):.3f}" for bs in bss))

# %% [markdown]
# **3. Debiasing - and why it cancels.** The averages start at zero, so early on they are pulled
# towards zero. After updates with weights $m_1, m_2, \dots$ the total weight given to real data is
# $1 - \prod_i (1 - m_i)$; dividing by it removes the bias (Adam's correction).
# *Exercise `04-debias`*: write `debias_factor`. But the mean is $\bar S / \bar n$, and the averages
# of the sums and of the counts carry the *same* bias factor, being updated with the same weights:
# dividing both by it changes nothing. One channel, one batch of two values, 1 and 3, momentum 0.1:

# %%
show_source(debias_factor)
factors = [debias_factor([0.1] * t) for t in (1, 2, 10, 30)]
print("debias factor after 1, 2, 10, 30 steps of momentum 0.1: " + ", ".join(f"{f:.3f}" for f in factors))
s, c, m1 = 0.1 * (1 + 3), 0.1 * 2, 0.1  # the averages after one update from zero
db = debias_factor([m1])
print(f"averages: sums {s:.2f}, count {c:.2f}  ->  mean {s / c:.2f} (right: 2)")
print(f"both debiased by {db:.2f}: mean {(s / db) / (c / db):.2f} (the factor cancels)")
print(f"sums debiased, count not: mean {(s / db) / c:.2f} (ten times too large)")

# %% [markdown]
# So the layer needs no debiasing at all - fast.ai's final version has none - and debiasing some
# averages but not others is worse than none.
#
# **4. A floor for the variance at the start.** After the first batch of two images (on the last
# layer, two numbers per channel) the variance may be almost zero. Until 20 items have been seen it
# is clamped to at least 0.01, capping the amplification at 10. *Exercise `04-clamp-var`*: write
# `clamp_var`.
#
# Put together. In training, `update_stats` returns this step's averages with the gradient of the
# current batch's share (older shares are constants), so gradients flow through the statistics as in
# batch norm; the buffers store the averages without a gradient. *Exercise `04-rbn-update`,
# Exercise `04-rbn-forward`*. Below, `clamp_var` on its own, then the two channels above and one
# with mean 10,000 (section 1's worst case) through the whole layer:

# %%
show_source(clamp_var)
v = torch.tensor([1e-6, 0.3])
print(f"variance {fmt(v)}: after 4 items {fmt(clamp_var(v, 4))}, after 20 items {fmt(clamp_var(v, 20))}")
show_source(RunningBatchNorm)
set_seed(0)
for name, batch in awkward.items():
    rbn, finite = RunningBatchNorm(1), True
    for step in range(300):
        x = batch().requires_grad_()
        out = rbn(x)
        out.sum().backward()
        finite &= bool(out.isfinite().all() and x.grad.isfinite().all())
    rbn.eval()
    print(f"{name:9s}: 300 training steps at batch size 2 finite (outputs and gradients): {finite}; "
          f"evaluation finite: {bool(rbn(batch()).isfinite().all())}")

# %% [markdown]
# **The lecture's RunningBatchNorm** was not quite the above. fast.ai's notebook notes that the
# `dbias` calculation "in the version in the lesson video was incorrect" and that the momentum
# formula changed too; together the changes took batch size 2 from the lecture's 91% to above 97%.
# The video's code is not published; the transcript describes the debiasing in words: keep
# multiplying the momentum by the previous debiasing amount - momentum, momentum squared, momentum
# cubed - and divide the averages by it. `TranscriptRunningBatchNorm` is our reading of that
# description, not the lecture's code: sums, squares and counts divided by the product of the
# momenta so far for the first 100 steps (as the notebook's corrected version does with its own
# factor). Both layers on the same pairs of section 1's activations:

# %%
show_source(TranscriptRunningBatchNorm)
layer, ours = TranscriptRunningBatchNorm(8), RunningBatchNorm(8)
first_bad = None
for step in range(1, 100):
    xb = acts[2 * step - 2: 2 * step]
    out, ref = layer(xb), ours(xb)
    if step in (1, 10, 30):
        print(f"step {step:2d}: debiasing amount {layer.dbias.item():.1e}, "
              f"largest difference from RunningBatchNorm's output {(out - ref).abs().max():.1e}")
    if first_bad is None and not out.isfinite().all():
        first_bad = step
print(f"the first output that is not finite: step {first_bad}")

# %% [markdown]
# A common factor cancels out of the mean and variance, as above - until it leaves float32's range.
# The product of momenta 0.1 falls tenfold every step; dividing by it overflows the sums of squares
# to infinity, and $\infty / \infty$ is `nan`. (Read as 0.9, the product stays in range over 100 steps
# and cancels as above.) The words alone do not tell us what the video's code did.
#
# Now RunningBatchNorm in section 4's setting - batch size 2, learning rate 0.4, one epoch on the
# first 4,000 images, the same three seeds (fast.ai: lecture 91%, notebook 0.9723 after a full epoch
# of 50,000 images):

# %%
seed_table(train, {"RunningBatchNorm": dict(norm=RunningBatchNorm, **bs2)});

# %% [markdown]
# On the same 2,000 steps RunningBatchNorm trains where batch norm does not: compare its row with
# section 4's `nn.BatchNorm2d` rows, and the gap with the spreads. And the transcript's debiasing, one
# run in the same setting:

# %%
loss, acc = train(TranscriptRunningBatchNorm, seed=0, **bs2)
print(f"TranscriptRunningBatchNorm, one run: validation loss {loss:.4f}, accuracy {acc:.4f}")

# %% [markdown]
# It goes `nan` as above. With `nan` weights `argmax` picks class 0 for every image, so the accuracy
# is the share of zeros in the validation set.
#
# ### The one-epoch toy problem
#
# How well can this CNN do after exactly one pass over the training set? RunningBatchNorm at batch
# size 32, learning rate falling linearly from 1.0 to 0.2, all 50,000 images, one run (fast.ai's
# notebook: 0.9818). The challenges take it further.

# %%
loss, acc = train(RunningBatchNorm, bs=32, epochs=1, n_train=50_000, sched=sched_lin(1.0, 0.2))
print(f"RunningBatchNorm, bs 32, lr 1.0 -> 0.2, one epoch, one run: validation accuracy {acc:.4f}")

# %% [markdown]
# ## 7. Batch norm's backward pass by hand
#
# Our `BatchNorm` leaves the gradient to autograd, which records every small operation of the
# forward pass and replays each backwards. `recorded_ops` counts them for one forward pass, against
# `nn.BatchNorm2d`'s single fused call and `FastBatchNorm`, the layer this section builds:

# %%
show_source(recorded_ops)
xs = torch.randn(2, 8, 14, 14, requires_grad=True)
for layer in (BatchNorm(8), FastBatchNorm(8), nn.BatchNorm2d(8)):
    print(f"{type(layer).__name__:14s} records {recorded_ops(layer(xs)):2d} operation(s)")

# %% [markdown]
# The paper gives the chain rule (its section 3). With $g_i = \partial \ell / \partial y_i$ from above:
#
# $$\frac{\partial \ell}{\partial \gamma} = \sum_i g_i \hat x_i, \qquad \frac{\partial \ell}{\partial \beta} = \sum_i g_i$$
#
# $x_i$ reaches the output three ways: directly, through $\mu$ and through $\sigma^2$, with
#
# $$\frac{\partial \mu}{\partial x_i} = \frac{1}{m}, \qquad \frac{\partial \sigma^2}{\partial x_i} = \frac{2 (x_i - \mu)}{m}$$
#
# Putting the three paths into the chain rule and collecting terms gives, with
# $f = \gamma / \sqrt{\sigma^2 + \epsilon}$ (`factor` in the code),
#
# $$\frac{\partial \ell}{\partial x_i} = f \Big(g_i - \frac{1}{m}\sum_j g_j - \frac{\hat x_i}{m}\sum_j g_j \hat x_j\Big)$$
#
# The first term is what the no-grad statistics kept; the two sums subtract the gradient's mean and
# its component along $\hat x$, the directions section 2 said the layer normalises away. Per channel:
# two sums over the batch and one pass to combine them.
#
# For RunningBatchNorm, $\mu = \bar S / \bar n$ with $\bar S = (1 - m_1)\bar S_{old} + m_1 \sum_i x_i$,
# so $\partial \mu / \partial x_i = m_1 / \bar n$ and $\partial \sigma^2/\partial x_i = 2 (x_i - \mu)\, m_1/\bar n$:
# the same formula with the **share** $w = m_1 / \bar n$ in place of $1/m$. Where the variance was
# clamped it is a constant, and the $\hat x$ term drops for that channel. `torch.autograd.Function`
# lets us give autograd a forward and its backward as one node; `FastBatchNorm` and
# `FastRunningBatchNorm` hand their training step to it. *Exercise `04-batchnorm-backward`*: write
# `BatchNormFunction.backward`.

# %%
show_source(BatchNormFunction, FastBatchNorm, FastRunningBatchNorm)

# %% [markdown]
# A derivation by hand deserves a check by machine. `torch.autograd.gradcheck` compares a backward
# pass with finite differences of the forward, in float64 (in float32 the differences drown in
# rounding); it perturbs every input value, so the paths through the statistics are checked too.
# Then `max_diffs` compares the float32 layers with the autograd ones on the same inputs, weights
# and gradients from above - `FastRunningBatchNorm` for 30 steps at batch size 2, clamp on at first.

# %%
show_source(gradchecked)
set_seed(0)
warm_rbn = FastRunningBatchNorm(3)
warm_rbn(torch.randn(4, 3, 2, 2))  # some history in its averages (variances near 1: above the clamp)
print("gradcheck FastBatchNorm:", gradchecked(FastBatchNorm(3), (4, 3, 2, 2)),
      "| FastRunningBatchNorm:", gradchecked(warm_rbn, (2, 3, 2, 2)))
set_seed(0)
print("FastBatchNorm vs BatchNorm, 10 batches of 32:", max_diffs(FastBatchNorm(8), BatchNorm(8), acts.split(32)[:10]))
print("FastRunningBatchNorm vs RunningBatchNorm, 30 batches of 2:",
      max_diffs(FastRunningBatchNorm(8), RunningBatchNorm(8), acts[:60].split(2)))

# %% [markdown]
# gradcheck passes, and the fast layers agree with the autograd ones to rounding: one node instead
# of ten changes how the sums are recorded, not what they are. The lesson trains with the layers
# you write; the fast ones are for when the same sums must run often.
#
# ## Check your understanding
#
# 1. Why does batch norm normalise with the *biased* variance but keep the *unbiased* one in its
#    running statistics?
#
#    <details><summary>Answer</summary>
#
#    The batch's own (biased, divide-by-n) variance gives the normalised batch variance exactly 1, as
#    the paper says. The running variance estimates the population's variance for evaluation, and
#    the unbiased one (divide by n - 1) is the better estimate. PyTorch does both.
#
#    </details>
#
# 2. What goes wrong with batch norm at batch size 2, and what does a larger eps change?
#
#    <details><summary>Answer</summary>
#
#    The variance is often near zero (exactly zero on 1 x 1 maps where both images agree), so the
#    layer amplifies by up to 1/sqrt(eps), forward and backward, and the running statistics average
#    wildly different batches. A larger eps lowers that ceiling; it does not make the statistics good.
#
#    </details>
#
# 3. Why can instance norm not classify with this CNN, while layer norm can?
#
#    <details><summary>Answer</summary>
#
#    After the last conv each channel has one value per image; instance norm normalises each alone,
#    so every image outputs `adds`. Layer norm normalises all channels of an image together: the
#    pattern across channels survives, only the image's overall level and contrast go (the fog).
#
#    </details>
#
# 4. RunningBatchNorm keeps averages of sums and counts. Why does debiasing them change nothing?
#
#    <details><summary>Answer</summary>
#
#    The averages of the sums, the squares and the counts, updated with the same weights, carry the
#    same bias factor, which cancels in sums / count and squares / count - mean². Debiasing only
#    some of them (or by a factor that overflows float32) breaks the layer.
#
#    </details>
#
# 5. `batch_stats` takes two passes; why can RunningBatchNorm not, and what guard does it need?
#
#    <details><summary>Answer</summary>
#
#    It keeps only sums, so it must use E[x²] - E[x]², which loses the variance when the mean is
#    large against the spread and can come out negative (sections 1 and 6): below -eps the square
#    root gives `nan`. So it clamps the variance at 0. `batch_stats` sees the values themselves.
#
#    </details>
#
# 6. What does a hand-written backward (`BatchNormFunction`) buy, and how do you know it is right?
#
#    <details><summary>Answer</summary>
#
#    One autograd node instead of ten small ones, and fewer passes over the data. `gradcheck`
#    compares it with finite differences in float64; the float32 layers match the autograd ones.
#
#    </details>
#
# ## What you built
#
# `solutions/l04_norms.py`: the pieces, from `upcast` to `clamp_var`; `Norm` and the layers on it -
# `BatchNorm` (numerically `nn.BatchNorm2d`, large means and bfloat16 included), `LayerNorm`,
# `InstanceNorm`, `GroupNorm`, `RunningBatchNorm` (trains at batch size 2); `conv_layer`; and the
# backward by hand, `BatchNormFunction`, in `FastBatchNorm` and `FastRunningBatchNorm`.
# `solutions/l04_variants.py`, for comparison only: `NoGradBatchNorm` (the lecture notebook's),
# `TranscriptRunningBatchNorm` (our reading of the lecture's words) and the lesson's measuring
# helpers. **Exercises**: `exercises/l04_norms.py`; grade them with `make grade LESSON=04`.
