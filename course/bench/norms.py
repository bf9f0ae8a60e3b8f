"""Forward + backward time of lesson 04's norm layers against PyTorch's, on the lesson's shapes.

    python -m course.bench.norms [--rounds 7] [--bs 2 32 512] [--threads 1]

For each batch size, the activations the lesson's CNN feeds its five norm layers - (bs, 8, 14, 14),
(bs, 16, 7, 7), (bs, 32, 4, 4), (bs, 64, 2, 2), (bs, 64, 1, 1) - go forward and backward through
one layer of each kind in training mode, as one step of the CNN would; the time is the sum over the
five shapes. Each pair (ours, PyTorch's) is measured interleaved, `--rounds` times in alternating
order, and the script prints each one's median time and the median of the per-round ratios (a
round pairs the two, so a busy machine slows both alike):

- `BatchNorm` and `FastBatchNorm` (section 7's hand-written backward) vs `nn.BatchNorm2d`;
- `RunningBatchNorm` and `FastRunningBatchNorm` vs `nn.BatchNorm2d`;
- `LayerNorm` vs `nn.LayerNorm((C, H, W))`, and `GroupNorm(4, C)` vs `nn.GroupNorm(4, C)`.

(No instance norm: on the last layer's 1 x 1 maps it has nothing to normalise, and
`nn.InstanceNorm2d` refuses such an input in training.) Speed is not a goal of the lesson's layers
(they are written to be read); this script records what the readable versions cost.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from solutions.l04_norms import (
    NFS, BatchNorm, FastBatchNorm, FastRunningBatchNorm, GroupNorm, LayerNorm, RunningBatchNorm,
)

SIZES = [14, 7, 4, 2, 1]  # the spatial size after each of the CNN's stride-2 convs on 28 x 28

# (ours, PyTorch's), each made as `factory(channels, size)` for an input of shape (bs, channels, size, size)
PAIRS = {
    "BatchNorm": (lambda c, s: BatchNorm(c), lambda c, s: nn.BatchNorm2d(c)),
    "FastBatchNorm": (lambda c, s: FastBatchNorm(c), lambda c, s: nn.BatchNorm2d(c)),
    "RunningBatchNorm": (lambda c, s: RunningBatchNorm(c), lambda c, s: nn.BatchNorm2d(c)),
    "FastRunningBatchNorm": (lambda c, s: FastRunningBatchNorm(c), lambda c, s: nn.BatchNorm2d(c)),
    "LayerNorm": (lambda c, s: LayerNorm(), lambda c, s: nn.LayerNorm((c, s, s))),
    "GroupNorm": (lambda c, s: GroupNorm(4, c), lambda c, s: nn.GroupNorm(4, c)),
}


def shapes(bs: int) -> list[tuple[int, int, int, int]]:
    return [(bs, c, s, s) for c, s in zip(NFS, SIZES)]


def step_time(layers, inputs, grads, iters: int) -> float:
    """Seconds per forward + backward of every layer on its input, averaged over `iters` repeats."""
    start = time.perf_counter()
    for _ in range(iters):
        for layer, x, g in zip(layers, inputs, grads):
            layer(x).backward(g)
    return (time.perf_counter() - start) / iters


def round_times(factories: dict, bs: int, rounds: int, iters: int | None = None) -> dict[str, list[float]]:
    """Seconds per step of the five layers at batch size `bs` made by each of `factories`
    (name -> `factory(channels, size)`), one per round, the factories measured interleaved, in
    reversed order every other round. `iters` steps per measurement (default: about the same amount of
    work at every batch size)."""
    inputs = [torch.randn(shape, requires_grad=True) for shape in shapes(bs)]
    grads = [torch.randn(shape) for shape in shapes(bs)]
    layers = {name: [f(x.shape[1], x.shape[2]) for x in inputs] for name, f in factories.items()}
    iters = iters or max(2, int(2000 / bs))
    for ls in layers.values():
        step_time(ls, inputs, grads, 2)  # warm up
    times = {name: [] for name in layers}
    for r in range(rounds):
        for name in (list(layers) if r % 2 == 0 else list(layers)[::-1]):
            times[name].append(step_time(layers[name], inputs, grads, iters))
    return times


def compare(name: str, bs: int, rounds: int) -> tuple[float, float, float]:
    """(ours, theirs, median ratio) in seconds per step of the five layers at batch size `bs`."""
    ours_f, theirs_f = PAIRS[name]
    times = round_times({"ours": ours_f, "theirs": theirs_f}, bs, rounds)
    ratios = [a / b for a, b in zip(times["ours"], times["theirs"])]
    return statistics.median(times["ours"]), statistics.median(times["theirs"]), statistics.median(ratios)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--bs", type=int, nargs="+", default=[2, 32, 512])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"forward + backward of the five norm layers of the lesson's CNN, training mode, "
          f"{args.threads} thread(s), median of {args.rounds} rounds")
    print(f"{'layer':20s} {'bs':>4s} {'ours (ms)':>10s} {'PyTorch (ms)':>13s} {'ratio':>7s}")
    for name in PAIRS:
        for bs in args.bs:
            ours, theirs, ratio = compare(name, bs, args.rounds)
            print(f"{name:20s} {bs:4d} {ours * 1e3:10.3f} {theirs * 1e3:13.3f} {ratio:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
