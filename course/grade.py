"""Grade the exercises: run the graded tests and print the points earned per exercise.

Usage::

    python -m course.grade [--lesson NN] [--impl exercises|solutions] [--timeout SECONDS]
    python -m course.grade --check [--lesson NN] [--timeout SECONDS]

How a run is isolated, cut and cleaned up: CONTRIBUTING.md, "How the grader runs". In short: a
pytest session per lesson under pytest-xdist (a crashed worker fails its test and is replaced) and
pytest-timeout (SIGALRM: an ordinary timeout costs no restart); the watchdog in `_watch` kills a test
that even the timeout cannot stop, `GRACE` seconds later. `course.grade_plugin` writes the report.

`collect()` lists the graded tests with their points without running them (the site shows them).
`--check` (`make test`): every graded test passes on `solutions/` and fails on the stubs, exercise
ids match the solution regions, and `pytest -k ID` selects exactly the tests of exercise ID.
"""

from __future__ import annotations

import argparse
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from course import threads
from course.grade_plugin import DIED_IMPORTING, append_record, module_of, read_report
from course.paths import IMPLS, ROOT
from course.procs import kill_session
from course.stubs import MarkerError, find_regions

GRACE = 30.0  # seconds past --timeout before the grader kills a test's process as hung
LESSON = re.compile(r"test_l(\d\d)_")
STUB = "NotImplementedError: exercise "  # how an untouched stub fails


class GradeError(Exception):
    """Grading itself went wrong (a learner's failing exercise is not a GradeError)."""


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
    selected_by: tuple[str, ...] = field(default=(), compare=False)  # the ids whose `-k ID` selects it


@dataclass(frozen=True)
class Result(_Graded):
    """One graded test's outcome; a test file that could not be collected has outcome "error"."""
    nodeid: str
    exercise: str | None  # None for a collection error
    points: float
    hint: str
    outcome: str  # "passed", "failed", "skipped" or "error"
    message: str  # first line of the first failure, "" when passed
    selected_by: tuple[str, ...] = field(default=(), compare=False)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def module(self) -> str:
        return module_of(self.nodeid)

    @property
    def untouched(self) -> bool:
        """Failed as the stub does: the learner has not started the exercise."""
        return self.message.startswith(f"{STUB}{self.exercise}:")


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


def temp_base() -> Path:
    """The one folder of every grader's temporary folders, each named after its grader's pid; those of
    a grader that is gone (killed with SIGKILL: no clean-up ran) are removed."""
    base = Path(tempfile.gettempdir()) / "course-grade"
    base.mkdir(exist_ok=True)
    for old in base.iterdir():
        pid = old.name.partition("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return base


@contextmanager
def _tempdir():
    with tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-", dir=temp_base()) as tmp:
        yield Path(tmp)


def _pytest_env(root: Path) -> dict[str, str]:
    path = [str(root), str(ROOT), os.environ.get("PYTHONPATH", "")]  # root's packages, then course
    # one thread, sleeping when idle (course.threads): lessons run side by side, and graded tests are small
    env = {**os.environ, **threads.policy(threads=1), "PYTHONPATH": os.pathsep.join(p for p in path if p),
           "COURSE_GRADER_PID": str(os.getpid())}  # the run ends itself when the grader is gone
    env.pop("PYTEST_ADDOPTS", None)  # a learner's own pytest options must not change the grading
    return env


def _pytest_args(files: list[Path], root: Path, report: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", *map(str, files), "-m", "exercise", f"--rootdir={root}", "-q",
            "-p", "no:cacheprovider", "-p", "course.grade_plugin", f"--grade-report={report}"]


def collect(root: Path = ROOT, lesson: str | int | None = None) -> list[Collected]:
    """The graded tests (those of one lesson when `lesson` is given), collected but not run.

    One Collected per test item, parametrized cases apart, in file order; an exercise's points are
    the sum over its items, exactly what `make grade` scores. Empty when no graded test file
    matches. Raises GradeError when a test file cannot be collected or a marker is malformed.
    """
    files = graded_files(root, lesson)
    if not files:
        return []
    with _tempdir() as tmp:
        report = tmp / "report.jsonl"
        run = subprocess.run([*_pytest_args(files, root, report), "--collect-only"], cwd=root, env=_pytest_env(root),
                             capture_output=True, text=True, timeout=600)
        records = read_report(report)
    _usage_errors(records)
    errors = [f"{r['nodeid']}: {r['message']}" for r in records if r["event"] == "collect_error"]
    if errors:
        raise GradeError("graded test files could not be collected:\n" + "\n".join(f"  {e}" for e in errors))
    if run.returncode not in (0, 5):  # 5: no test marked `exercise`
        raise GradeError(f"collecting the graded tests failed (exit code {run.returncode}):\n"
                         f"{_errors(run.stdout + run.stderr)}")
    return [Collected(r["nodeid"], r["exercise"], r["points"], r["hint"], r["function"], module_of(r["nodeid"]),
                      tuple(r["selected_by"])) for r in records if r["event"] == "collected"]


Progress = Callable[[str, str, int, int, bool], None]  # (impl, lesson, tests done, of total, lesson finished)


def run_graded(impl: str = "exercises", lesson: str | int | None = None, timeout: float = 10,
               root: Path = ROOT, grace: float = GRACE, progress: Progress | None = None,
               jobs: int | None = None, memory: int | None = None) -> list[Result]:
    """Run the graded tests against `impl` and return one Result per test (and per uncollectable file).

    Each lesson runs in a pytest session of its own, `jobs` of them at once (default: the cores);
    `memory` caps the bytes each test process may allocate (default: half of this machine's memory).
    """
    files = graded_files(root, lesson)
    if not files:
        where = f"tests/graded/test_l{lesson}_*.py" if lesson else "tests/graded/test_lNN_*.py"
        raise GradeError(f"no graded tests{f' for lesson {lesson}' if lesson else ''}: no file matches {root / where}")
    lessons = sorted({LESSON.search(f.name)[1] for f in files})
    results = [r for run in _run_all([(impl, n) for n in lessons], files, timeout, root, grace, progress, jobs, memory)
               for r in run]
    if not results:
        raise GradeError(f"no test marked `exercise` in {', '.join(f.name for f in files)}")
    return results


def _run_all(runs: list[tuple[str, str]], files: list[Path], timeout: float, root: Path, grace: float,
             progress: Progress | None, jobs: int | None, memory: int | None) -> list[list[Result]]:
    """Each (impl, lesson) run, `jobs` at once; a Ctrl-C, a signal or an error stops them all (and
    kills their processes) before it propagates."""
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 if hasattr(os, "sysconf") else None
    cancel = threading.Event()
    with ThreadPoolExecutor(max(1, min(len(runs), jobs or threads.cores()))) as pool:
        futures = [pool.submit(_run_lesson, impl, n, [f for f in files if f"test_l{n}_" in f.name], timeout, root,
                               grace, memory, cancel, progress) for impl, n in runs]
        try:
            return [f.result() for f in futures]
        except BaseException:
            cancel.set()  # the other runs kill their sessions and end; the pool waits for them
            raise


def _run_lesson(impl: str, lesson: str, files: list[Path], timeout: float, root: Path, grace: float,
                memory: int | None, cancel: threading.Event, progress: Progress | None) -> list[Result]:
    """One lesson's graded tests on `impl`, in one pytest session under pytest-xdist (`-n 1`)."""
    with _tempdir() as tmp:
        report, log = tmp / "report.jsonl", tmp / "log.txt"
        args = [*_pytest_args(files, root, report), f"--impl={impl}", f"--timeout={timeout}",
                # a crashed test is not rerun: one restart per crashing test at most, and a lesson has fewer
                "--timeout-method=signal", "-n", "1", "--max-worker-restart=100",
                *([f"--grade-memory={memory}"] if memory else [])]
        with log.open("w") as out:
            proc = subprocess.Popen(args, cwd=root, env=_pytest_env(root), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            code = _watch(proc, report, timeout + grace, cancel, lambda done, total, final=False:
                          progress and progress(impl, lesson, done, total, final))
        finally:  # however the run ended: kill what is left of its session, learner code's processes too
            kill_session(proc.pid)
            proc.wait()
        records = read_report(report)
        output = log.read_text(errors="replace")
    _usage_errors(records)
    results = _results(records, impl, timeout + grace)
    if code not in (0, 1, 5) and not results:
        raise GradeError(f"pytest failed (exit code {code}):\n{_errors(output)}")
    return results


def _watch(proc: subprocess.Popen, report: Path, hang_after: float, cancel: threading.Event,
           progress: Callable) -> int:
    """Wait for the run; tell `progress`; kill a test process `hang_after` seconds into one test."""
    seen = -1
    while True:
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if cancel.is_set():
            raise GradeError("the grading run was cancelled")
        records = read_report(report)
        done = {r["nodeid"] for r in records if r["event"] == "result"}
        total = len({r["nodeid"] for r in records if r["event"] == "collected"})
        if proc.poll() is not None:
            progress(len(done), total, True)
            return proc.returncode
        if len(done) != seen:
            seen = len(done)
            progress(len(done), total)
        running = [r for r in records if r["event"] == "start" and r["nodeid"] not in done]
        hung = {r["nodeid"] for r in records if r["event"] == "hung"}
        if running and running[-1]["nodeid"] not in hung and time.time() - running[-1]["time"] > hang_after:
            append_record(report, {"event": "hung", "nodeid": running[-1]["nodeid"]})
            # the worker and what the test started (which may hold the worker's pipes): xdist then reports
            # the test as crashed, and starts a new worker
            kill_session(proc.pid, spare={proc.pid})


def _exit_status(code) -> str:
    """What ended a test process, in words that name the cause."""
    if not isinstance(code, int):
        return "the test process died"
    if code == -signal.SIGKILL:
        return "killed by SIGKILL (out of memory?)"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}, as from os._exit({code})"


def _results(records: list[dict], impl: str, hang_after: float) -> list[Result]:
    """One Result per collected test (in collection order) and per uncollectable file."""
    fields = {r["nodeid"]: r for r in records if r["event"] == "collected"}
    hung = {r["nodeid"] for r in records if r["event"] == "hung"}
    importing, died, results = {}, {}, {}  # module -> whether an import is under way; -> its crash verdict
    for r in records:
        module = r.get("module") or module_of(r.get("nodeid", ""))
        if r["event"] in ("import", "imported"):
            importing[module] = r["event"] == "import"
        elif r["event"] == "result" and r["nodeid"] not in results:
            message = r["message"]
            if r["crashed"] is not None:  # the worker died running it
                during = f" importing {impl}/{module}.py" if importing.get(module) else ""
                message = (f"Hung >{hang_after:g}s{during}: killed by the grader (the timeout could not interrupt it)"
                           if r["nodeid"] in hung and r["crashed"] == -signal.SIGKILL else
                           f"Crashed{during or ' the test run'}: {_exit_status(r['crashed'])}")
                if during:
                    died[module] = message
                importing[module] = False
            results[r["nodeid"]] = (r["outcome"], message)
    out = []
    for nodeid, f in fields.items():
        outcome, message = results.get(nodeid, ("failed", "not run: the grading run ended before this test"))
        if message == DIED_IMPORTING:
            message = died.get(module_of(nodeid), message)
        out.append(Result(nodeid, f["exercise"], f["points"], f["hint"], outcome, message, tuple(f["selected_by"])))
    errors = {r["nodeid"]: r["message"] for r in records if r["event"] == "collect_error"}
    return out + [Result(nodeid, None, 0, "", "error", message) for nodeid, message in errors.items()]


def _usage_errors(records: list[dict]) -> None:
    if (errors := list(dict.fromkeys(r["message"] for r in records if r["event"] == "usage_error"))):
        raise GradeError("\n".join(f"ERROR: {e}" for e in errors))


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


def _lines(message: str, room: int, most: int = 4) -> list[str]:
    """`message` in at most `most` lines of `room`: cut at its last ": " when the rest then fits the second
    line (so "...: exit code 0, as from os._exit(0)" keeps its cause together), else at word boundaries.
    A longer message loses part of its last lines, never its end (the size in "you tried to allocate
    53687091200 bytes", the "expected ..." of "got ..., expected ..."): `most` lines keep what a test says."""
    if len(message) <= room:
        return [message]
    cut = message.rfind(": ", 0, room)
    if cut > 0 and len(message) - cut - 2 <= room:
        return [message[:cut + 1], message[cut + 2:]]
    lines = textwrap.wrap(message, room, break_on_hyphens=False)
    if len(lines) <= most:
        return lines
    rest = " ".join(lines[most - 1:])
    return lines[:most - 1] + ["..." + rest[len(rest) - room + 3:]]


def first_failure(runs: list[Result]) -> Result | None:
    return next((r for r in runs if not r.passed), None)


def render(results: list[Result], width: int = 100) -> str:
    """The learner's table: per lesson, one row per exercise, a subtotal; then the grand total. An
    exercise not started says so, without a hint; a started one shows its first failure and hint."""
    graded = [r for r in results if r.exercise is not None]
    id_width = max([len(r.exercise) for r in graded] + [len("exercise"), len("subtotal")])
    head = f"  {'exercise':<{id_width}}  {'points':>7}  {'verdict':<7}  "
    room = max(width - len(head), 20)  # for the failure and the hint
    out = []
    for lesson, in_lesson in sorted(_by(results, lambda r: r.lesson).items()):
        out += ["", f"Lesson {lesson}", head + "first failure", "  " + "-" * (len(head) - 2 + room)]
        out += [f"  ERROR: {r.nodeid} could not be collected: {r.message}"[:width] for r in in_lesson
                if r.exercise is None]
        tests = [r for r in in_lesson if r.exercise is not None]
        for exercise, runs in _by(tests, lambda r: r.exercise).items():
            points, _ = _score(runs)
            failure = first_failure(runs)
            row = f"  {exercise:<{id_width}}  {points:>7}  {_verdict(runs):<7}  "
            if failure and all(r.untouched for r in runs):
                out.append(row + "not started: " + failure.message.rpartition(": ")[2])
                continue
            lines = _lines(failure.message, room) if failure else [""]
            out += [(row + lines[0]).rstrip(), *(" " * len(head) + line for line in lines[1:])]
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


def next_step(results: list[Result], impl: str, root: Path = ROOT) -> str | None:
    """Where the learner should look next: the first failure of an exercise they started (the command
    that shows it in full), else the first exercise not started; None when everything passes."""
    graded = [r for r in results if r.exercise is not None]
    started = {e for e, runs in _by(graded, lambda r: r.exercise).items() if not all(r.untouched for r in runs)}
    if (failed := next((r for r in graded if not r.passed and r.exercise in started), None)):
        return (f"See your failure in full: {learner_python(root)} -m pytest --impl {impl} "
                f"{shlex.quote(failed.nodeid)}")
    if (todo := first_failure(graded)):
        return f"Next: exercise {todo.exercise} ({todo.message.rpartition(': ')[2]} in {impl}/{todo.module}.py)"
    return None


# ------------------------------------------------------------------------------------------ check

@dataclass
class CheckReport:
    problems: list[str]
    tests: int
    lessons: int
    exercises: int

    def summary(self) -> str:
        return (f"{self.tests} graded tests in {self.lessons} lessons: all pass on solutions, all fail on "
                f"the stubs; {self.exercises} exercises, each with a region and a test, each selected by its id")


def check(root: Path = ROOT, timeout: float = 10, progress: Progress | None = None,
          lesson: str | None = None) -> CheckReport:
    """Check the graded tests (of one lesson, or all) against the solutions, the stubs, the solution
    regions, and `-k ID` selection. Each lesson runs on each package in a session of its own."""
    files = graded_files(root, lesson)
    runs = [(impl, n) for n in sorted({LESSON.search(f.name)[1] for f in files}) for impl in IMPLS]
    per_run = _run_all(runs, files, timeout, root, GRACE, progress, None, None)
    on_solutions, on_stubs = ([r for (impl, _), results in zip(runs, per_run) if impl == package for r in results]
                              for package in IMPLS)
    problems = [f"{r.nodeid} could not be collected: {r.message}" for r in on_solutions if r.exercise is None]
    tests = [r for r in on_solutions if r.exercise is not None]
    problems += [f"{r.nodeid} fails on solutions: {r.message}" for r in tests if not r.passed]
    # a graded test must *fail* on the stub: a skip (or an xfail) would let the stub score nothing but look fine
    problems += [f"{r.nodeid} {'passes' if r.passed else f'is {r.outcome}'} on the untouched stub in "
                 f"exercises/ (exercise {r.exercise})"
                 for r in on_stubs if r.exercise is not None and r.outcome != "failed"]
    exercises = _by(tests, lambda r: r.exercise)
    for exercise, own in exercises.items():
        others = sorted({r.exercise for r in tests if exercise in r.selected_by} - {exercise})
        missed = [r.nodeid for r in own if exercise not in r.selected_by]
        if others:
            problems.append(f"`pytest -k {exercise}` also runs the tests of exercise {', '.join(others)}: "
                            "rename one, so that no id is part of another")
        problems += [f"`pytest -k {exercise}` does not select {nodeid}, a test of that exercise" for nodeid in missed]
    regions = {}  # module -> its solution regions
    for path in sorted((root / "solutions").glob(f"l{lesson or ''}*.py")):
        try:
            regions[path.stem] = find_regions(path.read_text(), f"solutions/{path.name}")
        except (MarkerError, SyntaxError) as e:
            problems.append(f"solutions/{path.name}: {e}")
    tested = {(r.module, r.exercise): r.nodeid.partition("::")[0] for r in tests}
    for (module, exercise), file in tested.items():
        if module not in regions:
            problems.append(f"{file} tests exercise {exercise}, but solutions/{module}.py does not exist")
        elif exercise not in {g.id for g in regions[module]}:
            problems.append(f"{file} tests exercise {exercise}, but solutions/{module}.py has no region {exercise}")
    for module, found in regions.items():
        problems += [f"region {g.id} (solutions/{module}.py:{g.start}, in {g.function}) has no graded test"
                     for g in found if (module, g.id) not in tested]
    return CheckReport(problems, len(tests), len({r.lesson for r in tests}), len(exercises))


# -------------------------------------------------------------------------------------------- CLI

def _lesson(text: str) -> str:
    try:
        return lesson_number(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class Stopped(KeyboardInterrupt):
    """A SIGTERM or SIGHUP (a `timeout` wrapper, a closed terminal): unwinds like a Ctrl-C, so the
    runs are killed and the temporary folders removed on the way out."""


def _stop(signum, frame):
    raise Stopped(signum)


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.grade", description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", type=_lesson, help="grade only this lesson (e.g. 01)")
    parser.add_argument("--impl", choices=IMPLS, help="package to grade (default: exercises)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per test (default: 10)")
    parser.add_argument("--check", action="store_true", help="check the course itself: tests pass on solutions, "
                        "fail on stubs, ids match and select their own tests")
    args = parser.parse_args(argv)
    if args.check and args.impl:
        parser.error("--check runs both packages; drop --impl")
    if args.timeout <= 0:
        parser.error("the timeout must be positive")
    stops = (signal.SIGTERM, signal.SIGHUP) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, _stop) for signum in stops}  # restored on the way out
    temp_base()
    try:
        if args.check:
            return _check(root, args.timeout, args.lesson)
        return _grade(root, args.impl or "exercises", args.lesson, args.timeout)
    except GradeError as e:
        print(f"grading failed: {e}", file=sys.stderr)
        return 2
    except Stopped as e:  # the runs were killed on the way out (see _run_lesson), the folders removed
        print(f"\ngrading stopped by {signal.Signals(e.args[0]).name}", file=sys.stderr)
        return 128 + e.args[0]
    except KeyboardInterrupt:  # likewise
        print("\ngrading interrupted", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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


def _course_files(root: Path) -> dict[Path, bytes]:
    """The files graded code must never write: solutions/ and tests/."""
    return {p: p.read_bytes() for folder in ("solutions", "tests") for p in sorted((root / folder).rglob("*.py"))}


def _tampered(root: Path, before: dict[Path, bytes]) -> list[str]:
    """Files of solutions/ and tests/ that grading changed, or that differ from their committed version
    (a learner's module that writes into them at import breaks other lessons, in every later run)."""
    after = _course_files(root)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    git = subprocess.run(["git", "status", "--porcelain", "--", "solutions", "tests"], cwd=root,
                         capture_output=True, text=True, check=False) if (root / ".git").exists() else None
    committed = {root / line[3:] for line in git.stdout.splitlines()} if git and git.returncode == 0 else set()
    return [f"{p.relative_to(root)}{' (changed while grading)' if p in changed else ''}"
            for p in sorted(changed | committed)]


def _grade(root: Path, impl: str, lesson: str | None, timeout: float) -> int:
    print(f"Grading {impl}/{f' (lesson {lesson})' if lesson else ''}...", flush=True)
    before = _course_files(root)
    results = run_graded(impl, lesson, timeout, root, progress=Reporter())
    if (tampered := _tampered(root, before)):
        print("warning: these files differ from the course's version; graded code may have written to them, "
              "which changes other exercises' grades:\n" + "".join(f"  {t}\n" for t in tampered)
              + "Restore them with `git checkout -- solutions tests`.", file=sys.stderr)
    print(render(results, width=max(shutil.get_terminal_size((100, 24)).columns, 60)))
    if (step := next_step(results, impl, root)):
        print(f"\n{step}")
    if (errors := [r for r in results if r.exercise is None]):
        print(f"grading incomplete: {len(errors)} test file(s) could not be collected (ERROR above); "
              "their tests are not counted", file=sys.stderr)
        return 2
    return 0


def _check(root: Path, timeout: float, lesson: str | None) -> int:
    report = check(root, timeout, progress=Reporter(live=False, name_impl=True), lesson=lesson)
    if report.problems:
        print(f"course check failed, {len(report.problems)} problem(s):", file=sys.stderr)
        print("\n".join(f"  - {p}" for p in report.problems), file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
