"""The course's layering: a small runtime that content imports, and tools that import content, never the reverse.

- runtime (`RUNTIME`): what lessons and `solutions/` may import of `course`; it imports no tool and no content;
- content: `solutions/` and the lessons import only the runtime (and `solutions`);
- tools: everything else in `course/` (grading, stubs, mutants, lessons, site, challenges, bench, threads).

No module imports another's private (`_name`) names. An AST walk, so each violation is named with its line.
"""

import ast
import subprocess
import sys

from course.paths import ROOT

RUNTIME = {"course", "course.paths", "course.data", "course.seed", "course.show", "course.check"}


def imports(path):
    """(line, module imported, names imported) for every import in the file at `path`, nested ones too."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = tuple(alias.name for alias in node.names)
            yield node.lineno, node.module, names
            # `from course import threads` imports the module course.threads
            yield from ((node.lineno, f"{node.module}.{n}", ()) for n in names
                        if (ROOT / node.module.replace(".", "/") / f"{n}.py").exists())


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_violations():
    runtime = [ROOT / (m.replace(".", "/") + ".py") for m in RUNTIME - {"course"}] + [ROOT / "course/__init__.py"]
    content = sorted((ROOT / "solutions").glob("*.py")) + sorted((ROOT / "lessons").glob("*.py"))
    found = []
    for path in runtime + content:
        is_runtime = path in runtime
        for line, target, _ in imports(path):
            top = target.partition(".")[0]
            if top == "course" and target not in RUNTIME:
                who = "the runtime" if is_runtime else "content"
                found.append(f"{path.relative_to(ROOT)}:{line} imports {target}, a tool: "
                             f"{who} may import only {', '.join(sorted(RUNTIME))}")
            elif is_runtime and top in ("solutions", "exercises", "lessons"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {target}: the runtime never imports content")
    return found


def test_content_imports_only_the_runtime_and_the_runtime_no_tool():
    violations = layer_violations()
    assert not violations, "layering violated:\n  " + "\n  ".join(violations)


def test_no_module_imports_another_modules_private_names():
    ours = ("course", "solutions", "exercises", "lessons")
    found = [f"{path.relative_to(ROOT)}:{line} imports {name} from {target}"
             for folder in ("course", "solutions", "tests")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for line, target, names in imports(path) if target.partition(".")[0] in ours
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert not found, "private names imported across modules:\n  " + "\n  ".join(found)


def test_importing_solutions_changes_no_environment_variable_and_no_torch_setting():
    modules = [module_name(p) for p in sorted((ROOT / "solutions").glob("l*.py"))]
    code = ("import os, importlib, torch\n"
            "def state(): return dict(os.environ), torch.get_num_threads(), torch.get_num_interop_threads(), "
            "torch.are_deterministic_algorithms_enabled(), torch.is_grad_enabled(), torch.get_default_dtype()\n"
            f"before = state()\nfor m in {modules!r}: importlib.import_module(m)\n"
            "after = state()\n"
            "changed = {k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k)}\n"
            "assert before[1:] == after[1:] and not changed, (changed, before[1:], after[1:])\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_layering_check_can_fail(tmp_path, monkeypatch):
    lesson = tmp_path / "lessons" / "99_x.py"
    lesson.parent.mkdir()
    lesson.write_text("import torch\nfrom course import grade\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    for m in RUNTIME - {"course"}:
        (tmp_path / (m.replace(".", "/") + ".py")).parent.mkdir(exist_ok=True)
        (tmp_path / (m.replace(".", "/") + ".py")).write_text("import course.stubs\n" if m == "course.show" else "")
    (tmp_path / "course/__init__.py").write_text("")
    (tmp_path / "course/grade.py").write_text("")
    (tmp_path / "course/stubs.py").write_text("")
    assert sorted(layer_violations()) == sorted([
        "course/show.py:1 imports course.stubs, a tool: the runtime may import only " + ", ".join(sorted(RUNTIME)),
        "lessons/99_x.py:2 imports course.grade, a tool: content may import only " + ", ".join(sorted(RUNTIME))])
