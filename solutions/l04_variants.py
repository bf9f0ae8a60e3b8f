"""Lesson 04's comparison-only layers, and the helpers its experiments measure with. Not for use;
`solutions.l04_norms` holds the layers to use.

- `NoGradBatchNorm`: the lecture notebook's BatchNorm (fast.ai course-v3, 07_batchnorm): batch
  statistics under `torch.no_grad()` and with the unbiased variance.
- `TranscriptRunningBatchNorm`: RunningBatchNorm with the debiasing the lecture describes in words
  (a running product of the momentum). The video's code is not published; this is our reading.
- `compare_with_torch`, `max_diffs`, `gradchecked`: our layers against PyTorch's and against each other;
  `batch_vars`, `raw_running_var`, `recorded_ops`: what a layer computes inside; `seed_table`: training
  runs over seeds; `PlainAttribute`.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from solutions.l04_norms import BatchNorm, RunningBatchNorm, batch_stats, clamp_var, ema_update, norm_affine, \
    rbn_momentum, running_mean_var


class NoGradBatchNorm(BatchNorm):
    """The lecture notebook's BatchNorm: its batch statistics are computed under `torch.no_grad()`
    (no gradient flows through the mean and variance) and with `x.var` (the unbiased variance) for
    normalising as well as for the running variance."""

    def update_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True)
            ema_update(self.means, mean, self.mom)
            ema_update(self.vars, var, self.mom)
        return mean, var


class TranscriptRunningBatchNorm(RunningBatchNorm):
    """RunningBatchNorm with the debiasing as the lecture's transcript describes it: a debiasing
    amount that starts at the momentum and is multiplied by the momentum at every step (momentum,
    momentum squared, momentum cubed...), the averages of the sums, squares and counts divided by it
    for the first 100 steps. The momentum is the layer's weight of the new batch, `rbn_momentum`."""

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5):
        super().__init__(nf, mom, eps)
        self.register_buffer("dbias", torch.tensor(1.0))
        self.register_buffer("step", torch.tensor(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            sums, sqrs = self.update_stats(x)
            self.dbias *= rbn_momentum(self.mom, x.shape[0])
            self.step += 1
        else:
            sums, sqrs = self.sums, self.sqrs
        count = self.count
        if self.step < 100:
            sums, sqrs, count = sums / self.dbias, sqrs / self.dbias, count / self.dbias
        mean, var = running_mean_var(sums, sqrs, count)
        return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)


# ------------------------------------------------------------------ the lesson's measurements


class PlainAttribute(nn.Module):
    """A module that keeps a tensor as a plain attribute, not a buffer: not saved, not moved by `.to()`."""

    def __init__(self):
        super().__init__()
        self.means = torch.zeros(3)


def compare_with_torch(make, shape, steps=3, mean=1.0, std=3.0) -> dict[str, float]:
    """Largest absolute differences between `make(C)` and nn.BatchNorm2d(C), same weights and inputs:
    after `steps` training steps on inputs of `shape` with the given mean and std, the training output,
    the gradients for x, mults and adds and the running statistics; then an evaluation output."""
    c = shape[1]
    ours, theirs = make(c), nn.BatchNorm2d(c)
    with torch.no_grad():
        ours.mults.copy_(torch.randn(c, 1, 1))
        ours.adds.copy_(torch.randn(c, 1, 1))
        theirs.weight.copy_(ours.mults.flatten())
        theirs.bias.copy_(ours.adds.flatten())
    for _ in range(steps):
        x1 = (torch.randn(shape) * std + mean).requires_grad_()
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ours(x1), theirs(x2)
        g = torch.randn(shape)
        (y1 * g).sum().backward()
        (y2 * g).sum().backward()
    diff = {"train out": (y1 - y2), "grad x": x1.grad - x2.grad,
            "grad mults": ours.mults.grad.flatten() - theirs.weight.grad,
            "grad adds": ours.adds.grad.flatten() - theirs.bias.grad,
            "run. mean": ours.means.flatten() - theirs.running_mean,
            "run. var": ours.vars.flatten() - theirs.running_var}
    ours.eval(), theirs.eval()
    x = torch.randn(shape) * std + mean
    diff["eval out"] = ours(x) - theirs(x)
    return {k: v.abs().max().item() for k, v in diff.items()}


def batch_vars(model, images, bs: int, n_batches: int) -> dict[int, torch.Tensor]:
    """Per norm layer `model[i][2]` (i < 5): the batch variance of every channel at its input, over
    `n_batches` random batches of `bs` of `images`."""
    found = {i: [] for i in range(5)}
    hooks = [model[i][2].register_forward_pre_hook(
        lambda m, inp, i=i: found[i].append(batch_stats(inp[0])[1].flatten())) for i in range(5)]
    with torch.no_grad():
        for _ in range(n_batches):
            model(images[torch.randint(0, len(images), (bs,))])
    for h in hooks:
        h.remove()
    return {i: torch.cat(v) for i, v in found.items()}


def raw_running_var(rbn: RunningBatchNorm) -> torch.Tensor:
    """The variance from RunningBatchNorm's averages without any guard: Q/n - (S/n)^2."""
    return rbn.sqrs / rbn.count - (rbn.sums / rbn.count) ** 2


def recorded_ops(t: torch.Tensor) -> int:
    """The number of operations autograd recorded to compute `t`: the nodes of its backward graph,
    without the AccumulateGrad nodes that store the gradients of leaves."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            todo.extend(f for f, _ in fn.next_functions)
    return sum(type(fn).__name__ != "AccumulateGrad" for fn in seen)


def gradchecked(layer, shape) -> bool:
    """gradcheck of `layer` (in float64) for its input, mults and adds, from the same state each call."""
    layer = layer.double()
    state = {k: v.clone() for k, v in layer.state_dict().items()}

    def f(x, mults, adds):
        layer.load_state_dict(state)
        return torch.func.functional_call(layer, {"mults": mults, "adds": adds}, (x,))

    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    mults, adds = (torch.randn(shape[1], 1, 1, dtype=torch.float64, requires_grad=True) for _ in range(2))
    return torch.autograd.gradcheck(f, (x, mults, adds))


def max_diffs(a, b, batches) -> dict[str, str]:
    """Largest differences of outputs and of gradients (input, mults, adds) between layers `a` and `b`,
    given the same batches and the same gradients from above."""
    worst = torch.zeros(4)
    for xb in batches:
        x1, x2, g = xb.clone().requires_grad_(), xb.clone().requires_grad_(), torch.randn_like(xb)
        y1, y2 = a(x1), b(x2)
        (y1 * g).sum().backward()
        (y2 * g).sum().backward()
        pairs = [(y1, y2), (x1.grad, x2.grad), (a.mults.grad, b.mults.grad), (a.adds.grad, b.adds.grad)]
        worst = torch.maximum(worst, torch.stack([(p - q).abs().max() for p, q in pairs]))
        a.zero_grad(), b.zero_grad()
    return {k: f"{v:.1e}" for k, v in zip(["output", "grad x", "grad mults", "grad adds"], worst.tolist())}


def seed_table(train, runs: dict, seeds=(0, 1, 2)) -> dict:
    """Call `train(seed=seed, **kwargs)` -> (validation loss, accuracy) for each of `runs` ({label:
    kwargs}) and seed; print each seed's accuracy, their mean and spread (standard deviation) and the
    median loss; return {label: accuracies}."""
    print(f"{'':34s} {'accuracy per seed':>22s} {'mean':>7s} {'spread':>7s} {'median loss':>12s}")
    table = {}
    for label, kwargs in runs.items():
        losses, accs = zip(*[train(seed=seed, **kwargs) for seed in seeds])
        table[label] = accs
        print(f"{label:34s} {' '.join(f'{a:6.4f}' for a in accs):>22s} {statistics.mean(accs):7.4f} "
              f"{statistics.stdev(accs):7.4f} {statistics.median(losses):12.4g}")
    return table
