"""Graded tests for lesson 01: callbacks, closures, dunder methods, statistics and softmax.

Run them on your exercises with `make grade LESSON=01`, or
`python -m pytest tests/graded/test_l01_callbacks.py --impl exercises`.
"""

import functools
import types

import pytest
import torch
import torch.nn.functional as F

from checks import near, raises, same

CLASSES = ["cat", "dog", "plane", "fish", "building"]
IMAGE_1 = [0.02, -2.49, -1.75, 2.07, 1.25]
IMAGE_2 = [-1.42, -3.93, -3.19, 0.63, -0.19]


def show(t):
    """A tensor's values, to 6 significant digits, for a failure message."""
    t = torch.as_tensor(t)
    return float(f"{t.item():.6g}") if t.numel() == 1 else [float(f"{v:.6g}") for v in t.flatten().tolist()]


def close(got, expected, what, rtol=None, atol=None):
    """Fail, saying both values, unless the tensor `got` matches `expected` in dtype, shape and value
    (torch.testing.assert_close's default tolerances for the dtype unless given)."""
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__} {got!r}"
    assert got.dtype == expected.dtype, f"{what}: got dtype {got.dtype}, expected {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    f64 = expected.dtype == torch.float64
    rtol = rtol if rtol is not None else (1e-7 if f64 else 1.3e-6)
    atol = atol if atol is not None else (1e-7 if f64 else 1e-5)
    assert torch.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True), \
        f"{what}: got {show(got)}, expected {show(expected)}"


# --- callbacks ------------------------------------------------------------------------------


@pytest.mark.exercise("01-closure", points=2,
                      hint="A function can define another function inside it, and return it without calling it.")
def test_closure_prints_with_its_exclamation(mod, capsys):
    f = mod.make_show_progress("Nice")
    assert callable(f), f"make_show_progress must return a function, got {f!r}"
    same(capsys.readouterr().out, "", "printed by make_show_progress itself (nothing until the callback is called)")
    f(3)
    same(capsys.readouterr().out, "Nice! We've finished epoch 3!\n", "printed by make_show_progress('Nice')(3)")


@pytest.mark.exercise("01-closure", points=1,
                      hint="Each call of make_show_progress must create a new inner function that uses its own argument.")
def test_closure_each_call_remembers_its_own_argument(mod, capsys):
    a, b = mod.make_show_progress("Yes"), mod.make_show_progress("No")
    assert a is not b, "two calls of make_show_progress returned the same function object"
    b(0)
    a(1)
    same(capsys.readouterr().out, "No! We've finished epoch 0!\nYes! We've finished epoch 1!\n",
         "printed by the 'No' callback at epoch 0, then the 'Yes' callback at epoch 1")
    same(mod.slow_calculation(a, n=3, delay=0), 5, "slow_calculation(callback, n=3)")
    same(capsys.readouterr().out.splitlines()[-1:], ["Yes! We've finished epoch 2!"], "last line printed")


@pytest.mark.exercise("01-partial-adapter", points=2,
                      hint="The standard library can fix a function's first arguments for you, and still show what it wraps.")
def test_partial_adapter(mod, capsys):
    f = mod.make_show_progress_partial("OK I guess")
    assert isinstance(f, functools.partial), f"expected a functools.partial, got {type(f).__name__}"
    assert f.func is mod.show_progress2, f"the partial must wrap show_progress2, got {f.func!r}"
    same(f.args, ("OK I guess",), "the partial's fixed arguments")
    same(mod.slow_calculation(f, n=2, delay=0), 1, "slow_calculation(partial, n=2)")
    same(capsys.readouterr().out, "OK I guess! We've finished epoch 0!\nOK I guess! We've finished epoch 1!\n", "printed")


@pytest.mark.exercise("01-callable-callback", points=2,
                      hint="State lives on self: set it up in __init__, use it in __call__.")
def test_callable_callback_prints_and_keeps_state(mod, capsys):
    cb = mod.ProgressCallback("Woo")
    same(cb.epochs, [], "epochs of a new ProgressCallback")
    same(mod.slow_calculation(cb, n=3, delay=0), 5, "slow_calculation(cb, n=3)")
    same(cb.epochs, [0, 1, 2], "epochs after 3 steps")
    same(capsys.readouterr().out.splitlines(), [f"Woo! We've finished epoch {i}!" for i in range(3)], "printed lines")
    cb(7)
    same(cb.epochs, [0, 1, 2, 7], "epochs after a further cb(7)")


@pytest.mark.exercise("01-callable-callback", points=1,
                      hint="Each instance needs its own list, made when the instance is made.")
def test_callable_callback_instances_do_not_share_state(mod, capsys):
    a, b = mod.ProgressCallback(), mod.ProgressCallback("Hey")
    a(1)
    same((a.epochs, b.epochs), ([1], []), "(a.epochs, b.epochs) after a(1)")
    same(a.exclamation, "Awesome", "the default exclamation")
    same(capsys.readouterr().out, "Awesome! We've finished epoch 1!\n", "printed by a(1)")
    quiet = mod.ProgressCallback("")  # an empty exclamation is still the caller's choice
    quiet(0)
    same(capsys.readouterr().out, "! We've finished epoch 0!\n", "printed by ProgressCallback('')(0)")


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
                      hint="One hook before each step, the other after it, with the running result.")
def test_hooks_runner_calls_both_hooks_in_order(mod):
    cb = _Recorder()
    same(mod.slow_calculation_hooks(cb, n=3, delay=0), 5, "slow_calculation_hooks(cb, n=3)")
    same(cb.calls, [("before", 0), ("after", 0, 0), ("before", 1), ("after", 1, 1), ("before", 2), ("after", 2, 5)],
         "hook calls")
    cb = _Recorder()
    same(mod.slow_calculation_hooks(cb, n=0, delay=0), 0, "slow_calculation_hooks(cb, n=0)")
    same(cb.calls, [], "hook calls for n=0")


@pytest.mark.exercise("01-hooks-runner", points=2,
                      hint="A callback may lack a hook, or be None: look the hook up with a default.")
def test_hooks_runner_skips_missing_hooks(mod, capsys):
    same(mod.slow_calculation_hooks(None, delay=0), 30, "slow_calculation_hooks(None)")
    same(mod.slow_calculation_hooks(object(), delay=0), 30, "slow_calculation_hooks(object()) (no hooks at all)")
    only_before = types.SimpleNamespace(before_calc=lambda epoch: print("before", epoch))
    same(mod.slow_calculation_hooks(only_before, n=2, delay=0), 1, "with only before_calc, n=2")
    same(capsys.readouterr().out, "before 0\nbefore 1\n", "printed by a callback with only before_calc")


@pytest.mark.exercise("01-hooks-runner", points=2,
                      hint="Any truthy answer from after_calc (not only True) stops the loop, after printing 'stopping early'.")
def test_hooks_runner_stops_early_on_truthy_return(mod, capsys):
    same(mod.slow_calculation_hooks(mod.PrintAfterCallback(), delay=0), 14, "result with PrintAfterCallback")
    same(capsys.readouterr().out.splitlines(), ["After 0: 0", "After 1: 1", "After 2: 5", "After 3: 14", "stopping early"],
         "printed with PrintAfterCallback")
    cb = _Recorder(stop_above=0)
    same(mod.slow_calculation_hooks(cb, delay=0), 1, "result when after_calc says stop at val 1")
    same(cb.calls[-1:] + [len(cb.calls)], [("after", 1, 1), 4], "last hook call and number of calls")
    truthy = types.SimpleNamespace(after_calc=lambda epoch, val: 1 if val > 3 else 0)  # truthy, not True
    same(mod.slow_calculation_hooks(truthy, delay=0), 5, "result when after_calc returns 1 (truthy) above 3")


@pytest.mark.exercise("01-stateful-calculator", points=2,
                      hint="The dispatcher hands the calculator itself to the hook, and returns whatever the hook returned.")
def test_calculator_dispatches_with_itself_first(mod):
    seen = []

    class Cb:
        def before_calc(self, calc, epoch):
            seen.append((calc, epoch))
            return "from before"

    calc = mod.SlowCalculator(Cb(), delay=0)
    same(calc.callback("before_calc", 4), "from before", "calc.callback('before_calc', 4)")
    assert seen == [(calc, 4)], f"the hook must get (calculator, 4), got {seen!r}"
    same(calc.callback("after_calc", 4), None, "calc.callback for a hook the callback lacks")
    same(mod.SlowCalculator(None).callback("before_calc", 0), None, "callback(...) with no callback at all")


@pytest.mark.exercise("01-stateful-calculator", points=3,
                      hint="Hooks can only change the result if it lives on the calculator; stop on a truthy after_calc.")
def test_calculator_callback_changes_state(mod, capsys):
    calc = mod.SlowCalculator(mod.ModifyingCallback(), delay=0)
    same((calc.calc(), calc.res), (15, 15), "(calc(), res) with ModifyingCallback")
    same(capsys.readouterr().out.splitlines(), ["After 0: 0", "After 1: 1", "After 2: 6", "After 3: 15", "stopping early"],
         "printed with ModifyingCallback")
    same(mod.SlowCalculator(delay=0).calc(), 30, "calc() without a callback")

    class StopWithOne:  # a truthy return value that is not True
        def after_calc(self, calc, epoch):
            return 1 if calc.res > 3 else 0
    same(mod.SlowCalculator(StopWithOne(), delay=0).calc(), 5, "calc() when after_calc returns 1 above 3")


# --- dunder methods ---------------------------------------------------------------------------


@pytest.mark.exercise("01-dunder", points=2,
                      hint="An int gives one item, a slice a new Items; iteration and `in` follow from __iter__.")
def test_items_len_int_and_slice(mod):
    it = mod.Items("abcdef")
    same(len(it), 6, "len(Items('abcdef'))")
    same((it[0], it[-1]), ("a", "f"), "(it[0], it[-1])")
    part = it[1:4]
    assert isinstance(part, mod.Items), f"it[1:4] must be an Items, got {type(part).__name__}"
    same(list(part), ["b", "c", "d"], "list(it[1:4])")
    same(list(it), list("abcdef"), "list(it)")
    assert "c" in it, "'c' in Items('abcdef') is False"
    raises(IndexError, lambda: it[6], "Items('abcdef')[6]")
    same(len(mod.Items()), 0, "len(Items())")
    falsy = mod.Items([0, "", None])
    same((len(falsy), falsy[0], list(falsy)), (3, 0, [0, "", None]), "(len, [0], list) of Items([0, '', None])")


@pytest.mark.exercise("01-dunder", points=2,
                      hint="Check for a list of bools (a mask) before a list of ints: True is also an int.")
def test_items_fancy_indexing(mod):
    it = mod.Items([10, 20, 30, 40])
    same(list(it[[3, 0, 0]]), [40, 10, 10], "it[[3, 0, 0]]")
    picked = it[[True, False, True, False]]
    assert isinstance(picked, mod.Items), f"a mask must give an Items, got {type(picked).__name__}"
    same(list(picked), [10, 30], "it[[True, False, True, False]]")
    same(list(it[[1]]), [20], "it[[1]]")
    raises(IndexError, lambda: it[[True, False]], "a mask of 2 for 4 items")


@pytest.mark.exercise("01-dunder", points=1,
                      hint="Show the count, then at most the first 10 items; '...' only when some are left out.")
def test_items_repr(mod):
    for items, expected in [([1, 2, 3], "Items(3 items) [1, 2, 3]"),
                            (range(12), "Items(12 items) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"),
                            (range(10), "Items(10 items) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),  # all 10 shown: no "..."
                            ([], "Items(0 items) []")]:
        out = repr(mod.Items(items))
        assert type(out) is str, f"repr(Items({items!r})) must be a str, got {type(out).__name__}"
        same(out, expected, f"repr(Items({items!r}))")


@pytest.mark.exercise("01-context-manager", points=2,
                      hint="Remember what was there before (and what was not), then set the new values; `as` gets the object.")
def test_temporary_attrs_sets_and_restores(mod):
    obj = types.SimpleNamespace(training=True, lr=0.1)
    with mod.TemporaryAttrs(obj, training=False, lr=0.5) as same_obj:
        assert same_obj is obj, f"`with ... as x` must give the object itself, got {same_obj!r}"
        same((obj.training, obj.lr), (False, 0.5), "(training, lr) inside the block")
    same((obj.training, obj.lr), (True, 0.1), "(training, lr) after the block")
    obj = types.SimpleNamespace(count=0, flag=False)  # falsy old values must come back too
    with mod.TemporaryAttrs(obj, count=5, flag=True):
        same((obj.count, obj.flag), (5, True), "(count, flag) inside the block")
    same(vars(obj), {"count": 0, "flag": False}, "attributes after the block (old values 0 and False)")


@pytest.mark.exercise("01-context-manager", points=2,
                      hint="__exit__ runs on an exception too: restore everything, and don't swallow the exception.")
def test_temporary_attrs_restores_on_error_and_removes_new_attrs(mod):
    obj = types.SimpleNamespace(training=True)
    with pytest.raises(KeyError):
        with mod.TemporaryAttrs(obj, training=False, note="tmp"):
            same(obj.note, "tmp", "a new attribute inside the block")
            raise KeyError("boom")
        raise AssertionError("the KeyError raised in the block was swallowed: __exit__ must not return True")
    same(obj.training, True, "training after a block that raised")
    assert not hasattr(obj, "note"), f"an attribute that did not exist before must be deleted again, got note={obj.note!r}"
    obj = types.SimpleNamespace(hook=None)
    with mod.TemporaryAttrs(obj, hook=print):
        assert obj.hook is print, f"hook inside the block: got {obj.hook!r}, expected print"
    assert hasattr(obj, "hook") and obj.hook is None, \
        f"an attribute whose value was None is restored to None: got {vars(obj)}"


# --- statistics -------------------------------------------------------------------------------


@pytest.mark.exercise("01-mad", points=2,
                      hint="Average the absolute distances from the mean, without changing the input; ValueError when x has no element.")
def test_mean_abs_dev(mod):
    t = torch.tensor([1.0, 2.0, 4.0, 18.0])
    out = mod.mean_abs_dev(t)
    close(out, torch.tensor(5.875), "mean_abs_dev([1, 2, 4, 18])")
    same(t.tolist(), [1.0, 2.0, 4.0, 18.0], "the input after mean_abs_dev (it must not change)")
    x = torch.randn(3, 7, dtype=torch.float64)
    close(mod.mean_abs_dev(x), (x - x.mean()).abs().mean(), "mean_abs_dev of a 3x7 float64 tensor")
    raises(ValueError, lambda: mod.mean_abs_dev(torch.tensor([])), "mean_abs_dev of an empty tensor")


@pytest.mark.exercise("01-running-sums", points=2,
                      hint="Three running totals are enough for the mean and E[x^2] - E[x]^2, in one pass.")
def test_one_pass_stats_matches_torch(mod):
    t = torch.tensor([1.0, 2.0, 4.0, 18.0])
    mean, var, std = mod.one_pass_stats(iter(t.split(3)))  # a one-shot iterator: only one pass is possible
    near((mean.item(), var.item()), (6.25, 47.1875), "(mean, var) of [1, 2, 4, 18] in batches [1, 2, 4], [18]")
    near(std.item(), 6.8693, "std of [1, 2, 4, 18]", rel=0, abs=1e-4)
    x = torch.randn(50, 3, dtype=torch.float64)
    mean, var, std = mod.one_pass_stats(b for b in x.split(7))
    close(mean, x.mean(), "mean of float64 batches")
    close(var, x.var(unbiased=False), "var of float64 batches", rtol=1e-6, atol=1e-9)
    close(std, x.std(unbiased=False), "std of float64 batches", rtol=1e-6, atol=1e-9)


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
                      hint="This exercise is the textbook formula, flaws included: float32 running sums, "
                           "no subtracting the mean, no second pass, no float64.")
def test_one_pass_stats_float32_is_the_textbook_formula(mod):
    batches = _cancelling_float32_batches()
    x = torch.cat(batches)
    assert x.double().var(unbiased=False).item() == 0.5  # the truth (a two-pass variance gets it)
    exp_mean, exp_var = _textbook_float32(batches)
    assert exp_mean.item() == 8192.0 and exp_var.item() == 0.0  # what float32 running sums give
    mean, var, std = mod.one_pass_stats(b for b in batches)
    same(var.dtype, torch.float32, "dtype of the variance of float32 batches (accumulate in the batches' dtype)")
    same(mean.item(), 8192.0, "mean of the 8191/8192/8193 data")
    assert var.item() == exp_var.item(), (
        f"got var {var.item()}, but float32 running sums give ss/n - (s/n)**2 = {exp_var.item()} here "
        "(the true variance is 0.5): one_pass_stats is the textbook one-pass formula, not a two-pass "
        "or shifted variance; RunningStats is the robust one")
    same(std.item(), 0.0, "std when the textbook variance is 0")
    # large mean, variance ~1: the float32 textbook variance comes out negative here (no clamping)
    x = (1e4 + torch.randn(4000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))).float()
    exp_mean, exp_var = _textbook_float32(x.split(100))
    assert exp_var.item() < 0
    mean, var, std = mod.one_pass_stats(iter(x.split(100)))
    same(var.item(), exp_var.item(), "the float32 textbook variance at mean 1e4 (negative here: no clamping)")
    assert torch.isnan(std), f"the sqrt of a negative variance is nan, got std {std.item()}"


@pytest.mark.exercise("01-running-sums", points=1,
                      hint="Skip empty batches; if no element was seen at all, raise ValueError.")
def test_one_pass_stats_empty(mod):
    raises(ValueError, lambda: mod.one_pass_stats([]), "one_pass_stats([])")
    raises(ValueError, lambda: mod.one_pass_stats([torch.tensor([])]), "one_pass_stats([an empty batch])")
    mean, var, _ = mod.one_pass_stats([torch.tensor([]), torch.tensor([2.0, 4.0])])
    same((mean.item(), var.item()), (3.0, 1.0), "(mean, var) of an empty batch then [2, 4]")


@pytest.mark.exercise("01-running-stats", points=2,
                      hint="Keep n, the mean and M2 (sum of squared deviations); merge each batch's mean and M2 into them.")
def test_running_stats_matches_torch(mod):
    x = torch.randn(103, dtype=torch.float64) * 3 + 1
    kept = x.clone()
    rs = mod.RunningStats()
    for b in x.split(10):
        assert rs.update(b) is rs, "update must return self"
    same(rs.n, 103, "n after 103 values")
    same(x.tolist(), kept.tolist(), "the data after update (update must not change its batch)")
    close(rs.mean, x.mean(), "mean of 103 float64 values in batches of 10", rtol=1e-9, atol=1e-9)
    close(rs.var, x.var(unbiased=False), "var of 103 float64 values in batches of 10", rtol=1e-9, atol=1e-9)
    close(rs.std, x.std(unbiased=False), "std of 103 float64 values in batches of 10", rtol=1e-9, atol=1e-9)
    rs2 = mod.RunningStats().update(torch.tensor([[1.0, 2.0]])).update(torch.tensor([])).update(torch.tensor([4.0, 18.0]))
    same(rs2.n, 4, "n after [[1, 2]], [], [4, 18]")
    near((rs2.mean.item(), rs2.var.item()), (6.25, 47.1875), "(mean, var) after [[1, 2]], [], [4, 18]")


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
    same((rs.mean.dtype, rs.var.dtype), (torch.float32, torch.float32), "dtypes of mean and var (keep the batches' dtype)")
    near(rs.var.item(), truth.var(unbiased=False).item(), "var of 4000 float32 values with mean 1e4, std 1 "
         f"(the float32 textbook formula gives {textbook})", rel=1e-3)
    near(rs.std.item(), truth.std(unbiased=False).item(), "std at mean 1e4", rel=1e-3)
    near(rs.mean.item(), truth.mean().item(), "mean at mean 1e4", rel=0, abs=1e-2)
    # the data on which the float32 textbook formula gives exactly 0: the true variance is 0.5
    rs = mod.RunningStats()
    for b in _cancelling_float32_batches():
        rs.update(b)
    near((rs.var.item(), rs.mean.item()), (0.5, 8192.0), "(var, mean) of 8191/8192/8193 data", rel=1e-3)


@pytest.mark.exercise("01-running-stats", points=1,
                      hint="Reading mean or var before any update should raise ValueError with a clear message.")
def test_running_stats_no_data(mod):
    rs = mod.RunningStats()
    same(rs.n, 0, "n of a new RunningStats")
    raises(ValueError, lambda: rs.mean, "mean before any update")
    raises(ValueError, lambda: rs.update(torch.tensor([])).var, "var after only an empty batch")


@pytest.mark.exercise("01-covariance", points=2,
                      hint="The mean of the product of the two deviations from their means; check shapes and emptiness first.")
def test_covariance(mod):
    x = torch.randn(30, dtype=torch.float64)
    y = 2 * x + 0.1 * torch.randn(30, dtype=torch.float64)
    z = torch.randn(30, dtype=torch.float64)
    for a, b, name in [(x, y, "x, y = 2x + noise"), (x, z, "x, unrelated z")]:
        close(mod.covariance(a, b), torch.cov(torch.stack([a, b]), correction=0)[0, 1], f"covariance({name})")
    close(mod.covariance(x, x), x.var(unbiased=False), "covariance(x, x), the variance of x")
    close(mod.covariance(x, -3 * x + 1), -3 * x.var(unbiased=False), "covariance(x, -3x + 1)")
    one = torch.tensor([2.5])  # a batch of one: no spread
    close(mod.covariance(one, one), torch.tensor(0.0), "covariance of one value with itself")


@pytest.mark.exercise("01-covariance", points=2,
                      hint="E[xy] - E[x]E[y] is exact on paper only: see what it does in float32 when the mean is large.")
def test_covariance_float32_large_mean_and_input_untouched(mod):
    g = torch.Generator().manual_seed(2)
    x = (1e4 + torch.randn(1000, dtype=torch.float64, generator=g)).float()
    y = (x.double() + torch.randn(1000, dtype=torch.float64, generator=g)).float()
    x0, y0 = x.clone(), y.clone()
    truth = torch.cov(torch.stack([x.double(), y.double()]), correction=0)[0, 1].item()  # about 1
    out = mod.covariance(x, y)
    same(out.dtype, torch.float32, "dtype of the covariance of float32 data")
    near(out.item(), truth, "covariance of float32 data with mean 1e4 and std 1 (float64 truth)", rel=1e-2)
    assert torch.equal(x, x0) and torch.equal(y, y0), "covariance changed its inputs: subtract the means out of place"


@pytest.mark.exercise("01-covariance", points=1,
                      hint="Raise ValueError when x.shape != y.shape or the inputs are empty.")
def test_covariance_bad_input(mod):
    raises(ValueError, lambda: mod.covariance(torch.zeros(3), torch.zeros(4)), "covariance of shapes (3,) and (4,)")
    raises(ValueError, lambda: mod.covariance(torch.tensor([]), torch.tensor([])), "covariance of empty tensors")


@pytest.mark.exercise("01-correlation", points=2,
                      hint="Divide the covariance by both spreads, all population (divide by N) statistics.")
def test_pearson_matches_corrcoef(mod):
    x = torch.randn(40, dtype=torch.float64)
    for y, name in [(3 * x - 1, "3x - 1"), (-x, "-x"), (x + torch.randn(40, dtype=torch.float64), "x + noise"),
                    (torch.randn(40, dtype=torch.float64), "unrelated")]:
        close(mod.pearson(x, y), torch.corrcoef(torch.stack([x, y]))[0, 1], f"pearson(x, {name})")
    s = torch.linspace(-1, 1, 21, dtype=torch.float64)
    r = mod.pearson(s, s ** 2).item()
    assert abs(r) < 1e-12, f"a perfect but non-linear relation has r = 0: pearson(s, s**2) gave {r}"


@pytest.mark.exercise("01-correlation", points=1,
                      hint="Spreads by deviations from the mean, not E[x^2] - E[x]^2: float32 with a large mean.")
def test_pearson_float32_large_mean(mod):
    g = torch.Generator().manual_seed(3)
    x = (1e4 + torch.randn(1000, dtype=torch.float64, generator=g)).float()
    y = (x.double() + torch.randn(1000, dtype=torch.float64, generator=g)).float()
    truth = torch.corrcoef(torch.stack([x.double(), y.double()]))[0, 1].item()  # about 0.7
    near(mod.pearson(x, y).item(), truth, "pearson of float32 data with mean 1e4 and std 1 (float64 truth)", rel=1e-2)


@pytest.mark.exercise("01-correlation", points=1,
                      hint="A constant input has std 0: the division gives nan, as torch.corrcoef does; bad shapes raise ValueError.")
def test_pearson_edge_cases(mod):
    r = mod.pearson(torch.ones(5), torch.arange(5.0))
    assert torch.isnan(r), f"pearson of a constant input: got {r!r}, expected nan (its std is 0)"
    raises(ValueError, lambda: mod.pearson(torch.zeros(2), torch.zeros(3)), "pearson of shapes (2,) and (3,)")


# --- softmax, sigmoid, log-sum-exp -------------------------------------------------------------


@pytest.mark.exercise("01-sigmoid", points=2,
                      hint="Only ever exponentiate a number that is not positive, and choose the form of the sigmoid "
                           "by the sign of x; 1 - p loses small values to rounding.")
def test_sigmoid_matches_torch_and_survives_large_inputs(mod):
    x = torch.tensor([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])
    out = mod.sigmoid(x)
    assert not torch.isnan(out).any(), f"sigmoid({show(x)}) gave {show(out)}: exp(1e4) is inf, and inf / inf is nan"
    close(out, torch.sigmoid(x), f"sigmoid({show(x)})")
    same((out[0].item(), out[3].item(), out[-1].item()), (0.0, 0.5, 1.0), "sigmoid at -1e4, 0, 1e4")
    close(mod.sigmoid(torch.tensor(IMAGE_1)), torch.sigmoid(torch.tensor(IMAGE_1)), "sigmoid of image 1's logits")
    tail = torch.tensor([-20.0, -30.0, -80.0])  # tiny but not 0: 1 - 1/(1 + exp(x)) rounds them to 0
    close(mod.sigmoid(tail), torch.sigmoid(tail), "sigmoid at -20, -30, -80 (relative error)", rtol=1e-5, atol=0)


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="Take out the maximum along dim before exponentiating; mind keepdim.")
def test_logsumexp_matches_torch(mod):
    x = torch.randn(4, 5, 3)
    for dim in (0, 1, -1):
        close(mod.logsumexp(x, dim=dim), torch.logsumexp(x, dim=dim), f"logsumexp of a (4, 5, 3) tensor, dim={dim}")
    close(mod.logsumexp(x, dim=1, keepdim=True), torch.logsumexp(x, dim=1, keepdim=True), "logsumexp, dim=1, keepdim=True")


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="Subtract the row maximum before exp, so the largest term is exp(0) = 1; in log_softmax too, first.")
def test_logsumexp_large_logits_do_not_overflow(mod):
    x = torch.tensor([[1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4]])
    out = mod.logsumexp(x)
    assert torch.isfinite(out).all(), f"logsumexp of rows [1e4, 1e4 - 1, 0] and [-1e4] * 3 gave {show(out)}"
    close(out, torch.logsumexp(x, dim=-1), "logsumexp of rows [1e4, 1e4 - 1, 0] and [-1e4] * 3")
    ls = mod.log_softmax(x)
    assert torch.isfinite(ls).all(), f"log_softmax of rows [1e4, 1e4 - 1, 0] and [-1e4] * 3 gave {show(ls)}"
    close(ls, torch.log_softmax(x, dim=-1), "log_softmax of rows [1e4, 1e4 - 1, 0] and [-1e4] * 3")


@pytest.mark.exercise("01-logsumexp", points=1,
                      hint="If a row's maximum is -inf, use 0 as its shift: -inf - (-inf) would be nan.")
def test_logsumexp_all_masked_row(mod):
    x = torch.tensor([[0.0, -float("inf")], [-float("inf"), -float("inf")]])
    out = mod.logsumexp(x)
    same(out.tolist(), [0.0, -float("inf")], "logsumexp of rows [0, -inf] and [-inf, -inf]")


@pytest.mark.exercise("01-logsumexp", points=2,
                      hint="Subtract the maximum before anything else, then the log-sum-exp of what is left.")
def test_log_softmax_matches_torch_and_only_sees_differences(mod):
    x = torch.randn(3, 6)
    close(mod.log_softmax(x), torch.log_softmax(x, dim=-1), "log_softmax of a (3, 6) tensor")
    close(mod.log_softmax(x, dim=0), torch.log_softmax(x, dim=0), "log_softmax of a (3, 6) tensor, dim=0")
    one, two = torch.tensor(IMAGE_1), torch.tensor(IMAGE_2)
    close(mod.log_softmax(one), mod.log_softmax(two), "log_softmax of image 2 vs image 1 (the same differences)")
    near(mod.softmax(one)[3].item(), 0.62, "softmax of image 1, fish", rel=0, abs=0.005)


@pytest.mark.exercise("01-cross-entropy", points=2,
                      hint="Each row's log-probability of its own target, negated and averaged; index rows and columns together, not as a grid.")
def test_cross_entropy_matches_torch(mod):
    logits = torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    close(mod.cross_entropy(logits, targets), F.cross_entropy(logits, targets), "cross_entropy of 8 random rows")
    big = torch.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    t = torch.tensor([0, 2])
    out = mod.cross_entropy(big, t)
    assert torch.isfinite(out), f"cross_entropy of logits up to 1e4 gave {out.item()}"
    close(out, F.cross_entropy(big, t), "cross_entropy of [[1e4, 0, -1e4], [0, 1e4, 0]], targets [0, 2]")
    row, first = torch.tensor([[2.0, -1e4, 0.5, -3.0, 1.0]]), torch.tensor([0])  # a batch of one
    close(mod.cross_entropy(row, first), F.cross_entropy(row, first), "cross_entropy of a batch of one, target 0 of 5")


@pytest.mark.exercise("01-multilabel", points=2,
                      hint="A class is kept when its own sigmoid is strictly above the threshold.")
def test_predict_labels(mod):
    logits = torch.tensor([IMAGE_1, IMAGE_2])
    out = mod.predict_labels(logits, CLASSES)
    assert type(out) is list and all(type(row) is list for row in out), \
        f"predict_labels of a batch must return a list of lists, got {type(out).__name__} {out!r}"
    same(out, [["cat", "fish", "building"], ["fish"]], "labels of images 1, 2 at 0.5")
    same(mod.predict_labels(logits, CLASSES, threshold=0.7), [["fish", "building"], []], "labels at threshold 0.7")
    same(mod.predict_labels(torch.tensor(IMAGE_1), CLASSES, threshold=0.8), ["fish"], "labels of image 1 alone at 0.8")
    same(mod.predict_labels(torch.tensor(IMAGE_2), CLASSES, threshold=0.0), CLASSES, "labels of image 2 at threshold 0")


@pytest.mark.exercise("01-multilabel", points=1,
                      hint="A probability must be strictly above the threshold; check logits.shape[-1] == len(classes).")
def test_predict_labels_edge_cases(mod):
    same(mod.predict_labels(torch.tensor([0.0, 1e4, -1e4]), ["a", "b", "c"]), ["b"], "labels of logits [0, 1e4, -1e4]")
    raises(ValueError, lambda: mod.predict_labels(torch.zeros(2, 4), ["a", "b", "c"]), "4 logits for 3 class names")
