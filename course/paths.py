"""Where the course's files are: part of the runtime (content and tools import it; it imports nothing of the course)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES, GRADED = ROOT / "solutions", ROOT / "exercises", ROOT / "tests" / "graded"


def shown(path: Path) -> Path:
    """`path` as messages show it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
