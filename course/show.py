"""Show library code inside a lesson, so lessons never keep a second copy of it.

Code that holds an exercise (a `# BEGIN SOLUTION NN-id` region) is folded behind a "Show our version" control
(an HTML `<details>`, which JupyterLab and the course site render), so that a learner can write it first.
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


def show_source(*objs, fold: bool = True) -> None:
    """Display the source of each object with the file and line it comes from; exercise code folded
    (`fold=False` shows it in full: an earlier lesson's exercise, which the learner has written)."""
    from IPython import get_ipython
    from IPython.display import HTML, Markdown, display
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    for obj in objs:
        where = f"`{shown(Path(inspect.getsourcefile(obj)))}`, line {inspect.getsourcelines(obj)[1]}"
        ids = dict.fromkeys(m["id"] for line in inspect.getsource(obj).splitlines() if (m := BEGIN.match(line)))
        if get_ipython() is None:
            print(f"{where}:\n\n```python\n{source(obj)}\n```")
        elif fold and ids:
            code = highlight(source(obj), PythonLexer(), HtmlFormatter(noclasses=True, style="friendly"))
            display(HTML(f'<details class="course-solution"><summary><strong>Show our version</strong> (exercise '
                         f'{", ".join(f"<code>{i}</code>" for i in ids)}: try it yourself first)</summary>\n'
                         f'<p class="course-source">{html.escape(where.replace("`", ""))}:</p>\n{code}</details>'))
        else:
            display(Markdown(f"{where}:\n\n```python\n{source(obj)}\n```"))
