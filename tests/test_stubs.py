"""The stub generator: regions become stubs that keep signatures and docstrings; drift is caught."""

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
