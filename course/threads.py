"""The course's CPU thread policy, applied where the tools start work (never on import).

The thread count is fixed per machine: a float sum split over other threads adds in another order, so a
count that followed the machine's load made a lesson print other numbers when the machine was busy.
``OMP_WAIT_POLICY=PASSIVE``: a thread done with its share sleeps instead of spinning on a core that another
process needs (docs/benchmarks.md). A user's ``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` win.
``python -m course.threads [CMD ...]`` prints the policy, or runs CMD under it (`make lab`).
"""

import os
import sys

import psutil

COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # torch's OpenMP and MKL, NumPy's BLAS


def cores() -> int:
    """Physical cores (hyperthreads count once), but no more than the CPUs this process may use."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(psutil.cpu_count(logical=False) or 1, usable or 1))


def policy(threads: int | None = None, env: dict | None = None) -> dict[str, str]:
    """The policy's variables: `threads`, else `env`'s (default os.environ) ``OMP_NUM_THREADS``, else `cores()`."""
    env = os.environ if env is None else env
    if threads is None:
        threads = int(env["OMP_NUM_THREADS"]) if env.get("OMP_NUM_THREADS", "").isdigit() else cores()
    return {**dict.fromkeys(COUNTS, str(threads)), "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY", "PASSIVE")}


def environ(threads: int | None = None) -> dict[str, str]:
    """os.environ with the policy applied: for a child process."""
    return {**os.environ, **policy(threads)}


def configure(threads: int | None = None) -> int:
    """Apply the policy to this process and its children; the thread count. Call it before torch is
    imported: torch's OpenMP reads the wait policy once."""
    chosen = policy(threads)
    os.environ.update(chosen)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(chosen["OMP_NUM_THREADS"]))
    return int(chosen["OMP_NUM_THREADS"])


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(" ".join(f"{k}={v}" for k, v in policy().items()))
    else:
        try:
            os.execvpe(sys.argv[1], sys.argv[1:], environ())
        except OSError as e:
            print(f"python -m course.threads: cannot run {sys.argv[1]}: {e}", file=sys.stderr)
            sys.exit(127)
