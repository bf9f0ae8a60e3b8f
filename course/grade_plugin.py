"""The pytest plugin behind `course.grade`: one JSON line per graded test as it starts and ends.

Loaded with ``pytest -p course.grade_plugin --grade-report FILE`` (and by the root `conftest.py`, so a
malformed `exercise` marker is rejected by a plain `pytest` run too). The lines are

    {"event": "start", "nodeid": ..., "exercise": ..., "points": ..., "hint": ...}
    {"event": "result", <the same fields>, "outcome": "passed"|"failed"|"skipped", "message": ...}
    {"event": "collect_error", "nodeid": ..., "message": ...}

and, with ``--collect-only``, one line per collected graded test instead of start/result lines:

    {"event": "collected", <the start fields>, "function": <the test function's name>}

Each line is written (and the file closed) at once, so the grader can read it even after killing a
run that hung. Tests whose result FILE already holds are deselected: that is how a run resumes.
`course.grade.read_report` and `append_record` are the only code that reads or writes the format.
"""

from numbers import Real
from pathlib import Path

import pytest

from course.grade import append_record, read_report

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


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: a malformed marker is an error in any run
def pytest_collection_modifyitems(items):
    for item in items:
        exercise_fields(item)


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


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def collect_message(report) -> str:
    """The exception line of a collection error (pytest's `E   ` lines), else its last line."""
    lines = str(report.longrepr).splitlines()
    errors = [l[1:].strip() for l in lines if l.startswith("E ")]
    return (errors or [l for l in lines if l.strip()] or ["unknown collection error"])[-1]


class Recorder:
    """Writes the report as the tests run (or, with --collect-only, as they are collected)."""

    def __init__(self, path: Path):
        self.path = path
        self.tests = {}  # nodeid -> the graded test's marker fields
        self.failures = {}  # nodeid -> (outcome, message) of its first phase that did not pass
        self.done = {r["nodeid"] for r in read_report(path) if r["event"] == "result"}

    def write(self, **record):
        append_record(self.path, record)

    def pytest_collection_modifyitems(self, config, items):
        ran = [item for item in items if item.nodeid in self.done]  # a resumed run: they have a result
        if ran:
            config.hook.pytest_deselected(items=ran)
            items[:] = [item for item in items if item.nodeid not in self.done]

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
