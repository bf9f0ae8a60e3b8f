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
    assert [(r.id, r.function, r.docstring) for r in regions] == [
        ("01-area", "area", "Area of a circle of radius `r`."), ("01-counter", "Counter.bump", None)]


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


def test_check_catches_drift_missing_and_leaked_files(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises)
    assert stubs.check(solutions, exercises) == []
    (exercises / "l01_demo.py").write_text((exercises / "l01_demo.py").read_text() + "# BEGIN SOLUTION\n")
    (exercises / "l09_orphan.py").write_text("")
    problems = stubs.check(solutions, exercises)
    assert any("contains a solution marker" in p for p in problems)
    assert any("differs" in p for p in problems)
    assert any("l09_orphan.py has no solutions" in p for p in problems)


def test_the_course_exercises_are_in_sync():
    assert stubs.check() == []


def test_an_edited_exercise_is_never_overwritten_without_force(tmp_path):
    solutions, exercises, backups = tmp_path / "solutions", tmp_path / "exercises", tmp_path / "backups"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises, backups=backups)
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


def test_a_stale_but_untouched_stub_is_regenerated_without_force(tmp_path):
    solutions, exercises, backups = tmp_path / "solutions", tmp_path / "exercises", tmp_path / "backups"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises, backups=backups)
    (solutions / "l01_demo.py").write_text(SOLUTION.replace("Area of a circle", "The area of a circle"))
    assert any("is out of date" in p for p in stubs.check(solutions, exercises))
    written, backup = stubs.write(solutions, exercises, backups=backups)
    assert written == ["l01_demo.py"] and backup is None
    assert stubs.check(solutions, exercises) == []


def test_the_check_never_sends_a_learner_with_edits_to_make_stubs(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises, backups=tmp_path / "backups")
    (exercises / "l01_demo.py").write_text((exercises / "l01_demo.py").read_text() + "# my answer\n")
    assert stubs.main(["--check"], solutions, exercises) == 1
    err = capsys.readouterr().err
    assert "holds your edits" in err and "make grade" in err and "Run `make stubs`" not in err
    assert "FORCE=1" in err and ".exercises-backup" in err
    assert stubs.main([], solutions, exercises, tmp_path / "backups") == 1  # make stubs refuses ...
    assert "# my answer" in (exercises / "l01_demo.py").read_text()  # ... and leaves the answer alone


def test_a_stub_whose_only_change_is_a_stale_fingerprint_is_not_the_learners(tmp_path):
    """After a merge of two branches that both regenerated a stub, the content is right and the
    fingerprint stale: `make stubs` restamps it without FORCE."""
    solutions, exercises, backups = tmp_path / "solutions", tmp_path / "exercises", tmp_path / "backups"
    solutions.mkdir()
    (solutions / "l01_demo.py").write_text(SOLUTION)
    stubs.write(solutions, exercises, backups=backups)
    stub = exercises / "l01_demo.py"
    first, _, rest = stub.read_text().partition("\n")
    stub.write_text(re.sub(r"fingerprint [0-9a-f]{16}", "fingerprint 0123456789abcdef", first) + "\n" + rest)
    assert stubs.edited(stub.read_text())
    assert any("is out of date" in p for p in stubs.check(solutions, exercises))
    written, backup = stubs.write(solutions, exercises, backups=backups)
    assert written == ["l01_demo.py"] and backup is None and stubs.check(solutions, exercises) == []
