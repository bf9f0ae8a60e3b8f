"""The course runs anywhere: a lesson notebook copied out of the repository runs in a fresh environment
with only a plain Jupyter's kernel, its first cell installing the course (the wheel `make dist` builds)
as it would from GitHub in Colab. Slow: a wheel, a virtual environment, torch installed into it."""

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

FIRST_CELL = ("import course.check", "except ModuleNotFoundError:", "COURSE_PIP_SOURCE", "pip", "install")


@pytest.mark.parametrize("path", all_lessons(), ids=lambda p: p.stem)
def test_the_first_code_cell_installs_the_course_where_it_is_missing(path):
    first = next(c.source for c in notebook(path).cells if c.cell_type == "code")
    missing = [s for s in FIRST_CELL if s not in first]
    assert not missing, f"{path.name}'s first code cell lacks {missing}:\n{first}"
    repo = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["repo_url"].rstrip("/")
    assert f'"git+{repo}"' in first, f"{path.name} installs from somewhere else than mkdocs.yml's repo_url"


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
    # this environment without anything that points into the repository or its virtual environment
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["optional-dependencies"]["dev"] + project["dependencies"]
            if d.split("==")[0] in ("ipykernel", "nbclient")]

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
    run(python, "-m", "pip", "install", "--quiet", *pins)
    run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "fresh-course")
    work = tmp_path / "work"
    work.mkdir()
    lesson = all_lessons()[0]  # the shortest
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
