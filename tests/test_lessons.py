"""Lessons: each .py has a clean, in-sync .ipynb twin; execution is cached by content."""

import pytest

from course import lessons


def test_there_are_lessons_and_each_is_paired():
    assert lessons.all_lessons(), "no lessons found in lessons/"
    problems = [p for path in lessons.all_lessons() for p in lessons.pair_problems(path)]
    assert problems == []


def test_each_lesson_starts_with_a_title_and_seeds():
    for path in lessons.all_lessons():
        nb = lessons.notebook(path)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# Lesson {path.name[:2]} - ")
        assert any("set_seed(" in c.source for c in nb.cells if c.cell_type == "code"), f"{path.name} never seeds"


def test_pair_problems_detect_drift_and_outputs(tmp_path):
    lesson = tmp_path / "07_demo.py"
    lesson.write_text("# %% [markdown]\n# # Lesson 07 - Demo\n\n# %%\nprint(1)\n")
    lessons.pair(lesson)
    assert lessons.pair_problems(lesson) == []
    lesson.write_text(lesson.read_text() + "\n# %%\nprint(2)\n")
    assert any("different cells" in p for p in lessons.pair_problems(lesson))


def test_find_by_number_and_clear_error():
    first = lessons.all_lessons()[0]
    assert lessons.find(first.name[:2]) == first
    with pytest.raises(lessons.LessonError, match="no lesson numbered 99"):
        lessons.find("99")


def test_digest_changes_with_the_lesson_only(tmp_path):
    lesson = tmp_path / "07_demo.py"
    lesson.write_text("print(1)\n")
    before = lessons.digest(lesson)
    assert lessons.digest(lesson) == before
    lesson.write_text("print(2)\n")
    assert lessons.digest(lesson) != before
