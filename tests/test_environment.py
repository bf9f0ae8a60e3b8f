"""environment.yml (for conda users) pins exactly what pyproject.toml pins, Python included."""

import re
import tomllib

from course.paths import ROOT


def test_environment_yml_pins_exactly_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = set(project["dependencies"]).union(*project["optional-dependencies"].values())
    assert not (loose := [d for d in pyproject if "==" not in d]), f"pin these in pyproject.toml with ==: {loose}"
    environment = (ROOT / "environment.yml").read_text()
    conda = set(re.findall(r"^\s*-\s*([A-Za-z0-9_.\-\[\]]+==[^\s#]+)", environment.split("- pip:", 1)[1], re.M))
    assert conda == pyproject, (f"only in pyproject.toml: {sorted(pyproject - conda)}; "
                                f"only in environment.yml: {sorted(conda - pyproject)}")
    assert project["requires-python"] == ">=" + re.search(r"^\s*-\s*python=(\S+)", environment, re.M)[1]
