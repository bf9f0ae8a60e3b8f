"""Grade the exercises: run the graded tests and print the points earned per exercise.

Usage::

    python -m course.grade [--lesson NN] [--impl exercises|solutions] [--timeout SECONDS]
    python -m course.grade --check [--timeout SECONDS]

The graded tests (`tests/graded/test_lNN_*.py`, marked `exercise`) run in one pytest process per
lesson (forked from a server that has imported torch once), where pytest-timeout cuts each test
after `--timeout` seconds and `course.grade_plugin` records each result as a JSON line, and imports
the module under test once first (one verdict for all its tests when that fails). A test that even
the timeout cannot stop (a hang inside C code, a crash of the interpreter) brings the run down; the
grader records it as failed and resumes after it. Ctrl-C, SIGTERM and SIGHUP kill the runs and
remove their temporary folders.

`collect()` lists the graded tests with their exercise and points, without running them: the one
source of the points the course site shows, the same `make grade` scores.

`--check` is the course's own check (`make test`): every graded test passes on `solutions/` and
fails on the untouched stubs in `exercises/` (keep them in sync with `python -m course.stubs`), and
exercise ids match between the tests and the solution regions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from course import threads
from course.stubs import ROOT, MarkerError, Region, find_regions

IMPLS = ("solutions", "exercises")
GRACE = 30.0  # seconds past --timeout without a new result before the grader kills a hung run
LESSON = re.compile(r"test_l(\d\d)_")
PYTEST_INTERRUPTED = 2  # pytest's exit code after a KeyboardInterrupt


class GradeError(Exception):
    """Grading itself went wrong (a learner's failing exercise is not a GradeError)."""


class NoTests(GradeError):
    """No graded test to run."""


class Cancelled(GradeError):
    """The run was stopped from outside (the other run of `--check` was interrupted)."""


def module_of(nodeid: str) -> str:
    """The module a graded test file targets: tests/graded/test_l01_callbacks.py::... -> l01_callbacks."""
    return Path(nodeid.partition("::")[0]).stem.removeprefix("test_")


class _Graded:
    nodeid: str

    @property
    def lesson(self) -> str:
        """The lesson of the test file: tests/graded/test_l01_callbacks.py::... -> "01"."""
        m = LESSON.search(self.nodeid)
        return m[1] if m else "??"


@dataclass(frozen=True)
class Collected(_Graded):
    """One graded test as collected (each parametrized case on its own), before it runs."""
    nodeid: str  # tests/graded/test_l01_callbacks.py::test_closure[2]
    exercise: str  # 01-closure
    points: float
    hint: str
    function: str  # the test function's name, without the [parametrize] suffix: test_closure
    module: str  # the module it grades: l01_callbacks


@dataclass(frozen=True)
class Result(_Graded):
    """One graded test's outcome; a test file that could not be collected has outcome "error"."""
    nodeid: str  # tests/graded/test_l01_callbacks.py::test_closure
    exercise: str | None  # None for a collection error
    points: float
    hint: str
    outcome: str  # "passed", "failed", "skipped" or "error"
    message: str  # first line of the first failure, "" when passed

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def module(self) -> str:
        return module_of(self.nodeid)


# ---------------------------------------------------------------------------------------- running

def lesson_number(lesson: str | int) -> str:
    """A lesson number as the file names spell it: 1, "1" or "01" -> "01"."""
    text = str(lesson)
    if not (text.isdigit() and int(text) < 100):
        raise ValueError(f"a lesson number such as 01, not {lesson!r}")
    return f"{int(text):02d}"


def graded_files(root: Path = ROOT, lesson: str | int | None = None) -> list[Path]:
    """The graded test files, those of one lesson when `lesson` ("01") is given."""
    pattern = lesson_number(lesson) if lesson is not None else "[0-9][0-9]"
    return sorted((root / "tests" / "graded").glob(f"test_l{pattern}_*.py"))


def collect(root: Path = ROOT, lesson: str | int | None = None) -> list[Collected]:
    """The graded tests (those of one lesson when `lesson` is given), collected but not run.

    One Collected per test item, parametrized cases apart, in file order; an exercise's points are
    the sum over its items, exactly what `make grade` scores. Empty when no graded test file
    matches. Raises GradeError when a test file cannot be collected or a marker is malformed.
    """
    files = graded_files(root, lesson)
    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        report = Path(tmp) / "report.jsonl"
        code, log = _pytest(files, root, report, "--collect-only", "-q", hang_after=120)
        records = read_report(report)
    errors = [f"{r['nodeid']}: {r['message']}" for r in records if r["event"] == "collect_error"]
    if errors:
        raise GradeError("graded test files could not be collected:\n" + "\n".join(f"  {e}" for e in errors))
    if code not in (0, 5):  # 5: no test marked `exercise`
        raise GradeError(f"collecting the graded tests failed ({_exit_status(code)}):\n{_errors(log)}")
    return [Collected(**{k: v for k, v in r.items() if k != "event"}, module=module_of(r["nodeid"]))
            for r in records if r["event"] == "collected"]


Progress = Callable[[str, str, int, int, bool], None]  # (impl, lesson, tests done, of total, lesson finished)


def run_graded(impl: str = "exercises", lesson: str | int | None = None, timeout: float = 10,
               root: Path = ROOT, grace: float = GRACE, cancel: threading.Event | None = None,
               progress: Progress | None = None) -> list[Result]:
    """Run the graded tests against `impl` and return one Result per test (and per uncollectable file).

    Each lesson's tests run in a pytest process of their own, so what one lesson's code does to its
    interpreter (`torch.set_grad_enabled(False)` at import, a patched module) cannot change another
    lesson's grade. `progress` is called as tests finish. Setting `cancel` (from another thread)
    kills the run and raises Cancelled.
    """
    files = graded_files(root, lesson)
    if not files:
        where = f"tests/graded/test_l{lesson}_*.py" if lesson else "tests/graded/test_lNN_*.py"
        raise NoTests(f"no graded tests{f' for lesson {lesson}' if lesson else ''}: no file matches {root / where}")
    results = []
    for number, in_lesson in sorted(_by(files, lambda f: LESSON.search(f.name)[1]).items()):
        results += _run_lesson(impl, number, in_lesson, timeout, root, grace, cancel, progress)
    if not results:
        raise NoTests(f"no test marked `exercise` in {', '.join(f.name for f in files)}")
    return results


def _run_lesson(impl: str, lesson: str, files: list[Path], timeout: float, root: Path, grace: float,
                cancel: threading.Event | None, progress: Progress | None) -> list[Result]:
    """One lesson's graded tests in one pytest process, resumed after a test (or an import) that kills it."""
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        # signal: the run goes on after a cut
        options = [f"--impl={impl}", f"--timeout={timeout}", "--timeout-method=signal"]
        seen = [-1]

        def tell(final: bool = False):
            records = read_report(report)
            done = sum(r["event"] == "result" for r in records)
            total = next((r["count"] for r in records if r["event"] == "planned"), done)
            if progress and (final or done != seen[0]):
                seen[0] = done
                progress(impl, lesson, done, total, final)

        while True:
            code, log = _pytest(files, root, report, *options, hang_after=timeout + grace, cancel=cancel, poll=tell)
            records = read_report(report)
            if not (unfinished := _unfinished(records)):
                break
            # the run died inside a test or an import: fail what it took down, and resume with the rest
            for record in unfinished:
                append_record(report, {**record, "event": "result", "outcome": "failed",
                                       "message": _died(record, code, timeout + grace, impl)})
        tell(final=True)
        results = _results(records)
    if code not in (0, 1, 5):  # 5: nothing left to run after a resume
        raise GradeError(f"pytest failed ({_exit_status(code)}):\n{_errors(log)}")
    return results


def _pytest(files: list[Path], root: Path, report: Path, *options: str, hang_after: float,
            cancel: threading.Event | None = None, poll: Callable[[], None] | None = None) -> tuple[int | None, str]:
    """Run the graded tests in `files` under pytest in `root`, recording them in `report`; return
    pytest's exit code (None if killed as hung) and its output. `poll` is called while it runs.

    The child runs in its own session (a test's Ctrl-C handling or stray processes cannot reach the
    grader), so however the wait ends - a Ctrl-C, a SIGTERM, `cancel`, a hang, an error - its process
    group is killed.
    """
    args = [*map(str, files), *options, "-m", "exercise", f"--rootdir={root}", "--continue-on-collection-errors",
            "-p", "no:cacheprovider", "-p", "course.grade_plugin", f"--grade-report={report}"]
    path = [str(root), str(ROOT), os.environ.get("PYTHONPATH", "")]  # root's packages, then course
    # one thread, sleeping when idle (course.threads): runs overlap, and graded tests are small
    env = {**os.environ, **threads.policy(threads=1), "PYTHONPATH": os.pathsep.join(p for p in path if p),
           "COURSE_GRADER_PID": str(os.getpid())}  # the run ends itself when the grader is gone
    env.pop("PYTEST_ADDOPTS", None)  # a learner's own pytest options must not change the grading
    log = report.with_suffix(".log")
    proc = _start(args, root, env, log)
    try:
        code = _wait(proc, report, hang_after, cancel, poll)
    finally:
        if proc.poll() is None:  # interrupted, cancelled or hung: kill it and what its tests started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return code, log.read_text(errors="replace") if log.exists() else ""


# Imported once by the fork server, so each pytest run starts in a fraction of a second instead of
# importing torch afresh (seconds each, on a busy machine): a run per lesson and package stays cheap.
PRELOAD = ["pytest", "numpy", "torch", "matplotlib.pyplot"]
_forkserver = None


def _start(args: list[str], root: Path, env: dict[str, str], log: Path):
    """Start `pytest args` in `root` with `env`, its output in `log`, in a session of its own: a
    fork of the fork server where there is one (Linux, macOS), else a new interpreter."""
    global _forkserver
    if _forkserver is None:
        import multiprocessing
        if "forkserver" in multiprocessing.get_all_start_methods():
            _forkserver = multiprocessing.get_context("forkserver")
            _forkserver.set_forkserver_preload(PRELOAD)
        else:
            _forkserver = False
    if not _forkserver:
        with log.open("w") as out:
            return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=root, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc = _Forked(_forkserver.Process(target=_pytest_child, args=(args, str(root), env, str(log)),
                                       name="course-grade-pytest"))
    proc.process.start()
    return proc


def _pytest_child(args: list[str], root: str, env: dict[str, str], log: str) -> None:
    """A forked pytest run: what `python -m pytest args` in `root` with `env` would be."""
    os.setsid()
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(root)
    sys.path[:0] = [root, *env["PYTHONPATH"].split(os.pathsep)]
    import pytest
    import torch
    torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    sys.exit(pytest.main(args))


class _Forked:
    """A forked Process behind Popen's poll() and wait() (exit codes alike: -N for a signal)."""

    def __init__(self, process):
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("pytest", timeout)
        return self.process.exitcode


def append_record(path: Path, record: dict) -> None:
    """Append one record to a report as a JSON line (the file closed at once: a kill loses no written line)."""
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_report(path: Path) -> list[dict]:
    """The records of a report (the plugin's format), without a last line cut short by a kill."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _exit_status(code: int | None) -> str:
    """What ended a pytest process, in words that name the cause."""
    if code is None:
        return "killed by the grader"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    if code == PYTEST_INTERRUPTED:
        return f"KeyboardInterrupt (exit code {code})"
    return f"exit code {code}, as from os._exit({code})"


def _died(record: dict, code: int | None, hang_after: float, impl: str) -> str:
    """The verdict of a test the run died in (an "import" record: died importing the module under test)."""
    during = f" importing {impl}/{module_of(record['nodeid'])}.py" if record["event"] == "import" else ""
    if code is None:
        return f"Hung >{hang_after:g}s{during}: killed by the grader (the timeout could not interrupt it)"
    return f"Crashed{during or ' the test run'}: {_exit_status(code)}"


def _wait(proc: subprocess.Popen, report: Path, hang_after: float, cancel: threading.Event | None,
          poll: Callable[[], None] | None = None) -> int | None:
    """Wait for `proc`; None once `report` has not grown for `hang_after` seconds (the caller kills it)."""
    started = time.time()
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the grading run was cancelled") from None
            if poll is not None:
                poll()
            last = report.stat().st_mtime if report.exists() else started
            if time.time() - max(last, started) > hang_after:
                return None


def _unfinished(records: list[dict]) -> list[dict]:
    """The tests the run died in: the one that started with no result, or all those of an import
    that never finished (their "import" records)."""
    finished = {r["nodeid"] for r in records if r["event"] == "result"}
    imported = {r["module"] for r in records if r["event"] == "imported"}
    for r in records:
        if r["event"] == "import" and r["module"] not in imported:
            return [{**t, "event": "import"} for t in r["tests"] if t["nodeid"] not in finished]
    return [r for r in records if r["event"] == "start" and r["nodeid"] not in finished][:1]


def _results(records: list[dict]) -> list[Result]:
    """One Result per test and per uncollectable file, in the order they ran (a resume repeats errors)."""
    results = {}
    for r in records:
        if r["event"] == "result":
            fields = {k: v for k, v in r.items() if k != "event"}
            results.setdefault(r["nodeid"], Result(**fields))
        elif r["event"] == "collect_error":
            results.setdefault(r["nodeid"], Result(r["nodeid"], None, 0, "", "error", r["message"]))
    return list(results.values())


def _errors(log: str, lines: int = 25) -> str:
    """What went wrong, from pytest's output: its `ERROR:` lines (a usage error), else the output's end."""
    errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
    return "\n".join(errors or log.rstrip().splitlines()[-lines:])


# -------------------------------------------------------------------------------------- rendering

def _by(items, key) -> dict:
    groups = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _score(results: list[Result]) -> tuple[str, str]:
    """The points earned of those possible ("3/5"), and as a percentage ("60%"; "-" when none possible)."""
    earned, possible = sum(r.points for r in results if r.passed), sum(r.points for r in results)
    return f"{earned:g}/{possible:g}", f"{100 * earned / possible:.0f}%" if possible else "-"


def _verdict(tests: list[Result]) -> str:
    passed = sum(r.passed for r in tests)
    return "PASS" if passed == len(tests) else "FAIL" if passed == 0 else "PARTIAL"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def _two_lines(message: str, room: int) -> list[str]:
    """`message` wrapped at `room`: at its last ": " when the rest then fits the second line (so
    "...: exit code 0, as from os._exit(0)" keeps its cause together), else at word boundaries."""
    if len(message) <= room:
        return [message] if message else [""]
    cut = message.rfind(": ", 0, room)
    if cut > 0 and len(message) - cut - 2 <= room:
        return [message[:cut + 1], message[cut + 2:]]
    return textwrap.wrap(message, room, break_on_hyphens=False)


def render(results: list[Result], width: int = 100) -> str:
    """The learner's table: per lesson, one row per exercise, a subtotal; then the grand total."""
    graded = [r for r in results if r.exercise is not None]
    id_width = max([len(r.exercise) for r in graded] + [len("exercise"), len("subtotal")])
    head = f"  {'exercise':<{id_width}}  {'points':>7}  {'verdict':<7}  "
    room = max(width - len(head), 20)  # for the failure and the hint
    out = []
    for lesson, in_lesson in sorted(_by(results, lambda r: r.lesson).items()):
        out += ["", f"Lesson {lesson}", head + "first failure", "  " + "-" * (len(head) - 2 + room)]
        for r in in_lesson:
            if r.exercise is None:
                out.append(_clip(f"  ERROR: {r.nodeid} could not be collected: {r.message}", width))
        tests = [r for r in in_lesson if r.exercise is not None]
        for exercise, runs in _by(tests, lambda r: r.exercise).items():
            points, _ = _score(runs)
            failure = next((r for r in runs if not r.passed), None)
            row = f"  {exercise:<{id_width}}  {points:>7}  {_verdict(runs):<7}  "
            # a stub's message repeats the row's exercise id: drop it, to leave room for the function
            message = failure.message.replace(f"exercise {exercise}: ", "") if failure else ""
            # two lines at most: enough for "SyntaxError: ... (l01_callbacks.py, line 12)" to show its line
            first, *rest = _two_lines(message, room)
            out.append((row + first).rstrip())
            if rest:
                out.append(" " * len(head) + _clip(" ".join(rest), room))
            if failure and failure.hint:
                out += [" " * len(head) + line for line in textwrap.wrap("hint: " + failure.hint, room)]
        points, percent = _score(tests)
        out.append(f"  {'subtotal':<{id_width}}  {points:>7}  {percent}")
    points, percent = _score(graded)
    exercises = _by(graded, lambda r: r.exercise)
    done = sum(_verdict(runs) == "PASS" for runs in exercises.values())
    out += ["", "=" * min(width, len(head) + room),
            f"Total: {points} points ({percent}); {done} of {len(exercises)} exercises pass"]
    return "\n".join(out[1:])


# ------------------------------------------------------------------------------------------ check

@dataclass
class CheckReport:
    problems: list[str]
    tests: int
    lessons: int
    exercises: int

    def summary(self) -> str:
        return (f"{self.tests} graded tests in {self.lessons} lessons: all pass on solutions, all fail on "
                f"the stubs; {self.exercises} exercises, each with a region and a test")


def _run_or_empty(impl: str, lesson: str, timeout: float, root: Path, cancel: threading.Event,
                  progress: Progress | None) -> list[Result]:
    try:
        return run_graded(impl, lesson, timeout=timeout, root=root, cancel=cancel, progress=progress)
    except NoTests:  # a lesson with no graded tests yet: its regions are reported below
        return []


def solution_regions(root: Path = ROOT) -> tuple[dict[str, list[Region]], list[str]]:
    """Module name -> its solution regions, and the problems of files whose markers are broken."""
    regions, problems = {}, []
    for path in sorted((root / "solutions").glob("*.py")):
        try:
            regions[path.stem] = find_regions(path.read_text(), f"solutions/{path.name}")
        except (MarkerError, SyntaxError) as e:
            problems.append(f"solutions/{path.name}: {e}")
    return regions, problems


def check(root: Path = ROOT, timeout: float = 10, progress: Progress | None = None) -> CheckReport:
    """Check the graded tests against the solutions, the stubs and the solution regions.

    Each lesson runs on each package in a pytest process of its own, as many at once as there are cores.
    """
    cancel = threading.Event()
    lessons = sorted({LESSON.search(f.name)[1] for f in graded_files(root)})
    jobs = [(impl, lesson) for lesson in lessons for impl in IMPLS]
    with ThreadPoolExecutor(max(1, min(len(jobs), max(2, threads.cores())))) as pool:  # independent runs: overlap them
        futures = {job: pool.submit(_run_or_empty, *job, timeout, root, cancel, progress) for job in jobs}
        try:
            on_solutions, on_stubs = ([r for (impl, _), f in futures.items() if impl == package for r in f.result()]
                                      for package in IMPLS)
        except BaseException:  # a Ctrl-C, a SIGTERM, or one run failed: stop the others (and their pytest) at once
            cancel.set()
            for future in futures.values():
                future.cancel()
            raise
    problems = [f"{r.nodeid} could not be collected: {r.message}" for r in on_solutions if r.exercise is None]
    tests = [r for r in on_solutions if r.exercise is not None]
    problems += [f"{r.nodeid} fails on solutions: {r.message}" for r in tests if not r.passed]
    # a graded test must *fail* on the stub: a skip (or an xfail) would let the stub score nothing but look fine
    problems += [f"{r.nodeid} {'passes' if r.passed else f'is {r.outcome}'} on the untouched stub in "
                 f"exercises/ (exercise {r.exercise})"
                 for r in on_stubs if r.exercise is not None and r.outcome != "failed"]
    regions, broken = solution_regions(root)
    problems += broken
    tested = {(r.module, r.exercise): r.nodeid.partition("::")[0] for r in tests}
    for (module, exercise), file in tested.items():
        if module not in regions:
            problems.append(f"{file} tests exercise {exercise}, but solutions/{module}.py does not exist")
        elif exercise not in {g.id for g in regions[module]}:
            problems.append(f"{file} tests exercise {exercise}, but solutions/{module}.py has no region {exercise}")
    for module, found in regions.items():
        problems += [f"region {g.id} (solutions/{module}.py:{g.start}, in {g.function}) has no graded test"
                     for g in found if (module, g.id) not in tested]
    return CheckReport(problems, len(tests), len({r.lesson for r in tests}), len({r.exercise for r in tests}))


# -------------------------------------------------------------------------------------------- CLI

def _lesson(text: str) -> str:
    try:
        return lesson_number(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    seconds = float(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the timeout must be positive")
    return seconds


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.grade", description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", type=_lesson, help="grade only this lesson (e.g. 01)")
    parser.add_argument("--impl", choices=IMPLS, help="package to grade (default: exercises)")
    parser.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per test (default: 10)")
    parser.add_argument("--check", action="store_true",
                        help="check the course itself: tests pass on solutions, fail on stubs, ids match")
    args = parser.parse_args(argv)
    if args.check and (args.lesson or args.impl):
        parser.error("--check runs every lesson on both packages; drop --lesson and --impl")
    previous = _stop_on_signals()
    try:
        return _check(root, args.timeout) if args.check else _grade(root, args.impl or "exercises",
                                                                      args.lesson, args.timeout)
    except GradeError as e:
        print(f"grading failed: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the pytest runs were killed on the way out (see _pytest)
        print("\ngrading interrupted", file=sys.stderr)
        return 130
    except Stopped as e:  # likewise; and the temporary folders were removed
        print(f"\ngrading stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Stopped(BaseException):
    """A SIGTERM or SIGHUP (a `timeout` wrapper, a closed terminal): unwinds like a Ctrl-C, so the
    pytest runs are killed and the temporary folders removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> dict:
    """Turn SIGTERM and SIGHUP into Stopped; the handlers they replace, to restore."""
    def stop(signum, frame):
        raise Stopped(signum)
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, stop)
            for signum in (getattr(signal, name, None) for name in ("SIGTERM", "SIGHUP")) if signum is not None}


class Reporter:
    """Grading progress on stderr: on a terminal one line that updates; elsewhere one line per lesson run."""

    def __init__(self, stream=None, live: bool | None = None, name_impl: bool = False):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.name_impl = name_impl  # --check: two packages' runs overlap
        self.started = {}

    def __call__(self, impl: str, lesson: str, done: int, total: int, final: bool) -> None:
        started = self.started.setdefault((impl, lesson), time.perf_counter())
        what = f"  {impl + ' ' if self.name_impl else ''}lesson {lesson}: {done}/{total} tests"
        if self.live:
            end = f" in {time.perf_counter() - started:.1f} s\n" if final else ""
            print(f"\r\033[K{what}{end}", end="", file=self.stream, flush=True)
        elif final:
            print(f"{what} in {time.perf_counter() - started:.1f} s", file=self.stream, flush=True)


def learner_python(root: Path = ROOT) -> str:
    """This interpreter as the learner would type it in `root`: `.venv/bin/python` for the course's venv."""
    executable = Path(os.path.abspath(sys.executable))  # not resolved: a venv's python is a link out of it
    for where in dict.fromkeys([Path(os.path.abspath(root)), Path(root).resolve()]):
        if executable.is_relative_to(where / ".venv"):
            return shlex.quote(str(executable.relative_to(where)))
    return shlex.quote(str(executable))


def _grade(root: Path, impl: str, lesson: str | None, timeout: float) -> int:
    print(f"Grading {impl}/{f' (lesson {lesson})' if lesson else ''}...", flush=True)
    results = run_graded(impl, lesson, timeout, root, progress=Reporter())
    print(render(results, width=max(shutil.get_terminal_size((100, 24)).columns, 60)))
    if (failed := next((r for r in results if r.exercise and not r.passed), None)):
        print(f"\nSee a failure in full: {learner_python(root)} -m pytest --impl {impl} {shlex.quote(failed.nodeid)}")
    if (errors := [r for r in results if r.exercise is None]):
        print(f"grading incomplete: {len(errors)} test file(s) could not be collected (ERROR above); "
              "their tests are not counted", file=sys.stderr)
        return 2
    return 0


def _check(root: Path, timeout: float) -> int:
    report = check(root, timeout, progress=Reporter(live=False, name_impl=True))
    if report.problems:
        print(f"course check failed, {len(report.problems)} problem(s):", file=sys.stderr)
        print("\n".join(f"  - {p}" for p in report.problems), file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
