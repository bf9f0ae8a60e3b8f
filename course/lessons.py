"""Lessons: list them, keep each `.py` paired with its `.ipynb`, execute them (cached).

    python -m course.lessons run [LESSON ...] [--force]   # execute (all by default)
    python -m course.lessons pair [--force]                # rewrite every .ipynb from its .py
    python -m course.lessons check-pairs                   # fail if a pair has drifted

A LESSON is a path (`lessons/01_callbacks.py`) or a number (`01`).

Lessons execute in a kernel of this very interpreter (`sys.executable -m ipykernel_launcher`), never
a `python3` kernel spec found elsewhere (a user-level one could point at another Python).
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

from course import threads
from course.paths import ROOT, shown
from course.procs import kill_session

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


def _fingerprint(nb) -> str:
    return hashlib.sha256(repr(_cells(nb)).encode()).hexdigest()[:16]


def pair(path: Path, force: bool = False) -> bool:
    """Write `path`'s .ipynb twin unless it is already in sync (rewriting would churn cell ids).

    The twin records a fingerprint of the cells written: a twin whose cells no longer match it was
    edited outside jupytext (in a Jupyter without the pairing), and is not overwritten unless `force`.
    """
    if not pair_problems(path):
        return False
    twin = path.with_suffix(".ipynb")
    if not force and _edited(twin):
        raise LessonError(f"{shown(twin)} was edited outside jupytext (its cells differ from those `make pair` "
                          f"wrote): copy your changes into {shown(path)}, or overwrite them with `make pair FORCE=1`")
    nb = notebook(path)
    nb.metadata["course"] = {"fingerprint": _fingerprint(nb)}
    jupytext.write(nb, twin, fmt="ipynb")
    return True


def _edited(twin: Path) -> bool:
    try:
        stored = nbformat.read(twin, as_version=4)
    except Exception:  # missing or unreadable: nothing to keep
        return False
    written = stored.metadata.get("course", {}).get("fingerprint")
    return written is not None and written != _fingerprint(stored)


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


def _save(nb, out: Path, key: str) -> None:
    """Write the executed notebook, then its stamp (the digest of its sources), each atomically: a run
    killed half-way leaves the old files or none, never a torn one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, content in ((out, nbformat.writes(nb)), (out.with_suffix(".sha256"), key)):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)


def _cached(out: Path, key: str) -> bool:
    """Whether `out` holds an intact execution of sources with digest `key` (a notebook cut short or
    corrupted by hand, or one that was never stamped, is executed again)."""
    try:
        if out.with_suffix(".sha256").read_text() != key:
            return False
        nbformat.validate(nbformat.read(out, as_version=4))
    except Exception:  # missing, unreadable, not JSON, not a valid notebook
        return False
    return True


def kernel_argv() -> list[str]:
    """The kernel command: this interpreter's ipykernel, whatever kernel specs Jupyter would find. Its log
    shows errors only: its start-up warning that local TCP is unencrypted would open every run's output."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"]


def _kernel_manager_class(started: list[int]):
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(AsyncKernelManager):
        """Starts `kernel_argv()`, never a kernel spec looked up by name; appends its pid to `started`
        (the kernel runs in a session of its own, which `run` kills when the lesson ends)."""

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            await super()._async_launch_kernel(kernel_cmd, **kw)
            started.append(self.provisioner.pid)

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(argv=kernel_argv(), display_name="Python 3", language="python")
            return self._kernel_spec

    return ThisPython


def run(path: Path, force: bool = False, timeout: int = CELL_TIMEOUT, executed_dir: Path | None = None,
        root: Path = ROOT, env: dict[str, str] | None = None) -> tuple[Path, bool]:
    """Execute a lesson top to bottom into `executed_dir`; returns (notebook, was_executed).

    Skipped when the lesson and what it depends on (under `root`) are unchanged since its last
    successful run. A failing cell, a kernel that dies or cannot start is a LessonError. The
    kernel's environment is `env`, by default this one under the course's thread policy
    (`course.threads.environ()`: the same thread count on this machine whatever its load).
    """
    from nbclient import NotebookClient

    out = executed_path(path, executed_dir or EXECUTED)
    key = digest(path, root)
    if not force and _cached(out, key):
        return out, False
    nb, kernels, interrupted = notebook(path), [], []

    def on_ctrl_c(signum, frame):  # end the kernel ourselves: nbclient's own Ctrl-C handling races its clean-up
        interrupted.append(signum)
        for pid in kernels:
            kill_session(pid)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_ctrl_c) if in_main else None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            kernel_manager_class=_kernel_manager_class(kernels),
                            resources={"metadata": {"path": str(path.parent)}})
    loop = _LoopWithoutSignals()
    try:
        loop.run_until_complete(client.async_execute(env=threads.environ() if env is None else env))
    except Exception as e:
        if interrupted:
            raise KeyboardInterrupt from None
        raise _lesson_error(path, nb, e) from None
    finally:  # nbclient leaves its exit-time cleanup registered when the kernel failed to start
        atexit.unregister(client._cleanup_kernel)
        for pid in kernels:  # however the run ended: the kernel and what the lesson started
            kill_session(pid)
        if in_main:
            signal.signal(signal.SIGINT, previous)
        loop.close()
    if interrupted:
        raise KeyboardInterrupt
    _save(nb, out, key)
    return out, True


class _LoopWithoutSignals(asyncio.SelectorEventLoop):
    """An event loop that refuses signal handlers, so nbclient keeps out of Ctrl-C (it gives up quietly when
    it cannot add one): its own handler shuts the kernel down while a cell still runs, and prints tracebacks."""

    def add_signal_handler(self, sig, callback, *args):
        raise RuntimeError("course.lessons handles Ctrl-C itself")

    def remove_signal_handler(self, sig):
        raise RuntimeError("course.lessons handles Ctrl-C itself")


def _lesson_error(path: Path, nb, e: Exception) -> Exception:
    """The LessonError that says why executing `path` failed (`e` itself when it is not about the lesson)."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(e, CellTimeoutError):  # a TimeoutError: before the kernel-start case below
        return LessonError(f"{shown(path)} failed:\n{e}")
    if isinstance(e, CellExecutionError):
        return LessonError(_cell_failure(path, nb, e))
    if isinstance(e, DeadKernelError):  # a RuntimeError too
        return LessonError(f"{shown(path)} failed: its kernel died ({e}); a cell crashed the interpreter "
                           "or ran out of memory")
    if isinstance(e, (RuntimeError, NoSuchKernel, TimeoutError)):
        return LessonError(f"{shown(path)}: could not start a Python kernel ({' '.join(kernel_argv()[:3])}): "
                           f"{e}; is ipykernel installed in this environment?")
    return e


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
    sub.add_parser("pair", help="rewrite every lesson's .ipynb from its .py").add_argument(
        "--force", action="store_true", help="overwrite a .ipynb edited outside jupytext")
    sub.add_parser("check-pairs", help="fail if a .ipynb has drifted from its .py")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "pair":
            for path in all_lessons():
                twin = shown(path.with_suffix(".ipynb"))
                print(f"wrote {twin}" if pair(path, args.force) else f"{twin} already in sync")
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
    except KeyboardInterrupt:  # the kernel and what it started were killed on the way out (see run)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # nbclient's cleanup task, cut short
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
