"""The first code cell of every lesson imports this module, so a kernel that lacks what the lessons need
fails at once, saying what to do, instead of at some later cell with a puzzling error.

Where `course` itself is missing (Colab, VS Code or a plain Jupyter outside the repository), that cell
installs the course with pip first (from `COURSE_PIP_SOURCE` when set, else from GitHub), says so, and
imports this module again.
"""

import importlib.util
import sys

KERNEL = "callbacks-to-norms"  # the kernel `make lab` installs into the course's environment
WHAT_TO_DO = (f"In the repository, open the lessons with `make lab` (JupyterLab in the course's environment) or "
              f"choose the kernel \"Python ({KERNEL})\" in your editor; anywhere else, `pip install` the course "
              "into this kernel's environment (README.md, \"Lessons as notebooks\").")


class NotTheCourseEnvironment(ImportError):
    """The notebook runs in a kernel that lacks the course's libraries."""


def check() -> None:
    """Raise NotTheCourseEnvironment unless this kernel has the libraries the lessons import."""
    missing = [m for m in ("torch", "numpy", "matplotlib", "solutions") if importlib.util.find_spec(m) is None]
    if missing:
        raise NotTheCourseEnvironment(f"this kernel ({sys.executable}) has no {', '.join(missing)}: it is not the "
                                      f"course's environment. {WHAT_TO_DO}")


check()
