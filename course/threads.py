"""The course's CPU thread policy: fast on an idle machine, never ten times slower on a busy one.

PyTorch's CPU kernels run on an OpenMP thread pool (GNU libgomp in the Linux wheels). By default
each thread that finishes its share of an op *spins* (busy-waits) for the others. When another
process holds one of the cores, the thread sharing that core runs in short time slices while its
partner burns the other core spinning: lesson 00 took 163 s instead of 13 s on a 2-core machine
while one `yes > /dev/null` ran. The policy:

1. ``OMP_WAIT_POLICY=PASSIVE``: a waiting thread sleeps instead of spinning, so a thread that
   lost its core costs time only for its own share of the work, and gives way to the busy process.
   libgomp reads it once, when torch is imported: it is an environment variable, set before.
2. As many threads as there are idle cores (75% idle or more) at start-up (measured over `SAMPLE_S` from /proc/stat;
   the 1-minute load average where there is none), at least one, at most the physical cores:
   2 on an idle 2-core machine (2.83 s per CNN epoch against 4.02 s with one), 1 when another
   process keeps a core busy.
3. A choice made by the user wins: ``OMP_NUM_THREADS`` (and ``OMP_WAIT_POLICY``) already in the
   environment are kept.

Where it is applied, so lessons need nothing: `course.lessons` starts each lesson's kernel with
`environ()`; the grader runs its pytest children with one thread (two grading runs overlap in
`--check`, and graded tests are small); importing `course.seed` (the conftest, every lesson,
the challenges) calls `configure()`. Other code calls `configure()` before importing torch, or
starts a program under the policy: ``python -m course.threads jupyter lab``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# torch's OpenMP pool, MKL's (the same pool in torch's wheels) and NumPy's OpenBLAS
COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SAMPLE_S = 0.25  # how long the idle cores are measured for
_chosen: int | None = None  # the thread count configure() applied to this process


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


def idle_cores(seconds: float = SAMPLE_S) -> float:
    """How many of this machine's CPUs were idle over the next `seconds`."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, all but guest time

    cpus = os.cpu_count() or 1
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:  # no /proc: the load average, which lags by a minute
        return max(0.0, cpus - os.getloadavg()[0])
    return cpus * (idle1 - idle0) / max(total1 - total0, 1)


def choose_threads() -> int:
    """The thread count for a new process now: the idle cores within 1..cores(), a core counted idle
    from 75% up (a core that others use a quarter of the time would slow every op of a second thread)."""
    return max(1, min(cores(), int(idle_cores() + 0.25)))


def policy(threads: int | None = None, env: dict | None = None) -> dict[str, str]:
    """The environment variables of the policy, for a process started now.

    `threads` fixes the thread count (the grader uses 1); otherwise ``OMP_NUM_THREADS`` from `env`
    (default: os.environ) wins, else `choose_threads()` measures the idle cores.
    """
    env = os.environ if env is None else env
    if threads is None:
        threads = int(env["OMP_NUM_THREADS"]) if env.get("OMP_NUM_THREADS", "").isdigit() else choose_threads()
    counts = dict.fromkeys(COUNTS, str(threads))
    return {**counts, "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY", "PASSIVE")}


def environ(threads: int | None = None) -> dict[str, str]:
    """os.environ with the policy applied: the environment to start a child process with."""
    return {**os.environ, **policy(threads)}


def configure(threads: int | None = None) -> int:
    """Apply the policy to this process (once; later calls return the first choice): the number of threads.

    Call it before torch is imported, so the wait policy takes effect; after, it still sets torch's
    thread count (a learner's own kernel that imported torch first), but the threads keep spinning.
    """
    global _chosen
    if _chosen is None:
        chosen = policy(threads)
        os.environ.update(chosen)  # child processes (DataLoader workers, a kernel) inherit it
        _chosen = int(chosen["OMP_NUM_THREADS"])
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(_chosen)
    return _chosen


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
