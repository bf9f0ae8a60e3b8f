"""Graded tests for lesson 01: callbacks, closures, dunder methods, statistics and softmax.

Run them on your exercises with `make grade LESSON=01`, or
`python -m pytest tests/graded/test_l01_callbacks.py --impl exercises`.
"""

import functools
import types

import pytest
import torch
import torch.nn.functional as F

CLASSES = ["cat", "dog", "plane", "fish", "building"]
IMAGE_1 = [0.02, -2.49, -1.75, 2.07, 1.25]
IMAGE_2 = [-1.42, -3.93, -3.19, 0.63, -0.19]


# --- callbacks ------------------------------------------------------------------------------


@pytest.mark.exercise("01-closure", points=2,
                      hint="Define `def show_progress(epoch): ...` inside make_show_progress and return it (no call).")
def test_closure_prints_with_its_exclamation(mod, capsys):
    f = mod.make_show_progress("Nice")
    assert callable(f)
    assert capsys.readouterr().out == "", "make_show_progress should print nothing until the callback is called"
    f(3)
    assert capsys.readouterr().out == "Nice! We've finished epoch 3!\n"


@pytest.mark.exercise("01-closure", points=1,
                      hint="Each call of make_show_progress must create a new inner function that uses its own argument.")
def test_closure_each_call_remembers_its_own_argument(mod, capsys):
    a, b = mod.make_show_progress("Yes"), mod.make_show_progress("No")
    assert a is not b
    b(0)
    a(1)
    assert capsys.readouterr().out == "No! We've finished epoch 0!\nYes! We've finished epoch 1!\n"
    assert mod.slow_calculation(a, n=3, delay=0) == 5
    assert capsys.readouterr().out.splitlines()[-1] == "Yes! We've finished epoch 2!"


@pytest.mark.exercise("01-partial-adapter", points=2,
                      hint="functools.partial(func, first_arg) returns a callable that fills in func's first argument for you.")
def test_partial_adapter(mod, capsys):
    f = mod.make_show_progress_partial("OK I guess")
    assert isinstance(f, functools.partial), "use functools.partial"
    assert f.func is mod.show_progress2 and f.args == ("OK I guess",)
    assert mod.slow_calculation(f, n=2, delay=0) == 1
    assert capsys.readouterr().out == "OK I guess! We've finished epoch 0!\nOK I guess! We've finished epoch 1!\n"


@pytest.mark.exercise("01-callable-callback", points=2,
                      hint="Store exclamation and an empty list in __init__; __call__ prints and appends the epoch.")
def test_callable_callback_prints_and_keeps_state(mod, capsys):
    cb = mod.ProgressCallback("Woo")
    assert cb.epochs == []
    assert mod.slow_calculation(cb, n=3, delay=0) == 5
    assert cb.epochs == [0, 1, 2]
    assert capsys.readouterr().out.splitlines() == [f"Woo! We've finished epoch {i}!" for i in range(3)]
    cb(7)
    assert cb.epochs == [0, 1, 2, 7]


@pytest.mark.exercise("01-callable-callback", points=1,
                      hint="Create the list inside __init__ (self.epochs = []), not as a class attribute or a default argument.")
def test_callable_callback_instances_do_not_share_state(mod, capsys):
    a, b = mod.ProgressCallback(), mod.ProgressCallback("Hey")
    a(1)
    assert a.epochs == [1] and b.epochs == []
    assert a.exclamation == "Awesome"
    assert capsys.readouterr().out == "Awesome! We've finished epoch 1!\n"


class _Recorder:
    """A callback with both hooks that records how it was called."""

    def __init__(self, stop_above=None):
        self.calls, self.stop_above = [], stop_above

    def before_calc(self, epoch):
        self.calls.append(("before", epoch))

    def after_calc(self, epoch, val):
        self.calls.append(("after", epoch, val))
        return self.stop_above is not None and val > self.stop_above


@pytest.mark.exercise("01-hooks-runner", points=2,
                      hint="Call before_calc(i) before adding i*i, and after_calc(i, res) after it, for each step.")
def test_hooks_runner_calls_both_hooks_in_order(mod):
    cb = _Recorder()
    assert mod.slow_calculation_hooks(cb, n=3, delay=0) == 5
    assert cb.calls == [("before", 0), ("after", 0, 0), ("before", 1), ("after", 1, 1),
                        ("before", 2), ("after", 2, 5)]


@pytest.mark.exercise("01-hooks-runner", points=2,
                      hint="Use getattr(cb, 'before_calc', None): a missing hook (or cb=None) must simply be skipped.")
def test_hooks_runner_skips_missing_hooks(mod, capsys):
    assert mod.slow_calculation_hooks(None, delay=0) == 30
    assert mod.slow_calculation_hooks(object(), delay=0) == 30
    only_before = types.SimpleNamespace(before_calc=lambda epoch: print("before", epoch))
    assert mod.slow_calculation_hooks(only_before, n=2, delay=0) == 1
    assert capsys.readouterr().out == "before 0\nbefore 1\n"


@pytest.mark.exercise("01-hooks-runner", points=2,
                      hint="If after_calc returns something truthy, print 'stopping early' and break; return the running result.")
def test_hooks_runner_stops_early_on_truthy_return(mod, capsys):
    assert mod.slow_calculation_hooks(mod.PrintAfterCallback(), delay=0) == 14
    out = capsys.readouterr().out.splitlines()
    assert out == ["After 0: 0", "After 1: 1", "After 2: 5", "After 3: 14", "stopping early"]
    cb = _Recorder(stop_above=0)
    assert mod.slow_calculation_hooks(cb, delay=0) == 1
    assert cb.calls[-1] == ("after", 1, 1) and len(cb.calls) == 4
    truthy = types.SimpleNamespace(after_calc=lambda epoch, val: 1 if val > 3 else 0)  # truthy, not True
    assert mod.slow_calculation_hooks(truthy, delay=0) == 5


@pytest.mark.exercise("01-stateful-calculator", points=2,
                      hint="callback(name, *args): hook = getattr(self.cb, name, None); return hook(self, *args) if hook else None.")
def test_calculator_dispatches_with_itself_first(mod):
    seen = []

    class Cb:
        def before_calc(self, calc, epoch):
            seen.append((calc, epoch))
            return "from before"

    calc = mod.SlowCalculator(Cb(), delay=0)
    assert calc.callback("before_calc", 4) == "from before"
    assert seen == [(calc, 4)]
    assert calc.callback("after_calc", 4) is None, "a missing hook returns None"
    assert mod.SlowCalculator(None).callback("before_calc", 0) is None


@pytest.mark.exercise("01-stateful-calculator", points=3,
                      hint="calc() adds i*i to self.res (not a local) so that hooks can change it; stop on a truthy after_calc.")
def test_calculator_callback_changes_state(mod, capsys):
    calc = mod.SlowCalculator(mod.ModifyingCallback(), delay=0)
    assert calc.calc() == 15 and calc.res == 15
    assert capsys.readouterr().out.splitlines() == ["After 0: 0", "After 1: 1", "After 2: 6", "After 3: 15",
                                                    "stopping early"]
    assert mod.SlowCalculator(delay=0).calc() == 30

    class StopWithOne:  # a truthy return value that is not True
        def after_calc(self, calc, epoch):
            return 1 if calc.res > 3 else 0
    assert mod.SlowCalculator(StopWithOne(), delay=0).calc() == 5


# --- dunder methods ---------------------------------------------------------------------------


@pytest.mark.exercise("01-dunder", points=2,
                      hint="__len__ returns len(self.items); __getitem__ returns self.items[i] for an int and Items(...) for a slice.")
def test_items_len_int_and_slice(mod):
    it = mod.Items("abcdef")
    assert len(it) == 6
    assert it[0] == "a" and it[-1] == "f"
    part = it[1:4]
    assert isinstance(part, mod.Items) and list(part) == ["b", "c", "d"]
    assert list(it) == list("abcdef") and "c" in it
    with pytest.raises(IndexError):
        it[6]
    assert len(mod.Items()) == 0


@pytest.mark.exercise("01-dunder", points=2,
                      hint="Check for a list of bools (a mask) before a list of ints: True is also an int.")
def test_items_fancy_indexing(mod):
    it = mod.Items([10, 20, 30, 40])
    assert list(it[[3, 0, 0]]) == [40, 10, 10]
    picked = it[[True, False, True, False]]
    assert isinstance(picked, mod.Items) and list(picked) == [10, 30]
    assert list(it[[1]]) == [20]
    with pytest.raises(IndexError):
        it[[True, False]]


@pytest.mark.exercise("01-dunder", points=1,
                      hint="repr: f'Items({len(self)} items) ' + the list of the first 10, with ', ...]' when there are more.")
def test_items_repr(mod):
    assert repr(mod.Items([1, 2, 3])) == "Items(3 items) [1, 2, 3]"
    assert repr(mod.Items(range(12))) == "Items(12 items) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert repr(mod.Items(range(10))) == "Items(10 items) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"  # all 10 shown: no "..."
    assert repr(mod.Items()) == "Items(0 items) []"


@pytest.mark.exercise("01-context-manager", points=2,
                      hint="__enter__ saves getattr(obj, name) for each name, sets the new values and returns obj.")
def test_temporary_attrs_sets_and_restores(mod):
    obj = types.SimpleNamespace(training=True, lr=0.1)
    with mod.TemporaryAttrs(obj, training=False, lr=0.5) as same:
        assert same is obj
        assert obj.training is False and obj.lr == 0.5
    assert obj.training is True and obj.lr == 0.1


@pytest.mark.exercise("01-context-manager", points=2,
                      hint="__exit__ runs on an exception too: restore everything, then return False so the exception propagates.")
def test_temporary_attrs_restores_on_error_and_removes_new_attrs(mod):
    obj = types.SimpleNamespace(training=True)
    with pytest.raises(KeyError):
        with mod.TemporaryAttrs(obj, training=False, note="tmp"):
            assert obj.note == "tmp"
            raise KeyError("boom")
    assert obj.training is True
    assert not hasattr(obj, "note"), "an attribute that did not exist before must be deleted again"
    obj = types.SimpleNamespace(hook=None)
    with mod.TemporaryAttrs(obj, hook=print):
        assert obj.hook is print
    assert hasattr(obj, "hook") and obj.hook is None, "an attribute whose value was None is restored to None"


# --- statistics -------------------------------------------------------------------------------


@pytest.mark.exercise("01-mad", points=2,
                      hint="Average the absolute distances from the mean; raise ValueError first when x has no element.")
def test_mean_abs_dev(mod):
    t = torch.tensor([1.0, 2.0, 4.0, 18.0])
    out = mod.mean_abs_dev(t)
    assert torch.is_tensor(out) and out.dim() == 0 and out.dtype == torch.float32
    assert out.item() == pytest.approx(5.875)
    x = torch.randn(3, 7, dtype=torch.float64)
    assert mod.mean_abs_dev(x).item() == pytest.approx((x - x.mean()).abs().mean().item())
    with pytest.raises(ValueError):
        mod.mean_abs_dev(torch.tensor([]))


@pytest.mark.exercise("01-running-sums", points=2,
                      hint="Keep n, sum(x) and sum(x*x) while looping once over the batches; var = ss/n - (s/n)**2.")
def test_one_pass_stats_matches_torch(mod):
    t = torch.tensor([1.0, 2.0, 4.0, 18.0])
    mean, var, std = mod.one_pass_stats(iter(t.split(3)))  # a one-shot iterator: only one pass is possible
    assert mean.item() == pytest.approx(6.25) and var.item() == pytest.approx(47.1875)
    assert std.item() == pytest.approx(6.8693, abs=1e-4)
    x = torch.randn(50, 3, dtype=torch.float64)
    mean, var, std = mod.one_pass_stats(b for b in x.split(7))
    assert mean.dtype == torch.float64
    torch.testing.assert_close(mean, x.mean())
    torch.testing.assert_close(var, x.var(unbiased=False))
    torch.testing.assert_close(std, x.std(unbiased=False))


def _cancelling_float32_batches():
    """Float32 batches with mean 8192 and variance exactly 0.5, on which E[x^2] - E[x]^2 gives 0.

    1024 values: 256 x 8191, 512 x 8192, 256 x 8193, shuffled. Every square rounds in float32
    (8193^2 = 2^26 + 2^14 + 1 needs 27 bits, float32 keeps 24) to 2^26 - 2^14, 2^26 or 2^26 + 2^14.
    Those are multiples of 2^14 and every sum of them stays below 2^38, so all the running sums
    are exact in float32, in any order: the float32 textbook formula gives exactly 0, however the
    sums are grouped, while the true variance is 0.5.
    """
    x = torch.tensor([8191.0] * 256 + [8192.0] * 512 + [8193.0] * 256)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]
    return x.split(100)


def _textbook_float32(batches):
    """The one-pass textbook formula with float32 running sums: ss/n - (s/n)**2."""
    n, s, ss = 0, torch.zeros((), dtype=torch.float32), torch.zeros((), dtype=torch.float32)
    for b in batches:
        n, s, ss = n + b.numel(), s + b.sum(), ss + (b * b).sum()
    mean = s / n
    return mean, ss / n - mean ** 2


@pytest.mark.exercise("01-running-sums", points=2,
                      hint="This exercise is the textbook formula, flaws included: float32 tensors s and ss, "
                           "var = ss/n - (s/n)**2 at the end; no subtracting the mean, no second pass, no float64.")
def test_one_pass_stats_float32_is_the_textbook_formula(mod):
    batches = _cancelling_float32_batches()
    x = torch.cat(batches)
    assert x.double().var(unbiased=False).item() == 0.5  # the truth (a two-pass variance gets it)
    exp_mean, exp_var = _textbook_float32(batches)
    assert exp_mean.item() == 8192.0 and exp_var.item() == 0.0  # what float32 running sums give
    mean, var, std = mod.one_pass_stats(b for b in batches)
    assert var.dtype == torch.float32, "accumulate in the batches' dtype (float32 here), not float64"
    assert mean.item() == 8192.0
    assert var.item() == exp_var.item(), (
        f"got var {var.item()}, but float32 running sums give ss/n - (s/n)**2 = {exp_var.item()} here "
        "(the true variance is 0.5): one_pass_stats is the textbook one-pass formula, not a two-pass "
        "or shifted variance; RunningStats is the robust one")
    assert std.item() == 0.0
    # large mean, variance ~1: the float32 textbook variance comes out negative here (no clamping)
    x = (1e4 + torch.randn(4000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))).float()
    exp_mean, exp_var = _textbook_float32(x.split(100))
    assert exp_var.item() < 0
    mean, var, std = mod.one_pass_stats(iter(x.split(100)))
    assert var.item() == exp_var.item() and torch.isnan(std), "a negative variance stays negative; its sqrt is nan"


@pytest.mark.exercise("01-running-sums", points=1,
                      hint="Skip empty batches; if no element was seen at all, raise ValueError.")
def test_one_pass_stats_empty(mod):
    with pytest.raises(ValueError):
        mod.one_pass_stats([])
    with pytest.raises(ValueError):
        mod.one_pass_stats([torch.tensor([])])
    mean, var, _ = mod.one_pass_stats([torch.tensor([]), torch.tensor([2.0, 4.0])])
    assert mean.item() == 3.0 and var.item() == 1.0


@pytest.mark.exercise("01-running-stats", points=2,
                      hint="Keep n, the mean and M2 (sum of squared deviations); merge each batch's mean and M2 into them.")
def test_running_stats_matches_torch(mod):
    x = torch.randn(103, dtype=torch.float64) * 3 + 1
    rs = mod.RunningStats()
    for b in x.split(10):
        assert rs.update(b) is rs, "update returns self"
    assert rs.n == 103
    torch.testing.assert_close(rs.mean, x.mean())
    torch.testing.assert_close(rs.var, x.var(unbiased=False))
    torch.testing.assert_close(rs.std, x.std(unbiased=False))
    rs2 = mod.RunningStats().update(torch.tensor([[1.0, 2.0]])).update(torch.tensor([])).update(torch.tensor([4.0, 18.0]))
    assert rs2.n == 4 and rs2.mean.item() == pytest.approx(6.25) and rs2.var.item() == pytest.approx(47.1875)


@pytest.mark.exercise("01-running-stats", points=3,
                      hint="Never form E[x^2]: in float32 it is ~1e8 here and E[x]^2 cancels it to noise. Use deviations from a mean.")
def test_running_stats_float32_large_mean(mod):
    x = 1e4 + torch.randn(4000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x32 = x.float()  # var ~1, mean 1e4: E[x^2] ~ 1e8, where float32 numbers are 8 apart
    batches = x32.split(100)
    truth = x32.double()  # the float32 data's statistics, computed in float64
    textbook = _textbook_float32(batches)[1].item()
    assert abs(textbook - truth.var(unbiased=False).item()) > 0.5  # the data defeats E[x^2] - E[x]^2
    rs = mod.RunningStats()
    for b in batches:
        rs.update(b)
    assert rs.var.dtype == torch.float32 and rs.mean.dtype == torch.float32, "keep the state in the batches' dtype"
    assert rs.var.item() == pytest.approx(truth.var(unbiased=False).item(), rel=1e-3), (
        f"var {rs.var.item()} vs {truth.var(unbiased=False).item():.6f} in float64 "
        f"(the float32 textbook formula gives {textbook})")
    assert rs.std.item() == pytest.approx(truth.std(unbiased=False).item(), rel=1e-3)
    assert rs.mean.item() == pytest.approx(truth.mean().item(), abs=1e-2)
    # the data on which the float32 textbook formula gives exactly 0: the true variance is 0.5
    rs = mod.RunningStats()
    for b in _cancelling_float32_batches():
        rs.update(b)
    assert rs.var.item() == pytest.approx(0.5, rel=1e-3) and rs.mean.item() == pytest.approx(8192.0, abs=1e-3)


@pytest.mark.exercise("01-running-stats", points=1,
                      hint="Reading mean or var before any update should raise ValueError with a clear message.")
def test_running_stats_no_data(mod):
    rs = mod.RunningStats()
    assert rs.n == 0
    with pytest.raises(ValueError):
        rs.mean
    with pytest.raises(ValueError):
        rs.update(torch.tensor([])).var


@pytest.mark.exercise("01-covariance", points=2,
                      hint="The mean of the product of the two deviations from their means; check shapes and emptiness first.")
def test_covariance(mod):
    x = torch.randn(30, dtype=torch.float64)
    y = 2 * x + 0.1 * torch.randn(30, dtype=torch.float64)
    z = torch.randn(30, dtype=torch.float64)
    for a, b in [(x, y), (x, z)]:
        expected = torch.cov(torch.stack([a, b]), correction=0)[0, 1]
        torch.testing.assert_close(mod.covariance(a, b), expected)
    torch.testing.assert_close(mod.covariance(x, x), x.var(unbiased=False))  # variance is covariance with itself
    assert mod.covariance(x, y) > 10 * mod.covariance(x, z).abs()


@pytest.mark.exercise("01-covariance", points=1,
                      hint="Raise ValueError when x.shape != y.shape or the inputs are empty.")
def test_covariance_bad_input(mod):
    with pytest.raises(ValueError):
        mod.covariance(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError):
        mod.covariance(torch.tensor([]), torch.tensor([]))


@pytest.mark.exercise("01-correlation", points=2,
                      hint="cov / (std_x * std_y), with population (divide by N) statistics throughout.")
def test_pearson_matches_corrcoef(mod):
    x = torch.randn(40, dtype=torch.float64)
    for y in [3 * x - 1, -x, x + torch.randn(40, dtype=torch.float64), torch.randn(40, dtype=torch.float64)]:
        torch.testing.assert_close(mod.pearson(x, y), torch.corrcoef(torch.stack([x, y]))[0, 1])
    assert mod.pearson(x, 3 * x - 1).item() == pytest.approx(1.0)
    s = torch.linspace(-1, 1, 21, dtype=torch.float64)
    assert abs(mod.pearson(s, s ** 2).item()) < 1e-12, "a perfect but non-linear relation has r = 0"


@pytest.mark.exercise("01-correlation", points=1,
                      hint="A constant input has std 0: the division gives nan, as torch.corrcoef does; bad shapes raise ValueError.")
def test_pearson_edge_cases(mod):
    assert torch.isnan(mod.pearson(torch.ones(5), torch.arange(5.0)))
    with pytest.raises(ValueError):
        mod.pearson(torch.zeros(2), torch.zeros(3))


# --- softmax, sigmoid, log-sum-exp -------------------------------------------------------------


@pytest.mark.exercise("01-sigmoid", points=2,
                      hint="Only exponentiate -|x| (never positive), then pick 1/(1+e) or e/(1+e) by the sign of x with torch.where; "
                           "1 - p loses small values to rounding.")
def test_sigmoid_matches_torch_and_survives_large_inputs(mod):
    x = torch.tensor([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])
    out = mod.sigmoid(x)
    assert not torch.isnan(out).any(), "exp(1e4) is inf in float32, and inf / inf is nan"
    torch.testing.assert_close(out, torch.sigmoid(x))
    assert out[0].item() == 0.0 and out[-1].item() == 1.0 and out[3].item() == 0.5
    torch.testing.assert_close(mod.sigmoid(torch.tensor(IMAGE_1)), torch.sigmoid(torch.tensor(IMAGE_1)))
    tail = torch.tensor([-20.0, -30.0, -80.0])  # tiny but not 0: 1 - 1/(1 + exp(x)) rounds them to 0
    torch.testing.assert_close(mod.sigmoid(tail), torch.sigmoid(tail), rtol=1e-5, atol=0)


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="Take out the maximum m along dim: m + log(sum(exp(x - m))). Mind keepdim, and compare with torch.logsumexp.")
def test_logsumexp_matches_torch(mod):
    x = torch.randn(4, 5, 3)
    for dim in (0, 1, -1):
        torch.testing.assert_close(mod.logsumexp(x, dim=dim), torch.logsumexp(x, dim=dim))
    out = mod.logsumexp(x, dim=1, keepdim=True)
    assert out.shape == (4, 1, 3)
    torch.testing.assert_close(out, torch.logsumexp(x, dim=1, keepdim=True))


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="Subtract the row maximum before exp (largest term exp(0) = 1); in log_softmax, subtract it before anything else.")
def test_logsumexp_large_logits_do_not_overflow(mod):
    x = torch.tensor([[1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4]])
    out = mod.logsumexp(x)
    assert torch.isfinite(out).all(), "exp(1e4) overflows: subtract the maximum first"
    torch.testing.assert_close(out, torch.logsumexp(x, dim=-1))
    ls = mod.log_softmax(x)
    assert torch.isfinite(ls).all()
    torch.testing.assert_close(ls, torch.log_softmax(x, dim=-1))


@pytest.mark.exercise("01-logsumexp", points=1,
                      hint="If a row's maximum is -inf, use 0 as its shift: -inf - (-inf) would be nan.")
def test_logsumexp_all_masked_row(mod):
    x = torch.tensor([[0.0, -float("inf")], [-float("inf"), -float("inf")]])
    out = mod.logsumexp(x)
    assert out[0].item() == 0.0 and out[1].item() == -float("inf")


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="z = x - max(x); log_softmax(x) = z - logsumexp(z, dim, keepdim=True).")
def test_log_softmax_matches_torch_and_only_sees_differences(mod):
    x = torch.randn(3, 6)
    torch.testing.assert_close(mod.log_softmax(x), torch.log_softmax(x, dim=-1))
    torch.testing.assert_close(mod.log_softmax(x, dim=0), torch.log_softmax(x, dim=0))
    one, two = torch.tensor(IMAGE_1), torch.tensor(IMAGE_2)
    torch.testing.assert_close(mod.log_softmax(one), mod.log_softmax(two))  # same differences, same softmax
    assert mod.softmax(one)[3].item() == pytest.approx(0.62, abs=0.005)


@pytest.mark.exercise("01-cross-entropy", points=2,
                      hint="Take log_softmax, pick row n's column targets[n] with integer-array indexing (torch.arange(N), targets), negate, average.")
def test_cross_entropy_matches_torch(mod):
    logits = torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    torch.testing.assert_close(mod.cross_entropy(logits, targets), F.cross_entropy(logits, targets))
    big = torch.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    t = torch.tensor([0, 2])
    out = mod.cross_entropy(big, t)
    assert torch.isfinite(out)
    torch.testing.assert_close(out, F.cross_entropy(big, t))


@pytest.mark.exercise("01-multilabel", points=2,
                      hint="keep = sigmoid(logits) > threshold; collect the class names where keep is True, row by row.")
def test_predict_labels(mod):
    logits = torch.tensor([IMAGE_1, IMAGE_2])
    assert mod.predict_labels(logits, CLASSES) == [["cat", "fish", "building"], ["fish"]]
    assert mod.predict_labels(logits, CLASSES, threshold=0.7) == [["fish", "building"], []]
    assert mod.predict_labels(torch.tensor(IMAGE_1), CLASSES, threshold=0.8) == ["fish"]


@pytest.mark.exercise("01-multilabel", points=1,
                      hint="A probability must be strictly above the threshold; check logits.shape[-1] == len(classes).")
def test_predict_labels_edge_cases(mod):
    assert mod.predict_labels(torch.tensor([0.0, 1e4, -1e4]), ["a", "b", "c"]) == ["b"]
    with pytest.raises(ValueError):
        mod.predict_labels(torch.zeros(2, 4), ["a", "b", "c"])
