"""Grade the exercises: run the graded tests and print the points earned per exercise.

Usage::

    python -m course.grade [--lesson NN] [--impl exercises|solutions] [--timeout SECONDS]
    python -m course.grade --check [--timeout SECONDS]

The graded tests (`tests/graded/test_lNN_*.py`, marked `exercise`) run in a pytest subprocess, where
pytest-timeout cuts each test after `--timeout` seconds and `course.grade_plugin` records each
result as a JSON line. A test that even the timeout cannot stop (a hang inside C code, a crash of
the interpreter) brings the run down; the grader records it as failed and resumes after it.

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

from course import threads
from course.stubs import ROOT, MarkerError, Region, find_regions

IMPLS = ("solutions", "exercises")
GRACE = 30.0  # seconds past --timeout without a new result before the grader kills a hung run
LESSON = re.compile(r"test_l(\d\d)_")


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


def run_graded(impl: str = "exercises", lesson: str | int | None = None, timeout: float = 10,
               root: Path = ROOT, grace: float = GRACE, cancel: threading.Event | None = None) -> list[Result]:
    """Run the graded tests against `impl` and return one Result per test (and per uncollectable file).

    Setting `cancel` (from another thread) kills the run and raises Cancelled.
    """
    files = graded_files(root, lesson)
    if not files:
        where = f"tests/graded/test_l{lesson}_*.py" if lesson else "tests/graded/test_lNN_*.py"
        raise NoTests(f"no graded tests{f' for lesson {lesson}' if lesson else ''}: no file matches {root / where}")
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        options = [f"--impl={impl}", f"--timeout={timeout}", "--timeout-method=signal"]  # signal: the run goes on after a cut
        while True:
            code, log = _pytest(files, root, report, *options, hang_after=timeout + grace, cancel=cancel)
            records = read_report(report)
            if not (hung := _unfinished(records)):
                break
            # the run died inside this test: fail it, and resume with the tests still to run
            why = (f"Hung >{timeout + grace:g}s: killed by the grader (the timeout could not interrupt it)"
                   if code is None else f"Crashed the test run ({_exit_status(code)})")
            append_record(report, {**hung, "event": "result", "outcome": "failed", "message": why})
        results = _results(records)
    if code not in (0, 1, 5):  # 5: nothing left to run after a resume
        raise GradeError(f"pytest failed ({_exit_status(code)}):\n{_errors(log)}")
    if not results:
        raise NoTests(f"no test marked `exercise` in {', '.join(f.name for f in files)}")
    return results


def _pytest(files: list[Path], root: Path, report: Path, *options: str, hang_after: float,
            cancel: threading.Event | None = None) -> tuple[int | None, str]:
    """Run the graded tests in `files` under pytest in `root`, recording them in `report`; return
    pytest's exit code (None if killed as hung) and its output.

    The child runs in its own session (a test's Ctrl-C handling or stray processes cannot reach the
    grader), so however the wait ends - a Ctrl-C, `cancel`, a hang, an error - its process group is killed.
    """
    args = [*map(str, files), *options, "-m", "exercise", f"--rootdir={root}", "--continue-on-collection-errors",
            "-p", "no:cacheprovider", "-p", "course.grade_plugin", f"--grade-report={report}"]
    path = [str(root), str(ROOT), os.environ.get("PYTHONPATH", "")]  # root's packages, then course
    # one thread, sleeping when idle (course.threads): runs overlap, and graded tests are small
    env = {**os.environ, **threads.policy(threads=1), "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    env.pop("PYTEST_ADDOPTS", None)  # a learner's own pytest options must not change the grading
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=root, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = _wait(proc, report, hang_after, cancel)
        finally:
            if proc.poll() is None:  # interrupted, cancelled or hung: kill it and what its tests started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.seek(0)
        return code, log.read()


def append_record(path: Path, record: dict) -> None:
    """Append one record to a report as a JSON line (the file closed at once: a kill loses no written line)."""
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_report(path: Path) -> list[dict]:
    """The records of a report (the plugin's format), without a last line cut short by a kill."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.endswith("}")]


def _exit_status(code: int | None) -> str:
    if code is None:
        return "killed by the grader"
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"the test process exited with code {code}"


def _wait(proc: subprocess.Popen, report: Path, hang_after: float, cancel: threading.Event | None) -> int | None:
    """Wait for `proc`; None once `report` has not grown for `hang_after` seconds (the caller kills it)."""
    started = time.time()
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the grading run was cancelled") from None
            last = report.stat().st_mtime if report.exists() else started
            if time.time() - max(last, started) > hang_after:
                return None


def _unfinished(records: list[dict]) -> dict | None:
    """The start record of a test that started but has no result: the one the run died in."""
    finished = {r["nodeid"] for r in records if r["event"] == "result"}
    return next((r for r in records if r["event"] == "start" and r["nodeid"] not in finished), None)


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
    errors = [l for l in log.splitlines() if l.startswith("ERROR:")]
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
            first, *rest = textwrap.wrap(message, room) or [""]
            out.append((row + first).rstrip())
            if rest:
                out.append(" " * len(head) + _clip(" ".join(rest), room))
            if failure and failure.hint:
                out += [" " * len(head) + l for l in textwrap.wrap("hint: " + failure.hint, room)]
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


def _run_or_empty(impl: str, timeout: float, root: Path, cancel: threading.Event) -> list[Result]:
    try:
        return run_graded(impl, timeout=timeout, root=root, cancel=cancel)
    except NoTests:  # a course with no graded tests yet: its regions are reported below
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


def check(root: Path = ROOT, timeout: float = 10) -> CheckReport:
    """Check the graded tests against the solutions, the stubs and the solution regions."""
    cancel = threading.Event()
    with ThreadPoolExecutor(len(IMPLS)) as pool:  # the two runs are independent: overlap them
        futures = [pool.submit(_run_or_empty, impl, timeout, root, cancel) for impl in IMPLS]
        try:
            on_solutions, on_stubs = [f.result() for f in futures]
        except BaseException:  # a Ctrl-C, or one run failed: stop the other (and its pytest) at once
            cancel.set()
            raise
    problems = [f"{r.nodeid} could not be collected: {r.message}" for r in on_solutions if r.exercise is None]
    tests = [r for r in on_solutions if r.exercise is not None]
    problems += [f"{r.nodeid} fails on solutions: {r.message}" for r in tests if not r.passed]
    # a graded test must *fail* on the stub: a skip (or an xfail) would let the stub score nothing but look fine
    problems += [f"{r.nodeid} {'passes' if r.passed else f'is {r.outcome}'} on the untouched stub in "
                 f"exercises/ (exercise {r.exercise})" for r in on_stubs if r.exercise is not None and r.outcome != "failed"]
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
    try:
        return _check(root, args.timeout) if args.check else _grade(root, args.impl or "exercises",
                                                                      args.lesson, args.timeout)
    except GradeError as e:
        print(f"grading failed: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the pytest runs were killed on the way out (see _pytest)
        print("\ngrading interrupted", file=sys.stderr)
        return 130


def learner_python(root: Path = ROOT) -> str:
    """This interpreter as the learner would type it in `root`: `.venv/bin/python` for the course's venv."""
    executable = Path(os.path.abspath(sys.executable))  # not resolved: a venv's python is a link out of it
    for where in dict.fromkeys([Path(os.path.abspath(root)), Path(root).resolve()]):
        if executable.is_relative_to(where / ".venv"):
            return shlex.quote(str(executable.relative_to(where)))
    return shlex.quote(str(executable))


def _grade(root: Path, impl: str, lesson: str | None, timeout: float) -> int:
    print(f"Grading {impl}/{f' (lesson {lesson})' if lesson else ''}...", flush=True)
    results = run_graded(impl, lesson, timeout, root)
    print(render(results, width=max(shutil.get_terminal_size((100, 24)).columns, 60)))
    if (failed := next((r for r in results if r.exercise and not r.passed), None)):
        print(f"\nSee a failure in full: {learner_python(root)} -m pytest --impl {impl} {shlex.quote(failed.nodeid)}")
    if (errors := [r for r in results if r.exercise is None]):
        print(f"grading incomplete: {len(errors)} test file(s) could not be collected (ERROR above); "
              "their tests are not counted", file=sys.stderr)
        return 2
    return 0


def _check(root: Path, timeout: float) -> int:
    report = check(root, timeout)
    if report.problems:
        print(f"course check failed, {len(report.problems)} problem(s):", file=sys.stderr)
        print("\n".join(f"  - {p}" for p in report.problems), file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
