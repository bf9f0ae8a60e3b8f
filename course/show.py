"""Show library code inside a lesson, so lessons never keep a second copy of it."""

import inspect
import textwrap
from pathlib import Path

from course.stubs import BEGIN, END, shown


def source(obj) -> str:
    """The source of `obj` as the learner should read it: dedented, without the solution markers."""
    lines = inspect.getsource(obj).splitlines()
    return textwrap.dedent("\n".join(line for line in lines if not (BEGIN.match(line) or END.match(line))))


def show_source(*objs) -> None:
    """Display the source of each object with the file and lines it comes from."""
    for obj in objs:
        start = inspect.getsourcelines(obj)[1]
        text = f"`{shown(Path(inspect.getsourcefile(obj)))}`, line {start}:\n\n```python\n{source(obj)}\n```"
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display
            if get_ipython() is not None:
                display(Markdown(text))
                continue
        except ImportError:
            pass
        print(text)
