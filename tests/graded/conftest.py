"""Each exercise is graded on its own: in a graded test of exercise B, `mod` runs the reference code
of every other exercise.

The `mod` fixture below wraps the root one: before the test runs, each function or method of `mod`
that holds a solution region of another exercise A (and none of B) is replaced, for this test only,
by the reference's (`ref`), run in `mod`'s namespace (so it raises and catches `mod`'s own exception
classes, and `super()` means `mod`'s class). So a test of `Runner` uses the reference
`Callback.__getattr__`, and a learner who has written only B gets B's full points.
`python -m course.mutants` proves it for every exercise: it grades each one with only its own
regions solved.
"""

from functools import cache
from pathlib import Path
from types import CellType, FunctionType

import pytest

from course.seed import set_seed
from course.stubs import find_regions

# The first set_seed imports much of torch (torch._dynamo: seconds on a busy machine). Pay for it while
# collecting, not inside the first graded test, where it counts against the grader's per-test timeout.
set_seed(0)


@cache
def _holders(path: str) -> dict[str, frozenset[str]]:
    """Qualified name -> the exercise ids of the solution regions inside it."""
    holders = {}
    for region in find_regions(Path(path).read_text(), path):
        holders.setdefault(region.function, set()).add(region.id)
    return {name: frozenset(ids) for name, ids in holders.items()}


def _in(module, f, owner=None):
    """The reference function (or property, staticmethod, classmethod) `f`, with `module`'s globals."""
    if isinstance(f, property):
        return property(*(fn and _in(module, fn, owner) for fn in (f.fget, f.fset, f.fdel)), f.__doc__)
    if isinstance(f, (staticmethod, classmethod)):
        return type(f)(_in(module, f.__func__, owner))
    if not isinstance(f, FunctionType):
        return f
    closure = f.__closure__
    if owner is not None and "__class__" in f.__code__.co_freevars:  # super() inside a method
        cells = list(closure)
        cells[f.__code__.co_freevars.index("__class__")] = CellType(owner)
        closure = tuple(cells)
    g = FunctionType(f.__code__, module.__dict__, f.__name__, f.__defaults__, closure)
    g.__kwdefaults__, g.__qualname__, g.__doc__ = f.__kwdefaults__, f.__qualname__, f.__doc__
    g.__dict__.update(f.__dict__)
    return g


def _same_events(got: list[str], expected: list[str], what: str = "events") -> None:
    """Fail at the first event that differs, with a few events around it."""
    if got == expected:
        return
    i = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    lo = max(i - 2, 0)
    raise AssertionError(f"{what}: event {i} is {got[i] if i < len(got) else 'missing'!r}, expected "
                         f"{expected[i] if i < len(expected) else 'no more events'!r} (got ...{got[lo:i + 3]}..., "
                         f"expected ...{expected[lo:i + 3]}...; {len(got)} events, expected {len(expected)})")


@pytest.fixture
def same_events():
    """`same_events(got, expected, what="events")`: compare the events a runner called with those expected,
    failing at the first that differs (lessons 00 and 02 trace a runner with the same check)."""
    return _same_events


@pytest.fixture
def mod(mod, ref, request, monkeypatch):
    mark = request.node.get_closest_marker("exercise")
    exercise = mark.args[0] if mark and mark.args else None
    if exercise is None or mod is ref:  # not a graded test, or grading the reference itself
        return mod
    for qualname, ids in _holders(ref.__file__).items():
        if exercise in ids:
            continue
        owner_name, _, name = qualname.rpartition(".")
        if "." in owner_name:
            continue  # a method of a nested class: not used in this course
        if owner_name:
            theirs, ours = getattr(mod, owner_name, None), getattr(ref, owner_name)
            if isinstance(theirs, type):
                monkeypatch.setattr(theirs, name, _in(mod, ours.__dict__[name], theirs))  # raw: a property stays one
        elif hasattr(mod, name):
            monkeypatch.setattr(mod, name, _in(mod, getattr(ref, name)))
    return mod
