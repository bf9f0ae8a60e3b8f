"""Lessons: each .py has a clean, in-sync .ipynb twin; execution is cached by content, atomically;
a failure says which cell and why; Ctrl-C says "interrupted" and leaves no process."""

import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from course import lessons
from course.paths import ROOT

DEMO = "# %% [markdown]\n# # Lesson 07 - Demo\n\n# %%\nprint(1)\n"


def test_each_lesson_is_paired_starts_with_a_title_and_seeds():
    assert lessons.all_lessons(), "no lessons found in lessons/"
    assert [p for path in lessons.all_lessons() for p in lessons.pair_problems(path)] == []
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


def test_pair_finds_drift_repairs_it_and_refuses_to_overwrite_an_edited_notebook(tmp_path):
    lesson, twin = tmp_path / "07_demo.py", tmp_path / "07_demo.ipynb"
    lesson.write_text(DEMO)
    assert lessons.pair_problems(lesson) == [f"{twin} is missing"]
    twin.write_text('{"cells": [')
    assert lessons.pair_problems(lesson) == [
        f"{twin} is not a readable notebook (Notebook does not appear to be JSON: '{{\"cells\": [')"]
    assert lessons.pair(lesson) and lessons.pair_problems(lesson) == [] and not lessons.pair(lesson)
    lesson.write_text(lesson.read_text() + "\n# %%\nprint(2)\n")
    assert lessons.pair_problems(lesson) == [f"{twin} and its .py have different cells"]
    assert lessons.pair(lesson)  # written by pair, only the .py changed: rewritten
    nb = nbformat.read(twin, as_version=4)
    nb.cells[1].source, nb.cells[1].outputs = "print('my edit')", [nbformat.v4.new_output("stream", text="1")]
    nbformat.write(nb, twin)  # saved by a Jupyter without the pairing
    assert "stores outputs (it should be clean; outputs are made at build time)" in lessons.pair_problems(lesson)[1]
    with pytest.raises(lessons.LessonError, match="07_demo.ipynb was edited outside jupytext"):
        lessons.pair(lesson)
    assert "my edit" in twin.read_text()  # kept
    assert lessons.pair(lesson, force=True) and lessons.pair_problems(lesson) == []


@pytest.mark.parametrize("ref", ["99", "README.md", "lessons/00_training_loop.ipynb", "course/lessons.py",
                                 "solutions/00_x.py"])
def test_find_by_number_or_path_and_a_clear_error(ref):
    first = lessons.all_lessons()[0]
    assert lessons.find(first.name[:2]) == lessons.find(lessons.LESSONS / first.name) == first
    with pytest.raises(lessons.LessonError, match="no lesson numbered 99|is not a lesson: a lesson is lessons/NN_slug"):
        lessons.find(ref if ref.isdigit() else ROOT / ref)


def two_lessons(folder):
    folder.mkdir(exist_ok=True)
    (a := folder / "01_a.py").write_text("# %%\nprint('a')\n")
    (b := folder / "02_b.py").write_text("# %%\nprint('b')\n")
    return a, b


def test_digest_changes_with_its_own_lesson_and_what_every_lesson_depends_on(tmp_path):
    a, b = two_lessons(tmp_path / "lessons")
    (solution := tmp_path / "solutions" / "l01_a.py").parent.mkdir()
    solution.write_text("x = 1\n")

    def digests():
        return lessons.digest(a, root=tmp_path), lessons.digest(b, root=tmp_path)
    before = digests()
    assert digests() == before
    a.write_text("# %%\nprint('A')\n")
    assert digests()[0] != before[0] and digests()[1] == before[1]
    before = digests()
    solution.write_text("x = 2\n")
    assert all(x != y for x, y in zip(digests(), before))


def run(path, tmp_path, **kwargs):
    return lessons.run(path, executed_dir=tmp_path / "executed", root=tmp_path, **kwargs)


@pytest.mark.slow
def test_execution_is_cached_per_lesson_in_this_interpreter(tmp_path, monkeypatch):
    # a user-level `python3` kernel spec pointing elsewhere must not be used: lessons run in this interpreter
    (spec := tmp_path / "jupyter" / "kernels" / "python3" / "kernel.json").parent.mkdir(parents=True)
    spec.write_text('{"argv": ["/nonexistent/python", "-f", "{connection_file}"], "display_name": "x", '
                    '"language": "python"}')
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    a, b = two_lessons(tmp_path / "lessons")
    assert [run(p, tmp_path)[1] for p in (a, b)] == [True, True]
    out = run(a, tmp_path)[0]
    assert nbformat.read(out, as_version=4).cells[0].outputs[0].text == "a\n"
    assert [run(p, tmp_path)[1] for p in (a, b)] == [False, False]  # unchanged: not executed again
    a.write_text("# %%\nprint('A')\n")
    assert [run(p, tmp_path)[1] for p in (a, b)] == [True, False]  # only the lesson that changed
    assert nbformat.read(out, as_version=4).cells[0].outputs[0].text == "A\n"
    assert run(b, tmp_path, force=True)[1]
    assert sorted(p.name for p in a.parent.iterdir()) == ["01_a.py", "02_b.py"]  # no stray files


@pytest.mark.slow
@pytest.mark.parametrize("source, expected", [
    ("x = 1\n\n# %%\n1 / 0\n", r"(?s)^\S*03_x.py, cell 2 \(`1 / 0`\) failed:.*ZeroDivisionError"),
    ("class MNISTError(RuntimeError): pass\nraise MNISTError('set COURSE_DATA_DIR')\n",
     r"03_x.py, cell 1 \(`class MNISTError.*`\) failed:\nMNISTError: set COURSE_DATA_DIR$"),  # no traceback
    ("import os\nos._exit(1)\n", "03_x.py failed: its kernel died"),
    (None, "03_x.py: could not start a Python kernel .*: Kernel died"),
])
def test_a_failing_lesson_says_why_and_is_not_cached(tmp_path, monkeypatch, source, expected):
    lesson = tmp_path / "03_x.py"
    lesson.write_text(f"# %%\n{source or 'pass'}")
    if source is None:
        monkeypatch.setattr(lessons, "kernel_argv", lambda: [sys.executable, "-c", "raise SystemExit(1)"])
    with pytest.raises(lessons.LessonError, match=expected) as failure:
        run(lesson, tmp_path)
    assert "\x1b[" not in str(failure.value) and not (tmp_path / "executed" / "03_x.ipynb").exists()


def test_the_cache_is_written_atomically_and_a_torn_notebook_is_not_trusted(tmp_path):
    out = tmp_path / "executed" / "01_a.ipynb"
    lessons.save(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), out, "key")
    assert lessons.cached(out, "key") and not lessons.cached(out, "other")
    assert sorted(p.name for p in out.parent.iterdir()) == ["01_a.ipynb", "01_a.sha256"]  # no temporary left
    out.write_text(out.read_text()[:40])  # cut short, as by a kill or a full disk
    assert not lessons.cached(out, "key")
    out.unlink()
    assert not lessons.cached(out, "key")


@pytest.mark.slow
@pytest.mark.parametrize("thread", [False, True])  # `make lessons`; `make serve` (its executor is a thread)
def test_ctrl_c_says_interrupted_and_leaves_no_process(tmp_path, thread):
    (lesson := tmp_path / "lessons" / "01_sleeps.py").parent.mkdir()
    pids = tmp_path / "pids"
    lesson.write_text(f"# %%\nimport os, subprocess, time\nfrom pathlib import Path\n"
                      "sleeper = subprocess.Popen(['sleep', '600'], process_group=0)\n"  # out of the kernel's group
                      f"Path({str(pids)!r}).write_text(f'{{os.getpid()}} {{sleeper.pid}}')\ntime.sleep(600)\n")
    code = ("import sys; from pathlib import Path; from course import lessons; "
            f"lessons.LESSONS = Path({str(lesson.parent)!r}); lessons.EXECUTED = Path({str(tmp_path / 'out')!r}); "
            + ("import threading, time; threading.Thread(target=lessons.run, args=(lessons.find('01'),), daemon=True)"
               ".start(); time.sleep(600)" if thread else "sys.exit(lessons.main(['run', '01']))"))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not pids.exists():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert thread or proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    for pid in map(int, pids.read_text().split()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"{pid} survived"
