"""The course site: the hand-written pages in docs/ plus pages generated from the course itself.

    python -m course.site build    # execute changed lessons, then `mkdocs build --strict` into build/site
    python -m course.site serve    # serve http://127.0.0.1:8000 at once; execute lessons beside it; rebuild on edits

Generated for every lesson `lessons/NN_slug.py` (discovered, never listed by hand):

    lessons/NN_slug/             the lesson: its executed notebook (build/executed/NN_slug.ipynb, from
                                 `course.lessons.run`, cached) as markdown - cells as code blocks, outputs
                                 as text blocks and image files - so MkDocs renders it like any page (its
                                 headings, math, search, folded blocks); the notebook itself for download
    lessons/NN_slug/exercises/   what to implement: the solution regions of solutions/lNN_*.py as the
                                 learner's stubs; points, hints and test names of the graded tests
                                 tests/graded/test_lNN_*.py as `course.grade.collect` finds them
                                 (each parametrized case counts, as `make grade` scores it)
    lessons/NN_slug/solutions/   the reference code, read from solutions/lNN_*.py at build time

mkdocs.yml lists the hand-written pages in its `nav:`, with a placeholder (`NAV_LESSONS`) where the
lessons' section goes, and names `course/site_hooks.py`, whose MkDocs hooks call the functions
below, so a plain `mkdocs build` or `mkdocs serve` builds the same site. MathJax comes from npm
(package.json) and is served by the site itself: the site makes no request to any other host.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mkdocs.utils import get_relative_url

from course import grade
from course import lessons as lesson_runner
from course.paths import ROOT
from course.show import BEGIN, END
from course.stubs import Region, find_regions, make_stub
from course.stubs import functions as all_functions

BUILD = ROOT / "build"
SITE = BUILD / "site"
CONFIG = ROOT / "mkdocs.yml"
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"
# What the site serves of MathJax: the TeX-to-HTML bundle and what it loads on demand (TeX
# extensions, fonts, the menu's accessibility tools). Everything else in the package stays out.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "sre")
SERVE_ADDR = "127.0.0.1:8000"
# The challenges set in the lessons (docs/challenges.md describes them), by lesson number.
CHALLENGES = {"03": ["beat-98"], "04": ["one-epoch", "tiny-batch"]}
# Placeholders: mkdocs.yml's `nav:` names NAV_LESSONS where the generated Lessons section goes; a
# hand-written page holds a marker where the hooks write what is derived from the course.
NAV_LESSONS = "GENERATED-BY-COURSE-SITE-HOOKS"
LESSON_MAP_MARKER = "<!-- lesson-map -->"
DEPENDENCIES_MARKER = "<!-- lesson-dependencies -->"
PAGES_URL_MARKER = "PUBLISHED-SITE-URL"  # where GitHub Pages publishes the site (from mkdocs.yml's repo_url)
LECTURE_MARKER = "<!-- lecture -->"

log = logging.getLogger("mkdocs.course.site")


class SiteError(RuntimeError):
    """The site cannot be built; the message says why and what to do."""


# ------------------------------------------------------------------------------ what a lesson has

@dataclass
class Exercise:
    id: str
    module: Path  # solutions/lNN_slug.py
    regions: list[Region] = field(default_factory=list)
    tests: list[grade.Collected] = field(default_factory=list)  # one per collected case, as graded

    @property
    def functions(self) -> list[str]:
        return list(dict.fromkeys(r.function for r in self.regions))

    @property
    def test_functions(self) -> dict[str, int]:
        """The names of its test functions -> how many cases each has (several when parametrized)."""
        return dict(Counter(t.function for t in self.tests))

    @property
    def name(self) -> str:
        """What the learner writes, for headings and sidebars: its functions (methods as Class.method), as
        code, so that a dunder's underscores are not read as bold."""
        names = [f"`{n}`" for n in self.functions]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def hints(self) -> list[str]:
        return list(dict.fromkeys(t.hint for t in self.tests if t.hint))


@dataclass
class Lesson:
    path: Path  # lessons/NN_slug.py
    tests: list[grade.Collected] = field(default_factory=list)  # its graded tests (see `all_lessons`)

    @property
    def number(self) -> str:
        return self.path.name[:2]

    @property
    def stem(self) -> str:
        return self.path.stem

    @cached_property
    def cells(self) -> list:
        return lesson_runner.notebook(self.path).cells

    @cached_property
    def title(self) -> str:
        """The first markdown heading, without a leading "Lesson NN -" (the number is shown apart)."""
        for cell in self.cells:
            if cell.cell_type == "markdown" and (m := re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", cell.source, re.M)):
                title = re.sub(r"^lesson\s*\d+\s*[-:.\u2013\u2014\u00b7]*\s*", "", m[1], flags=re.I)
                title = re.sub(r"[`*]", "", title)  # the navigation shows it as plain text
                return title[:1].upper() + title[1:]
        return self.stem[3:].replace("_", " ").capitalize()

    @property
    def label(self) -> str:
        return f"Lesson {self.number}: {self.title}"

    @cached_property
    def concepts(self) -> list[str]:
        """The lesson's second-level headings: what it teaches, in order."""
        found = []
        for cell in self.cells:
            if cell.cell_type == "markdown":
                found += [re.sub(r"^\d+[.)]\s*", "", h) for h in re.findall(r"^##\s+(.+?)\s*#*\s*$", cell.source, re.M)]
        return found

    @cached_property
    def mentions(self) -> dict[str, str]:
        """Exercise id -> the section (its heading, as plain text) where the lesson first mentions it."""
        found, section = {}, self.title
        for cell in self.cells:
            if cell.cell_type == "markdown":
                for m in re.finditer(rf"{_HEADING.pattern}|{MENTION.pattern}", cell.source, re.M):
                    if m["text"]:
                        section = tex_to_text(re.sub(r"[`*]", "", m["text"]))
                    else:
                        found.setdefault(m["id"], section)
        return found

    @property
    def solutions(self) -> list[Path]:
        return sorted((ROOT / "solutions").glob(f"l{self.number}_*.py"))

    @property
    def graded_files(self) -> list[Path]:
        return grade.graded_files(ROOT, self.number)

    @cached_property
    def exercises(self) -> list[Exercise]:
        found: dict[str, Exercise] = {}
        for module in self.solutions:
            for region in find_regions(module.read_text(), f"solutions/{module.name}"):
                found.setdefault(region.id, Exercise(region.id, module)).regions.append(region)
        for test in self.tests:
            if test.exercise in found:
                found[test.exercise].tests.append(test)
        return list(found.values())

    # where its pages live in the site (paths inside the docs, as mkdocs sees them)
    @property
    def page(self) -> str:
        return f"lessons/{self.stem}.md"

    @property
    def exercises_page(self) -> str:
        return f"lessons/{self.stem}/exercises.md"

    @property
    def solutions_page(self) -> str:
        return f"lessons/{self.stem}/solutions.md"


def all_lessons() -> list[Lesson]:
    """Every lesson in lessons/, each with its graded tests: one `course.grade.collect` for them all,
    the single source of the site's points, hints and test names (what `make grade` scores)."""
    try:
        collected = grade.collect(ROOT)
    except grade.GradeError as e:
        raise SiteError(f"the graded tests cannot be collected: {e}") from None
    return [Lesson(p, [t for t in collected if t.lesson == p.name[:2]]) for p in lesson_runner.all_lessons()]


# ------------------------------------------------------------------------------ generated markdown

def fence(code: str, lang: str = "python", **attrs) -> str:
    """A fenced code block that survives backticks in `code`."""
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", code)), default=0))
    options = "".join(f' {k}="{v}"' for k, v in attrs.items() if v)
    return f"{ticks}{lang}{options}\n{code.rstrip()}\n{ticks}"


def indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text, prefix, lambda line: True).replace(prefix + "\n", "\n")


def _plural(count: float, noun: str) -> str:
    return f"{count:g} {noun}{'s' if count != 1 else ''}"


def code_blocks(source: str, functions: list[str], regions: list[Region] = ()) -> list[tuple[str, int, str, str]]:
    """The code of `functions` in `source`, methods grouped under their class's header and docstring.

    Returns (name, first line, code, hl_lines) per block: solution markers are dropped and the lines
    inside `regions` are listed in hl_lines (1-based in the block) so the page can highlight them.
    """
    lines = source.splitlines()
    tree = ast.parse(source)
    nodes = dict(all_functions(tree))  # qualified name, as course.stubs names a region's function -> node
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    classes = {name.rpartition(".")[0]: parents[node] for name, node in nodes.items()
               if isinstance(parents[node], ast.ClassDef)}  # a method's class, by qualified name

    def span(node) -> range:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return range(first, node.end_lineno + 1)

    def header(cls) -> range:
        """A class's decorators, `class` line(s) and docstring: up to its first member (which may be
        decorated) when it has no docstring."""
        first = cls.body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str)
        return range(span(cls).start, first.end_lineno + 1 if has_doc else span(first).start)

    groups: dict[str, list[str]] = {}  # owner (a class, or the function itself) -> functions
    for name in functions:
        owner = name.rpartition(".")[0]
        groups.setdefault(owner if owner in classes else name, []).append(name)
    marked = {n for r in regions for n in range(r.start + 1, r.end)}
    blocks = []
    for owner, names in groups.items():
        numbers: list[int | None] = []
        if owner in classes:
            numbers += list(header(classes[owner]))
            for name in names:
                numbers += [None] + list(span(nodes[name]))
        else:
            numbers += list(span(nodes[owner]))
        numbers = [n for n in numbers if n is None or not (BEGIN.match(lines[n - 1]) or END.match(lines[n - 1]))]
        text = textwrap.dedent("\n".join("" if n is None else lines[n - 1] for n in numbers))
        hl = " ".join(str(i) for i, n in enumerate(numbers, 1) if n in marked)
        blocks.append((owner, numbers[0], text, hl))
    return blocks


def exercises_markdown(lesson: Lesson) -> str:
    n, exercises = lesson.number, lesson.exercises
    head = ["---", f"title: Exercises for lesson {n}", "---", "", f"# Exercises · lesson {n}", "",
            f"**{lesson.title}**: the [lesson](../{lesson.stem}.md) shows each piece at work; here you "
            "write them.", ""]
    if not exercises:
        return "\n".join(head + ["This lesson has no graded exercises: it is there to read and run.", ""])
    files = " and ".join(f"`exercises/{m}`" for m in sorted({e.module.name for e in exercises}))
    tests = " and ".join(f"`tests/graded/{p.name}`" for p in lesson.graded_files) or "the graded tests"
    out = head + [
        f"Your answers go in {files}. Every exercise below is a function (or a few methods) whose body is "
        "`raise NotImplementedError(...)`: replace it with your code, then check your work:", "",
        fence(f"make grade LESSON={n}", "bash"), "",
        f"The grader runs {tests} on your code and prints the points of each exercise, with the first "
        "failure and a hint ([how grading works](../../grading.md)). Stuck? Open the hint under the "
        "exercise, then compare with the [reference solution](solutions.md) (spoilers!).", "",
    ]
    total = sum(e.points for e in exercises)
    out += ["| Exercise | What you implement | Points |", "| --- | --- | ---: |"]
    out += [f"| [{e.id}](#{e.id}) | {', '.join(f'`{f}`' for f in e.functions)} | {e.points:g} |" for e in exercises]
    out += [f"| **Total** | {len(exercises)} exercises | **{total:g}** |", ""]
    stubs = {m: make_stub(m.read_text(), m.name) for m in {e.module for e in exercises}}  # = exercises/lNN_*.py
    for e in exercises:
        names = [f"`{name}`" + (f" ({cases} cases)" if cases > 1 else "")
                 for name, cases in e.test_functions.items()]
        tested = f"{_plural(len(names), 'test')}: {', '.join(names)}" if names else "no graded test yet"
        section = lesson.mentions.get(e.id)
        taught = (f"taught in [{section}](../{lesson.stem}.md#ex-{e.id})" if section
                  else f"from [the lesson](../{lesson.stem}.md)")
        out += [f"## {e.id}: {e.name} {{ #{e.id} }}", "",
                f"**{_plural(e.points, 'point')}** · {tested} · {taught}", ""]
        for name, line, code, _ in code_blocks(stubs[e.module], e.functions):
            out += [fence(code, title=f"exercises/{e.module.name}, line {line}: {name}"), ""]
        for hint in e.hints:
            out += ['??? tip "Hint"', "", indent(hint), ""]
        out += [f"[Reference solution for {e.id}](solutions.md#{e.id}){{ .spoiler-link }}", ""]
    return "\n".join(out)


def solutions_markdown(lesson: Lesson) -> str:
    n = lesson.number
    out = [
        "---", f"title: Solutions for lesson {n}", "search:", "  exclude: true", "---", "",
        f"# Solutions · lesson {n}", "",
        '!!! danger "Spoilers"', "",
        indent(f"These are the reference answers to the [exercises of lesson {n}](exercises.md). You learn "
               "more from a failing test and a hint than from reading an answer, so try first. Every answer "
               "is folded: open one only when you need it. The highlighted lines are the part you write."),
        "",
        indent("The code is read from `solutions/` when the site is built: it is exactly what the "
               "lessons import and what the graded tests pass on."),
        "",
    ]
    for e in lesson.exercises:
        source = e.module.read_text()
        out += [f"## {e.id}: {e.name} {{ #{e.id} }}", "",
                f"[Back to the exercise](exercises.md#{e.id}) · [the lesson](../{lesson.stem}.md"
                + (f"#ex-{e.id})" if e.id in lesson.mentions else ")"), "",
                f'??? success "Show the solution to {e.id}"', ""]
        for name, line, code, hl in code_blocks(source, e.functions, e.regions):
            out += [indent(fence(code, title=f"solutions/{e.module.name}, line {line}: {name}", hl_lines=hl)), ""]
    for module in lesson.solutions:
        source = module.read_text()
        marked = [n for r in find_regions(source, module.name) for n in range(r.start + 1, r.end)]
        out += [f"## The whole file: `solutions/{module.name}`", "",
                f'??? abstract "Show solutions/{module.name}"', "",
                indent(fence(source, title=f"solutions/{module.name}", linenums="1",
                             hl_lines=" ".join(map(str, marked)))), ""]
    return "\n".join(out)


def lesson_map_markdown(lessons: list[Lesson], page_dir: str = "") -> str:
    """The home page's table: lesson -> concepts -> exercises -> challenge."""
    if not lessons:
        return "*No lesson yet: they appear here as soon as `lessons/` holds one.*"
    rows = ["| Lesson | What you learn | Time | Exercises | Challenge |", "| --- | --- | --- | --- | --- |"]
    for lesson in lessons:
        concepts = " · ".join(lesson.concepts) or "-"
        exercises = lesson.exercises
        ex = (f"[{_plural(len(exercises), 'exercise')}, {sum(e.points for e in exercises):g} points]"
              f"({page_dir}{lesson.exercises_page})" if exercises else "-")
        challenges = ", ".join(f"[{c}]({page_dir}challenges.md#{c})" for c in CHALLENGES.get(lesson.number, [])) or "-"
        rows.append(f"| [{lesson.label}]({page_dir}{lesson.page}) | {concepts} | ~{minutes(lesson)} min | {ex} "
                    f"| {challenges} |")
    return "\n".join(rows)


def page_titles(lesson: Lesson) -> dict[str, str]:
    """The full titles of a lesson's pages, which the navigation shortens to "Lesson", "Exercises"..."""
    return {lesson.page: lesson.label, lesson.exercises_page: f"Exercises for lesson {lesson.number}",
            lesson.solutions_page: f"Solutions for lesson {lesson.number}"}


def dependencies_markdown() -> str:
    """What a lesson's execution depends on besides the lesson itself (`course.lessons.DEPENDENCIES`)."""
    names = [f"`{d}`" for d in lesson_runner.DEPENDENCIES]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def nav(configured: list | None, lessons: list[Lesson]) -> list:
    """mkdocs.yml's `nav:` (the hand-written pages) with its `NAV_LESSONS` placeholder replaced by one
    section per lesson, in lesson order (dropped while there is no lesson)."""
    at = [i for i, item in enumerate(configured or []) if isinstance(item, dict) and NAV_LESSONS in item.values()]
    if len(at) != 1:
        raise SiteError(f"mkdocs.yml's `nav:` must hold exactly one `- Lessons: {NAV_LESSONS}` entry, where "
                        "the lessons' pages go")
    per_lesson = []
    for lesson in lessons:
        pages = [{"Lesson": lesson.page}]
        if lesson.solutions:
            pages += [{"Exercises": lesson.exercises_page}, {"Solutions": lesson.solutions_page}]
        per_lesson.append({f"{lesson.number} · {lesson.title}": pages})
    (title,) = configured[at[0]]
    return configured[:at[0]] + ([{title: per_lesson}] if per_lesson else []) + configured[at[0] + 1:]


# ------------------------------------------------------------------------------ building blocks

def lint(lesson: Lesson) -> list[str]:
    """What a lesson's markdown asks for that its page cannot show (notebooks are not rendered by
    Python-Markdown: no admonitions, no attribute lists, no snippets)."""
    problems = []
    for i, cell in enumerate(lesson.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if re.match(r"\s*(!!!|\?\?\?\+?)\s*\w", line):
                    problems.append(f"lessons/{lesson.path.name}, cell {i}: admonition `{line.strip()}` "
                                    "shows as plain text in a notebook; use a blockquote (> **Note** ...)")
    return problems


@contextlib.contextmanager
def _captured_stderr():
    """Redirect file descriptor 2 (which a lesson's kernel inherits) to a file; yields a function that
    returns what was written there."""
    with tempfile.TemporaryFile(mode="w+") as f:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield lambda: (f.seek(0), f.read())[1]
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def stale(lessons: list[Lesson]) -> list[Lesson]:
    """The lessons whose executed notebook is missing or older than the lesson (or what it depends on)."""
    return [lesson for lesson in lessons if executed_notebook_path(lesson) is None]


def execute_lessons(lessons: list[Lesson]) -> None:
    """Run every lesson through `course.lessons.run` (cached), each one named in the log as it starts.

    A lesson that fails, or whose markdown the page cannot render, stops the build (strict)."""
    for lesson in lessons:
        for problem in lint(lesson):
            log.warning(f"course: {problem}")
        start = time.perf_counter()
        if executed_notebook_path(lesson) is None:
            log.info(f"course: executing lessons/{lesson.path.name} ...")
        with _captured_stderr() as kernel_said:
            try:
                _, ran = lesson_runner.run(lesson.path)
            except lesson_runner.LessonError as e:
                raise SiteError(f"{e}\n(run `python -m course.lessons run {lesson.number}` to reproduce)") from None
            finally:
                said = kernel_said()
        if said.strip():
            sys.stderr.write(said)
        what = f"executed in {time.perf_counter() - start:.1f} s" if ran else "unchanged, not re-executed"
        log.info(f"course: lessons/{lesson.path.name} {what}")


def ensure_mathjax() -> None:
    """Install node_modules/mathjax/es5 with `npm ci` from the pinned package-lock.json if missing.

    Called once per build, before any lesson executes, so a missing npm stops the build at once."""
    if (MATHJAX / "tex-chtml.js").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SiteError("MathJax is not installed and npm is missing: install Node.js 20+ (it brings npm), "
                        "then run `npm ci` in the repository (or `make site` again)")
    log.info("course: installing MathJax with `npm ci`")
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode or not (MATHJAX / "tex-chtml.js").exists():
        raise SiteError(f"`npm ci` failed (is the npm registry reachable?):\n{proc.stdout}{proc.stderr}")


def mathjax_files() -> list[tuple[str, Path]]:
    """(path in the site, file) for every MathJax file the site serves (`ensure_mathjax` installed it)."""
    found = []
    for part in MATHJAX_PARTS:
        path = MATHJAX / part
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            found.append((f"assets/mathjax/{file.relative_to(MATHJAX).as_posix()}", file))
    return found


# ------------------------------------------------------------------------------ lesson pages

# The lecture the course follows (named once on the home page and in each lesson's header).
LECTURE = ("lesson 10 of fast.ai's *Deep Learning from the Foundations* (Practical Deep Learning for Coders "
           "2019, part 2)", "https://course19.fast.ai/videos/?lesson=10")
# How a lesson mentions one of its exercises in its prose: "Exercise `NN-id`", possibly wrapped after "Exercise".
MENTION = re.compile(r"\b[Ee]xercise(?:[ \t]+|[ \t]*\n[ \t]*)`(?P<id>\d\d-[\w-]+)`")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.+?)[ \t]*#*[ \t]*$", re.M)
# A folded answer of the "Check your understanding" questions, as lesson owners write it.
_ANSWER = re.compile(r"^(?P<indent>[ \t]*)<details>\s*<summary>(?P<summary>.*?)</summary>[ \t]*\n"
                     r"(?P<body>.*?)^[ \t]*</details>[ \t]*$", re.M | re.S)
# course.show's folded "Show our version" output (an HTML <details> with pygments' inline-styled code).
_FOLDED = re.compile(r'<details class="course-solution"><summary>(?P<summary>.*?)</summary>\s*'
                     r'<p class="course-source">(?P<where>.*?)</p>\s*(?P<code>.*)</details>', re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WIDGET = "application/vnd.jupyter.widget-view+json"
# TeX that a sidebar entry shows as text (a heading's math, typeset on the page itself).
_TEX_WORDS = {r"\sigma": "σ", r"\mu": "μ", r"\epsilon": "ε", r"\varepsilon": "ε", r"\gamma": "γ", r"\beta": "β",
              r"\alpha": "α", r"\lambda": "λ", r"\sum": "Σ", r"\sqrt": "√", r"\cdot": "·", r"\times": "×",
              r"\approx": "≈", r"\le": "≤", r"\ge": "≥", r"\neq": "≠", r"\infty": "∞", r"\pm": "±",
              r"\log": "log", r"\exp": "exp", r"\to": "→", r"\ldots": "…", r"\dots": "…"}


def github(repo_url: str) -> tuple[str, str]:
    """(owner, name) of a GitHub repository URL (mkdocs.yml's `repo_url`)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url or "")
    if not m:
        raise SiteError(f"mkdocs.yml's repo_url must be https://github.com/OWNER/NAME, not {repo_url!r}")
    return m[1], m[2]


def pages_url(repo_url: str) -> str:
    """Where GitHub Pages publishes the site (.github/workflows/pages.yml)."""
    owner, name = github(repo_url)
    return f"https://{owner.lower()}.github.io/{name}/"


def colab_url(repo_url: str, lesson: Lesson) -> str:
    owner, name = github(repo_url)
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/main/lessons/{lesson.stem}.ipynb"


def tex_to_text(text: str) -> str:
    """A heading's text with its `$math$` as plain characters, for the sidebar (`E[x^2]` -> `E[x²]`)."""
    def plain(m: re.Match) -> str:
        tex = m[1]
        tex = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
        tex = re.sub(r"\\(?:mathrm|text|mathbf|operatorname|hat|bar|mathit)\{([^{}]*)\}", r"\1", tex)
        tex = re.sub(r"\\(?:left|right)\b", "", tex)
        tex = re.sub(r"\\[A-Za-z]+", lambda w: _TEX_WORDS.get(w[0], w[0][1:]), tex)
        tex = re.sub(r"\^\{?2\}?", "²", re.sub(r"\^\{?3\}?", "³", tex))
        tex = re.sub(r"[_^]\{([^{}]*)\}", r"\1", tex)
        return re.sub(r"[{}\\]", "", tex).replace("_", "").replace("^", "")
    return re.sub(r"(?<!\\)\$\$?(.+?)\$?\$", plain, text)


def executed_notebook_path(lesson: Lesson) -> Path | None:
    """The lesson's executed notebook when it is current (executed since its last change), else None."""
    out = lesson_runner.executed_path(lesson.path)
    stamp = out.with_suffix(".sha256")
    if out.exists() and stamp.exists() and stamp.read_text() == lesson_runner.digest(lesson.path):
        return out
    return None


def executed_notebook(lesson: Lesson):
    """The lesson's executed notebook (see `executed_notebook_path`), read, or None."""
    import nbformat
    path = executed_notebook_path(lesson)
    return None if path is None else nbformat.read(path, as_version=4)


def minutes(lesson: Lesson) -> int:
    """A time to read a lesson and run its cells: 150 words of prose and 10 lines of code a minute."""
    words = sum(len(c.source.split()) for c in lesson.cells if c.cell_type == "markdown")
    lines = sum(len(c.source.splitlines()) for c in lesson.cells if c.cell_type == "code")
    return max(5, 5 * round((words / 150 + lines / 10) / 5))


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _markdown_cell(source: str, lesson: Lesson, exercise_pages: dict[str, str], seen: set[str]) -> str:
    """A lesson's markdown as the site renders it: headings with math get a TeX-free sidebar label,
    "Exercise `NN-id`" links to the exercise (the first mention carries the anchor `ex-NN-id` the
    exercise links back to), folded answers become the theme's collapsible blocks."""
    def heading(m: re.Match) -> str:
        if "$" not in m["text"]:
            return m[0]
        return f'{m["hashes"]} {m["text"]} {{ data-toc-label="{html.escape(tex_to_text(m["text"]))}" }}'

    def mention(m: re.Match) -> str:
        if m["id"] not in exercise_pages:
            log.warning(f"course: lessons/{lesson.path.name} mentions {m[0]}, which no solutions/ region defines")
            return m[0]
        anchor = "" if m["id"] in seen else f"{{ #ex-{m['id']} }}"
        seen.add(m["id"])
        return f"[{m[0]}]({get_relative_url(exercise_pages[m['id']], lesson.page)}#{m['id']}){anchor}"

    def answer(m: re.Match) -> str:
        pad = "    " if m["indent"] else ""
        title = _plain(m["summary"]).strip().replace('"', "'") or "Answer"
        return f'{pad}??? success "{title}"\n\n' + indent(textwrap.dedent(m["body"]).strip("\n"), pad + "    ")

    source = _HEADING.sub(heading, source)
    source = MENTION.sub(mention, source)
    return _ANSWER.sub(answer, source)


def _is_setup(source: str) -> bool:
    """A cell of imports only: kept out of search (its previews would be lists of imports)."""
    code = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(code) and all(re.match(r"(import|from)\s", line) for line in code)


def _text_block(text: str) -> str:
    """A text output as an output block (no copy button), or nothing when it is blank."""
    text = _ANSI.sub("", text).rstrip()
    return fence(text, " { .text .nb-output .no-copy }") if text.strip() else ""


def _outputs(cell, lesson: Lesson, exercise_pages: dict[str, str], figures: dict[str, bytes]) -> list[str]:
    """A code cell's outputs as markdown: text as output blocks, plots as image files (`figures`,
    name -> bytes, written next to the page), course.show's folded code as a collapsible block."""
    blocks, stream = [], []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            stream.append(out.text)
            continue
        if stream:
            blocks.append(_text_block("".join(stream)))
            stream = []
        if out.output_type == "error":
            blocks.append(_text_block("\n".join(out.traceback)))
            continue
        data = out.get("data", {})
        if WIDGET in data:
            blocks.append('!!! note "An interactive widget"\n\n    It works when you run the notebook in Jupyter; '
                          "a web page cannot run it.")
        elif (kind := next((k for k in ("png", "jpeg", "svg+xml") if f"image/{k}" in data), None)):
            raw = data[f"image/{kind}"]
            content = raw.encode() if kind == "svg+xml" else base64.b64decode(raw)
            name = f"fig-{hashlib.sha256(content).hexdigest()[:12]}.{kind.removesuffix('+xml')}"
            figures[name] = content
            blocks.append(f"![Figure made by the code above]({lesson.stem}/{name})")
        elif "text/html" in data and (m := _FOLDED.search(data["text/html"])):
            ids = re.findall(r"<code>(.*?)</code>", m["summary"])
            links = ", ".join(f"[`{i}`]({get_relative_url(exercise_pages[i], lesson.page)}#{i})"
                              if i in exercise_pages else f"`{i}`" for i in ids)
            code = _plain(m["code"])
            blocks.append(f'??? example "Show our version (try it yourself first)"\n\n'
                          f"    Exercise {links}. From {_plain(m['where'])}:\n\n" + indent(fence(code)))
        elif "text/markdown" in data:
            blocks.append(data["text/markdown"].strip())
        elif "text/html" in data:
            blocks.append(f'<div class="nb-html" markdown="0">\n{data["text/html"].strip()}\n</div>')
        elif "text/plain" in data:
            blocks.append(_text_block(data["text/plain"]))
    if stream:
        blocks.append(_text_block("".join(stream)))
    return [b for b in blocks if b]


def toc_problems(toc) -> list[str]:
    """Sidebar entries that would show raw TeX, or that link to no heading."""
    problems = []
    for item in toc:
        if re.search(r"\\[(\[a-zA-Z]|\$", item.title):
            problems.append(f"the sidebar entry {item.title!r} shows raw TeX: give the heading a data-toc-label")
        if not item.url.startswith("#") or len(item.url) < 2:
            problems.append(f"the sidebar entry {item.title!r} links to {item.url!r}, not to a heading")
        problems += toc_problems(item.children)
    return problems


def lesson_markdown(lesson: Lesson, nb, repo_url: str, exercise_pages: dict[str, str],
                    figures: dict[str, bytes]) -> str:
    """A lesson's page: its cells with their outputs (`nb`, its executed notebook; None while it has not
    been executed: the page shows the cells and says so), under a header of links."""
    executed = nb is not None
    cells = (nb or lesson_runner.notebook(lesson.path)).cells
    seen: set[str] = set()
    body, first_code = [], True
    for cell in cells:
        if cell.cell_type == "markdown":
            body.append(_markdown_cell(cell.source, lesson, exercise_pages, seen))
        elif cell.cell_type == "code" and cell.source.strip():
            code = fence(cell.source)
            if first_code or _is_setup(cell.source):
                code = f'<div class="nb-setup" data-search-exclude="1" markdown>\n\n{code}\n\n</div>'
            first_code = False
            body += [code] + _outputs(cell, lesson, exercise_pages, figures)
    links = [f"[Open in Colab]({colab_url(repo_url, lesson)}){{ .md-button .md-button--primary }}",
             f"[Download the notebook]({lesson.stem}/{lesson.stem}.ipynb){{ .md-button download }}"]
    if lesson.solutions:
        links += [f"[Exercises]({get_relative_url(lesson.exercises_page, lesson.page)}){{ .md-button }}",
                  f"[Solutions]({get_relative_url(lesson.solutions_page, lesson.page)}){{ .md-button }}"]
    header = [" ".join(links) + "\n{ .lesson-links data-search-exclude }", "",
              f"*Follows [{LECTURE[0]}]({LECTURE[1]}) · about {minutes(lesson)} minutes to read and run*"
              "\n{ .lesson-meta data-search-exclude }"]
    if not executed:
        header += ["", '!!! warning "Not executed yet: no outputs on this page"', "",
                   indent("This lesson has changed since it was last executed, or never was. `make serve` "
                          "executes the lessons one after another and this page fills in by itself when this one "
                          "is done (`make site` executes every lesson before it builds).")]
    text = "\n\n".join(body).lstrip()
    if text.startswith("# "):  # the lesson's title: the header goes under it
        head = _HEADING.sub(lambda m: m[0] + "\n\n" + "\n".join(header), text, count=1)
    else:
        head = f"# {lesson.label}\n\n" + "\n".join(header) + "\n\n" + text
    return f"---\ntitle: {json.dumps(lesson.label)}\n---\n\n{head}\n"


# ------------------------------------------------------------------------------ CLI

def _mkdocs_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """The mkdocs CLI on mkdocs.yml: its argv and environment."""
    argv = [sys.executable, "-m", "mkdocs", *args, "--config-file", str(CONFIG)]
    return argv, {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner about MkDocs 2, on every run


def _mkdocs(*args: str) -> int:
    """Run the mkdocs CLI on mkdocs.yml."""
    argv, env = _mkdocs_command(*args)
    return subprocess.call(argv, cwd=ROOT, env=env)


def build() -> int:
    """`mkdocs build --strict` into build/site (the hooks execute changed lessons first)."""
    start = time.perf_counter()
    code = _mkdocs("build", "--strict")
    if code == 0:
        print(f"site built in {time.perf_counter() - start:.1f} s: {SITE.relative_to(ROOT)}/index.html")
    return code


def serve(addr: str = SERVE_ADDR, progress_every: float = 15, execute: bool = True) -> int:
    """Serve the site on http://ADDR as soon as it is built, then execute the lessons beside the server.

    The first build executes nothing (`COURSE_SITE_EXECUTE=0`): a lesson not executed yet has a page
    without outputs that says so. Once the server answers (its address is printed then, never before;
    until then a line every `progress_every` seconds), the lessons that need it are executed one at a
    time, each named as it starts; each one that finishes rebuilds its page, and the browser reloads
    it. An edited lesson is executed again the same way. `execute=False`: serve only.
    """
    print(f"Building the site before serving it on http://{addr}/ (lessons not executed yet show without "
          "outputs, then fill in) ...", flush=True)
    lesson_runner.EXECUTED.mkdir(parents=True, exist_ok=True)
    argv, env = _mkdocs_command("serve", "--strict", "--dev-addr", addr)
    proc = subprocess.Popen(argv, cwd=ROOT, env={**env, "COURSE_SITE_EXECUTE": "0"})
    start = told = time.perf_counter()
    up, runner = False, None
    state = {"failed": {}, "complete": False}  # failed: lesson path -> the digest it failed at
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.terminate())  # stop mkdocs with us
    try:
        while proc.poll() is None:
            now = time.perf_counter()
            if not up and _answers(addr):
                up = True
                print(f"Serving the course on http://{addr}/ after {now - start:.0f} s (Ctrl-C to stop); "
                      "edits rebuild the page.", flush=True)
            elif not up and now - told >= progress_every:
                told = now
                print(f"  ... still building ({now - start:.0f} s)", flush=True)
            if up and execute:
                runner = _execute_next(runner, state, start)
            time.sleep(0.5)
        return proc.returncode
    except KeyboardInterrupt:  # Ctrl-C reached mkdocs too (the same process group): let it finish
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in (runner and runner[0], proc):
            if child is not None and child.poll() is None:
                child.terminate()
                child.wait()


def _lesson_run_argv(lesson: Path) -> list[str]:
    return [sys.executable, "-m", "course.lessons", "run", lesson.name[:2]]


def _execute_next(runner, state: dict, start: float):
    """One step of `serve`'s lesson executor: report the lesson that finished, start the next stale one.
    `runner` is (process, lesson path, log file, start time) or None; returns the new one."""
    if runner is not None:
        child, path, out, began = runner
        if child.poll() is None:
            return runner
        out.seek(0)
        said = out.read()
        out.close()
        if child.returncode:
            state["failed"][path] = lesson_runner.digest(path)
            print(f"lessons/{path.name} failed; its page stays without outputs until you fix it:\n{said}", flush=True)
        else:
            print(f"lessons/{path.name} executed in {time.perf_counter() - began:.0f} s; its page is complete.",
                  flush=True)
        runner = None
    todo = [p for p in lesson_runner.all_lessons()
            if executed_notebook_path(Lesson(p)) is None and state["failed"].get(p) != lesson_runner.digest(p)]
    if not todo:
        if not state["complete"] and not state["failed"]:
            print(f"Every lesson page is complete ({time.perf_counter() - start:.0f} s after `serve` started).",
                  flush=True)
        state["complete"] = True
        return None
    state["complete"] = False
    path = todo[0]
    print(f"Executing lessons/{path.name} ({len(todo)} lesson(s) to execute) ...", flush=True)
    out = tempfile.TemporaryFile(mode="w+")
    child = subprocess.Popen(_lesson_run_argv(path), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    return child, path, out, time.perf_counter()


def _answers(addr: str) -> bool:
    """Whether an HTTP server answers at http://ADDR/ (any status: it is up)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{addr}/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.site", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="execute changed lessons and build build/site (strict)")
    p_serve = sub.add_parser("serve", help="build and serve the site, rebuilding on edits")
    p_serve.add_argument("--addr", default=SERVE_ADDR, help=f"host:port (default {SERVE_ADDR})")
    args = parser.parse_args(argv)
    return build() if args.cmd == "build" else serve(args.addr)


if __name__ == "__main__":
    sys.exit(main())
