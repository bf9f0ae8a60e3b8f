"""Prove the graded tests grade each exercise on its own, and catch plausible wrong answers
(CONTRIBUTING.md, "Each exercise graded on its own; wrong answers that must fail").

- **Isolation.** For every exercise, the lesson's module with only that exercise's regions solved
  must pass all of the exercise's graded tests.
- **Mutants.** Each wrong answer in `tests/mutants/lNN_slug.py` (`solutions/lNN_slug.py` with named
  defs replaced) must fail at least one graded test of its exercise; `MIN_MUTANTS` per exercise.

Each variant is graded in a child forked from one warmed-up process (torch, pytest and the course
imported once), in a process session of its own that is killed when it ends (`course.procs`): the
child serves the variant as the `exercises` package and runs the exercise's tests (`-k ID`). Forks,
not the grader's pytest-xdist sessions: a session per variant would import torch afresh (seconds).

Usage: ``python -m course.mutants [--lesson NN] [--jobs N] [--only mutant|isolation]``.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from course.paths import ROOT
from course.procs import kill_session
from course.stubs import find_regions, functions, make_stub

MUTANTS_DIR = ROOT / "tests" / "mutants"
MIN_MUTANTS = 2
TIMEOUT = 20.0  # seconds one variant's tests may take before the child is killed (a mutant that hangs)


class MutantError(ValueError):
    """A mutants file that cannot be used (bad format, unknown function or exercise)."""


@dataclass
class Variant:
    """One module to grade: `source` is served as exercises/<module>.py; `exercise`'s tests run on it."""
    kind: str  # "mutant" or "isolation"
    module: str  # l00_training_loop
    exercise: str  # 00-accuracy
    description: str
    source: str
    outcomes: dict[str, str] = field(default_factory=dict)  # test nodeid -> passed/failed/...
    error: str = ""  # the child died or timed out

    @property
    def lesson(self) -> str:
        return self.module[1:3]

    @property
    def ok(self) -> bool:
        """Isolation: every test of the exercise passed. Mutant: at least one failed (it was killed)."""
        if self.error or not self.outcomes:
            return self.kind == "mutant" and bool(self.error)  # a mutant that hangs or crashes is caught
        passed = [o == "passed" for o in self.outcomes.values()]
        return all(passed) if self.kind == "isolation" else not all(passed)


# ------------------------------------------------------------------------------- building variants

def replace_defs(source: str, replacements: dict[str, str], filename: str = "<solution>") -> str:
    """`source` with each def named in `replacements` (qualname -> the new def's source) replaced; a
    replacement without decorators keeps the original's."""
    lines = source.splitlines()
    funcs = dict(functions(ast.parse(source, filename)))
    edits = []
    for qualname, new in replacements.items():
        if qualname not in funcs:
            raise MutantError(f"{filename} has no function {qualname!r} to replace")
        node = funcs[qualname]
        new = textwrap.dedent(new).strip("\n")
        try:
            parsed = ast.parse(new).body
        except SyntaxError as e:
            raise MutantError(f"the replacement of {qualname} does not parse: {e}") from None
        name = qualname.rpartition(".")[2]
        if len(parsed) != 1 or not isinstance(parsed[0], (ast.FunctionDef, ast.AsyncFunctionDef)) \
                or parsed[0].name != name:
            raise MutantError(f"the replacement of {qualname} must be one `def {name}(...)`")
        start = node.decorator_list[0].lineno if parsed[0].decorator_list and node.decorator_list else node.lineno
        indent = " " * node.col_offset
        edits.append((start, node.end_lineno, [indent + line if line.strip() else "" for line in new.splitlines()]))
    for start, end, new_lines in sorted(edits, reverse=True):
        lines[start - 1:end] = new_lines
    return "\n".join(lines) + "\n"


def load_mutants(path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """The MUTANTS list of one mutants file, checked for its format."""
    spec = importlib.util.spec_from_file_location(f"_mutants_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mutants, form = getattr(module, "MUTANTS", None), "(exercise id, description, {qualname: source})"
    if not isinstance(mutants, list):
        raise MutantError(f"{path.name} must define MUTANTS = [{form}, ...]")
    for n, m in enumerate(mutants):
        if not (isinstance(m, tuple) and len(m) == 3 and isinstance(m[0], str) and isinstance(m[1], str)
                and isinstance(m[2], dict) and m[2]
                and all(isinstance(k, str) and isinstance(v, str) for k, v in m[2].items())):
            raise MutantError(f"{path.name}: MUTANTS[{n}] is not {form}")
    return mutants


def variants(root: Path = ROOT, lesson: str | None = None,
             kinds=("isolation", "mutant")) -> tuple[list[Variant], list[str]]:
    """Every variant to grade, and the problems found while building them (a mutants file's mistakes,
    an exercise with too few mutants)."""
    found, problems = [], []
    for path in sorted((root / "solutions").glob("l[0-9][0-9]_*.py")):
        module = path.stem
        if lesson and module[1:3] != lesson:
            continue
        source, shown = path.read_text(), f"solutions/{path.name}"
        regions = find_regions(source, shown)
        if not regions:  # no exercise (comparison-only layers): nothing to grade
            continue
        exercises = list(dict.fromkeys(r.id for r in regions))
        if "isolation" in kinds:
            found += [Variant("isolation", module, ex, "only this exercise solved",
                              make_stub(source, path.name, keep=frozenset({ex}))) for ex in exercises]
        if "mutant" not in kinds:
            continue
        mutants_file = root / "tests" / "mutants" / path.name
        if not mutants_file.exists():
            problems.append(f"{module}: no tests/mutants/{path.name} "
                            f"(at least {MIN_MUTANTS} wrong answers per exercise)")
            continue
        holders = {}  # qualname -> exercise ids of the regions inside it
        for r in regions:
            holders.setdefault(r.function, set()).add(r.id)
        try:
            mutants = load_mutants(mutants_file)
        except (MutantError, SyntaxError, ImportError) as e:
            problems.append(str(e))
            continue
        for exercise, description, replacements in mutants:
            where = f"tests/mutants/{path.name}: {exercise} ({description})"
            if exercise not in exercises:
                problems.append(f"{where}: {shown} has no exercise {exercise}")
                continue
            outside = [q for q in replacements if exercise not in holders.get(q, ())]
            if outside:
                problems.append(f"{where}: {', '.join(outside)} holds no region of {exercise} "
                                "(replace only the exercise's code)")
                continue
            try:
                variant = replace_defs(source, replacements, shown)
                found.append(Variant("mutant", module, exercise, description, variant))
            except MutantError as e:
                problems.append(f"{where}: {e}")
        counts = {ex: sum(m[0] == ex for m in mutants) for ex in exercises}
        problems += [f"tests/mutants/{path.name}: exercise {ex} has {n} mutant{'s' * (n != 1)}, "
                     f"needs at least {MIN_MUTANTS}" for ex, n in counts.items() if n < MIN_MUTANTS]
    return found, problems


# ------------------------------------------------------------------------------------ grading them

def _warm_up() -> None:
    """Import once, in the parent, what every child needs: the forks then start in milliseconds."""
    import _pytest.python  # noqa: F401
    import pytest  # noqa: F401
    import pytest_timeout  # noqa: F401
    import torch  # noqa: F401

    import course.grade_plugin  # noqa: F401
    from course.seed import set_seed
    set_seed(0)  # its first call imports much of torch (torch._dynamo): seconds per child otherwise
    for path in sorted((ROOT / "solutions").glob("l[0-9][0-9]_*.py")):
        importlib.import_module(f"solutions.{path.stem}")
    gc.collect()
    gc.freeze()  # pytest collects garbage at the end of a session: skip the warm objects (a second per child)


def _child(variant: Variant, tmp: Path) -> int:
    """In the forked child: serve the variant as `exercises`, run the exercise's tests, report them."""
    import pytest
    import torch
    torch.set_num_threads(1)
    package = tmp / "exercises"
    package.mkdir()
    (package / f"{variant.module}.py").write_text(variant.source)
    sys.modules["exercises"] = types.ModuleType("exercises")
    sys.modules["exercises"].__path__ = [str(package)]
    sys.modules.pop(f"exercises.{variant.module}", None)
    log = os.open(tmp / "log.txt", os.O_WRONLY | os.O_CREAT)
    os.dup2(log, 1)
    os.dup2(log, 2)
    test_file = ROOT / "tests" / "graded" / f"test_{variant.module}.py"
    # `-k ID` selects exactly the exercise's tests (`course.grade --check` proves it); --assert=plain: only
    # the outcomes count here, and rewriting the test file costs each child ~0.4s
    return pytest.main([str(test_file), "--impl=exercises", "-m", "exercise", "-k", variant.exercise,
                        f"--rootdir={ROOT}", "-q", "-p", "no:cacheprovider", "--assert=plain",
                        f"--grade-report={tmp / 'report.jsonl'}", f"--timeout={TIMEOUT}", "--timeout-method=signal"])


def _start(variant: Variant) -> tuple[int, Path]:
    from course.grade import temp_base  # the grader's folder: a killed run's folders are removed by the next
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-variant-", dir=temp_base()))
    pid = os.fork()
    if pid == 0:  # the child never returns into the parent's code
        code = 3
        try:
            os.setsid()  # a session of its own: killed with all it started (course.procs)
            code = _child(variant, tmp)
        except BaseException:
            import traceback
            (tmp / "crash.txt").write_text(traceback.format_exc())
        finally:
            os._exit(int(code) if isinstance(code, int) else 3)
    return pid, tmp


def _finish(variant: Variant, tmp: Path, status: str) -> None:
    from course.grade_plugin import read_report
    records = read_report(tmp / "report.jsonl")
    variant.outcomes = {r["nodeid"]: r["outcome"] for r in records if r["event"] == "result"}
    crash = (tmp / "crash.txt").read_text() if (tmp / "crash.txt").exists() else ""
    if status:
        variant.error = status
    elif crash:
        variant.error = "the test run crashed: " + crash.strip().splitlines()[-1]
    elif not variant.outcomes:
        log = (tmp / "log.txt").read_text() if (tmp / "log.txt").exists() else ""
        variant.error = "no graded test of the exercise ran: " + " | ".join(log.strip().splitlines()[-3:])
    shutil.rmtree(tmp, ignore_errors=True)


def grade(todo: list[Variant], jobs: int = 2, limit: float = TIMEOUT * 3) -> None:
    """Grade every variant, `jobs` forked children at a time (fills in outcomes and error)."""
    _warm_up()
    pending, running = list(todo), {}  # pid -> (variant, tmp, started)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                variant = pending.pop(0)
                pid, tmp = _start(variant)
                running[pid] = (variant, tmp, time.time())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                for pid, (variant, tmp, started) in list(running.items()):
                    if time.time() - started > limit:
                        kill_session(pid)
                        os.waitpid(pid, 0)
                        del running[pid]
                        _finish(variant, tmp, f"killed after {limit:g}s (it hangs)")
                time.sleep(0.01)
                continue
            if pid in running:
                variant, tmp, _ = running.pop(pid)
                kill_session(pid)  # what the variant's code left running
                code = os.waitstatus_to_exitcode(status)
                _finish(variant, tmp, f"the test process died ({signal.Signals(-code).name})" if code < 0 else "")
    finally:
        for pid in running:
            kill_session(pid)


# --------------------------------------------------------------------------------------------- CLI

def report(done: list[Variant]) -> tuple[list[str], list[str]]:
    """Per-lesson count lines, and the failures (surviving mutants, exercises not graded alone)."""
    lines, failures = [], []
    for lesson in sorted({v.lesson for v in done}):
        mine = [v for v in done if v.lesson == lesson]
        mutants = [v for v in mine if v.kind == "mutant"]
        isolated = [v for v in mine if v.kind == "isolation"]
        lines.append(f"lesson {lesson}: {len(mutants)} mutants, {sum(v.ok for v in mutants)} killed; "
                     f"{sum(v.ok for v in isolated)} of {len(isolated)} exercises graded on their own")
    for v in done:
        if v.ok:
            continue
        if v.kind == "mutant":
            tests = "its only graded test" if len(v.outcomes) == 1 else f"all {len(v.outcomes)} of its graded tests"
            failures.append(f"SURVIVED {v.exercise}: {v.description} (passes {tests}; "
                            f"tests/mutants/{v.module}.py)")
        else:
            failed = [n.partition('::')[2] for n, o in v.outcomes.items() if o != "passed"]
            failures.append(f"NOT ALONE {v.exercise}: with only this exercise solved, "
                            + (v.error or f"{', '.join(failed)} fail: a test uses another exercise's code "
                               "(take it from the `ref` fixture)"))
    return lines, failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.mutants", description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", help="only this lesson (e.g. 01)")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="children at a time")
    parser.add_argument("--only", choices=("isolation", "mutant"), help="run one of the two checks")
    args = parser.parse_args(argv)
    lesson = f"{int(args.lesson):02d}" if args.lesson else None
    started = time.time()
    todo, problems = variants(lesson=lesson, kinds=(args.only,) if args.only else ("isolation", "mutant"))
    grade(todo, jobs=args.jobs)
    lines, failures = report(todo)
    print("\n".join(lines))
    print(f"{len(todo)} variants graded in {time.time() - started:.1f}s ({args.jobs} at a time)")
    for line in problems + failures:
        print(line, file=sys.stderr)
    if problems or failures:
        print(f"{len(problems) + len(failures)} problem(s): a surviving mutant needs a test that fails on it; "
              "see CONTRIBUTING.md, 'Wrong answers'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
