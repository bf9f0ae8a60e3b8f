"""environment.yml (for conda users) must pin exactly what pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*-\s*([A-Za-z0-9_.\-\[\]]+==[^\s#]+)", re.M)


def pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["dependencies"]) | {d for ds in project["optional-dependencies"].values() for d in ds}


def environment_pins() -> set[str]:
    pip_section = (ROOT / "environment.yml").read_text().split("- pip:", 1)[1]
    return set(PIN.findall(pip_section))


def test_every_dependency_is_pinned_exactly():
    loose = [d for d in pyproject_pins() if "==" not in d]
    assert not loose, f"pin these in pyproject.toml with ==: {loose}"


def test_environment_yml_matches_pyproject():
    pyproject, conda = pyproject_pins(), environment_pins()
    assert conda == pyproject, (f"only in pyproject.toml: {sorted(pyproject - conda)}; "
                                f"only in environment.yml: {sorted(conda - pyproject)}")


def test_python_versions_agree():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    conda_python = re.search(r"^\s*-\s*python=(\S+)", (ROOT / "environment.yml").read_text(), re.M)[1]
    assert requires == f">={conda_python}"
