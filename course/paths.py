"""Where the course's files are (runtime: content and tools import it; it imports nothing of the course)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
IMPLS = (SOLUTIONS.name, EXERCISES.name)  # the packages the graded tests can run against


def shown(path: Path) -> Path:
    """`path` as messages show it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
