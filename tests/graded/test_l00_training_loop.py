"""Graded tests for lesson 00 - the training loop so far."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn


def tiny_data(mod, n=10, bs=4):
    """A 2-class problem with 3 features: 10 training and 6 validation items."""
    x, y = torch.randn(n + 6, 3), torch.arange(n + 6) % 2
    train, valid = mod.Dataset(x[:n], y[:n]), mod.Dataset(x[n:], y[n:])
    return mod.DataBunch(mod.DataLoader(train, bs, shuffle=True), mod.DataLoader(valid, bs * 2), c_in=3, c_out=2)


def tiny_learner(mod, lr=0.1):
    model = nn.Linear(3, 2)
    return mod.Learner(model, torch.optim.SGD(model.parameters(), lr=lr), nn.functional.cross_entropy, tiny_data(mod))


class EventLog:
    """Stands in for a callback: records every event the runner calls, in order."""

    def __init__(self, cancel_at=()):
        self.events, self.cancel_at, self._order = [], set(cancel_at), 0

    def set_runner(self, run):
        self.run = run

    def __getattr__(self, event):
        if event.startswith(("begin_", "after_")):
            return lambda: self.events.append(event) or event in self.cancel_at
        raise AttributeError(event)


# ------------------------------------------------------------------------- data

@pytest.mark.exercise("00-dataset", points=1, hint="len(ds) is len(ds.x); ds[i] is the pair (x[i], y[i]).")
def test_dataset_len_and_getitem(mod):
    x, y = torch.arange(12.).reshape(6, 2), torch.arange(6)
    ds = mod.Dataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert torch.equal(xi, x[4]) and yi.item() == 4
    xs, ys = ds[1:3]
    assert torch.equal(xs, x[1:3]) and ys.tolist() == [1, 2]


@pytest.mark.exercise("00-dataloader", points=2, hint="Step through range(0, n, bs); the last batch may be shorter.")
def test_dataloader_batches_in_order(mod):
    ds = mod.Dataset(torch.arange(10.).unsqueeze(1), torch.arange(10))
    dl = mod.DataLoader(ds, bs=4)
    batches = list(dl)
    assert len(dl) == 3
    assert [yb.tolist() for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 1)


@pytest.mark.exercise("00-dataloader", points=2, hint="Use torch.randperm(len(ds)) when shuffle is on, a new one every pass.")
def test_dataloader_shuffles_each_pass_and_covers_everything(mod):
    ds = mod.Dataset(torch.arange(50.), torch.arange(50))
    dl = mod.DataLoader(ds, bs=8, shuffle=True)
    passes = [list(dl) for _ in range(2)]
    for batches in passes:
        assert all(torch.equal(xb, yb.float()) for xb, yb in batches)  # inputs stay with their targets
    first, second = (torch.cat([yb for _, yb in batches]).tolist() for batches in passes)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != list(range(50)) and first != second


@pytest.mark.exercise("00-get-dls", points=1, hint="Validation needs no gradients: twice the batch size, and no shuffling.")
def test_get_dls_valid_twice_the_batch_and_in_order(mod):
    train = mod.Dataset(torch.arange(40.), torch.arange(40))
    valid = mod.Dataset(torch.arange(20.), torch.arange(20))
    train_dl, valid_dl = mod.get_dls(train, valid, bs=5)
    assert [len(yb) for _, yb in train_dl] == [5] * 8
    assert [yb.tolist() for _, yb in valid_dl] == [list(range(10)), list(range(10, 20))]
    orders = [torch.cat([yb for _, yb in train_dl]).tolist() for _ in range(2)]
    assert orders[0] != list(range(40)) and orders[0] != orders[1]  # shuffled, anew each pass


@pytest.mark.exercise("00-accuracy", points=1, hint="Compare out.argmax(dim=1) with the targets and average as floats.")
def test_accuracy(mod):
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    acc = mod.accuracy(out, torch.tensor([1, 0, 0, 0]))
    assert acc.dtype == torch.float32 and acc.item() == pytest.approx(0.75)


# -------------------------------------------------------------------- callbacks

@pytest.mark.exercise("00-camel2snake", points=1, hint="Two regexes: a capital starting a word, then a lowercase/digit before a capital.")
@pytest.mark.parametrize("camel, snake", [("TrainEvalCallback", "train_eval_callback"), ("AvgStats", "avg_stats"),
                                          ("HTTPServer", "http_server"), ("lr", "lr"), ("Layer2Norm", "layer2_norm")])
def test_camel2snake(mod, camel, snake):
    assert mod.camel2snake(camel) == snake


@pytest.mark.exercise("00-camel2snake", points=1, hint="Strip a trailing 'Callback' from the class name before converting.")
def test_callback_name(mod):
    class AvgStatsCallback(mod.Callback): pass
    class Recorder(mod.Callback): pass
    assert (AvgStatsCallback().name, Recorder().name, mod.Callback().name) == ("avg_stats", "recorder", "callback")


@pytest.mark.exercise("00-callback-getattr", points=2, hint="__getattr__ is only called for missing attributes; refuse 'run' itself.")
def test_callback_reads_missing_attributes_from_its_runner(mod):
    cb = mod.Callback()
    with pytest.raises(AttributeError):
        cb.epoch  # no runner yet: a clear AttributeError, not a RecursionError
    cb.set_runner(SimpleNamespace(epoch=3, model="the model"))
    assert (cb.epoch, cb.model) == (3, "the model")
    cb.model = "own"
    assert cb.model == "own"
    with pytest.raises(AttributeError):
        cb.not_there


# ----------------------------------------------------------------------- runner

BATCH = ["begin_batch", "after_pred", "after_loss", "after_backward", "after_step", "after_batch"]
VALID_BATCH = ["begin_batch", "after_pred", "after_loss", "after_batch"]


@pytest.mark.exercise("00-runner", points=3, hint="Follow the event list in the Runner's docstring; skip backward/step when not in_train.")
def test_runner_calls_every_event_in_order(mod):
    log = EventLog()
    learn = tiny_learner(mod)
    mod.Runner(cbs=[log]).fit(1, learn)
    expected = (["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate"] + VALID_BATCH * 1
                + ["after_epoch", "after_fit"])
    assert log.events == expected


@pytest.mark.exercise("00-runner", points=2, hint="One optimiser step per training batch; validation runs under torch.no_grad().")
def test_runner_trains_only_on_training_batches(mod):
    learn = tiny_learner(mod)
    before = learn.model.weight.detach().clone()
    grads_in_valid, grad_errors = [], []

    class Spy(mod.Callback):
        def after_loss(self):
            if not self.in_train:
                grads_in_valid.append(self.loss.requires_grad)

        def after_backward(self):
            # the gradient must be this batch's alone: zero_grad ran after the previous step
            model = self.model
            fresh = torch.autograd.grad(self.loss_func(model(self.xb), self.yb), model.weight)[0]
            grad_errors.append((model.weight.grad - fresh).abs().max().item())
    mod.Runner(cbs=[Spy()]).fit(2, learn)
    assert not torch.equal(before, learn.model.weight)
    assert grads_in_valid == [False, False]
    assert len(grad_errors) == 6 and max(grad_errors) < 1e-6


@pytest.mark.exercise("00-runner", points=2, hint="A True from begin_epoch skips training; from after_epoch it ends the fit.")
def test_runner_cancels_by_returning_true(mod):
    log = EventLog(cancel_at={"begin_epoch", "after_epoch"})
    mod.Runner(cbs=[log]).fit(3, tiny_learner(mod))
    assert log.events == ["begin_fit", "begin_epoch", "begin_validate"] + VALID_BATCH + ["after_epoch", "after_fit"]


@pytest.mark.exercise("00-runner", points=2, hint="Check the return value of every event: begin_fit, begin_batch, after_loss, begin_validate.")
@pytest.mark.parametrize("cancel_at, expected", [
    ("begin_fit", ["begin_fit", "after_fit"]),
    ("begin_batch", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_batch"] * 3 + ["begin_validate"]
     + ["begin_batch", "after_batch"] + ["after_epoch", "after_fit"]),
    ("after_loss", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_pred", "after_loss", "after_batch"] * 3
     + ["begin_validate"] + VALID_BATCH + ["after_epoch", "after_fit"]),
    ("begin_validate", ["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate", "after_epoch", "after_fit"]),
])
def test_runner_cancels_at_every_level(mod, cancel_at, expected):
    log = EventLog(cancel_at={cancel_at})
    mod.Runner(cbs=[log]).fit(1, tiny_learner(mod))
    assert log.events == expected


@pytest.mark.exercise("00-runner", points=1, hint="all_batches checks `stop` before each batch and resets it after the pass.")
def test_runner_stop_ends_the_pass_and_is_reset(mod):
    log = EventLog()

    class StopAfterFirst(mod.Callback):
        def after_batch(self):
            self.run.stop = True
    mod.Runner(cbs=[log, StopAfterFirst()]).fit(2, tiny_learner(mod))
    one_pass = ["begin_fit"] + (["begin_epoch"] + BATCH + ["begin_validate"] + VALID_BATCH + ["after_epoch"]) * 2
    assert log.events == one_pass + ["after_fit"]


@pytest.mark.exercise("00-runner", points=2, hint="Put after_fit in a finally block.")
def test_runner_runs_after_fit_even_when_a_callback_fails(mod):
    log = EventLog()

    class Boom(mod.Callback):
        def after_pred(self):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        mod.Runner(cbs=[log, Boom()]).fit(1, tiny_learner(mod))
    assert log.events[-1] == "after_fit"


@pytest.mark.exercise("00-runner", points=1, hint="Sort callbacks by _order before calling them; cb_funcs are stored on the runner by name.")
def test_runner_orders_callbacks_and_names_cb_funcs(mod):
    calls = []

    class Late(mod.Callback):
        _order = 5
        def begin_fit(self): calls.append("late")

    class Early(mod.Callback):
        _order = -1
        def begin_fit(self): calls.append("early")
    run = mod.Runner(cbs=[Late()], cb_funcs=[Early])
    run.fit(1, tiny_learner(mod))
    assert calls == ["early", "late"] and isinstance(run.early, Early)


# -------------------------------------------------------------- train/eval, stats

@pytest.mark.exercise("00-train-eval", points=2, hint="n_epochs grows by 1/iters per training batch; begin_epoch resets it to the epoch number.")
def test_train_eval_counts_and_switches_mode(mod):
    model = nn.Linear(1, 1)
    run = SimpleNamespace(model=model, epoch=0, iters=4, in_train=False)
    cb = mod.TrainEvalCallback()
    cb.set_runner(run)
    cb.begin_fit()
    cb.begin_epoch()
    assert run.in_train and model.training
    for _ in range(4):
        cb.after_batch()
    assert run.n_epochs == pytest.approx(1.0) and run.n_iter == 4
    cb.begin_validate()
    assert not run.in_train and not model.training
    cb.after_batch()
    assert run.n_iter == 4  # validation batches are not counted
    run.epoch = 1
    cb.begin_epoch()
    assert run.n_epochs == 1.0 and model.training


@pytest.mark.exercise("00-avg-stats", points=2, hint="Weight each batch's loss and metric by its size; divide the totals by the count.")
def test_avg_stats_weights_by_batch_size(mod):
    stats = mod.AvgStats([lambda pred, yb: (pred == yb).float().mean()], in_train=True)
    for loss, pred, yb in [(1.0, [1, 1, 1, 1], [1, 1, 1, 1]), (4.0, [0, 1], [1, 1])]:
        stats.accumulate(SimpleNamespace(xb=torch.zeros(len(pred), 3), loss=torch.tensor(loss),
                                         pred=torch.tensor(pred), yb=torch.tensor(yb)))
    loss, acc = stats.avg_stats
    assert loss == pytest.approx((1.0 * 4 + 4.0 * 2) / 6)
    assert acc == pytest.approx(5 / 6)
    stats.reset()
    with pytest.raises(ValueError):
        stats.avg_stats


@pytest.mark.exercise("00-recorder", points=2, hint="Record only while in_train: one lr per parameter group, loss as a float.")
def test_recorder_records_training_batches_only(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.2}])
    run = SimpleNamespace(opt=opt, in_train=True, loss=torch.tensor(0.5, requires_grad=True))
    rec = mod.Recorder()
    rec.set_runner(run)
    rec.begin_fit()
    rec.after_batch()
    opt.param_groups[0]["lr"], run.loss = 0.05, torch.tensor(0.25)
    rec.after_batch()
    run.in_train = False
    rec.after_batch()
    assert rec.lrs == [[0.1, 0.05], [0.2, 0.2]]
    assert rec.losses == [0.5, 0.25] and all(type(x) is float for x in rec.losses)


# -------------------------------------------------------------------- schedules

@pytest.mark.exercise("00-annealers", points=2, hint="lin: start + pos*(end-start); cos: half a cosine; exp: start*(end/start)**pos.")
def test_annealers(mod):
    lin, cos, exp = mod.sched_lin(1.0, 3.0), mod.sched_cos(1.0, 3.0), mod.sched_exp(0.01, 1.0)
    assert [lin(p) for p in (0, 0.25, 1)] == pytest.approx([1.0, 1.5, 3.0])
    assert [cos(p) for p in (0, 0.5, 1)] == pytest.approx([1.0, 2.0, 3.0])
    assert cos(0.1) - cos(0) < lin(0.1) - lin(0)  # flat at the start
    assert [exp(p) for p in (0, 0.5, 1)] == pytest.approx([0.01, 0.1, 1.0])


@pytest.mark.exercise("00-combine-scheds", points=3, hint="Find the piece pos falls in, then rescale pos to 0..1 inside that piece.")
def test_combine_scheds_pieces(mod):
    sched = mod.combine_scheds([0.3, 0.7], [mod.sched_lin(0.0, 0.6), mod.sched_lin(0.6, 0.1)])
    assert sched(0.0) == pytest.approx(0.0)
    assert sched(0.15) == pytest.approx(0.3)
    assert sched(0.3) == pytest.approx(0.6)
    assert sched(0.65) == pytest.approx(0.35)
    assert sched(1.0) == pytest.approx(0.1)  # the very end belongs to the last piece


@pytest.mark.exercise("00-combine-scheds", points=1, hint="Raise ValueError when the fractions don't sum to 1 or don't match the schedules.")
def test_combine_scheds_rejects_bad_fractions(mod):
    with pytest.raises(ValueError):
        mod.combine_scheds([0.5, 0.6], [mod.sched_no(1, 1), mod.sched_no(1, 1)])
    with pytest.raises(ValueError):
        mod.combine_scheds([1.0], [mod.sched_no(1, 1), mod.sched_no(1, 1)])


@pytest.mark.exercise("00-param-scheduler", points=2, hint="pos = n_epochs / epochs; write f(pos) into every param group.")
def test_param_scheduler_sets_each_group(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=1.0)
    run = SimpleNamespace(opt=opt, n_epochs=1.5, epochs=3, in_train=True)
    sched = mod.ParamScheduler("lr", [mod.sched_lin(0.0, 1.0), mod.sched_lin(1.0, 0.0)])
    sched.set_runner(run)
    sched.begin_fit()
    sched.begin_batch()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.5])
    run.n_epochs = 0.75
    sched.begin_batch()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.25, 0.75])


@pytest.mark.exercise("00-param-scheduler", points=1, hint="Only training batches change the schedule.")
def test_param_scheduler_in_a_real_fit(mod):
    learn = tiny_learner(mod)
    rec = mod.Recorder()
    mod.Runner(cbs=[rec, mod.ParamScheduler("lr", mod.sched_lin(1.0, 0.0))]).fit(2, learn)
    # 3 training batches per epoch: positions 0, 1/6, ..., 5/6 -> lrs 1, 5/6, ..., 1/6
    assert rec.lrs[0] == pytest.approx([1 - i / 6 for i in range(6)])
    assert math.isclose(learn.opt.param_groups[0]["lr"], 1 / 6)
