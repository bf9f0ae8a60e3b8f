"""How much the course's training loop costs on top of a bare PyTorch loop (lesson 03's CNN).

    python -m course.bench.runner [--rounds 5] [--bs 64 512] [--n 50000]

For each batch size, one epoch (training, then validation with loss and accuracy) of lesson 03's
CNN on MNIST, run three ways on identical model copies and identical data:

- `bare`: a plain PyTorch loop over the tensors (randperm, index, forward, loss, backward, step);
- `runner+item-loader`: the course's Runner and lesson 03's callbacks, batches from lesson 00's
  DataLoader (one `ds[i]` per item, then `collate`);
- `runner+batch-loader`: the same Runner, batches from lesson 03's `BatchDataLoader` (one `ds[idx]`
  per batch).

The three run interleaved, `--rounds` times, in a rotating order, and the script prints each one's
median time and its median ratio to `bare` within the same round (rounds pair the measurements, so
a busy machine slows all three alike), both in wall-clock time and in the CPU time of this process
(`time.process_time`): with one torch thread (`OMP_NUM_THREADS=1`) the CPU time counts the work
alone, so it is the figure to trust on a machine shared with other jobs.

Then the Runner's own cost per batch: many tiny batches (batch size 2, as lesson 04 trains) of a
one-parameter model, Runner vs bare loop, in microseconds. Without MNIST (no COURSE_DATA_DIR) it
uses random images of the same shape: the timings are the same.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from solutions import l00_training_loop as l00
from solutions.l03_cnn_hooks import (
    AvgStatsCallback, BatchDataLoader, BatchTransformXCallback, DataBunch, Dataset, DeviceCallback, Learner,
    Recorder, Runner, accuracy, conv_layer, get_cnn_model, init_cnn, normalize_to, view_tfm,
)

NFS = [8, 16, 32, 32]


def load(n: int):
    try:
        from course.data import get_mnist
        x_train, y_train, x_valid, y_valid = get_mnist(normalize=False)
        source = "MNIST"
    except Exception:  # no data here: random images time the same
        x_train, y_train = torch.rand(50_000, 784), torch.randint(0, 10, (50_000,))
        x_valid, y_valid = torch.rand(10_000, 784), torch.randint(0, 10, (10_000,))
        source = "random images (MNIST not found)"
    x_train, x_valid = normalize_to(x_train[:n], x_valid[:n // 5])
    return x_train, y_train[:n], x_valid, y_valid[:n // 5], source


def bare_epoch(model, opt, x_train, y_train, x_valid, y_valid, bs):
    model.train()
    for idx in torch.randperm(len(x_train)).split(bs):
        xb, yb = x_train[idx].view(-1, 1, 28, 28), y_train[idx]
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    total_loss = total_acc = 0.0
    with torch.no_grad():
        for start in range(0, len(x_valid), 2 * bs):
            xb, yb = x_valid[start:start + 2 * bs].view(-1, 1, 28, 28), y_valid[start:start + 2 * bs]
            pred = model(xb)
            total_loss += F.cross_entropy(pred, yb).item() * len(yb)
            total_acc += accuracy(pred, yb).item() * len(yb)
    return total_loss / len(x_valid), total_acc / len(x_valid)


def runner_epoch(model, opt, x_train, y_train, x_valid, y_valid, bs, loader):
    data = DataBunch(loader(Dataset(x_train, y_train), bs, shuffle=True), loader(Dataset(x_valid, y_valid), 2 * bs),
                     c_in=784, c_out=10)
    cbs = [Recorder, partial(AvgStatsCallback, accuracy, report=lambda line: None), partial(DeviceCallback, "cpu"),
           partial(BatchTransformXCallback, view_tfm(1, 28, 28))]
    Runner(cb_funcs=cbs).fit(1, Learner(model, opt, F.cross_entropy, data))


def time_epochs(bs: int, rounds: int, tensors) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    torch.manual_seed(0)
    base = init_cnn(get_cnn_model(DataBunch(None, None, c_in=784, c_out=10), NFS, conv_layer))
    ways = {
        "bare": bare_epoch,
        "runner+item-loader": partial(runner_epoch, loader=l00.DataLoader),
        "runner+batch-loader": partial(runner_epoch, loader=BatchDataLoader),
    }
    times, cpu_times = {name: [] for name in ways}, {name: [] for name in ways}
    names = list(ways)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
            model = copy.deepcopy(base)
            opt = torch.optim.SGD(model.parameters(), lr=0.4)
            start, cpu_start = time.perf_counter(), time.process_time()
            ways[name](model, opt, *tensors, bs)
            times[name].append(time.perf_counter() - start)
            cpu_times[name].append(time.process_time() - cpu_start)
    return times, cpu_times


def per_batch_overhead(n_batches: int = 5000, bs: int = 2, rounds: int = 3) -> tuple[float, float]:
    """Microseconds per training batch: bare loop and Runner (with the lesson's callbacks), on a model
    so small that the loop itself is most of the time."""
    x, y = torch.randn(n_batches * bs, 784), torch.randint(0, 2, (n_batches * bs,))
    x_valid, y_valid = x[:2 * bs], y[:2 * bs]

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1, 2))

        def forward(self, xb):
            return xb.sum(dim=(1, 2, 3)).unsqueeze(1) * self.w

    bare, runner = [], []
    for _ in range(rounds):
        model = Tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        start = time.perf_counter()
        bare_epoch(model, opt, x, y, x_valid, y_valid, bs)
        bare.append((time.perf_counter() - start) / n_batches * 1e6)
        model = Tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        start = time.perf_counter()
        runner_epoch(model, opt, x, y, x_valid, y_valid, bs, BatchDataLoader)
        runner.append((time.perf_counter() - start) / n_batches * 1e6)
    return statistics.median(bare), statistics.median(runner)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bs", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--n", type=int, default=50_000, help="training images (validation: n / 5)")
    args = parser.parse_args(argv)
    *tensors, source = load(args.n)
    print(f"lesson 03 CNN {NFS}, one epoch on {len(tensors[0])} training / {len(tensors[2])} validation "
          f"{source}, {args.rounds} interleaved rounds, torch threads: {torch.get_num_threads()}")
    for bs in args.bs:
        times, cpu_times = time_epochs(bs, args.rounds, tensors)
        for name in times:
            wall, cpu = times[name], cpu_times[name]
            wall_ratio = statistics.median(t / b for t, b in zip(wall, times["bare"]))
            cpu_ratio = statistics.median(t / b for t, b in zip(cpu, cpu_times["bare"]))
            print(f"  bs {bs:4d}  {name:20s} wall {statistics.median(wall):6.2f} s {wall_ratio:.3f}x bare | "
                  f"cpu {statistics.median(cpu):6.2f} s {cpu_ratio:.3f}x bare")
    bare_us, runner_us = per_batch_overhead()
    print(f"per-batch cost at bs 2 (tiny model): bare loop {bare_us:.0f} us, Runner {runner_us:.0f} us, "
          f"Runner overhead {runner_us - bare_us:.0f} us a batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
