"""The pytest plugin behind `course.grade`: one JSON line per graded test as it starts and ends.

Loaded with ``pytest -p course.grade_plugin --grade-report FILE``. The lines are

    {"event": "start", "nodeid": ..., "exercise": ..., "points": ..., "hint": ...}
    {"event": "result", <the same fields>, "outcome": "passed"|"failed"|"skipped", "message": ...}
    {"event": "collect_error", "nodeid": ..., "message": ...}

Each line is written (and the file closed) at once, so the grader can read it even after killing a
run that hung. Tests whose result FILE already holds are deselected: that is how a run resumes.
"""

import json
from pathlib import Path

import pytest

MARKER = "exercise(id, points=1, hint=''): a graded test of exercise `id` (run with --impl solutions|exercises)"


def pytest_addoption(parser):
    parser.addoption("--grade-report", metavar="FILE", help="JSON-lines file course.grade reads the results from")


def pytest_configure(config):
    # registered here too, so a course tree without the repo's pytest config (as in tests) still runs
    config.addinivalue_line("markers", MARKER)
    if (path := config.getoption("grade_report")):
        config.pluginmanager.register(Recorder(Path(path)), "course-grade-recorder")


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
    """Writes the report as the tests run."""

    def __init__(self, path: Path):
        self.path = path
        self.tests = {}  # nodeid -> the graded test's marker fields
        self.failures = {}  # nodeid -> (outcome, message) of its first phase that did not pass
        self.done = set()
        if path.exists():
            lines = [l for l in path.read_text().splitlines() if l.endswith("}")]  # not one cut by a kill
            self.done = {r["nodeid"] for r in map(json.loads, lines) if r["event"] == "result"}

    def write(self, **record):
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def pytest_collection_modifyitems(self, config, items):
        skipped = [item for item in items if item.nodeid in self.done]
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = [item for item in items if item.nodeid not in self.done]

    def pytest_collection_finish(self, session):
        for item in session.items:
            if (mark := item.get_closest_marker("exercise")):
                exercise = mark.args[0] if mark.args else mark.kwargs.get("id")
                self.tests[item.nodeid] = dict(nodeid=item.nodeid, exercise=exercise,
                                               points=mark.kwargs.get("points", 1), hint=mark.kwargs.get("hint", ""))

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
