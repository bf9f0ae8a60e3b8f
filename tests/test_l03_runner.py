"""Lesson 03's Runner dispatches events from a table built per fit: it must behave exactly like lesson 02's."""

import torch
from torch import nn

from solutions import l02_exceptions as l02
from solutions import l03_cnn_hooks as l03


def tiny_learner():
    torch.manual_seed(0)
    x, y = torch.randn(12, 3), torch.arange(12) % 2
    data = l02.DataBunch(l02.DataLoader(l02.Dataset(x, y), 4), l02.DataLoader(l02.Dataset(x[:4], y[:4]), 8),
                         c_in=3, c_out=2)
    model = nn.Linear(3, 2)
    return l02.Learner(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.functional.cross_entropy, data)


class Canceller(l02.Callback):
    """Skips training batch 1, cuts the training pass of epoch 1 at its second batch, stops in epoch 2."""

    def begin_batch(self):
        if self.in_train and self.n_iter == 1:
            raise l02.CancelBatchException()
        if self.in_train and self.epoch == 1 and self.n_iter == 4:
            raise l02.CancelEpochException()

    def after_step(self):
        if self.epoch == 2:
            raise l02.CancelTrainException()


def trace(runner, *cbs):
    events = l02.TraceEvents()
    run = runner(cbs=[events, *cbs], cb_funcs=[l02.Recorder])
    run.fit(3, tiny_learner())
    return events.events, run.recorder.losses


def test_same_events_and_results_as_lesson_02():
    old_events, old_losses = trace(l02.Runner, Canceller())
    new_events, new_losses = trace(l03.Runner, Canceller())
    assert new_events == old_events
    assert new_losses == old_losses
    assert {"after_cancel_batch", "after_cancel_epoch", "after_cancel_train"} <= set(new_events)


def test_errors_propagate_after_after_fit():
    class Broken(l02.Callback):
        def after_loss(self):
            raise ValueError("broken metric")

    events = l02.TraceEvents()
    run = l03.Runner(cbs=[events, Broken()])
    try:
        run.fit(1, tiny_learner())
    except ValueError:
        pass
    else:
        raise AssertionError("the error was swallowed")
    assert events.events[-2:] == ["after_batch", "after_fit"]


def test_callbacks_are_read_again_at_each_fit():
    run, learn = l03.Runner(), tiny_learner()
    run.fit(1, learn)
    events = l02.TraceEvents()
    run.cbs.append(events)
    run.fit(1, learn)
    assert events.events[0] == "begin_fit" and events.events[-1] == "after_fit"


def test_progress_callback_prints_one_line_per_epoch_or_draws_a_bar(capsys):
    lines = []
    l03.Runner(cbs=[l03.ProgressCallback(bar=False, report=lines.append)]).fit(2, tiny_learner())
    assert [line.split(":")[0] for line in lines] == ["epoch 1 of 2", "epoch 2 of 2"]
    assert all("running training loss" in line for line in lines)
    l03.Runner(cbs=[l03.ProgressCallback(bar=True, report=lines.append)]).fit(1, tiny_learner())
    assert "epoch 1 of 1" in capsys.readouterr().err  # tqdm draws on stderr
