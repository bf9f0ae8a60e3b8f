"""show_source: lessons show library code without its exercise markers, exercise code folded."""

import IPython
import IPython.display
import pytest

from course.show import show_source, source
from solutions.l00_training_loop import Runner, annealer


def test_source_is_dedented_and_has_no_markers_and_says_where_it_lives(capsys):
    text = source(Runner.all_batches)
    assert text.startswith("def all_batches(self, dl):")
    assert "SOLUTION" not in text and "self.one_batch(xb, yb)" in text
    show_source(Runner.all_batches)  # outside a notebook: printed
    out = capsys.readouterr().out
    assert out.startswith("`solutions/l00_training_loop.py`, line ") and "```python\ndef all_batches" in out


@pytest.mark.parametrize("obj, fold, folded", [(Runner.all_batches, True, True), (annealer, True, False),
                                                (Runner.one_batch, False, False)])
def test_in_a_notebook_exercise_code_is_folded_behind_show_our_version(monkeypatch, obj, fold, folded):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_source(obj, fold=fold)
    (out,) = shown
    if folded:
        text = out._repr_html_()
        assert text.startswith('<details class="course-solution"><summary><strong>Show our version</strong>')
        assert "<code>00-runner</code>" in text and "SOLUTION" not in text and "solutions/l00_training_loop.py" in text
        assert text.index("</summary>") < text.index("one_batch") and text.rstrip().endswith("</details>")
    else:
        text = out._repr_markdown_()
        assert text.startswith("`solutions/l00_training_loop.py`, line ") and "details" not in text
        assert f"def {obj.__name__}" in text
