"""Graded tests for lesson 03 - a CNN, a device callback, hooks, telemetry and initialisation.

A test of one exercise that needs another exercise of this lesson takes that one from `ref` (the
reference solutions), so each exercise is graded on its own code only.
"""

import math
import pickle
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn


def use_ref_list_container(monkeypatch, mod, ref):
    """Give the learner's ListContainer the reference dunder methods (exercises 03-list-index and
    03-list-container), so a test of Hooks depends on Hooks alone."""
    for name in ("__getitem__", "__len__", "__iter__", "__setitem__", "__delitem__", "__repr__"):
        monkeypatch.setattr(mod.ListContainer, name, getattr(ref.ListContainer, name))


def count_hooks(*modules):
    return sum(len(m._forward_hooks) for m in modules)


# ------------------------------------------------------------------- normalize_to

@pytest.mark.exercise("03-normalize-to", points=2,
                      hint="Compute the TRAINING mean and std once, and apply (x - mean) / std to both sets.")
def test_normalize_to_uses_the_training_statistics(mod):
    train, valid = torch.randn(200, 5) * 3 + 5, torch.randn(50, 5) * 2 + 1
    train0, valid0 = train.clone(), valid.clone()
    new_train, new_valid = mod.normalize_to(train, valid)
    assert new_train.mean().item() == pytest.approx(0, abs=1e-5)
    assert new_train.std().item() == pytest.approx(1, abs=1e-5)
    assert torch.allclose(new_valid, (valid0 - train0.mean()) / train0.std(), atol=1e-5)
    assert torch.equal(train, train0) and torch.equal(valid, valid0), "the inputs must not be changed"


# ------------------------------------------------------------------------- Lambda

@pytest.mark.exercise("03-lambda", points=2,
                      hint="forward returns self.func(x); flatten keeps dimension 0: x.view(x.shape[0], -1).")
def test_lambda_and_flatten(mod):
    layer = mod.Lambda(torch.neg)
    x = torch.randn(3, 4)
    assert torch.equal(layer(x), -x)
    assert isinstance(layer, nn.Module)
    x = torch.randn(3, 2, 4, 5)
    assert torch.equal(mod.flatten(x), x.reshape(3, 40))
    assert mod.flatten(torch.randn(1, 7, 2)).shape == (1, 14)
    assert torch.equal(mod.Lambda(mod.flatten)(x), x.reshape(3, 40))
    restored = pickle.loads(pickle.dumps(nn.Sequential(mod.Lambda(mod.flatten))))  # a named function pickles
    assert restored(x).shape == (3, 40)


@pytest.mark.exercise("03-lambda", points=1, hint="(N, 784) -> (N, 1, 28, 28): -1 for the batch size, one channel.")
def test_mnist_resize(mod):
    x = torch.randn(5, 784)
    out = mod.mnist_resize(x)
    assert out.shape == (5, 1, 28, 28)
    assert torch.equal(out[2, 0, 3], x[2, 3 * 28:4 * 28])  # row 3 of image 2
    assert mod.mnist_resize(torch.randn(1, 784)).shape == (1, 1, 28, 28)


# ------------------------------------------------------------- dot_product_sizes

@pytest.mark.exercise("03-dot-products", points=2,
                      hint="For every nn.Conv2d in model.modules(): (in_channels // groups * kh * kw, out_channels).")
def test_dot_product_sizes(mod):
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU()),
        nn.Conv2d(8, 16, (3, 1)),
        nn.Sequential(nn.Sequential(nn.Conv2d(16, 32, 3, groups=4))),
        nn.Linear(3, 3),
    )
    assert mod.dot_product_sizes(model) == [(25, 8), (24, 16), (36, 32)]
    assert mod.dot_product_sizes(nn.Conv2d(3, 64, 7)) == [(147, 64)]
    assert mod.dot_product_sizes(nn.Linear(2, 2)) == []


# ------------------------------------------------------------------ DeviceCallback

@pytest.mark.exercise("03-device", points=2,
                      hint="begin_fit: self.model.to(self.device); begin_batch: set self.run.xb and self.run.yb, "
                           "moved.")
def test_device_callback_moves_the_model_and_each_batch(mod):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    run = SimpleNamespace(model=model, xb=torch.randn(2, 3), yb=torch.tensor([0, 1]))
    cb = mod.DeviceCallback("meta")
    cb.set_runner(run)
    cb.begin_fit()
    assert all(p.device.type == "meta" for p in model.parameters())
    assert all(b.device.type == "meta" for b in model.buffers())  # buffers too: the whole model moves
    assert run.xb.device.type == "cpu"  # nothing else yet
    cb.begin_batch()
    assert run.xb.device.type == "meta" and run.yb.device.type == "meta"
    assert run.xb.shape == (2, 3) and run.yb.shape == (2,)


@pytest.mark.exercise("03-device", points=1,
                      hint="In a fit, the loss and the step happen where the model and the batch were moved to.")
def test_device_callback_in_a_fit(mod):
    seen = []

    class Where(mod.Callback):
        def after_step(self):
            seen.append((next(self.model.parameters()).device.type, self.xb.device.type, self.loss.device.type))

    x, y = torch.randn(8, 3), torch.arange(8) % 2
    data = mod.DataBunch(mod.DataLoader(mod.Dataset(x, y), 4), mod.DataLoader(mod.Dataset(x, y), 8), c_in=3, c_out=2)
    model = nn.Linear(3, 2)
    learn = mod.Learner(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, data)
    mod.Runner(cbs=[mod.DeviceCallback("meta"), Where(), mod.StopAfterStep(1)]).fit(1, learn)
    assert seen == [("meta", "meta", "meta")] * 2
    assert x.device.type == "cpu"  # the data set itself stays where it is
    assert mod.DeviceCallback().device.type == ("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------- BatchTransformXCallback

@pytest.mark.exercise("03-batch-transform", points=1,
                      hint="begin_batch: self.run.xb = self.tfm(self.xb) (assign on the runner, not on the callback).")
def test_batch_transform_replaces_the_inputs_only(mod):
    xb, yb = torch.randn(4, 6), torch.tensor([1, 2, 3, 4])
    run = SimpleNamespace(xb=xb, yb=yb)
    cb = mod.BatchTransformXCallback(lambda x: x * 10)
    cb.set_runner(run)
    cb.begin_batch()
    assert torch.equal(run.xb, xb * 10)
    assert run.yb is yb
    cb.begin_batch()
    assert torch.allclose(run.xb, xb * 100)  # each call transforms the current batch


# ------------------------------------------------------------------------ view_tfm

@pytest.mark.exercise("03-view-tfm", points=2,
                      hint="Return an inner function that calls x.view(-1, *size): the closure remembers size.")
def test_view_tfm(mod):
    mnist_view = mod.view_tfm(1, 28, 28)
    assert callable(mnist_view)
    x = torch.randn(5, 784)
    assert torch.equal(mnist_view(x), x.view(5, 1, 28, 28))
    assert mnist_view(torch.randn(3, 784)).shape == (3, 1, 28, 28)  # any batch size, e.g. the last batch
    assert mod.view_tfm(2, 2)(torch.randn(7, 4)).shape == (7, 2, 2)
    assert mod.view_tfm(12)(torch.randn(2, 3, 4)).shape == (2, 12)


# ------------------------------------------------------------------ get_cnn_layers

@pytest.mark.exercise("03-cnn-layers", points=2,
                      hint="One layer(ni, nf, ks, **kwargs) per entry of nfs, ni from 1, ks 5 then 3; then pool, "
                           "flatten, linear.")
def test_get_cnn_layers_calls_layer_for_each_entry(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Lambda", ref.Lambda)
    monkeypatch.setattr(mod, "flatten", ref.flatten)
    calls = []

    def layer(ni, nf, ks, **kwargs):
        calls.append((ni, nf, ks, kwargs))
        return nn.Sequential(nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=2), nn.ReLU())

    data = SimpleNamespace(c_out=7)
    layers = mod.get_cnn_layers(data, [4, 6, 5], layer, leak=0.1, sub=0.4)
    assert calls == [(1, 4, 5, {"leak": 0.1, "sub": 0.4}), (4, 6, 3, {"leak": 0.1, "sub": 0.4}),
                     (6, 5, 3, {"leak": 0.1, "sub": 0.4})]
    assert len(layers) == 6
    assert isinstance(layers[3], nn.AdaptiveAvgPool2d) and layers[3].output_size in (1, (1, 1))
    assert isinstance(layers[5], nn.Linear) and (layers[5].in_features, layers[5].out_features) == (5, 7)
    out = nn.Sequential(*layers)(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 7)


@pytest.mark.exercise("03-cnn-layers", points=1,
                      hint="get_cnn_model wraps get_cnn_layers in nn.Sequential; the stride is the layer's business.")
def test_get_cnn_model_with_conv2d(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Lambda", ref.Lambda)
    monkeypatch.setattr(mod, "flatten", ref.flatten)
    model = mod.get_cnn_model(SimpleNamespace(c_out=10), [8, 16, 32, 32], mod.conv2d)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 8, (5, 5)), (8, 16, (3, 3)), (16, 32, (3, 3)), (32, 32, (3, 3))]
    x = torch.randn(3, 1, 28, 28)
    sizes = []
    for layer in model[:4]:
        x = layer(x)
        sizes.append(x.shape[-1])
    assert sizes == [14, 7, 4, 2]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


# ------------------------------------------------------------------ BatchDataLoader

class CountingDataset:
    """A dataset of tensors that records every index it is asked for."""

    def __init__(self, x, y):
        self.x, self.y, self.asked = x, y, []

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.asked.append(i)
        return self.x[i], self.y[i]


@pytest.mark.exercise("03-batch-loader", points=2,
                      hint="order = randperm(n) or arange(n); for idx in order.split(bs): yield self.ds[idx].")
def test_batch_loader_fetches_each_batch_in_one_call(mod):
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    ds = CountingDataset(x, y)
    batches = list(mod.BatchDataLoader(ds, 4))
    assert len(ds.asked) == 3, "one ds[idx] call per batch"
    assert all(isinstance(i, torch.Tensor) and i.dtype == torch.int64 for i in ds.asked)
    assert [yb.tolist() for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert torch.equal(batches[2][0], x[8:])
    assert len(mod.BatchDataLoader(ds, 4)) == 3


@pytest.mark.exercise("03-batch-loader", points=2,
                      hint="Shuffle with one torch.randperm(len(ds)) per pass: the same batches as lesson 00's loader.")
def test_batch_loader_shuffles_like_lesson_00(mod):
    x, y = torch.randn(23, 3), torch.arange(23)
    torch.manual_seed(5)
    old = [yb for _, yb in mod.DataLoader(mod.Dataset(x, y), 5, shuffle=True)]
    torch.manual_seed(5)
    loader = mod.BatchDataLoader(mod.Dataset(x, y), 5, shuffle=True)
    new = [yb for _, yb in loader]
    assert len(new) == len(old) == 5
    assert all(torch.equal(a, b) for a, b in zip(old, new))
    again = torch.cat([yb for _, yb in loader])
    assert sorted(again.tolist()) == list(range(23)) and not torch.equal(again, torch.cat(new))  # a new order


# ------------------------------------------------------------------ SequentialModel

@pytest.mark.exercise("03-sequential-model", points=2,
                      hint="Loop over self.layers: x = layer(x), then, if self.training, append x's mean and std "
                           "(floats).")
def test_sequential_model_records_each_layers_output(mod):
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    model = mod.SequentialModel(*layers)
    x = torch.randn(16, 3)
    out = model(x)
    expected = nn.Sequential(*layers)(x)
    assert torch.allclose(out, expected)
    h = x
    for i, layer in enumerate(layers):
        h = layer(h)
        assert model.act_means[i] == [pytest.approx(h.mean().item(), abs=1e-6)]
        assert model.act_stds[i] == [pytest.approx(h.std().item(), abs=1e-6)]
        assert isinstance(model.act_means[i][0], float)
    model(torch.randn(16, 3))
    assert [len(m) for m in model.act_means] == [2, 2, 2]
    model.eval()
    model(torch.randn(16, 3))
    assert [len(m) for m in model.act_stds] == [2, 2, 2], "nothing is recorded in eval mode"


# ---------------------------------------------------------------------------- Hook

@pytest.mark.exercise("03-hook", points=2,
                      hint="register_forward_hook(partial(f, self)) and keep the handle; remove() calls "
                           "handle.remove().")
def test_hook_calls_f_with_itself_and_removes(mod):
    layer = nn.Linear(3, 2)
    calls = []

    def f(hook, module, inp, outp):
        calls.append((hook, module, inp[0].shape, outp.shape))
        hook.count = getattr(hook, "count", 0) + 1

    hook = mod.Hook(layer, f)
    layer(torch.randn(4, 3))
    layer(torch.randn(5, 3))
    assert [(h is hook, m is layer, i, o) for h, m, i, o in calls] == [
        (True, True, (4, 3), (4, 2)), (True, True, (5, 3), (5, 2))]
    assert hook.count == 2  # state lives on the Hook
    assert count_hooks(layer) == 1
    hook.remove()
    layer(torch.randn(4, 3))
    assert len(calls) == 2 and count_hooks(layer) == 0
    hook.remove()  # twice is harmless
    hook = mod.Hook(layer, f)
    assert count_hooks(layer) == 1
    hook.__del__()  # calls remove()
    assert count_hooks(layer) == 0



# ------------------------------------------------------------------- ListContainer

@pytest.mark.exercise("03-list-index", points=2,
                      hint="int/slice: index the list; a list of bools: a mask (check its length); else a list of "
                           "indices.")
def test_list_container_indexing(mod, ref, monkeypatch):
    monkeypatch.setattr(mod.ListContainer, "__len__", ref.ListContainer.__len__)
    monkeypatch.setattr(mod.ListContainer, "__iter__", ref.ListContainer.__iter__)
    c = mod.ListContainer(list("abcdef"))
    assert c[0] == "a" and c[-1] == "f"
    assert c[1:4] == ["b", "c", "d"] and c[::2] == ["a", "c", "e"]
    assert c[[0, 5, 2]] == ["a", "f", "c"]
    assert c[(1, 1)] == ["b", "b"]
    assert c[torch.tensor([3, 0])] == ["d", "a"]
    assert c[[]] == []
    assert c[[True, False, True, False, False, True]] == ["a", "c", "f"]
    assert c[[False] * 6] == []


@pytest.mark.exercise("03-list-index", points=1,
                      hint="A mask of the wrong length is an IndexError that says both lengths, e.g. 'mask of "
                           "length 2 for 6 items'.")
def test_list_container_mask_of_the_wrong_length(mod, ref, monkeypatch):
    monkeypatch.setattr(mod.ListContainer, "__len__", ref.ListContainer.__len__)
    monkeypatch.setattr(mod.ListContainer, "__iter__", ref.ListContainer.__iter__)
    c = mod.ListContainer(list("abcdef"))
    for mask in ([True, False], [True] * 7):
        with pytest.raises(IndexError) as excinfo:
            c[mask]
        message = str(excinfo.value)
        assert str(len(mask)) in message and "6" in message, message


@pytest.mark.exercise("03-list-container", points=2,
                      hint="Delegate len, iter, setitem and delitem to self.items.")
def test_list_container_behaves_like_a_list(mod):
    c = mod.ListContainer([1, 2, 3, 4])
    assert len(c) == 4 and list(c) == [1, 2, 3, 4] and sum(c) == 10
    c[1] = "two"
    assert c.items == [1, "two", 3, 4]
    del c[0]
    assert c.items == ["two", 3, 4] and len(c) == 3
    del c[-1]
    assert list(c) == ["two", 3]
    assert len(mod.ListContainer(None)) == 0 and len(mod.ListContainer("ab")) == 1


@pytest.mark.exercise("03-list-container", points=1,
                      hint="f'{type(self).__name__} ({len(self)} items)\\n' + the first 10 items; '...]' when there "
                           "are more.")
def test_list_container_repr(mod):
    assert repr(mod.ListContainer([1, 2, 3])) == "ListContainer (3 items)\n[1, 2, 3]"
    assert repr(mod.ListContainer(list(range(10)))) == "ListContainer (10 items)\n[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
    assert repr(mod.ListContainer(list(range(12)))) == "ListContainer (12 items)\n[0, 1, 2, 3, 4, 5, 6, 7, 8, 9...]"

    class Things(mod.ListContainer):
        pass
    assert repr(Things(["x"])) == "Things (1 items)\n['x']"


# ---------------------------------------------------------------------------- Hooks

@pytest.mark.exercise("03-hooks", points=2,
                      hint="__init__: a Hook(m, f) per module; __enter__ returns self; __exit__ calls self.remove().")
def test_hooks_is_a_context_manager_that_removes_every_hook(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []
    with mod.Hooks(model, lambda hook, m, i, o: seen.append((hook, m))) as hooks:
        assert isinstance(hooks, mod.Hooks) and len(hooks) == 3
        assert count_hooks(*model) == 3
        model(torch.randn(2, 3))
    assert [m for _, m in seen] == list(model)
    assert [h for h, _ in seen] == list(hooks)
    assert count_hooks(*model) == 0


@pytest.mark.exercise("03-hooks", points=2,
                      hint="__exit__ runs also when the block raises; return nothing from it, so the exception goes "
                           "on.")
def test_hooks_are_removed_when_the_block_raises(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.raises(ZeroDivisionError):
        with mod.Hooks(model, lambda hook, m, i, o: None):
            model(torch.randn(2, 3))
            1 / 0
    assert count_hooks(*model) == 0


@pytest.mark.exercise("03-hooks", points=1,
                      hint="del hooks[i]: remove that Hook from its module, then delete it from the list; remove() "
                           "removes all.")
def test_hooks_del_and_remove(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    layers = [nn.Linear(2, 2) for _ in range(3)]
    hooks = mod.Hooks(layers, lambda hook, m, i, o: None)
    del hooks[1]
    assert len(hooks) == 2
    assert [count_hooks(m) for m in layers] == [1, 0, 1]
    hooks.remove()
    assert [count_hooks(m) for m in layers] == [0, 0, 0]


# ---------------------------------------------------------------------- append_stats

@pytest.mark.exercise("03-append-stats", points=2,
                      hint="Create hook.stats = ([], [], []) once; append outp's mean, std and histc(bins, *range).")
def test_append_stats_records_mean_std_and_histogram(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 50)
    outs = [torch.randn(8, 50) * 3, torch.randn(8, 50) + 2]
    for out in outs:
        mod.append_stats(hook, layer, (None,), out)
    means, stds, hists = hook.stats
    assert means == [pytest.approx(o.mean().item(), abs=1e-6) for o in outs]
    assert stds == [pytest.approx(o.std().item(), abs=1e-6) for o in outs]
    assert all(isinstance(m, float) for m in means + stds)
    assert len(hists) == 2 and all(torch.equal(h, o.histc(40, -7, 7)) for h, o in zip(hists, outs))
    assert hook.hist_range == (-7, 7)

    hook = SimpleNamespace()
    mod.append_stats(hook, layer, (None,), outs[0], bins=10, range=(0, 5))
    assert torch.equal(hook.stats[2][0], outs[0].histc(10, 0, 5)) and hook.hist_range == (0, 5)


@pytest.mark.exercise("03-append-stats", points=2,
                      hint="Return at once when not mod.training: validation batches are not part of the training "
                           "telemetry.")
def test_append_stats_ignores_eval_mode(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 5)
    mod.append_stats(hook, layer, (None,), torch.randn(4, 5))
    layer.eval()
    mod.append_stats(hook, layer, (None,), torch.randn(4, 5))
    assert [len(s) for s in hook.stats] == [1, 1, 1]
    layer.train()
    out = torch.randn(4, 5, requires_grad=True)
    mod.append_stats(hook, layer, (None,), out * 2)  # a tensor that is part of a graph
    assert [len(s) for s in hook.stats] == [2, 2, 2] and not hook.stats[2][1].requires_grad


# -------------------------------------------------------------------------- get_hist

@pytest.mark.exercise("03-get-hist", points=2,
                      hint="torch.stack the histograms (iterations x bins), transpose, .float().log1p().")
def test_get_hist(mod):
    hists = [torch.tensor([0.0, 1.0, 3.0]), torch.tensor([7.0, 0.0, 0.0]), torch.tensor([2.0, 2.0, 0.0]),
             torch.tensor([0.0, 0.0, 15.0])]
    hook = SimpleNamespace(stats=([0.0] * 4, [1.0] * 4, hists), hist_range=(0, 3))
    image = mod.get_hist(hook)
    assert image.shape == (3, 4), "bins x iterations"
    assert image.dtype.is_floating_point
    expected = torch.tensor([[0.0, 7.0, 2.0, 0.0], [1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 0.0, 15.0]])
    assert torch.allclose(image, expected.log1p())
    assert image[0, 0] == 0  # log(1 + 0): an empty bin is 0, not -inf


# --------------------------------------------------------------------------- get_min

@pytest.mark.exercise("03-get-min", points=2,
                      hint="Bin centres: lo + width * (k + 0.5); keep the bins with |centre| < near; their counts / "
                           "all counts.")
def test_get_min_on_a_positive_range(mod):
    h1, h2 = torch.zeros(40), torch.zeros(40)
    h1[0], h1[1], h1[2], h1[30] = 5, 3, 100, 92  # 8 of 200 in [0, 0.5)
    h2[0], h2[39] = 10, 30
    hook = SimpleNamespace(stats=([0.0] * 2, [1.0] * 2, [h1, h2]), hist_range=(0.0, 10.0))
    fractions = mod.get_min(hook)
    assert fractions.shape == (2,)
    assert fractions.tolist() == pytest.approx([8 / 200, 10 / 40])
    assert mod.get_min(hook, near=0.8).tolist() == pytest.approx([108 / 200, 10 / 40])  # centres 0.125 ... 0.625


@pytest.mark.exercise("03-get-min", points=2,
                      hint="On (-7, 7) with 40 bins, |centre| < 0.5 picks bins 19 and 20, [-0.35, 0.35).")
def test_get_min_on_a_symmetric_range(mod):
    h = torch.ones(40)
    h[19], h[20], h[21], h[18] = 11, 21, 1000, 1000
    hook = SimpleNamespace(stats=([0.0], [1.0], [h]), hist_range=(-7.0, 7.0))
    assert mod.get_min(hook).tolist() == pytest.approx([32 / h.sum().item()])


# -------------------------------------------------------------------------- init_cnn

@pytest.mark.exercise("03-init-cnn", points=2,
                      hint="Recurse into m.children(); for each nn.Conv2d: kaiming_normal_(weight, a=0.1), bias zero.")
def test_init_cnn_reaches_every_conv_and_leaves_the_rest(mod):
    torch.manual_seed(0)
    deep = nn.Conv2d(16, 64, 3)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU()),
                          nn.Sequential(nn.Sequential(deep)), nn.Conv2d(64, 4, 1, bias=False), nn.Linear(4, 3))
    linear = model[3].weight.detach().clone()
    assert mod.init_cnn(model) is model
    gain = math.sqrt(2 / (1 + 0.1 ** 2))
    assert deep.weight.std().item() == pytest.approx(gain / math.sqrt(16 * 9), rel=0.05)  # fan_in, not fan_out
    assert model[0][0].weight.std().item() == pytest.approx(gain / 5, rel=0.3)
    assert torch.all(deep.bias == 0) and torch.all(model[0][0].bias == 0)
    assert model[2].weight.std().item() == pytest.approx(gain / 8, rel=0.3)
    assert torch.equal(model[3].weight, linear), "layers other than Conv2d are left as they are"
    top = deep.weight.abs().max().item() / deep.weight.std().item()
    assert top > 3, "normal init (not uniform) by default"


@pytest.mark.exercise("03-init-cnn", points=1,
                      hint="uniform=True: kaiming_uniform_ (same std, values within +-sqrt(3) std).")
def test_init_cnn_uniform(mod):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 64, 3)
    mod.init_cnn(nn.Sequential(nn.Sequential(conv)), uniform=True)
    gain, fan_in = math.sqrt(2 / (1 + 0.1 ** 2)), 16 * 9
    assert conv.weight.std().item() == pytest.approx(gain / math.sqrt(fan_in), rel=0.05)
    assert conv.weight.abs().max().item() <= gain * math.sqrt(3 / fan_in) + 1e-6
    assert torch.all(conv.bias == 0)


@pytest.mark.exercise("03-init-cnn", points=1,
                      hint="With Kaiming init, 8 conv + ReLU layers keep the mean square of random input near 1.")
def test_init_cnn_keeps_the_signal_through_a_deep_stack(mod):
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Sequential(nn.Conv2d(32, 32, 3), nn.ReLU()) for _ in range(8)])
    mod.init_cnn(model)
    x = torch.randn(16, 32, 20, 20)
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            assert 0.1 < x.pow(2).mean().item() < 10  # PyTorch's default init: 0.0005 after 8 layers


# ----------------------------------------------------------------------- GeneralRelu

@pytest.mark.exercise("03-general-relu", points=2,
                      hint="leaky_relu(x, leak) if leak is not None else relu(x); then subtract sub; then "
                           "clamp_max(maxv).")
def test_general_relu_against_torch(mod):
    x = torch.randn(1000) * 5
    assert torch.equal(mod.GeneralRelu()(x), F.relu(x))
    assert torch.allclose(mod.GeneralRelu(leak=0.1)(x), F.leaky_relu(x, 0.1))
    assert torch.allclose(mod.GeneralRelu(sub=0.4)(x), F.relu(x) - 0.4)
    assert torch.allclose(mod.GeneralRelu(maxv=6.0)(x), F.relu(x).clamp_max(6.0))
    assert torch.allclose(mod.GeneralRelu(0.1, 0.4, 6.0)(x), (F.leaky_relu(x, 0.1) - 0.4).clamp_max(6.0))
    assert mod.GeneralRelu(0.1, 0.4, 6.0)(torch.tensor([100.0])).item() == 6.0  # clamped after subtracting


@pytest.mark.exercise("03-general-relu", points=1,
                      hint="No in-place operations: the input stays as it was, and backward works (relu needs its "
                           "output).")
def test_general_relu_keeps_its_input_and_its_gradient(mod):
    x = torch.randn(50, requires_grad=True)
    x0 = x.detach().clone()
    y = mod.GeneralRelu(sub=0.4, maxv=1.0)(x)
    y.sum().backward()
    assert torch.equal(x.detach(), x0)
    assert torch.equal(x.grad, ((x0 > 0) & (x0 - 0.4 < 1.0)).float())
    x = torch.randn(50, requires_grad=True)
    mod.GeneralRelu(leak=0.1)(x).sum().backward()
    assert torch.allclose(x.grad, torch.where(x.detach() > 0, 1.0, 0.1))
