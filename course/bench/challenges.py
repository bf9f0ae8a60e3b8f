"""What the challenge judge's loop costs: training steps at batch size 2 through the course Runner's
own `fit`, and through the judge's (`course.challenges.judge.fit`: its own batches, loss, gradient
and SGD step, the parameters compared with a snapshot before every step). `python -m course.bench.challenges`

Both train lesson 03's CNN (nfs [8, 16, 32, 64, 64]) on the same synthetic images, in this process
(no seed process, no fence: those cost a second or two per seed, not per step); best of 3.
"""

from __future__ import annotations

import time

import torch

from course import threads
from course.challenges import judge
from course.seed import set_seed
from solutions import l03_cnn_hooks as l03

STEPS, BS, REPEATS = 300, 2, 3


def seconds(judged: bool) -> float:
    set_seed(0)
    x, y = torch.randn(STEPS * BS, 1, 28, 28), torch.randint(0, 10, (STEPS * BS,))
    train = l03.BatchDataLoader(l03.Dataset(x, y), BS, shuffle=True)
    data = l03.DataBunch(train, [], c_in=1, c_out=10)  # no validation batches
    learn, run = l03.get_learn_run([8, 16, 32, 64, 64], data, 0.4, l03.conv_layer, leak=0.1, sub=0.4, maxv=6.0)
    start = time.perf_counter()
    if judged:
        judge.fit(run, learn, learn.model, learn.opt, x, y, BS, epochs=1, probe=False)
    else:
        run.fit(1, learn)
    return time.perf_counter() - start


def main() -> None:
    n = threads.configure()
    plain = min(seconds(False) for _ in range(REPEATS))
    judged = min(seconds(True) for _ in range(REPEATS))
    print(f"{STEPS} steps at batch size {BS}, {n} thread(s), best of {REPEATS}:")
    print(f"  the Runner's fit   {plain * 1e3 / STEPS:7.3f} ms/step")
    print(f"  the judge's fit    {judged * 1e3 / STEPS:7.3f} ms/step")
    print(f"  ratio judge / plain {judged / plain:6.3f}")


if __name__ == "__main__":
    main()
