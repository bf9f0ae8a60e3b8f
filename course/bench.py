"""The course's benchmarks: one script that prints the figures docs/benchmarks.md records.

    python -m course.bench [judge] [runner] [lessons] [--rounds N] [--lessons 00 03] [--quick]

- judge: 300 steps at batch size 2 of a CNN trained through the Runner's own `fit` and through the
  challenge judge's (its own batches, loss, gradient and SGD step, the parameters checked every step).
- runner: one epoch of lesson 03's CNN through the Runner (with lesson 00's DataLoader and with
  lesson 03's BatchDataLoader) against a bare PyTorch loop; wall and CPU time (goal: <= 1.05x bare).
- lessons: each lesson's execution time alone and beside one busy process, under the course's thread
  policy (goal: busy/alone <= 1.5).

The variants of a figure run in interleaved rounds, who goes first rotating, so a drift in the
machine's load hits them alike; each prints its median and its median ratio to the first variant.
`--quick` shrinks the judge and runner figures to seconds and runs one round (a lesson still runs
whole: pick a short one with `--lessons 00`): a check that the script works, not a measurement.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from course import lessons, threads

TOPICS = ("judge", "runner", "lessons")


def interleaved(ways: dict, rounds: int) -> None:
    """Time each of `ways` (name -> function that makes the function to time), `rounds` times, and print
    its median wall and CPU seconds and their median ratios to the first way's."""
    names, times = list(ways), {name: [] for name in ways}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            work = ways[name]()
            wall, cpu = time.perf_counter(), time.process_time()
            work()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    first = times[names[0]]
    for name, t in times.items():
        ratios = [statistics.median(a[i] / b[i] for a, b in zip(t, first)) for i in (0, 1)]
        print(f"  {name:<22} wall {statistics.median(w for w, _ in t):7.2f} s {ratios[0]:.3f}x | "
              f"CPU {statistics.median(c for _, c in t):7.2f} s {ratios[1]:.3f}x", flush=True)


def judge(args, rounds: int) -> None:
    import torch

    from course.challenges import judge
    from course.seed import set_seed
    from solutions import l03_cnn_hooks as l03
    steps = 20 if args.quick else 300
    x, y = torch.randn(2 * steps, 1, 28, 28), torch.randint(0, 10, (2 * steps,))

    def way(judged: bool):
        set_seed(0)
        data = l03.DataBunch(l03.BatchDataLoader(l03.Dataset(x, y), 2, shuffle=True), [], c_in=1, c_out=10)
        learn, run = l03.get_learn_run([8, 16, 32, 64, 64], data, 0.4, l03.conv_layer, leak=0.1, sub=0.4, maxv=6.0)
        if judged:
            return partial(judge.fit, run, learn, learn.model, learn.opt, x, y, 2, epochs=1, probe=False)
        return partial(run.fit, 1, learn)
    print(f"judge: {steps} steps at batch size 2, lesson 03's CNN [8, 16, 32, 64, 64], "
          f"{torch.get_num_threads()} thread(s)")
    interleaved({"the Runner's fit": partial(way, False), "the judge's fit": partial(way, True)}, rounds)


def runner(args, rounds: int) -> None:
    import torch
    import torch.nn.functional as F

    from solutions import l00_training_loop as l00
    from solutions import l03_cnn_hooks as l03
    n = 2000 if args.quick else 50_000
    try:
        from course.data import get_mnist
        x, y, xv, yv = get_mnist(normalize=False)
    except Exception:  # noqa: BLE001 - no data here: random images take the same time
        x, y, xv, yv = torch.rand(50_000, 784), torch.randint(0, 10, (50_000,)), torch.rand(10_000, 784), \
            torch.randint(0, 10, (10_000,))
    (x, xv), y, yv = l03.normalize_to(x[:n], xv[:n // 5]), y[:n], yv[:n // 5]
    torch.manual_seed(0)
    base = l03.init_cnn(l03.get_cnn_model(l03.DataBunch(None, None, c_in=784, c_out=10), [8, 16, 32, 32],
                                          l03.conv_layer))

    def bare(model, opt, bs):
        for idx in torch.randperm(n).split(bs):
            loss = F.cross_entropy(model(x[idx].view(-1, 1, 28, 28)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(xv), 2 * bs):
                pred = model(xv[i:i + 2 * bs].view(-1, 1, 28, 28))
                F.cross_entropy(pred, yv[i:i + 2 * bs]).item(), l03.accuracy(pred, yv[i:i + 2 * bs]).item()

    def with_runner(model, opt, bs, loader):
        data = l03.DataBunch(loader(l03.Dataset(x, y), bs, shuffle=True), loader(l03.Dataset(xv, yv), 2 * bs),
                             c_in=784, c_out=10)
        cbs = [l03.Recorder, partial(l03.AvgStatsCallback, l03.accuracy, report=lambda line: None),
               partial(l03.DeviceCallback, "cpu"), partial(l03.BatchTransformXCallback, l03.view_tfm(1, 28, 28))]
        l03.Runner(cb_funcs=cbs).fit(1, l03.Learner(model, opt, F.cross_entropy, data))

    def way(train, bs):
        model = copy.deepcopy(base)
        return partial(train, model, torch.optim.SGD(model.parameters(), lr=0.4), bs)
    for bs in (64, 512):
        print(f"runner: one epoch of lesson 03's CNN [8, 16, 32, 32] on {n} images at batch size {bs}, "
              f"{torch.get_num_threads()} thread(s)")
        interleaved({"bare loop": partial(way, bare, bs),
                     "Runner + item loader": partial(way, partial(with_runner, loader=l00.DataLoader), bs),
                     "Runner + batch loader": partial(way, partial(with_runner, loader=l03.BatchDataLoader), bs)},
                    rounds)


def lesson_times(args, rounds: int) -> None:
    paths = [lessons.find(ref) for ref in args.lessons] or lessons.all_lessons()
    env = threads.environ()
    print(f"lessons: alone and beside one busy process, {env['OMP_NUM_THREADS']} thread(s), "
          f"OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}")
    with tempfile.TemporaryDirectory(prefix="course-bench-") as out:
        for path in paths:
            def way(busy: bool):
                def execute():
                    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                    try:
                        lessons.run(path, force=True, executed_dir=Path(out), env=env)
                    finally:
                        if hog:
                            hog.kill()
                            hog.wait()
                return execute
            print(f" {path.name} (goal: beside a busy process <= 1.5x alone; CPU is this script's, not the kernel's)")
            interleaved({"alone": partial(way, False), "beside a busy process": partial(way, True)}, rounds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.bench", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("topics", nargs="*", help=f"from {', '.join(TOPICS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; lessons: 1)")
    parser.add_argument("--lessons", nargs="+", default=[], help="lesson numbers or paths (default: all)")
    parser.add_argument("--quick", action="store_true", help="small runs, one round: checks the script")
    args = parser.parse_args(argv)
    if set(args.topics) - set(TOPICS):
        parser.error(f"no benchmark {', '.join(sorted(set(args.topics) - set(TOPICS)))}; they are {', '.join(TOPICS)}")
    threads.configure()  # before torch is imported (the topics import it): the wait policy takes effect
    for topic in args.topics or TOPICS:
        rounds = args.rounds or (1 if args.quick or topic == "lessons" else 5)
        {"judge": judge, "runner": runner, "lessons": lesson_times}[topic](args, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
