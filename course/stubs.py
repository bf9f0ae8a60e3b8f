"""Generate `exercises/` from `solutions/`: every marked solution region becomes a stub.

A region sits inside a function body, after the signature and docstring::

    def make_show_progress(exclamation):
        "Return a callback that prints `exclamation` and the epoch."
        # BEGIN SOLUTION 01-closure
        def show_progress(epoch): print(f"{exclamation}! We've finished epoch {epoch}!")
        return show_progress
        # END SOLUTION

and the stub keeps everything but the region's lines, which become::

        raise NotImplementedError("exercise 01-closure: make_show_progress")

Usage: ``python -m course.stubs`` writes `exercises/`; ``python -m course.stubs --check`` fails
when `exercises/` differs from what would be written or a marker leaked into a stub.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"


def shown(path: Path) -> Path:
    """`path` as messages show it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION (?P<id>\d\d-[a-z0-9-]+)\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
LEAK = re.compile(r"(BEGIN|END) SOLUTION")
HEADER = "# GENERATED from solutions/{name} by `make stubs`.\n"
YOURS = ("# This file is yours to edit: replace each `raise NotImplementedError(...)` with your answer,\n"
         "# then run `make grade`.\n")


class MarkerError(ValueError):
    """A solution file whose markers cannot be turned into stubs."""


@dataclass(frozen=True)
class Region:
    id: str  # exercise id, e.g. "01-closure"
    function: str  # qualified name of the function the region sits in
    start: int  # line number of BEGIN (1-based)
    end: int  # line number of END
    docstring: str | None


def _functions(tree: ast.AST):
    """Yield (qualname, node) for every function, methods as Class.method."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield qual, child
                yield from walk(child, qual + ".")
    yield from walk(tree, "")


def find_regions(source: str, filename: str = "<solution>") -> list[Region]:
    """Parse the marked regions of one solution file, checking that each is well formed."""
    lines = source.splitlines()
    funcs = list(_functions(ast.parse(source, filename)))
    regions, open_at = [], None
    for n, line in enumerate(lines, 1):
        if (m := BEGIN.match(line)):
            if open_at:
                raise MarkerError(f"{filename}:{n}: BEGIN SOLUTION inside the region opened at line {open_at[0]}")
            open_at = (n, m["id"], m["indent"])
        elif END.match(line):
            if not open_at:
                raise MarkerError(f"{filename}:{n}: END SOLUTION without a BEGIN")
            start, rid, indent = open_at
            # the innermost function whose body holds the region (its END may trail the last statement)
            owners = [(q, f) for q, f in funcs if f.lineno < start < f.end_lineno]
            if not owners:
                raise MarkerError(f"{filename}:{start}: region {rid} is not inside a function body")
            qual, func = max(owners, key=lambda qf: qf[1].lineno)
            if any(line.strip() and not line.startswith(indent) for line in lines[start:n - 1]):
                raise MarkerError(f"{filename}:{start}: region {rid} has lines indented less than its marker")
            regions.append(Region(rid, qual, start, n, ast.get_docstring(func)))
            open_at = None
        elif LEAK.search(line):
            raise MarkerError(f"{filename}:{n}: malformed marker (use '# BEGIN SOLUTION NN-name' / '# END SOLUTION')")
    if open_at:
        raise MarkerError(f"{filename}:{open_at[0]}: region {open_at[1]} is never closed")
    return regions


def make_stub(source: str, name: str) -> str:
    """The exercise version of one solution file."""
    lines, out, last = source.splitlines(), [], 0
    regions = find_regions(source, name)
    for r in regions:
        indent = BEGIN.match(lines[r.start - 1])["indent"]
        out += lines[last:r.start - 1]
        out.append(f'{indent}raise NotImplementedError("exercise {r.id}: {r.function}")')
        last = r.end
    out += lines[last:]
    body = "\n".join(out) + "\n"
    ast.parse(body, name)  # a stub must still import
    return HEADER.format(name=name) + (YOURS if regions else "") + body


def expected(solutions: Path = SOLUTIONS) -> dict[str, str]:
    """File name -> content for every file `exercises/` should hold."""
    return {p.name: make_stub(p.read_text(), p.name) for p in sorted(solutions.glob("*.py"))}


def write(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[str]:
    exercises.mkdir(exist_ok=True)
    files = expected(solutions)
    for stale in set(p.name for p in exercises.glob("*.py")) - set(files):
        (exercises / stale).unlink()
    for name, text in files.items():
        (exercises / name).write_text(text)
    return sorted(files)


def check(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[str]:
    """Problems that make `exercises/` out of date with `solutions/` (empty when in sync)."""
    files, problems = expected(solutions), []
    present = {p.name for p in exercises.glob("*.py")}
    for name in sorted(present - set(files)):
        problems.append(f"exercises/{name} has no solutions/{name}")
    for name, text in files.items():
        path = exercises / name
        if not path.exists():
            problems.append(f"exercises/{name} is missing")
            continue
        actual = path.read_text()
        if LEAK.search(actual):
            problems.append(f"exercises/{name} contains a solution marker")
        if actual != text:
            problems.append(f"exercises/{name} differs from what solutions/{name} generates")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.stubs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for p in problems:
                print(f"out of sync: {p}", file=sys.stderr)
            if problems:
                print("Run `make stubs` to regenerate exercises/ from solutions/.", file=sys.stderr)
                return 1
            print(f"exercises/ is in sync with solutions/ ({len(list(SOLUTIONS.glob('*.py')))} files)")
            return 0
        print("wrote exercises/" + ", exercises/".join(write()))
        return 0
    except (MarkerError, SyntaxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
