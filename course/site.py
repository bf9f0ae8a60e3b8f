"""The course site: the hand-written pages in docs/ plus pages generated from the course itself.

    python -m course.site build    # execute changed lessons, then `mkdocs build --strict` into build/site
    python -m course.site serve    # build and serve http://127.0.0.1:8000, rebuilding on every edit

Generated for every lesson `lessons/NN_slug.py` (discovered, never listed by hand):

    lessons/NN_slug/             the lesson, executed: build/executed/NN_slug.ipynb (`course.lessons.run`,
                                 cached), rendered by mkdocs-jupyter with `execute: false`
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
import hashlib
import html
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
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
        return f"lessons/{self.stem}.ipynb"

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
            f"**{lesson.title}**: the [lesson](../{lesson.stem}.ipynb) shows each piece at work; here you "
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
        out += [f"## {e.id} {{ #{e.id} }}", "", f"**{_plural(e.points, 'point')}** · {tested}", ""]
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
        out += [f"## {e.id} {{ #{e.id} }}", "", f'??? success "Show the solution to {e.id}"', ""]
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
    rows = ["| Lesson | What you learn | Exercises | Challenge |", "| --- | --- | --- | --- |"]
    for lesson in lessons:
        concepts = " · ".join(lesson.concepts) or "-"
        exercises = lesson.exercises
        ex = (f"[{_plural(len(exercises), 'exercise')}, {sum(e.points for e in exercises):g} points]"
              f"({page_dir}{lesson.exercises_page})" if exercises else "-")
        challenges = ", ".join(f"[{c}]({page_dir}challenges.md#{c})" for c in CHALLENGES.get(lesson.number, [])) or "-"
        rows.append(f"| [{lesson.label}]({page_dir}{lesson.page}) | {concepts} | {ex} | {challenges} |")
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


def execute_lessons(lessons: list[Lesson]) -> dict[str, Path]:
    """Run every lesson through `course.lessons.run` (cached); lesson stem -> executed notebook.

    A lesson that fails, or whose markdown the page cannot render, stops the build (strict)."""
    executed = {}
    for lesson in lessons:
        for problem in lint(lesson):
            log.warning(f"course: {problem}")
        start = time.perf_counter()
        try:
            out, ran = lesson_runner.run(lesson.path)
        except lesson_runner.LessonError as e:
            raise SiteError(f"{e}\n(run `python -m course.lessons run {lesson.number}` to reproduce)") from None
        what = f"executed in {time.perf_counter() - start:.1f} s" if ran else "unchanged, not re-executed"
        log.info(f"course: lessons/{lesson.path.name} {what}")
        executed[lesson.stem] = out
    return executed


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


# ------------------------------------------------------------------------------ notebook pages

# The math delimiters nbconvert leaves in a notebook's markdown (its own MathInlineParser's rules).
_MATH = re.compile(
    r"(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$"
    r"|(?P<env>\\begin\{(?P<name>[a-z]*\*?)\}.*?\\end\{(?P=name)\})"
    r"|(?<![$\\])\$(?P<inline>.+?)(?<![$\\])\$",
    re.S,
)
_TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.S)
_RAW_TAGS = ("pre", "code", "script", "style", "textarea", "svg")


def _math_to_arithmatex(match: re.Match) -> str:
    """nbconvert's `$..$` / `$$..$$` in the shape pymdownx.arithmatex gives markdown pages' math,
    so one MathJax configuration typesets both, and search indexes no raw `$$`."""
    if match["display"] is not None:
        return f'<div class="arithmatex" data-search-exclude>\\[{match["display"]}\\]</div>'
    if match["env"] is not None:
        return f'<div class="arithmatex" data-search-exclude>{match["env"]}</div>'
    return f'<span class="arithmatex">\\({match["inline"]}\\)</span>'


def typeset_notebook_math(content: str) -> str:
    """Wrap the math of a notebook's rendered HTML, outside code, for MathJax."""
    out, raw = [], []  # raw: the open tags whose text is code, not math
    for i, part in enumerate(_TAG.split(content)):
        if i % 2:  # a tag
            m = re.match(r"<(/?)([a-zA-Z0-9]+)", part)
            name = m and m[2].lower()
            if name in _RAW_TAGS and not part.endswith("/>"):
                if not m[1]:
                    raw.append(name)
                elif raw and raw[-1] == name:
                    raw.pop()
        elif not raw and ("$" in part or "\\begin" in part):
            part = _MATH.sub(_math_to_arithmatex, part)
        out.append(part)
    return "".join(out)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def polish_notebook(content: str, site_dir: Path, page_url: str, page_dir: Path, links: dict[str, str]) -> str:
    """Make mkdocs-jupyter's HTML for one lesson light, searchable and at home in the theme.

    - math becomes arithmatex markup (see `typeset_notebook_math`);
    - the notebook's CSS (about 600 kB, inlined into every page) becomes one shared, cached file;
    - base64 plots become PNG files next to the page (lighter pages, cached images);
    - nbconvert's MathJax 2 loader and config (inert, with an empty src) are dropped;
    - heading anchors look like the theme's; the hidden copies of code for the copy buttons are
      kept out of search;
    - a bar of links (download the notebook, exercises, solutions) goes under the title.

    `page_url` is the page's URL relative to the site root, `page_dir` its folder in the built site;
    `links` maps a label to a URL relative to the page.
    """
    content = re.sub(r'<script src="[^"]*">\s*</script>\s*(?=<!-- MathJax configuration -->)', "", content)
    content = re.sub(r'<!-- Load mathjax -->'
                     r'|<!-- MathJax configuration -->\s*<script type="text/x-mathjax-config">.*?</script>'
                     r'|<!-- End of mathjax configuration -->', "", content, flags=re.S)

    style = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
    if (first := style.search(content)):
        css = "\n".join(s.strip() for s in style.findall(content)).encode()
        name = f"notebook-{hashlib.sha256(css).hexdigest()[:12]}.css"
        target = site_dir / "assets" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(css)
        link = f'<link rel="stylesheet" href="{get_relative_url(f"assets/{name}", page_url)}">'
        # the first <style> becomes the link, the others go
        content = content[:first.start()] + link + style.sub("", content[first.start():])

    def image(m: re.Match) -> str:
        data = base64.b64decode(m["data"])
        name = f"fig-{hashlib.sha256(data).hexdigest()[:12]}.{m['ext']}"
        page_dir.mkdir(parents=True, exist_ok=True)
        (page_dir / name).write_bytes(data)
        size = _png_size(data) if m["ext"] == "png" else None
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        return f'<img alt="Figure made by the code above" src="{name}"{dims}'
    content = re.sub(r'<img\s+alt="[^"]*"\s+class="[^"]*"\s+src="data:image/(?P<ext>png|jpeg);base64,(?P<data>[^"]+)"',
                     image, content)

    content = content.replace('<a class="anchor-link"', '<a class="headerlink" title="Permanent link"')
    content = content.replace('class="clipboard-copy-txt"', 'class="clipboard-copy-txt" data-search-exclude')
    content = re.sub(r'<span class="notice" hidden(="")?>', '<span class="notice" hidden data-search-exclude>', content)
    # show_source() output (markdown holding a python block): give it the theme's code blocks, copy button included
    content = re.sub(r'(<div class="highlight"><pre>(?:<span></span>)?)(.*?)(</pre></div>)',
                     r'\1<code>\2</code>\3', content, flags=re.S)
    content = typeset_notebook_math(content)

    bar = " ".join(f'<a class="md-button{" md-button--primary" if i == 0 else ""}" href="{href}"'
                   f'{" download" if href.endswith(".ipynb") else ""}>{html.escape(label)}</a>'
                   for i, (label, href) in enumerate(links.items()))
    bar = f'<p class="lesson-links" data-search-exclude>{bar}</p>'
    content, found = re.subn(r"</h1>", lambda m: m[0] + bar, content, count=1)
    return content if found else bar + content


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


def serve(addr: str = SERVE_ADDR, progress_every: float = 15) -> int:
    """Build and serve on http://ADDR, rebuilding (and re-executing a changed lesson) on every edit.

    The first build executes every lesson (minutes): until the server answers, the build's log and
    a line every `progress_every` seconds say it is still building; the address is printed once it
    answers, never before.
    """
    print(f"Building the site before serving it on http://{addr}/; a first build executes every lesson "
          "(a few minutes) ...", flush=True)
    argv, env = _mkdocs_command("serve", "--strict", "--dev-addr", addr)
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    start = told = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.terminate())  # stop mkdocs with us
    try:
        while proc.poll() is None:
            if told is not None and _answers(addr):
                print(f"Serving the course on http://{addr}/ (Ctrl-C to stop); edits rebuild the page.", flush=True)
                told = None
            elif told is not None and time.perf_counter() - told >= progress_every:
                told = time.perf_counter()
                print(f"  ... still building ({told - start:.0f} s)", flush=True)
            time.sleep(0.5)
        return proc.returncode
    except KeyboardInterrupt:  # Ctrl-C reached mkdocs too (the same process group): let it finish
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


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
