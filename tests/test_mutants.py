"""course.mutants: variants are built right, graded in forked children, and survivors reported."""

import textwrap

import pytest

from course import mutants, stubs
from course.paths import ROOT

SOLUTION = textwrap.dedent('''\
    class Counter:
        @property
        def double(self):
            # BEGIN SOLUTION 01-double
            return 2 * self.n
            # END SOLUTION

        def bump(self, k=1):
            # BEGIN SOLUTION 01-bump
            self.n += k
            # END SOLUTION
    ''')


def test_replace_defs_keeps_decorators_and_indents_methods():
    out = mutants.replace_defs(SOLUTION, {"Counter.double": "def double(self):\n    return 3 * self.n\n"})
    assert "    @property\n    def double(self):\n        return 3 * self.n\n" in out
    assert "self.n += k" in out and "2 * self.n" not in out


@pytest.mark.parametrize("replacements, message", [
    ({"Counter.nope": "def nope(self): pass"}, "no function 'Counter.nope'"),
    ({"Counter.bump": "def other(self): pass"}, "must be one `def bump"),
    ({"Counter.bump": "def bump(self) pass"}, "does not parse"),
])
def test_replace_defs_rejects_bad_mutants(replacements, message):
    with pytest.raises(mutants.MutantError, match=message):
        mutants.replace_defs(SOLUTION, replacements)


def test_make_stub_keeps_only_the_chosen_exercise_solved():
    out = stubs.make_stub(SOLUTION, "l01_demo.py", keep=frozenset({"01-bump"}))
    assert "self.n += k" in out and 'raise NotImplementedError("exercise 01-double: Counter.double")' in out


def test_every_lesson_has_a_mutants_file_with_enough_mutants():
    found, problems = mutants.variants()
    assert problems == []
    lessons = {p.stem[1:3] for p in (ROOT / "solutions").glob("l[0-9][0-9]_*.py")}
    assert {v.lesson for v in found if v.kind == "mutant"} == lessons


def test_grading_kills_a_wrong_answer_passes_isolation_and_reports_a_survivor(monkeypatch):
    monkeypatch.setattr(mutants, "TIMEOUT", 2)  # the hanging mutant: cut after 2 s
    source = (ROOT / "solutions" / "l00_training_loop.py").read_text()
    wrong_answer = "def accuracy(out, yb):\n    return (out.argmax(0) == yb).float().mean()"
    wrong = mutants.replace_defs(source, {"accuracy": wrong_answer})
    todo = [mutants.Variant("mutant", "l00_training_loop", "00-accuracy", "argmax over the batch", wrong),
            mutants.Variant("mutant", "l00_training_loop", "00-accuracy", "the reference itself", source),
            mutants.Variant("isolation", "l00_training_loop", "00-accuracy", "alone",
                            stubs.make_stub(source, "l00_training_loop.py", keep=frozenset({"00-accuracy"}))),
            mutants.Variant("mutant", "l00_training_loop", "00-accuracy", "hangs",
                            mutants.replace_defs(source, {"accuracy": "def accuracy(out, yb):\n    while True: pass"}))]
    mutants.grade(todo, jobs=2, limit=30)
    killed, survivor, alone, hangs = todo
    assert killed.ok and killed.outcomes and not killed.error
    assert not survivor.ok and alone.ok and hangs.ok
    lines, failures = mutants.report(todo)
    assert lines == ["lesson 00: 3 mutants, 2 killed; 1 of 1 exercises graded on their own"]
    assert failures == ["SURVIVED 00-accuracy: the reference itself (passes its only graded test; "
                        "tests/mutants/l00_training_loop.py)"]
