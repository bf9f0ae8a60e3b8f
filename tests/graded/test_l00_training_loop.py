"""Graded tests for lesson 00 - the training loop so far."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from checks import near, raises, same


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

@pytest.mark.exercise("00-dataset", points=1, hint="A dataset answers two questions: how many pairs, and which pair is number i.")
def test_dataset_len_and_getitem(mod):
    x, y = torch.arange(12.).reshape(6, 2), torch.arange(6)
    ds = mod.Dataset(x, y)
    same(len(ds), 6, "len(Dataset(x, y)) for 6 rows of 2 values")
    pair = ds[4]
    assert isinstance(pair, tuple) and len(pair) == 2, f"ds[4] must be the pair (x[4], y[4]), got {pair!r}"
    assert torch.equal(pair[0], x[4]) and pair[1].item() == 4, f"ds[4]: got {pair!r}, expected {(x[4], y[4])!r}"
    xs, ys = ds[1:3]
    assert torch.equal(xs, x[1:3]) and ys.tolist() == [1, 2], f"ds[1:3]: got {(xs, ys)!r}, expected {(x[1:3], y[1:3])!r}"


@pytest.mark.exercise("00-dataloader", points=2, hint="Batches start every bs items; the last one holds whatever is left.")
def test_dataloader_batches_in_order(mod):
    ds = mod.Dataset(torch.arange(10.).unsqueeze(1), torch.arange(10))
    dl = mod.DataLoader(ds, bs=4)
    same(len(dl), 3, "len(DataLoader) for 10 items in batches of 4")
    batches = list(dl)
    same([yb.tolist() for _, yb in batches], [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], "targets of each batch, bs=4")
    same(tuple(batches[0][0].shape), (4, 1), "shape of the first batch of inputs")
    exact = mod.DataLoader(mod.Dataset(torch.arange(8.), torch.arange(8)), bs=4)
    same(len(exact), 2, "len(DataLoader) for 8 items in batches of 4 (no partial batch)")
    same(len(list(exact)), 2, "number of batches yielded for 8 items in batches of 4")


@pytest.mark.exercise("00-dataloader", points=1, hint="A batch of one item still has a batch dimension.")
def test_dataloader_batch_of_one_and_batch_larger_than_the_data(mod):
    ds = mod.Dataset(torch.arange(6.).reshape(3, 2), torch.arange(3))
    ones = list(mod.DataLoader(ds, bs=1))
    same(len(mod.DataLoader(ds, bs=1)), 3, "len(DataLoader) for 3 items in batches of 1")
    same([tuple(xb.shape) for xb, _ in ones], [(1, 2)] * 3, "input shapes of batches of one")
    same([yb.tolist() for _, yb in ones], [[0], [1], [2]], "targets of batches of one")
    whole = list(mod.DataLoader(ds, bs=10))
    same([yb.tolist() for _, yb in whole], [[0, 1, 2]], "bs larger than the dataset: one batch with everything")


@pytest.mark.exercise("00-dataloader", points=2, hint="A new random permutation of the indices for every pass, when shuffle is on.")
def test_dataloader_shuffles_each_pass_and_covers_everything(mod):
    ds = mod.Dataset(torch.arange(50.), torch.arange(50))
    dl = mod.DataLoader(ds, bs=8, shuffle=True)
    passes = [list(dl) for _ in range(2)]
    for batches in passes:
        for xb, yb in batches:  # inputs stay with their targets
            assert torch.equal(xb, yb.float()), f"a batch's inputs {xb.tolist()} do not match its targets {yb.tolist()}"
    first, second = (torch.cat([yb for _, yb in batches]).tolist() for batches in passes)
    same(sorted(first), list(range(50)), "the items of one shuffled pass, sorted")
    same(sorted(second), list(range(50)), "the items of a second shuffled pass, sorted")
    assert first != list(range(50)), "shuffle=True, but the pass came in the original order"
    assert first != second, f"two passes came in the same order {first[:10]}...: draw a new order every pass"


@pytest.mark.exercise("00-get-dls", points=1, hint="Validation needs no gradients, and its order changes nothing.")
def test_get_dls_valid_twice_the_batch_and_in_order(mod):
    train = mod.Dataset(torch.arange(40.), torch.arange(40))
    valid = mod.Dataset(torch.arange(20.), torch.arange(20))
    train_dl, valid_dl = mod.get_dls(train, valid, bs=5)
    same([len(yb) for _, yb in train_dl], [5] * 8, "training batch sizes for bs=5")
    same([yb.tolist() for _, yb in valid_dl], [list(range(10)), list(range(10, 20))], "validation batches for bs=5")
    orders = [torch.cat([yb for _, yb in train_dl]).tolist() for _ in range(2)]
    assert orders[0] != list(range(40)) and orders[0] != orders[1], \
        f"the training loader must shuffle, anew each pass: got {orders[0][:8]}... then {orders[1][:8]}..."


@pytest.mark.exercise("00-accuracy", points=1, hint="The predicted class of a row is the position of its largest score.")
def test_accuracy(mod):
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    acc = mod.accuracy(out, torch.tensor([1, 0, 0, 0]))
    assert isinstance(acc, torch.Tensor) and acc.dtype == torch.float32 and acc.dim() == 0, \
        f"accuracy must be a 0-dim float32 tensor, got {acc!r}"
    near(acc.item(), 0.75, "accuracy, 3 of 4 rows right")
    one = mod.accuracy(torch.tensor([[-3e4, -1e4, -2e4]]), torch.tensor([1]))  # a batch of one, large negative scores
    near(one.item(), 1.0, "accuracy of one row [-3e4, -1e4, -2e4] with target 1")


# -------------------------------------------------------------------- callbacks

@pytest.mark.exercise("00-camel2snake", points=1, hint="Where does a new word start? Before a capital followed by lowercase, and after a lowercase letter or digit.")
@pytest.mark.parametrize("camel, snake", [("TrainEvalCallback", "train_eval_callback"), ("AvgStats", "avg_stats"),
                                          ("HTTPServer", "http_server"), ("lr", "lr"), ("Layer2Norm", "layer2_norm")])
def test_camel2snake(mod, camel, snake):
    out = mod.camel2snake(camel)
    assert type(out) is str, f"camel2snake({camel!r}) must return a str, got {type(out).__name__}"
    same(out, snake, f"camel2snake({camel!r})")


@pytest.mark.exercise("00-camel2snake", points=1, hint="The name is the class name without its 'Callback' ending, in snake_case.")
def test_callback_name(mod):
    class AvgStatsCallback(mod.Callback): pass
    class Recorder(mod.Callback): pass
    names = (AvgStatsCallback().name, Recorder().name, mod.Callback().name)
    assert all(type(n) is str for n in names), f"names must be str, got {[type(n).__name__ for n in names]}"
    same(names, ("avg_stats", "recorder", "callback"), "names of AvgStatsCallback, Recorder and Callback")


@pytest.mark.exercise("00-callback-getattr", points=2, hint="__getattr__ is only called for missing attributes; refuse 'run' itself.")
def test_callback_reads_missing_attributes_from_its_runner(mod):
    cb = mod.Callback()
    try:
        cb.epoch
    except AttributeError:
        pass
    except RecursionError:
        raise AssertionError("cb.epoch before set_runner: got RecursionError, expected AttributeError") from None
    else:
        raise AssertionError("cb.epoch before set_runner: expected AttributeError, got no error")
    cb.set_runner(SimpleNamespace(epoch=0, model="the model", in_train=False))
    same((cb.epoch, cb.model, cb.in_train), (0, "the model", False), "(cb.epoch, cb.model, cb.in_train) from the runner")
    cb.model = "own"
    same(cb.model, "own", "cb.model after the callback set its own")
    raises(AttributeError, lambda: cb.not_there, "cb.not_there, which neither the callback nor its runner has")


# ----------------------------------------------------------------------- runner

BATCH = ["begin_batch", "after_pred", "after_loss", "after_backward", "after_step", "after_batch"]
VALID_BATCH = ["begin_batch", "after_pred", "after_loss", "after_batch"]


@pytest.mark.exercise("00-runner", points=3, hint="Follow the event list in the Runner's docstring; no backward or step outside training.")
def test_runner_calls_every_event_in_order(mod, same_events):
    log = EventLog()
    learn = tiny_learner(mod)
    run = mod.Runner(cbs=[log])
    run.fit(1, learn)
    expected = (["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate"] + VALID_BATCH * 1
                + ["after_epoch", "after_fit"])
    same_events(log.events, expected)
    assert run.learn is None, f"after fit the runner must let go of the learner: run.learn is {run.learn!r}, expected None"


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
    assert not torch.equal(before, learn.model.weight), "the weights did not change: no optimiser step ran"
    same(grads_in_valid, [False, False], "loss.requires_grad in the two validation batches")
    same(len(grad_errors), 6, "number of after_backward events (2 epochs of 3 training batches)")
    assert max(grad_errors) < 1e-6, (f"each step must use its own batch's gradient: largest difference "
                                     f"{max(grad_errors):.3g}, expected < 1e-6 (zero_grad after the step)")


@pytest.mark.exercise("00-runner", points=2, hint="A True from begin_epoch skips training; from after_epoch it ends the fit.")
def test_runner_cancels_by_returning_true(mod, same_events):
    log = EventLog(cancel_at={"begin_epoch", "after_epoch"})
    mod.Runner(cbs=[log]).fit(3, tiny_learner(mod))
    same_events(log.events, ["begin_fit", "begin_epoch", "begin_validate"] + VALID_BATCH + ["after_epoch", "after_fit"],
                "events with True from begin_epoch and after_epoch")


@pytest.mark.exercise("00-runner", points=2, hint="Check the return value of every event of the loop.")
@pytest.mark.parametrize("cancel_at, expected", [
    ("begin_fit", ["begin_fit", "after_fit"]),
    ("begin_batch", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_batch"] * 3 + ["begin_validate"]
     + ["begin_batch", "after_batch"] + ["after_epoch", "after_fit"]),
    ("after_loss", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_pred", "after_loss", "after_batch"] * 3
     + ["begin_validate"] + VALID_BATCH + ["after_epoch", "after_fit"]),
    ("begin_validate", ["begin_fit", "begin_epoch"] + BATCH * 3 + ["begin_validate", "after_epoch", "after_fit"]),
    ("after_pred", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_pred", "after_batch"] * 3 + ["begin_validate"]
     + ["begin_batch", "after_pred", "after_batch"] + ["after_epoch", "after_fit"]),
    ("after_backward", ["begin_fit", "begin_epoch"] + ["begin_batch", "after_pred", "after_loss", "after_backward",
                                                     "after_batch"] * 3 + ["begin_validate"] + VALID_BATCH
     + ["after_epoch", "after_fit"]),
])
def test_runner_cancels_at_every_level(mod, cancel_at, expected, same_events):
    log = EventLog(cancel_at={cancel_at})
    mod.Runner(cbs=[log]).fit(1, tiny_learner(mod))
    same_events(log.events, expected, f"events with True from {cancel_at}")


@pytest.mark.exercise("00-runner", points=2, hint="zero_grad is the last thing a batch does, so what skips it?")
def test_runner_true_at_after_step_skips_zero_grad(mod):
    grads, fresh = [], []

    class KeepGrads(mod.Callback):
        def after_backward(self):
            grads.append(self.model.weight.grad.clone())
            w = self.model.weight.detach().clone().requires_grad_()
            out = self.xb @ w.T + self.model.bias.detach()
            fresh.append(torch.autograd.grad(self.loss_func(out, self.yb), w)[0])

        def after_step(self):
            return True  # cancels only the rest of the batch: zero_grad
    learn = tiny_learner(mod)
    mod.Runner(cbs=[KeepGrads()]).fit(1, learn)
    same(len(grads), 3, "after_backward events in one epoch of 3 batches")
    leak = (grads[1] - (grads[0] + fresh[1])).abs().max().item()
    assert leak < 1e-5, (f"after a True from after_step, zero_grad must be skipped, so batch 2's gradient is batch 1's "
                         f"plus its own: off by {leak:.3g} (got {grads[1].flatten().tolist()}, expected "
                         f"{(grads[0] + fresh[1]).flatten().tolist()})")


@pytest.mark.exercise("00-runner", points=1, hint="all_batches checks `stop` before each batch and resets it after the pass.")
def test_runner_stop_ends_the_pass_and_is_reset(mod, same_events):
    log = EventLog()

    class StopAfterFirst(mod.Callback):
        def after_batch(self):
            self.run.stop = True
    mod.Runner(cbs=[log, StopAfterFirst()]).fit(2, tiny_learner(mod))
    one_pass = ["begin_fit"] + (["begin_epoch"] + BATCH + ["begin_validate"] + VALID_BATCH + ["after_epoch"]) * 2
    same_events(log.events, one_pass + ["after_fit"], "events when a callback sets stop after every batch")


@pytest.mark.exercise("00-runner", points=2, hint="Clean-up must run however the fit ends.")
def test_runner_runs_after_fit_even_when_a_callback_fails(mod):
    log = EventLog()

    class Boom(mod.Callback):
        def after_pred(self):
            raise RuntimeError("boom")
    run = mod.Runner(cbs=[log, Boom()])
    raises(RuntimeError, lambda: run.fit(1, tiny_learner(mod)), "fit when a callback raises RuntimeError('boom')")
    same(log.events[-1:], ["after_fit"], "last event after a callback raised")
    assert run.learn is None, f"after a failed fit the runner must let go of the learner: run.learn is {run.learn!r}"


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
    same(calls, ["early", "late"], "order of begin_fit calls (_order -1, then 5)")
    assert isinstance(getattr(run, "early", None), Early), f"run.early: got {getattr(run, 'early', None)!r}, expected the Early callback"


# -------------------------------------------------------------- train/eval, stats

@pytest.mark.exercise("00-train-eval", points=2, hint="n_epochs grows by 1/iters per training batch; begin_epoch sets it to the epoch number (an epoch may be cut short).")
def test_train_eval_counts_and_switches_mode(mod):
    model = nn.Linear(1, 1)
    run = SimpleNamespace(model=model, epoch=0, iters=4, in_train=False)
    cb = mod.TrainEvalCallback()
    cb.set_runner(run)
    cb.begin_fit()
    cb.begin_epoch()
    same((run.in_train, model.training), (True, True), "(run.in_train, model.training) after begin_epoch")
    for _ in range(4):
        cb.after_batch()
    near(run.n_epochs, 1.0, "n_epochs after 4 training batches of 4")
    same(run.n_iter, 4, "n_iter after 4 training batches")
    cb.begin_validate()
    same((run.in_train, model.training), (False, False), "(run.in_train, model.training) after begin_validate")
    cb.after_batch()
    same(run.n_iter, 4, "n_iter after a validation batch (not counted)")
    run.epoch = 1
    cb.begin_epoch()
    same((run.n_epochs, model.training), (1.0, True), "(n_epochs, model.training) at the start of epoch 1")
    cb.after_batch()  # epoch 1 is cut short after one batch (a callback set `stop`) ...
    run.epoch = 2
    cb.begin_epoch()
    same((run.n_epochs, run.n_iter), (2.0, 5), "(n_epochs, n_iter) at epoch 2, after epoch 1 was cut short")


@pytest.mark.exercise("00-avg-stats", points=2, hint="Batches differ in size: average over items, not over batches.")
def test_avg_stats_weights_by_batch_size(mod):
    stats = mod.AvgStats([lambda pred, yb: (pred == yb).float().mean()], in_train=True)
    for loss, pred, yb in [(1.0, [1, 1, 1, 1], [1, 1, 1, 1]), (4.0, [0, 1], [1, 1])]:
        stats.accumulate(SimpleNamespace(xb=torch.zeros(len(pred), 3), loss=torch.tensor(loss),
                                         pred=torch.tensor(pred), yb=torch.tensor(yb)))
    near(stats.avg_stats, [(1.0 * 4 + 4.0 * 2) / 6, 5 / 6], "[loss, metric] after a batch of 4 and a batch of 2")
    stats.reset()
    raises(ValueError, lambda: stats.avg_stats, "avg_stats after reset, before any batch")


@pytest.mark.exercise("00-recorder", points=2, hint="Record only while in_train: one lr per parameter group, loss as a float.")
def test_recorder_records_training_batches_only(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.2}])
    run = SimpleNamespace(opt=opt, in_train=True, loss=torch.tensor(0.5, requires_grad=True))
    rec = mod.Recorder()
    rec.set_runner(run)
    rec.begin_fit()
    rec.after_batch()
    opt.param_groups[0]["lr"], run.loss = 0.0, torch.tensor(0.25)
    rec.after_batch()
    run.in_train = False
    rec.after_batch()
    same(rec.lrs, [[0.1, 0.0], [0.2, 0.2]], "lrs per parameter group")
    same(rec.losses, [0.5, 0.25], "losses")
    same([type(x).__name__ for x in rec.losses], ["float", "float"], "types of the recorded losses")


# -------------------------------------------------------------------- schedules

@pytest.mark.exercise("00-annealers", points=2, hint="Each annealer starts at start (pos 0) and ends at end (pos 1); see the lesson's three formulas.")
def test_annealers(mod):
    lin, cos, exp = mod.sched_lin(1.0, 3.0), mod.sched_cos(1.0, 3.0), mod.sched_exp(0.01, 1.0)
    near([lin(p) for p in (0, 0.25, 1)], [1.0, 1.5, 3.0], "sched_lin(1, 3) at pos 0, 0.25, 1")
    near([cos(p) for p in (0, 0.5, 1)], [1.0, 2.0, 3.0], "sched_cos(1, 3) at pos 0, 0.5, 1")
    assert cos(0.1) - cos(0) < lin(0.1) - lin(0), \
        f"sched_cos must be flat at the start: cos(0.1) - cos(0) = {cos(0.1) - cos(0):.4f}, linear {lin(0.1) - lin(0):.4f}"
    near([exp(p) for p in (0, 0.5, 1)], [0.01, 0.1, 1.0], "sched_exp(0.01, 1) at pos 0, 0.5, 1")
    down = mod.sched_cos(2.0, 0.0)  # an end of 0 and a falling schedule
    near([down(p) for p in (0, 0.5, 1)], [2.0, 1.0, 0.0], "sched_cos(2, 0) at pos 0, 0.5, 1")


@pytest.mark.exercise("00-combine-scheds", points=3, hint="Find the piece pos falls in, then rescale pos to 0..1 inside that piece.")
def test_combine_scheds_pieces(mod):
    sched = mod.combine_scheds([0.3, 0.7], [mod.sched_lin(0.0, 0.6), mod.sched_lin(0.6, 0.1)])
    for pos, expected in [(0.0, 0.0), (0.15, 0.3), (0.3, 0.6), (0.65, 0.35), (1.0, 0.1)]:  # 1.0: the last piece's end
        near(sched(pos), expected, f"lin 0 -> 0.6 over 30%, then 0.6 -> 0.1: value at pos {pos}")
    steps = mod.combine_scheds([0.3, 0.7], [mod.sched_no(1.0, 1.0), mod.sched_no(2.0, 2.0)])
    same((steps(0.29), steps(0.3), steps(1.0)), (1.0, 2.0, 2.0),
         "constant 1 then constant 2 at pos 0.29, 0.3, 1.0 (a boundary belongs to the piece it starts)")


@pytest.mark.exercise("00-combine-scheds", points=1, hint="Compute the boundaries in a list of your own: the caller may use theirs again.")
def test_combine_scheds_leaves_the_callers_lists_alone(mod):
    pcts, scheds = [0.25, 0.75], [mod.sched_no(1.0, 1.0), mod.sched_no(2.0, 2.0)]
    pieces = list(scheds)
    sched = mod.combine_scheds(pcts, scheds)
    values = [sched(p) for p in (0.1, 0.5, 1.0)]
    same(pcts, [0.25, 0.75], "the caller's list of fractions after combine_scheds")
    assert len(scheds) == 2 and all(a is b for a, b in zip(scheds, pieces)), \
        f"the caller's list of schedules was changed: got {scheds!r}"
    same(values, [1.0, 2.0, 2.0], "values at pos 0.1, 0.5, 1.0")
    again = mod.combine_scheds(pcts, scheds)  # the same lists again, e.g. for a second run
    same([again(p) for p in (0.1, 0.5, 1.0)], [1.0, 2.0, 2.0], "values of a second schedule made from the same lists")


@pytest.mark.exercise("00-combine-scheds", points=1, hint="ValueError unless the fractions are positive, sum to 1 up to rounding (math.isclose) and match the schedules.")
def test_combine_scheds_rejects_bad_fractions(mod):
    for pcts, n in [([0.5, 0.6], 2), ([1.0], 2), ([1.5, -0.5], 2)]:  # the last sums to 1, but is negative
        raises(ValueError, lambda: mod.combine_scheds(pcts, [mod.sched_no(k, k) for k in range(1, n + 1)]),
               f"combine_scheds({pcts}, {n} schedules)")
    three = mod.combine_scheds([0.6, 0.3, 0.1], [mod.sched_no(k, k) for k in (1, 2, 3)])  # sum is 0.9999999999999999
    same(three(0.95), 3, "[0.6, 0.3, 0.1] (sum 0.9999999999999999) at pos 0.95")


@pytest.mark.exercise("00-param-scheduler", points=2, hint="The position is the fraction of training done; every param group gets its own schedule's value.")
def test_param_scheduler_sets_each_group(mod):
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=1.0)
    run = SimpleNamespace(opt=opt, n_epochs=1.5, epochs=3, in_train=True)
    sched = mod.ParamScheduler("lr", [mod.sched_lin(0.0, 1.0), mod.sched_lin(1.0, 0.0)])
    sched.set_runner(run)
    sched.begin_fit()
    sched.begin_batch()
    near([g["lr"] for g in opt.param_groups], [0.5, 0.5], "lrs at n_epochs 1.5 of 3")
    run.n_epochs = 0.75
    sched.begin_batch()
    near([g["lr"] for g in opt.param_groups], [0.25, 0.75], "lrs at n_epochs 0.75 of 3")


@pytest.mark.exercise("00-param-scheduler", points=1, hint="Only training batches change the schedule.")
def test_param_scheduler_in_a_real_fit(mod):
    learn = tiny_learner(mod)
    rec = mod.Recorder()
    mod.Runner(cbs=[rec, mod.ParamScheduler("lr", mod.sched_lin(1.0, 0.0))]).fit(2, learn)
    # 3 training batches per epoch: positions 0, 1/6, ..., 5/6 -> lrs 1, 5/6, ..., 1/6
    near(rec.lrs[0], [1 - i / 6 for i in range(6)], "lrs of the 6 training batches, sched_lin(1, 0) over 2 epochs")
    near(learn.opt.param_groups[0]["lr"], 1 / 6, "lr left after the fit")
