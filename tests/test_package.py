"""The course runs anywhere: a lesson notebook copied out of the repository runs in a fresh environment
that has only what a plain Jupyter has, its first cell installing the course (the wheel `make dist`
builds) as it would from GitHub in Colab.

Slow (a wheel, a virtual environment, torch installed into it: a few minutes); pip's cache and the
wheels it already holds are reused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib

import nbformat
import pytest
import yaml

from course.lessons import all_lessons, notebook
from course.paths import ROOT

LESSON = "00"  # the shortest lesson to execute
# What the first code cell of every lesson says, whatever else it holds.
FIRST_CELL = ("import course.check", "except ModuleNotFoundError:", "COURSE_PIP_SOURCE", "pip", "install")


def repo_url() -> str:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())["repo_url"].rstrip("/")


@pytest.mark.parametrize("path", all_lessons(), ids=lambda p: p.stem)
def test_the_first_code_cell_installs_the_course_where_it_is_missing(path):
    first = next(c.source for c in notebook(path).cells if c.cell_type == "code")
    missing = [s for s in FIRST_CELL if s not in first]
    assert not missing, f"{path.name}'s first code cell lacks {missing}:\n{first}"
    assert f'"git+{repo_url()}"' in first, f"{path.name} installs from somewhere else than mkdocs.yml's repo_url"


def pins(*names: str) -> list[str]:
    """The course's pinned requirement of each of `names` (pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]
    return [next(d for d in pinned if d.split("==")[0] == name) for name in names]


def _fresh_env() -> dict[str, str]:
    """This environment without anything that points into the repository or its virtual environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


EXECUTE = textwrap.dedent("""\
    import sys
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(sys.argv[1], as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="fresh-course", resources={"metadata": {"path": "."}}).execute()
    nbformat.write(nb, sys.argv[1])
""")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_lesson_notebook_runs_outside_the_repository_from_the_package(tmp_path):
    if not os.environ.get("COURSE_DATA_DIR") and not os.environ.get("CI"):
        pytest.skip("set COURSE_DATA_DIR to a folder with MNIST (the lesson would download it)")
    env = _fresh_env()

    def run(*argv, cwd=tmp_path):
        proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout

    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", ROOT)
    [wheel] = (tmp_path / "dist").glob("callbacks_to_norms-*.whl")
    # a fresh environment with a plain Jupyter's kernel and notebook runner, nothing of the course
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", *pins("ipykernel", "nbclient"))
    run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "fresh-course")
    work = tmp_path / "work"
    work.mkdir()
    lesson = next(p for p in all_lessons() if p.name.startswith(LESSON))
    shutil.copy(lesson.with_suffix(".ipynb"), work / lesson.with_suffix(".ipynb").name)
    (work / "execute.py").write_text(EXECUTE)
    env["COURSE_PIP_SOURCE"] = str(wheel)  # what Colab gets from GitHub
    run(python, "execute.py", lesson.with_suffix(".ipynb").name, cwd=work)

    nb = nbformat.read(work / lesson.with_suffix(".ipynb").name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    said = "".join(o.get("text", "") for o in code[0].outputs)
    assert re.search(r"not installed in this kernel: installing it with pip from .*\.whl", said), said
    assert all(c.get("execution_count") for c in code), "a cell was not executed"
    where = run(python, "-c", "import course, solutions; print(course.__file__, solutions.__file__)")
    assert str(ROOT) not in where and str(venv) in where, f"the lesson did not use the installed package: {where}"
