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
