"""The course site: unit tests of course.site, then the built site (build/site, `make site`) read in
headless Chromium at a laptop's and a phone's size, in both colour schemes (the tests marked `browser`).

Every page loads without a console error or a request to another host, shows its images, typesets its
math, and links only to pages that exist; every sidebar entry lands on an anchor and shows no TeX;
every exercise mention links to its exercise, which links back and to its solution; folded code has a
4.5:1 contrast; output text is >= 13 px; plots open enlarged. Screenshots go to build/screenshots/.
Without Chromium ($CHROMIUM, `chromium`, /usr/bin/chromium), playwright or a built site the browser
tests are skipped locally and fail under CI ($CI set).
"""

from __future__ import annotations

import http.server
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import urllib.request
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import markdown
import pytest
import yaml

from course import site
from course.lessons import all_lessons, digest, executed_path
from course.paths import ROOT
from course.stubs import find_regions

SITE, DOCS, SHOTS = ROOT / "build" / "site", ROOT / "docs", ROOT / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
SEARCH_TERMS = {"00": "DataBunch", "01": "closure", "02": "CancelTrainException", "03": "kaiming",
                "04": "RunningBatchNorm"}
SIZES = {"desktop": {"viewport": {"width": 1280, "height": 900}},
         "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
                   "device_scale_factor": 2}}
REPO = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["repo_url"]
LESSON = site.Lesson(ROOT / "lessons" / "01_callbacks.py")

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


@pytest.mark.parametrize("source, functions, expected", [
    (DECORATED, ["Counter.bump"], ("Counter", 1, 'class Counter:\n\n    def bump(self):\n        """Add one."""\n'
                                   "        self.n += 1", "5")),  # markers dropped, the answer highlighted
    (DECORATED, ["Counter.count"], ("Counter", 1, "class Counter:\n\n    @property\n    def count(self):\n"
                                    "        return self.n", "")),  # a decorated first member shown once
    ("def outer():\n    def inner():\n        pass\n    return inner\n", ["outer"],
     ("outer", 1, "def outer():\n    def inner():\n        pass\n    return inner", "")),
])
def test_code_blocks(source, functions, expected):
    assert site.code_blocks(source, functions, find_regions(source)) == [expected]


def test_nav_puts_the_lessons_at_the_placeholder_and_lists_every_page():
    configured = [{"Home": "index.md"}, {"Lessons": site.NAV_LESSONS}, {"Data": "data.md"}]
    lesson = site.Lesson(ROOT / "lessons" / "07_some_lesson.py")
    lesson.title = "Some lesson"  # instead of reading the file
    assert site.nav(configured, [lesson])[1] == {"Lessons": [{"07 · Some lesson": [{"Lesson": lesson.page}]}]}
    assert site.nav(configured, []) == [{"Home": "index.md"}, {"Data": "data.md"}]
    with pytest.raises(site.SiteError, match="nav"):
        site.nav([{"Home": "index.md"}], [lesson])

    def listed(items):
        return {v for item in items for value in item.values()
                for v in (listed(value) if isinstance(value, list) else [value])}
    missing = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")} - listed(
        yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    assert not missing, f"add these pages to mkdocs.yml's nav (the strict build fails): {missing}"


def test_missing_npm_stops_the_build_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(site, "MATHJAX", tmp_path)
    monkeypatch.setattr(site.shutil, "which", lambda name: None)
    with pytest.raises(site.SiteError, match="npm is missing"):
        site.ensure_mathjax()


QUESTIONS = textwrap.dedent("""\
    ## Check your understanding

    ### Mean $\\mu$ of $E[x^2]$

    1. Why does `f` keep `x` alive? See Exercise `01-closure`.

       <details><summary>Answer</summary>

       Its cell references it: $x^2$ stays.

       </details>

    2. And again, Exercise
       `01-closure`?

       <details><summary>Answer</summary>

       - yes

       </details>
    """)


def test_lesson_markdown_links_mentions_labels_math_headings_and_folds_answers():
    out = site._markdown_cell(QUESTIONS, LESSON, {"01-closure": "lessons/01_callbacks/exercises.md"}, set())
    assert '### Mean $\\mu$ of $E[x^2]$ { data-toc-label="Mean μ of E[x²]" }' in out
    assert out.count("](01_callbacks/exercises.md#01-closure)") == 2 and out.count("{ #ex-01-closure }") == 1
    assert out.count('    ??? success "Answer"') == 2 and "<details>" not in out
    html = markdown.markdown(out, extensions=["attr_list", "pymdownx.details", "pymdownx.superfences"])
    assert html.count("<li>") == 3 and html.count('<details class="success">') == 2, html
    assert '<a href="01_callbacks/exercises.md#01-closure" id="ex-01-closure">' in html
    problems = site.toc_problems([SimpleNamespace(title=r"Mean \(\mu\)", url="#mean", children=[
        SimpleNamespace(title="ok", url="", children=[])])])
    assert len(problems) == 2 and "raw TeX" in problems[0] and "not to a heading" in problems[1]


def test_links_derive_from_the_repository_url_and_readme_has_them():
    assert site.pages_url("https://github.com/Some-One/course") == "https://some-one.github.io/course/"
    assert site.colab_url("https://github.com/Some-One/course", LESSON) == \
        "https://colab.research.google.com/github/Some-One/course/blob/main/lessons/01_callbacks.ipynb"
    with pytest.raises(site.SiteError, match="repo_url"):
        site.github("https://gitlab.com/a/b")
    readme, home = (ROOT / "README.md").read_text(), (DOCS / "index.md").read_text()
    assert site.pages_url(REPO) in readme and site.PAGES_URL_MARKER in home
    assert site.LECTURE[1] in readme and site.LECTURE_MARKER in home
    missing = [p.stem for p in all_lessons() if site.colab_url(REPO, site.Lesson(p)) not in readme]
    assert not missing, f"README.md has no Open in Colab link for {missing}"


def test_a_lesson_page_says_it_is_not_executed_yet_or_why_it_failed(monkeypatch, tmp_path):
    lesson = site.Lesson(ROOT / "lessons" / "00_training_loop.py")
    monkeypatch.setattr(site, "error_path", lambda path: tmp_path / "00.error")
    page = site.lesson_markdown(lesson, None, REPO, {}, figures := {})
    assert "Not executed yet" in page and "fills in" in page and "Open in Colab" in page and not figures
    assert "](00_training_loop/00_training_loop.ipynb)" in page and page.startswith('---\ntitle: "Lesson 00: ')
    (tmp_path / "00.error").write_text(f"{digest(lesson.path)}\nlessons/00_training_loop.py, cell 3 failed: boom")
    page = site.lesson_markdown(lesson, None, REPO, {}, {})
    assert "Execution failed" in page and "cell 3 failed: boom" in page and "fills in" not in page
    assert "python -m course.lessons run 00" in page


def test_make_serve_executes_stale_lessons_one_at_a_time_and_notes_failures(monkeypatch, tmp_path, caplog):
    lessons = [tmp_path / "00_good.py", tmp_path / "01_broken.py", tmp_path / "02_done.py"]
    ran, banners = [], []

    def run(path):
        ran.append(path.name)
        banners.append([site.progress(p) for p in lessons])  # what the three pages say meanwhile
        if "broken" in path.name:
            raise site.runner.LessonError("01_broken.py, cell 2 failed:\nNameError: boom")
    monkeypatch.setattr(site.runner, "digest", lambda path: "key")
    monkeypatch.setattr(site.runner, "cached", lambda out, key: out.name.startswith(("02", "00")) and ran)
    monkeypatch.setattr(site.runner, "run", run)
    monkeypatch.setattr(site, "error_path", lambda path: tmp_path / f"{path.stem}.error")
    monkeypatch.setattr(site, "EXECUTING", tmp_path / "executing.txt")
    failed = {}
    with caplog.at_level(logging.INFO, logger="mkdocs.course.site"):
        site.execute(lessons, failed)
        site.execute(lessons, failed)  # nothing changed: nothing runs again, not even the failed lesson
    assert ran == ["00_good.py", "01_broken.py"]
    assert "is executing it now (since " in banners[0][0] and "lesson 00 now" in banners[0][1]
    assert "then this one" in banners[0][1] and "then 1 more lesson, then this one" in banners[0][2]
    assert "is executing it now" in banners[1][1] and "then this one" in banners[1][2]
    assert "executes the lessons one after another" in site.progress(lessons[0])  # done: nothing executing
    assert (tmp_path / "executing.txt").read_text() == "01_broken.py\n"  # mkdocs serve watches it
    assert "executing lessons/00_good.py" in caplog.text and "lessons/00_good.py executed in" in caplog.text
    assert "lessons/01_broken.py failed" in caplog.text
    assert (tmp_path / "01_broken.error").read_text() == "key\n01_broken.py, cell 2 failed:\nNameError: boom"
    with pytest.raises(site.SiteError, match="01_broken.py, cell 2 failed"):  # `make site`: the build stops
        site.execute(lessons[1:2])


def test_exercise_headings_show_dunder_names_as_code():
    """`Dataset.__len__` in a heading must not turn into a bold "len"."""
    lesson = next(lesson for lesson in site.all_lessons() if lesson.number == "00")
    assert "`Dataset.__len__`" in next(h for h in site.exercises_markdown(lesson).splitlines()
                                       if h.startswith("## 00-dataset"))


def test_workflows_are_valid_github_actions(tmp_path):
    """They cannot run here: their schema is checked (GitHub's, in check-jsonschema); a broken one fails."""
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "pages.yml"}
    proc = subprocess.run(check + workflows, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (broken := tmp_path / "broken.yml").write_text(workflows[-1].read_text().replace("runs-on:", "runs_on:"))
    assert subprocess.run(check + [broken], capture_output=True).returncode != 0


# ------------------------------------------------------------------------------ the built site in a browser

def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        unavailable("no built site at build/site: run `make site` first")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(SITE)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def open_page(server):
    """open_page(path, size, scheme) -> (playwright page, problems it met: console errors, outside requests)."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium is missing ({CHROMIUM}): `apt-get install chromium`, or set $CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: `pip install -e '.[dev]'`")
    contexts = []

    def route(problems, r):
        ok = r.request.url.startswith((server, "data:", "blob:", "about:"))
        r.continue_() if ok else (problems.append(f"request to another host: {r.request.url}"), r.abort())

    def open_page(path, size="desktop", scheme="light"):
        contexts.append(context := chromium.new_context(color_scheme=scheme, **SIZES[size]))
        context.set_default_timeout(15_000)
        context.route("**/*", partial(route, problems := []))
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
        page.goto(server + path, wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")  # typeset
        return page, problems
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield open_page
        for context in contexts:
            context.close()
        chromium.close()


def site_pages() -> list[str]:
    return sorted("" if (rel := p.parent.relative_to(SITE).as_posix()) == "." else rel + "/"
                  for p in SITE.rglob("index.html") if not p.parent.relative_to(SITE).as_posix().startswith("assets"))


# What the browser sees of a page: problems (images not loaded, math not typeset or left raw, sidebar
# entries with no anchor or with TeX or sticky, folded code under 4.5:1 contrast, output text under 13 px,
# exercise ids or names broken over lines, and at 1280 px code or tables that do not fit or outputs with room for fewer
# than 100 characters), and its nav links, links, ids and "Exercise `NN-id`" mentions.
FACTS = r"""({desktop, lesson}) => {
  const problems = [], visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const cut = (el) => (el.textContent || "").trim().split("\n")[0].slice(0, 60);
  document.querySelectorAll("article details").forEach((d) => { d.open = true; });
  [...document.images].filter((i) => visible(i) && !(i.complete && i.naturalWidth))
    .forEach((i) => problems.push(`image not loaded: ${i.getAttribute("src")}`));
  const math = document.querySelectorAll(".arithmatex").length;
  if (document.querySelectorAll(".arithmatex mjx-container").length < math) problems.push("math not typeset");
  document.querySelectorAll("mjx-merror").forEach((e) => problems.push(`MathJax error: ${e.textContent}`));
  const text = document.querySelector("article").cloneNode(true);
  text.querySelectorAll("pre, code, script, style, mjx-container, .clipboard-copy-txt").forEach((e) => e.remove());
  (text.textContent.match(/\$\$|\\\[|\\\(|(?<![\\$])\$(?=[^\s$])[^$]*?[^\s$\\]\$(?!\d)/g) || [])
    .forEach((m) => problems.push(`raw math in the text: ${m}`));
  const entries = [...document.querySelectorAll(".md-sidebar--primary a.md-nav__link[href^='#']")];
  if (lesson && entries.length < 3) problems.push(`only ${entries.length} sidebar entries link into the page`);
  for (const a of entries) {
    const id = decodeURIComponent(a.getAttribute("href").slice(1)), label = a.textContent.trim();
    if (!id || !document.getElementById(id)) problems.push(`sidebar "${label}" links to #${id}, not on the page`);
    if (/\\[a-zA-Z(\[]|\$/.test(label)) problems.push(`sidebar "${label}" shows raw TeX`);
  }
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lin = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const back = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("article details pre code, article details pre code *")) {
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const bg = back(el), [r, g, b, a = 1] = rgb(getComputedStyle(el).color);
    const [l1, l2] = [lum([r, g, b].map((c, i) => a * c + (1 - a) * bg[i])), lum(bg)];
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < 4.5) problems.push(`folded code below 4.5:1 (${ratio.toFixed(2)}:1): ${cut(el)}`);
  }
  for (const el of document.querySelectorAll("article .nb-output code, article details pre code, article details p")) {
    const px = parseFloat(getComputedStyle(el).fontSize);
    if (px < 13) problems.push(`text under 13 px (${px} px): ${cut(el)}`);
  }
  document.querySelectorAll("a.exercise-id, td code").forEach((a) => a.getClientRects().length > 1 &&
    problems.push(`exercise id or name broken over lines: ${a.textContent}`));
  document.querySelectorAll(".md-sidebar--primary .md-nav__link").forEach((a) => getComputedStyle(a).position
    === "sticky" && problems.push(`the sidebar's "${cut(a)}" is sticky: it covers the entries under it`));
  for (const el of desktop ? document.querySelectorAll("article pre, article table") : []) {
    if (!visible(el)) continue;
    const box = el.tagName === "TABLE" ? (el.closest(".md-typeset__scrollwrap") || el.parentElement) : el;
    if (!el.closest(".nb-output") && el.scrollWidth > box.clientWidth + 1) problems.push(`does not fit: ${cut(el)}`);
    if (!el.closest(".nb-output") || el.tagName !== "PRE") continue;
    const probe = Object.assign(document.createElement("span"), {textContent: "x".repeat(100)});
    probe.style.whiteSpace = "pre";
    el.appendChild(probe);
    const style = getComputedStyle(el), width = probe.getBoundingClientRect().width;
    probe.remove();
    if (width > el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) + 1)
      problems.push(`output has room for fewer than 100 characters a line: ${cut(el)}`);
  }
  for (const el of desktop ? [] : document.querySelectorAll("article pre > code, article div.arithmatex")) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1 && !getComputedStyle(el).backgroundImage.includes("radial"))
      problems.push(`scrolls sideways with no shadow to say so: ${cut(el)}`);
  }
  const mentions = [...document.querySelectorAll("article code")].filter((c) => /^\d\d-[\w-]+$/.test(c.textContent)
      && /[Ee]xercise\s*$/.test(c.previousSibling?.textContent || ""))
    .map((c) => ({id: c.textContent, href: c.closest("a")?.href, anchor: c.closest("a")?.id}));
  return {problems, mentions, math, nav: [...document.querySelectorAll("nav a[href]")].map((a) => a.href),
          links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
          ids: [...document.querySelectorAll("[id]")].map((e) => e.id)};
}"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("size, scheme", [("desktop", "light"), ("phone", "light"), ("desktop", "dark"),
                                          ("phone", "dark")])
def test_every_page_at_each_size_and_scheme(open_page, server, size, scheme):
    """One table: each page at (size, scheme) for every check of the module docstring."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    lessons = [f"lessons/{p.stem}/" for p in all_lessons()]
    problems, facts, plot = [], {}, None
    for path in site_pages():
        page, found = open_page(path, size, scheme)
        page.screenshot(path=str(SHOTS / f"{size}-{scheme}-{path.strip('/').replace('/', '-') or 'index'}.png"),
                        full_page=size == "desktop", animations="disabled", timeout=60_000)
        facts[path] = page.evaluate(FACTS, {"desktop": size == "desktop", "lesson": path in lessons})
        if plot is None and path in lessons and page.locator("article a.glightbox img").count():
            plot = _open_a_plot(page, size, scheme)
            problems += [f"/{path}: {p}" for p in plot]
        problems += [f"/{path}: {p}" for p in found + facts[path]["problems"]]
        page.context.close()
    assert plot is not None, "no lesson page has a plot that opens in the lightbox"
    sources = {f"lessons/{p.stem}/": site.Lesson(p).markdown() for p in all_lessons()} | {
        ("" if p.stem == "index" else f"{p.stem}/"): p.read_text() for p in DOCS.glob("*.md")}
    problems += [f"/{p}: its markdown has math, but the page none for MathJax" for p, text in sources.items()
                 if not facts[p]["math"] and re.search(r"\$[^$`]+\$", re.sub(r"(`+)[^`].*?\1", "", text, flags=re.S))]
    nav = {urlsplit(h).path for h in facts[""]["nav"]}
    problems += [f"the navigation does not reach /{p}" for p in lessons if f"/{p}" not in nav]
    mentions = [(path, m) for path in lessons for m in facts[path]["mentions"]]
    assert mentions, "no lesson mentions an exercise as Exercise `NN-id`"
    for path, m in mentions:  # each links to its exercise; the first one's exercise links back, and to its solution
        target, _, fragment = (m["href"] or "#").partition("#")
        exercise = facts.get(target.removeprefix(server), {"ids": [], "links": []})
        if fragment != m["id"] or fragment not in exercise["ids"]:
            problems.append(f"/{path}: Exercise `{m['id']}` links to {m['href']}, not to its exercise")
        elif m["anchor"] and not (f"{server}{path}#{m['anchor']}" in exercise["links"] and
                                  any(x.endswith(f"/solutions/#{fragment}") for x in exercise["links"])):
            problems.append(f"{m['href']} does not link back to /{path}#{m['anchor']} and to its solution")
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for url in sorted({link.split("#")[0] for f in facts.values() for link in f["links"] if link.startswith(server)}):
        try:
            direct.open(url, timeout=10).close()
        except OSError as e:
            problems.append(f"broken link: {urlsplit(url).path} ({e})")
    assert not problems, f"{len(problems)} problem(s) at {size} size, {scheme} scheme:\n" + "\n".join(problems)


def _open_a_plot(page, size: str, scheme: str) -> list[str]:
    """Tap (click) a plot: it opens enlarged, and at least 1.5 times as large on a laptop's screen."""
    plot = page.locator("article a.glightbox img").first
    plot.scroll_into_view_if_needed()
    inline = plot.bounding_box()["width"]
    plot.tap() if size == "phone" else plot.click()
    enlarged = page.locator(".glightbox-container .gslide.current img")
    enlarged.wait_for(state="visible")
    page.wait_for_timeout(600)  # the opening animation
    page.screenshot(path=str(SHOTS / f"{size}-{scheme}-lightbox.png"))
    width, natural = enlarged.bounding_box()["width"], enlarged.evaluate("img => img.naturalWidth")
    factor = 1.5 if size == "desktop" else 1
    return [] if width > factor * inline and natural >= width else [
        f"the plot opens at {width:.0f} px (stored at {natural} px), from {inline:.0f} px: not enlarged enough"]


def test_site_shows_the_current_lessons(server):
    """Each lesson's page comes from executing the lesson as it is now (and what it imports)."""
    stale = [p.name for p in all_lessons() if not (executed_path(p).with_suffix(".sha256").exists() and
             executed_path(p).with_suffix(".sha256").read_text() == digest(p) and
             (SITE / "lessons" / p.stem / f"{p.stem}.ipynb").read_bytes() == executed_path(p).read_bytes())]
    assert not stale, f"the site is stale, run `make site`: {stale}"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("path", all_lessons(), ids=lambda p: p.stem)
def test_search_finds_the_lesson(open_page, path):
    term = SEARCH_TERMS.get(path.name[:2], "")
    if term.lower() not in path.read_text().lower():
        term = max(site.Lesson(path).title.split(), key=len)
    page, problems = open_page("")
    page.locator("input.md-search__input").press_sequentially(term)  # material searches on key presses
    page.wait_for_selector(".md-search-result__item", state="attached")
    found = [urlsplit(a).path for a in page.eval_on_selector_all(".md-search-result__item a", "a => a.map(x=>x.href)")]
    assert f"/lessons/{path.stem}/" in found, f"searching {term!r} does not find lesson {path.stem}; found {found}"
    text = page.inner_text(".md-search-result")
    assert "$$" not in text and "In [" not in text, f"search results show raw math or prompts:\n{text}"
    assert not problems, problems
