"""Imported by each lesson's first code cell: a kernel that lacks what the lessons need fails at once, saying
what to do, not at a later cell with a puzzling error. (Where `course` itself is missing, that cell installs
the course with pip first, from `COURSE_PIP_SOURCE` when set, else from GitHub.)"""

import importlib.util
import sys


class NotTheCourseEnvironment(ImportError):
    """The notebook runs in a kernel that lacks the course's libraries."""


if missing := [m for m in ("torch", "numpy", "matplotlib", "solutions") if importlib.util.find_spec(m) is None]:
    raise NotTheCourseEnvironment(
        f"this kernel ({sys.executable}) has no {', '.join(missing)}: it is not the course's environment. In the "
        "repository, open the lessons with `make lab` (JupyterLab in the course's environment) or choose the kernel "
        '"Python (callbacks-to-norms)" in your editor; anywhere else, `pip install` the course into this '
        'kernel\'s environment (README.md, "Lessons as notebooks").')
