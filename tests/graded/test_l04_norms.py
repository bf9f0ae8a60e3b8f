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
    """The learner's layer `cls(nf, mom, eps)` and `nn.BatchNorm2d` with the same random mults/adds."""
    ours, theirs = cls(nf, mom, eps), nn.BatchNorm2d(nf, eps=eps, momentum=mom)
    with torch.no_grad():
        ours.mults.copy_(torch.randn(nf, 1, 1))
        ours.adds.copy_(torch.randn(nf, 1, 1))
        theirs.weight.copy_(ours.mults.view(-1))
        theirs.bias.copy_(ours.adds.view(-1))
    return ours, theirs


# ------------------------------------------------------------------ the pieces

@pytest.mark.exercise("04-batch-stats", points=1,
                      hint="x.mean(dims, keepdim=True), and the variance dividing by n (not n - 1), also keepdim.")
@pytest.mark.parametrize("dims", [(0, 2, 3), (1, 2, 3), (2, 3)])
def test_batch_stats_match_torch(mod, dims):
    for shape in SHAPES:
        x = rand(shape)
        mean, var = mod.batch_stats(x, dims)
        assert mean.shape == var.shape == x.mean(dims, keepdim=True).shape, shape
        assert close(mean, x.mean(dims, keepdim=True)), f"mean over {dims}, shape {shape}"
        assert close(var, x.var(dims, correction=0, keepdim=True), 1e-4), f"biased variance over {dims}, shape {shape}"


@pytest.mark.exercise("04-batch-stats", points=1, hint="Don't compute the statistics under torch.no_grad().")
def test_batch_stats_default_dims_and_gradients(mod):
    x = rand((6, 4, 3, 3), grad=True)
    mean, var = mod.batch_stats(x)
    assert mean.shape == (1, 4, 1, 1)
    (mean.sum() + var.sum()).backward()
    expected = 1 / 54 + 2 * (x - x.mean((0, 2, 3), keepdim=True)) / 54
    assert x.grad is not None and close(x.grad, expected.detach(), 1e-4)


@pytest.mark.exercise("04-ema", points=2,
                      hint="avg.lerp_(new, mom): in place, and mom is the weight of the new value.")
def test_ema_update_is_pytorchs_running_mean(mod):
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(5, momentum=0.3)
    avg = torch.zeros(5)
    for _ in range(4):
        x = rand((8, 5, 3, 3))
        bn(x)
        out = mod.ema_update(avg, x.mean((0, 2, 3)), 0.3)
        assert out is avg, "update avg in place and return it"
    assert close(avg, bn.running_mean), (f"after 4 batches with mom 0.3, avg differs from nn.BatchNorm2d(momentum=0.3)'s "
                                         f"running_mean by up to {(avg - bn.running_mean).abs().max():.3g}")


@pytest.mark.exercise("04-ema", points=1, hint="(1 - mom) * avg + mom * new.")
def test_ema_update_values(mod):
    avg = torch.tensor([10.0, 0.0])
    mod.ema_update(avg, torch.tensor([0.0, 10.0]), 0.1)
    assert close(avg, torch.tensor([9.0, 1.0])), f"avg [10, 0], new [0, 10], mom 0.1: avg became {show(avg)}, not [9, 1]"
    mod.ema_update(avg, torch.tensor([0.0, 0.0]), 1.0)
    assert close(avg, torch.zeros(2)), f"mom 1.0 must give the new value [0, 0], not {show(avg)}"


@pytest.mark.exercise("04-normalize", points=1,
                      hint="(x - mean) / sqrt(var + eps) * mults + adds; eps goes inside the square root.")
@pytest.mark.parametrize("eps", [1e-5, 0.1, 2.0])
def test_norm_affine(mod, eps):
    for shape in SHAPES:
        x, c = rand(shape), shape[1]
        mean, var = torch.randn(1, c, 1, 1), torch.rand(1, c, 1, 1) * 0.1
        mults, adds = torch.randn(c, 1, 1), torch.randn(c, 1, 1)
        expected = (x - mean) / torch.sqrt(var + eps) * mults + adds
        assert close(mod.norm_affine(x, mean, var, mults, adds, eps), expected, 1e-4), shape
    assert close(mod.norm_affine(x, mean, var, mults, adds), (x - mean) / torch.sqrt(var + 1e-5) * mults + adds, 1e-4)


# ------------------------------------------------------------------ BatchNorm

@pytest.mark.exercise("04-batchnorm-init", points=2,
                      hint="nn.Parameter for mults/adds; self.register_buffer('means', ...) and ('vars', ...).")
def test_batchnorm_parameters_and_buffers(mod):
    bn = mod.BatchNorm(6, mom=0.2, eps=1e-3)
    assert (bn.mom, bn.eps) == (0.2, 1e-3)
    params, buffers = dict(bn.named_parameters()), dict(bn.named_buffers())
    assert set(params) == {"mults", "adds"}, f"parameters: {sorted(params)}"
    assert set(buffers) == {"means", "vars"}, f"buffers: {sorted(buffers)} (use register_buffer)"
    assert params["mults"].shape == params["adds"].shape == (6, 1, 1)
    assert buffers["means"].shape == buffers["vars"].shape == (1, 6, 1, 1)
    assert torch.equal(params["mults"], torch.ones(6, 1, 1)) and torch.equal(params["adds"], torch.zeros(6, 1, 1))
    assert torch.equal(buffers["means"], torch.zeros(1, 6, 1, 1)) and torch.equal(buffers["vars"], torch.ones(1, 6, 1, 1))


@pytest.mark.exercise("04-batchnorm-init", points=1,
                      hint="Buffers are in state_dict() and move with .to(); plain tensor attributes do neither.")
def test_batchnorm_buffers_travel_with_the_module(mod):
    bn = mod.BatchNorm(3)
    assert set(bn.state_dict()) == {"mults", "adds", "means", "vars"}
    bn = bn.to(torch.float64)
    assert bn.means.dtype == bn.vars.dtype == bn.mults.dtype == torch.float64


@pytest.mark.exercise("04-batchnorm-update", points=3,
                      hint="batch_stats(x); under no_grad, ema_update the means, and the vars with var * n / (n - 1).")
def test_batchnorm_running_stats_match_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "ema_update")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "update_stats")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1], mom=0.25)
        for _ in range(3):
            x = rand(shape)
            theirs(x)
            ours.update_stats(x)
        assert close(ours.means.view(-1), theirs.running_mean), f"running mean, shape {shape}"
        assert close(ours.vars.view(-1), theirs.running_var, 1e-4), f"running var (unbiased), shape {shape}"


@pytest.mark.exercise("04-batchnorm-update", points=2,
                      hint="Return the batch's mean and BIASED variance, with their gradients (outside no_grad).")
def test_batchnorm_update_returns_batch_stats_with_gradients(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "ema_update")
    bn = with_methods(ref.BatchNorm, mod.BatchNorm, "update_stats")(4)
    x = rand((5, 4, 3, 2), grad=True)
    mean, var = bn.update_stats(x)
    assert close(mean, x.mean((0, 2, 3), keepdim=True)) and close(var, x.var((0, 2, 3), correction=0, keepdim=True), 1e-4)
    assert mean.requires_grad and var.requires_grad, "the batch statistics must keep their gradients"
    assert not bn.means.requires_grad and not bn.vars.requires_grad, \
        "the running statistics (means, vars) must not require grad: update them under torch.no_grad()"


@pytest.mark.exercise("04-batchnorm-forward", points=3,
                      hint="Training: normalise with update_stats(x); evaluation: with self.means and self.vars.")
def test_batchnorm_matches_pytorch_in_training_and_evaluation(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "norm_affine")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "forward")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1])
        for _ in range(2):
            x = rand(shape)
            assert close(ours(x), theirs(x), 1e-4), f"training output, shape {shape}"
        ours.eval(), theirs.eval()
        x = rand(shape)
        assert close(ours(x), theirs(x), 1e-4), f"evaluation output, shape {shape}"
        assert close(ours.means.view(-1), theirs.running_mean), "evaluation must not change the running stats"


@pytest.mark.exercise("04-batchnorm-forward", points=2,
                      hint="Gradients must flow through the batch mean and variance, as in nn.BatchNorm2d.")
def test_batchnorm_gradients_match_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "norm_affine")
    cls = with_methods(ref.BatchNorm, mod.BatchNorm, "forward")
    for shape in SHAPES:
        ours, theirs = paired_bn(cls, shape[1])
        x1, g = rand(shape, grad=True), torch.randn(shape)
        x2 = x1.detach().clone().requires_grad_()
        (ours(x1) * g).sum().backward()
        (theirs(x2) * g).sum().backward()
        assert close(x1.grad, x2.grad, 1e-4), f"input gradient, shape {shape}"
        assert close(ours.mults.grad.view(-1), theirs.weight.grad, 1e-4), f"mults gradient, shape {shape}"
        assert close(ours.adds.grad.view(-1), theirs.bias.grad, 1e-4), f"adds gradient, shape {shape}"


@pytest.mark.exercise("04-conv-layer", points=2,
                      hint="nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride, bias=norm is None), GeneralRelu, norm(nf).")
def test_conv_layer(mod):
    layer = mod.conv_layer(3, 8, ks=5, stride=2, norm=mod.BatchNorm, leak=0.1, sub=0.4)
    conv, relu, norm = layer
    assert isinstance(conv, nn.Conv2d) and conv.bias is None, "with a norm the conv has no bias"
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (3, 8, (5, 5), (2, 2), (2, 2))
    assert type(relu).__name__ == "GeneralRelu" and (relu.leak, relu.sub) == (0.1, 0.4)
    assert isinstance(norm, mod.BatchNorm) and norm.mults.shape == (8, 1, 1)
    assert layer(torch.randn(2, 3, 28, 28)).shape == (2, 8, 14, 14)
    plain = mod.conv_layer(8, 16, norm=None)
    assert len(plain) == 2 and plain[0].bias is not None, "without a norm the conv keeps its bias"
    assert isinstance(mod.conv_layer(8, 16, norm=nn.BatchNorm2d)[2], nn.BatchNorm2d)


# ------------------------------------------------------------ the other norms

@pytest.mark.exercise("04-layernorm", points=2, hint="The statistics of each image: batch_stats(x, dims=(1, 2, 3)).")
def test_layernorm_matches_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    for shape in SHAPES:
        ln = mod.LayerNorm()
        with torch.no_grad():
            ln.mult.fill_(1.5)
            ln.add.fill_(-0.5)
        x1 = rand(shape, grad=True)
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ln(x1), F.layer_norm(x2, shape[1:]) * 1.5 - 0.5
        assert close(y1, y2, 1e-4), f"output, shape {shape}"
        y1.pow(2).sum().backward()
        y2.pow(2).sum().backward()
        assert close(x1.grad, x2.grad, 1e-3), f"input gradient, shape {shape}"
    ln.eval()
    assert close(ln(x2.detach()), y2.detach(), 1e-4), "layer norm is the same in evaluation"


@pytest.mark.exercise("04-instancenorm", points=2, hint="The statistics of each image and channel: dims (2, 3).")
def test_instancenorm_matches_pytorch(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats", "norm_affine")
    for shape in [(4, 3, 5, 6), (7, 5, 3, 2), (2, 6, 4, 4)]:
        inorm, c = mod.InstanceNorm(shape[1]), shape[1]
        w, b = torch.randn(c), torch.randn(c)
        with torch.no_grad():
            inorm.mults.copy_(w.view(c, 1, 1))
            inorm.adds.copy_(b.view(c, 1, 1))
        x = rand(shape)
        assert close(inorm(x), F.instance_norm(x, weight=w, bias=b), 1e-4), shape


@pytest.mark.exercise("04-groupnorm", points=1,
                      hint="x.view(n, groups, c // groups, h, w); statistics over dims (2, 3, 4); view back; mults, adds.")
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_groupnorm_matches_pytorch(mod, ref, monkeypatch, groups):
    isolate(monkeypatch, mod, ref, "batch_stats")
    for shape in [(4, 6, 5, 3), (2, 6, 1, 1), (3, 12, 4, 4)]:
        ours, theirs = mod.GroupNorm(groups, shape[1]), nn.GroupNorm(groups, shape[1])
        with torch.no_grad():
            ours.mults.copy_(torch.randn(shape[1], 1, 1))
            ours.adds.copy_(torch.randn(shape[1], 1, 1))
            theirs.weight.copy_(ours.mults.view(-1))
            theirs.bias.copy_(ours.adds.view(-1))
        x1 = rand(shape, grad=True)
        x2 = x1.detach().clone().requires_grad_()
        y1, y2 = ours(x1), theirs(x2)
        assert close(y1, y2, 1e-4), f"output, {groups} groups, shape {shape}"
        y1.pow(3).sum().backward()
        y2.pow(3).sum().backward()
        assert close(x1.grad, x2.grad, 1e-3), f"input gradient, {groups} groups, shape {shape}"


@pytest.mark.exercise("04-groupnorm", points=1, hint="One group is layer norm; one group per channel is instance norm.")
def test_groupnorm_extremes_are_layer_and_instance_norm(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "batch_stats")
    x = rand((5, 8, 3, 4))
    assert close(mod.GroupNorm(1, 8)(x), F.layer_norm(x, x.shape[1:]), 1e-4), "GroupNorm(1, C) is layer norm"
    assert close(mod.GroupNorm(8, 8)(x), F.instance_norm(x), 1e-4), "GroupNorm(C, C) is instance norm"


@pytest.mark.exercise("04-fog", points=2,
                      hint="Per image: mean + contrast * (x - mean) + haze, the mean over all dims but the first.")
def test_fog_lowers_contrast_and_raises_brightness(mod):
    x = rand((6, 1, 5, 5))
    x[0] += 4  # images with different brightness: the mean must be each image's own
    before = x.clone()
    y = mod.fog(x, contrast=0.3, haze=2.0)
    assert torch.equal(x, before), "fog must not change its input"
    dims = (1, 2, 3)
    assert y.shape == x.shape
    assert close(y.mean(dims), x.mean(dims) + 2.0, 1e-4), "each image's mean goes up by haze"
    assert close(y.std(dims), 0.3 * x.std(dims), 1e-4), "each image's spread is multiplied by contrast"
    assert close(mod.fog(x, contrast=1.0, haze=0.0), x), "contrast 1 and no haze: unchanged"
    flat = rand((4, 10))
    assert close(mod.fog(flat, 0.5, 1.0).mean(1), flat.mean(1) + 1.0, 1e-4), "works for any number of dims"


# ------------------------------------------------------------ RunningBatchNorm

@pytest.mark.exercise("04-rbn-momentum", points=2, hint="1 - (1 - mom) / sqrt(bs - 1); bs = 1 gives mom.")
def test_rbn_momentum(mod):
    for mom, bs, expected in [(0.1, 2, 0.1), (0.1, 5, 0.55), (0.1, 101, 0.91), (0.2, 17, 0.8), (0.1, 1, 0.1)]:
        got = mod.rbn_momentum(mom, bs)
        assert isinstance(got, float) and math.isclose(got, expected), \
            f"rbn_momentum({mom}, {bs}) returned {got!r}, expected the float {expected}"
    assert mod.rbn_momentum(0.1, 512) > mod.rbn_momentum(0.1, 32) > mod.rbn_momentum(0.1, 4)


@pytest.mark.exercise("04-debias", points=2, hint="1 - the product of (1 - m) over the momenta.")
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


@pytest.mark.exercise("04-running-var", points=2, hint="mean = sums / count; var = sqrs / count - mean ** 2.")
def test_running_mean_var_from_sums(mod):
    x = rand((6, 4, 3, 3))
    sums, sqrs, count = x.sum((0, 2, 3), keepdim=True), (x * x).sum((0, 2, 3), keepdim=True), torch.tensor(54.0)
    mean, var = mod.running_mean_var(sums, sqrs, count)
    expected = x.var((0, 2, 3), correction=0, keepdim=True)
    assert close(mean, x.mean((0, 2, 3), keepdim=True), 1e-4), "mean: sums / count"
    assert close(var, expected, 1e-3), \
        f"variance {show(var)}, expected the biased one {show(expected)}"
    mean2, var2 = mod.running_mean_var(0.3 * sums, 0.3 * sqrs, 0.3 * count)
    assert close(mean2, mean, 1e-4) and close(var2, var, 1e-3), "a common factor cancels"


@pytest.mark.exercise("04-var-clamp", points=2, hint="var.clamp_min(min_var) if n_seen < until, else var; not in place.")
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
    assert close(mod.clamp_var(var, 5, min_var=0.1, until=6), torch.tensor([0.1, 0.5, 0.1]))
    assert close(mod.clamp_var(var, 6, min_var=0.1, until=6), var)


def rbn_with(ref, mod, method, nf=3):
    return with_methods(ref.RunningBatchNorm, mod.RunningBatchNorm, method)(nf)


def rbn_and_probe(ref, mod, nf):
    """The learner's `forward` on the reference layer, with random mults and adds, and a reference
    layer in the same state to compute what it should give."""
    rbn = rbn_with(ref, mod, "forward", nf=nf)
    with torch.no_grad():
        rbn.mults.copy_(torch.randn(nf, 1, 1))
        rbn.adds.copy_(torch.randn(nf, 1, 1))
    probe = ref.RunningBatchNorm(nf)
    probe.load_state_dict(rbn.state_dict())
    return rbn, probe


@pytest.mark.exercise("04-rbn-update", points=3,
                      hint="lerp sums, sqrs and count (numel / C) towards the batch's with rbn_momentum(mom, bs); seen += bs.")
def test_rbn_update_stats(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "rbn_momentum")
    rbn = rbn_with(ref, mod, "update_stats")
    x1, x2 = rand((5, 3, 2, 2)), rand((2, 3, 4, 4))
    m1 = rbn.update_stats(x1)
    assert math.isclose(m1, ref.rbn_momentum(0.1, 5)), f"returned {m1!r}, expected rbn_momentum(0.1, 5) = 0.55"
    s1, q1 = x1.sum((0, 2, 3), keepdim=True), (x1 * x1).sum((0, 2, 3), keepdim=True)
    assert close(rbn.sums, m1 * s1, 1e-4) and close(rbn.sqrs, m1 * q1, 1e-4), \
        "from zero, one batch: sums = mom1 * the batch's sums (mom1: the weight of the new batch)"
    assert close(rbn.count, torch.tensor(m1 * 20.0)), \
        f"count {rbn.count.item():.4g} after a (5, 3, 2, 2) batch from zero, expected mom1 * 20 = {m1 * 20:.4g}"
    assert int(rbn.seen) == 5, f"seen {int(rbn.seen)} after a batch of 5, expected 5"
    m2 = rbn.update_stats(x2)
    assert math.isclose(m2, 0.1)
    s2, q2 = x2.sum((0, 2, 3), keepdim=True), (x2 * x2).sum((0, 2, 3), keepdim=True)
    assert close(rbn.sums, (1 - m2) * m1 * s1 + m2 * s2, 1e-4)
    assert close(rbn.sqrs, (1 - m2) * m1 * q1 + m2 * q2, 1e-3)
    assert close(rbn.count, torch.tensor((1 - m2) * m1 * 20.0 + m2 * 32.0)) and int(rbn.seen) == 7


@pytest.mark.exercise("04-rbn-update", points=1, hint="Detach the old averages; this batch's share keeps its gradient.")
def test_rbn_update_keeps_only_this_batchs_gradient(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "rbn_momentum")
    rbn = rbn_with(ref, mod, "update_stats")
    x1, x2 = rand((4, 3, 2, 2), grad=True), rand((4, 3, 2, 2), grad=True)
    rbn.update_stats(x1)
    rbn.update_stats(x2)
    rbn.sums.sum().backward()
    assert x1.grad is None, "earlier batches' share must be detached"
    assert x2.grad is not None and close(x2.grad, torch.full_like(x2, ref.rbn_momentum(0.1, 4)))


@pytest.mark.exercise("04-rbn-forward", points=3,
                      hint="Training: update_stats first; both modes: running_mean_var, clamp_var(var, seen), norm_affine.")
def test_rbn_forward_in_training_and_evaluation(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "running_mean_var", "clamp_var", "norm_affine")
    rbn, probe = rbn_and_probe(ref, mod, 4)
    for bs in (2, 2, 6, 30):
        x = rand((bs, 4, 3, 3))
        probe.update_stats(x)
        mean, var = ref.running_mean_var(probe.sums, probe.sqrs, probe.count)
        expected = ref.norm_affine(x, mean, ref.clamp_var(var, probe.seen), rbn.mults, rbn.adds, rbn.eps)
        assert close(rbn(x), expected, 1e-4), f"training batch of {bs}"
    rbn.eval()
    before = {k: v.clone() for k, v in rbn.state_dict().items()}
    x = rand((3, 4, 3, 3))
    mean, var = ref.running_mean_var(rbn.sums, rbn.sqrs, rbn.count)
    assert close(rbn(x), ref.norm_affine(x, mean, var, rbn.mults, rbn.adds, rbn.eps), 1e-4), "evaluation"
    assert all(torch.equal(v, rbn.state_dict()[k]) for k, v in before.items()), "evaluation must not update the stats"


@pytest.mark.exercise("04-rbn-forward", points=2,
                      hint="Clamp the variance while seen < 20; in eval before any training batch, raise RuntimeError.")
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
                      hint="The gradient goes through this batch's share of sums and sqrs: do not detach what "
                           "update_stats returns; a variance that clamp_var clamped passes no gradient.")
def test_rbn_forward_gradients_are_autograds(mod, ref, monkeypatch):
    isolate(monkeypatch, mod, ref, "running_mean_var", "clamp_var", "norm_affine")
    rbn, probe = rbn_and_probe(ref, mod, 3)  # the probe's gradient: autograd through update_stats
    for step, bs in enumerate((2, 2, 6, 30)):
        x1 = rand((bs, 3, 2, 2), grad=True)
        if step == 0:
            with torch.no_grad():
                x1[1, 0] = x1[0, 0] + 1e-3  # channel 0 hardly varies: its variance is clamped, the others' not
        x2, g = x1.detach().clone().requires_grad_(), torch.randn(bs, 3, 2, 2)
        (rbn(x1) * g).sum().backward()
        probe.update_stats(x2)
        mean, var = ref.running_mean_var(probe.sums, probe.sqrs, probe.count)
        (ref.norm_affine(x2, mean, ref.clamp_var(var, probe.seen), probe.mults, probe.adds, probe.eps) * g).sum().backward()
        assert x1.grad is not None and close(x1.grad, x2.grad, 1e-4), f"input gradient, step {step}, batch size {bs}"
        assert close(rbn.mults.grad, probe.mults.grad, 1e-4) and close(rbn.adds.grad, probe.adds.grad, 1e-4), \
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
                      hint="grad_x = factor * (grad - share * (sum(grad) + xhat * sum(grad * xhat))), sums per channel.")
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
                      hint="Use ctx.share, not 1 / n; and no gradient through the variance where var_grad is False.")
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
