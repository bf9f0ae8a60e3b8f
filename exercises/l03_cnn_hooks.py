# GENERATED from solutions/l03_cnn_hooks.py by `make stubs` (fingerprint 910386cb650c26fb).
# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,
# then run `make grade`.
"""Lesson 03 - a CNN, a device callback, PyTorch hooks and telemetry, and initialisation.

Builds on lesson 02's Runner (`solutions.l02_exceptions`, re-exported here with its callbacks and
schedules, so later lessons import everything from this module). What is new:

- data: `normalize_to`, and `BatchDataLoader`, which fetches a whole batch with one indexing
  call (`ds[tensor_of_indices]`) instead of collating it item by item; `get_dls` and
  `mnist_databunch` now use it;
- a CNN: `Lambda` (with `flatten`, `mnist_resize`), `conv2d`, `GeneralRelu`, `conv_layer`,
  `get_cnn_layers` / `get_cnn_model` (any `layer` function plugs in), `dot_product_sizes`;
- callbacks: `DeviceCallback` (CUDA when present, else CPU), `BatchTransformXCallback` with
  `view_tfm`, `ProgressCallback` (a tqdm bar, or one line per epoch where nobody watches);
- telemetry: `SequentialModel` (by hand), then `Hook` (forward or backward), `ListContainer`,
  `Hooks`, `append_stats`, `append_grad_stats`, `get_hist`, `get_min` and their plots;
- initialisation: `init_cnn(m, uniform=False)` (Kaiming), `get_runner`, `get_learn_run`.
"""

from __future__ import annotations

import os
import sys
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course.data import get_mnist
from solutions import l02_exceptions as l02
from solutions.l02_exceptions import (  # noqa: F401  (re-exported: later lessons import them from here)
    AvgStats, AvgStatsCallback, Callback, CancelBatchException, CancelEpochException, CancelTrainException,
    DataBunch, DataLoader, Dataset, DebiasedEMA, Learner, LRFinder, ParamScheduler, Recorder,
    StopAfterStep, TraceEvents, TrainEvalCallback, accuracy, annealer, camel2snake, collate, combine_scheds,
    listify, lr_find, lr_find_schedule, plot_lr_find, sched_cos, sched_exp, sched_lin, sched_no, should_stop, smooth,
    suggest_lr,
)

# ---------------------------------------------------------------------------- data


def normalize(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """`(x - mean) / std`."""
    return (x - mean) / std


def normalize_to(train: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets shifted and scaled by the TRAINING set's mean and std (over all its values).

    The validation set must go through exactly the transformation the model was trained with, so it
    uses the training statistics, never its own. Returns new tensors `(train, valid)`; the inputs are
    left unchanged. Accurate for data far from 0 too (values around 10,000 with a std of 1).
    """
    raise NotImplementedError("exercise 03-normalize-to: normalize_to")


class BatchDataLoader(DataLoader):
    """Lesson 00's DataLoader, one batch per indexing call: `ds[idx]` with `idx` a tensor of indices.

    Lesson 00's loader asks the dataset for each item (`ds[i]`, `bs` Python calls) and stacks them
    (`collate`); a Dataset holding tensors can return the whole batch `(x[idx], y[idx])` in one
    call, which is what this loader asks for. The dataset must accept a 1-d int64 tensor of indices
    (lesson 00's `Dataset` does). Same batches as lesson 00's loader, in the same order for the same
    random state. `collate_fn` is not used.
    """

    def __iter__(self):
        """Yield `ds[idx]` for each batch's tensor of indices `idx`: `bs` of them (the last batch may
        be smaller), in order, or from one `torch.randperm` per pass when shuffling."""
        raise NotImplementedError("exercise 03-batch-loader: BatchDataLoader.__iter__")


def get_dls(train_ds, valid_ds, bs: int) -> tuple[BatchDataLoader, BatchDataLoader]:
    """Lesson 00's `get_dls` with `BatchDataLoader`s: training shuffled at `bs`, validation in order at `2 * bs`."""
    return BatchDataLoader(train_ds, bs, shuffle=True), BatchDataLoader(valid_ds, bs * 2)


def mnist_databunch(bs: int = 512, data_dir=None) -> DataBunch:
    """The course's MNIST split, normalised with `normalize_to`, as a DataBunch of `BatchDataLoader`s.

    Images stay flattened, (N, 784): a callback or a `Lambda` reshapes them for a CNN.
    """
    x_train, y_train, x_valid, y_valid = get_mnist(data_dir, normalize=False)
    x_train, x_valid = normalize_to(x_train, x_valid)
    return DataBunch(*get_dls(Dataset(x_train, y_train), Dataset(x_valid, y_valid), bs),
                     c_in=x_train.shape[1], c_out=int(y_train.max()) + 1)


# --------------------------------------------------------------------------- runner


class Runner(l02.Runner):
    """Lesson 02's Runner, with the same events, exceptions and callbacks, that looks each event's
    handlers up once per fit instead of at every event.

    Lesson 02's `__call__` sorts the callbacks and asks each one for a handler at every event, about
    ten times a batch. This Runner works out, once per fit and event, what to call in `_order`: the
    handler method of a callback that uses `Callback.__call__`, or
    `cb(event)` itself for a callback that overrides `__call__` (like `TraceEvents`), so it still
    sees every event. The list of callbacks and their handlers are read when an event first occurs
    in a fit: change `cbs` between fits, not during one.
    """

    def __init__(self, cbs=None, cb_funcs=None):
        super().__init__(cbs, cb_funcs)
        self._handlers = {}

    def __call__(self, event: str) -> None:
        handlers = self._handlers.get(event)
        if handlers is None:
            handlers = self._handlers[event] = self._find_handlers(event)
        for handler in handlers:
            handler()

    def _find_handlers(self, event: str) -> list:
        handlers = []
        for cb in sorted(self.cbs, key=lambda cb: cb._order):
            if type(cb).__call__ is not Callback.__call__:
                handlers.append(partial(cb, event))
            elif (handler := getattr(cb, event, None)) is not None:
                handlers.append(handler)
        return handlers

    def fit(self, epochs: int, learn: Learner):
        self._handlers = {}
        try:
            super().fit(epochs, learn)
        finally:
            self._handlers = {}


# ---------------------------------------------------------------------------- model


class Lambda(nn.Module):
    """A module that applies `func` to its input, so a plain function can sit in an nn.Sequential.

    Give it a named function (`Lambda(flatten)`), not a `lambda`: a model is saved by pickling, and
    pickle stores a function by its importable name, which a lambda does not have.
    """

    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        """`func(x)`."""
        raise NotImplementedError("exercise 03-lambda: Lambda.forward")

    def extra_repr(self) -> str:
        return getattr(self.func, "__name__", repr(self.func))


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, everything else): one row per item, the batch dimension kept."""
    raise NotImplementedError("exercise 03-lambda: flatten")


def mnist_resize(x: torch.Tensor) -> torch.Tensor:
    """Flat MNIST images (N, 784) -> (N, 1, 28, 28): one channel of 28 x 28, what a conv layer needs."""
    raise NotImplementedError("exercise 03-lambda: mnist_resize")


def conv2d(ni: int, nf: int, ks: int = 3, stride: int = 2) -> nn.Sequential:
    """A `ks` x `ks` convolution from `ni` to `nf` channels (padding `ks // 2`, so stride 2 halves the
    size, rounding up) followed by a ReLU."""
    return nn.Sequential(nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride), nn.ReLU())


class GeneralRelu(nn.Module):
    """A ReLU with three optional changes, applied in this order:

    - `leak`: a slope for negative inputs (a leaky ReLU), so a negative unit still has a gradient;
    - `sub`: a constant subtracted from the result, to pull the mean of the activations back
      towards 0 (a ReLU's outputs are never negative, so their mean is positive);
    - `maxv`: a ceiling the result is clamped to.

    Each is skipped when None, and only then (`maxv=0` clamps at 0): `GeneralRelu()` is a plain
    ReLU. No operation is done in place: the input must stay as it was, and a ReLU's backward needs
    its output unchanged.
    """

    def __init__(self, leak: float | None = None, sub: float | None = None, maxv: float | None = None):
        super().__init__()
        self.leak, self.sub, self.maxv = leak, sub, maxv

    def forward(self, x):
        raise NotImplementedError("exercise 03-general-relu: GeneralRelu.forward")

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


def conv_layer(ni: int, nf: int, ks: int = 3, stride: int = 2, **kwargs) -> nn.Sequential:
    """Lesson 03's layer: a `ks` x `ks` convolution (padding `ks // 2`) then a `GeneralRelu(**kwargs)`
    (`leak`, `sub`, `maxv`; none given: a plain ReLU)."""
    return nn.Sequential(nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride), GeneralRelu(**kwargs))


def get_cnn_layers(data: DataBunch, nfs: list[int], layer=conv_layer, **kwargs) -> list[nn.Module]:
    """The layers of the lesson's CNN for one-channel (MNIST) images: one `layer` per entry of `nfs`,
    then global average pooling, `flatten` and a linear layer to `data.c_out` classes.

    Layer i is `layer(ni, nf, ks, **kwargs)`, from `ni` channels (1 for the first, else the previous
    `nf`) to `nf = nfs[i]` channels, with a 5 x 5 kernel for the first and 3 x 3 for the others;
    `layer` sets its own stride (the lesson's layers: 2). `kwargs` go to every `layer` call. The
    caller's `nfs` is left unchanged.
    """
    raise NotImplementedError("exercise 03-cnn-layers: get_cnn_layers")


def get_cnn_model(data: DataBunch, nfs: list[int], layer=conv_layer, **kwargs) -> nn.Sequential:
    """`nn.Sequential` of `get_cnn_layers(data, nfs, layer, **kwargs)`."""
    return nn.Sequential(*get_cnn_layers(data, nfs, layer, **kwargs))


def dot_product_sizes(model: nn.Module) -> list[tuple[int, int]]:
    """For each `nn.Conv2d` in `model` (in `model.modules()` order): `(inputs, outputs)`, where
    `inputs` is how many numbers each output value is a dot product of (in_channels x kernel height x
    kernel width, divided by `groups`) and `outputs` how many values it computes at each position
    (out_channels). A layer earns its cost when it computes clearly fewer numbers than it reads; with
    about as many it barely summarises, and with more it wastes work.
    """
    raise NotImplementedError("exercise 03-dot-products: dot_product_sizes")


def init_cnn(m: nn.Module, uniform: bool = False) -> nn.Module:
    """Kaiming-initialise every `nn.Conv2d` in `m`, at any depth (children, their children, ...).

    Each conv's weight gets `kaiming_uniform_` (if `uniform`) or `kaiming_normal_`, with `a=0.1` (the
    leak of the lesson's GeneralRelu) and the default fan_in mode; its bias, if it has one, is set to
    0. Other layers are left as they are. Returns `m`.
    """
    raise NotImplementedError("exercise 03-init-cnn: init_cnn")


# ------------------------------------------------------------------------ callbacks


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DeviceCallback(Callback):
    """Trains on `device` (default: `default_device()`): moves the model (`model.to`) at begin_fit,
    and at begin_batch replaces the runner's `xb` and `yb` with copies on the device. Only the
    parameters (and buffers) and the data move: the activations are then computed where the model is.
    """

    def __init__(self, device=None):
        self.device = torch.device(device) if device is not None else default_device()

    def begin_fit(self):
        raise NotImplementedError("exercise 03-device: DeviceCallback.begin_fit")

    def begin_batch(self):
        raise NotImplementedError("exercise 03-device: DeviceCallback.begin_batch")


class BatchTransformXCallback(Callback):
    """Replaces each batch's inputs, the runner's `xb`, with `tfm(xb)` at begin_batch (after a
    DeviceCallback, which has `_order` 0). The targets are left alone."""

    _order = 2

    def __init__(self, tfm):
        self.tfm = tfm

    def begin_batch(self):
        raise NotImplementedError("exercise 03-batch-transform: BatchTransformXCallback.begin_batch")


def view_tfm(*size):
    """A transform that reshapes a batch to `(batch size, *size)`: `view_tfm(1, 28, 28)` turns (N, 784)
    into (N, 1, 28, 28). The batch size is whatever the batch has (the last one may be smaller)."""
    raise NotImplementedError("exercise 03-view-tfm: view_tfm")


def _watched() -> bool:
    """Is someone watching this process live: a terminal, or a notebook opened in Jupyter?
    (A notebook executed headless, as for the course site, is neither.)"""
    return sys.stderr.isatty() or "JPY_SESSION_NAME" in os.environ


class ProgressCallback(Callback):
    """A progress bar over each epoch's batches (tqdm), with the running training loss.

    With `bar=None` it shows the bar only when someone watches live (a terminal, or Jupyter); else,
    and with `bar=False`, it prints one line per epoch instead (its last running loss), so an
    executed notebook stays readable and prints the same lines at every execution. The running loss
    is a debiased moving average (`beta`).
    """

    _order = 10  # after the others: its epoch line comes after the statistics

    def __init__(self, bar: bool | None = None, beta: float = 0.98, report=print):
        self.bar, self.beta, self.report = (_watched() if bar is None else bar), beta, report

    def begin_epoch(self):
        self.ema, self.pbar = DebiasedEMA(self.beta), None
        if self.bar:
            from tqdm.auto import tqdm
            self.pbar = tqdm(total=len(self.data.train_dl) + len(self.data.valid_dl), leave=False,
                             desc=f"epoch {self.epoch + 1} of {self.epochs}", unit="batch")

    def after_loss(self):
        if self.in_train:
            self.ema.update(self.loss.item())

    def after_batch(self):
        if self.pbar is None:
            return
        self.pbar.update()
        if self.in_train and self.ema.n and self.pbar.n % 20 == 0:
            self.pbar.set_postfix(loss=f"{self.ema.value:.4f}", refresh=False)

    def after_epoch(self):
        if self.pbar is not None:
            self.pbar.close()
        loss = f"{self.ema.value:.4f}" if self.ema.n else "-"
        self.report(f"epoch {self.epoch + 1} of {self.epochs}: running training loss {loss}")

    def after_fit(self):
        if getattr(self, "pbar", None) is not None:
            self.pbar.close()


# ----------------------------------------------------------------- telemetry by hand


class SequentialModel(nn.Module):
    """An nn.Sequential that records, at every forward pass in training mode, the mean and std of
    each layer's output: `act_means[i]` and `act_stds[i]` are lists of floats, one per batch (accurate
    also for outputs far from 0, e.g. around 10,000 with a std of 1)."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.act_means = [[] for _ in layers]
        self.act_stds = [[] for _ in layers]

    def forward(self, x):
        """Run the layers in turn; in training mode, append each output's mean and std (floats)."""
        raise NotImplementedError("exercise 03-sequential-model: SequentialModel.forward")

    def __iter__(self):
        return iter(self.layers)


# --------------------------------------------------------------------------- hooks


def layer_name(m: nn.Module) -> str:
    """A short name for a layer of the lesson's models, for legends: `conv` for a Sequential holding
    a convolution (the lesson's conv + activation), `pool`, `flatten` (a Lambda: its function's
    name), `linear`; else the class name."""
    if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Sequential) and any(isinstance(c, nn.Conv2d) for c in m)):
        return "conv"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)):
        return "pool"
    if isinstance(m, Lambda):
        return getattr(m.func, "__name__", "lambda")
    return "linear" if isinstance(m, nn.Linear) else type(m).__name__


def _remove_quietly(hooks):
    """`hooks.remove()` for a `__del__`, which must never raise: Python calls it at any moment (when the
    garbage collector runs), where an error can only be printed, and an unfinished exercise raises."""
    try:
        hooks.remove()
    except Exception:  # see the docstring
        pass


class Hook:
    """A hook on module `m` that calls `f(hook, module, ...)`, so `f` can keep its state on the Hook
    object (e.g. `hook.stats`).

    Forward (the default): `m.register_forward_hook`, and `f(hook, module, input, output)` runs after
    each forward pass. With `backward=True`: `m.register_full_backward_hook`, and
    `f(hook, module, grad_input, grad_output)` runs when the gradients with respect to the module's
    inputs have been computed (tuples of tensors, like `input`).

    `remove()` takes the hook off the module (calling it twice is harmless). `__del__` calls it too,
    but that only runs once nothing refers to the Hook - and the module does, through the
    registered `partial`, as long as the hook is on it: remove hooks yourself, or use `Hooks` in a
    `with` block.
    """

    def __init__(self, m: nn.Module, f, backward: bool = False):
        self.module_name = layer_name(m)  # for the repr and the plots
        raise NotImplementedError("exercise 03-hook-class: Hook.__init__")

    def remove(self):
        raise NotImplementedError("exercise 03-hook-class: Hook.remove")

    def __del__(self):
        _remove_quietly(self)

    def __repr__(self) -> str:
        recorded = f", {len(self.stats[0])} batches recorded" if hasattr(self, "stats") else ""
        return f"Hook({self.module_name}{recorded})"


class ListContainer:
    """A list with numpy-style indexing.

    `c[i]` (an int) and `c[a:b]` work as for a list; `c[[0, 2]]` (a list or other iterable of ints)
    gives a list of those items; `c[[True, False, True]]` (booleans, one per item) gives a list of the
    items where the mask is True. Also: `len`, iteration, `c[i] = x`, `del c[i]`, and a repr that
    shows at most the first 10 items.
    """

    def __init__(self, items=None):
        self.items = listify(items)

    def __getitem__(self, idx):
        """One item for an int; a list for a slice, a list of indices, or a boolean mask. A mask
        whose length is not `len(self)` raises IndexError, saying both lengths."""
        raise NotImplementedError("exercise 03-list-index: ListContainer.__getitem__")

    def __len__(self) -> int:
        raise NotImplementedError("exercise 03-list-container: ListContainer.__len__")

    def __iter__(self):
        raise NotImplementedError("exercise 03-list-container: ListContainer.__iter__")

    def __setitem__(self, i, o):
        raise NotImplementedError("exercise 03-list-container: ListContainer.__setitem__")

    def __delitem__(self, i):
        raise NotImplementedError("exercise 03-list-container: ListContainer.__delitem__")

    def __repr__(self) -> str:
        """A str: `ClassName (n items)` and, on the next line, the list of the first 10 items, with `...`
        before the closing bracket when there are more: `[0, 1, ..., 9...]`."""
        raise NotImplementedError("exercise 03-list-container: ListContainer.__repr__")


class Hooks(ListContainer):
    """One `Hook(m, f, backward)` for each module of `ms`, in a ListContainer.

    A context manager: `with Hooks(model, f) as hooks:` removes every hook when the block ends,
    also when it ends with an exception. `remove()` removes them all; `del hooks[i]` removes that
    hook from its module before taking it out of the list.
    """

    def __init__(self, ms, f, backward: bool = False):
        raise NotImplementedError("exercise 03-hooks: Hooks.__init__")

    def __enter__(self, *args):
        raise NotImplementedError("exercise 03-hooks: Hooks.__enter__")

    def __exit__(self, *args):
        raise NotImplementedError("exercise 03-hooks: Hooks.__exit__")

    def __del__(self):
        _remove_quietly(self)

    def __delitem__(self, i):
        raise NotImplementedError("exercise 03-hooks: Hooks.__delitem__")

    def remove(self):
        raise NotImplementedError("exercise 03-hooks: Hooks.remove")


HIST_BINS, HIST_RANGE = 40, (-7.0, 7.0)


def append_stats(hook: Hook, mod: nn.Module, inp, outp: torch.Tensor, bins: int = HIST_BINS,
                 range: tuple[float, float] = HIST_RANGE):
    """A hook function: after each TRAINING forward pass of `mod` (`mod.training`), append the
    output's mean, std (floats) and histogram (`torch.histc` with `bins` bins over `range`, on the
    CPU, as a tensor) to `hook.stats = (means, stds, hists)`, creating it (three empty lists) on the
    first call, and store `range` as `hook.hist_range`. Validation passes (eval mode) are ignored.
    The std is accurate also for outputs far from 0 (around 10,000 with a std of 1).
    """
    raise NotImplementedError("exercise 03-append-stats: append_stats")


def append_grad_stats(hook: Hook, mod: nn.Module, grad_input, grad_output):
    """A backward hook function (for `Hook(m, f, backward=True)`): append the size of the gradient of
    the loss with respect to the module's OUTPUT, `grad_output[0]`, to the list `hook.grad_rms`
    (creating it on the first call).

    The size is the root mean square of the gradient's values, `sqrt(mean(g ** 2))`, a float: unlike
    the std it does not subtract the mean, and it is defined for a single value too. `grad_input`
    (the gradients with respect to the module's inputs) is not used: for the first layer it is
    `(None,)`, as the images need no gradient.
    """
    raise NotImplementedError("exercise 03-grad-stats: append_grad_stats")


def get_hist(hook: Hook) -> torch.Tensor:
    """The hook's histograms (`hook.stats[2]`, one per iteration) as an image: shape (bins, iterations),
    `log(1 + count)`, float.

    Row 0 is the lowest bin, column j is iteration j (so `imshow(..., origin="lower")` shows time
    left to right and values bottom to top); the log keeps the few large bins from hiding the rest.
    """
    raise NotImplementedError("exercise 03-get-hist: get_hist")


def get_min(hook: Hook, near: float = 0.5) -> torch.Tensor:
    """At each iteration, the fraction of the activations in the bins near zero.

    The histograms are `hook.stats[2]` (one per iteration, each over the range `hook.hist_range`
    split into equal bins); near zero means the bins whose centre lies strictly between `-near` and
    `near`. Returns a tensor of shape (iterations,). With 40 bins on (0, 10) that is the first two
    bins, [0, 0.5); on (-7, 7), bins 19 and 20, [-0.35, 0.35)."""
    raise NotImplementedError("exercise 03-get-min: get_min")


# --------------------------------------------------------------------------- plots


def plot_stats(hooks, n_iters: int | None = None, axs=None, title: str = ""):
    """Means (left) and stds (right) of each hooked layer's activations over the training
    iterations, the first `n_iters` only if given. Works for `Hooks` and for a `SequentialModel`.

    The legend names each layer (`layer_name`); a layer whose statistics are exactly those of the
    layer before it (a flatten after a pooling layer moves values without changing them) is drawn
    dashed on top of it, and its label says so."""
    if isinstance(hooks, SequentialModel):
        curves = list(zip(hooks.act_means, hooks.act_stds))
        names = [layer_name(m) for m in hooks.layers]
    else:
        curves = [(h.stats[0], h.stats[1]) for h in hooks]
        names = [h.module_name for h in hooks]
    if axs is None:
        _, axs = plt.subplots(1, 2, figsize=(9, 3))
    for i, ((means, stds), name) in enumerate(zip(curves, names)):
        same = i > 0 and curves[i] == curves[i - 1]
        label = f"layer {i} ({name}" + (f", = layer {i - 1})" if same else ")")
        style = dict(ls=(0, (3, 3))) if same else {}  # dashes: the line below shows between them
        axs[0].plot(means[:n_iters], label=label, **style)
        axs[1].plot(stds[:n_iters], label=label, **style)
    axs[0].set(xlabel="iteration", ylabel="mean", title=f"{title} means".strip())
    axs[1].set(xlabel="iteration", ylabel="std", title=f"{title} stds".strip())
    axs[1].legend(fontsize=7)
    plt.tight_layout()
    return axs


def plot_hists(hooks, title: str = ""):
    """The "colorful dimension": one image per hooked layer, x = iteration, y = histogram bin (in
    activation units), colour = log(1 + count), with a colour bar."""
    fig, axs = plt.subplots(1, len(hooks), figsize=(2.6 * len(hooks), 2.6), squeeze=False)
    for i, (ax, h) in enumerate(zip(axs[0], hooks)):
        lo, hi = h.hist_range
        image = ax.imshow(get_hist(h), origin="lower", aspect="auto", extent=(0, len(h.stats[2]), lo, hi))
        fig.colorbar(image, ax=ax, label="log(1 + count)" if i == len(hooks) - 1 else None)
        ax.set(title=f"layer {i} ({h.module_name})", xlabel="iteration")
    axs[0][0].set_ylabel("activation")
    if title:
        fig.suptitle(title, fontsize=10)
    plt.tight_layout()
    return axs


def plot_mins(hooks, title: str = ""):
    """`get_min` of each hooked layer over the iterations: the fraction of activations near zero."""
    fig, axs = plt.subplots(1, len(hooks), figsize=(2.3 * len(hooks), 2.4), squeeze=False, sharey=True)
    for i, (ax, h) in enumerate(zip(axs[0], hooks)):
        ax.plot(get_min(h))
        ax.set(title=f"layer {i} ({h.module_name})", xlabel="iteration", ylim=(0, 1))
    axs[0][0].set_ylabel("fraction near 0")
    if title:
        fig.suptitle(title, fontsize=10)
    plt.tight_layout()
    return axs


# --------------------------------------------------------------------- convenience


def get_runner(model: nn.Module, data: DataBunch, lr: float = 0.6, cbs=None, opt_func=None,
               loss_func=F.cross_entropy) -> tuple[Learner, Runner]:
    """A Learner for `model` (optimiser `opt_func(params, lr=lr)`, default plain SGD) and a Runner
    whose callbacks are made by the callables `cbs` (classes or partials)."""
    opt = (opt_func or torch.optim.SGD)(model.parameters(), lr=lr)
    return Learner(model, opt, loss_func, data), Runner(cb_funcs=listify(cbs))


def get_learn_run(nfs, data: DataBunch, lr: float, layer=conv_layer, cbs=None, opt_func=None,
                  uniform: bool = False, **kwargs) -> tuple[Learner, Runner]:
    """The lesson's CNN (`get_cnn_model(data, nfs, layer, **kwargs)`), `init_cnn(uniform=...)`, then
    `get_runner`."""
    model = init_cnn(get_cnn_model(data, nfs, layer, **kwargs), uniform=uniform)
    return get_runner(model, data, lr=lr, cbs=cbs, opt_func=opt_func)


def cnn_callbacks(device=None) -> list:
    """The callback makers every CNN run of this lesson uses: a Recorder, accuracy statistics, the
    device callback and the reshape of flat MNIST to (N, 1, 28, 28)."""
    return [Recorder, partial(AvgStatsCallback, accuracy), partial(DeviceCallback, device),
            partial(BatchTransformXCallback, view_tfm(1, 28, 28))]
