"""Run every benchmark of the course: `python -m course.bench` (`make bench`).

Each module `course/bench/<topic>.py` is a script that prints its own figures and ratios
(`python -m course.bench.<topic>` runs one). They run one after the other, each in a fresh
interpreter, so one benchmark's threads, caches and allocations never skew the next; the exit
status is 1 if any of them failed. docs/benchmarks.md records the latest figures.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def topics() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def main(argv=None) -> int:
    chosen = list(argv if argv is not None else sys.argv[1:]) or topics()
    unknown = sorted(set(chosen) - set(topics()))
    if unknown:
        print(f"no benchmark {', '.join(unknown)}; the benchmarks are {', '.join(topics()) or 'none yet'}",
              file=sys.stderr)
        return 2
    summary = []
    for topic in chosen:
        print(f"\n=== course.bench.{topic}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"course.bench.{topic}"])
        summary.append((topic, code, time.perf_counter() - start))
    print("\n=== summary")
    for topic, code, seconds in summary:
        print(f"{topic:<20} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:6.1f} s")
    return int(any(code for _, code, _ in summary))


if __name__ == "__main__":
    sys.exit(main())
