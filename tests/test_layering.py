"""The layering: a runtime that content imports, tools that import content, never the reverse.

Lessons and `solutions/` import only the runtime (`RUNTIME`) and `solutions`; the runtime imports no tool
and no content; no module imports another's private names. An AST walk, so each violation names its line.
"""

import ast
import os
import subprocess
import sys

from course.paths import ROOT

RUNTIME = {"course", "course.paths", "course.data", "course.seed", "course.show", "course.check"}


def imports(path):
    """(line, module, names imported) for each import in `path`, nested ones too; `from course import x`
    imports the module course.x as well."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = tuple(alias.name for alias in node.names)
            yield node.lineno, node.module, names
            yield from ((node.lineno, f"course.{n}", ()) for n in names if node.module == "course")


def layer_violations(root=ROOT):
    runtime = {root / (m.replace(".", "/") + ".py") for m in RUNTIME - {"course"}} | {root / "course/__init__.py"}
    found = []
    for path in sorted(runtime) + sorted((root / "solutions").glob("*.py")) + sorted((root / "lessons").glob("*.py")):
        who = "the runtime" if path in runtime else "content"
        for line, target, _ in imports(path):
            if target.partition(".")[0] == "course" and target not in RUNTIME:
                found.append(f"{path.relative_to(root)}:{line} imports {target}, a tool: {who} may import only "
                             + ", ".join(sorted(RUNTIME)))
            elif path in runtime and target.partition(".")[0] in ("solutions", "exercises", "lessons"):
                found.append(f"{path.relative_to(root)}:{line} imports {target}: the runtime never imports content")
    return found


def test_content_imports_only_the_runtime_and_the_runtime_no_tool():
    assert not (violations := layer_violations()), "layering violated:\n  " + "\n  ".join(violations)


def test_the_layering_check_can_fail(tmp_path):
    (tmp_path / "course").mkdir()
    for module in RUNTIME - {"course"} | {"course.__init__"}:
        (tmp_path / (module.replace(".", "/") + ".py")).write_text("")
    (tmp_path / "course/show.py").write_text("from course import grade\n")
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons/99_x.py").write_text("import torch\nimport course.grade\nimport solutions.l00\n")
    (tmp_path / "course/data.py").write_text("\n\nfrom solutions.l00 import f\n")
    assert layer_violations(tmp_path) == [
        "course/data.py:3 imports solutions.l00: the runtime never imports content",
        "course/show.py:1 imports course.grade, a tool: the runtime may import only " + ", ".join(sorted(RUNTIME)),
        "lessons/99_x.py:2 imports course.grade, a tool: content may import only " + ", ".join(sorted(RUNTIME))]


def test_no_module_imports_another_modules_private_names():
    found = [f"{path.relative_to(ROOT)}:{line} imports {name} from {target}"
             for folder in ("course", "solutions", "tests") for path in sorted((ROOT / folder).rglob("*.py"))
             for line, target, names in imports(path) if (target or "").partition(".")[0] in
             ("course", "solutions", "exercises", "lessons") for name in names if name[:1] == "_" and name[:2] != "__"]
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
