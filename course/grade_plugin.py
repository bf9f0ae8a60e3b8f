"""The pytest plugin behind `course.grade`: the `exercise` marker, and the report the grader reads.

Loaded by the root `conftest.py` (a malformed marker is an error in any run) and, with
``-p course.grade_plugin --grade-report FILE``, by the grader, which runs each lesson under
pytest-xdist: a worker runs the tests; the controller receives their reports, and a worker that dies
(os._exit, a signal, out of memory, or killed by the grader as hung) becomes a failure of the test it
was running, and is replaced. Each side appends JSON lines to FILE as things happen:

    worker      {"event": "collected", "nodeid", "exercise", "points", "hint", "function", "selected_by"}
                {"event": "start", "nodeid", "pid", "time"}          (the grader's hang watchdog reads it)
                {"event": "import", "module"}, {"event": "imported", "module"}
                {"event": "usage_error", "message"}
    controller  {"event": "result", "nodeid", "outcome", "message", "crashed": exit status or null}
                {"event": "collect_error", "nodeid", "message"}

The module under test is imported once per worker, in the setup of its first test (so under
pytest-timeout): when that fails, every test of the module gets that verdict at once. A worker that
dies importing it leaves an "import" record without "imported": the next worker fails the module's
remaining tests with `DIED_IMPORTING` (the grader words it after the crash).

After each test the processes it left running are killed; many of them is a fork bomb, and the test
fails saying so.
"""

import importlib
import json
import os
import sys
import threading
import time
from numbers import Real
from pathlib import Path

import pytest

from course.procs import kill_session

MARKER = "exercise(id, points=1, hint=''): a graded test of exercise `id` (run with --impl solutions|exercises)"
EXAMPLE = "e.g. @pytest.mark.exercise('01-closure', points=2)"
DIED_IMPORTING = "the test process died importing the module"
FORK_BOMB = 50  # processes left running by one test


def module_of(nodeid: str) -> str:
    """The module a graded test file targets: tests/graded/test_l01_callbacks.py::... -> l01_callbacks."""
    return Path(nodeid.partition("::")[0]).stem.removeprefix("test_")


def append_record(path: Path, record: dict) -> None:
    """Append one record as a JSON line (the file closed at once: a kill loses no written line)."""
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_report(path: Path) -> list[dict]:
    """The records of a report, without a last line cut short by a kill."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


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


def selected_by(item, ids) -> list[str]:
    """The exercise ids among `ids` whose `pytest -k ID` selects `item` (pytest's own matching)."""
    from _pytest.mark import KeywordMatcher
    from _pytest.mark.expression import Expression
    matcher = KeywordMatcher.from_item(item)
    return [i for i in ids if Expression.compile(i).evaluate(matcher)]


def describe(exc: BaseException) -> str:
    """First line of an exception as `Type: message`; pytest's own outcomes (a timeout) as the bare message."""
    if isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception)):
        text = exc.msg.removesuffix(" from pytest-timeout.")
    else:
        try:
            detail = str(exc)
        except Exception:  # a learner's exception class whose __str__ is broken
            detail = "<message unprintable>"
        name = type(exc).__name__
        if isinstance(exc, MemoryError):  # numpy's is a subclass
            name, detail = "MemoryError", f"out of memory{': ' + detail if detail else ''}"
        text = f"{name}: {detail}" if detail else name
    return (text.strip().splitlines() or [""])[0]


def import_verdict(name: str, shown: str) -> str | None:
    """Import module `name` (shown to the learner as `shown`); None when that works, else the verdict
    for every test of the module."""
    try:
        importlib.import_module(name)
    except pytest.fail.Exception as e:  # pytest-timeout's
        return f"{describe(e)} importing {shown}: code at module level that never ends?"
    except KeyboardInterrupt:
        return f"KeyboardInterrupt raised importing {shown}"
    except SystemExit as e:
        return f"sys.exit({e.code!r}) called importing {shown}: a module must not exit"
    except BaseException as e:  # noqa: BLE001 - the learner's module may raise anything
        return describe(e)
    finally:
        sys.modules.pop(name, None)  # the tests import it afresh (the `mod` fixture)
    return None


# ------------------------------------------------------------------------------------ the hooks

def pytest_addoption(parser):
    parser.addoption("--grade-report", metavar="FILE", help="JSON-lines file course.grade reads the results from")
    parser.addoption("--grade-memory", type=int, metavar="BYTES", help="memory limit of the graded tests' process")


def pytest_configure(config):
    # registered here too, so a course tree without the repo's pytest config (as in tests) still runs
    config.addinivalue_line("markers", MARKER)
    if (path := config.getoption("grade_report")):
        config.pluginmanager.register(Recorder(Path(path), config), "course-grade-recorder")


@pytest.hookimpl(tryfirst=True)  # before `-m` and `-k` deselect: a malformed marker is an error in any run
def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            fields = exercise_fields(item)
        except pytest.UsageError as e:
            if (path := config.getoption("grade_report")):
                append_record(path, {"event": "usage_error", "message": str(e)})
            raise
        if fields:  # `-k 04-var-clamp` selects all of that exercise's tests, whatever their names
            item.extra_keyword_matches.add(fields["exercise"])


class Recorder:
    """Writes the report: the worker's side (collection, starts, imports) and the controller's (results)."""

    def __init__(self, path: Path, config):
        self.path = path
        self.worker = hasattr(config, "workerinput")  # an xdist worker; else the controller, or a lone process
        self.failures = {}  # nodeid -> (outcome, message) of its first phase that did not pass
        self.crashed = {}  # nodeid -> exit status of the worker that died running it
        self.imports = {}  # module -> its import verdict (None: imported)
        if self.worker and (memory := config.getoption("grade_memory")):
            import resource  # POSIX only; a huge allocation then fails with MemoryError, not the OOM killer
            resource.setrlimit(resource.RLIMIT_DATA, (memory, resource.getrlimit(resource.RLIMIT_DATA)[1]))
        if not self.worker and not config.option.collectonly and os.environ.get("COURSE_GRADER_PID"):
            _end_with_parent(int(os.environ["COURSE_GRADER_PID"]))

    def write(self, **record):
        append_record(self.path, record)

    # ----- the worker's side (or a lone process's)

    def pytest_collection_finish(self, session):
        graded = [(item, f) for item in session.items if (f := exercise_fields(item))]
        ids = sorted({f["exercise"] for _, f in graded})
        for item, fields in graded:
            self.write(event="collected", **fields, function=getattr(item, "originalname", item.name),
                       selected_by=selected_by(item, ids))

    def pytest_runtest_logstart(self, nodeid):
        if self.worker:
            self.write(event="start", nodeid=nodeid, pid=os.getpid(), time=time.time())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        impl = item.config.getoption("impl", default=None)
        if impl is None or not item.get_closest_marker("exercise"):
            return
        module = module_of(item.nodeid)
        if module not in self.imports:
            records = [r for r in read_report(self.path) if r.get("module") == module]
            if records and records[-1]["event"] == "import":  # a worker died importing it
                self.imports[module] = DIED_IMPORTING
            else:
                self.write(event="import", module=module)
                self.imports[module] = import_verdict(f"{impl}.{module}", f"{impl}/{module}.py")
                self.write(event="imported", module=module)
        if self.imports[module]:
            pytest.fail(self.imports[module], pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        try:
            return (yield)
        except KeyboardInterrupt:  # pytest would end the whole run
            raise AssertionError("KeyboardInterrupt raised by the test") from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.when == "call" and self.worker and hasattr(os, "getsid"):
            left = kill_session(os.getsid(0), spare={os.getpid(), os.getppid()})
            if left >= FORK_BOMB:
                report.outcome = "failed"
                report.longrepr = f"Fork bomb: the test left {left} processes running (killed)"
                report.user_properties = [("message", report.longrepr)]
                return report
        if report.outcome != "passed":
            message = describe(call.excinfo.value) if call.excinfo else report.longreprtext.strip()
            report.user_properties = [("message", message.splitlines()[0] if message else "")]
        return report

    # ----- the controller's side

    def pytest_collectreport(self, report):
        if report.failed and not self.worker:
            lines = str(report.longrepr).splitlines()
            errors = [line[1:].strip() for line in lines if line.startswith("E ")]
            message = (errors or [line for line in lines if line.strip()] or ["unknown collection error"])[-1]
            self.write(event="collect_error", nodeid=report.nodeid, message=message)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        io = getattr(report.node.gateway, "_io", None)  # execnet's Popen: its exit status names the cause
        self.crashed[crashitem] = io.wait() if hasattr(io, "wait") else None

    def pytest_runtest_logreport(self, report):
        if self.worker:
            return
        nodeid = report.nodeid
        if report.outcome != "passed" and nodeid not in self.failures:
            self.failures[nodeid] = (report.outcome, dict(report.user_properties).get("message", ""))
        if report.when in ("teardown", "???"):  # "???": xdist's report of a worker that died
            outcome, message = self.failures.get(nodeid, ("passed", ""))
            self.write(event="result", nodeid=nodeid, outcome=outcome, message=message,
                       crashed=self.crashed.get(nodeid, "unknown") if report.when == "???" else None)


def _end_with_parent(grader: int):
    """Kill this run's session (the grader started it in one of its own) once the grader is gone (e.g.
    killed with SIGKILL): a run must never go on under PID 1."""
    parent = os.getppid()

    def gone() -> bool:
        try:
            os.kill(grader, 0)
        except ProcessLookupError:
            return True
        return os.getppid() != parent  # reparented: what started this run has ended

    def watch():
        while not gone():
            time.sleep(0.5)
        kill_session(os.getsid(0), spare={os.getpid()})
        os._exit(1)
    if hasattr(os, "getsid") and os.getsid(0) == os.getpid():
        threading.Thread(target=watch, name="course-grade-watch-parent", daemon=True).start()
