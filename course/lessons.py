"""Lessons: list them, keep each `.py` paired with its `.ipynb`, execute them (cached).

    python -m course.lessons run [LESSON ...] [--force]   # execute (all by default)
    python -m course.lessons pair [--force]                # rewrite every .ipynb from its .py
    python -m course.lessons check-pairs                   # fail if a pair has drifted

A LESSON is a path (`lessons/01_callbacks.py`) or a number (`01`). Lessons execute in a kernel of this
very interpreter, never a `python3` kernel spec found elsewhere (it could point at another Python).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from course import threads
from course.paths import ROOT, shown
from course.procs import kill_session

LESSONS = ROOT / "lessons"
EXECUTED = ROOT / "build" / "executed"
CELL_TIMEOUT = 1800  # seconds one cell may run: lesson 04 trains its 13 networks in one cell
# What a lesson's outputs depend on besides its own text: a change here re-executes every lesson.
DEPENDENCIES = ("solutions/*.py", "course/check.py", "course/data.py", "course/seed.py", "course/show.py",
                "course/stubs.py")


class LessonError(RuntimeError):
    """A lesson that cannot be found, paired or executed."""


def all_lessons() -> list[Path]:
    return sorted(LESSONS.glob("[0-9][0-9]_*.py"))


def find(ref: str | Path) -> Path:
    """A lesson from its number (`01`) or its path (lessons/NN_slug.py)."""
    number = str(ref).isdigit()
    found = [p for p in all_lessons() if (p.name[:2] == f"{int(ref):02d}" if number else p == Path(ref).resolve())]
    if len(found) != 1:
        raise LessonError((f"no lesson numbered {ref}" if number else f"{ref} is not a lesson: a lesson is "
                           "lessons/NN_slug.py (or its number NN)") + f"; lessons: {[p.stem for p in all_lessons()]}")
    return found[0]


def notebook(path: Path) -> nbformat.NotebookNode:
    """The lesson as a notebook without outputs, the form its paired `.ipynb` stores."""
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _fingerprint(nb) -> str:
    return hashlib.sha256(repr([(c.cell_type, c.source) for c in nb.cells]).encode()).hexdigest()[:16]


def pair(path: Path, force: bool = False) -> bool:
    """Write `path`'s .ipynb twin unless it is in sync. The twin records a fingerprint of its cells: one
    whose cells no longer match it was edited outside jupytext, and is kept unless `force`."""
    if not pair_problems(path):
        return False
    twin = path.with_suffix(".ipynb")
    try:
        stored = nbformat.read(twin, as_version=4)
        written = stored.metadata.get("course", {}).get("fingerprint")
    except Exception:  # a missing or unreadable twin holds nothing to keep
        written = None
    if not force and written is not None and written != _fingerprint(stored):
        raise LessonError(f"{shown(twin)} was edited outside jupytext (its cells differ from those `make pair` "
                          f"wrote): copy your changes into {shown(path)}, or overwrite them with `make pair FORCE=1`")
    nb = notebook(path)
    nb.metadata["course"] = {"fingerprint": _fingerprint(nb)}
    jupytext.write(nb, twin, fmt="ipynb")
    return True


def pair_problems(path: Path) -> list[str]:
    """Why `path`'s .ipynb is not an exact, output-free twin of it (empty when it is)."""
    twin = shown(path.with_suffix(".ipynb"))
    try:
        stored = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    except FileNotFoundError:
        return [f"{twin} is missing"]
    except Exception as e:  # not JSON, not a notebook
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return [f"{twin} is not a readable notebook ({first if len(first) <= 120 else first[:117] + '...'})"]
    return [problem for problem, found in (
        (f"{twin} and its .py have different cells", _fingerprint(stored) != _fingerprint(notebook(path))),
        (f"{twin} stores outputs (it should be clean; outputs are made at build time)",
         any(c.get("outputs") for c in stored.cells))) if found]


def digest(path: Path, root: Path = ROOT) -> str:
    """The hash of the lesson and of what its outputs depend on (DEPENDENCIES, under `root`)."""
    h = hashlib.sha256(path.read_bytes())
    for dep in (d for pattern in DEPENDENCIES for d in sorted(root.glob(pattern))):
        h.update(dep.name.encode() + dep.read_bytes())
    return h.hexdigest()


def executed_path(path: Path, executed_dir: Path = EXECUTED) -> Path:
    return executed_dir / f"{path.stem}.ipynb"


def save(nb, out: Path, key: str) -> None:
    """Write the executed notebook, then its stamp (`key`), each atomically: never a torn file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, content in ((out, nbformat.writes(nb)), (out.with_suffix(".sha256"), key)):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)


def cached(out: Path, key: str) -> bool:
    """Whether `out` holds an intact, valid execution of sources with digest `key`."""
    try:
        nbformat.validate(nbformat.read(out, as_version=4))
        return out.with_suffix(".sha256").read_text() == key
    except Exception:  # missing, unreadable, not JSON, not a valid notebook
        return False


def kernel_argv() -> list[str]:
    """This interpreter's ipykernel, logging errors only (not that local TCP is unencrypted); plots stored
    at twice their size (retina), so that the site's enlarged view of one is sharp."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR",
            "--InlineBackend.figure_formats=retina"]


KERNELS: set[int] = set()  # running kernels (each leads a session): killed at exit whatever runs them
atexit.register(lambda: [kill_session(pid) for pid in list(KERNELS)])


class ThisPython(AsyncKernelManager):
    """Starts `kernel_argv()`, never a kernel spec looked up by name, and records it in KERNELS."""

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        KERNELS.add(self.provisioner.pid)

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=kernel_argv(), display_name="Python 3", language="python")


def run(path: Path, force: bool = False, timeout: int = CELL_TIMEOUT, executed_dir: Path | None = None,
        root: Path = ROOT, env: dict[str, str] | None = None) -> tuple[Path, bool]:
    """Execute a lesson into `executed_dir`, unless it and what it depends on (under `root`) are unchanged
    since its last run; returns (notebook, was_executed). A failure is a LessonError; Ctrl-C a
    KeyboardInterrupt. The kernel's environment is `env`, by default `course.threads.environ()`. Its
    session (the kernel and what the lesson started) is killed however the run ends."""
    from nbclient import NotebookClient

    out, key = executed_path(path, executed_dir or EXECUTED), digest(path, root)
    if not force and cached(out, key):
        return out, False
    nb, interrupted, mine = notebook(path), [], set(KERNELS)

    def on_ctrl_c(signum, frame):  # end the kernel ourselves: nbclient's own handling races its clean-up
        interrupted.append(signum)
        for pid in KERNELS - mine:
            kill_session(pid)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_ctrl_c) if in_main else None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                            kernel_manager_class=ThisPython, resources={"metadata": {"path": str(path.parent)}})
    loop = _LoopWithoutSignals()
    try:
        loop.run_until_complete(client.async_execute(env=threads.environ() if env is None else env))
    except Exception as e:
        if not interrupted:
            raise _lesson_error(path, nb, e) from None
    finally:
        atexit.unregister(client._cleanup_kernel)  # left registered when the kernel failed to start
        for pid in KERNELS - mine:
            kill_session(pid)
            KERNELS.discard(pid)
        if in_main:
            signal.signal(signal.SIGINT, previous)
        loop.close()
    if interrupted:
        raise KeyboardInterrupt
    save(nb, out, key)
    return out, True


class _LoopWithoutSignals(asyncio.SelectorEventLoop):
    """An event loop that refuses signal handlers, so nbclient keeps out of Ctrl-C (its handler shuts the
    kernel down while a cell runs and prints tracebacks; it gives up quietly when it cannot add one)."""

    def add_signal_handler(self, *args):
        raise RuntimeError("course.lessons handles Ctrl-C itself")

    remove_signal_handler = add_signal_handler


def _lesson_error(path: Path, nb, e: Exception) -> Exception:
    """The LessonError that says why executing `path` failed (`e` itself when it is not about the lesson)."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(e, CellTimeoutError):  # a TimeoutError: before the kernel-start case below
        return LessonError(f"{shown(path)} failed:\n{e}")
    if isinstance(e, CellExecutionError):
        cell = next((c for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))), None)
        where = f", cell {nb.cells.index(cell) + 1} (`{cell.source.splitlines()[0]}`)" if cell else ""
        said = f"{e.ename}: {e.evalue}" if e.ename in SELF_EXPLAINING else ANSI.sub("", str(e))
        return LessonError(f"{shown(path)}{where} failed:\n{said}")
    if isinstance(e, DeadKernelError):  # a RuntimeError too
        return LessonError(f"{shown(path)} failed: its kernel died ({e}); a cell crashed the interpreter "
                           "or ran out of memory")
    if isinstance(e, (RuntimeError, NoSuchKernel, TimeoutError)):
        return LessonError(f"{shown(path)}: could not start a Python kernel ({' '.join(kernel_argv()[:3])}): "
                           f"{e}; is ipykernel installed in this environment?")
    return e


SELF_EXPLAINING = {"MNISTError"}  # errors whose message says what to do: shown without their traceback
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.lessons", description=__doc__.split("\n")[0])
    parser.add_argument("cmd", choices=["run", "pair", "check-pairs"])
    parser.add_argument("lessons", nargs="*", help="run: the lessons to execute (default: all)")
    parser.add_argument("--force", action="store_true", help="run: even when cached; pair: overwrite edited notebooks")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "check-pairs":
            problems = [f"drift: {p}" for path in all_lessons() for p in pair_problems(path)]
            if problems:
                print("\n".join(problems + ["Run `make pair` to rewrite the notebooks from the lessons' .py files."]),
                      file=sys.stderr)
                return 1
            print(f"{len(all_lessons())} lesson notebooks are in sync with their .py files")
            return 0
        for path in all_lessons() if args.cmd == "pair" else [find(r) for r in args.lessons] or all_lessons():
            start = time.perf_counter()
            if args.cmd == "pair":
                twin = shown(path.with_suffix(".ipynb"))
                print(f"wrote {twin}" if pair(path, args.force) else f"{twin} already in sync")
                continue
            out, executed = run(path, force=args.force)
            what = f"executed in {time.perf_counter() - start:.1f} s" if executed else "unchanged (cached)"
            print(f"{shown(path)}: {what} -> {shown(out)}")
    except LessonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the kernel and what it started were killed on the way out (see run)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # nbclient's cleanup task, cut short
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
