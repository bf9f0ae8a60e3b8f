"""The stub generator: regions become stubs that keep signatures and docstrings; drift is caught."""

import re
import textwrap

import pytest

from course import stubs

SOLUTION = textwrap.dedent('''\
    import math


    def area(r):
        """Area of a circle of radius `r`."""
        # BEGIN SOLUTION 01-area
        return math.pi * r ** 2
        # END SOLUTION


    class Counter:
        def __init__(self):
            self.n = 0

        def bump(self, k=1):
            # BEGIN SOLUTION 01-counter
            self.n += k
            return self
            # END SOLUTION
    ''')


def test_regions_are_found_with_their_function():
    regions = stubs.find_regions(SOLUTION)
    assert [(r.id, r.function, r.start, r.end) for r in regions] == [("01-area", "area", 6, 8),
                                                                     ("01-counter", "Counter.bump", 16, 19)]


def test_stub_keeps_signature_and_docstring_and_raises(tmp_path):
    stub = stubs.make_stub(SOLUTION, "l01_demo.py")
    assert "math.pi" not in stub and "self.n += k" not in stub and "SOLUTION" not in stub
    assert ('def area(r):\n    """Area of a circle of radius `r`."""\n'
            '    raise NotImplementedError("exercise 01-area: area")') in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="exercise 01-counter: Counter.bump"):
        namespace["Counter"]().bump()
    assert namespace["Counter"]().n == 0  # code outside regions is kept


@pytest.mark.parametrize("broken, message", [
    ("def f():\n    # BEGIN SOLUTION 01-f\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a BEGIN"),
    ("# BEGIN SOLUTION 01-f\nx = 1\n# END SOLUTION\n", "not inside a function body"),
    ("def f():\n    # BEGIN SOLUTION f\n    return 1\n    # END SOLUTION\n", "malformed marker"),
    ("def f():\n    # BEGIN SOLUTION 01-f\n    # BEGIN SOLUTION 01-g\n    return 1\n    # END SOLUTION\n",
     "inside the region"),
])
def test_malformed_markers_are_reported_with_their_line(broken, message):
    with pytest.raises(stubs.MarkerError, match=message):
        stubs.find_regions(broken, "bad.py")


@pytest.fixture
def course(tmp_path):
    """solutions/ with SOLUTION as l01_demo.py, exercises/ written from it, and where backups go."""
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises, backups=tmp_path / "backups")
    return solutions, exercises, tmp_path / "backups"


def test_check_catches_drift_missing_and_leaked_files(course):
    solutions, exercises, _ = course
    assert stubs.check(solutions, exercises) == []
    (exercises / "l01_demo.py").write_text((exercises / "l01_demo.py").read_text() + "# BEGIN SOLUTION\n")
    (exercises / "l09_orphan.py").write_text("")
    problems = stubs.check(solutions, exercises)
    assert any("contains a solution marker" in p for p in problems)
    assert any("differs" in p for p in problems)
    assert any("l09_orphan.py has no solutions" in p for p in problems)


def test_only_the_package_and_modules_with_exercises_get_a_stub(course):
    solutions, exercises, backups = course
    (solutions / "__init__.py").write_text('"""The library."""\n')
    (solutions / "l01_layers.py").write_text("def relu(x):\n    return x.clamp_min(0)\n")  # no region
    stubs.write(solutions, exercises, backups=backups)
    assert sorted(p.name for p in exercises.iterdir()) == ["__init__.py", "l01_demo.py"]
    assert stubs.check(solutions, exercises) == []


def test_the_course_exercises_are_in_sync():
    assert stubs.check() == []


def test_an_edited_exercise_is_never_overwritten_without_force(course):
    solutions, exercises, backups = course
    stub = exercises / "l01_demo.py"
    assert not stubs.edited(stub.read_text())
    answer = stub.read_text().replace('raise NotImplementedError("exercise 01-area: area")', "return 3.14 * r * r")
    stub.write_text(answer)
    assert stubs.edited(answer)
    assert any("holds your edits" in p for p in stubs.check(solutions, exercises))

    # the solutions change: the edited file is refused, nothing is written
    (solutions / "l01_demo.py").write_text(SOLUTION.replace("Area of a circle", "The area of a circle"))
    with pytest.raises(stubs.EditedError):
        stubs.write(solutions, exercises, backups=backups)
    assert stub.read_text() == answer and not backups.exists()

    # forced: a backup first, then the fresh stub
    written, backup = stubs.write(solutions, exercises, force=True, backups=backups)
    assert written == ["l01_demo.py"] and (backup / "l01_demo.py").read_text() == answer
    assert "The area of a circle" in stub.read_text() and not stubs.edited(stub.read_text())

    # edited and forced again, in the same second: a second backup, the first one kept
    stub.write_text(answer + "# again\n")
    (solutions / "l01_demo.py").write_text(SOLUTION)
    _, second = stubs.write(solutions, exercises, force=True, backups=backups)
    assert second != backup and (backup / "l01_demo.py").read_text() == answer
    assert (second / "l01_demo.py").read_text() == answer + "# again\n"


def _new_solution(solutions, stub):
    (solutions / "l01_demo.py").write_text(SOLUTION.replace("Area of a circle", "The area of a circle"))


def _stale_fingerprint(solutions, stub):
    """What a merge of two branches that both regenerated a stub leaves: the right content, a stale fingerprint."""
    stub.write_text(re.sub(r"fingerprint [0-9a-f]{16}", "fingerprint 0123456789abcdef", stub.read_text(), count=1))


@pytest.mark.parametrize("make_stale", [_new_solution, _stale_fingerprint])
def test_a_stale_stub_that_holds_no_edits_is_regenerated_without_force(course, make_stale):
    solutions, exercises, backups = course
    make_stale(solutions, exercises / "l01_demo.py")
    assert any("is out of date" in p for p in stubs.check(solutions, exercises))
    written, backup = stubs.write(solutions, exercises, backups=backups)
    assert written == ["l01_demo.py"] and backup is None and stubs.check(solutions, exercises) == []


def test_the_check_never_sends_a_learner_with_edits_to_make_stubs(course, capsys):
    solutions, exercises, backups = course
    (exercises / "l01_demo.py").write_text((exercises / "l01_demo.py").read_text() + "# my answer\n")
    assert stubs.main(["--check"], solutions, exercises) == 1
    err = capsys.readouterr().err
    assert "holds your edits" in err and "make grade" in err and "Run `make stubs`" not in err
    assert "FORCE=1" in err and ".exercises-backup" in err
    assert stubs.main([], solutions, exercises, backups) == 1  # make stubs refuses ...
    assert "# my answer" in (exercises / "l01_demo.py").read_text()  # ... and leaves the answer alone
