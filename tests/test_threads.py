"""The thread policy (course.threads) and where the machinery applies it."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from course import lessons, threads
from course.stubs import ROOT


def test_policy_sleeps_waiting_threads_and_keeps_a_users_choice(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 1.0)
    assert threads.policy(env={}) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                      "OMP_WAIT_POLICY": "PASSIVE"}
    chosen = threads.policy(env={"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen["OMP_NUM_THREADS"] == chosen["MKL_NUM_THREADS"] == "3" and chosen["OMP_WAIT_POLICY"] == "ACTIVE"
    assert threads.policy(threads=1, env={"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("idle, expected", [(0.0, 1), (0.4, 1), (0.9, 1), (1.6, 1), (1.8, 2), (7.0, 2)])
def test_threads_follow_the_idle_cores_within_the_physical_ones(monkeypatch, idle, expected):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    assert threads.choose_threads() == expected


def test_idle_cores_sees_a_busy_process():
    cpus = os.cpu_count()
    assert 0 <= threads.idle_cores(0.05) <= cpus + 0.01
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert threads.idle_cores(0.5) <= cpus - 0.5  # the busy process holds most of one core
    finally:
        hog.kill()
        hog.wait()


def test_importing_seed_configures_torch_before_it_is_imported():
    code = ("import os; import course.seed, torch; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_"))}
    for extra, threads_expected in (({"OMP_NUM_THREADS": "1"}, "1"), ({}, None)):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out[0] == "PASSIVE" and out[1] == out[2] and (threads_expected is None or out[1] == threads_expected)


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
