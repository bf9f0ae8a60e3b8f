"""The first cell of every lesson imports this module: a notebook opened in the wrong place fails
at once, saying what to do, instead of at some later cell with a puzzling error.

A kernel that cannot import `course` at all fails on the import line itself, and the traceback
shows that line's comment, which says what to do. A kernel that can, but lacks the course's
libraries, or a notebook run outside the repository, fails here with `NotTheCourseEnvironment`.
"""

import importlib.util
import sys
from pathlib import Path

from course.paths import ROOT

KERNEL = "callbacks-to-norms"  # the kernel `make lab` installs into the course's environment
WHAT_TO_DO = (f"Open the lessons from the repository with `make lab` (it starts JupyterLab in the course's "
              f"environment), or choose the kernel \"Python ({KERNEL})\" in your editor; README.md, "
              "\"Lessons as notebooks\", has the details.")


class NotTheCourseEnvironment(ImportError):
    """The notebook runs in a kernel or a folder the course was not set up for."""


def check(cwd: Path | None = None) -> None:
    """Raise NotTheCourseEnvironment unless this kernel has the course's libraries and runs in the repository."""
    missing = [m for m in ("torch", "numpy", "matplotlib", "solutions") if importlib.util.find_spec(m) is None]
    if missing:
        raise NotTheCourseEnvironment(f"this kernel ({sys.executable}) has no {', '.join(missing)}: it is not the "
                                      f"course's environment. {WHAT_TO_DO}")
    cwd = Path.cwd() if cwd is None else cwd
    if not cwd.resolve().is_relative_to(ROOT):
        raise NotTheCourseEnvironment(f"this notebook runs in {cwd}, outside the course's repository ({ROOT}): "
                                      f"open the copy in {ROOT / 'lessons'} instead. {WHAT_TO_DO}")


check()
