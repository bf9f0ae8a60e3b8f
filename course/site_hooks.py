"""MkDocs hooks (mkdocs.yml `hooks:`) that put the course's generated pages into the site.

Each hook is a thin call into `course.site`, in the order MkDocs fires them:

- on_config: install MathJax if missing (fails fast without npm), collect the graded tests (their
  points, hints and names: `course.grade.collect`), execute the lessons that changed
  (cached), pin mkdocs-jupyter's cache under build/, put one section per lesson found where
  mkdocs.yml's `nav:` has its Lessons placeholder;
- on_files: add each lesson's executed notebook, its exercises and solutions pages, and MathJax;
- on_page_markdown: fill the markers of the hand-written pages (the home page's lesson map, the
  files a lesson's execution depends on, the Challenges page's leaderboards);
- on_page_content: polish a lesson's notebook HTML (math, shared CSS, plots as files, links bar);
  give the page its full title;
- on_page_context: the footer's previous/next links say which lesson a "Lesson", "Exercises" or
  "Solutions" page belongs to.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url
from mkdocs_jupyter.plugin import NotebookFile

from course import site
from course.challenges import leaderboard
from course.stubs import MarkerError

_lessons: list[site.Lesson] = []
_executed: dict[str, Path] = {}


def on_config(config):
    global _lessons, _executed
    try:
        site.ensure_mathjax()
        _lessons = site.all_lessons()
        config.nav = site.nav(config.nav, _lessons)
        _executed = site.execute_lessons(_lessons)
    except site.SiteError as e:
        raise PluginError(str(e)) from None
    jupyter = config.plugins["mkdocs-jupyter"].config
    jupyter["cache_dir"] = str(site.BUILD / "mkdocs-jupyter")  # not .cache/ in whatever folder mkdocs ran from
    return config


def on_files(files, config):
    try:
        for lesson in _lessons:
            files.append(_notebook_page(config, lesson.page, _executed[lesson.stem]))
            if lesson.solutions:
                files.append(File.generated(config, lesson.exercises_page, content=site.exercises_markdown(lesson)))
                files.append(File.generated(config, lesson.solutions_page, content=site.solutions_markdown(lesson)))
        for uri, path in site.mathjax_files():
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    except (site.SiteError, MarkerError, SyntaxError) as e:
        raise PluginError(f"course: {e}") from None
    return files


def on_page_markdown(markdown, page, config, files):
    if site.LESSON_MAP_MARKER in markdown:
        to_docs_root = "../" * page.file.src_uri.count("/")
        markdown = markdown.replace(site.LESSON_MAP_MARKER, site.lesson_map_markdown(_lessons, to_docs_root))
    try:
        markdown = leaderboard.fill(markdown)  # the Challenges page's tables, from the committed results
    except leaderboard.LeaderboardError as e:
        raise PluginError(f"course: {page.file.src_uri}: {e}") from None
    return markdown.replace(site.DEPENDENCIES_MARKER, site.dependencies_markdown())


def on_page_content(html, page, config, files):
    lesson = next((x for x in _lessons if x.page == page.file.src_uri), None)
    if lesson is None:
        return html
    page.meta["title"] = lesson.label  # the browser tab; the navigation keeps its short "Lesson"
    links = {"Download the notebook": _executed[lesson.stem].name}
    if lesson.solutions:
        for label, uri in (("Exercises", lesson.exercises_page), ("Solutions", lesson.solutions_page)):
            links[label] = get_relative_url(files.get_file_from_path(uri).url, page.url)
    return site.polish_notebook(html, Path(config.site_dir), page.url,
                                Path(page.file.abs_dest_path).parent, links)


def on_page_context(context, page, config, nav):
    titles = {t: label for lesson in _lessons for t, label in site.page_titles(lesson).items()}
    for side in ("previous_page", "next_page"):
        other = getattr(page, side)
        if other is not None and other.file.src_uri in titles:
            setattr(page, side, SimpleNamespace(url=other.url, title=titles[other.file.src_uri]))
    return context


def _notebook_page(config, uri: str, notebook: Path) -> File:
    """A page at `uri` rendered by mkdocs-jupyter from `notebook`, a file outside docs/.

    Hooks run after the plugins, so the notebook is wrapped here as mkdocs-jupyter's on_files would
    have. Its wrapper takes the source path from the file's folder, which a generated file lacks:
    it is set on the wrapper explicitly.
    """
    page = NotebookFile(File.generated(config, uri, abs_src_path=str(notebook)), **config)
    page.abs_src_path = str(notebook)
    return page
