"""`pytest --impl exercises` must parse however it is typed (pytest 9 mistakes a folder name for a path)."""

import subprocess
import sys

import pytest

from course.paths import ROOT


@pytest.mark.parametrize("args", [["--impl", "exercises"], ["--impl=solutions"],
                                  ["tests/graded", "--impl", "exercises"]])
def test_impl_option_is_recognised(args):
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "exercise", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tests collected" in run.stdout
