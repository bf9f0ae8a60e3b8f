"""The course site: unit tests of course.site, and the built site (build/site, from `make site`)
read in a real browser, headless Chromium (the tests marked `browser`).

Every page must load without a console error or a request to any host but the local server, show
every image, typeset every formula (lesson pages and hand-written pages alike) and leave no raw
math delimiter in its text, and link only to pages that exist; the navigation must reach every
lesson in lessons/ and search must find each lesson. A screenshot of every page goes to
build/screenshots/ for a person to look at.

The browser tests need Chromium ($CHROMIUM, else `chromium` on the PATH, else /usr/bin/chromium)
and the playwright package. Without them, or without a built site, they are skipped locally and
fail under CI (where $CI is set).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import textwrap
import threading
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urljoin, urlsplit

import pytest

from course import site
from course.lessons import all_lessons, digest, executed_path
from course.paths import ROOT
from course.stubs import find_regions

browser_test = pytest.mark.browser  # applied together with `slow` to each test that drives Chromium

SITE = ROOT / "build" / "site"
DOCS = ROOT / "docs"
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
# A word to search for per lesson, when the lesson uses it; otherwise the longest word of its title.
SEARCH_TERMS = {"00": "DataBunch", "01": "closure", "02": "CancelTrainException", "03": "kaiming",
                "04": "RunningBatchNorm"}
TIMEOUT_MS = 15_000
# The two sizes the site is read at: a laptop, and a phone (touch, as a learner taps it).
SIZES = {"desktop": {"viewport": {"width": 1280, "height": 900}},
         "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
                   "device_scale_factor": 2}}


def unavailable(reason: str):
    """Skip locally; fail under CI, where a missing piece means a broken setup."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


def site_pages() -> list[str]:
    """Every page of the built site, as a path under the server ("" is the home page)."""
    pages = []
    for index in sorted(SITE.rglob("index.html")):
        rel = index.parent.relative_to(SITE).as_posix()
        if not rel.startswith("assets"):
            pages.append("" if rel == "." else rel + "/")
    return pages


def lesson_stems() -> list[str]:
    return [p.stem for p in all_lessons()]


def shot_name(page: str) -> str:
    return (page.strip("/").replace("/", "-") or "index") + ".png"


def markdown_pages_with_math() -> set[str]:
    """The hand-written pages (docs/*.md) whose text, outside code, holds math: their site paths."""
    found = set()
    for md in DOCS.rglob("*.md"):
        text = re.sub(r"^(\s*)(`{3,}|~{3,}).*?^\1\2", "", md.read_text(), flags=re.S | re.M)  # code blocks
        text = re.sub(r"(`+).+?\1", "", text)  # inline code
        if re.search(r"\$[^$]+\$|\\\(|\\\[", text):
            rel = md.relative_to(DOCS).with_suffix("").as_posix()
            rel = "" if rel == "index" else rel.removesuffix("/index")
            found.add(rel and rel + "/")
    return found


# ------------------------------------------------------------------------------ unit tests of course.site

DECORATED = textwrap.dedent("""\
    class Counter:
        @property
        def count(self):
            return self.n

        def bump(self):
            \"\"\"Add one.\"\"\"
            # BEGIN SOLUTION 99-bump
            self.n += 1
            # END SOLUTION
    """)


def test_code_blocks_show_a_decorated_first_member_once():
    regions = find_regions(DECORATED)
    [(owner, line, code, hl)] = site.code_blocks(DECORATED, ["Counter.bump"], regions)
    assert (owner, line) == ("Counter", 1)
    assert code == 'class Counter:\n\n    def bump(self):\n        """Add one."""\n        self.n += 1'
    assert code.splitlines()[int(hl) - 1].strip() == "self.n += 1"
    [(_, _, code, _)] = site.code_blocks(DECORATED, ["Counter.count"])
    assert code.count("@property") == 1, code


def test_code_blocks_name_functions_as_the_stubs_do():
    source = "def outer():\n    def inner():\n        pass\n    return inner\n"
    [(owner, line, code, _)] = site.code_blocks(source, ["outer"])
    assert (owner, line, code) == ("outer", 1, source.rstrip())


def test_nav_puts_the_lessons_at_the_placeholder():
    configured = [{"Home": "index.md"}, {"Lessons": site.NAV_LESSONS}, {"Data": "data.md"}]
    lesson = site.Lesson(ROOT / "lessons" / "07_some_lesson.py")  # a path is all a nav entry needs
    lesson.title = "Some lesson"  # (instead of reading the file)
    nav = site.nav(configured, [lesson])
    assert nav[0] == {"Home": "index.md"} and nav[2] == {"Data": "data.md"}
    assert nav[1] == {"Lessons": [{"07 · Some lesson": [{"Lesson": "lessons/07_some_lesson.md"}]}]}
    assert site.nav(configured, []) == [{"Home": "index.md"}, {"Data": "data.md"}]
    with pytest.raises(site.SiteError, match="nav"):
        site.nav([{"Home": "index.md"}], [lesson])


def test_mkdocs_nav_lists_every_hand_written_page():
    """mkdocs.yml's `nav:` names each page of docs/ (the strict build fails on one left out)."""
    import yaml
    def files(items):
        for item in items:
            for value in item.values():
                yield from files(value) if isinstance(value, list) else [value]
    listed = set(files(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    assert site.NAV_LESSONS in listed
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not pages - listed, f"add these pages to mkdocs.yml's nav: {sorted(pages - listed)}"


def test_missing_npm_stops_the_build_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(site, "MATHJAX", tmp_path / "mathjax")
    monkeypatch.setattr(site.shutil, "which", lambda name: None)
    with pytest.raises(site.SiteError, match="npm is missing"):
        site.ensure_mathjax()


QUESTIONS = textwrap.dedent("""\
    ## Check your understanding

    1. Why does `f` keep `x` alive? See Exercise `01-closure`.

       <details><summary>Answer</summary>

       Its cell references it: $x^2$ stays.

       </details>

    2. And again, Exercise `01-closure`?

       <details><summary>Answer</summary>

       - yes

       </details>
    """)


def test_lesson_markdown_links_exercise_mentions_and_folds_answers():
    import markdown
    lesson = site.Lesson(ROOT / "lessons" / "01_callbacks.py")
    seen: set[str] = set()
    out = site._markdown_cell(QUESTIONS, lesson, {"01-closure": "lessons/01_callbacks/exercises.md"}, seen)
    assert "[Exercise `01-closure`](01_callbacks/exercises.md#01-closure){ #ex-01-closure }" in out
    assert out.count("#ex-01-closure") == 1, "only the first mention carries the anchor"
    assert out.count('    ??? success "Answer"') == 2 and "<details>" not in out
    html = markdown.markdown(out, extensions=["attr_list", "pymdownx.details", "pymdownx.superfences"])
    assert html.count("<li>") == 3 and html.count('<details class="success">') == 2, html
    assert '<a href="01_callbacks/exercises.md#01-closure" id="ex-01-closure">' in html


def test_a_heading_with_math_gets_a_sidebar_label_without_tex():
    assert site.tex_to_text(r"One pass: $E[x^2] - E[x]^2$") == "One pass: E[x²] - E[x]²"
    assert site.tex_to_text(r"$\sigma$ and $\frac{1}{n}$") == "σ and (1)/(n)"
    lesson = site.Lesson(ROOT / "lessons" / "01_callbacks.py")
    out = site._markdown_cell("### Mean $\\mu$\n", lesson, {}, set())
    assert out == '### Mean $\\mu$ { data-toc-label="Mean μ" }\n'


def test_toc_problems_finds_raw_tex_and_dead_links():
    item = SimpleNamespace(title=r"Mean \(\mu\)", url="#mean", children=[
        SimpleNamespace(title="ok", url="", children=[])])
    problems = site.toc_problems([item])
    assert len(problems) == 2 and "raw TeX" in problems[0] and "not to a heading" in problems[1]


def test_links_derive_from_the_repository_url():
    url = "https://github.com/Some-One/course"
    lesson = site.Lesson(ROOT / "lessons" / "01_callbacks.py")
    assert site.pages_url(url) == "https://some-one.github.io/course/"
    assert site.colab_url(url, lesson) == \
        "https://colab.research.google.com/github/Some-One/course/blob/main/lessons/01_callbacks.ipynb"
    with pytest.raises(site.SiteError, match="repo_url"):
        site.github("https://gitlab.com/a/b")


def test_a_lesson_not_executed_yet_says_so(monkeypatch):
    lesson = site.Lesson(ROOT / "lessons" / "00_training_loop.py")
    figures: dict[str, bytes] = {}
    page = site.lesson_markdown(lesson, None, "https://github.com/a/b", {}, figures)
    assert "Not executed yet" in page and "Open in Colab" in page
    assert "](00_training_loop/00_training_loop.ipynb)" in page
    assert page.startswith('---\ntitle: "Lesson 00: ') and not figures


def test_readme_and_home_page_link_the_published_site_and_colab():
    import yaml
    repo = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["repo_url"]
    readme, home = (ROOT / "README.md").read_text(), (DOCS / "index.md").read_text()
    assert site.pages_url(repo) in readme and site.PAGES_URL_MARKER in home
    assert site.LECTURE[1] in readme and site.LECTURE_MARKER in home
    missing = [p.stem for p in all_lessons() if site.colab_url(repo, site.Lesson(p)) not in readme]
    assert not missing, f"README.md has no Open in Colab link for {missing}"


def test_workflows_are_valid_github_actions():
    """The workflows cannot run here: their schema is checked instead (check-jsonschema's copy of
    GitHub's), and a broken one is seen to fail."""
    import subprocess
    import sys
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "pages.yml"}
    proc = subprocess.run(check + [str(w) for w in workflows], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = ROOT / "build" / "broken-workflow.yml"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text((ROOT / ".github" / "workflows" / "pages.yml").read_text().replace("runs-on:", "runs_on:"))
    try:
        assert subprocess.run(check + [str(broken)], capture_output=True).returncode != 0
    finally:
        broken.unlink()


# ------------------------------------------------------------------------------ fixtures

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(request):
    if not (SITE / "index.html").exists():
        unavailable(f"no built site at {SITE.relative_to(ROOT)}: run `make site` first")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(SITE)))
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    request.addfinalizer(stop)
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


@pytest.fixture(scope="module")
def browser(request):
    if not CHROMIUM.exists():
        unavailable(f"Chromium is missing ({CHROMIUM}): `apt-get install chromium`, or set $CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: `pip install -e '.[dev]'`")
    pw = sync_playwright().start()
    request.addfinalizer(pw.stop)
    chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True, timeout=60_000)
    request.addfinalizer(chromium.close)
    return chromium


class Visit:
    """A browser tab that records what went wrong while it loaded a page."""

    def __init__(self, browser, server, color_scheme="light", size="desktop"):
        self.server = server
        self.context = browser.new_context(color_scheme=color_scheme, **SIZES[size])
        self.context.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.server) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def open(self, path: str):
        self.page.goto(self.server + path, wait_until="load")
        # MathJax typesets after load; wait until it is done (pages without math load it too)
        self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.page.evaluate("() => MathJax.startup.promise")
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, server):
    tabs = []

    def open_tab(color_scheme="light", size="desktop"):
        tabs.append(Visit(browser, server, color_scheme, size))
        return tabs[-1]
    yield open_tab
    for tab in tabs:
        tab.close()


# ------------------------------------------------------------------------------ the checks

# Raw math left in the visible text (code excluded): `$$`, `\[`, `\(`, or a single-`$` formula as TeX
# writes it (no space just inside either `$`, the closing one not followed by a digit: "$5 or $10" is
# not a formula).
PAGE_FACTS = r"""() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const images = [...document.images].filter(visible)
      .map((img) => ({src: img.getAttribute("src"), ok: img.complete && img.naturalWidth > 0}));
  const math = [...document.querySelectorAll(".arithmatex")];
  const text = document.querySelector("article").cloneNode(true);
  text.querySelectorAll("pre, code, script, style, mjx-container, .clipboard-copy-txt").forEach((el) => el.remove());
  return {
    images,
    math: math.length,
    typeset: math.filter((el) => el.querySelector("mjx-container")).length,
    mathErrors: [...document.querySelectorAll("mjx-merror")]
      .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
    rawMath: (text.textContent.match(/\$\$|\\\[|\\\(|(?<![\\$])\$(?=[^\s$])[^$]*?[^\s$\\]\$(?!\d)/g) || [])
        .slice(0, 5),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  };
}"""


def _has_math(stem: str) -> bool:
    """Whether a lesson's markdown holds math (its executed notebook, which the site renders)."""
    import nbformat
    nb = nbformat.read(executed_path(ROOT / "lessons" / f"{stem}.py"), as_version=4)
    return any(c.cell_type == "markdown" and re.search(r"\$[^$]+\$", c.source) for c in nb.cells)


@browser_test
@pytest.mark.slow
def test_every_page_renders_cleanly(visit, server):
    """Each page: no console error, no outside request, every image loaded, all math typeset (on the
    hand-written pages too), no raw math left in the text."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    problems, links = [], set()
    pages = site_pages()
    assert pages, "the built site has no pages"
    with_math = markdown_pages_with_math()
    assert with_math, "no hand-written page in docs/ holds math (data.md's normalisation formula?)"
    for path in pages:
        tab = visit()
        page = tab.open(path)
        facts = page.evaluate(PAGE_FACTS)
        page.screenshot(path=str(SHOTS / shot_name(path)), full_page=True, animations="disabled")
        found = list(tab.problems)
        found += [f"image not loaded: {i['src'][:80]}" for i in facts["images"] if not i["ok"]]
        if facts["typeset"] < facts["math"]:
            found.append(f"{facts['math'] - facts['typeset']} of {facts['math']} formulas not typeset")
        found += [f"MathJax error: {e}" for e in facts["mathErrors"]]
        if facts["rawMath"]:
            found.append(f"raw math left in the text (not typeset): {facts['rawMath']}")
        stem = path.removeprefix("lessons/").rstrip("/")
        if stem in lesson_stems() and _has_math(stem) and not facts["math"]:
            found.append("the lesson has math, but the page has no formula for MathJax")
        if path in with_math and not facts["math"]:
            found.append("its docs/ markdown has math, but the page has no formula for MathJax")
        problems += [f"/{path}: {p}" for p in found]
        links.update(link for link in facts["links"] if link.startswith(server))
        tab.close()
    # one dark-mode picture of a lesson, for the person looking at the screenshots
    if (lessons := [p for p in pages if p.removeprefix("lessons/").rstrip("/") in lesson_stems()]):
        tab = visit("dark")
        tab.open(lessons[-1]).screenshot(path=str(SHOTS / ("dark-" + shot_name(lessons[-1]))), full_page=True,
                                         animations="disabled")
        problems += [f"/{lessons[-1]} (dark): {p}" for p in tab.problems]
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never via a proxy
    for link in sorted(links):
        url = link.split("#")[0]
        try:
            direct.open(url, timeout=10).close()
        except urllib.error.URLError as e:
            problems.append(f"broken link: {urlsplit(url).path} ({e})")
    assert not problems, f"{len(problems)} problem(s) in the site:\n" + "\n".join(problems)


@browser_test
@pytest.mark.slow
def test_navigation_reaches_every_lesson(visit, server):
    """Every lesson in lessons/ has a page that the navigation links to (the site is not stale)."""
    tab = visit()
    page = tab.open("")
    hrefs = page.eval_on_selector_all("nav a[href]", "els => els.map(a => a.href)")
    paths = {urlsplit(urljoin(server, h)).path for h in hrefs}
    missing = [s for s in lesson_stems() if f"/lessons/{s}/" not in paths]
    assert not missing, f"lessons missing from the navigation (rebuild the site?): {missing}"
    assert not tab.problems, tab.problems


def test_site_shows_the_current_lessons(server):
    """Each lesson's page comes from executing the lesson as it is now (and what it imports)."""
    stale = []
    for path in all_lessons():
        executed = executed_path(path)
        stamp, shown = executed.with_suffix(".sha256"), SITE / "lessons" / path.stem / executed.name
        if not (stamp.exists() and stamp.read_text() == digest(path)):
            stale.append(f"{path.name}: changed since it was last executed")
        elif not (shown.exists() and shown.read_bytes() == executed.read_bytes()):
            stale.append(f"{path.name}: the site shows an older execution")
    assert not stale, "the site is stale, run `make site`:\n" + "\n".join(stale)


def _search_term(stem: str) -> str:
    source = (ROOT / "lessons" / f"{stem}.py").read_text()
    term = SEARCH_TERMS.get(stem[:2])
    if term and term.lower() in source.lower():
        return term
    return max(re.findall(r"[A-Za-z]+", site.Lesson(ROOT / "lessons" / f"{stem}.py").title), key=len)


@browser_test
@pytest.mark.slow
@pytest.mark.parametrize("stem", lesson_stems())
def test_search_finds_the_lesson(visit, server, stem):
    term = _search_term(stem)
    tab = visit()
    page = tab.open("")
    page.locator("input.md-search__input").press_sequentially(term)  # material searches on key presses
    page.wait_for_selector(".md-search-result__item", state="attached")
    hrefs = page.eval_on_selector_all(".md-search-result__item a[href]", "els => els.map(a => a.href)")
    paths = [urlsplit(h).path for h in hrefs]
    assert f"/lessons/{stem}/" in paths, f"searching {term!r} does not find lesson {stem}; found {paths}"
    text = page.inner_text(".md-search-result")
    assert "$$" not in text and "In [" not in text, f"search results show raw math or prompts:\n{text}"
    assert not tab.problems, tab.problems


# Horizontal overflow at the width the browser tests use (1280 px): code blocks and tables must fit,
# and a text output must have room for 100 characters a line (the lessons' traces), so that they do
# not wrap mid-line. Folded exercise code is opened first: it must fit too.
OVERFLOW = r"""() => {
  document.querySelectorAll("article details").forEach((d) => { d.open = true; });
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight);
  const describe = (el) => (el.textContent || "").trim().split("\n")[0].slice(0, 70);
  const found = [];
  for (const el of document.querySelectorAll("article pre, article table")) {
    if (!visible(el) || el.closest(".nb-output")) continue;
    const box = el.tagName === "TABLE" ? (el.closest(".md-typeset__scrollwrap") || el.parentElement) : el;
    if (el.scrollWidth > box.clientWidth + 1) {
      const size = `${el.scrollWidth} > ${box.clientWidth} px`;
      found.push(`${el.tagName.toLowerCase()} scrolls sideways (${size}): ${describe(el)}`);
    }
  }
  for (const el of document.querySelectorAll("article .nb-output pre")) {
    if (!visible(el)) continue;
    const probe = document.createElement("span");
    probe.textContent = "x".repeat(100);
    probe.style.whiteSpace = "pre";
    el.appendChild(probe);
    const width = probe.getBoundingClientRect().width;
    probe.remove();
    const style = getComputedStyle(el);
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (width > room + 1) found.push(`output has room for fewer than 100 characters a line: ${describe(el)}`);
  }
  return found;
}"""


@browser_test
@pytest.mark.slow
def test_code_and_tables_fit_at_1280_px(visit, server):
    pages = [p for p in site_pages() if p.startswith("lessons/")]
    assert pages, "the built site has no lesson pages"
    problems = []
    for path in pages:
        tab = visit()
        problems += [f"/{path}: {p}" for p in tab.open(path).evaluate(OVERFLOW)]
        tab.close()
    assert not problems, f"{len(problems)} block(s) do not fit at 1280 px:\n" + "\n".join(problems)


def lesson_pages() -> list[str]:
    return [f"lessons/{stem}/" for stem in lesson_stems()]


def exercise_pages() -> list[str]:
    return [p for p in site_pages() if p.endswith(("/exercises/", "/solutions/"))]


# Sidebar entries (the table of contents sits in the navigation) whose anchor is missing on the page,
# or whose text shows raw TeX.
SIDEBAR = r"""() => {
  const found = [];
  for (const a of document.querySelectorAll(".md-sidebar--primary a.md-nav__link[href^='#']")) {
    const id = decodeURIComponent(a.getAttribute("href").slice(1));
    const text = a.textContent.trim();
    if (!id || !document.getElementById(id)) found.push(`"${text}" links to #${id}, which is not on the page`);
    if (/\\[a-zA-Z(\[]|\$/.test(text)) found.push(`"${text}" shows raw TeX`);
  }
  return found;
}"""


@browser_test
@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_every_sidebar_link_lands_on_a_heading_without_raw_tex(visit, server, size):
    problems = []
    for path in lesson_pages() + exercise_pages():
        tab = visit(size=size)
        page = tab.open(path)
        entries = page.locator(".md-sidebar--primary a.md-nav__link[href^='#']").count()
        if path in lesson_pages() and entries < 3:
            problems.append(f"/{path}: only {entries} sidebar entries link into the page")
        problems += [f"/{path}: {p}" for p in page.evaluate(SIDEBAR)]
        if size == "phone":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / ("phone-" + shot_name(path))), animations="disabled")
        tab.close()
    assert not problems, f"{len(problems)} sidebar problem(s) at {size} size:\n" + "\n".join(problems)


# Each "Exercise `NN-id`" in a lesson's prose, and whether it is a link.
MENTIONS = r"""() => [...document.querySelectorAll("article code")]
  .filter((c) => /^\d\d-[\w-]+$/.test(c.textContent) && /[Ee]xercise\s*$/.test(
      (c.previousSibling && c.previousSibling.textContent) || ""))
  .map((c) => ({id: c.textContent, href: c.closest("a") ? c.closest("a").href : null,
                anchor: c.closest("a") ? c.closest("a").id : ""}))"""


@browser_test
@pytest.mark.slow
def test_every_exercise_mention_links_to_its_exercise_and_back(visit, server):
    problems, checked = [], 0
    for path in lesson_pages():
        tab = visit()
        mentions = tab.open(path).evaluate(MENTIONS)
        tab.close()
        for m in mentions:
            if not m["href"]:
                problems.append(f"/{path}: Exercise `{m['id']}` is not a link")
                continue
            checked += 1
            target, _, fragment = m["href"].partition("#")
            assert fragment == m["id"], f"/{path}: Exercise `{m['id']}` links to #{fragment}"
            tab = visit()
            page = tab.open(target.removeprefix(server))
            if not page.locator(f"[id='{fragment}']").count():
                problems.append(f"/{path}: Exercise `{m['id']}` links to {target}, which has no #{fragment}")
            elif m["anchor"]:  # the first mention: its exercise links back to it, and to its solution
                back = page.eval_on_selector_all(f"a[href$='#{m['anchor']}']", "els => els.map(a => a.href)")
                if not any(urlsplit(b).path == f"/{path}" for b in back):
                    problems.append(f"{target}#{fragment} does not link back to /{path}#{m['anchor']}")
                if not page.locator(f"a[href$='solutions/#{fragment}']").count():
                    problems.append(f"{target}#{fragment} does not link to its solution")
            tab.close()
    assert checked, "no lesson mentions an exercise as Exercise `NN-id`"
    assert not problems, f"{len(problems)} exercise link problem(s):\n" + "\n".join(problems)


# The contrast of every piece of folded code (opened) against its background (WCAG's ratio), and the size
# of output and folded text.
CODE_FACTS = r"""() => {
  document.querySelectorAll("article details").forEach((d) => { d.open = true; });
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const linear = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [], small = [];
  for (const el of document.querySelectorAll("article details pre code, article details pre code *")) {
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const back = background(el), [r, g, b, alpha = 1] = rgb(getComputedStyle(el).color);
    const fg = lum([r, g, b].map((c, i) => alpha * c + (1 - alpha) * back[i])), bg = lum(back);
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) low.push(`${el.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)}:1)`);
  }
  for (const el of document.querySelectorAll("article .nb-output code, article details pre code, article details p")) {
    const px = parseFloat(getComputedStyle(el).fontSize);
    if (px < 13) small.push(`${el.textContent.trim().slice(0, 30)} (${px} px)`);
  }
  return {low: low.slice(0, 10), small: small.slice(0, 10),
          folded: document.querySelectorAll("article details pre code").length,
          outputs: document.querySelectorAll("article .nb-output code").length};
}"""


@browser_test
@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_folded_code_is_readable_and_output_text_large_enough(visit, server, scheme):
    problems, folded, outputs = [], 0, 0
    for path in lesson_pages() + exercise_pages():
        for size in SIZES:
            tab = visit(scheme, size)
            facts = tab.open(path).evaluate(CODE_FACTS)
            tab.close()
            folded, outputs = folded + facts["folded"], outputs + facts["outputs"]
            problems += [f"/{path} ({size}): contrast below 4.5:1: {x}" for x in facts["low"]]
            problems += [f"/{path} ({size}): text under 13 px: {x}" for x in facts["small"]]
    assert folded and outputs, "no folded code or no output on the lesson pages"
    assert not problems, f"{len(problems)} problem(s) in the {scheme} scheme:\n" + "\n".join(problems)


@browser_test
@pytest.mark.slow
def test_a_plot_opens_enlarged_on_tap(visit, server):
    for path in lesson_pages():
        tab = visit(size="phone")
        page = tab.open(path)
        plots = page.locator("article a.glightbox img")
        if not plots.count():
            tab.close()
            continue
        plot = plots.first
        plot.scroll_into_view_if_needed()
        inline = plot.bounding_box()["width"]
        plot.tap()
        enlarged = page.locator(".glightbox-container .gslide.current img")
        enlarged.wait_for(state="visible")
        page.wait_for_timeout(600)  # the opening animation
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "phone-lightbox.png"))
        assert enlarged.bounding_box()["width"] > inline, f"/{path}: the tapped plot is not larger"
        assert not tab.problems, tab.problems
        return
    pytest.fail("no lesson page has a plot that opens in the lightbox")


def test_exercise_headings_show_dunder_names_as_code():
    """`Dataset.__len__` in a heading must not turn into a bold "len" (markdown reads `__x__` as bold)."""
    lesson = next(lesson for lesson in site.all_lessons() if lesson.number == "00")
    heading = next(line for line in site.exercises_markdown(lesson).splitlines() if line.startswith("## 00-dataset"))
    assert "`Dataset.__len__`" in heading, f"got {heading!r}, expected the names in backticks"
