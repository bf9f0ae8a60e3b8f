"""The thread policy (course.threads) and where the machinery applies it."""

import json
import os
import subprocess
import sys

import nbformat

from course import lessons, threads
from course.stubs import ROOT


def test_policy_sleeps_waiting_threads_and_keeps_a_users_choice(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    assert threads.policy(env={}) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
                                      "OMP_WAIT_POLICY": "PASSIVE"}
    chosen = threads.policy(env={"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen["OMP_NUM_THREADS"] == chosen["MKL_NUM_THREADS"] == "3" and chosen["OMP_WAIT_POLICY"] == "ACTIVE"
    assert threads.policy(threads=1, env={"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "1"


def test_the_thread_count_does_not_follow_the_load():
    """The same count idle and beside a busy process: a count that followed the load changed every result."""
    idle = threads.policy(env={})
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = [threads.policy(env={}) for _ in range(3)]
    finally:
        hog.kill()
        hog.wait()
    assert all(b == idle for b in busy) and idle["OMP_NUM_THREADS"] == str(threads.cores())


def test_importing_seed_or_solutions_changes_no_environment_and_no_torch_setting():
    code = ("import os, json, torch; before = dict(os.environ), torch.get_num_threads(); "
            "import course.seed, solutions.l00_training_loop, solutions.l03_cnn_hooks, solutions.l04_norms; "
            "print(json.dumps([dict(os.environ) == before[0], torch.get_num_threads() == before[1]]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [True, True], "importing the runtime or solutions changed the process's threads"


def test_a_lesson_kernel_runs_under_the_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    lesson = tmp_path / "lessons" / "01_env.py"
    lesson.parent.mkdir()
    lesson.write_text("# %%\nimport json, os, torch\n"
                      "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads()]))\n")
    out, _ = lessons.run(lesson, executed_dir=tmp_path / "executed", root=tmp_path)
    printed = nbformat.read(out, as_version=4).cells[0].outputs[0].text
    assert json.loads(printed) == ["PASSIVE", 1]


def test_cli_prints_the_policy_and_runs_a_command_under_it():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run([sys.executable, "-m", "course.threads"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE"
    code = "import os; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-m", "course.threads", sys.executable, "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "PASSIVE"
    missing = subprocess.run([sys.executable, "-m", "course.threads", "no-such-command-here"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert missing.returncode == 127 and "cannot run no-such-command-here" in missing.stderr
