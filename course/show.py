"""Show library code inside a lesson, so lessons never keep a second copy of it.

Code that holds an exercise (a `# BEGIN SOLUTION NN-id` region) is folded behind a "Show our version"
control (an HTML `<details>` element, which JupyterLab and the course site both render), so that a
learner reading top to bottom can write it first. Other code stays in view.
"""

import html
import inspect
import re
import textwrap
from pathlib import Path

from course.paths import shown

# the markers of an exercise's region in solutions/ (course.stubs turns each region into a stub)
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION (?P<id>\d\d-[a-z0-9-]+)\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


def source(obj) -> str:
    """The source of `obj` as the learner should read it: dedented, without the solution markers."""
    lines = inspect.getsource(obj).splitlines()
    return textwrap.dedent("\n".join(line for line in lines if not (BEGIN.match(line) or END.match(line))))


def exercises_in(obj) -> list[str]:
    """The exercise ids of the solution regions inside `obj`'s source, in order."""
    ids = [m["id"] for line in inspect.getsource(obj).splitlines() if (m := BEGIN.match(line))]
    return list(dict.fromkeys(ids))


def _where(obj) -> str:
    return f"`{shown(Path(inspect.getsourcefile(obj)))}`, line {inspect.getsourcelines(obj)[1]}"


def markdown(obj) -> str:
    """`obj`'s source as a Markdown code block, with the file and line it comes from."""
    return f"{_where(obj)}:\n\n```python\n{source(obj)}\n```"


def folded_html(obj) -> str:
    """`obj`'s source, highlighted, inside a closed `<details>` whose summary names its exercises."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    ids = ", ".join(f"<code>{i}</code>" for i in exercises_in(obj))
    where = html.escape(_where(obj).replace("`", ""))
    code = highlight(source(obj), PythonLexer(), HtmlFormatter(noclasses=True, style="friendly"))
    return (f'<details class="course-solution"><summary><strong>Show our version</strong> '
            f"(exercise {ids}: try it yourself first)</summary>\n"
            f'<p class="course-source">{where}:</p>\n{code}</details>')


def show_source(*objs, fold: bool = True) -> None:
    """Display the source of each object with the file and lines it comes from; exercise code folded.

    `fold=False` shows exercise code in full: for an earlier lesson's exercise that this lesson
    discusses (the learner has written it already)."""
    for obj in objs:
        try:
            from IPython import get_ipython
            from IPython.display import HTML, Markdown, display
            if get_ipython() is not None:
                display(HTML(folded_html(obj)) if fold and exercises_in(obj) else Markdown(markdown(obj)))
                continue
        except ImportError:
            pass
        print(markdown(obj))
