"""The course site: the pages of docs/ plus, for every lesson `lessons/NN_slug.py`, pages made from it.

    python -m course.site build    # `mkdocs build --strict` into build/site, executing changed lessons first
    python -m course.site serve    # `mkdocs serve`: pages at once, lessons executed beside the server

Per lesson: its page (the executed notebook, `course.lessons.run`, as markdown: MkDocs then renders its
headings, math, search and folded blocks), the notebook to download, and when it has exercises an
exercises page (the stubs of solutions/lNN_*.py, with the points and hints `course.grade.collect`
finds) and a solutions page. course/site_hooks.py (mkdocs.yml `hooks:`) calls what is below, so a
plain `mkdocs build` or `mkdocs serve` builds the same site.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import html
import json
import logging
import os
import re
import shutil
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
from course import lessons as runner
from course.paths import ROOT, SOLUTIONS
from course.show import BEGIN, END
from course.stubs import Region, find_regions, make_stub
from course.stubs import functions as all_functions

MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"
# The parts of MathJax the site serves: the TeX-to-HTML bundle and what it loads on demand.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "sre")
CHALLENGES = {"03": ["beat-98"], "04": ["one-epoch", "tiny-batch"]}  # set in these lessons (docs/challenges.md)
# Placeholders: mkdocs.yml's `nav:` for the lessons' section; markers in docs/*.md for what the hooks fill in.
NAV_LESSONS = "GENERATED-BY-COURSE-SITE-HOOKS"
LESSON_MAP_MARKER, DEPENDENCIES_MARKER = "<!-- lesson-map -->", "<!-- lesson-dependencies -->"
PAGES_URL_MARKER, LECTURE_MARKER = "PUBLISHED-SITE-URL", "<!-- lecture -->"
LECTURE = ("lesson 10 of fast.ai's *Deep Learning from the Foundations* (Practical Deep Learning for Coders "
           "2019, part 2)", "https://course19.fast.ai/videos/?lesson=10")
# "Exercise `NN-id`" in a lesson's prose, possibly wrapped after "Exercise".
MENTION = re.compile(r"\b[Ee]xercise(?:[ \t]+|[ \t]*\n[ \t]*)`(?P<id>\d\d-[\w-]+)`")
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.+?)[ \t]*#*[ \t]*$", re.M)
# A folded answer of a lesson's self-check questions.
ANSWER = re.compile(r"^(?P<indent>[ \t]*)<details>\s*<summary>(?P<summary>.*?)</summary>[ \t]*\n"
                    r"(?P<body>.*?)^[ \t]*</details>[ \t]*$", re.M | re.S)
# course.show's folded "Show our version" output.
FOLDED = re.compile(r'<details class="course-solution"><summary>(?P<summary>.*?)</summary>\s*'
                    r'<p class="course-source">(?P<where>.*?)</p>\s*(?P<code>.*)</details>', re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WIDGET = "application/vnd.jupyter.widget-view+json"
GREEK = {"mu": "μ", "sigma": "σ", "epsilon": "ε", "gamma": "γ", "beta": "β", "cdot": "·", "sum": "Σ"}

log = logging.getLogger("mkdocs.course.site")
# Under `make serve`: the lesson being executed, since when, and the stale lessons after it.
executing: dict = {"path": None, "since": "", "waiting": []}
EXECUTING = runner.EXECUTED / "executing.txt"


class SiteError(RuntimeError):
    """The site cannot be built; the message says why and what to do."""


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
    def name(self) -> str:
        """What the learner writes, as code (a dunder's underscores are not bold)."""
        names = [f"`{n}`" for n in self.functions]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)


@dataclass
class Lesson:
    path: Path  # lessons/NN_slug.py
    tests: list[grade.Collected] = field(default_factory=list)  # its graded tests

    def __post_init__(self):
        self.number, self.stem = self.path.name[:2], self.path.stem
        self.page = f"lessons/{self.stem}.md"
        self.exercises_page = f"lessons/{self.stem}/exercises.md"
        self.solutions_page = f"lessons/{self.stem}/solutions.md"
        self.solutions = sorted((ROOT / "solutions").glob(f"l{self.number}_*.py"))

    @cached_property
    def cells(self) -> list:
        return runner.notebook(self.path).cells

    def markdown(self) -> str:
        return "\n\n".join(c.source for c in self.cells if c.cell_type == "markdown")

    @cached_property
    def title(self) -> str:
        """Its first heading, "# Lesson NN - Title", without "Lesson NN -" (the navigation shows the number)."""
        return re.sub(r"^lesson\s*\d+\s*[-:.\u2013\u2014]*\s*|[`*]", "", HEADING.search(self.markdown())["text"],
                      flags=re.I)

    @property
    def label(self) -> str:
        return f"Lesson {self.number}: {self.title}"

    @property
    def concepts(self) -> list[str]:
        return [re.sub(r"^\d+[.)]\s*", "", m["text"]) for m in HEADING.finditer(self.markdown()) if m["hashes"] == "##"]

    @cached_property
    def mentions(self) -> dict[str, str]:
        """Exercise id -> the section (its heading as plain text) that first mentions it."""
        found, section = {}, self.title
        for m in re.finditer(f"{HEADING.pattern}|{MENTION.pattern}", self.markdown(), re.M):
            if m["text"]:
                section = tex_to_text(re.sub(r"[`*]", "", m["text"]))
            else:
                found.setdefault(m["id"], section)
        return found

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

    @property
    def minutes(self) -> int:
        """A time to read it and run its cells: 150 words of prose and 10 lines of code a minute."""
        lines = sum(len(c.source.splitlines()) for c in self.cells if c.cell_type == "code")
        return max(5, 5 * round((len(self.markdown().split()) / 150 + lines / 10) / 5))


_collected: dict[tuple, list] = {}


def all_lessons() -> list[Lesson]:
    """Every lesson in lessons/ with its graded tests (what `make grade` scores). The tests are collected
    again only when a graded test or a solution changed: each `make serve` rebuild would pay seconds."""
    files = [ROOT / "conftest.py", *sorted((ROOT / "tests" / "graded").glob("*.py")), *sorted(SOLUTIONS.glob("*.py"))]
    key = tuple((f.name, f.stat().st_mtime_ns) for f in files)
    if key not in _collected:
        try:
            _collected.clear()
            _collected[key] = grade.collect(ROOT)
        except grade.GradeError as e:
            raise SiteError(f"the graded tests cannot be collected: {e}") from None
    return [Lesson(p, [t for t in _collected[key] if t.lesson == p.name[:2]]) for p in runner.all_lessons()]


def fence(code: str, lang: str = "python", **attrs) -> str:
    """A fenced code block that survives backticks in `code`."""
    ticks = "`" * max(3, 1 + max(map(len, re.findall(r"`+", code)), default=0))
    return ticks + lang + "".join(f' {k}="{v}"' for k, v in attrs.items() if v) + f"\n{code.rstrip()}\n{ticks}"


def indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text, prefix)


def plural(count: float, noun: str) -> str:
    return f"{count:g} {noun}{'s' if count != 1 else ''}"


def code_blocks(source: str, functions: list[str], regions: list[Region] = ()) -> list[tuple[str, int, str, str]]:
    """(name, first line, code, lines to highlight) of each of `functions` in `source`, methods under
    their class's header and docstring; solution markers dropped, the lines of `regions` highlighted."""
    lines, tree = source.splitlines(), ast.parse(source)
    nodes, classes = dict(all_functions(tree)), {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}

    def span(node) -> list[int]:
        return list(range(min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]),
                          node.end_lineno + 1))
    groups: dict[str, list[str]] = {}  # a class, or the function itself -> its functions
    for name in functions:
        groups.setdefault(c if (c := name.rpartition(".")[0]) in classes else name, []).append(name)
    marked = {n for r in regions for n in range(r.start + 1, r.end)}
    blocks = []
    for owner, names in groups.items():
        numbers = span(nodes.get(owner) or classes[owner])
        if owner in classes:  # the class's header and docstring, then each method after a blank line
            first = classes[owner].body[0]
            end = first.end_lineno + 1 if ast.get_docstring(classes[owner]) else span(first)[0]
            numbers = [n for n in numbers if n < end] + [n for name in names for n in [None, *span(nodes[name])]]
        numbers = [n for n in numbers if n is None or not (BEGIN.match(lines[n - 1]) or END.match(lines[n - 1]))]
        code = textwrap.dedent("\n".join("" if n is None else lines[n - 1] for n in numbers))
        blocks.append((owner, numbers[0], code, " ".join(str(i) for i, n in enumerate(numbers, 1) if n in marked)))
    return blocks


def exercises_markdown(lesson: Lesson) -> str:
    n, exercises = lesson.number, lesson.exercises
    files = " and ".join(f"`exercises/{m.name}`" for m in lesson.solutions)
    out = ["---", f"title: Exercises for lesson {n}", "---", "", f"# Exercises · lesson {n}", "",
           f"**{lesson.title}**: the [lesson](../{lesson.stem}.md) shows each piece at work; here you write them. "
           f"Your answers go in {files}: replace each `raise NotImplementedError(...)` with your code, then run",
           "", fence(f"make grade LESSON={n}", "bash"), "",
           "The grader prints the points of each exercise, with the first failure and a hint ([how grading "
           "works](../../grading.md)). Stuck? Open the hint, then compare with the [reference solution]"
           "(solutions.md) (spoilers!).", "", "| Exercise | What you implement | Points |", "| --- | --- | ---: |"]
    out += [f"| [{e.id}](#{e.id}){{ .exercise-id }} | {e.name} | {e.points:g} |" for e in exercises]
    out += [f"| **Total** | {len(exercises)} exercises | **{sum(e.points for e in exercises):g}** |", ""]
    stubs = {m: make_stub(m.read_text(), m.name) for m in lesson.solutions}  # = exercises/lNN_*.py
    for e in exercises:
        tests = [f"`{name}`" + (f" ({k} cases)" if k > 1 else "")
                 for name, k in Counter(t.function for t in e.tests).items()]
        taught = (f"taught in [{lesson.mentions[e.id]}](../{lesson.stem}.md#ex-{e.id})" if e.id in lesson.mentions
                  else f"from [the lesson](../{lesson.stem}.md)")
        out += [f"## {e.id}: {e.name} {{ #{e.id} }}", "", f"**{plural(e.points, 'point')}** · "
                f"{plural(len(tests), 'test')}: {', '.join(tests) or 'none yet'} · {taught}", ""]
        out += [fence(code, title=f"exercises/{e.module.name}, line {line}: {name}") + "\n"
                for name, line, code, _ in code_blocks(stubs[e.module], e.functions)]
        out += ['??? tip "Hint"\n\n' + indent(hint) + "\n" for hint in dict.fromkeys(t.hint for t in e.tests if t.hint)]
        out += [f"[Reference solution for {e.id}](solutions.md#{e.id}){{ .spoiler-link }}", ""]
    return "\n".join(out)


def solutions_markdown(lesson: Lesson) -> str:
    n = lesson.number
    out = ["---", f"title: Solutions for lesson {n}", "search:", "  exclude: true", "---", "",
           f"# Solutions · lesson {n}", "", '!!! danger "Spoilers"', "",
           indent(f"The reference answers to the [exercises of lesson {n}](exercises.md), read from `solutions/` "
                  "(what the lessons import and the graded tests pass on). You learn more from a failing test and "
                  "a hint, so try first. The highlighted lines are the part you write."), ""]
    for e in lesson.exercises:
        back = f"#ex-{e.id}" if e.id in lesson.mentions else ""
        out += [f"## {e.id}: {e.name} {{ #{e.id} }}", "", f"[Back to the exercise](exercises.md#{e.id}) · "
                f"[the lesson](../{lesson.stem}.md{back})", "", f'??? success "Show the solution to {e.id}"', ""]
        out += [indent(fence(code, title=f"solutions/{e.module.name}, line {line}: {name}", hl_lines=hl)) + "\n"
                for name, line, code, hl in code_blocks(e.module.read_text(), e.functions, e.regions)]
    for module in lesson.solutions:
        marked = [str(n) for r in find_regions(module.read_text(), module.name) for n in range(r.start + 1, r.end)]
        out += [f"## The whole file: `solutions/{module.name}`", "", f'??? abstract "Show solutions/{module.name}"',
                "", indent(fence(module.read_text(), title=f"solutions/{module.name}", linenums="1",
                                 hl_lines=" ".join(marked))), ""]
    return "\n".join(out)


def lesson_map_markdown(lessons: list[Lesson], to_root: str = "") -> str:
    """The home page's table: lesson -> concepts -> exercises -> challenge."""
    rows = ["| Lesson | What you learn | Time | Exercises | Challenge |", "| --- | --- | --- | --- | --- |"]
    for lesson in lessons:
        ex = (f"[{plural(len(lesson.exercises), 'exercise')}, {sum(e.points for e in lesson.exercises):g} points]"
              f"({to_root}{lesson.exercises_page})" if lesson.exercises else "-")
        challenges = ", ".join(f"[{c}]({to_root}challenges.md#{c})" for c in CHALLENGES.get(lesson.number, []))
        rows.append(f"| [{lesson.label}]({to_root}{lesson.page}) | {' · '.join(lesson.concepts) or '-'} | "
                    f"~{lesson.minutes} min | {ex} | {challenges or '-'} |")
    return "\n".join(rows)


def nav(configured: list, lessons: list[Lesson]) -> list:
    """mkdocs.yml's `nav:` with its NAV_LESSONS entry replaced by one section per lesson."""
    at = [i for i, item in enumerate(configured or []) if isinstance(item, dict) and NAV_LESSONS in item.values()]
    if len(at) != 1:
        raise SiteError(f"mkdocs.yml's `nav:` must hold exactly one `- Lessons: {NAV_LESSONS}` entry")
    sections = [{f"{lesson.number} · {lesson.title}": [{"Lesson": lesson.page}] + (
        [{"Exercises": lesson.exercises_page}, {"Solutions": lesson.solutions_page}] if lesson.solutions else [])}
        for lesson in lessons]
    (title,) = configured[at[0]]
    return configured[:at[0]] + ([{title: sections}] if sections else []) + configured[at[0] + 1:]


def executed_notebook(lesson: Lesson):
    """The lesson's executed notebook when it is current, else None."""
    import nbformat
    out = runner.executed_path(lesson.path)
    return nbformat.read(out, as_version=4) if runner.cached(out, runner.digest(lesson.path)) else None


def error_path(path: Path) -> Path:
    """Where `make serve` notes why a lesson failed: its digest, then the error."""
    return runner.executed_path(path).with_suffix(".error")


def execute(paths: list[Path], failed: dict | None = None) -> None:
    """Execute the lessons whose executed notebook is not current, naming each in the log.

    A failure stops the build (SiteError); under `make serve` (`failed` given: path -> digest) it is
    noted beside the notebook for the page to show, and the lesson waits for an edit."""
    def stale(path: Path) -> str | None:
        """The lesson's digest if it needs executing."""
        key = runner.digest(path)
        stale = not runner.cached(runner.executed_path(path), key) and (failed is None or failed.get(path) != key)
        return key if stale else None
    todo = [path for path in paths if stale(path)]
    for i, path in enumerate(todo):
        if not (key := stale(path)):  # executed meanwhile (`make lessons` in another terminal)
            continue
        log.info(f"course: executing lessons/{path.name} ...")
        start = time.perf_counter()
        if failed is not None:  # the pages' banners name it; the marker file makes `mkdocs serve` rebuild them
            executing.update(path=path, since=time.strftime("%H:%M:%S"), waiting=todo[i + 1:])
            EXECUTING.write_text(f"{path.name}\n")
        try:
            runner.run(path)
        except runner.LessonError as e:
            if failed is None:
                raise SiteError(f"{e}\n(run `python -m course.lessons run {path.name[:2]}` to reproduce)") from None
            failed[path] = key
            error_path(path).write_text(f"{key}\n{e}")
            log.error(f"course: lessons/{path.name} failed; its page says why:\n{e}")
            continue
        finally:
            executing.update(path=None, waiting=[])
        log.info(f"course: lessons/{path.name} executed in {time.perf_counter() - start:.0f} s")


def serve_executor(watching=lambda: True) -> None:
    """`mkdocs serve`'s lesson executor (a thread): executes each lesson once the site is up and again
    after each edit; mkdocs watches build/executed, so a finished lesson's page fills in. It starts
    once `watching()` is true: a file written before mkdocs's watcher starts would not rebuild a page."""
    while not watching():
        time.sleep(0.1)
    failed: dict[Path, str] = {}
    while True:
        execute(runner.all_lessons(), failed)
        time.sleep(2)


def ensure_mathjax() -> None:
    """Install MathJax with `npm ci` (package-lock.json) when it is missing: a missing npm stops the build."""
    if (MATHJAX / "tex-chtml.js").exists():
        return
    if not (npm := shutil.which("npm")):
        raise SiteError("MathJax is not installed and npm is missing: install Node.js 20+ (it brings npm), "
                        "then run `npm ci` in the repository (or `make site` again)")
    log.info("course: installing MathJax with `npm ci`")
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode or not (MATHJAX / "tex-chtml.js").exists():
        raise SiteError(f"`npm ci` failed (is the npm registry reachable?):\n{proc.stdout}{proc.stderr}")


def mathjax_files() -> list[tuple[str, Path]]:
    """(path in the site, file) for every MathJax file the site serves."""
    files = [f for part in MATHJAX_PARTS for f in sorted([MATHJAX / part, *(MATHJAX / part).rglob("*")])]
    return [(f"assets/mathjax/{f.relative_to(MATHJAX).as_posix()}", f) for f in files if f.is_file()]


def github(repo_url: str) -> tuple[str, str]:
    """(owner, name) of mkdocs.yml's `repo_url`."""
    if not (m := re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url or "")):
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
    """`text` with its `$math$` as plain characters, for a sidebar label (`$E[x^2]$` -> `E[x²]`)."""
    def plain(m: re.Match) -> str:
        tex = re.sub(r"\\(left|right)\b|\\(mathrm|text|operatorname)(?=\{)", "", m[1]).replace("^2", "²")
        return re.sub(r"[{}_^]", "", re.sub(r"\\([A-Za-z]+)", lambda w: GREEK.get(w[1], w[1]), tex))
    return re.sub(r"(?<!\\)\$\$?(.+?)\$?\$", plain, text)


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _markdown_cell(source: str, lesson: Lesson, exercise_pages: dict[str, str], seen: set[str]) -> str:
    """A lesson's markdown as the site renders it: a heading with math gets a TeX-free sidebar label;
    "Exercise `NN-id`" links to the exercise (the first mention carries the anchor `ex-NN-id` the
    exercise links back to); folded answers become the theme's collapsible blocks."""
    def heading(m: re.Match) -> str:
        label = f' {{ data-toc-label="{html.escape(tex_to_text(m["text"]))}" }}' if "$" in m["text"] else ""
        return m[0] + label

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
    return ANSWER.sub(answer, MENTION.sub(mention, HEADING.sub(heading, source)))


def _text_block(text: str) -> str:
    """A text output as an output block (no copy button), or nothing when it is blank."""
    text = ANSI.sub("", text).rstrip()
    return fence(text, " { .text .nb-output .no-copy }") if text.strip() else ""


def _output(out, lesson: Lesson, exercise_pages: dict[str, str], figures: dict[str, bytes]) -> str:
    """One output as markdown: text as an output block, a plot as an image file (into `figures`),
    course.show's folded code as a collapsible block."""
    if out.output_type in ("stream", "error"):
        return _text_block(out.text if out.output_type == "stream" else "\n".join(out.traceback))
    data = out.get("data", {})
    if WIDGET in data:
        return '!!! note "An interactive widget"\n\n    It works when you run the notebook in Jupyter.'
    if kind := next((k for k in ("png", "jpeg", "svg+xml") if f"image/{k}" in data), None):
        raw = data[f"image/{kind}"]
        content = raw.encode() if kind == "svg+xml" else base64.b64decode(raw)
        name = f"fig-{hashlib.sha256(content).hexdigest()[:12]}.{kind.removesuffix('+xml')}"
        figures[name] = content
        width = out.get("metadata", {}).get(f"image/{kind}", {}).get("width")  # stored at twice that (retina)
        return f"![Figure made by the code above]({lesson.stem}/{name})" + (f'{{ width="{width}" }}' if width else "")
    if "text/html" in data and (m := FOLDED.search(data["text/html"])):
        links = ", ".join(f"[`{i}`]({get_relative_url(exercise_pages[i], lesson.page)}#{i})" if i in exercise_pages
                          else f"`{i}`" for i in re.findall(r"<code>(.*?)</code>", m["summary"]))
        return (f'??? example "Show our version (try it yourself first)"\n\n    Exercise {links}. '
                f"From {_plain(m['where'])}:\n\n" + indent(fence(_plain(m["code"]))))
    if "text/markdown" in data:
        return data["text/markdown"].strip()
    if "text/html" in data:
        return f'<div class="nb-html" markdown="0">\n{data["text/html"].strip()}\n</div>'
    return _text_block(data.get("text/plain", ""))


def _is_setup(source: str) -> bool:
    """A cell of imports only: kept out of search (its previews would be lists of imports)."""
    code = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(code) and all(re.match(r"(import|from)\s", line) for line in code)


def failure(lesson: Lesson) -> str | None:
    """Why the lesson's last execution under `make serve` failed, if it failed as it is now."""
    path = error_path(lesson.path)
    key, _, error = path.read_text().partition("\n") if path.exists() else ("", "", "")
    return error if key == runner.digest(lesson.path) else None


def lesson_markdown(lesson: Lesson, nb, repo_url: str, exercise_pages: dict[str, str],
                    figures: dict[str, bytes]) -> str:
    """A lesson's page: its cells with their outputs (`nb`, its executed notebook; None while it has not
    been executed: the page says so, or why its execution failed), under a header of links."""
    seen: set[str] = set()
    body, first_code = [], True
    for cell in (nb or runner.notebook(lesson.path)).cells:
        if cell.cell_type == "markdown":
            body.append(_markdown_cell(cell.source, lesson, exercise_pages, seen))
        elif cell.cell_type == "code" and cell.source.strip():
            code = fence(cell.source)
            if first_code or _is_setup(cell.source):
                code = f'<div class="nb-setup" data-search-exclude="1" markdown>\n\n{code}\n\n</div>'
            first_code = False
            body += [code] + [_output(out, lesson, exercise_pages, figures) for out in cell.get("outputs", [])]
    links = [f"[Open in Colab]({colab_url(repo_url, lesson)}){{ .md-button .md-button--primary }}",
             f"[Download the notebook]({lesson.stem}/{lesson.stem}.ipynb){{ .md-button download }}"]
    if lesson.solutions:
        links += [f"[Exercises]({get_relative_url(lesson.exercises_page, lesson.page)}){{ .md-button }}",
                  f"[Solutions]({get_relative_url(lesson.solutions_page, lesson.page)}){{ .md-button }}"]
    header = " ".join(links) + "\n{ .lesson-links data-search-exclude }\n\n" + \
        f"*Follows [{LECTURE[0]}]({LECTURE[1]}) · about {lesson.minutes} minutes to read and run*" + \
        "\n{ .lesson-meta data-search-exclude }"
    if nb is None and (error := failure(lesson)):
        header += ('\n\n!!! failure "Execution failed: no outputs on this page"\n\n' + indent(
            f"`make serve` executed this lesson and a cell failed; it runs again when you edit the lesson. "
            f"`python -m course.lessons run {lesson.number}` shows the same error:\n\n{fence(error, 'text')}"))
    elif nb is None:
        header += ('\n\n!!! warning "Not executed yet: no outputs on this page"\n\n' + indent(
            "This lesson has changed since it was last executed, or never was. " + progress(lesson.path) +
            " (`make site` executes every lesson before it builds)."))
    text = "\n\n".join(b for b in body if b).lstrip()
    if text.startswith("# "):  # the lesson's title: the header goes under it
        text = HEADING.sub(lambda m: m[0] + "\n\n" + header, text, count=1)
    else:
        text = f"# {lesson.label}\n\n{header}\n\n{text}"
    return f"---\ntitle: {json.dumps(lesson.label)}\n---\n\n{text}\n"


def progress(path: Path) -> str:
    """Where `make serve`'s executor is, as the page of the lesson at `path` says it."""
    now, waiting = executing["path"], executing["waiting"]
    if now is None or (now != path and path not in waiting):
        return "`make serve` executes the lessons one after another and this page fills in when this one is done."
    if now == path:
        return f"`make serve` is executing it now (since {executing['since']}); this page fills in when it is done."
    ahead = waiting.index(path)
    then = f"{plural(ahead, 'more lesson')}, then " if ahead else ""
    return (f"`make serve` is executing lesson {now.name[:2]} now (since {executing['since']}), then {then}this one; "
            "this page fills in when it is done.")


def toc_problems(toc) -> list[str]:
    """Sidebar entries that would show raw TeX, or that link to no heading (a strict build fails on them)."""
    problems = []
    for item in toc:
        if re.search(r"\\[(\[a-zA-Z]|\$", item.title):
            problems.append(f"the sidebar entry {item.title!r} shows raw TeX: give the heading a data-toc-label")
        if not item.url.startswith("#") or len(item.url) < 2:
            problems.append(f"the sidebar entry {item.title!r} links to {item.url!r}, not to a heading")
        problems += toc_problems(item.children)
    return problems


def main(argv=None) -> int:
    """`build` or `serve`, then any of mkdocs's own options (`serve --dev-addr 127.0.0.1:8001`)."""
    cmd, *options = (sys.argv[1:] if argv is None else argv) or [""]
    if cmd not in ("build", "serve"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    start, env = time.perf_counter(), {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner, every run
    code = subprocess.call([sys.executable, "-m", "mkdocs", cmd, "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                            *options], cwd=ROOT, env=env)
    if code == 0 and cmd == "build":
        print(f"site built in {time.perf_counter() - start:.1f} s: build/site/index.html")
    return code


if __name__ == "__main__":
    sys.exit(main())
