# GENERATED from solutions/l01_callbacks.py by `make stubs` (fingerprint 9d1a644cf23e43a7).
# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,
# then run `make grade`.
"""Lesson 01: callbacks, closures and dunder methods - and statistics and softmax by code.

The small library this lesson builds. Each piece is shown in `lessons/01_callbacks.py` with
`course.show.show_source`; the marked regions are the exercises (`exercises/l01_callbacks.py`).

- Callbacks: `slow_calculation`, `make_show_progress` (a closure), `make_show_progress_partial`
  (`functools.partial`), `ProgressCallback` (a callable class with state), `slow_calculation_hooks`
  (optional hooks, early stop) and `SlowCalculator` (callbacks that change the calculator's state).
- Dunder methods: `SloppyAdder`, `Items` (the container protocol), `TemporaryAttrs` (a context manager).
- Statistics: `mean_abs_dev`, `one_pass_stats` (running sums, and their weakness), `RunningStats`
  (a numerically robust running mean and variance), `covariance`, `pearson`.
- Outputs: `sigmoid`, `logsumexp`, `log_softmax`, `softmax`, `cross_entropy`, `predict_labels`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------


def slow_calculation(cb: Callable[[int], Any] | None = None, n: int = 5, delay: float = 1.0) -> int:
    """Sum `i * i` for `i` in `range(n)`, one slow step at a time, calling `cb(i)` after each.

    The stand-in for a training loop: each step takes `delay` seconds (one second, as in the
    lecture; the lesson passes a smaller value so that the page builds quickly).

    Args:
        cb: called as `cb(epoch)` after each step, or `None` for no callback.
        n: number of steps.
        delay: seconds each step sleeps.

    Returns:
        int: `sum(i * i for i in range(n))`, 30 for `n=5`.
    """
    res = 0
    for i in range(n):
        res += i * i
        time.sleep(delay)
        if cb:
            cb(i)
    return res


def show_progress2(exclamation: str, epoch: int) -> None:
    """Print `"{exclamation}! We've finished epoch {epoch}!"`: two arguments, one too many for a callback."""
    print(f"{exclamation}! We've finished epoch {epoch}!")


def make_show_progress(exclamation: str) -> Callable[[int], None]:
    """Return a one-argument callback `f(epoch)` that remembers `exclamation`.

    Exercise 01-closure: define a function inside this one and return it. Calling the returned
    function with `epoch=3` prints `"{exclamation}! We've finished epoch 3!"` (one line).
    Each call of `make_show_progress` must return a new function with its own exclamation.

    Example::

        >>> f = make_show_progress("Nice")
        >>> f(3)
        Nice! We've finished epoch 3!
    """
    raise NotImplementedError("exercise 01-closure: make_show_progress")


def make_show_progress_partial(exclamation: str) -> partial:
    """Adapt the two-argument `show_progress2` to the one-argument callback signature.

    Exercise 01-partial-adapter: return a `functools.partial` of `show_progress2` with the
    first argument fixed to `exclamation`, so that `f(epoch)` prints like `show_progress2`.
    """
    raise NotImplementedError("exercise 01-partial-adapter: make_show_progress_partial")


class ProgressCallback:
    """A callable object used as a callback: `cb(epoch)` prints progress and remembers it.

    Exercise 01-callable-callback: implement `__init__` and `__call__`.

    - `__init__(exclamation="Awesome")` stores `exclamation` as given (`""` too) and an empty
      list `epochs`, a new one for every instance.
    - `__call__(epoch)` prints `"{exclamation}! We've finished epoch {epoch}!"` and appends
      `epoch` to `self.epochs`. The state lives in `self`, so it survives between calls.

    Attributes:
        exclamation (str): what the callback shouts.
        epochs (list[int]): the epochs it has been called with, in order.
    """

    def __init__(self, exclamation: str = "Awesome"):
        raise NotImplementedError("exercise 01-callable-callback: ProgressCallback.__init__")

    def __call__(self, epoch: int) -> None:
        raise NotImplementedError("exercise 01-callable-callback: ProgressCallback.__call__")

    def __repr__(self):
        return f"{type(self).__name__}(exclamation={self.exclamation!r}, epochs={self.epochs})"


def slow_calculation_hooks(cb: Any = None, n: int = 5, delay: float = 1.0) -> int:
    """`slow_calculation` with two optional hooks and early stopping.

    Exercise 01-hooks-runner. For each step `i` in `range(n)`:

    1. call `cb.before_calc(i)` if `cb` has a `before_calc` method;
    2. add `i * i` to the running result and sleep `delay` seconds;
    3. call `cb.after_calc(i, res)` if `cb` has an `after_calc` method, where `res` is the
       running result; if it returns something truthy, print `"stopping early"` and stop.

    A callback may define either hook, both or neither; `cb=None` means no callback.

    Returns:
        int: the running result when the loop ends (30 for `n=5`; 14 with a callback that
        stops once the result is above 10).
    """
    raise NotImplementedError("exercise 01-hooks-runner: slow_calculation_hooks")


class PrintStepCallback:
    """Print before and after each step; `*args, **kwargs` let it ignore what the hooks pass."""

    def before_calc(self, *args, **kwargs):
        print("About to start")

    def after_calc(self, *args, **kwargs):
        print("Done step")


class PrintAfterCallback:
    """Print each step's result and ask to stop once it is above 10 (a truthy return value)."""

    def after_calc(self, epoch, val):
        print(f"After {epoch}: {val}")
        if val > 10:
            return True


class SlowCalculator:
    """`slow_calculation` as an object, so that callbacks can read and change its state.

    Exercise 01-stateful-calculator: implement `callback` and `calc`.

    - `callback(name, *args)` looks up the hook `name` on `self.cb`; if `self.cb` is
      `None` or has no such hook it returns `None`, else it returns `hook(self, *args)`:
      the hook gets the calculator itself first, so it can read and change `self.res`.
    - `calc()` runs `n` steps: `self.callback("before_calc", i)`; add `i * i` to
      `self.res`; sleep `self.delay`; `self.callback("after_calc", i)` and, if that returns
      something truthy, print `"stopping early"` and stop. It returns `self.res`.

    `calc("after_calc", 3)` works too: `__call__` is another name for `callback`.

    Attributes:
        cb: the callback object (or `None`).
        res (int): the running result; hooks may change it.
    """

    def __init__(self, cb: Any = None, n: int = 5, delay: float = 1.0):
        self.cb, self.n, self.delay, self.res = cb, n, delay, 0

    def callback(self, name: str, *args) -> Any:
        raise NotImplementedError("exercise 01-stateful-calculator: SlowCalculator.callback")

    # Naming the dispatcher `__call__` lets you write `self("after_calc", i)`; both names are fine.
    def __call__(self, name: str, *args) -> Any:
        return self.callback(name, *args)

    def calc(self) -> int:
        raise NotImplementedError("exercise 01-stateful-calculator: SlowCalculator.calc")

    def __repr__(self):
        return f"{type(self).__name__}(cb={self.cb!r}, n={self.n}, res={self.res})"


class ModifyingCallback:
    """A callback that changes the calculator: it doubles `res` while it is below 3, stops above 10."""

    def after_calc(self, calc, epoch):
        print(f"After {epoch}: {calc.res}")
        if calc.res > 10:
            return True
        if calc.res < 3:
            calc.res = calc.res * 2


# ---------------------------------------------------------------------------------------------
# Dunder methods
# ---------------------------------------------------------------------------------------------


class SloppyAdder:
    """A number whose `+` is off by 0.01: `SloppyAdder(1) + SloppyAdder(2)` is `3.01`."""

    def __init__(self, o):
        self.o = o

    def __add__(self, b):
        return SloppyAdder(self.o + b.o + 0.01)

    def __repr__(self):
        return str(self.o)


class Items:
    """A list you can index like a tensor: the container protocol in four dunder methods.

    Exercise 01-dunder: implement `__len__`, `__getitem__`, `__iter__` and `__repr__`.

    - `len(items)` is the number of items.
    - `items[i]` with an `int` returns that item (negative indices count from the end; out of
      range raises `IndexError`).
    - `items[2:5]` with a `slice` returns a new `Items`.
    - `items[[0, 3]]` with a list of ints returns a new `Items` of those items, in that order.
    - `items[[True, False, ...]]` with a list of bools (a mask) returns a new `Items` of the
      items where the mask is `True`; a mask whose length differs from `len(items)` raises
      `IndexError`.
    - `iter(items)` (so `for`, `list(items)`, `in`) goes through the items.
    - `repr(items)` is `"Items(3 items) [1, 2, 3]"`; beyond 10 items it shows the first 10
      followed by `...`: `"Items(12 items) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"` (exactly 10
      items are all shown, without `...`).

    Args:
        items (Iterable): the items; they are copied into a list.
    """

    def __init__(self, items: Iterable = ()):
        self.items = list(items)

    def __len__(self) -> int:
        raise NotImplementedError("exercise 01-dunder: Items.__len__")

    def __getitem__(self, idx):
        raise NotImplementedError("exercise 01-dunder: Items.__getitem__")

    def __iter__(self):
        raise NotImplementedError("exercise 01-dunder: Items.__iter__")

    def __repr__(self) -> str:
        raise NotImplementedError("exercise 01-dunder: Items.__repr__")


class TemporaryAttrs:
    """A context manager that sets attributes of `obj` for the `with` block, then restores them.

    `with TemporaryAttrs(model, training=False): ...` is the pattern behind `torch.no_grad()`
    and friends: a change that must be undone however the block ends.

    Exercise 01-context-manager: implement `__enter__` and `__exit__`.

    - `__enter__` remembers each attribute's current value (or that it did not exist), sets
      the new values and returns `obj` (so `with TemporaryAttrs(o, x=1) as same: ...` works).
    - `__exit__` puts every old value back, and deletes the attributes that did not exist
      before (an attribute whose value was `None`, `0` or `False` did exist: it gets that
      value back). It runs even when the block raises; it must not swallow the exception (return
      `False` or `None`).

    Args:
        obj: any object whose attributes can be set.
        **attrs: attribute names and the values they take inside the block.
    """

    def __init__(self, obj: Any, **attrs):
        self.obj, self.attrs, self.old = obj, attrs, {}

    def __enter__(self):
        raise NotImplementedError("exercise 01-context-manager: TemporaryAttrs.__enter__")

    def __exit__(self, exc_type, exc, tb):
        raise NotImplementedError("exercise 01-context-manager: TemporaryAttrs.__exit__")

    def __repr__(self):
        attrs = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"{type(self).__name__}({type(self.obj).__name__}, {attrs})"


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def _check_not_empty(x: Tensor, what: str = "x") -> None:
    if x.numel() == 0:
        raise ValueError(f"{what} is empty: the statistic of no data is undefined")


def mean_abs_dev(x: Tensor) -> Tensor:
    r"""The mean absolute deviation: the average distance of the data from its mean.

    .. math:: \mathrm{MAD}(x) = \frac{1}{n} \sum_i |x_i - \bar{x}|

    Exercise 01-mad. `x` itself is left unchanged.

    Args:
        x (Tensor): floating-point data of any shape; all elements count.

    Returns:
        Tensor: a 0-dim tensor of `x`'s dtype (5.875 for `[1, 2, 4, 18]`).

    Raises:
        ValueError: if `x` is empty.
    """
    raise NotImplementedError("exercise 01-mad: mean_abs_dev")


def one_pass_stats(batches: Iterable[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    r"""Mean, variance and std in a single pass, from running sums: the textbook formula.

    .. math:: \mathrm{Var}(x) = E[x^2] - E[x]^2 = \frac{\sum x^2}{n} - \Big(\frac{\sum x}{n}\Big)^2

    Exercise 01-running-sums: the one-pass *textbook* formula, weakness included. Go through
    `batches` once (it may be a generator), keeping only three running values: the count `n`
    (an int), `s = sum(x)` and `ss = sum(x * x)`. Keep `s` and `ss` as tensors of the
    batches' own dtype (as a BatchNorm buffer would): for float32 batches, add each batch's
    `b.sum()` and `(b * b).sum()` into float32 accumulators, never into Python floats or
    float64 (`.item()` or `.double()` would hide much of the problem). At the end return
    `mean = s / n` and `var = ss / n - mean ** 2`. Do not subtract the mean (or any other
    value) from the data, do not keep the batches for a second pass, and do not clamp the
    variance: the lesson shows how this formula fails in float32 when the mean is large, and the
    graded tests expect exactly that failure (a zero or negative variance where the true one is
    positive). `RunningStats` below is the robust version.

    Args:
        batches (Iterable[Tensor]): tensors of any shape and one floating dtype; every element counts.

    Returns:
        tuple[Tensor, Tensor, Tensor]: 0-dim `(mean, var, std)`; `var` is the population
        variance (divide by `n`, like `torch.var(x, unbiased=False)`) and `std = sqrt(var)`
        (`nan` where the formula gives a negative variance).

    Raises:
        ValueError: if there is no element at all.
    """
    raise NotImplementedError("exercise 01-running-sums: one_pass_stats")


class RunningStats:
    r"""A running mean and variance that stay accurate in float32, updated one batch at a time.

    `E[x^2] - E[x]^2` subtracts two huge, nearly equal numbers when the mean is large compared
    with the spread, and float32 keeps only about 7 significant digits: the difference is noise.
    `RunningStats` never forms `E[x^2]`. It keeps the count, the mean and `M2`, the sum of
    squared deviations from the mean, and merges each batch's own statistics into them (Welford's
    algorithm, in the batched form of Chan et al.):

    .. math::
        \delta = \bar{x}_B - \bar{x}, \quad n' = n + n_B, \quad
        \bar{x}' = \bar{x} + \delta \frac{n_B}{n'}, \quad
        M_2' = M_2 + M_{2,B} + \delta^2 \frac{n \, n_B}{n'}

    Exercise 01-running-stats: implement `__init__`, `update`, `mean` and `var` with any
    numerically robust method (this merge, or sums of data shifted by a value near the mean).

    - `update(batch)` takes a tensor of any shape (every element counts), ignores empty
      batches, returns `self` and leaves the batch unchanged; the state keeps the batches' dtype
      (no float64 shortcut).
    - `n` is the number of elements seen so far.
    - `mean`, `var` (population variance, divide by `n`) and `std` are 0-dim tensors;
      reading them before any data raises `ValueError`.

    Example::

        >>> rs = RunningStats().update(torch.tensor([1., 2.])).update(torch.tensor([4., 18.]))
        >>> rs
        RunningStats(n=4, mean=6.25, var=47.1875)
    """

    def __init__(self):
        raise NotImplementedError("exercise 01-running-stats: RunningStats.__init__")

    def update(self, batch: Tensor) -> "RunningStats":
        raise NotImplementedError("exercise 01-running-stats: RunningStats.update")

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError("exercise 01-running-stats: RunningStats.mean")

    @property
    def var(self) -> Tensor:
        raise NotImplementedError("exercise 01-running-stats: RunningStats.var")

    @property
    def std(self) -> Tensor:
        return self.var.sqrt()

    def __repr__(self):
        if self.n == 0:
            return f"{type(self).__name__}(n=0)"
        return f"{type(self).__name__}(n={self.n}, mean={self.mean.item():.7g}, var={self.var.item():.7g})"


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_not_empty(x)


def covariance(x: Tensor, y: Tensor) -> Tensor:
    r"""How two variables move together: the mean product of their deviations from their means.

    .. math:: \mathrm{Cov}(x, y) = E[(x - E[x])(y - E[y])] = E[xy] - E[x]E[y]

    Exercise 01-covariance. `covariance(x, x)` is the variance of `x`. It must stay accurate
    in float32 when the mean is large against the spread (mean `1e4`, std 1, within 1%), where
    `E[xy] - E[x]E[y]` cancels to noise, and it leaves `x` and `y` unchanged.

    Args:
        x (Tensor): shape `(N,)`, floating point.
        y (Tensor): shape `(N,)`, same dtype.

    Returns:
        Tensor: a 0-dim tensor; the population covariance (divide by `N`, like
        `torch.cov(torch.stack([x, y]), correction=0)[0, 1]`).

    Raises:
        ValueError: if the shapes differ or the inputs are empty.
    """
    raise NotImplementedError("exercise 01-covariance: covariance")


def pearson(x: Tensor, y: Tensor) -> Tensor:
    r"""Pearson's correlation coefficient: covariance rescaled to lie in [-1, 1].

    .. math:: r_{xy} = \frac{\mathrm{Cov}(x, y)}{\sigma_x \sigma_y}

    Exercise 01-correlation. It measures only *linear* relation: `y = x ** 2` on data
    symmetric around 0 is perfectly related to `x` and has `r = 0`. Like `covariance`, it
    must stay accurate (within 1%) in float32 data with mean `1e4` and std 1.

    Args:
        x (Tensor): shape `(N,)`, floating point.
        y (Tensor): shape `(N,)`, same dtype.

    Returns:
        Tensor: a 0-dim tensor equal to `torch.corrcoef(torch.stack([x, y]))[0, 1]`;
        `nan` when `x` or `y` is constant (its std is 0), as with `torch.corrcoef`.

    Raises:
        ValueError: if the shapes differ or the inputs are empty.
    """
    raise NotImplementedError("exercise 01-correlation: pearson")


# ---------------------------------------------------------------------------------------------
# Softmax, sigmoid and their logs
# ---------------------------------------------------------------------------------------------


def sigmoid(x: Tensor) -> Tensor:
    r"""The logistic sigmoid, computed without overflow.

    .. math:: \sigma(x) = \frac{e^x}{1 + e^x} = \frac{1}{1 + e^{-x}}

    Exercise 01-sigmoid: `exp(x) / (1 + exp(x))` overflows for `x = 1e4` (`inf / inf` is
    `nan`) and the other form overflows for `x = -1e4`. Only ever exponentiate a number
    `<= 0`, e.g. `e = exp(-|x|)`, then pick the right form for the sign of `x`.

    Args:
        x (Tensor): any shape.

    Returns:
        Tensor: same shape, values in `[0, 1]`, equal to `torch.sigmoid(x)` to float32's
        relative precision (tiny values too: `sigmoid(-20)` is about `2e-9`, not 0) and never
        `nan` for finite `x`.
    """
    raise NotImplementedError("exercise 01-sigmoid: sigmoid")


def logsumexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    r"""`log(sum(exp(x)))` along `dim`, computed stably.

    .. math:: \log \sum_j e^{x_j} = m + \log \sum_j e^{x_j - m}, \quad m = \max_j x_j

    Exercise 01-logsumexp (with `log_softmax`): subtract the maximum before exponentiating,
    so the largest term is `exp(0) = 1` and nothing overflows (logits of 1e4 are fine). A row
    that is all `-inf` (everything masked out) gives `-inf`, not `nan`.

    Args:
        x (Tensor): shape `(*, C, *)`; `dim` is the axis to reduce.
        dim (int): the axis to reduce.
        keepdim (bool): keep the reduced axis with size 1.

    Returns:
        Tensor: `x`'s shape without `dim` (or with size 1 there), equal to `torch.logsumexp`.
    """
    raise NotImplementedError("exercise 01-logsumexp: logsumexp")


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    r"""The log of the softmax along `dim`, computed stably.

    .. math:: \log \mathrm{softmax}(x)_i = x_i - \log \sum_j e^{x_j}

    Exercise 01-logsumexp (with `logsumexp`): subtract the maximum first, then the log-sum-exp
    of the shifted logits. (`x - logsumexp(x)` is right on paper but loses digits in float32
    when the logits are large: near 1e4, float32 numbers are about 0.001 apart.)

    Args:
        x (Tensor): logits, shape `(*, C, *)`.
        dim (int): the class axis.

    Returns:
        Tensor: same shape as `x`, equal to `torch.log_softmax(x, dim)`.
    """
    raise NotImplementedError("exercise 01-logsumexp: log_softmax")


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Softmax along `dim`: `exp(x_i) / sum_j exp(x_j)`, through the stable `log_softmax`."""
    return log_softmax(x, dim).exp()


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    r"""The mean negative log-likelihood of the target classes under the softmax of `logits`.

    .. math:: \mathrm{CE} = -\frac{1}{N}\sum_n \log \mathrm{softmax}(z_n)_{y_n}

    Exercise 01-cross-entropy: use your stable `log_softmax` and pick each row's target
    column with integer-array indexing.

    Args:
        logits (Tensor): shape `(N, C)`.
        targets (Tensor): shape `(N,)`, integer class indices in `[0, C)`.

    Returns:
        Tensor: a 0-dim tensor equal to `torch.nn.functional.cross_entropy(logits, targets)`.
    """
    raise NotImplementedError("exercise 01-cross-entropy: cross_entropy")


def predict_labels(logits: Tensor, classes: list[str], threshold: float = 0.5) -> list:
    """Multi-label prediction: every class whose sigmoid probability is above `threshold`.

    Each class gets its own yes/no question, so an image may have several labels or none.

    Exercise 01-multilabel: use your `sigmoid`. A class counts when its probability is strictly
    greater than `threshold` (a logit of 0 is exactly 0.5: not predicted at the default).

    Args:
        logits (Tensor): shape `(C,)` for one item or `(N, C)` for a batch.
        classes (list[str]): the `C` class names.
        threshold (float): probability above which a class is predicted, any value in [0, 1)
            (0 included: then every class with a finite logit is predicted).

    Returns:
        list: for `(C,)`, the predicted class names in class order; for `(N, C)`, one such
        list per item.

    Raises:
        ValueError: if the last dimension of `logits` is not `len(classes)`.
    """
    raise NotImplementedError("exercise 01-multilabel: predict_labels")
