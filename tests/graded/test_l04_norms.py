"""Graded tests for lesson 04 - normalisation from scratch, and RunningBatchNorm.

Where PyTorch has the layer, the learner's is compared with it on random shapes. Each test of an
exercise takes the other exercises it relies on from the reference solution (`ref`), so it is
graded on its own.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

SHAPES = [(4, 3, 5, 6), (2, 8, 1, 1), (7, 5, 3, 2), (16, 6, 4, 4)]


def rand(shape, scale=3.0, shift=1.0, grad=False):
    x = torch.randn(shape) * scale + shift
    return x.requires_grad_() if grad else x


def close(a, b, tol=1e-5):
    return torch.allclose(a, b, atol=tol, rtol=tol)


def show(t: torch.Tensor) -> list[float]:
    """A tensor's values, rounded, for a failure message."""
    return [round(v, 4) for v in t.flatten().tolist()]


def isolate(monkeypatch, mod, ref, *names):
    """Use the reference versions of the module-level functions `names` inside `mod`."""
    for name in names:
        monkeypatch.setattr(mod, name, getattr(ref, name))


def with_methods(ref_cls, mod_cls, *methods):
    """The reference class with only `methods` taken from the learner's class."""
    return type(ref_cls.__name__, (ref_cls,), {m: mod_cls.__dict__[m] for m in methods})


def paired_bn(cls, nf, mom=0.1, eps=1e-5):
    """The learner's layer `cls(nf, mom, eps)` and `nn.BatchNorm2d` with the same random mults/adds, in float64
    (the tests check the formula, not float32's rounding)."""
    ours, theirs = cls(nf, mom, eps).double(), nn.BatchNorm2d(nf, eps=eps, momentum=mom).double()
    with torch.no_grad():
        ours.mults.copy_(torch.randn(nf, 1, 1))
        ours.adds.copy_(torch.randn(nf, 1, 1))
        theirs.weight.copy_(ours.mults.view(-1))
        theirs.bias.copy_(ours.adds.view(-1))
    return ours, theirs


# ------------------------------------------------------------------ the pieces

@pytest.mark.exercise("04-batch-stats", points=1,
                      hint="Statistics per slice over `dims`, kept as size-1 dims; the biased variance divides by n.")
@pytest.mark.parametrize("dims", [(0, 2, 3), (1, 2, 3), (2, 3)])
def test_batch_stats_match_torch(mod, dims):
    for shape in SHAPES:
        x = rand(shape).double()
        mean, var = mod.batch_stats(x, dims)
        want_mean, want_var = x.mean(dims, keepdim=True), x.var(dims, correction=0, keepdim=True)
        assert mean.shape == var.shape == want_mean.shape, \
            f"shapes {tuple(mean.shape)} and {tuple(var.shape)} for x {shape} over {dims}, expected {tuple(want_mean.shape)}"
        assert close(mean, want_mean, 1e-10), f"mean over {dims}, shape {shape}: got {show(mean)}, expected {show(want_mean)}"
        assert close(var, want_var, 1e-10), \
            f"biased variance over {dims}, shape {shape}: got {show(var)}, expected {show(want_var)}"


@pytest.mark.exercise("04-batch-stats", points=1, hint="The statistics must stay part of the autograd graph.")
def test_batch_stats_default_dims_and_gradients(mod):
    x = rand((6, 4, 3, 3)).double().requires_grad_()
    mean, var = mod.batch_stats(x)
    assert mean.shape == (1, 4, 1, 1), f"default dims (0, 2, 3): mean of shape {tuple(mean.shape)}, expected (1, 4, 1, 1)"
    (mean.sum() + var.sum()).backward()
    expected = 1 / 54 + 2 * (x - x.mean((0, 2, 3), keepdim=True)) / 54
    assert x.grad is not None, "no gradient reached x: compute the statistics with autograd on"
    assert close(x.grad, expected.detach(), 1e-8), "d(mean + var)/dx is not 1/n + 2 (x - mean) / n"


@pytest.mark.exercise("04-batch-stats", points=2,
                      hint="E[x^2] - E[x]^2 cancels when the mean is large: measure the spread around the mean.")
@pytest.mark.parametrize("shift", [100.0, 1000.0])
def test_batch_stats_large_mean(mod, shift):
    x = torch.randn(32, 4, 6, 6) + shift  # float32, spread 1 around a large mean
    _, var = mod.batch_stats(x)
    exact = x.double().var((0, 2, 3), correction=0, keepdim=True)
    err = (var.double() - exact).abs().max().item()
    assert err < 1e-3, f"float32 values with mean {shift:g} and std 1: variance off by {err:.2g} (want < 1e-3); " \
                       f"got {show(var)}, expected {show(exact)}"


@pytest.mark.exercise("04-batch-stats", points=1,
                      hint="Half-precision sums lose digits: take the statistics in float32 (`upcast`).")
def test_batch_stats_of_bfloat16_in_float32(mod):
    x = (torch.randn(64, 3, 5, 5) * 2 + 30).bfloat16()
    mean, var = mod.batch_stats(x)
    assert mean.dtype == var.dtype == torch.float32, f"bfloat16 input: statistics are {mean.dtype}, {var.dtype}, not float32"
    exact_mean = x.double().mean((0, 2, 3), keepdim=True)
    exact_var = x.double().var((0, 2, 3), correction=0, keepdim=True)
    assert close(mean.double(), exact_mean, 1e-5) and close(var.double(), exact_var, 1e-4), \
        f"statistics of the bfloat16 values: mean {show(mean)} var {show(var)}, expected {show(exact_mean)} {show(exact_var)}"


@pytest.mark.exercise("04-ema", points=2, hint="In place, and `mom` weighs the new value, as PyTorch's momentum.")
def test_ema_update_is_pytorchs_running_mean(mod):
    bn = nn.BatchNorm2d(5, momentum=0.3)
    avg = torch.zeros(5)
    for _ in range(4):
        x = rand((8, 5, 3, 3))
        bn(x)
        out = mod.ema_update(avg, x.mean((0, 2, 3)), 0.3)
        assert out is avg, "update avg in place and return it"
    assert close(avg, bn.running_mean), (f"after 4 batches with mom 0.3, avg differs from nn.BatchNorm2d(momentum=0.3)'s "
                                         f"running_mean by up to {(avg - bn.running_mean).abs().max():.3g}")


@pytest.mark.exercise("04-ema", points=1, hint="mom is the weight of the new value, 1 - mom that of the old.")
def test_ema_update_values(mod):
    avg = torch.tensor([10.0, 0.0])
    mod.ema_update(avg, torch.tensor([0.0, 10.0]), 0.1)
    assert close(avg, torch.tensor([9.0, 1.0])), f"avg [10, 0], new [0, 10], mom 0.1: avg became {show(avg)}, not [9, 1]"
    mod.ema_update(avg, torch.tensor([0.0, 0.0]), 1.0)
    assert close(avg, torch.zeros(2)), f"mom 1.0 must give the new value [0, 0], not {show(avg)}"


@pytest.mark.exercise("04-norm-affine", points=1,
                      hint="The paper's formula: eps goes inside the square root; scale, then shift.")
@pytest.mark.parametrize("eps", [1e-5, 0.1, 2.0])
def test_norm_affine(mod, eps):
    for shape in SHAPES:
        x, c = rand(shape).double(), shape[1]
        mean, var = torch.randn(1, c, 1, 1).double(), torch.rand(1, c, 1, 1).double() * 0.1
        mults, adds = torch.randn(c, 1, 1).double(), torch.randn(c, 1, 1).double()
        expected = (x - mean) / torch.sqrt(var + eps) * mults + adds
        got = mod.norm_affine(x, mean, var, mults, adds, eps)
        assert close(got, expected, 1e-10), f"eps {eps}, shape {shape}: largest difference {(got - expected).abs().max():.3g}"
    got = mod.norm_affine(x, mean, var, mults, adds)
    assert close(got, (x - mean) / torch.sqrt(var + 1e-5) * mults + adds, 1e-10), "the default eps is 1e-5"


@pytest.mark.exercise("04-norm-affine", points=1, hint="The result should have the input's dtype.")
def test_norm_affine_keeps_a_half_precision_dtype(mod):
    x = rand((4, 3, 2, 2)).bfloat16()
    mean, var = x.float().mean((0, 2, 3), keepdim=True), x.float().var((0, 2, 3), correction=0, keepdim=True)
    out = mod.norm_affine(x, mean, var, torch.ones(3, 1, 1), torch.zeros(3, 1, 1))
    assert out.dtype == torch.bfloat16, f"bfloat16 x with float32 statistics: output is {out.dtype}, expected bfloat16"
    expected = (x.double() - mean.double()) / torch.sqrt(var.double() + 1e-5)
    assert close(out.double(), expected, 2e-2), "bfloat16 output far from the formula"


# ------------------------------------------------------------------ BatchNorm

@pytest.mark.exercise("04-batchnorm-init", points=2,
                      hint="Running statistics are state, not parameters: look up nn.Module.register_buffer.")
def test_batchnorm_parameters_and_buffers(mod):
    bn = mod.BatchNorm(6, mom=0.2, eps=1e-3)
    assert (bn.mom, bn.eps) == (0.2, 1e-3), f"mom and eps: got {getattr(bn, 'mom', None)}, {bn.eps}, expected 0.2, 0.001"
    params, buffers = dict(bn.named_parameters()), dict(bn.named_buffers())
    assert set(params) == {"mults", "adds"}, f"parameters: {sorted(params)}, expected ['adds', 'mults']"
    assert set(buffers) == {"means", "vars"}, f"buffers: {sorted(buffers)}, expected ['means', 'vars']"
    assert buffers["means"].shape == buffers["vars"].shape == (1, 6, 1, 1), \
        f"buffer shapes {tuple(buffers['means'].shape)}, {tuple(buffers['vars'].shape)}, expected (1, 6, 1, 1)"
    assert torch.equal(buffers["means"], torch.zeros(1, 6, 1, 1)), "means starts at zeros"
    assert torch.equal(buffers["vars"], torch.ones(1, 6, 1, 1)), "vars starts at ones"


@pytest.mark.exercise("04-batchnorm-init", points=1,
                      hint="Buffers are in state_dict() and move with .to(); plain tensor attributes do neither.")
def test_batchnorm_buffers_travel_with_the_module(mod):
    bn = mod.BatchNorm(3)
    assert set(bn.state_dict()) == {"mults", "adds", "means", "vars"}, f"state_dict keys {sorted(bn.state_dict())}"
    bn = bn.to(torch.float64)
    assert bn.means.dtype == bn.vars.dtype == torch.float64, f".to(float64) left the buffers {bn.means.dtype}"


@pytest.mark.exercise("04-batchnorm-update", points=3,
                      hint="PyTorch keeps the unbiased variance (n - 1) in its running statistics.")
def test_batchnorm_running_stats_match_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "ema_update")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "update_stats")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1], mom=0.25)
        for _ in range(3):
            x = rand(shape).double()
            theirs(x)
            ours.update_stats(x)
        assert close(ours.means.view(-1), theirs.running_mean, 1e-8), \
            f"running mean, shape {shape}: got {show(ours.means)}, expected {show(theirs.running_mean)}"
        assert close(ours.vars.view(-1), theirs.running_var, 1e-8), \
            f"running var, shape {shape}: got {show(ours.vars)}, expected PyTorch's (unbiased) {show(theirs.running_var)}"


@pytest.mark.exercise("04-batchnorm-update", points=2,
                      hint="Normalise with the biased statistics, with their gradients; update the buffers without.")
def test_batchnorm_update_returns_batch_stats_with_gradients(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "ema_update")
    bn = with_methods(ref.BatchNorm, mod.BatchNorm, "update_stats")(4)
    x = rand((5, 4, 3, 2), grad=True)
    mean, var = bn.update_stats(x)
    assert close(mean, x.mean((0, 2, 3), keepdim=True)), "the returned mean is not the batch mean"
    assert close(var, x.var((0, 2, 3), correction=0, keepdim=True), 1e-4), "the returned variance is not the biased one"
    assert mean.requires_grad and var.requires_grad, "the batch statistics must keep their gradients"
    assert not bn.means.requires_grad and not bn.vars.requires_grad, \
        "the running statistics (means, vars) must not require grad"


@pytest.mark.exercise("04-batchnorm-update", points=1,
                      hint="What is the variance of one number? PyTorch raises an error; so should you.")
def test_batchnorm_refuses_one_value_per_channel(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "ema_update")
    bn = with_methods(ref.BatchNorm, mod.BatchNorm, "update_stats")(4)
    with pytest.raises(ValueError):
        bn.update_stats(torch.randn(1, 4, 1, 1))
    assert torch.equal(bn.vars, torch.ones(1, 4, 1, 1)), "a refused batch must not move the running variance"
    bn.update_stats(torch.randn(2, 4, 1, 1))  # two values per channel are fine
    bn.update_stats(torch.randn(1, 4, 2, 1))  # so are two positions of one image


@pytest.mark.exercise("04-batchnorm-forward", points=3,
                      hint="Training: the batch's statistics; evaluation: the running ones.")
def test_batchnorm_matches_pytorch_in_training_and_evaluation(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "norm_affine")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "forward")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1])
        for _ in range(2):
            x = rand(shape).double()
            got, want = ours(x), theirs(x)
            assert close(got, want, 1e-8), f"training output, shape {shape}: off by up to {(got - want).abs().max():.3g}"
        ours.eval(), theirs.eval()
        x = rand(shape).double()
        got, want = ours(x), theirs(x)
        assert close(got, want, 1e-8), f"evaluation output, shape {shape}: off by up to {(got - want).abs().max():.3g}"
        assert close(ours.means.view(-1), theirs.running_mean, 1e-8), "evaluation must not change the running stats"


@pytest.mark.exercise("04-batchnorm-forward", points=2,
                      hint="Gradients must flow through the batch mean and variance, as in nn.BatchNorm2d.")
def test_batchnorm_gradients_match_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "norm_affine")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "forward")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1])
        x1, g = rand(shape).double().requires_grad_(), torch.randn(shape, dtype=torch.float64)
        x2 = x1.detach().clone().requires_grad_()
        (ours(x1) * g).sum().backward()
        (theirs(x2) * g).sum().backward()
        assert close(x1.grad, x2.grad, 1e-8), f"input gradient, shape {shape}: off by up to {(x1.grad - x2.grad).abs().max():.3g}"
        assert close(ours.mults.grad.view(-1), theirs.weight.grad, 1e-8), f"mults gradient, shape {shape}"
        assert close(ours.adds.grad.view(-1), theirs.bias.grad, 1e-8), f"adds gradient, shape {shape}"


@pytest.mark.exercise("04-conv-layer", points=2,
                      hint="A norm's adds already is a bias; the padding keeps the size for stride 1.")
def test_conv_layer(mod):
    layer = mod.conv_layer(3, 8, ks=5, stride=2, norm=mod.BatchNorm, leak=0.1, sub=0.4)
    conv, relu, norm = layer
    assert isinstance(conv, nn.Conv2d) and conv.bias is None, "with a norm the conv has no bias"
    got = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
    assert got == (3, 8, (5, 5), (2, 2), (2, 2)), f"conv (in, out, kernel, stride, padding) {got}, expected (3, 8, (5, 5), (2, 2), (2, 2))"
    assert type(relu).__name__ == "GeneralRelu" and (relu.leak, relu.sub) == (0.1, 0.4), "GeneralRelu(**kwargs) second"
    assert isinstance(norm, mod.BatchNorm) and norm.mults.shape == (8, 1, 1), "the norm for nf channels last"
    assert layer(torch.randn(2, 3, 28, 28)).shape == (2, 8, 14, 14)
    plain = mod.conv_layer(8, 16, norm=None)
    assert len(plain) == 2 and plain[0].bias is not None, "without a norm: conv (with its bias) and activation only"
    assert isinstance(mod.conv_layer(8, 16, norm=nn.BatchNorm2d)[2], nn.BatchNorm2d)


# ------------------------------------------------------------ the other norms

@pytest.mark.exercise("04-layernorm", points=2, hint="The statistics of each image, over everything but the batch dim.")
def test_layernorm_matches_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    for shape in SHAPES:
        ln = mod.LayerNorm().double()
        with torch.no_grad():
            ln.mults.fill_(1.5)
            ln.adds.fill_(-0.5)
        x1 = rand(shape).double().requires_grad_()
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ln(x1), F.layer_norm(x2, shape[1:]) * 1.5 - 0.5
        assert close(y1, y2, 1e-8), f"output, shape {shape}: off by up to {(y1 - y2).abs().max():.3g}"
        y1.pow(2).sum().backward()
        y2.pow(2).sum().backward()
        assert close(x1.grad, x2.grad, 1e-6), f"input gradient, shape {shape}"
    ln.eval()
    assert close(ln(x2.detach()), y2.detach(), 1e-8), "layer norm is the same in evaluation"


@pytest.mark.exercise("04-instancenorm", points=2, hint="The statistics of each image and channel.")
def test_instancenorm_matches_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    for shape in [(4, 3, 5, 6), (7, 5, 3, 2), (2, 6, 4, 4)]:
        inorm, c = mod.InstanceNorm(shape[1]).double(), shape[1]
        w, b = torch.randn(c, dtype=torch.float64), torch.randn(c, dtype=torch.float64)
        with torch.no_grad():
            inorm.mults.copy_(w.view(c, 1, 1))
            inorm.adds.copy_(b.view(c, 1, 1))
        x = rand(shape).double()
        got, want = inorm(x), F.instance_norm(x, weight=w, bias=b)
        assert close(got, want, 1e-8), f"shape {shape}: off by up to {(got - want).abs().max():.3g}"


@pytest.mark.exercise("04-groupnorm", points=1,
                      hint="Group consecutive channels of each image; every channel uses its group's statistics.")
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_groupnorm_matches_pytorch(mod, ref, monkeypatch, groups):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    for shape in [(4, 6, 5, 3), (2, 6, 1, 1), (3, 12, 4, 4)]:
        ours, theirs = mod.GroupNorm(groups, shape[1]).double(), nn.GroupNorm(groups, shape[1]).double()
        with torch.no_grad():
            ours.mults.copy_(torch.randn(shape[1], 1, 1))
            ours.adds.copy_(torch.randn(shape[1], 1, 1))
            theirs.weight.copy_(ours.mults.view(-1))
            theirs.bias.copy_(ours.adds.view(-1))
        x1 = rand(shape).double().requires_grad_()
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ours(x1), theirs(x2)
        assert close(y1, y2, 1e-8), f"output, {groups} groups, shape {shape}: off by up to {(y1 - y2).abs().max():.3g}"
        y1.pow(3).sum().backward()
        y2.pow(3).sum().backward()
        assert close(x1.grad, x2.grad, 1e-6), f"input gradient, {groups} groups, shape {shape}"


@pytest.mark.exercise("04-groupnorm", points=1, hint="One group is layer norm; one group per channel is instance norm.")
def test_groupnorm_extremes_are_layer_and_instance_norm(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    x = rand((5, 8, 3, 4)).double()
    assert close(mod.GroupNorm(1, 8).double()(x), F.layer_norm(x, x.shape[1:]), 1e-8), "GroupNorm(1, C) is layer norm"
    assert close(mod.GroupNorm(8, 8).double()(x), F.instance_norm(x), 1e-8), "GroupNorm(C, C) is instance norm"


@pytest.mark.exercise("04-fog", points=2,
                      hint="Per image: pull every pixel towards the image's own mean, then darken.")
def test_fog_lowers_contrast_and_darkens(mod):
    x = rand((6, 1, 5, 5)).double()
    x[0] += 4  # images with different brightness: the mean must be each image's own
    before = x.clone()
    y = mod.fog(x, contrast=0.3, dim=2.0)
    assert torch.equal(x, before), "fog must not change its input"
    dims = (1, 2, 3)
    assert y.shape == x.shape, f"shape {tuple(y.shape)}, expected {tuple(x.shape)}"
    assert close(y.mean(dims), x.mean(dims) - 2.0, 1e-8), \
        f"each image's mean must go down by dim 2.0: means {show(x.mean(dims))} became {show(y.mean(dims))}"
    assert close(y.std(dims), 0.3 * x.std(dims), 1e-8), "each image's spread is multiplied by contrast"
    assert close(mod.fog(x, contrast=1.0, dim=0.0), x, 1e-8), "contrast 1 and dim 0: unchanged"
    flat = rand((4, 10)).double()
    assert close(mod.fog(flat, 0.5, 1.0).mean(1), flat.mean(1) - 1.0, 1e-8), "works for any number of dims"


# ------------------------------------------------------------ RunningBatchNorm

@pytest.mark.exercise("04-rbn-momentum", points=2, hint="The formula of the lesson; bs = 1 gives mom.")
def test_rbn_momentum(mod):
    for mom, bs, expected in [(0.1, 2, 0.1), (0.1, 5, 0.55), (0.1, 101, 0.91), (0.2, 17, 0.8), (0.1, 1, 0.1)]:
        got = mod.rbn_momentum(mom, bs)
        assert isinstance(got, float) and math.isclose(got, expected), \
            f"rbn_momentum({mom}, {bs}) returned {got!r}, expected the float {expected}"
    assert mod.rbn_momentum(0.1, 512) > mod.rbn_momentum(0.1, 32) > mod.rbn_momentum(0.1, 4)


@pytest.mark.exercise("04-debias", points=2, hint="What share of the weight has the starting zero kept?")
def test_debias_factor(mod):
    assert mod.debias_factor([]) == 0.0, f"no updates: 0.0, not {mod.debias_factor([])!r}"
    got = mod.debias_factor([0.1] * 3)
    assert math.isclose(got, 1 - 0.9 ** 3), f"three updates with mom 0.1: {got!r}, expected 1 - 0.9 ** 3 = 0.271"
    moms = [0.1, 0.5, 0.25]
    avg = 0.0
    for m in moms:  # an EMA of the constant 1, started at 0: its value is the total weight
        avg = (1 - m) * avg + m * 1.0
    assert math.isclose(mod.debias_factor(moms), avg), f"momenta {moms}: {mod.debias_factor(moms)!r}, expected {avg}"
    assert math.isclose(mod.debias_factor(iter(moms)), avg), "any iterable of momenta (an iterator too)"


@pytest.mark.exercise("04-running-var", points=2, hint="Mean and variance per value, from totals and a count.")
def test_running_mean_var_from_sums(mod):
    x = rand((6, 4, 3, 3)).double()
    sums, sqrs, count = x.sum((0, 2, 3), keepdim=True), (x * x).sum((0, 2, 3), keepdim=True), torch.tensor(54.0).double()
    mean, var = mod.running_mean_var(sums, sqrs, count)
    expected = x.var((0, 2, 3), correction=0, keepdim=True)
    assert close(mean, x.mean((0, 2, 3), keepdim=True), 1e-10), f"mean {show(mean)}, expected sums / count"
    assert close(var, expected, 1e-8), f"variance {show(var)}, expected the biased one {show(expected)}"
    mean2, var2 = mod.running_mean_var(0.3 * sums, 0.3 * sqrs, 0.3 * count)
    assert close(mean2, mean, 1e-10) and close(var2, var, 1e-8), "a common factor cancels"


@pytest.mark.exercise("04-running-var", points=2,
                      hint="Rounding can make E[x^2] - E[x]^2 negative; what is the smallest a variance can be?")
def test_running_var_is_never_negative(mod):
    mean, var = mod.running_mean_var(torch.tensor([20.0, 4.0]), torch.tensor([199.99, 10.0]), torch.tensor(2.0))
    assert var[0] >= 0, f"sums 20, squares 199.99, count 2: E[x^2] - E[x]^2 = -0.005 must become 0, got {var[0].item():.3g}"
    assert close(var, torch.tensor([0.0, 1.0])), f"variances {show(var)}, expected [0, 1]"
    sums, sqrs, count = torch.zeros(1), torch.zeros(1), torch.zeros(())
    for _ in range(300):  # a channel near 7 with a tiny spread, batches of 2, as RunningBatchNorm averages it
        x = 7 + 1e-3 * torch.randn(2)
        sums, sqrs, count = sums.lerp(x.sum(), 0.1), sqrs.lerp((x * x).sum(), 0.1), count.lerp(torch.tensor(2.0), 0.1)
        _, v = mod.running_mean_var(sums, sqrs, count)
        assert v.item() >= 0, f"a near-constant channel: variance {v.item():.3g} < 0, its square root would be nan"


@pytest.mark.exercise("04-clamp-var", points=2, hint="A floor for the variance, only while few items have been seen.")
def test_clamp_var(mod):
    var = torch.tensor([0.001, 0.5, 0.0])
    out = mod.clamp_var(var, 4)
    assert close(out, torch.tensor([0.01, 0.5, 0.01])), f"var [0.001, 0.5, 0], 4 seen: {show(out)}, not [0.01, 0.5, 0.01]"
    assert close(var, torch.tensor([0.001, 0.5, 0.0])), f"do not clamp in place: the input became {show(var)}"
    out = mod.clamp_var(var, 19)
    assert close(out, torch.tensor([0.01, 0.5, 0.01])), f"19 seen (< 20): still clamped, not {show(out)}"
    out = mod.clamp_var(var, 20)
    assert close(out, var), f"20 seen: no longer clamped, the variance as it is, not {show(out)}"
    assert close(mod.clamp_var(var, torch.tensor(40)), var), "n_seen may be a tensor (the buffer `seen`)"
    assert close(mod.clamp_var(var, 5, min_var=0.1, until=6), torch.tensor([0.1, 0.5, 0.1])), "min_var and until"
    assert close(mod.clamp_var(var, 6, min_var=0.1, until=6), var), "n_seen == until: no clamp"


def rbn_with(ref, mod, method, nf=3):
    return with_methods(ref.RunningBatchNorm, mod.RunningBatchNorm, method)(nf)


def rbn_and_probe(ref, mod, nf):
    """The learner's `forward` on the reference layer, with random mults and adds, and a reference
    layer in the same state to compute what it should give (both in float64)."""
    rbn = rbn_with(ref, mod, "forward", nf=nf).double()
    with torch.no_grad():
        rbn.mults.copy_(torch.randn(nf, 1, 1))
        rbn.adds.copy_(torch.randn(nf, 1, 1))
    probe = ref.RunningBatchNorm(nf).double()
    probe.load_state_dict(rbn.state_dict())
    return rbn, probe


@pytest.mark.exercise("04-rbn-update", points=3,
                      hint="Averages of per-channel sums, sums of squares and counts, weighted by rbn_momentum.")
def test_rbn_update_stats(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "rbn_momentum", "upcast")
    rbn = rbn_with(ref, mod, "update_stats").double()
    x1, x2 = rand((5, 3, 2, 2)).double(), rand((2, 3, 4, 4)).double()
    m1 = ref.rbn_momentum(0.1, 5)
    out = rbn.update_stats(x1)
    assert isinstance(out, tuple) and len(out) == 2, "return this step's (sums, sqrs)"
    s1, q1 = x1.sum((0, 2, 3), keepdim=True), (x1 * x1).sum((0, 2, 3), keepdim=True)
    assert close(out[0], m1 * s1, 1e-10) and close(out[1], m1 * q1, 1e-10), \
        "from zero, one batch: sums = mom1 * the batch's sums (mom1 = rbn_momentum(mom, bs): the weight of the new batch)"
    assert close(rbn.sums, m1 * s1, 1e-10) and close(rbn.sqrs, m1 * q1, 1e-10), "store the new averages in the buffers"
    assert close(rbn.count, torch.tensor(m1 * 20.0, dtype=torch.float64), 1e-10), \
        f"count {rbn.count.item():.4g} after a (5, 3, 2, 2) batch from zero, expected mom1 * 20 = {m1 * 20:.4g}"
    assert int(rbn.seen) == 5, f"seen {int(rbn.seen)} after a batch of 5, expected 5"
    sums, sqrs = rbn.update_stats(x2)
    m2 = 0.1
    s2, q2 = x2.sum((0, 2, 3), keepdim=True), (x2 * x2).sum((0, 2, 3), keepdim=True)
    assert close(sums, (1 - m2) * m1 * s1 + m2 * s2, 1e-10), "second batch: sums moved with mom1 = 0.1 (bs 2)"
    assert close(sqrs, (1 - m2) * m1 * q1 + m2 * q2, 1e-10), "second batch: sqrs moved with mom1 = 0.1 (bs 2)"
    assert close(rbn.count, torch.tensor((1 - m2) * m1 * 20.0 + m2 * 32.0, dtype=torch.float64), 1e-10) and int(rbn.seen) == 7


@pytest.mark.exercise("04-rbn-update", points=1,
                      hint="Only this batch's share carries a gradient; the buffers hold plain numbers.")
def test_rbn_update_keeps_only_this_batchs_gradient(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "rbn_momentum", "upcast")
    rbn = rbn_with(ref, mod, "update_stats")
    x1, x2 = rand((4, 3, 2, 2), grad=True), rand((4, 3, 2, 2), grad=True)
    rbn.update_stats(x1)
    sums, _ = rbn.update_stats(x2)
    assert not rbn.sums.requires_grad and not rbn.sqrs.requires_grad, "the buffers must not hold a gradient (a graph)"
    sums.sum().backward()
    assert x1.grad is None, "earlier batches' share must be constants"
    assert x2.grad is not None and close(x2.grad, torch.full_like(x2, ref.rbn_momentum(0.1, 4))), \
        "d sums / dx of this batch is the weight of the new batch"


@pytest.mark.exercise("04-rbn-update", points=1, hint="Half-precision sums overflow: sum in float32.")
def test_rbn_update_sums_half_precision_in_float32(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "rbn_momentum", "upcast")
    rbn = rbn_with(ref, mod, "update_stats", nf=2)
    x = (torch.randn(256, 2, 4, 4) + 30).half()  # sums of squares far beyond float16's 65504
    sums, sqrs = rbn.update_stats(x)
    assert sqrs.dtype == torch.float32 and torch.isfinite(sqrs).all(), \
        f"float16 batch: sums of squares {show(sqrs)} ({sqrs.dtype}), expected finite float32"


@pytest.mark.exercise("04-rbn-forward", points=3,
                      hint="Both modes normalise with the running averages; training updates them first.")
def test_rbn_forward_in_training_and_evaluation(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "running_mean_var", "clamp_var", "norm_affine")
    rbn, probe = rbn_and_probe(ref, mod, 4)
    for bs in (2, 2, 6, 30):
        x = rand((bs, 4, 3, 3)).double()
        sums, sqrs = probe.update_stats(x)
        mean, var = ref.running_mean_var(sums, sqrs, probe.count)
        expected = ref.norm_affine(x, mean, ref.clamp_var(var, probe.seen), rbn.mults, rbn.adds, rbn.eps)
        got = rbn(x)
        assert close(got, expected, 1e-8), f"training batch of {bs}: off by up to {(got - expected).abs().max():.3g}"
    rbn.eval()
    before = {k: v.clone() for k, v in rbn.state_dict().items()}
    x = rand((3, 4, 3, 3)).double()
    mean, var = ref.running_mean_var(rbn.sums, rbn.sqrs, rbn.count)
    assert close(rbn(x), ref.norm_affine(x, mean, var, rbn.mults, rbn.adds, rbn.eps), 1e-8), "evaluation"
    assert all(torch.equal(v, rbn.state_dict()[k]) for k, v in before.items()), "evaluation must not update the stats"


@pytest.mark.exercise("04-rbn-forward", points=2,
                      hint="A floor for the variance of the first items; no statistics yet means nothing to normalise with.")
def test_rbn_forward_clamps_early_and_refuses_without_stats(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "running_mean_var", "clamp_var", "norm_affine")
    rbn = rbn_with(ref, mod, "forward", nf=2)
    rbn.eval()
    with pytest.raises(RuntimeError):
        rbn(torch.randn(2, 2, 1, 1))
    rbn.train()
    x = torch.tensor([[[[1.0]], [[5.0]]], [[[1.001]], [[5.0]]]])  # tiny variance: the clamp decides
    y = rbn(x)
    mean = x.mean((0, 2, 3), keepdim=True)
    assert close(y, (x - mean) / math.sqrt(0.01 + rbn.eps), 1e-4), "while seen < 20 the variance is at least 0.01"


@pytest.mark.exercise("04-rbn-forward", points=2,
                      hint="The gradient goes through this batch's share of the averages: keep what update_stats "
                           "returns attached.")
def test_rbn_forward_gradients_are_autograds(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "running_mean_var", "clamp_var", "norm_affine")
    rbn, probe = rbn_and_probe(ref, mod, 3)  # the probe's gradient: autograd through update_stats
    for step, bs in enumerate((2, 2, 6, 30)):
        x1 = rand((bs, 3, 2, 2)).double().requires_grad_()
        if step == 0:
            with torch.no_grad():
                x1[1, 0] = x1[0, 0] + 1e-3  # channel 0 hardly varies: its variance is clamped, the others' not
        x2, g = x1.detach().clone().requires_grad_(), torch.randn(bs, 3, 2, 2, dtype=torch.float64)
        (rbn(x1) * g).sum().backward()
        sums, sqrs = probe.update_stats(x2)
        mean, var = ref.running_mean_var(sums, sqrs, probe.count)
        (ref.norm_affine(x2, mean, ref.clamp_var(var, probe.seen), probe.mults, probe.adds, probe.eps) * g).sum().backward()
        assert x1.grad is not None and close(x1.grad, x2.grad, 1e-8), f"input gradient, step {step}, batch size {bs}"
        assert close(rbn.mults.grad, probe.mults.grad, 1e-8) and close(rbn.adds.grad, probe.adds.grad, 1e-8), \
            f"mults and adds gradients, step {step}"


# ------------------------------------------------------------ the backward by hand

def batch_norm_function(mod, x, mults, adds, eps=1e-5):
    """`mod.BatchNormFunction` as BatchNorm uses it: x's own batch statistics, share 1 / n."""
    with torch.no_grad():
        var, mean = torch.var_mean(x, (0, 2, 3), correction=0, keepdim=True)
    return mod.BatchNormFunction.apply(x, mean, var, mults, adds, eps, mean.numel() / x.numel())


def affine_params(c, dtype=torch.float64):
    return (torch.randn(c, 1, 1, dtype=dtype).requires_grad_(), torch.randn(c, 1, 1, dtype=dtype).requires_grad_())


@pytest.mark.exercise("04-batchnorm-backward", points=3,
                      hint="x reaches the output three ways: directly, through the mean and through the variance.")
def test_batchnorm_backward_matches_pytorch(mod):
    for shape in SHAPES:
        x1 = rand(shape).double().requires_grad_()
        x2 = x1.detach().clone().requires_grad_()
        (m1, a1), g = affine_params(shape[1]), torch.randn(shape, dtype=torch.float64)
        m2, a2 = m1.detach().clone().requires_grad_(), a1.detach().clone().requires_grad_()
        (batch_norm_function(mod, x1, m1, a1) * g).sum().backward()
        (F.batch_norm(x2, None, None, m2.view(-1), a2.view(-1), training=True, eps=1e-5) * g).sum().backward()
        assert close(x1.grad, x2.grad, 1e-8), f"input gradient, shape {shape}"
        assert m1.grad.shape == a1.grad.shape == (shape[1], 1, 1)
        assert close(m1.grad, m2.grad, 1e-8) and close(a1.grad, a2.grad, 1e-8), f"mults and adds gradients, shape {shape}"


@pytest.mark.exercise("04-batchnorm-backward", points=2, hint="torch.autograd.gradcheck compares your backward "
                      "with finite differences of the forward: check each term of grad_x.")
def test_batchnorm_backward_passes_gradcheck(mod):
    x = rand((4, 3, 2, 2)).double().requires_grad_()
    mults, adds = affine_params(3)
    assert torch.autograd.gradcheck(lambda x, m, a: batch_norm_function(mod, x, m, a), (x, mults, adds))


@pytest.mark.exercise("04-batchnorm-backward", points=2,
                      hint="Each value's weight in the statistics is the share, not 1 / n; a clamped variance is a constant.")
def test_batchnorm_backward_with_a_share_and_a_clamped_variance(mod):
    """Statistics as RunningBatchNorm makes them: old averages (constants) moved towards this batch's sums."""
    x1 = rand((5, 3, 2, 2)).double().requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    (m1, a1), g = affine_params(3), torch.randn(5, 3, 2, 2, dtype=torch.float64)
    m2, a2 = m1.detach().clone().requires_grad_(), a1.detach().clone().requires_grad_()
    mom, count = 0.3, 0.7 * 15.0 + 0.3 * 20
    sums = 0.7 * torch.randn(1, 3, 1, 1, dtype=torch.float64) * 15 + 0.3 * x2.sum((0, 2, 3), keepdim=True)
    sqrs = 0.7 * 150 + 0.3 * (x2 * x2).sum((0, 2, 3), keepdim=True)
    mean = sums / count
    var = sqrs / count - mean * mean
    floor = var.detach().flatten().sort().values[:2].mean().item()  # between the two smallest: one channel clamped
    clamped = var.clamp_min(floor)
    (((x2 - mean) / torch.sqrt(clamped + 1e-5) * m2 + a2) * g).sum().backward()  # autograd, through the stats
    out = mod.BatchNormFunction.apply(x1, mean.detach(), clamped.detach(), m1, a1, 1e-5, mom / count, clamped == var)
    (out * g).sum().backward()
    assert close(x1.grad, x2.grad, 1e-8), "input gradient"
    assert close(m1.grad, m2.grad, 1e-8) and close(a1.grad, a2.grad, 1e-8), "mults and adds gradients"
