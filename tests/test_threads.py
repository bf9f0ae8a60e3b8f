"""The thread policy (course.threads) and where the machinery applies it."""

import json
import subprocess
import sys

import nbformat

from course import lessons, threads
from course.paths import ROOT


def test_policy_is_the_physical_cores_whatever_the_load_and_keeps_a_users_choice():
    idle = threads.policy(env={})
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = [threads.policy(env={}) for _ in range(3)]
    finally:
        hog.kill()
        hog.wait()
    assert busy == [idle] * 3 and idle == {**dict.fromkeys(threads.COUNTS, str(threads.cores())),
                                           "OMP_WAIT_POLICY": "PASSIVE"}
    chosen = threads.policy(env={"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen["OMP_NUM_THREADS"] == chosen["MKL_NUM_THREADS"] == "3" and chosen["OMP_WAIT_POLICY"] == "ACTIVE"
    assert threads.policy(threads=1, env={"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "1"


def test_a_lesson_kernel_runs_under_the_policy_and_quietly(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    lesson = tmp_path / "lessons" / "01_env.py"
    lesson.parent.mkdir()
    lesson.write_text("# %%\nimport json, os, torch\n"
                      "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads()]))\n")
    out, _ = lessons.run(lesson, executed_dir=tmp_path / "executed", root=tmp_path)
    assert json.loads(nbformat.read(out, as_version=4).cells[0].outputs[0].text) == ["PASSIVE", 1]
    assert "without encryption" not in capfd.readouterr().err, "the kernel's start-up warning reached the log"


def test_cli_prints_the_policy_and_runs_a_command_under_it(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    def run(*args):
        return subprocess.run([sys.executable, "-m", "course.threads", *args], cwd=ROOT, capture_output=True, text=True)
    assert run().stdout == "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE\n"
    assert run(sys.executable, "-c", "import os; print(os.environ['OMP_WAIT_POLICY'])").stdout == "PASSIVE\n"
    missing = run("no-such-command-here")
    assert missing.returncode == 127 and "cannot run no-such-command-here" in missing.stderr
