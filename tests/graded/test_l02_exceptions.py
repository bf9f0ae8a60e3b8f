"""Graded tests for lesson 02 - exceptions as control flow, and a learning-rate finder."""

import math
import traceback
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from checks import near, raises, same

BATCH = ["begin_batch", "after_pred", "after_loss", "after_backward", "after_step", "after_batch"]
VALID_BATCH = ["begin_batch", "after_pred", "after_loss", "after_batch"]


def same_state(model, opt, before, buf, lr, what):
    """Fail unless the model's weights, the momentum buffer and the lr are those saved before."""
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, f"{what}: the model's {changed} differ from before the finder"
    assert torch.equal(opt.state[model.weight]["momentum_buffer"], buf), f"{what}: the optimiser's momentum buffer changed"
    same(opt.param_groups[0]["lr"], lr, f"{what}: the optimiser's lr")


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
                      hint="Find the handler by the event's name (it may not exist), call it, and answer with a bool.")
def test_callback_call_runs_its_handler(mod):
    calls = []

    class Cb(mod.Callback):
        def begin_fit(self):
            calls.append("begin_fit")

        def after_loss(self):
            return True
    cb = Cb()
    same((cb("begin_fit"), calls), (False, ["begin_fit"]), "(cb('begin_fit'), handlers called) for a handler returning None")
    same(cb("after_loss"), True, "cb('after_loss') for a handler returning True")
    try:
        out = cb("after_step")  # no handler, no runner yet: not an error
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"cb('after_step') with no handler and no runner: got {type(e).__name__}: {e}, "
                             "expected False") from e
    same(out, False, "cb('after_step') with no handler")
    cb.set_runner(SimpleNamespace(epoch=0))
    same(cb("after_pred"), False, "cb('after_pred') with no handler, attached to a runner")
    same(calls, ["begin_fit"], "handlers called")


@pytest.mark.exercise("02-callback-call", points=2,
                      hint="Every callback, sorted by _order, is called as cb(event), whatever the others return.")
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
    same(seen, ["a", "b", "every:begin_fit"], "callbacks reached by begin_fit (orders 1, 2, 3; the first two return True)")
    run("after_cancel_batch")  # an event nobody handles still reaches a callback that overrides __call__
    same(seen[3:], ["every:after_cancel_batch"], "callbacks reached by an event no callback has a method for")


@pytest.mark.exercise("02-callback-call", points=1,
                      hint="In this Runner a callback's return value cancels nothing: only exceptions do.")
def test_a_true_from_every_event_cancels_nothing(mod, same_events):
    class SaysTrue(mod.Callback):
        def __call__(self, event):
            super().__call__(event)
            return True
    log, learn = EventLog(), tiny_learner(mod)
    w = learn.model.weight.detach().clone()
    mod.Runner(cbs=[SaysTrue(), log]).fit(1, learn)
    same_events(log.events, ["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate"] + VALID_BATCH
                + ["after_epoch", "after_fit"], "events when a callback returns True from every event")
    assert not torch.equal(w, learn.model.weight), "the weights did not change: the True stopped the steps"


# ------------------------------------------------------------------ one_batch

@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="Same steps as lesson 00's one_batch, but the cancelling is done by an exception.")
def test_one_batch_events_in_training_and_validation(mod, same_events):
    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    w = learn.model.weight.detach().clone()
    run.one_batch(*first_batch(learn))
    same_events(log.events, BATCH, "events of one training batch")
    assert not torch.equal(w, learn.model.weight), "a training batch must step the optimiser: the weights did not change"

    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn, in_train=False)
    w = learn.model.weight.detach().clone()
    run.one_batch(*first_batch(learn))
    same_events(log.events, VALID_BATCH, "events of one validation batch")
    assert torch.equal(w, learn.model.weight), "a validation batch changed the weights"


@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="Catch the batch-level cancel inside one_batch, announce it, and make sure after_batch always runs.")
def test_cancel_batch_skips_the_rest_of_the_batch(mod, same_events):
    for k, at in enumerate(BATCH[:-1]):
        log, learn = EventLog((at, 1, mod.CancelBatchException())), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        w = learn.model.weight.detach().clone()
        try:
            run.one_batch(*first_batch(learn))  # caught inside one_batch: nothing escapes
        except mod.CancelBatchException:
            raise AssertionError(f"CancelBatchException raised at {at} escaped one_batch: catch it there") from None
        same_events(log.events, BATCH[:k + 1] + ["after_cancel_batch", "after_batch"], f"events when cancelled at {at}")
        stepped = not torch.equal(w, learn.model.weight)
        same(stepped, at == "after_step", f"did the weights change when the batch was cancelled at {at}")


@pytest.mark.exercise("02-cancel-batch", points=2,
                      hint="Catch only CancelBatchException; after_batch runs whatever is raised.")
def test_one_batch_lets_other_exceptions_through_after_after_batch(mod, same_events):
    for exc in (ValueError("a bug"), mod.CancelEpochException(), mod.CancelTrainException()):
        log, learn = EventLog(("after_loss", 1, exc)), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        raises(type(exc), lambda: run.one_batch(*first_batch(learn)), f"one_batch when after_loss raises {type(exc).__name__}")
        same_events(log.events, ["begin_batch", "after_pred", "after_loss", "after_batch"],
                    f"events when after_loss raises {type(exc).__name__}")


@pytest.mark.exercise("02-cancel-batch", points=1,
                      hint="Where must zero_grad go so that a batch cancelled after its backward leaves nothing behind?")
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
        assert torch.allclose(grab.grad, expected), (
            f"after a batch cancelled at {at}, the next batch's gradient must be its own: got "
            f"{[round(v, 5) for v in grab.grad.flatten().tolist()]}, expected {[round(v, 5) for v in expected.flatten().tolist()]}")


# ---------------------------------------------------------------- all_batches

@pytest.mark.exercise("02-cancel-epoch", points=2,
                      hint="Record how many batches the pass has, then catch the pass-level cancel around the whole loop.")
def test_cancel_epoch_ends_the_pass(mod, same_events):
    log, learn = EventLog(), tiny_learner(mod, n=10, bs=2)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    same(run.iters, 5, "run.iters for 10 items in batches of 2")
    same_events(log.events, BATCH * 5, "events of a pass of 5 batches")

    cut = ["begin_batch", "after_pred", "after_loss", "after_batch", "after_cancel_epoch"]
    log, learn = EventLog(("after_loss", 2, mod.CancelEpochException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    try:
        run.all_batches(learn.data.train_dl)  # caught inside all_batches: nothing escapes
    except mod.CancelEpochException:
        raise AssertionError("CancelEpochException escaped all_batches: catch it there") from None
    same_events(log.events, BATCH + cut, "events when the second after_loss raises CancelEpochException")

    log, learn = EventLog(("after_batch", 2, mod.CancelEpochException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    same_events(log.events, BATCH * 2 + ["after_cancel_epoch"], "events when the second after_batch raises CancelEpochException")


@pytest.mark.exercise("02-cancel-epoch", points=2,
                      hint="A skipped batch does not end the pass; CancelTrainException and errors are not caught here.")
def test_all_batches_goes_on_after_a_cancelled_batch_and_lets_the_rest_through(mod, same_events):
    log, learn = EventLog(("begin_batch", 1, mod.CancelBatchException())), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    ready(run, learn)
    run.all_batches(learn.data.train_dl)
    same_events(log.events, ["begin_batch", "after_cancel_batch", "after_batch"] + BATCH * 2,
                "events when the first batch is cancelled")

    for exc in (mod.CancelTrainException(), KeyError("a bug")):
        log, learn = EventLog(("after_step", 1, exc)), tiny_learner(mod)
        run = mod.Runner(cbs=[log])
        ready(run, learn)
        raises(type(exc), lambda: run.all_batches(learn.data.train_dl), f"all_batches when after_step raises {type(exc).__name__}")
        same_events(log.events, BATCH, f"events when after_step raises {type(exc).__name__}")


# ------------------------------------------------------------------------ fit

@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="The loop of lesson 00's fit, without checking what the events return; let go of the learner at the end.")
def test_fit_calls_every_event_in_order(mod, same_events):
    log, learn = EventLog(), tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    run.fit(1, learn)
    same_events(log.events, ["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate"] + VALID_BATCH
                + ["after_epoch", "after_fit"], "events of a one-epoch fit")
    same(run.learn, None, "run.learn after the fit")


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="The fit-level cancel is caught in fit and announced; the clean-up runs however the fit ends.")
def test_cancel_train_ends_the_fit(mod, same_events):
    log = EventLog(("after_step", 2, mod.CancelTrainException()))
    run = mod.Runner(cbs=[log])
    try:
        run.fit(2, tiny_learner(mod))  # caught inside fit: nothing escapes
    except mod.CancelTrainException:
        raise AssertionError("CancelTrainException escaped fit: catch it there") from None
    same_events(log.events, ["begin_fit", "begin_epoch"] + BATCH * 2 + ["after_cancel_train", "after_fit"],
                "events when the second after_step raises CancelTrainException")
    same(run.learn, None, "run.learn after a cancelled fit")

    log = EventLog(("begin_fit", 1, mod.CancelTrainException()))
    mod.Runner(cbs=[log]).fit(2, tiny_learner(mod))
    same_events(log.events, ["begin_fit", "after_cancel_train", "after_fit"], "events when begin_fit raises CancelTrainException")

    log = EventLog(("after_epoch", 1, mod.CancelTrainException()))
    mod.Runner(cbs=[log]).fit(3, tiny_learner(mod))
    same((log.events.count("begin_epoch"), log.events[-3:]), (1, ["after_epoch", "after_cancel_train", "after_fit"]),
         "(epochs begun, last 3 events) when the first after_epoch raises CancelTrainException")


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="A cancelled batch or pass is handled below fit: the epoch loop just carries on.")
def test_fit_carries_on_after_a_cancelled_batch_or_pass(mod, same_events):
    log = EventLog(("begin_batch", 2, mod.CancelEpochException()), ("after_pred", 4, mod.CancelBatchException()))
    mod.Runner(cbs=[log]).fit(2, tiny_learner(mod))
    epoch0 = (["begin_epoch"] + BATCH + ["begin_batch", "after_batch", "after_cancel_epoch"]
              + ["begin_validate"] + VALID_BATCH + ["after_epoch"])
    skipped = ["begin_batch", "after_pred", "after_cancel_batch", "after_batch"]  # 4th after_pred: epoch 1, 2nd batch
    epoch1 = ["begin_epoch"] + BATCH + skipped + BATCH + ["begin_validate"] + VALID_BATCH + ["after_epoch"]
    same_events(log.events, ["begin_fit"] + epoch0 + epoch1 + ["after_fit"],
                "events with a cancelled pass in epoch 0 and a cancelled batch in epoch 1")


@pytest.mark.exercise("02-cancel-train", points=1,
                      hint="Validation (its begin event included), and only validation, runs without gradients.")
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
    same(log.seen, ([("train", True)] * 3 + [("begin_validate", False), ("valid", False)]) * 2,
         "(where, gradients on) at each after_loss and begin_validate")
    assert torch.is_grad_enabled(), "gradients are still off after the fit"


@pytest.mark.exercise("02-cancel-train", points=2,
                      hint="Don't catch ordinary exceptions: the clean-up events run, then the error goes on to the caller.")
def test_an_error_in_a_callback_propagates_after_after_fit(mod, same_events):
    class Broken(mod.Callback):
        def after_loss(self):
            raise ValueError("broken metric")
    log = EventLog()
    run = mod.Runner(cbs=[log, Broken()])
    try:
        run.fit(2, tiny_learner(mod))
    except ValueError as e:
        error = e
    else:
        raise AssertionError("a callback's ValueError('broken metric') did not reach the caller of fit: "
                             "expected ValueError, got no exception")
    same_events(log.events, ["begin_fit", "begin_epoch", "begin_batch", "after_pred", "after_loss", "after_batch",
                             "after_fit"], "events when a callback's after_loss has a bug")
    assert any(frame.name == "after_loss" for frame in traceback.extract_tb(error.__traceback__)), \
        "the traceback must lead to the bug (the callback's after_loss): re-raise the original exception"
    same(run.learn, None, "run.learn after a fit that failed")


# ------------------------------------------------------------------ stop after

@pytest.mark.exercise("02-stop-after", points=2,
                      hint="Report the step first (if asked), then end the whole fit once step n has run.")
def test_stop_after_step(mod, same_events):
    reported, log = [], EventLog()
    run = mod.Runner(cbs=[log, mod.StopAfterStep(6, report=reported.append)])
    run.fit(3, tiny_learner(mod, n=20, bs=4))  # 5 batches an epoch: steps 0-4, validation, steps 5 and 6
    same(reported, [0, 1, 2, 3, 4, 5, 6], "steps reported by StopAfterStep(6)")
    same((log.events.count("after_step"), log.events.count("begin_validate")), (7, 1), "(steps, validation passes)")
    same(log.events[-4:], ["after_step", "after_batch", "after_cancel_train", "after_fit"], "last 4 events")

    log = EventLog()
    mod.Runner(cbs=[log, mod.StopAfterStep(0)]).fit(2, tiny_learner(mod))
    same_events(log.events, ["begin_fit", "begin_epoch"] + BATCH + ["after_cancel_train", "after_fit"],
                "events with StopAfterStep(0)")


# ------------------------------------------------------------------- LR finder

@pytest.mark.exercise("02-lr-schedule", points=2,
                      hint="Lesson 00 has an annealer for equal ratios in equal steps; the last iteration is max_iter - 1.")
def test_lr_find_schedule(mod):
    near([mod.lr_find_schedule(i, 5, 1e-4, 1.0) for i in range(5)], [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
         "lr_find_schedule(i, 5, 1e-4, 1.0) for i = 0..4")
    near(mod.lr_find_schedule(0), 1e-6, "lr_find_schedule(0) with the defaults")
    near(mod.lr_find_schedule(99), 10.0, "lr_find_schedule(99) with the defaults (the last of 100)")
    ratios = [mod.lr_find_schedule(i + 1) / mod.lr_find_schedule(i) for i in range(99)]
    near(ratios, [10 ** (7 / 99)] * 99, "ratios of consecutive learning rates")


@pytest.mark.exercise("02-lr-schedule", points=1,
                      hint="Before every training batch, every parameter group gets the schedule's lr for n_iter.")
def test_lr_finder_sets_the_lr_of_every_group(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.5)
    run = SimpleNamespace(opt=opt, n_iter=2, in_train=True)
    finder = mod.LRFinder(max_iter=5, min_lr=1e-4, max_lr=1.0)
    finder.set_runner(run)
    finder.begin_batch()
    near([g["lr"] for g in opt.param_groups], [1e-2, 1e-2], "lrs at n_iter 2 of 5, from 1e-4 to 1")
    run.in_train, run.n_iter = False, 3
    finder.begin_batch()
    near([g["lr"] for g in opt.param_groups], [1e-2, 1e-2], "lrs after a validation batch (unchanged)")


@pytest.mark.exercise("02-smooth-loss", points=2,
                      hint="The lesson's two formulas: the raw average, then its correction by the sum of the weights.")
def test_debiased_ema(mod):
    ema = mod.DebiasedEMA(0.9)
    raises(ValueError, lambda: ema.value, "value before the first update")
    near(ema.update(5.0), 5.0, "first debiased value after update(5.0) (the first value comes back whole)")
    near((ema.avg, ema.n), (0.5, 1), "(raw avg, n) after update(5.0) with beta 0.9")
    near(ema.update(5.0), 5.0, "debiased value after two updates of 5.0 (a constant stays constant)")

    xs, beta, avg = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0], 0.8, 0.0
    ema = mod.DebiasedEMA(beta)
    for n, x in enumerate(xs, 1):
        avg = beta * avg + (1 - beta) * x
        near(ema.update(x), avg / (1 - beta ** n), f"update({x}), the {n}th value, beta 0.8")
        near(ema.value, avg / (1 - beta ** n), f"value after the {n}th update, beta 0.8")


@pytest.mark.exercise("02-smooth-loss", points=1,
                      hint="With beta = 0 the average is just the latest value; a larger beta averages more.")
def test_smoothing_reduces_noise(mod):
    xs = [1.0, 4.0, 2.0, 8.0]
    near(mod.smooth(xs, beta=0.0), xs, "smooth(xs, beta=0)")
    noisy = (torch.linspace(3, 1, 200) + 0.5 * torch.randn(200)).tolist()
    smoothed = mod.smooth(noisy, beta=0.9)
    wiggle = lambda v: sum(abs(b - a) for a, b in zip(v, v[1:]))
    assert wiggle(smoothed) < wiggle(noisy) / 4, \
        f"smoothing with beta 0.9 must calm the curve: total wiggle {wiggle(smoothed):.2f} vs the raw {wiggle(noisy):.2f}"
    near(smoothed[0], noisy[0], "first smoothed value (the first value itself)")
    assert abs(smoothed[-1] - 1) < 0.6, f"a line from 3 to 1 plus noise: the last smoothed value is {smoothed[-1]:.3f}, expected near 1"


@pytest.mark.exercise("02-lr-stop-rule", points=1,
                      hint="Stop when the loss is more than stop_factor times the best - and whenever it is not a finite number (nan > x is False!).")
def test_should_stop(mod):
    for args, expected in [((5.0, 1.0, 10), False), ((10.0, 1.0, 10), False),  # "more than": equal is not enough
                           ((10.5, 1.0, 10), True), ((3.5, 1.0, 3), True), ((3.5, 1.0), False),  # the factor defaults to 10
                           ((1e6, math.inf, 10), False),  # nothing seen yet
                           ((math.nan, 1.0, 10), True), ((math.inf, 1.0, 10), True), ((-math.inf, 1.0, 10), True),
                           ((math.inf, math.inf, 10), True)]:  # blown up at the first step: inf > 10 * inf is False
        out = mod.should_stop(*args)
        assert out is expected or (type(out) is not bool and bool(out) == expected), \
            f"should_stop{args}: got {out!r}, expected {expected}"


@pytest.mark.exercise("02-lr-stop-rule", points=2,
                      hint="After each step: smooth the loss, stop on the rule or after the last iteration, else remember the best.")
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
    same(feed(raw, [2.0, 1.0, 9.0, 3.0]), None, "step that stopped on raw losses [2, 1, 9, 3] (none should)")
    near(raw.best_loss, 1.0, "best_loss after [2, 1, 9, 3]")
    same(feed(raw, [2.0, 1.0, 9.0, 10.5, 1.0]), 3, "step that stopped on [2, 1, 9, 10.5, 1], factor 10")
    same(feed(raw, [2.0, math.nan]), 1, "step that stopped on [2, nan]")
    same(feed(raw, [2.0, 2.0, 2.0], n_iter0=97), 2, "step that stopped at n_iter 97, 98, 99 (99 is the last of 100)")
    # smoothed: one bad batch (4 > 3 x 1) is not enough, a second one is
    smoothed = mod.LRFinder(max_iter=100, stop_factor=3, beta=0.5)
    same(feed(smoothed, [1.0, 1.0, 1.0, 4.0]), None, "step that stopped on [1, 1, 1, 4], beta 0.5, factor 3 (none should)")
    same(feed(smoothed, [1.0, 1.0, 1.0, 4.0, 4.0]), 4, "step that stopped on [1, 1, 1, 4, 4], beta 0.5, factor 3")


@pytest.mark.exercise("02-restore-state", points=2,
                      hint="state_dict() hands out the live tensors, which training changes in place: keep a copy that cannot change.")
def test_save_and_restore_state(mod):
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()  # now the optimiser has momentum buffers
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buf = opt.state[model.weight]["momentum_buffer"].clone()
    finder = mod.LRFinder()
    finder.set_runner(SimpleNamespace(model=model, opt=opt))
    finder.save_state()
    with torch.no_grad():
        model.weight.add_(1.0)  # training changes the tensors in place
        opt.state[model.weight]["momentum_buffer"].mul_(3.0)
    opt.param_groups[0]["lr"] = 7.0
    finder.restore_state()
    same_state(model, opt, before, buf, 0.1, "after save_state, changes in place, restore_state")


@pytest.mark.exercise("02-restore-state", points=2,
                      hint="Save when the fit begins, restore when it ends - and the end runs even when the fit is cancelled or fails.")
def test_lr_finder_leaves_the_learner_as_it_found_it(mod):
    learn = tiny_learner(mod, lr=0.1, momentum=0.9)
    learn.loss_func(learn.model(torch.randn(4, 3)), torch.tensor([0, 1, 0, 1])).backward()
    learn.opt.step()
    learn.opt.zero_grad()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    buf = learn.opt.state[learn.model.weight]["momentum_buffer"].clone()
    rec = mod.Recorder()
    mod.Runner(cbs=[rec, mod.LRFinder(max_iter=7, max_lr=1.0)]).fit(4, learn)
    same(len(rec.losses), 7, "iterations recorded with max_iter=7")
    near(rec.lrs[0][-1], 1.0, "the last recorded lr (max_lr=1.0)")
    same_state(learn.model, learn.opt, before, buf, 0.1, "after a finder run")

    class Broken(mod.Callback):
        def after_step(self):
            if self.n_iter == 2:
                raise RuntimeError("out of memory, say")
    raises(RuntimeError, lambda: mod.Runner(cbs=[Broken(), mod.LRFinder(max_iter=7)]).fit(4, learn),
           "a finder run whose third step fails")
    same_state(learn.model, learn.opt, before, buf, 0.1, "after a finder run that failed")


@pytest.mark.exercise("02-suggest-lr", points=2,
                      hint="Smooth, find the lowest finite point, step one decade back; ValueError when nothing is finite.")
def test_suggest_lr_is_a_tenth_of_the_lr_at_the_minimum(mod):
    lrs = [10 ** (k / 4 - 6) for k in range(29)]  # 1e-6 ... 10, four per decade
    losses = [1 + (math.log10(lr) + 2) ** 2 / 10 for lr in lrs]  # lowest at lr = 1e-2
    suggestion = mod.suggest_lr(lrs, losses, beta=0.0)
    same(type(suggestion), float, "type of the suggestion")
    near(suggestion, 1e-3, "suggestion for a curve lowest at lr 1e-2, beta 0")
    blown_up = losses[:-2] + [math.nan, math.inf]  # the end of a run that diverged
    kept = (list(lrs), list(blown_up))
    near(mod.suggest_lr(lrs, blown_up, beta=0.0), 1e-3, "suggestion when the last two losses are nan and inf")
    assert (lrs, blown_up) == kept or str((lrs, blown_up)) == str(kept), \
        "suggest_lr changed the caller's lists: leave lrs and losses as they were"
    raises(ValueError, lambda: mod.suggest_lr(lrs, losses[:-1]), "29 learning rates for 28 losses")
    raises(ValueError, lambda: mod.suggest_lr(lrs[:3], [math.nan, math.inf, math.nan]), "no finite loss")


@pytest.mark.exercise("02-suggest-lr", points=1,
                      hint="Smooth the losses first: one lucky batch must not decide the suggestion.")
def test_suggest_lr_is_not_fooled_by_one_lucky_batch(mod):
    lrs = [10 ** (k / 10 - 6) for k in range(71)]  # 1e-6 ... 10
    losses = [2.0 if lr < 1e-3 else 2.0 - 0.6 * math.log10(lr * 1e3) for lr in lrs]  # falls from 1e-3 ...
    losses = [x if lr < 0.3 else 10.0 for x, lr in zip(losses, lrs)]  # ... and blows up at 0.3
    losses[5] = 0.1  # one lucky batch at lr = 3e-6
    suggestion = mod.suggest_lr(lrs, losses)  # default smoothing
    assert 3e-3 < suggestion < 3e-2, f"suggestion with the default smoothing: got {suggestion:.3g}, expected between 3e-3 and 3e-2"
    near(mod.suggest_lr(lrs, losses, beta=0.0), lrs[5] / 10, "suggestion without smoothing (fooled by the lucky batch)")
