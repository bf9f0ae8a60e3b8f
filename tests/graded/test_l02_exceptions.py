"""Graded tests for lesson 02 - exceptions as control flow, and a learning-rate finder."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

BATCH = ["begin_batch", "after_pred", "after_loss", "after_backward", "after_step", "after_batch"]
VALID_BATCH = ["begin_batch", "after_pred", "after_loss", "after_batch"]


def tiny_data(mod, n=10, bs=4):
    """A 2-class problem with 3 features: `n` training items (batches of `bs`) and 6 validation items (one batch)."""
    x, y = torch.randn(n + 6, 3), torch.arange(n + 6) % 2
    train, valid = mod.Dataset(x[:n], y[:n]), mod.Dataset(x[n:], y[n:])
    return mod.DataBunch(mod.DataLoader(train, bs, shuffle=True), mod.DataLoader(valid, 8), c_in=3, c_out=2)


def tiny_learner(mod, n=10, bs=4, lr=0.1, momentum=0.0):
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    return mod.Learner(model, opt, nn.functional.cross_entropy, tiny_data(mod, n, bs))


class EventLog:
    """Stands in for a callback: records every event it is called with, in order, and raises
    `exc` at the `nth` time it sees `event`, for each rule `(event, nth, exc)`."""

    _order = 0

    def __init__(self, *rules):
        self.events, self.rules = [], rules

    def set_runner(self, run):
        self.run = run

    def __call__(self, event):
        self.events.append(event)
        for at, nth, exc in self.rules:
            if at == event and self.events.count(event) == nth:
                raise exc


def ready(run, learn, in_train=True):
    """Do what `fit` does before the first batch, so a test can call one_batch / all_batches alone."""
    run.learn, run.epochs, run.epoch, run.iters, run.loss = learn, 1, 0, 3, torch.tensor(0.0)
    for cb in run.cbs:
        cb.set_runner(run)
    run("begin_fit")
    run("begin_epoch")
    if not in_train:
        run("begin_validate")
    for cb in run.cbs:
        if isinstance(cb, EventLog):
            cb.events.clear()


def first_batch(learn):
    return next(iter(learn.data.train_dl))


# -------------------------------------------------------------------- dispatch

@pytest.mark.exercise("02-callback-call", points=2,
                      hint="getattr(self, event, None) finds the handler (or None); call it and turn its answer into a bool.")
def test_callback_call_runs_its_handler(mod):
    calls = []

    class Cb(mod.Callback):
        def begin_fit(self):
            calls.append("begin_fit")

        def after_loss(self):
            return True
    cb = Cb()
    assert cb("begin_fit") is False and calls == ["begin_fit"]
    assert cb("after_loss") is True
    assert cb("after_step") is False  # no handler, no runner yet: not an error
    cb.set_runner(SimpleNamespace(epoch=0))
    assert cb("after_pred") is False
    assert calls == ["begin_fit"]


@pytest.mark.exercise("02-callback-call", points=2,
                      hint="Runner.__call__ calls cb(event) for every callback sorted by _order, whatever they return.")
def test_runner_call_calls_every_callback_through_its_call(mod):
    seen = []

    class Tag(mod.Callback):
        def __init__(self, tag, order):
            self.tag, self._order = tag, order

        def begin_fit(self):
            seen.append(self.tag)
            return True  # in this Runner a True cancels nothing: the others still run

    class EveryEvent(mod.Callback):
        _order = 3

        def __call__(self, event):
            seen.append(f"every:{event}")
            return super().__call__(event)
    run = mod.Runner(cbs=[Tag("b", 2), EveryEvent(), Tag("a", 1)])
    for cb in run.cbs:
        cb.set_runner(run)
    run("begin_fit")
    assert seen == ["a", "b", "every:begin_fit"]
    run("after_cancel_batch")  # an event nobody handles still reaches a callback that overrides __call__
    assert seen[-1] == "every:after_cancel_batch" and len(seen) == 4


# ------------------------------------------------------------------ one_batch

@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="Same steps as lesson 00's one_batch, but inside try/except CancelBatchException/finally.")
def test_one_batch_events_in_training_and_validation(mod):
    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    w = learn.model.weight.detach().clone()
    run.one_batch(*first_batch(learn))
    assert log.events == BATCH
    assert not torch.equal(w, learn.model.weight)  # it stepped

    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn, in_train=False)
    w = learn.model.weight.detach().clone()
    run.one_batch(*first_batch(learn))
    assert log.events == VALID_BATCH
    assert torch.equal(w, learn.model.weight)


@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="except CancelBatchException: call after_cancel_batch; finally: call after_batch.")
def test_cancel_batch_skips_the_rest_of_the_batch(mod):
    for k, at in enumerate(BATCH[:-1]):
        log, learn = EventLog((at, 1, mod.CancelBatchException())), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        w = learn.model.weight.detach().clone()
        run.one_batch(*first_batch(learn))  # caught inside one_batch: nothing escapes
        assert log.events == BATCH[:k + 1] + ["after_cancel_batch", "after_batch"], f"cancelled at {at}"
        assert torch.equal(w, learn.model.weight) == (at != "after_step"), f"cancelled at {at}"


@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="Catch only CancelBatchException; the finally block runs after_batch whatever is raised.")
def test_one_batch_lets_other_exceptions_through_after_after_batch(mod):
    for exc in (ValueError("a bug"), mod.CancelEpochException(), mod.CancelTrainException()):
        log, learn = EventLog(("after_loss", 1, exc)), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        with pytest.raises(type(exc)):
            run.one_batch(*first_batch(learn))
        assert log.events == ["begin_batch", "after_pred", "after_loss", "after_batch"], type(exc).__name__


@pytest.mark.exercise("02-cancel-batch", points=1,
                      hint="Zero the gradients just before loss.backward(), not after the step.")
def test_a_cancelled_batch_leaves_no_gradients_to_the_next(mod):
    class Grab(mod.Callback):
        _order = -1  # before the EventLog that cancels

        def after_backward(self):
            self.grad = self.model.weight.grad.clone()
    for at in ("after_backward", "after_step"):
        grab, learn = Grab(), tiny_learner(mod)
        run = mod.Runner(cbs=[EventLog((at, 1, mod.CancelBatchException())), grab])
        ready(run, learn)
        (x1, y1), (x2, y2) = list(learn.data.train_dl)[:2]
        run.one_batch(x1, y1)  # cancelled after its backward: its gradients must not reach the next step
        w = learn.model.weight.detach().clone().requires_grad_()
        (expected,) = torch.autograd.grad(learn.loss_func(x2 @ w.T + learn.model.bias.detach(), y2), w)
        run.one_batch(x2, y2)
        assert torch.allclose(grab.grad, expected), f"cancelled at {at}"


# ---------------------------------------------------------------- all_batches

@pytest.mark.exercise("02-cancel-epoch", points=2,
                      hint="Set self.iters = len(dl), then wrap the loop over dl in try/except CancelEpochException.")
def test_cancel_epoch_ends_the_pass(mod):
    log, learn = EventLog(), tiny_learner(mod, n=10, bs=2)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    assert run.iters == 5 and log.events == BATCH * 5

    cut = ["begin_batch", "after_pred", "after_loss", "after_batch", "after_cancel_epoch"]
    log, learn = EventLog(("after_loss", 2, mod.CancelEpochException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)  # caught inside all_batches: nothing escapes
    assert log.events == BATCH + cut

    log, learn = EventLog(("after_batch", 2, mod.CancelEpochException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    assert log.events == BATCH * 2 + ["after_cancel_epoch"]


@pytest.mark.exercise("02-cancel-epoch", points=2,
                      hint="A skipped batch does not end the pass; CancelTrainException and errors are not caught here.")
def test_all_batches_goes_on_after_a_cancelled_batch_and_lets_the_rest_through(mod):
    log, learn = EventLog(("begin_batch", 1, mod.CancelBatchException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    assert log.events == ["begin_batch", "after_cancel_batch", "after_batch"] + BATCH * 2

    for exc in (mod.CancelTrainException(), KeyError("a bug")):
        log, learn = EventLog(("after_step", 1, exc)), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        with pytest.raises(type(exc)):
            run.all_batches(learn.data.train_dl)
        assert log.events == BATCH, type(exc).__name__


# ------------------------------------------------------------------------ fit

@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="The loop of lesson 00's fit, without the `if self(...)` checks; drop the learner at the end.")
def test_fit_calls_every_event_in_order(mod):
    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    run.fit(1, learn)
    assert log.events == (["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate"] + VALID_BATCH
                          + ["after_epoch", "after_fit"])
    assert run.learn is None


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="except CancelTrainException: after_cancel_train; finally: after_fit, then self.learn = None.")
def test_cancel_train_ends_the_fit(mod):
    log = EventLog(("after_step", 2, mod.CancelTrainException()))
    run = mod.Runner(cbs=[log])
    run.fit(2, tiny_learner(mod))  # caught inside fit: nothing escapes
    assert log.events == ["begin_fit", "begin_epoch"] + BATCH * 2 + ["after_cancel_train", "after_fit"]
    assert run.learn is None

    log = EventLog(("begin_fit", 1, mod.CancelTrainException()))
    mod.Runner(cbs=[log]).fit(2, tiny_learner(mod))
    assert log.events == ["begin_fit", "after_cancel_train", "after_fit"]

    log = EventLog(("after_epoch", 1, mod.CancelTrainException()))
    mod.Runner(cbs=[log]).fit(3, tiny_learner(mod))
    assert log.events.count("begin_epoch") == 1 and log.events[-3:] == ["after_epoch", "after_cancel_train", "after_fit"]


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="A cancelled batch or pass is handled below fit: the epoch loop just carries on.")
def test_fit_carries_on_after_a_cancelled_batch_or_pass(mod):
    log = EventLog(("begin_batch", 2, mod.CancelEpochException()), ("after_pred", 4, mod.CancelBatchException()))
    mod.Runner(cbs=[log]).fit(2, tiny_learner(mod))
    epoch0 = (["begin_epoch"] + BATCH + ["begin_batch", "after_batch", "after_cancel_epoch"]
              + ["begin_validate"] + VALID_BATCH + ["after_epoch"])
    skipped = ["begin_batch", "after_pred", "after_cancel_batch", "after_batch"]  # 4th after_pred: epoch 1, 2nd batch
    epoch1 = ["begin_epoch"] + BATCH + skipped + BATCH + ["begin_validate"] + VALID_BATCH + ["after_epoch"]
    assert log.events == ["begin_fit"] + epoch0 + epoch1 + ["after_fit"]


@pytest.mark.exercise("02-cancel-train", points=1,
                      hint="Run begin_validate and the validation pass inside `with torch.no_grad():`, and only those.")
def test_fit_validates_without_gradients(mod):
    class GradLog(mod.Callback):
        def begin_fit(self):
            self.seen = []

        def begin_validate(self):
            self.seen.append(("begin_validate", torch.is_grad_enabled()))

        def after_loss(self):
            self.seen.append(("train" if self.in_train else "valid", self.loss.requires_grad))
    log = GradLog()
    mod.Runner(cbs=[log]).fit(2, tiny_learner(mod))
    assert log.seen == (([("train", True)] * 3 + [("begin_validate", False), ("valid", False)]) * 2)
    assert torch.is_grad_enabled()  # and gradients are back on after the fit


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="Don't catch ordinary exceptions: the finally blocks run after_batch and after_fit, then it propagates.")
def test_an_error_in_a_callback_propagates_after_after_fit(mod):
    class Broken(mod.Callback):
        def after_loss(self):
            raise ValueError("broken metric")
    log = EventLog()
    run = mod.Runner(cbs=[log, Broken()])
    with pytest.raises(ValueError, match="broken metric") as excinfo:
        run.fit(2, tiny_learner(mod))
    assert log.events == ["begin_fit", "begin_epoch", "begin_batch", "after_pred", "after_loss",
                          "after_batch", "after_fit"]
    assert any(entry.name == "after_loss" for entry in excinfo.traceback)  # the traceback leads to the bug
    assert run.learn is None


# ------------------------------------------------------------------ stop after

@pytest.mark.exercise("02-stop-after", points=2,
                      hint="In after_step: report self.n_iter if asked, then raise CancelTrainException once n_iter >= n.")
def test_stop_after_step(mod):
    reported, log = [], EventLog()
    run = mod.Runner(cbs=[log, mod.StopAfterStep(6, report=reported.append)])
    run.fit(3, tiny_learner(mod, n=20, bs=4))  # 5 batches an epoch: steps 0-4, validation, steps 5 and 6
    assert reported == [0, 1, 2, 3, 4, 5, 6]
    assert log.events.count("after_step") == 7 and log.events.count("begin_validate") == 1
    assert log.events[-4:] == ["after_step", "after_batch", "after_cancel_train", "after_fit"]

    log = EventLog()
    mod.Runner(cbs=[log, mod.StopAfterStep(0)]).fit(2, tiny_learner(mod))
    assert log.events == ["begin_fit", "begin_epoch"] + BATCH + ["after_cancel_train", "after_fit"]


# ------------------------------------------------------------------- LR finder

@pytest.mark.exercise("02-lr-schedule", points=2,
                      hint="lesson 00's sched_exp(min_lr, max_lr) at pos = i / (max_iter - 1).")
def test_lr_find_schedule(mod):
    lrs = [mod.lr_find_schedule(i, 5, 1e-4, 1.0) for i in range(5)]
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert mod.lr_find_schedule(0) == pytest.approx(1e-6)
    assert mod.lr_find_schedule(99) == pytest.approx(10.0)
    ratios = [mod.lr_find_schedule(i + 1) / mod.lr_find_schedule(i) for i in range(99)]
    assert ratios == pytest.approx([10 ** (7 / 99)] * 99)


@pytest.mark.exercise("02-lr-schedule", points=1,
                      hint="LRFinder.begin_batch writes lr_find_schedule(n_iter, ...) into every parameter group.")
def test_lr_finder_sets_the_lr_of_every_group(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.5)
    run = SimpleNamespace(opt=opt, n_iter=2, in_train=True)
    finder = mod.LRFinder(max_iter=5, min_lr=1e-4, max_lr=1.0)
    finder.set_runner(run)
    finder.begin_batch()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-2, 1e-2])
    run.in_train, run.n_iter = False, 3
    finder.begin_batch()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-2, 1e-2])


@pytest.mark.exercise("02-smooth-loss", points=2,
                      hint="avg = beta * avg + (1 - beta) * x; value = avg / (1 - beta ** n).")
def test_debiased_ema(mod):
    ema = mod.DebiasedEMA(0.9)
    with pytest.raises(ValueError):
        ema.value
    assert ema.update(5.0) == pytest.approx(5.0)  # debiased: the first value comes back whole
    assert ema.avg == pytest.approx(0.5) and ema.n == 1  # the raw average starts near 0
    assert ema.update(5.0) == pytest.approx(5.0)  # a constant stays constant

    xs, beta, avg = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0], 0.8, 0.0
    ema = mod.DebiasedEMA(beta)
    for n, x in enumerate(xs, 1):
        avg = beta * avg + (1 - beta) * x
        assert ema.update(x) == pytest.approx(avg / (1 - beta ** n))
        assert ema.value == pytest.approx(avg / (1 - beta ** n))


@pytest.mark.exercise("02-smooth-loss", points=1,
                      hint="With beta = 0 the average is just the latest value; a larger beta averages more.")
def test_smoothing_reduces_noise(mod):
    xs = [1.0, 4.0, 2.0, 8.0]
    assert mod.smooth(xs, beta=0.0) == pytest.approx(xs)
    noisy = (torch.linspace(3, 1, 200) + 0.5 * torch.randn(200)).tolist()
    smoothed = mod.smooth(noisy, beta=0.9)
    wiggle = lambda v: sum(abs(b - a) for a, b in zip(v, v[1:]))
    assert wiggle(smoothed) < wiggle(noisy) / 4
    assert smoothed[0] == pytest.approx(noisy[0]) and abs(smoothed[-1] - 1) < 0.5


@pytest.mark.exercise("02-lr-stop-rule", points=1,
                      hint="Stop when loss > stop_factor * best_loss - and when loss is nan or inf (nan > x is False!).")
def test_should_stop(mod):
    assert not mod.should_stop(5.0, 1.0, 10)
    assert not mod.should_stop(10.0, 1.0, 10)  # "more than": equal is not enough
    assert mod.should_stop(10.5, 1.0, 10)
    assert mod.should_stop(3.5, 1.0, 3) and not mod.should_stop(3.5, 1.0)  # the factor defaults to 10
    assert not mod.should_stop(1e6, math.inf, 10)  # nothing seen yet
    assert mod.should_stop(math.nan, 1.0, 10) and mod.should_stop(math.inf, 1.0, 10)


@pytest.mark.exercise("02-lr-stop-rule", points=2,
                      hint="after_step: smooth self.loss.item() with self.ema, check should_stop and the last iteration, then update best_loss.")
def test_lr_finder_after_step_stops_on_the_rule_or_the_last_iteration(mod):
    def feed(finder, losses, n_iter0=0):
        """Feed losses one step at a time; return the step that raised CancelTrainException (or None)."""
        run = SimpleNamespace(n_iter=n_iter0, loss=None)
        finder.set_runner(run)
        finder.reset()
        for k, loss in enumerate(losses):
            run.loss, run.n_iter = torch.tensor(loss), n_iter0 + k
            try:
                finder.after_step()
            except mod.CancelTrainException:
                return k
        return None

    raw = mod.LRFinder(max_iter=100, stop_factor=10)
    assert feed(raw, [2.0, 1.0, 9.0, 3.0]) is None and raw.best_loss == pytest.approx(1.0)
    assert feed(raw, [2.0, 1.0, 9.0, 10.5, 1.0]) == 3
    assert feed(raw, [2.0, math.nan]) == 1
    assert feed(raw, [2.0, 2.0, 2.0], n_iter0=97) == 2  # iteration 99 is the last of 100
    # smoothed: one bad batch (4 > 3 x 1) is not enough, a second one is
    smoothed = mod.LRFinder(max_iter=100, stop_factor=3, beta=0.5)
    assert feed(smoothed, [1.0, 1.0, 1.0, 4.0]) is None
    assert feed(smoothed, [1.0, 1.0, 1.0, 4.0, 4.0]) == 4


@pytest.mark.exercise("02-restore-state", points=2,
                      hint="state_dict() returns the live tensors: keep a copy.deepcopy of it, and load_state_dict it back.")
def test_save_and_restore_state(mod):
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()  # now the optimiser has momentum buffers
    weight, buf = model.weight.detach().clone(), opt.state[model.weight]["momentum_buffer"].clone()
    finder = mod.LRFinder()
    finder.set_runner(SimpleNamespace(model=model, opt=opt))
    finder.save_state()
    with torch.no_grad():
        model.weight.add_(1.0)  # training changes the tensors in place
        opt.state[model.weight]["momentum_buffer"].mul_(3.0)
    opt.param_groups[0]["lr"] = 7.0
    finder.restore_state()
    assert torch.equal(model.weight, weight)
    assert torch.equal(opt.state[model.weight]["momentum_buffer"], buf)
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.exercise("02-restore-state", points=2,
                      hint="begin_fit saves, after_fit restores - and after_fit runs even when the fit is cancelled or fails.")
def test_lr_finder_leaves_the_learner_as_it_found_it(mod):
    learn = tiny_learner(mod, lr=0.1, momentum=0.9)
    learn.loss_func(learn.model(torch.randn(4, 3)), torch.tensor([0, 1, 0, 1])).backward()
    learn.opt.step()
    learn.opt.zero_grad()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    buf = learn.opt.state[learn.model.weight]["momentum_buffer"].clone()
    rec = mod.Recorder()
    mod.Runner(cbs=[rec, mod.LRFinder(max_iter=7, max_lr=1.0)]).fit(4, learn)
    assert len(rec.losses) == 7 and rec.lrs[0][-1] == pytest.approx(1.0)  # it trained, up to max_lr
    assert all(torch.equal(v, before[k]) for k, v in learn.model.state_dict().items())
    assert torch.equal(learn.opt.state[learn.model.weight]["momentum_buffer"], buf)
    assert learn.opt.param_groups[0]["lr"] == 0.1

    class Broken(mod.Callback):
        def after_step(self):
            if self.n_iter == 2:
                raise RuntimeError("out of memory, say")
    with pytest.raises(RuntimeError):
        mod.Runner(cbs=[Broken(), mod.LRFinder(max_iter=7)]).fit(4, learn)
    assert all(torch.equal(v, before[k]) for k, v in learn.model.state_dict().items())
    assert torch.equal(learn.opt.state[learn.model.weight]["momentum_buffer"], buf)
    assert learn.opt.param_groups[0]["lr"] == 0.1  # not the finder's lr of the step that failed


@pytest.mark.exercise("02-suggest-lr", points=2,
                      hint="Smooth the losses, take the lr at their smallest finite value, and divide it by 10.")
def test_suggest_lr_is_a_tenth_of_the_lr_at_the_minimum(mod):
    lrs = [10 ** (k / 4 - 6) for k in range(29)]  # 1e-6 ... 10, four per decade
    losses = [1 + (math.log10(lr) + 2) ** 2 / 10 for lr in lrs]  # lowest at lr = 1e-2
    assert mod.suggest_lr(lrs, losses, beta=0.0) == pytest.approx(1e-3)
    blown_up = losses[:-2] + [math.nan, math.inf]  # the end of a run that diverged
    assert mod.suggest_lr(lrs, blown_up, beta=0.0) == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        mod.suggest_lr(lrs, losses[:-1])


@pytest.mark.exercise("02-suggest-lr", points=1,
                      hint="Use smooth(losses, beta): one lucky batch must not decide the suggestion.")
def test_suggest_lr_is_not_fooled_by_one_lucky_batch(mod):
    lrs = [10 ** (k / 10 - 6) for k in range(71)]  # 1e-6 ... 10
    losses = [2.0 if lr < 1e-3 else 2.0 - 0.6 * math.log10(lr * 1e3) for lr in lrs]  # falls from 1e-3 ...
    losses = [x if lr < 0.3 else 10.0 for x, lr in zip(losses, lrs)]  # ... and blows up at 0.3
    losses[5] = 0.1  # one lucky batch at lr = 3e-6
    suggestion = mod.suggest_lr(lrs, losses)  # default smoothing
    assert 3e-3 < suggestion < 3e-2
    assert mod.suggest_lr(lrs, losses, beta=0.0) == pytest.approx(lrs[5] / 10)  # unsmoothed, it is fooled
