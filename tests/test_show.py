"""show_source: lessons show library code without its exercise markers."""

from course.show import show_source, source
from solutions.l00_training_loop import Runner


def test_source_is_dedented_and_has_no_markers():
    text = source(Runner.all_batches)
    assert text.startswith("def all_batches(self, dl):")
    assert "SOLUTION" not in text and "self.one_batch(xb, yb)" in text


def test_show_source_prints_where_the_code_lives(capsys):
    show_source(Runner.all_batches)
    out = capsys.readouterr().out
    assert out.startswith("`solutions/l00_training_loop.py`, line ") and "```python\ndef all_batches" in out


def _displayed(monkeypatch, *objs, **options):
    """What show_source displays inside a notebook (IPython's display captured)."""
    import IPython
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_source(*objs, **options)
    return shown


def test_exercise_code_is_folded_behind_show_our_version(monkeypatch):
    (out,) = _displayed(monkeypatch, Runner.all_batches)
    html = out._repr_html_()
    assert html.startswith('<details class="course-solution"><summary><strong>Show our version</strong>')
    assert "<code>00-runner</code>" in html and "SOLUTION" not in html
    assert "</summary>" in html and html.index("</summary>") < html.index("one_batch")  # the code is inside
    assert html.rstrip().endswith("</details>") and "<details open" not in html


def test_code_that_is_no_exercise_stays_in_view(monkeypatch):
    from solutions.l00_training_loop import annealer
    (out,) = _displayed(monkeypatch, annealer)
    assert out._repr_markdown_().startswith("`solutions/l00_training_loop.py`, line ")
    assert "details" not in out._repr_markdown_()


def test_an_earlier_lessons_exercise_can_be_shown_in_full(monkeypatch):
    (out,) = _displayed(monkeypatch, Runner.one_batch, fold=False)
    assert "def one_batch" in out._repr_markdown_() and "details" not in out._repr_markdown_()
