"""The course's CPU thread policy: on a given machine, the same thread count whatever its load.

Why a fixed count: a float sum split over two threads adds its numbers in another order than on one
thread, and rounding makes the results differ in the last bits - enough, over a training run, to move
an accuracy by a point. A count chosen from the machine's load at start-up (this module's earlier
policy) made a lesson print other numbers when the machine was busy. So the count is the number of
physical cores this process may use, whatever the load: re-running on the same machine prints the same
numbers, idle or busy.

Why ``OMP_WAIT_POLICY=PASSIVE``: by default a thread that finishes its share of an op spins until the
others are done. When another process holds one of the cores, the spinning thread burns the core its
partner needs (lesson 00 took 163 s instead of 13 s beside one busy process on 2 cores). A sleeping
thread gives the core away. libgomp reads the variable once, when torch is imported.

A user's own ``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` win. Nothing happens on import: the tools apply
the policy where they start work (`course.lessons` for each lesson's kernel, the grader with one
thread, the challenge runner) and ``python -m course.threads CMD`` runs a program under it (`make lab`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# torch's OpenMP pool, MKL's (the same pool in torch's wheels) and NumPy's OpenBLAS
COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cores() -> int:
    """The physical cores this process may run on (hyperthread siblings count once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return max(1, (os.cpu_count() or 2) // 2)
    siblings = set()
    for cpu in cpus:
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        siblings.add(path.read_text().strip() if path.exists() else str(cpu))
    return max(1, len(siblings))


def policy(threads: int | None = None, env: dict | None = None) -> dict[str, str]:
    """The policy's environment variables: `threads` if given, else the user's ``OMP_NUM_THREADS`` from
    `env` (default: os.environ), else `cores()`; the user's wait policy, else PASSIVE."""
    env = os.environ if env is None else env
    if threads is None:
        threads = int(env["OMP_NUM_THREADS"]) if env.get("OMP_NUM_THREADS", "").isdigit() else cores()
    return {**dict.fromkeys(COUNTS, str(threads)), "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY", "PASSIVE")}


def environ(threads: int | None = None) -> dict[str, str]:
    """os.environ with the policy applied: the environment to start a child process with."""
    return {**os.environ, **policy(threads)}


def configure(threads: int | None = None) -> int:
    """Apply the policy to this process (a tool's entry point calls it) and return the thread count.

    Call it before torch is imported, so that the wait policy takes effect; after, it still sets
    torch's thread count, but the threads keep spinning.
    """
    chosen = policy(threads)
    os.environ.update(chosen)  # child processes inherit it
    count = int(chosen["OMP_NUM_THREADS"])
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    return count


def main(argv: list[str] | None = None) -> int:
    """``python -m course.threads``: print the policy; ``python -m course.threads CMD ...``: run CMD under it."""
    argv = sys.argv[1:] if argv is None else argv
    env = environ()
    if not argv:
        print(" ".join(f"{k}={env[k]}" for k in (*COUNTS, "OMP_WAIT_POLICY")))
        return 0
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        print(f"python -m course.threads: cannot run {argv[0]}: {e}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
