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

Usage: ``python -m course.stubs [--force]`` writes `exercises/`; ``python -m course.stubs --check``
fails when `exercises/` differs from what would be written or a marker leaked into a stub.

A learner's answers live in `exercises/`, so neither may destroy them. Each generated file's first
line carries a fingerprint of the rest of the file: a file whose content no longer matches its
fingerprint has been edited (it holds the learner's work), while one that matches it but differs
from what `solutions/` generates now is merely stale, and safe to regenerate. `write` refuses to
overwrite an edited file unless forced, and then first copies it to `.exercises-backup/<time>/`.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course.paths import EXERCISES, ROOT, SOLUTIONS, shown
from course.show import BEGIN, END

BACKUPS = ROOT / ".exercises-backup"
LEAK = re.compile(r"(BEGIN|END) SOLUTION")
HEADER = "# GENERATED from solutions/{name} by `make stubs` (fingerprint {fingerprint}).\n"
FINGERPRINT = re.compile(r"^# GENERATED from solutions/\S+ by `make stubs` \(fingerprint ([0-9a-f]{16})\)\.$")
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


def functions(tree: ast.AST):
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
    funcs = list(functions(ast.parse(source, filename)))
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
            qual = max(owners, key=lambda qf: qf[1].lineno)[0]
            if any(line.strip() and not line.startswith(indent) for line in lines[start:n - 1]):
                raise MarkerError(f"{filename}:{start}: region {rid} has lines indented less than its marker")
            regions.append(Region(rid, qual, start, n))
            open_at = None
        elif LEAK.search(line):
            raise MarkerError(f"{filename}:{n}: malformed marker (use '# BEGIN SOLUTION NN-name' / '# END SOLUTION')")
    if open_at:
        raise MarkerError(f"{filename}:{open_at[0]}: region {open_at[1]} is never closed")
    return regions


def make_stub(source: str, name: str, keep: frozenset[str] = frozenset()) -> str:
    """The exercise version of one solution file; the regions of the exercises in `keep` stay solved
    (`course.mutants` grades each exercise alone with them)."""
    lines, out, last = source.splitlines(), [], 0
    regions = find_regions(source, name)
    for r in regions:
        if r.id in keep:
            continue
        indent = BEGIN.match(lines[r.start - 1])["indent"]
        out += lines[last:r.start - 1]
        out.append(f'{indent}raise NotImplementedError("exercise {r.id}: {r.function}")')
        last = r.end
    out += lines[last:]
    body = "\n".join(out) + "\n"
    ast.parse(body, name)  # a stub must still import
    rest = (YOURS if regions else "") + body
    return HEADER.format(name=name, fingerprint=_fingerprint(rest)) + rest


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def edited(text: str) -> bool:
    """Whether a file of `exercises/` was changed since `make stubs` wrote it (its content no longer
    matches the fingerprint on its first line, or that line is gone)."""
    first, _, rest = text.partition("\n")
    m = FINGERPRINT.match(first)
    return not m or _fingerprint(rest) != m[1]


def _learners(text: str, generated: str) -> bool:
    """Whether `text`, a file of `exercises/` that differs from `generated`, holds a learner's work:
    it was edited, and not only on its first line (a merge of two branches that both regenerated a
    stub leaves the right content under a stale fingerprint)."""
    return edited(text) and text.partition("\n")[2] != generated.partition("\n")[2]


class EditedError(Exception):
    """`make stubs` would overwrite files a learner has edited."""


def expected(solutions: Path = SOLUTIONS) -> dict[str, str]:
    """File name -> content for every file `exercises/` should hold: the package's `__init__.py` and
    each module with exercises (one without, such as a lesson's comparison-only layers, has no stub)."""
    stubs = {p.name: make_stub(p.read_text(), p.name) for p in sorted(solutions.glob("*.py"))}
    return {name: text for name, text in stubs.items() if name == "__init__.py" or YOURS in text}


def write(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES, force: bool = False,
          backups: Path = BACKUPS) -> tuple[list[str], Path | None]:
    """Write every stub that changed; return the files written and the backup folder (None if none).

    Raises EditedError, writing nothing, when a file to overwrite or delete holds edits, unless
    `force`: then the edited files are first copied into a new folder under `backups`.
    """
    exercises.mkdir(exist_ok=True)
    files = expected(solutions)
    mine = [exercises / n for n, text in files.items() if (exercises / n).exists()
            and (exercises / n).read_text() != text and _learners((exercises / n).read_text(), text)]
    mine += [p for p in sorted(exercises.glob("*.py")) if p.name not in files and edited(p.read_text())]
    backup = None
    if mine and not force:
        raise EditedError(mine)
    if mine:
        backups.mkdir(parents=True, exist_ok=True)  # a folder of its own, even for two runs in the same second
        backup = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=backups))
        for p in mine:
            shutil.copy2(p, backup / p.name)
    for stale in set(p.name for p in exercises.glob("*.py")) - set(files):
        (exercises / stale).unlink()
    written = []
    for name, text in files.items():
        if not (exercises / name).exists() or (exercises / name).read_text() != text:
            (exercises / name).write_text(text)
            written.append(name)
    return written, backup


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
            why = "holds your edits" if _learners(actual, text) else "is out of date"
            problems.append(f"exercises/{name} {why}: it differs from what solutions/{name} generates")
    return problems


EDITED_ADVICE = """\
exercises/ holds your own answers. This check (part of `make test`) is for the course as shipped,
with untouched stubs; grade your answers with `make grade`. To check the course itself, use a fresh
clone, or run `make stubs FORCE=1`, which replaces the stubs and keeps a copy of your files in
.exercises-backup/."""


def main(argv=None, solutions: Path = SOLUTIONS, exercises: Path = EXERCISES, backups: Path = BACKUPS) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.stubs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is out of date")
    parser.add_argument("--force", action="store_true", help="overwrite edited exercises (after a backup)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check(solutions, exercises)
            for p in problems:
                print(f"out of sync: {p}", file=sys.stderr)
            if any("holds your edits" in p for p in problems):
                print(EDITED_ADVICE, file=sys.stderr)
                return 1
            if problems:
                print("Run `make stubs` to regenerate exercises/ from solutions/ (no file there has been edited).",
                      file=sys.stderr)
                return 1
            print(f"exercises/ is in sync with solutions/ ({len(list(exercises.glob('*.py')))} files)")
            return 0
        written, backup = write(solutions, exercises, args.force, backups)
        if backup:
            print(f"your edited files were copied to {shown(backup)}/ first")
        print(("wrote exercises/" + ", exercises/".join(written)) if written else "exercises/ is up to date")
        return 0
    except EditedError as e:
        print("These files hold your edits; `make stubs` did not touch anything:\n"
              + "".join(f"  {shown(p)}\n" for p in e.args[0])
              + "To replace them anyway, run `make stubs FORCE=1` (it keeps a copy in .exercises-backup/ first).",
              file=sys.stderr)
        return 1
    except (MarkerError, SyntaxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
