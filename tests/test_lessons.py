"""Lessons: each .py has a clean, in-sync .ipynb twin; execution is cached by content."""

import sys

import nbformat
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


def test_set_seed_the_lessons_use_repeats_draws_and_switches_determinism_both_ways():
    import torch
    from course.seed import set_seed

    try:
        set_seed(3)
        first = torch.rand(3)
        assert torch.are_deterministic_algorithms_enabled()
        set_seed(3, deterministic=False)
        assert torch.equal(torch.rand(3), first) and not torch.are_deterministic_algorithms_enabled()
    finally:
        set_seed(0)


def test_pair_problems_detect_drift_and_outputs(tmp_path):
    lesson = tmp_path / "07_demo.py"
    lesson.write_text("# %% [markdown]\n# # Lesson 07 - Demo\n\n# %%\nprint(1)\n")
    lessons.pair(lesson)
    assert lessons.pair_problems(lesson) == []
    lesson.write_text(lesson.read_text() + "\n# %%\nprint(2)\n")
    assert any("different cells" in p for p in lessons.pair_problems(lesson))


def test_a_corrupt_notebook_is_drift_that_pair_repairs(tmp_path):
    lesson = tmp_path / "07_demo.py"
    lesson.write_text("# %% [markdown]\n# # Lesson 07 - Demo\n\n# %%\nprint(1)\n")
    lesson.with_suffix(".ipynb").write_text('{"cells": [')
    assert lessons.pair_problems(lesson) == [
        f"{lesson.with_suffix('.ipynb')} is not a readable notebook "
        f"(Notebook does not appear to be JSON: '{{\"cells\": [')"]
    assert lessons.pair(lesson) and lessons.pair_problems(lesson) == []


def test_find_by_number_and_clear_error():
    first = lessons.all_lessons()[0]
    assert lessons.find(first.name[:2]) == first
    assert lessons.find(lessons.LESSONS / first.name) == first
    with pytest.raises(lessons.LessonError, match="no lesson numbered 99"):
        lessons.find("99")


@pytest.mark.parametrize("ref", ["README.md", "lessons/00_training_loop.ipynb", "course/lessons.py",
                                 "solutions/00_x.py"])
def test_find_accepts_only_lessons(ref):
    with pytest.raises(lessons.LessonError, match="is not a lesson: a lesson is lessons/NN_slug.py"):
        lessons.find(lessons.ROOT / ref)


def two_lessons(folder):
    folder.mkdir(exist_ok=True)
    a, b = folder / "01_a.py", folder / "02_b.py"
    a.write_text("# %%\nprint('a')\n")
    b.write_text("# %%\nprint('b')\n")
    return a, b


def test_digest_changes_with_its_own_lesson_only(tmp_path):
    a, b = two_lessons(tmp_path)
    before = lessons.digest(a, root=tmp_path), lessons.digest(b, root=tmp_path)
    assert (lessons.digest(a, root=tmp_path), lessons.digest(b, root=tmp_path)) == before
    a.write_text("# %%\nprint('A')\n")
    assert lessons.digest(a, root=tmp_path) != before[0]
    assert lessons.digest(b, root=tmp_path) == before[1]


def test_digest_changes_with_what_every_lesson_depends_on(tmp_path):
    a, b = two_lessons(tmp_path / "lessons")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "l01_a.py").write_text("x = 1\n")
    before = lessons.digest(a, root=tmp_path), lessons.digest(b, root=tmp_path)
    (tmp_path / "solutions" / "l01_a.py").write_text("x = 2\n")
    after = lessons.digest(a, root=tmp_path), lessons.digest(b, root=tmp_path)
    assert after[0] != before[0] and after[1] != before[1]


def run(path, tmp_path, **kwargs):
    return lessons.run(path, executed_dir=tmp_path / "executed", root=tmp_path, **kwargs)


@pytest.mark.slow
def test_execution_is_cached_per_lesson(tmp_path, monkeypatch):
    # a user-level `python3` kernel spec pointing elsewhere must not be used: lessons run in this interpreter
    spec = tmp_path / "jupyter" / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text('{"argv": ["/nonexistent/python", "-f", "{connection_file}"], '
                    '"display_name": "x", "language": "python"}')
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    a, b = two_lessons(tmp_path / "lessons")
    assert [run(p, tmp_path)[1] for p in (a, b)] == [True, True]
    out = run(a, tmp_path)[0]
    assert out == tmp_path / "executed" / "01_a.ipynb"
    assert nbformat.read(out, as_version=4).cells[0].outputs[0].text == "a\n"
    assert [run(p, tmp_path)[1] for p in (a, b)] == [False, False]  # unchanged: not executed again
    a.write_text("# %%\nprint('A')\n")
    assert [run(p, tmp_path)[1] for p in (a, b)] == [True, False]  # only the lesson that changed
    assert nbformat.read(out, as_version=4).cells[0].outputs[0].text == "A\n"
    assert run(b, tmp_path, force=True)[1]
    assert sorted(p.name for p in a.parent.iterdir()) == ["01_a.py", "02_b.py"]  # no stray files


@pytest.mark.slow
def test_a_failing_cell_fails_the_lesson_and_is_not_cached(tmp_path):
    lesson = tmp_path / "03_fails.py"
    lesson.write_text("# %%\nx = 1\n\n# %%\n1 / 0\n")
    for _ in range(2):  # a failed run leaves no cache entry: it fails again
        failed = r"(?s)03_fails.py, cell 2 \(`1 / 0`\) failed:.*ZeroDivisionError"
        with pytest.raises(lessons.LessonError, match=failed):
            run(lesson, tmp_path)
    assert not (tmp_path / "executed" / "03_fails.ipynb").exists()


@pytest.mark.slow
def test_a_self_explaining_error_is_shown_without_its_traceback(tmp_path):
    lesson = tmp_path / "05_no_data.py"
    lesson.write_text("# %%\nclass MNISTError(RuntimeError): pass\nraise MNISTError('set COURSE_DATA_DIR')\n")
    with pytest.raises(lessons.LessonError) as failure:
        run(lesson, tmp_path)
    assert str(failure.value).endswith("failed:\nMNISTError: set COURSE_DATA_DIR")
    assert "Traceback" not in str(failure.value) and "\x1b[" not in str(failure.value)


@pytest.mark.slow
def test_a_dead_kernel_fails_the_lesson(tmp_path):
    lesson = tmp_path / "04_dies.py"
    lesson.write_text("# %%\nimport os\nos._exit(1)\n")
    with pytest.raises(lessons.LessonError, match="04_dies.py failed: its kernel died"):
        run(lesson, tmp_path)


@pytest.mark.slow
def test_a_kernel_that_cannot_start_fails_the_lesson(tmp_path, monkeypatch):
    lesson, _ = two_lessons(tmp_path)
    monkeypatch.setattr(lessons, "kernel_argv", lambda: [sys.executable, "-c", "raise SystemExit(1)"])
    with pytest.raises(lessons.LessonError, match="01_a.py: could not start a Python kernel .*: Kernel died"):
        run(lesson, tmp_path)


def test_the_cache_is_written_atomically_and_a_torn_notebook_is_not_trusted(tmp_path):
    out = tmp_path / "executed" / "01_a.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    lessons._save(nb, out, "key")
    assert lessons._cached(out, "key") and not lessons._cached(out, "other")
    assert sorted(p.name for p in out.parent.iterdir()) == ["01_a.ipynb", "01_a.sha256"]  # no temporary left
    out.write_text(out.read_text()[:40])  # cut short, as by a kill or a full disk
    assert not lessons._cached(out, "key")
    out.unlink()
    assert not lessons._cached(out, "key")


def test_pair_refuses_to_overwrite_a_notebook_edited_outside_jupytext(tmp_path):
    lesson = tmp_path / "07_demo.py"
    lesson.write_text("# %% [markdown]\n# # Lesson 07 - Demo\n\n# %%\nprint(1)\n")
    assert lessons.pair(lesson)
    twin = lesson.with_suffix(".ipynb")
    nb = nbformat.read(twin, as_version=4)
    nb.cells[1].source = "print('my edit')"  # saved by a Jupyter without the pairing
    nbformat.write(nb, twin)
    lesson.write_text(lesson.read_text() + "\n# %%\nprint(2)\n")
    with pytest.raises(lessons.LessonError, match="07_demo.ipynb was edited outside jupytext"):
        lessons.pair(lesson)
    assert "my edit" in twin.read_text()  # kept
    assert lessons.pair(lesson, force=True) and lessons.pair_problems(lesson) == []
    lesson.write_text(lesson.read_text() + "\n# %%\nprint(3)\n")
    assert lessons.pair(lesson)  # written by pair, only the .py changed: rewritten


@pytest.mark.slow
def test_ctrl_c_says_interrupted_and_leaves_no_process(tmp_path):
    import os
    import signal
    import subprocess
    import time

    from course.paths import ROOT

    lesson = tmp_path / "lessons" / "01_sleeps.py"
    lesson.parent.mkdir()
    pids = tmp_path / "pids"
    lesson.write_text(f"# %%\nimport os, subprocess, time\nfrom pathlib import Path\n"
                      "sleeper = subprocess.Popen(['sleep', '600'])\n"
                      f"Path({str(pids)!r}).write_text(f'{{os.getpid()}} {{sleeper.pid}}')\n"
                      "time.sleep(600)\n")
    code = ("import sys; from pathlib import Path; from course import lessons; "
            f"lessons.LESSONS = Path({str(lesson.parent)!r}); lessons.EXECUTED = Path({str(tmp_path / 'out')!r}); "
            "sys.exit(lessons.main(['run', '01']))")
    run = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not pids.exists():
        assert time.time() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.2)
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err
    for pid in map(int, pids.read_text().split()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        import psutil
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"process {pid} survived"
