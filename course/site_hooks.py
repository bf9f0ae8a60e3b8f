"""MkDocs hooks (mkdocs.yml `hooks:`): thin calls into `course.site`, in the order MkDocs fires them.

- on_startup/on_config: install MathJax, collect the graded tests, put one section per lesson in the nav,
  execute the lessons that changed (`mkdocs build`; `mkdocs serve` executes them beside the server);
- on_files: each lesson's page, plots, notebook, exercises and solutions pages; MathJax;
- on_page_markdown: fill the hand-written pages' markers (lesson map, leaderboards, links);
- on_page_content: a sidebar entry with raw TeX or a dead anchor is a warning (strict: an error);
- on_page_context: the footer's previous/next links say which lesson a page belongs to;
- on_serve: start the lesson executor; a lesson executed into build/executed rebuilds its page.
"""

import threading
from types import SimpleNamespace

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from course import site
from course.challenges import leaderboard
from course.lessons import DEPENDENCIES, EXECUTED
from course.stubs import MarkerError

state = {"command": "build", "lessons": []}


def on_startup(command, dirty):
    state["command"] = command


def on_config(config):
    try:
        site.github(config.repo_url)
        site.ensure_mathjax()
        state["lessons"] = site.all_lessons()
        config.nav = site.nav(config.nav, state["lessons"])
        if state["command"] != "serve":
            site.execute([lesson.path for lesson in state["lessons"]])
    except site.SiteError as e:
        raise PluginError(str(e)) from None
    return config


def on_files(files, config):
    exercise_pages = {e.id: lesson.exercises_page for lesson in state["lessons"] for e in lesson.exercises}
    add = files.append
    try:
        for lesson in state["lessons"]:
            nb, figures = site.executed_notebook(lesson), {}
            add(File.generated(config, lesson.page, content=site.lesson_markdown(
                lesson, nb, config.repo_url, exercise_pages, figures)))
            for name, data in figures.items():
                add(File.generated(config, f"lessons/{lesson.stem}/{name}", content=data))
            notebook = EXECUTED / f"{lesson.stem}.ipynb" if nb else lesson.path.with_suffix(".ipynb")
            add(File.generated(config, f"lessons/{lesson.stem}/{lesson.stem}.ipynb", abs_src_path=str(notebook)))
            if lesson.solutions:
                add(File.generated(config, lesson.exercises_page, content=site.exercises_markdown(lesson)))
                add(File.generated(config, lesson.solutions_page, content=site.solutions_markdown(lesson)))
        for uri, path in site.mathjax_files():
            add(File.generated(config, uri, abs_src_path=str(path)))
    except (site.SiteError, MarkerError, SyntaxError) as e:
        raise PluginError(f"course: {e}") from None
    return files


def on_page_markdown(markdown, page, config, files):
    try:
        markdown = leaderboard.fill(markdown)  # the Challenges page's tables, from the committed results
    except leaderboard.LeaderboardError as e:
        raise PluginError(f"course: {page.file.src_uri}: {e}") from None
    to_root = "../" * page.file.src_uri.count("/")
    for marker, text in ((site.LESSON_MAP_MARKER, lambda: site.lesson_map_markdown(state["lessons"], to_root)),
                         (site.PAGES_URL_MARKER, lambda: site.pages_url(config.repo_url)),
                         (site.LECTURE_MARKER, lambda: f"[{site.LECTURE[0]}]({site.LECTURE[1]})"),
                         (site.DEPENDENCIES_MARKER, lambda: ", ".join(f"`{d}`" for d in DEPENDENCIES))):
        if marker in markdown:
            markdown = markdown.replace(marker, text())
    return markdown


def on_page_content(html, page, config, files):
    for problem in site.toc_problems(page.toc):
        site.log.warning(f"course: {page.file.src_uri}: {problem}")
    return html


def on_page_context(context, page, config, nav):
    """The footer's previous/next links name the lesson of a "Lesson", "Exercises" or "Solutions" page."""
    titles = {uri: f"{kind} {lesson.number}: {lesson.title}" for lesson in state["lessons"] for kind, uri in (
        ("Lesson", lesson.page), ("Exercises for lesson", lesson.exercises_page),
        ("Solutions for lesson", lesson.solutions_page))}
    for side in ("previous_page", "next_page"):
        if (other := getattr(page, side)) is not None and other.file.src_uri in titles:
            setattr(page, side, SimpleNamespace(url=other.url, title=titles[other.file.src_uri]))
    return context


def on_serve(server, config, builder):
    EXECUTED.mkdir(parents=True, exist_ok=True)
    server.watch(str(EXECUTED))
    if not any(t.name == "course-lessons" for t in threading.enumerate()):
        # mkdocs starts its file watcher (`server.observer`) after this hook returns
        threading.Thread(target=site.serve_executor, args=(server.observer.is_alive,), name="course-lessons",
                         daemon=True).start()
    return server
