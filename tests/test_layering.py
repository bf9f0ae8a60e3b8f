"""The layering: lessons and `solutions/` import only the runtime (`RUNTIME`) and `solutions`; the runtime
imports no tool and no content; no module imports another's private names; importing content changes nothing.
An AST walk, so each violation names its file and line."""

import ast
import os
import subprocess
import sys

from course.paths import ROOT, shown

RUNTIME = {"course", "course.paths", "course.data", "course.seed", "course.show", "course.check"}


def imports(path):
    """(line, module, names) for each import in `path`, nested ones too; `from course import x` is course.x."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.lineno, node.module, [alias.name for alias in node.names]
            yield from ((node.lineno, f"course.{a.name}", ()) for a in node.names if node.module == "course")


def violations(path, runtime):
    """What `path` (a runtime module if `runtime`, else content) imports that it may not, with the line."""
    for line, target, _ in imports(path):
        if target.partition(".")[0] == "course" and target not in RUNTIME:
            yield f"{shown(path)}:{line} imports {target}, a tool: import only {', '.join(sorted(RUNTIME))}"
        elif runtime and target.partition(".")[0] in ("solutions", "exercises", "lessons"):
            yield f"{shown(path)}:{line} imports {target}: the runtime never imports content"


def test_content_imports_only_the_runtime_and_the_runtime_no_tool(tmp_path):
    runtime = [ROOT / (m.replace(".", "/") + ".py") for m in RUNTIME - {"course"}] + [ROOT / "course/__init__.py"]
    content = sorted([*ROOT.glob("solutions/*.py"), *ROOT.glob("lessons/*.py")])
    found = [v for path in runtime + content for v in violations(path, path in runtime)]
    assert not found, "layering violated:\n  " + "\n  ".join(found)
    (tmp_path / "x.py").write_text("import torch\nfrom course import grade\n\nfrom solutions.l00 import f\n")
    tool = f"{tmp_path / 'x.py'}:2 imports course.grade, a tool: import only {', '.join(sorted(RUNTIME))}"
    assert list(violations(tmp_path / "x.py", False)) == [tool]  # the check can fail
    assert list(violations(tmp_path / "x.py", True)) == [
        tool, f"{tmp_path / 'x.py'}:4 imports solutions.l00: the runtime never imports content"]


def test_no_module_imports_another_modules_private_names():
    ours = ("course", "solutions", "exercises", "lessons")
    found = [f"{shown(path)}:{line} imports {name} from {target}"
             for folder in ("course", "solutions", "tests") for path in sorted((ROOT / folder).rglob("*.py"))
             for line, target, names in imports(path) if (target or "").partition(".")[0] in ours
             for name in names if name[:1] == "_" and name[:2] != "__"]
    assert not found, "private names imported across modules:\n  " + "\n  ".join(found)


def test_importing_the_runtime_or_solutions_changes_no_environment_variable_and_no_torch_setting():
    modules = ["course.seed"] + [f"solutions.{p.stem}" for p in sorted((ROOT / "solutions").glob("l*.py"))]
    code = ("import os, importlib, torch\n"
            "def state(): return dict(os.environ), torch.get_num_threads(), torch.get_num_interop_threads(), "
            "torch.are_deterministic_algorithms_enabled(), torch.is_grad_enabled(), torch.get_default_dtype()\n"
            f"before = state()\nfor m in {modules!r}: importlib.import_module(m)\n"
            "changed = {k for k in set(before[0]) | set(state()[0]) if before[0].get(k) != state()[0].get(k)}\n"
            "assert before[1:] == state()[1:] and not changed, (changed, before[1:], state()[1:])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}  # unset here
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
