"""What the challenge runner's rule checks cost: training steps at batch size 2 with and without
the RuleGuard callback (and its optimiser hook). `python -m course.bench.challenges`

Both runs train lesson 03's CNN (nfs [8, 16, 32, 64, 64]) through lesson 03's Runner on the same
synthetic images; the ratio is guarded time over unguarded time, measured in one run, best of 3.
"""

from __future__ import annotations

import time

import torch

from course import challenges as ch
from course.seed import set_seed
from solutions import l03_cnn_hooks as l03

STEPS, BS, REPEATS = 300, 2, 3


def seconds(guarded: bool) -> float:
    set_seed(0)
    x, y = torch.randn(STEPS * BS, 1, 28, 28), torch.randint(0, 10, (STEPS * BS,))
    loader = ch.TrainLoader(x, y, BS)
    data = l03.DataBunch(loader, ch.NoValidation(x, y), c_in=1, c_out=10)
    learn, run = l03.get_learn_run([8, 16, 32, 64, 64], data, 0.4, l03.conv_layer, leak=0.1, sub=0.4, maxv=6.0)
    if guarded:
        run.cbs.append(ch.RuleGuard(loader, BS, epochs=1))
    start = time.perf_counter()
    run.fit(1, learn)
    return time.perf_counter() - start


def main() -> None:
    threads = ch.apply_thread_policy()
    plain = min(seconds(False) for _ in range(REPEATS))
    guarded = min(seconds(True) for _ in range(REPEATS))
    print(f"{STEPS} steps at batch size {BS}, {threads} thread(s), best of {REPEATS}:")
    print(f"  without the rule guard  {plain * 1e3 / STEPS:7.3f} ms/step")
    print(f"  with the rule guard     {guarded * 1e3 / STEPS:7.3f} ms/step")
    print(f"  ratio guarded / plain   {guarded / plain:7.3f}")


if __name__ == "__main__":
    main()
