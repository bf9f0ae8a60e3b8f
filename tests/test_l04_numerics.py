"""Lesson 04's reference layers on awkward inputs: large means, half precision, tiny batches,
near-constant channels; the optimised variants against the autograd ones; a tidy module."""

import copy
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from solutions import l04_norms as l04
from solutions import l04_variants as variants

PAIRS = {  # ours, PyTorch's (as a function of x)
    "BatchNorm": (lambda: l04.BatchNorm(4), nn.BatchNorm2d(4)),
    "LayerNorm": (lambda: l04.LayerNorm(), lambda x: F.layer_norm(x, x.shape[1:])),
    "InstanceNorm": (lambda: l04.InstanceNorm(4), F.instance_norm),
    "GroupNorm": (lambda: l04.GroupNorm(2, 4), nn.GroupNorm(2, 4)),
}


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("mean, tol", [(0.0, 1e-5), (100.0, 1e-4), (1000.0, 1e-3)])
def test_every_norm_matches_pytorch_at_large_means(name, mean, tol):
    make, theirs = PAIRS[name]
    for seed in range(20):
        torch.manual_seed(seed)
        x = torch.randn(8, 4, 6, 6) + mean
        err = (make()(x) - theirs(x)).abs().max().item()
        assert err < tol, f"{name}, float32 input mean {mean:g}, std 1, seed {seed}: off by {err:.2g}"


@pytest.mark.parametrize("make", [lambda: l04.BatchNorm(8), lambda: l04.RunningBatchNorm(8)])
def test_batch_norms_run_under_cpu_autocast_bfloat16(make):
    torch.manual_seed(0)
    ours, theirs = make(), nn.BatchNorm2d(8)
    x = torch.randn(32, 8, 5, 5) * 2 + 30
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xb = x.bfloat16()
        y1, y2 = ours(xb), theirs(xb)
    assert y1.dtype == torch.bfloat16
    assert torch.isfinite(y1).all()
    if isinstance(ours, l04.BatchNorm):
        torch.testing.assert_close(y1.float(), y2.float(), atol=2e-2, rtol=2e-2)


def test_running_batch_norm_sums_float16_in_float32():
    rbn = l04.RunningBatchNorm(4)
    out = rbn((torch.randn(256, 4, 4, 4) + 30).half())
    assert out.dtype == torch.float16 and torch.isfinite(out).all() and torch.isfinite(rbn.sqrs).all()


@pytest.mark.parametrize("batch", [
    lambda: 7 + 1e-3 * torch.randn(2, 3, 1, 1),  # nearly constant
    lambda: torch.full((2, 3, 1, 1), 6.0),  # saturated at GeneralRelu's maxv
    lambda: 1e4 + torch.randn(2, 3, 1, 1),  # a huge mean
], ids=["near-constant", "saturated", "mean-1e4"])
def test_running_batch_norm_stays_finite_at_batch_size_2(batch):
    torch.manual_seed(0)
    rbn = l04.RunningBatchNorm(3)
    for _ in range(300):
        x = batch().requires_grad_()
        y = rbn(x)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    rbn.eval()
    assert torch.isfinite(rbn(batch())).all()


def test_batch_norm_refuses_one_value_per_channel_like_pytorch():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        l04.BatchNorm(4)(torch.randn(1, 4, 1, 1))
    l04.BatchNorm(4).eval()(torch.randn(1, 4, 1, 1))  # evaluation uses the running statistics: fine


def test_a_trained_running_batch_norm_can_be_copied_and_saved():
    rbn = l04.RunningBatchNorm(3)
    rbn(torch.randn(4, 3, 2, 2, requires_grad=True)).sum().backward()
    assert not rbn.sums.requires_grad
    copy.deepcopy(rbn)


@pytest.mark.parametrize("spread, shift", [(1.0, 2.0), (1e-3, 0.0)])  # 1e-3: variance 1e-6, the clamp is on
def test_fast_variants_compute_what_the_autograd_layers_compute(spread, shift):
    torch.manual_seed(0)
    pairs = [(l04.FastBatchNorm(5), l04.BatchNorm(5), 8), (l04.FastRunningBatchNorm(5), l04.RunningBatchNorm(5), 2)]
    for fast, slow, bs in pairs:
        for step in range(15):
            x = torch.randn(bs, 5, 3, 3) * spread + shift
            x1, x2, g = x.clone().requires_grad_(), x.clone().requires_grad_(), torch.randn_like(x)
            y1, y2 = fast(x1), slow(x2)
            (y1 * g).sum().backward()
            (y2 * g).sum().backward()
            torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(fast.mults.grad, slow.mults.grad, atol=1e-4, rtol=1e-4)


def test_every_norm_says_what_it_is():
    assert repr(l04.BatchNorm(4)) == "BatchNorm(4, eps=1e-05, mom=0.1)"
    assert repr(l04.LayerNorm()) == "LayerNorm(eps=1e-05)"
    assert repr(l04.InstanceNorm(3)) == "InstanceNorm(3, eps=1e-05)"
    assert repr(l04.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05)"
    assert repr(l04.RunningBatchNorm(3, mom=0.2)) == "RunningBatchNorm(3, eps=1e-05, mom=0.2)"
    assert all(set(dict(m.named_parameters())) == {"mults", "adds"}
               for m in (l04.BatchNorm(2), l04.LayerNorm(), l04.InstanceNorm(2), l04.GroupNorm(1, 2),
                         l04.RunningBatchNorm(2)))


def test_transcript_debiasing_overflows_float32():
    torch.manual_seed(0)
    layer, steps = variants.TranscriptRunningBatchNorm(3), 0
    while steps < 100 and torch.isfinite(layer(torch.rand(2, 3, 2, 2) + 0.5)).all():
        steps += 1
    assert 20 < steps < 60, f"the product of momenta 0.1 should overflow the averages within tens of steps, not {steps}"


def test_importing_the_module_changes_nothing_global():
    code = ("import torch; n = torch.get_num_threads(); d = torch.backends.mkldnn.enabled; "
            "import solutions.l04_norms, solutions.l04_variants; "
            "assert (torch.get_num_threads(), torch.backends.mkldnn.enabled) == (n, d)")
    subprocess.run([sys.executable, "-c", code], check=True)

