"""Each lesson's execution time alone and beside one busy process, under several thread settings.

    python -m course.bench.lessons [LESSON ...] [--settings course,1-thread,2-threads] [--rounds N]

For every lesson and round the settings run interleaved, each once alone and once while this script
keeps one core busy (a Python loop it starts and stops itself), so a drift in the machine's load
hits every setting alike. A setting's time is its median over the rounds. Printed per lesson:

    alone, busy       seconds to execute the lesson (a fresh kernel, `course.lessons.run`)
    busy/alone        the slowdown from one busy process        (goal for `course`: <= 1.5)
    alone/best        against the fastest setting alone         (goal for `course`: <= 1.1)

Settings: `course` is the policy itself (`course.threads`: idle cores measured as each kernel
starts, OMP_WAIT_POLICY=PASSIVE); `N-threads` is torch's default spinning OpenMP with N threads;
`N-passive` is N threads with OMP_WAIT_POLICY=PASSIVE. Run it on an otherwise quiet machine: other
work running beside it is load that "alone" does not account for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import lessons, threads
from course.paths import shown

SETTINGS = ("course", "1-thread", "2-threads", "2-passive")
DEFAULT = ("course", "1-thread", "2-threads")
GOAL_BUSY, GOAL_BEST = 1.5, 1.1


def environment(setting: str) -> dict[str, str]:
    """The kernel environment of a setting (OMP_* of the caller's own environment left out)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "GOMP_", "OPENBLAS_"))}
    if setting == "course":
        return {**base, **threads.policy(env=base)}
    count, _, kind = setting.partition("-")
    extra = {"OMP_WAIT_POLICY": "PASSIVE"} if kind == "passive" else {}
    return {**base, "OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, **extra}


def busy_process() -> subprocess.Popen:
    """One process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def execute(path: Path, setting: str, busy: bool, out: Path) -> tuple[float, str]:
    """Seconds to execute `path` under `setting`, with or without a busy process beside it, and the
    thread count it ran with."""
    hog = busy_process() if busy else None
    try:
        if hog:
            time.sleep(1)  # running, and visible to the idle-core measurement of `course`
        env = environment(setting)  # for `course`, measured now: after the busy process started
        start = time.perf_counter()
        lessons.run(path, force=True, executed_dir=out, env=env)
        return time.perf_counter() - start, env["OMP_NUM_THREADS"]
    finally:
        if hog:
            hog.kill()
            hog.wait()


def _setting(text: str) -> str:
    count, _, kind = text.partition("-")
    if text != "course" and not (count.isdigit() and int(count) > 0 and kind in ("thread", "threads", "passive")):
        raise argparse.ArgumentTypeError(f"a setting is course, N-threads or N-passive, not {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.bench.lessons", description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or paths (default: all)")
    parser.add_argument("--settings", default=",".join(DEFAULT),
                        help=f"comma separated, from {', '.join(SETTINGS)} (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the median counts (default: 1)")
    args = parser.parse_args(argv)
    try:
        settings = [_setting(s.strip()) for s in args.settings.split(",") if s.strip()]
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    paths = [lessons.find(ref) for ref in args.lessons] or lessons.all_lessons()
    print(f"{threads.cores()} cores; settings {', '.join(settings)}; {args.rounds} round(s); "
          f"load average now {os.getloadavg()[0]:.2f}", flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        for path in paths:
            times = {(s, busy): [] for s in settings for busy in (False, True)}
            chosen = {False: [], True: []}  # the thread counts `course` chose
            for _ in range(args.rounds):
                for setting in settings:
                    for busy in (False, True):
                        seconds, count = execute(path, setting, busy, Path(tmp))
                        times[setting, busy].append(seconds)
                        if setting == "course":
                            chosen[busy].append(count)
            median = {key: statistics.median(values) for key, values in times.items()}
            best = min(median[s, False] for s in settings)
            print(f"\n{shown(path)}\n  {'setting':<10} {'alone s':>8} {'busy s':>8} "
                  f"{'busy/alone':>11} {'alone/best':>11}")
            for setting in settings:
                alone, busy = median[setting, False], median[setting, True]
                print(f"  {setting:<10} {alone:8.1f} {busy:8.1f} {busy / alone:11.2f} {alone / best:11.2f}")
            if "course" in settings:
                slowdown, vs_best = median["course", True] / median["course", False], median["course", False] / best
                ok = slowdown <= GOAL_BUSY and vs_best <= GOAL_BEST
                failed |= not ok
                print(f"  course: busy/alone {slowdown:.2f} (goal <= {GOAL_BUSY}), alone/best {vs_best:.2f} "
                      f"(goal <= {GOAL_BEST}): {'met' if ok else 'NOT met'}; threads chosen alone "
                      f"{','.join(chosen[False])}, busy {','.join(chosen[True])}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
