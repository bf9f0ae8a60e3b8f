"""The grader (course.grade), run on throwaway courses built in a temporary directory."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from course.grade import (Collected, GradeError, Reporter, Result, check, collect, learner_python, main, next_step,
                          render, run_graded)
from course.paths import ROOT
from course.stubs import make_stub

# the fake course's own conftest: the repo's `--impl` and `mod`, without the seeding (no torch import)
CONFTEST = """
import importlib, sys
import pytest

def pytest_addoption(parser):
    parser.addoption("--impl", choices=("solutions", "exercises"), default="solutions")

@pytest.fixture
def mod(request):
    name = request.config.getoption("impl") + "." + request.module.__name__.rpartition(".")[2].removeprefix("test_")
    sys.modules.pop(name, None)
    return importlib.import_module(name)
"""


def make_course(root, files):
    """Write a course tree: the packages, the conftest and `files` (path -> source)."""
    files = {"solutions/__init__.py": "", "exercises/__init__.py": "", "tests/conftest.py": CONFTEST, **files}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    return root


# A learner's course, graded once: lesson 01 has a passing, a partial (wrong return type), an untouched
# and a looping exercise; lesson 02's exercise file does not parse; lesson 03 is hostile code, one verdict
# per call, and `leave` starts a sleeper and a fork chain and passes (the run resumes after each crash);
# lesson 04's test file cannot be collected.
LEARNER = {
    "tests/conftest.py": CONFTEST + "import numpy, torch  # as the course's conftest: not inside a test's timeout\n",
    "exercises/l01_basics.py": """
        def add(a, b):
            return a + b

        def mul(a, b):
            return str(a * b)

        def greet(name):
            raise NotImplementedError("exercise 01-greet: greet")

        def count_up(n):
            while True:
                pass
        """,
    "tests/graded/test_l01_basics.py": """
        import pytest

        @pytest.mark.exercise("01-add")
        def test_add(mod):
            assert mod.add(1, 2) == 3

        @pytest.mark.exercise("01-add", points=0.5)
        def test_add_negative(mod):
            assert mod.add(-1, -2) == -3

        @pytest.mark.exercise("01-add")
        class TestAdd:
            def test_zero(self, mod):
                assert mod.add(0, 0) == 0

        def test_not_graded():
            pass

        @pytest.mark.exercise("01-mul")
        def test_mul_value(mod):
            assert int(mod.mul(2, 3)) == 6

        @pytest.mark.exercise("01-mul", points=2, hint="Return a number, not its text.")
        def test_mul_type(mod):
            assert mod.mul(2, 3) == 6

        @pytest.mark.exercise("01-greet", points=2, hint="Use an f-string.")
        def test_greet(mod):
            assert mod.greet("Ada") == "Hello, Ada!"

        @pytest.mark.exercise("01-count", hint="range(n) already counts.")
        def test_count_up(mod):
            assert mod.count_up(3) == [0, 1, 2]
        """,
    "exercises/l02_broken.py": """
        def square(x):
            return x *
        """,
    "tests/graded/test_l02_broken.py": """
        import pytest

        pytestmark = pytest.mark.exercise("02-square")

        def test_square(mod):
            assert mod.square(3) == 9
        """,
    "exercises/l03_hostile.py": """
        import os, signal, subprocess, sys, time
        from pathlib import Path

        def spin():
            signal.signal(signal.SIGALRM, signal.SIG_IGN)  # pytest-timeout's alarm no longer fires
            while True:
                pass

        def bare_except():
            while True:
                try:
                    time.sleep(0.01)
                except:  # noqa: E722 - swallows the timeout
                    pass

        def recurse(n=0):
            return recurse(n + 1)

        def exits():
            sys.exit(3)

        def quits():
            os._exit(1)

        def interrupts():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if SIGINT was ignored
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)

        def signalled(signum):
            os.kill(os.getpid(), signum)
            time.sleep(5)

        def huge():
            import torch
            return torch.empty(50 * 2**30, dtype=torch.uint8)

        def hog():
            import numpy
            chunks = []
            while True:
                chunks.append(numpy.empty(2**27))  # 1 GiB

        def bomb():  # capped at 128 processes; the test itself hangs like an endless one
            for _ in range(7):
                os.fork()
            time.sleep(600)

        def leave(folder):
            Path(folder, str(subprocess.Popen(["sleep", "600"]).pid)).write_text("")
            for depth in range(5):  # a fork chain: each process forks the next, then sleeps
                if os.fork():
                    if depth == 0:
                        return
                    break
                Path(folder, str(os.getpid())).write_text("")
            time.sleep(600)
            os._exit(0)
        """,
    "tests/graded/test_l03_hostile.py": """
        import signal
        import pytest

        @pytest.mark.parametrize("call", ["spin", "bare_except", "recurse", "exits", "quits", "interrupts", "hog",
                                          "bomb"])
        @pytest.mark.exercise("03-hostile")
        def test_hostile(mod, call):
            getattr(mod, call)()

        @pytest.mark.exercise("03-huge")
        def test_huge(mod):
            mod.huge()

        @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
        @pytest.mark.exercise("03-signal")
        def test_signal(mod, signum):
            mod.signalled(signum)

        @pytest.mark.exercise("03-leave")
        def test_leave(mod, request):
            folder = request.config.rootpath / "pids"
            folder.mkdir(exist_ok=True)
            mod.leave(folder)
        """,
    "tests/graded/test_l04_typo.py": """
        import pytest

        def test_typo(mod:
            pass
        """,
}


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("learner"), LEARNER)


@pytest.fixture(scope="module")
def graded(learner):
    """The learner's results, graded once for the tests below (timeout 6 s, hang cut after 6 + 6 s)."""
    results = run_graded(root=learner, timeout=6, grace=6, memory=1536 * 2**20)
    return {r.nodeid.rpartition("::")[2]: r for r in results}


HUNG = "Hung >12s: killed by the grader (the timeout could not interrupt it)"


@pytest.mark.parametrize("test, outcome, verdict", [
    ("test_add", "passed", ""),
    ("test_mul_type", "failed", "AssertionError: assert '6' == 6"),
    ("test_greet", "failed", "NotImplementedError: exercise 01-greet: greet"),
    ("test_count_up", "failed", "Timeout (>6.0s)"),
    ("test_square", "failed", "SyntaxError: invalid syntax (l02_broken.py, line 3)"),  # only its own exercise fails
    ("tests/graded/test_l04_typo.py", "error", "SyntaxError"),
    ("test_hostile[spin]", "failed", HUNG),  # ignores pytest-timeout's SIGALRM
    ("test_hostile[bare_except]", "failed", HUNG),  # swallows the timeout
    ("test_hostile[recurse]", "failed", "RecursionError: maximum recursion depth exceeded"),
    ("test_hostile[exits]", "failed", "SystemExit: 3"),
    ("test_hostile[quits]", "failed", "Crashed the test run: exit code 1, as from os._exit(1)"),
    ("test_hostile[interrupts]", "failed", "AssertionError: KeyboardInterrupt raised by the test"),
    ("test_hostile[hog]", "failed", "MemoryError: out of memory"),
    ("test_hostile[bomb]", "failed", "Fork bomb: the test left 127 processes running (killed)"),
    ("test_huge", "failed", "RuntimeError: [enforce fail"),
    ("test_signal[15]", "failed", "Crashed the test run: killed by SIGTERM"),
    ("test_signal[9]", "failed", "Crashed the test run: killed by SIGKILL (out of memory?)"),
    ("test_leave", "passed", ""),
])
def test_learner_code_gets_a_verdict_that_names_the_cause(graded, test, outcome, verdict):
    result = graded[test]
    assert result.outcome == outcome and result.message.startswith(verdict), result.message
    assert result.message or not verdict


def test_a_result_carries_its_markers_fields(graded):
    mul, typo = graded["test_mul_type"], graded["tests/graded/test_l04_typo.py"]
    assert (mul.exercise, mul.points, mul.hint, mul.lesson, mul.module) == (
        "01-mul", 2, "Return a number, not its text.", "01", "l01_basics")
    assert (typo.exercise, typo.lesson) == (None, "04")


def test_table_of_the_learner_run(graded):
    table = render(list(graded.values()), width=100)
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert rows["01-add"].split()[1:] == ["2.5/2.5", "PASS"]
    assert rows["01-mul"].split()[1:3] == ["1/3", "PARTIAL"] and "assert '6' == 6" in rows["01-mul"]
    assert rows["01-greet"].split()[1:] == ["0/2", "FAIL", "not", "started:", "greet"]
    assert "f-string" not in table  # no hint for an exercise not started
    assert rows["01-count"].split()[1:4] == ["0/1", "FAIL", "Timeout"]
    assert "hint: range(n) already counts." in table
    assert rows["03-leave"].split()[1:] == ["1/1", "PASS"]
    assert "ERROR: tests/graded/test_l04_typo.py could not be collected: SyntaxError" in table
    assert "53687091200 bytes" in table  # a long message may lose its middle, never the size
    assert table.splitlines()[-1] == "Total: 4.5/21.5 points (21%); 2 of 9 exercises pass"


def test_nothing_learner_code_started_is_left(learner, graded):
    pids = [int(p.name) for p in (learner / "pids").iterdir()]
    assert len(pids) >= 2  # the sleeper and the forks that ran before the end of the test
    assert all(dead(pid) for pid in pids)


def r(test, exercise, points=1, passed=True, message="", hint="", lesson="01"):
    return Result(f"tests/graded/test_l{lesson}_x.py::{test}", exercise, points,
                  hint, "passed" if passed else "failed", message)


def test_render_totals_verdicts_and_hints():
    table = render([
        r("a", "01-add", 2), r("b", "01-add", 1),
        r("c", "01-mul", 1), r("d", "01-mul", 2, False, "AssertionError: assert 3 == 4", "Multiply."),
        r("e", "02-div", 2, False, "ZeroDivisionError: division by zero " + "x" * 200, "Mind zero.", lesson="02"),
    ], width=80)
    lines = table.splitlines()
    assert lines[0] == "Lesson 01"
    assert lines[3].split() == ["01-add", "3/3", "PASS"]
    assert lines[4].split() == ["01-mul", "1/3", "PARTIAL", "AssertionError:", "assert", "3", "==", "4"]
    assert lines[5].strip() == "hint: Multiply."
    assert lines[6].split() == ["subtotal", "4/6", "67%"]
    assert "hint: Multiply." not in lines[3]  # no hint for a passing exercise
    at = next(i for i, line in enumerate(lines) if line.startswith("  02-div"))
    assert lines[at].split()[3:7] == ["ZeroDivisionError:", "division", "by", "zero"]  # a long message wraps...
    assert lines[at + 1].strip() == lines[at + 2].strip() == "x" * 50  # ...over at most four lines...
    assert lines[at + 3].strip().startswith("...x") and lines[at + 3].endswith("xxx")  # ...keeping its end
    assert lines[at + 4].strip() == "hint: Mind zero."
    assert lines[-1] == "Total: 4/8 points (50%); 1 of 3 exercises pass"
    assert all(len(line) <= 80 for line in lines)


def test_cli_grades_one_lesson_with_its_progress(learner, capsys):
    assert main(["--lesson", "2", "--timeout", "5"], root=learner) == 0
    out, err = capsys.readouterr()
    assert "  lesson 02: 1/1 tests in " in err
    assert "Lesson 02" in out and "Lesson 01" not in out
    assert "Total: 0/1 points (0%)" in out
    assert (f"See your failure in full: {learner_python(learner)} -m pytest --impl exercises "
            "tests/graded/test_l02_broken.py::test_square") in out
    live = io.StringIO()
    report = Reporter(live, live=True)  # on a terminal: one line that updates
    report("exercises", "01", 2, 6, False)
    report("exercises", "01", 6, 6, True)
    assert live.getvalue().startswith("\r\033[K  lesson 01: 2/6 tests\r\033[K  lesson 01: 6/6 tests in ")
    assert live.getvalue().endswith(" s\n")


def test_failure_hint_is_a_command_the_learner_can_paste(tmp_path, monkeypatch, capsys):
    course = make_course(tmp_path / "my course", {
        "exercises/l01_p.py": "def one():\n    return 2\n",
        "tests/graded/test_l01_p.py": """
            import pytest

            @pytest.mark.parametrize("x", ["a b"])
            @pytest.mark.exercise("01-one")
            def test_one(mod, x):
                assert mod.one() == 1
            """})
    monkeypatch.setattr(sys, "executable", str(course / ".venv" / "bin" / "python"))
    assert learner_python(course) == ".venv/bin/python"  # relative: the learner types it in the course
    monkeypatch.setattr(sys, "executable", "/opt/my python/bin/python3")
    assert learner_python(course) == "'/opt/my python/bin/python3'"
    monkeypatch.undo()
    assert main(["--lesson", "01"], root=course) == 0
    out = capsys.readouterr().out
    assert " -m pytest --impl exercises 'tests/graded/test_l01_p.py::test_one[a b]'\n" in out


SLEEPER = {  # every graded test records its pytest's pid, then sleeps until it is killed
    "solutions/l01_s.py": "",
    "exercises/l01_s.py": "",
    "tests/graded/test_l01_s.py": """
        import os, pathlib, time
        import pytest

        @pytest.mark.exercise("01-sleep")
        def test_sleep(mod, request):
            pids = pathlib.Path(request.config.rootpath) / "pids"
            pids.mkdir(exist_ok=True)
            (pids / str(os.getpid())).write_text("")
            time.sleep(60)
        """,
}


# the grader as a learner runs it, on the course at argv[1]
GRADER = ("import sys; from pathlib import Path; from course.grade import main; "
          "sys.exit(main(sys.argv[2:], root=Path(sys.argv[1])))")


def dead(pid: int) -> bool:
    """Whether process `pid` is gone, or a zombie (killed, not yet reaped: an orphan's is reaped by PID 1)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _default_sigint():
    """A background job of a non-interactive shell (a CI runner's) starts with SIGINT ignored, and
    Python then never raises KeyboardInterrupt: give the grader the terminal's default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def grade_sleepers(tmp_path, args, runs=1, **popen):
    """Start the grader on a SLEEPER course, its temporary folders under tmp_path/temp, and wait until
    `runs` tests sleep: the grader, the sleeping tests' pids, and the grader's folder of folders."""
    course, temp = make_course(tmp_path / "course", SLEEPER), tmp_path / "temp"
    temp.mkdir()
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(course), *args, "--timeout", "120"], cwd=ROOT,
                              env={**os.environ, "TMPDIR": str(temp)}, start_new_session=True, **popen)
    deadline = time.time() + 60
    while len(pids := list((course / "pids").glob("*")) if (course / "pids").exists() else []) < runs:
        assert time.time() < deadline and grader.poll() is None, grader.communicate()
        time.sleep(0.1)
    assert list((temp / "course-grade").glob(f"{grader.pid}-*"))
    return grader, [int(p.name) for p in pids], temp / "course-grade"


@pytest.mark.parametrize("stop, code, said", [(signal.SIGINT, 130, "grading interrupted"),
                                               (signal.SIGTERM, 128 + signal.SIGTERM, "grading stopped by SIGTERM"),
                                               (signal.SIGHUP, 128 + signal.SIGHUP, "grading stopped by SIGHUP")])
@pytest.mark.parametrize("args, runs", [(["--lesson", "01"], 1), (["--check"], 2)])
def test_a_stopped_grader_kills_its_pytest_runs_and_removes_its_folders(tmp_path, args, runs, stop, code, said):
    grader, pids, folders = grade_sleepers(tmp_path, args, runs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True, preexec_fn=_default_sigint)
    grader.send_signal(stop)
    _, err = grader.communicate(timeout=15)
    assert grader.returncode == code and said in err
    assert all(dead(pid) for pid in pids)
    assert list(folders.iterdir()) == []


def test_a_pytest_run_ends_when_its_grader_is_killed_and_the_next_grader_removes_its_folders(tmp_path):
    grader, pids, folders = grade_sleepers(tmp_path, ["--lesson", "01"], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
    grader.kill()  # SIGKILL: no handler runs; the run notices its grader is gone
    grader.wait()
    deadline = time.time() + 15
    while not dead(pids[0]):
        assert time.time() < deadline, f"the pytest run {pids[0]} outlived its grader"
        time.sleep(0.2)
    assert list(folders.glob(f"{grader.pid}-*"))  # SIGKILL: no clean-up ran...
    subprocess.run([sys.executable, "-c", GRADER, str(tmp_path / "course"), "--lesson", "07"], cwd=ROOT,
                   env={**os.environ, "TMPDIR": str(folders.parent)}, capture_output=True, check=False)
    assert list(folders.iterdir()) == []  # ...the next grader removed its folder


# Lesson 01's module switches autograd off when imported; lesson 02's exercise needs it.
LEAKY = {
    "solutions/l01_leaky.py": "", "solutions/l02_grad.py": "",
    "exercises/l01_leaky.py": """
        import torch

        torch.set_grad_enabled(False)

        def one():
            return 1
        """,
    "exercises/l02_grad.py": """
        import torch

        def grad_of_square(x):
            x = torch.tensor(x, requires_grad=True)
            (x * x).backward()
            return x.grad.item()
        """,
    "tests/graded/test_l01_leaky.py": """
        import pytest

        @pytest.mark.exercise("01-one")
        def test_one(mod):
            assert mod.one() == 1
        """,
    "tests/graded/test_l02_grad.py": """
        import pytest

        @pytest.mark.exercise("02-grad")
        def test_grad(mod):
            assert mod.grad_of_square(3.0) == 6.0
        """,
}


def test_one_lessons_module_state_does_not_change_another_lessons_grade(tmp_path):
    results = {r.exercise: r for r in run_graded(root=make_course(tmp_path, LEAKY), timeout=10)}
    assert results["01-one"].passed
    assert results["02-grad"].passed, results["02-grad"].message  # in one process: "does not require grad"


# Module-level code of a learner's exercise file that breaks its import, and the verdict.
IMPORT_FAILURES = [
    ("while True:\n    pass\n",
     "Timeout (>1.0s) importing exercises/l01_bad.py: code at module level that never ends?"),
    ("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n",
     "Hung >4s importing exercises/l01_bad.py: killed by the grader (the timeout could not interrupt it)"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt raised importing exercises/l01_bad.py"),
    ("import sys\nsys.exit(0)\n", "sys.exit(0) called importing exercises/l01_bad.py: a module must not exit"),
    ("import os\nos._exit(0)\n", "Crashed importing exercises/l01_bad.py: exit code 0, as from os._exit(0)"),
    ("1 / 0\n", "ZeroDivisionError: division by zero"),
]


@pytest.mark.parametrize("code, verdict", IMPORT_FAILURES,
                         ids=["loop", "unstoppable", "ctrl-c", "exit", "os-exit", "error"])
def test_a_module_that_cannot_be_imported_gets_one_verdict_for_all_its_tests(tmp_path, code, verdict):
    tests = "import pytest\n" + "".join(f"""
@pytest.mark.exercise("01-e{i}")
def test_e{i}(mod):
    assert mod.f() == 1
""" for i in range(3))
    course = make_course(tmp_path, {"solutions/l01_bad.py": "",
                                    "exercises/l01_bad.py": code + "def f():\n    return 1\n",
                                    "tests/graded/test_l01_bad.py": tests,
                                    **{k: v for k, v in LEARNER.items() if "l02" in k}})
    started = time.perf_counter()
    results = run_graded(root=course, timeout=1, grace=3)
    seconds = time.perf_counter() - started
    assert [(r.exercise, r.outcome, r.message) for r in results if r.lesson == "01"] == [
        (f"01-e{i}", "failed", verdict) for i in range(3)]
    assert [r.exercise for r in results if r.lesson == "02"] == ["02-square"]  # the next lesson still ran
    assert seconds < 60  # one verdict, not one timeout (or restart) per test: a sanity bound, not a benchmark
    table = render(results, width=100)
    assert " ".join(verdict.split()) in " ".join(table.split())  # at most wrapped, never cut
    if "exit code 0" in verdict:
        assert any(line.rstrip().endswith("exit code 0, as from os._exit(0)") for line in table.splitlines())


def test_collect_lists_each_graded_item_with_the_points_grading_scores(learner, graded):
    with pytest.raises(GradeError, match=r"tests/graded/test_l04_typo.py: SyntaxError"):
        collect(learner)
    items = [item for lesson in ("01", "02", "03") for item in collect(learner, lesson)]
    by_name = {i.nodeid.rpartition("::")[2]: i for i in items}
    file = "tests/graded/test_l01_basics.py"
    assert items[:2] == [Collected(f"{file}::test_add", "01-add", 1, "", "test_add", "l01_basics"),
                         Collected(f"{file}::test_add_negative", "01-add", 0.5, "", "test_add_negative", "l01_basics")]
    assert by_name["test_mul_type"].hint == "Return a number, not its text."
    assert (by_name["test_zero"].exercise, by_name["test_zero"].function) == ("01-add", "test_zero")  # a class's marker
    assert (by_name["test_square"].exercise, by_name["test_square"].module) == ("02-square", "l02_broken")  # pytestmark
    assert (by_name["test_hostile[spin]"].function, by_name["test_hostile[spin]"].lesson) == ("test_hostile", "03")
    assert "test_not_graded" not in by_name
    assert {(i.nodeid, i.exercise, i.points) for i in items} == {
        (r.nodeid, r.exercise, r.points) for r in graded.values() if r.exercise}
    assert collect(learner, lesson=2) == collect(learner, lesson="02")
    assert collect(learner, lesson="07") == []


@pytest.mark.parametrize("marker, message", [
    ("exercise(points=2)", "@pytest.mark.exercise needs an exercise id, e.g. exercise('01-closure', points=2)"),
    ("exercise('', points=2)", "@pytest.mark.exercise needs an exercise id"),
    ("exercise('01-a', points=0)", "@pytest.mark.exercise points must be a positive number, not 0"),
    ("exercise('01-a', points='2')", "@pytest.mark.exercise points must be a positive number, not '2'"),
])
def test_a_malformed_marker_is_a_clear_usage_error(tmp_path, marker, message):
    course = make_course(tmp_path, {"tests/graded/test_l01_bad.py": f"""
        import pytest

        @pytest.mark.{marker}
        def test_bad(mod):
            pass
        """})
    expected = f"ERROR: tests/graded/test_l01_bad.py::test_bad: {message}"
    with pytest.raises(GradeError) as collecting:
        collect(course)
    with pytest.raises(GradeError) as grading:
        run_graded(root=course)
    assert expected in str(collecting.value) and expected in str(grading.value)


@pytest.mark.parametrize("lesson, out, err", [
    ("07", "", "no graded tests for lesson 07"),
    ("04", "ERROR: tests/graded/test_l04_typo.py could not be collected",
     "grading incomplete: 1 test file(s) could not be collected"),
])
def test_a_grading_that_cannot_be_complete_is_a_grader_error(learner, capsys, lesson, out, err):
    assert main(["--lesson", lesson], root=learner) == 2
    printed = capsys.readouterr()
    assert out in printed.out and err in printed.err


SOLUTION = '''
def add(a, b):
    """Return a + b."""
    # BEGIN SOLUTION 01-add
    return a + b
    # END SOLUTION

def neg(a):
    """Return -a."""
    # BEGIN SOLUTION 01-neg
    return -a
    # END SOLUTION
'''
GOOD_TESTS = """
import pytest

@pytest.mark.exercise("01-add")
def test_add(mod):
    assert mod.add(1, 2) == 3

@pytest.mark.exercise("01-neg")
def test_neg(mod):
    assert mod.neg(2) == -2
"""


def course_to_check(root, solution, tests):
    return make_course(root, {"solutions/l01_calc.py": solution,
                              "exercises/l01_calc.py": make_stub(solution, "l01_calc.py"),
                              "tests/graded/test_l01_calc.py": tests})


def test_check_passes_on_a_sound_course(tmp_path, capsys):
    assert main(["--check", "--timeout", "5"], root=course_to_check(tmp_path, SOLUTION, GOOD_TESTS)) == 0
    assert capsys.readouterr().out == ("2 graded tests in 1 lessons: all pass on solutions, all fail on the stubs; "
                                       "2 exercises, each with a region and a test, each selected by its id\n")


def test_check_finds_every_kind_of_problem(tmp_path):
    solution = SOLUTION + '''
def orphan():
    """Nobody tests this."""
    # BEGIN SOLUTION 01-orphan
    return 0
    # END SOLUTION

def negate(a):
    # BEGIN SOLUTION 01-negate
    return -a
    # END SOLUTION
'''
    tests = GOOD_TESTS + """
@pytest.mark.exercise("01-negate")
def test_negate(mod):
    assert mod.negate(1) == -1

@pytest.mark.exercise("01-neg")
def test_neg_exists(mod):
    assert callable(mod.neg)

@pytest.mark.exercise("01-ghost")
def test_ghost(mod):
    assert mod.add(0, 0) == 0

@pytest.mark.exercise("01-add")
def test_add_wrong(mod):
    assert mod.add(1, 1) == 3

@pytest.mark.exercise("01-add")
def test_add_skips_the_stub(mod):
    try:
        mod.add(0, 0)
    except NotImplementedError:
        pytest.skip("not done yet")
"""
    problems = check(course_to_check(tmp_path, solution, tests), timeout=5).problems
    file = "tests/graded/test_l01_calc.py"
    assert sorted(problems) == sorted([
        f"{file}::test_add_wrong fails on solutions: AssertionError: assert 2 == 3",
        f"{file}::test_neg_exists passes on the untouched stub in exercises/ (exercise 01-neg)",
        f"{file}::test_add_skips_the_stub is skipped on the untouched stub in exercises/ (exercise 01-add)",
        f"{file} tests exercise 01-ghost, but solutions/l01_calc.py has no region 01-ghost",
        "region 01-orphan (solutions/l01_calc.py:16, in orphan) has no graded test",
        "`pytest -k 01-neg` also runs the tests of exercise 01-negate: rename one, so that no id is part of another",
    ])


def test_minus_k_with_an_exercise_id_selects_all_of_its_tests_and_only_those():
    # 04-batchnorm-update has three tests, only one of them named after it
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "exercise",
                          "-k", "04-batchnorm-update", "tests/graded/test_l04_norms.py"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    selected = sorted(line.split("::")[1] for line in out.splitlines() if "::" in line)
    assert selected == ["test_batchnorm_refuses_one_value_per_channel", "test_batchnorm_running_stats_match_pytorch",
                        "test_batchnorm_update_returns_batch_stats_with_gradients"], out


def test_two_graders_at_once_get_the_same_grades(learner, graded):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_graded(root=learner, lesson="01", timeout=1), range(2)))
    expected = [(r.nodeid, r.outcome) for r in graded.values() if r.lesson == "01"]
    assert [(r.nodeid, r.outcome) for r in runs[0]] == [(r.nodeid, r.outcome) for r in runs[1]] == expected


def test_the_next_step_is_the_learners_real_failure_not_an_exercise_not_started():
    untouched = r("a", "01-a", 1, False, "NotImplementedError: exercise 01-a: f")
    real = r("b", "01-b", 1, False, "AssertionError: assert 2 == 3")
    assert next_step([untouched, real], "exercises").endswith("--impl exercises tests/graded/test_l01_x.py::b")
    assert next_step([untouched, r("b", "01-b")], "exercises") == "Next: exercise 01-a (f in exercises/l01_x.py)"
    assert next_step([r("b", "01-b")], "exercises") is None


def test_a_learner_module_that_writes_into_solutions_is_reported(tmp_path, capsys):
    course = make_course(tmp_path, {
        "solutions/l01_w.py": "def one():\n    return 1\n",
        "exercises/l01_w.py": """
            from pathlib import Path
            Path(__file__).parent.parent.joinpath("solutions", "l01_w.py").write_text("def one():\\n    return 2\\n")

            def one():
                return 1
            """,
        "tests/graded/test_l01_w.py": """
            import pytest

            @pytest.mark.exercise("01-one")
            def test_one(mod):
                assert mod.one() == 1
            """})
    assert main(["--lesson", "01"], root=course) == 0
    err = capsys.readouterr().err
    assert "graded code may have written to them" in err and "solutions/l01_w.py (changed while grading)" in err
