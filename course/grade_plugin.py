"""The pytest plugin behind `course.grade`: one JSON line per graded test as it starts and ends.

Loaded with ``pytest -p course.grade_plugin --grade-report FILE`` (and by the root `conftest.py`, so a
malformed `exercise` marker is rejected by a plain `pytest` run too). The lines are

    {"event": "start", "nodeid": ..., "exercise": ..., "points": ..., "hint": ...}
    {"event": "result", <the same fields>, "outcome": "passed"|"failed"|"skipped", "message": ...}
    {"event": "collect_error", "nodeid": ..., "message": ...}
    {"event": "planned", "count": <graded tests this run will run>}
    {"event": "import", "module": ..., "tests": [<the start fields of each of its tests>]}
    {"event": "imported", "module": ...}

and, with ``--collect-only``, one line per collected graded test instead of start/result lines:

    {"event": "collected", <the start fields>, "function": <the test function's name>}

Each line is written (and the file closed) at once, so the grader can read it even after killing a
run that hung. Tests whose result FILE already holds are deselected: that is how a run resumes.

Before the tests run, each module under test (`--impl` package, named after the test file) is
imported once, under the per-test timeout: when that fails - an exception, an endless loop, a
KeyboardInterrupt or sys.exit() at module level - every test of the module gets that one verdict
at once, instead of each test failing (or hanging, or stopping the run) on its own import. An import
that kills the process (os._exit) leaves an "import" record without "imported": the grader fails
those tests. The run ends itself when the grader that started it is gone.
`course.grade.read_report` and `append_record` are the only code that reads or writes the format.
"""

import importlib
import os
import signal
import sys
import threading
import time
from numbers import Real
from pathlib import Path

import pytest

from course.grade import append_record, module_of, read_report

MARKER = "exercise(id, points=1, hint=''): a graded test of exercise `id` (run with --impl solutions|exercises)"
EXAMPLE = "e.g. @pytest.mark.exercise('01-closure', points=2)"


# ---------------------------------------------------------------------------------- the marker

def exercise_fields(item) -> dict | None:
    """The graded test's fields from its `exercise` marker (None when unmarked); a malformed marker is a UsageError."""
    mark = item.get_closest_marker("exercise")
    if mark is None:
        return None
    exercise = mark.args[0] if mark.args else mark.kwargs.get("id")
    if not isinstance(exercise, str) or not exercise.strip():
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.exercise needs an exercise id, "
                                f"e.g. exercise('01-closure', points=2)")
    points = mark.kwargs.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, Real) or not points > 0:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.exercise points must be a positive number, "
                                f"not {points!r} ({EXAMPLE})")
    hint = mark.kwargs.get("hint", "")
    if not isinstance(hint, str):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.exercise hint must be text, not {hint!r}")
    return dict(nodeid=item.nodeid, exercise=exercise, points=points, hint=hint)


# ------------------------------------------------------------------------------------ the hooks

def pytest_addoption(parser):
    parser.addoption("--grade-report", metavar="FILE", help="JSON-lines file course.grade reads the results from")


def pytest_configure(config):
    # registered here too, so a course tree without the repo's pytest config (as in tests) still runs
    config.addinivalue_line("markers", MARKER)
    if (path := config.getoption("grade_report")):
        config.pluginmanager.register(Recorder(Path(path)), "course-grade-recorder")
        _end_with_parent()


def _end_with_parent():
    """Kill this run (its process group: the grader started it in a session of its own) once the
    grader is gone, e.g. killed with SIGKILL: a run must never go on under PID 1."""
    grader, parent = int(os.environ.get("COURSE_GRADER_PID") or os.getppid()), os.getppid()

    def gone() -> bool:
        try:
            os.kill(grader, 0)
        except ProcessLookupError:
            return True
        return os.getppid() != parent  # reparented: what started this run has ended

    def watch():
        while not gone():
            time.sleep(0.5)
        os.killpg(os.getpgrp(), signal.SIGKILL)
    if hasattr(os, "killpg"):
        threading.Thread(target=watch, name="course-grade-watch-parent", daemon=True).start()


@pytest.hookimpl(tryfirst=True)  # before `-m` and `-k` deselect: a malformed marker is an error in any run
def pytest_collection_modifyitems(items):
    for item in items:
        fields = exercise_fields(item)
        if fields:  # `-k 04-var-clamp` selects all of that exercise's tests, whatever their names
            item.extra_keyword_matches.add(fields["exercise"])


def describe(exc: BaseException) -> str:
    """First line of an exception as `Type: message`; pytest's own outcomes (a timeout) as the bare message."""
    if isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception)):
        text = exc.msg
    else:
        try:
            detail = str(exc)
        except Exception:  # a learner's exception class whose __str__ is broken
            detail = "<message unprintable>"
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return first_line(text)


def _by_module(items) -> dict:
    """Graded items grouped by the module they test (tests/graded/test_l01_x.py -> l01_x)."""
    groups = {}
    for item in items:
        groups.setdefault(module_of(item.nodeid), []).append(item)
    return groups


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def collect_message(report) -> str:
    """The exception line of a collection error (pytest's `E   ` lines), else its last line."""
    lines = str(report.longrepr).splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or [line for line in lines if line.strip()] or ["unknown collection error"])[-1]


class ImportTimeout(BaseException):
    """The import of a module under test ran past the timeout (a BaseException: the module's
    `except Exception` cannot catch it)."""


def import_verdict(name: str, shown: str, seconds: float) -> str | None:
    """Import module `name` (shown to the learner as `shown`) within `seconds`; None when that works,
    else the verdict for every test of the module."""
    def expired(signum, frame):
        raise ImportTimeout
    alarm = seconds > 0 and hasattr(signal, "setitimer")
    if alarm:
        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        importlib.import_module(name)
    except ImportTimeout:
        return f"Timeout (>{seconds:g}s) importing {shown}: code at module level that never ends?"
    except KeyboardInterrupt:
        return f"KeyboardInterrupt raised importing {shown}"
    except SystemExit as e:
        return f"sys.exit({e.code!r}) called importing {shown}: a module must not exit"
    except BaseException as e:  # noqa: BLE001 - the learner's module may raise anything
        return describe(e)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        sys.modules.pop(name, None)  # the tests import it afresh (the `mod` fixture)
    return None


class Recorder:
    """Writes the report as the tests run (or, with --collect-only, as they are collected)."""

    def __init__(self, path: Path):
        self.path = path
        self.tests = {}  # nodeid -> the graded test's marker fields
        self.failures = {}  # nodeid -> (outcome, message) of its first phase that did not pass
        self.done = {r["nodeid"] for r in read_report(path) if r["event"] == "result"}

    def write(self, **record):
        append_record(self.path, record)

    @pytest.hookimpl(trylast=True)  # after `-m exercise` deselected the rest
    def pytest_collection_modifyitems(self, config, items):
        ran = [item for item in items if item.nodeid in self.done]  # a resumed run: they have a result
        if ran:
            config.hook.pytest_deselected(items=ran)
            items[:] = [item for item in items if item.nodeid not in self.done]
        if config.option.collectonly:
            return
        graded = [item for item in items if item.get_closest_marker("exercise")]
        self.write(event="planned", count=len(graded) + len(self.done))
        impl = config.getoption("impl", default=None)
        if impl is None:  # a course whose conftest has no --impl: nothing to import up front
            return
        failed = set()
        for module, tests in _by_module(graded).items():
            self.write(event="import", module=module, tests=[exercise_fields(item) for item in tests])
            verdict = import_verdict(f"{impl}.{module}", f"{impl}/{module}.py", config.getoption("timeout", 0) or 0)
            if verdict is not None:
                for item in tests:
                    self.write(event="result", **exercise_fields(item), outcome="failed", message=verdict)
                failed.update(item.nodeid for item in tests)
            self.write(event="imported", module=module)
        if failed:
            config.hook.pytest_deselected(items=[item for item in items if item.nodeid in failed])
            items[:] = [item for item in items if item.nodeid not in failed]

    def pytest_collection_finish(self, session):
        for item in session.items:
            if (fields := exercise_fields(item)):
                self.tests[item.nodeid] = fields
                if session.config.option.collectonly:
                    function = getattr(item, "originalname", item.name)  # without the [parametrize] suffix
                    self.write(event="collected", **fields, function=function)

    def pytest_collectreport(self, report):
        if report.failed:
            self.write(event="collect_error", nodeid=report.nodeid, message=collect_message(report))

    def pytest_runtest_logstart(self, nodeid):
        if nodeid in self.tests:
            self.write(event="start", **self.tests[nodeid])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.outcome != "passed" and item.nodeid not in self.failures:
            message = describe(call.excinfo.value) if call.excinfo else first_line(report.longreprtext)
            self.failures[item.nodeid] = (report.outcome, message)
        return report

    def pytest_runtest_logfinish(self, nodeid):
        if nodeid in self.tests:
            outcome, message = self.failures.get(nodeid, ("passed", ""))
            self.write(event="result", **self.tests[nodeid], outcome=outcome, message=message)
