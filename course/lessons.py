"""Lessons: list them, keep each `.py` paired with its `.ipynb`, execute them (cached).

    python -m course.lessons run [LESSON ...] [--force]   # execute (all by default)
    python -m course.lessons pair                          # rewrite every .ipynb from its .py
    python -m course.lessons check-pairs                   # fail if a pair has drifted

A LESSON is a path (`lessons/01_callbacks.py`) or a number (`01`).

Lessons execute in a kernel of this very interpreter (`sys.executable -m ipykernel_launcher`), never
a `python3` kernel spec found elsewhere (a user-level one could point at another Python).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat

from course import threads
from course.stubs import ROOT, shown

LESSONS = ROOT / "lessons"
NAME = re.compile(r"\d\d_\w+\.py")  # lessons/NN_slug.py
EXECUTED = ROOT / "build" / "executed"
# seconds one cell may run: lesson 04 trains its 13 networks in one cell (8-13 minutes on 2 idle cores)
CELL_TIMEOUT = 1800
# What a lesson's outputs depend on besides its own text: a change here re-executes every lesson.
DEPENDENCIES = ("solutions/*.py", "course/check.py", "course/data.py", "course/seed.py", "course/show.py",
                "course/stubs.py")


class LessonError(RuntimeError):
    """A lesson that cannot be found, paired or executed."""


def all_lessons() -> list[Path]:
    return sorted(LESSONS.glob("[0-9][0-9]_*.py"))


def find(ref: str | Path) -> Path:
    """A lesson from its path (lessons/NN_slug.py) or its two-digit number."""
    if str(ref).isdigit():
        matches = [p for p in all_lessons() if p.name.startswith(f"{int(ref):02d}_")]
        if len(matches) != 1:
            raise LessonError(f"no lesson numbered {ref}; lessons: {', '.join(p.stem for p in all_lessons())}")
        return matches[0]
    path = Path(ref).resolve()
    if path.parent != LESSONS or not NAME.fullmatch(path.name):
        raise LessonError(f"{ref} is not a lesson: a lesson is lessons/NN_slug.py (or its number NN)")
    if not path.is_file():
        raise LessonError(f"no lesson file {ref}")
    return path


def notebook(path: Path) -> nbformat.NotebookNode:
    """The lesson as a notebook without outputs, the form its paired `.ipynb` stores."""
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def pair(path: Path) -> bool:
    """Write `path`'s .ipynb twin unless it is already in sync (rewriting would churn cell ids)."""
    if not pair_problems(path):
        return False
    jupytext.write(notebook(path), path.with_suffix(".ipynb"), fmt="ipynb")
    return True


def pair_problems(path: Path) -> list[str]:
    """Why `path`'s .ipynb is not an exact, output-free twin of it (empty when it is)."""
    twin = path.with_suffix(".ipynb")
    rel = shown(twin)
    if not twin.exists():
        return [f"{rel} is missing"]
    try:
        stored = nbformat.read(twin, as_version=4)
    except Exception as e:  # invalid JSON (NotJSONError), not a notebook at all, an unreadable file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return [f"{rel} is not a readable notebook ({_clip(first, 120)})"]
    problems = []
    if _cells(stored) != _cells(notebook(path)):
        problems.append(f"{rel} and its .py have different cells")
    if any(c.get("outputs") for c in stored.cells):
        problems.append(f"{rel} stores outputs (it should be clean; outputs are made at build time)")
    return problems


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def digest(path: Path, root: Path = ROOT) -> str:
    """The hash of the lesson and of what its outputs depend on (DEPENDENCIES, under `root`)."""
    h = hashlib.sha256(path.read_bytes())
    for pattern in DEPENDENCIES:
        for dep in sorted(root.glob(pattern)):
            h.update(dep.name.encode() + dep.read_bytes())
    return h.hexdigest()


def executed_path(path: Path, executed_dir: Path = EXECUTED) -> Path:
    return executed_dir / f"{path.stem}.ipynb"


def kernel_argv() -> list[str]:
    """The kernel command: this interpreter's ipykernel, whatever kernel specs Jupyter would find."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _kernel_manager_class():
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(AsyncKernelManager):
        """Starts `kernel_argv()`, never a kernel spec looked up by name."""

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(argv=kernel_argv(), display_name="Python 3", language="python")
            return self._kernel_spec

    return ThisPython


def run(path: Path, force: bool = False, timeout: int = CELL_TIMEOUT, executed_dir: Path = EXECUTED,
        root: Path = ROOT, env: dict[str, str] | None = None) -> tuple[Path, bool]:
    """Execute a lesson top to bottom into `executed_dir`; returns (notebook, was_executed).

    Skipped when the lesson and what it depends on (under `root`) are unchanged since its last
    successful run. A failing cell, a kernel that dies or cannot start is a LessonError. The
    kernel's environment is `env`, by default this one under the course's thread policy
    (`course.threads.environ()`: the same thread count on this machine whatever its load).
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    out = executed_path(path, executed_dir)
    stamp, key = out.with_suffix(".sha256"), digest(path, root)
    if not force and out.exists() and stamp.exists() and stamp.read_text() == key:
        return out, False
    nb = notebook(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            kernel_manager_class=_kernel_manager_class(),
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=threads.environ() if env is None else env)
    except CellTimeoutError as e:  # a TimeoutError: before the kernel-start handler below
        raise LessonError(f"{shown(path)} failed:\n{e}") from None
    except CellExecutionError as e:
        raise LessonError(_cell_failure(path, nb, e)) from None
    except DeadKernelError as e:  # a RuntimeError too
        raise LessonError(f"{shown(path)} failed: its kernel died ({e}); a cell crashed the interpreter "
                          "or ran out of memory") from None
    except (RuntimeError, NoSuchKernel, TimeoutError) as e:
        raise LessonError(f"{shown(path)}: could not start a Python kernel ({' '.join(kernel_argv()[:3])}): "
                          f"{e}; is ipykernel installed in this environment?") from None
    finally:  # nbclient leaves its exit-time cleanup registered when the kernel failed to start
        atexit.unregister(client._cleanup_kernel)
    executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    stamp.write_text(key)
    return out, True


# Errors whose message already tells the learner what to do: shown without their traceback.
SELF_EXPLAINING = {"MNISTError"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cell_failure(path: Path, nb, error) -> str:
    """Which cell of `path` failed and why: the error alone when it explains itself, else the traceback."""
    number, cell = next(((n, c) for n, c in enumerate(nb.cells, 1) if c.cell_type == "code" and
                         any(o.output_type == "error" for o in c.get("outputs", []))), (None, None))
    where = f"{shown(path)}, cell {number} (`{cell.source.splitlines()[0]}`)" if cell else shown(path)
    if error.ename in SELF_EXPLAINING:
        return f"{where} failed:\n{error.ename}: {error.evalue}"
    return f"{where} failed:\n{_ANSI.sub('', str(error))}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.lessons", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="execute lessons (cached)")
    p_run.add_argument("lessons", nargs="*")
    p_run.add_argument("--force", action="store_true", help="execute even when cached")
    sub.add_parser("pair", help="rewrite every lesson's .ipynb from its .py")
    sub.add_parser("check-pairs", help="fail if a .ipynb has drifted from its .py")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "pair":
            for path in all_lessons():
                twin = shown(path.with_suffix(".ipynb"))
                print(f"wrote {twin}" if pair(path) else f"{twin} already in sync")
        elif args.cmd == "check-pairs":
            problems = [p for path in all_lessons() for p in pair_problems(path)]
            for p in problems:
                print(f"drift: {p}", file=sys.stderr)
            if problems:
                print("Run `make pair` to rewrite the notebooks from the lessons' .py files.", file=sys.stderr)
                return 1
            print(f"{len(all_lessons())} lesson notebooks are in sync with their .py files")
        else:
            for path in [find(r) for r in args.lessons] or all_lessons():
                start = time.perf_counter()
                out, executed = run(path, force=args.force)
                what = f"executed in {time.perf_counter() - start:.1f} s" if executed else "unchanged (cached)"
                print(f"{shown(path)}: {what} -> {shown(out)}")
    except LessonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
