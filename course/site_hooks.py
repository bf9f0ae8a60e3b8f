"""MkDocs hooks (mkdocs.yml `hooks:`) that put the course's generated pages into the site.

Each hook is a thin call into `course.site`, in the order MkDocs fires them:

- on_config: install MathJax if missing (fails fast without npm), collect the graded tests (their
  points, hints and names: `course.grade.collect`), execute the lessons that changed (cached;
  not under `make serve`, which executes them beside the server: `COURSE_SITE_EXECUTE=0`), put
  one section per lesson found where mkdocs.yml's `nav:` has its Lessons placeholder;
- on_files: add each lesson's page (markdown made from its executed notebook, or from the lesson
  itself while it is not executed), its plots, its notebook for download, its exercises and
  solutions pages, and MathJax;
- on_page_markdown: fill the markers of the hand-written pages (the home page's lesson map and
  links, the files a lesson's execution depends on, the Challenges page's leaderboards);
- on_page_content: a sidebar entry never shows raw TeX (a strict build fails on one);
- on_page_context: the footer's previous/next links say which lesson a "Lesson", "Exercises" or
  "Solutions" page belongs to;
- on_serve: a lesson executed beside the server (build/executed/) rebuilds its page.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from course import site
from course.challenges import leaderboard
from course.lessons import EXECUTED
from course.stubs import MarkerError

_lessons: list[site.Lesson] = []


def on_config(config):
    global _lessons
    try:
        site.github(config.repo_url)
        site.ensure_mathjax()
        _lessons = site.all_lessons()
        config.nav = site.nav(config.nav, _lessons)
        if os.environ.get("COURSE_SITE_EXECUTE", "1") != "0":
            site.execute_lessons(_lessons)
    except site.SiteError as e:
        raise PluginError(str(e)) from None
    return config


def on_files(files, config):
    exercise_pages = {e.id: lesson.exercises_page for lesson in _lessons for e in lesson.exercises}
    try:
        for lesson in _lessons:
            nb, figures = site.executed_notebook(lesson), {}
            if nb is None:
                site.log.info(f"course: lessons/{lesson.path.name} is not executed yet: its page has no outputs")
            page = site.lesson_markdown(lesson, nb, config.repo_url, exercise_pages, figures)
            files.append(File.generated(config, lesson.page, content=page))
            for name, data in figures.items():
                files.append(File.generated(config, f"lessons/{lesson.stem}/{name}", content=data))
            notebook = EXECUTED / f"{lesson.stem}.ipynb" if nb is not None else lesson.path.with_suffix(".ipynb")
            files.append(File.generated(config, f"lessons/{lesson.stem}/{lesson.stem}.ipynb",
                                        abs_src_path=str(notebook)))
            if lesson.solutions:
                files.append(File.generated(config, lesson.exercises_page, content=site.exercises_markdown(lesson)))
                files.append(File.generated(config, lesson.solutions_page, content=site.solutions_markdown(lesson)))
        for uri, path in site.mathjax_files():
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    except (site.SiteError, MarkerError, SyntaxError) as e:
        raise PluginError(f"course: {e}") from None
    return files


def on_page_markdown(markdown, page, config, files):
    to_docs_root = "../" * page.file.src_uri.count("/")
    if site.LESSON_MAP_MARKER in markdown:
        markdown = markdown.replace(site.LESSON_MAP_MARKER, site.lesson_map_markdown(_lessons, to_docs_root))
    try:
        markdown = leaderboard.fill(markdown)  # the Challenges page's tables, from the committed results
    except leaderboard.LeaderboardError as e:
        raise PluginError(f"course: {page.file.src_uri}: {e}") from None
    markdown = markdown.replace(site.PAGES_URL_MARKER, site.pages_url(config.repo_url))
    markdown = markdown.replace(site.LECTURE_MARKER, f"[{site.LECTURE[0]}]({site.LECTURE[1]})")
    return markdown.replace(site.DEPENDENCIES_MARKER, site.dependencies_markdown())


def on_page_content(html, page, config, files):
    for problem in site.toc_problems(page.toc):
        site.log.warning(f"course: {page.file.src_uri}: {problem}")
    return html


def on_page_context(context, page, config, nav):
    titles = {t: label for lesson in _lessons for t, label in site.page_titles(lesson).items()}
    for side in ("previous_page", "next_page"):
        other = getattr(page, side)
        if other is not None and other.file.src_uri in titles:
            setattr(page, side, SimpleNamespace(url=other.url, title=titles[other.file.src_uri]))
    return context


def on_serve(server, config, builder):
    EXECUTED.mkdir(parents=True, exist_ok=True)
    server.watch(str(EXECUTED))
    return server
