"""On a CUDA GPU: lesson 03's `DeviceCallback` trains the CNN there (hooks and telemetry included),
and every norm layer of lesson 04 computes there what it computes on the CPU.

Skipped where there is no GPU (CI has none); run it by hand on a machine with one:
`python -m pytest tests/test_cuda.py`.
"""

import copy

import pytest
import torch

from course import challenges
from solutions import l03_cnn_hooks as l03
from solutions import l04_norms as l04

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def banded_digits(n: int, seed: int) -> l03.Dataset:
    """Flat 28 x 28 noise "images" whose class c shows as a brighter band of rows: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    for c in range(10):
        x[y == c, 2 + 2 * c:4 + 2 * c] += 2.0
    return l03.Dataset(x.view(n, 784), y)


class Where(l03.Callback):
    """Records the devices of each training batch's inputs, targets and predictions."""

    def begin_fit(self):
        self.devices = set()

    def after_pred(self):
        if self.in_train:
            self.devices.add((self.xb.device.type, self.yb.device.type, self.pred.device.type))


def test_device_callback_trains_the_cnn_on_the_gpu():
    assert l03.default_device().type == "cuda" and l03.DeviceCallback().device.type == "cuda"
    data = l03.DataBunch(*l03.get_dls(banded_digits(1024, 0), banded_digits(256, 1), 64), c_in=784, c_out=10)
    learn, run = l03.get_learn_run([8, 16, 32, 32], data, 0.4, cbs=l03.cnn_callbacks() + [Where])
    assert next(learn.model.parameters()).device.type == "cpu"
    with l03.Hooks(learn.model, l03.append_stats) as hooks:
        run.fit(3, learn)
    where = next(cb for cb in run.cbs if isinstance(cb, Where))
    assert where.devices == {("cuda", "cuda", "cuda")}
    assert {p.device.type for p in learn.model.parameters()} == {"cuda"}
    losses = run.recorder.losses
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert run.avg_stats.valid_stats.avg_stats[1] > 0.8  # accuracy on the validation images
    means, stds, hists = hooks[0].stats
    assert all(isinstance(v, float) for v in means + stds) and len(means) == len(losses)
    assert {h.device.type for h in hists} == {"cpu"} and l03.get_hist(hooks[0]).shape == (l03.HIST_BINS, len(losses))


NORMS = {
    "BatchNorm": lambda: l04.BatchNorm(16),
    "LayerNorm": lambda: l04.LayerNorm(),
    "InstanceNorm": lambda: l04.InstanceNorm(16),
    "GroupNorm": lambda: l04.GroupNorm(4, 16),
    "RunningBatchNorm": lambda: l04.RunningBatchNorm(16),
}


@pytest.mark.parametrize("bs", [2, 32])
@pytest.mark.parametrize("name", NORMS)
def test_a_norm_layer_computes_on_the_gpu_what_it_computes_on_the_cpu(name, bs):
    torch.manual_seed(0)
    cpu = NORMS[name]()
    with torch.no_grad():
        for p in cpu.parameters():  # not the initial ones and zeros, so that a mix-up shows
            p.add_(torch.randn_like(p) * 0.1)
    gpu = copy.deepcopy(cpu).to(CUDA)
    assert all(t.device.type == CUDA.type for t in [*gpu.parameters(), *gpu.buffers()])
    for step in range(3):
        x = (torch.randn(bs, 16, 7, 7) * 3 + 1).requires_grad_()
        xg = x.detach().to(CUDA).requires_grad_()
        out, outg = cpu(x), gpu(xg)
        grad = torch.randn_like(out)
        out.backward(grad), outg.backward(grad.to(CUDA))
        torch.testing.assert_close(outg.cpu(), out, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(xg.grad.cpu(), x.grad, atol=1e-4, rtol=1e-4)
    for (pname, p), pg in zip(cpu.named_parameters(), gpu.parameters()):
        torch.testing.assert_close(pg.grad.cpu(), p.grad, atol=1e-4, rtol=1e-4, msg=f"{name}.{pname}.grad")
    for (bname, b), bg in zip(cpu.named_buffers(), gpu.buffers()):
        torch.testing.assert_close(bg.cpu(), b, atol=1e-4, rtol=1e-4, msg=f"{name}.{bname}")
    cpu.eval(), gpu.eval()
    x = torch.randn(bs, 16, 7, 7)
    torch.testing.assert_close(gpu(x.to(CUDA)).cpu(), cpu(x), atol=1e-4, rtol=1e-4)


def test_batchnorm_matches_pytorchs_on_the_gpu():
    torch.manual_seed(0)
    ours, theirs = l04.BatchNorm(16).to(CUDA), torch.nn.BatchNorm2d(16).to(CUDA)
    for _ in range(3):
        x = torch.randn(32, 16, 7, 7, device=CUDA) * 2 + 1
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.means.view(-1), theirs.running_mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.vars.view(-1), theirs.running_var, atol=1e-5, rtol=1e-5)


def test_batchnorm_function_gradients_on_the_gpu():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, device=CUDA, requires_grad=True)
    mults = torch.rand(3, 1, 1, dtype=torch.float64, device=CUDA, requires_grad=True)
    adds = torch.randn(3, 1, 1, dtype=torch.float64, device=CUDA, requires_grad=True)

    def f(x, mults, adds):
        mean, var = l04.batch_stats(x.detach())
        return l04.BatchNormFunction.apply(x, mean, var, mults, adds, 1e-5, 1 / 100)
    assert torch.autograd.gradcheck(f, (x, mults, adds))


def test_the_challenge_records_name_the_gpu():
    assert challenges.hardware()["gpu"] == torch.cuda.get_device_name()
