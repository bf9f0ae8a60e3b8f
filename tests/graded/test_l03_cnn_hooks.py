"""Graded tests for lesson 03 - a CNN, a device callback, hooks, telemetry and initialisation.

A test of one exercise that needs another exercise of this lesson takes that one from `ref` (the
reference solutions), so each exercise is graded on its own code only. Every failure says what
was expected and what came back.
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
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in modules)


def show(t, n: int = 8):
    """A tensor's (first `n`) values, rounded, for a failure message; anything else as its repr."""
    if not isinstance(t, torch.Tensor):
        return repr(t)
    values = [round(v, 4) for v in t.detach().flatten()[:n].tolist()]
    return f"{values}{' ...' if t.numel() > n else ''} (shape {tuple(t.shape)})"


def expect_close(got, expected, what, tol=1e-5):
    """`got` is a tensor of `expected`'s shape and values (to `tol`); else a message with both."""
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__} {got!r}"
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    assert torch.allclose(got.double(), expected.double(), atol=tol, rtol=tol), \
        f"{what}: got {show(got)}, expected {show(expected)}"


def expect_float(got, expected, what, rel=1e-5, abs=1e-6):
    """`got` is a Python float close to `expected`."""
    assert isinstance(got, float), f"{what}: expected a Python float, got {type(got).__name__} {got!r}"
    assert got == pytest.approx(expected, rel=rel, abs=abs), f"{what}: got {got}, expected {expected}"


def expect_str(got, expected, what):
    """`got` is exactly the str `expected` (a str subclass could redefine ==)."""
    assert type(got) is str, f"{what}: expected a str, got {type(got).__name__}"
    assert got == expected, f"{what}: got {got!r}, expected {expected!r}"


# ------------------------------------------------------------------- normalize_to

@pytest.mark.exercise("03-normalize-to", points=2,
                      hint="Both sets go through the same transformation, the one the training set defines.")
def test_normalize_to_uses_the_training_statistics(mod):
    train, valid = torch.randn(200, 5) * 3 + 5, torch.randn(50, 5) * 2 + 1
    train0, valid0 = train.clone(), valid.clone()
    new_train, new_valid = mod.normalize_to(train, valid)
    assert torch.equal(train, train0) and torch.equal(valid, valid0), \
        "normalize_to changed its inputs: return new tensors, leave the caller's as they were"
    mean, std = train0.mean(), train0.std()
    expect_close(new_train, (train0 - mean) / std, "normalised training set")
    expect_close(new_valid, (valid0 - mean) / std, "normalised validation set (with the TRAINING mean and std)")


@pytest.mark.exercise("03-normalize-to", points=1,
                      hint="Large values, small spread: some ways of computing a std lose every digit in float32.")
def test_normalize_to_with_a_large_mean(mod):
    train, valid = torch.randn(1000, 4) + 10_000, torch.randn(100, 4) + 10_001
    mean, std = train.double().mean(), train.double().std()
    new_train, new_valid = mod.normalize_to(train, valid)
    expect_close(new_train, (train.double() - mean) / std, "training set of mean 10,000 and std 1", tol=2e-2)
    expect_close(new_valid, (valid.double() - mean) / std, "validation set of mean 10,001 and std 1", tol=2e-2)


# ------------------------------------------------------------------------- Lambda

@pytest.mark.exercise("03-lambda", points=2,
                      hint="A Lambda module applies the function it was built with; flatten keeps one row per item "
                           "of the batch.")
def test_lambda_and_flatten(mod):
    layer = mod.Lambda(torch.neg)
    assert isinstance(layer, nn.Module), f"Lambda(f) should be an nn.Module, got a {type(layer).__mro__}"
    x = torch.randn(3, 4)
    expect_close(layer(x), -x, "Lambda(torch.neg)(x)")
    x = torch.randn(3, 2, 4, 5)
    expect_close(mod.flatten(x), x.reshape(3, 40), "flatten of a (3, 2, 4, 5) tensor")
    got = mod.flatten(torch.randn(1, 7, 2)).shape
    assert got == (1, 14), f"flatten of a batch of one (1, 7, 2): shape {tuple(got)}, expected (1, 14)"
    expect_close(mod.Lambda(mod.flatten)(x), x.reshape(3, 40), "Lambda(flatten)(x)")
    restored = pickle.loads(pickle.dumps(nn.Sequential(mod.Lambda(mod.flatten))))  # a named function pickles
    assert restored(x).shape == (3, 40), f"a pickled Lambda(flatten) gives shape {tuple(restored(x).shape)}"


@pytest.mark.exercise("03-lambda", points=1,
                      hint="A conv layer wants (batch, channels, height, width); the batch size is whatever comes in.")
def test_mnist_resize(mod):
    x = torch.randn(5, 784)
    out = mod.mnist_resize(x)
    assert out.shape == (5, 1, 28, 28), f"mnist_resize of (5, 784): shape {tuple(out.shape)}, expected (5, 1, 28, 28)"
    expect_close(out[2, 0, 3], x[2, 3 * 28:4 * 28], "row 3 of image 2")
    got = mod.mnist_resize(torch.randn(1, 784)).shape
    assert got == (1, 1, 28, 28), f"mnist_resize of a batch of one: shape {tuple(got)}, expected (1, 1, 28, 28)"


# ------------------------------------------------------------- dot_product_sizes

@pytest.mark.exercise("03-dot-products", points=2,
                      hint="Each output value is a dot product over every input channel of its group and every "
                           "kernel position; look at every Conv2d, however deep.")
def test_dot_product_sizes(mod):
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU()),
        nn.Conv2d(8, 16, (3, 1), stride=2, padding=1),
        nn.Sequential(nn.Sequential(nn.Conv2d(16, 32, 3, groups=4))),
        nn.Linear(3, 3),
    )
    cases = [(model, [(25, 8), (24, 16), (36, 32)]), (nn.Conv2d(3, 64, 7), [(147, 64)]),
             (nn.Conv2d(3, 32, 3), [(27, 32)]), (nn.Linear(2, 2), [])]
    for m, expected in cases:
        got = mod.dot_product_sizes(m)
        assert got == expected, f"dot_product_sizes of {m}: got {got}, expected {expected}"


# ------------------------------------------------------------------ DeviceCallback

@pytest.mark.exercise("03-device", points=2,
                      hint="Only two kinds of tensors need moving: the model's (at the start of the fit) and each "
                           "batch's (on the runner, where the training loop reads them).")
def test_device_callback_moves_the_model_and_each_batch(mod):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    run = SimpleNamespace(model=model, xb=torch.randn(2, 3), yb=torch.tensor([0, 1]))
    cb = mod.DeviceCallback("meta")
    cb.set_runner(run)
    cb.begin_fit()
    devices = {name: p.device.type for name, p in list(model.named_parameters()) + list(model.named_buffers())}
    assert set(devices.values()) == {"meta"}, \
        f"after begin_fit, parameters and buffers on {devices}, expected all on meta (the whole model moves)"
    assert run.xb.device.type == "cpu", f"begin_fit moved the batch too (xb on {run.xb.device}): only the model"
    cb.begin_batch()
    got = (run.xb.device.type, run.yb.device.type)
    assert got == ("meta", "meta"), f"after begin_batch, the runner's (xb, yb) are on {got}, expected (meta, meta)"
    assert run.xb.shape == (2, 3) and run.yb.shape == (2,), \
        f"shapes after begin_batch: {tuple(run.xb.shape)}, {tuple(run.yb.shape)}, expected (2, 3), (2,)"


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
    expected = [("meta", "meta", "meta")] * 2
    assert seen == expected, f"(parameters, xb, loss) devices at each step: {seen}, expected {expected}"
    assert x.device.type == "cpu", "the data set itself moved: only each batch should"
    default = mod.DeviceCallback().device.type
    expected_default = "cuda" if torch.cuda.is_available() else "cpu"
    assert default == expected_default, f"DeviceCallback() trains on {default}, expected {expected_default}"


# ------------------------------------------------------- BatchTransformXCallback

@pytest.mark.exercise("03-batch-transform", points=1,
                      hint="Change the batch the runner will use, not an attribute of the callback; the targets stay.")
def test_batch_transform_replaces_the_inputs_only(mod):
    xb, yb = torch.randn(4, 6), torch.tensor([1, 2, 3, 4])
    run = SimpleNamespace(xb=xb, yb=yb)
    cb = mod.BatchTransformXCallback(lambda x: x * 10)
    cb.set_runner(run)
    cb.begin_batch()
    expect_close(run.xb, xb * 10, "the runner's xb after begin_batch with tfm x -> 10 x")
    assert run.yb is yb, f"the runner's yb changed to {show(run.yb)}: only the inputs are transformed"
    cb.begin_batch()
    expect_close(run.xb, xb * 100, "xb after a second begin_batch (each call transforms the current batch)")


# ------------------------------------------------------------------------ view_tfm

@pytest.mark.exercise("03-view-tfm", points=2,
                      hint="Return an inner function; it remembers `size` from the call that made it, and takes "
                           "the batch size from each batch.")
def test_view_tfm(mod):
    mnist_view = mod.view_tfm(1, 28, 28)
    assert callable(mnist_view), f"view_tfm(1, 28, 28) should return a function, got {mnist_view!r}"
    x = torch.randn(5, 784)
    expect_close(mnist_view(x), x.view(5, 1, 28, 28), "view_tfm(1, 28, 28) of a (5, 784) batch")
    for size, shape, expected in [((1, 28, 28), (3, 784), (3, 1, 28, 28)), ((1, 28, 28), (1, 784), (1, 1, 28, 28)),
                                  ((2, 2), (7, 4), (7, 2, 2)), ((12,), (2, 3, 4), (2, 12))]:
        got = tuple(mod.view_tfm(*size)(torch.randn(shape)).shape)
        assert got == expected, f"view_tfm{size} of a batch of shape {shape}: shape {got}, expected {expected}"


# ------------------------------------------------------------------ get_cnn_layers

@pytest.mark.exercise("03-cnn-layers", points=2,
                      hint="One `layer` per entry of nfs, each from the previous number of channels (an image has "
                           "one); then pool, flatten and a linear layer.")
def test_get_cnn_layers_calls_layer_for_each_entry(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Lambda", ref.Lambda)
    monkeypatch.setattr(mod, "flatten", ref.flatten)
    calls = []

    def layer(ni, nf, ks, **kwargs):
        calls.append((ni, nf, ks, kwargs))
        return nn.Sequential(nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=2), nn.ReLU())

    data, nfs = SimpleNamespace(c_out=7), [4, 6, 5]
    layers = mod.get_cnn_layers(data, nfs, layer, leak=0.1, sub=0.4)
    kw = {"leak": 0.1, "sub": 0.4}
    expected = [(1, 4, 5, kw), (4, 6, 3, kw), (6, 5, 3, kw)]
    assert calls == expected, f"calls layer(ni, nf, ks, **kwargs): {calls}, expected {expected}"
    assert nfs == [4, 6, 5], f"get_cnn_layers changed the caller's nfs to {nfs}: work on a copy"
    kinds = [type(m).__name__ for m in layers]
    assert len(layers) == 6, f"{len(layers)} layers {kinds}, expected 6: 3 from `layer`, pool, flatten, linear"
    assert isinstance(layers[3], nn.AdaptiveAvgPool2d) and layers[3].output_size in (1, (1, 1)), \
        f"layer 3 is {layers[3]}, expected nn.AdaptiveAvgPool2d(1)"
    assert isinstance(layers[5], nn.Linear) and (layers[5].in_features, layers[5].out_features) == (5, 7), \
        f"the last layer is {layers[5]}, expected Linear(in_features=5, out_features=7)"
    out = nn.Sequential(*layers)(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 7), f"the model's output for 2 images: shape {tuple(out.shape)}, expected (2, 7)"


@pytest.mark.exercise("03-cnn-layers", points=1,
                      hint="get_cnn_model is get_cnn_layers in an nn.Sequential; the stride is the layer's business.")
def test_get_cnn_model_with_conv2d(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Lambda", ref.Lambda)
    monkeypatch.setattr(mod, "flatten", ref.flatten)
    model = mod.get_cnn_model(SimpleNamespace(c_out=10), [8, 16, 32, 32], mod.conv2d)
    convs = [(c.in_channels, c.out_channels, c.kernel_size) for c in model.modules() if isinstance(c, nn.Conv2d)]
    expected = [(1, 8, (5, 5)), (8, 16, (3, 3)), (16, 32, (3, 3)), (32, 32, (3, 3))]
    assert convs == expected, f"convolutions (in, out, kernel): {convs}, expected {expected}"
    x = torch.randn(3, 1, 28, 28)
    sizes = []
    for layer in model[:4]:
        x = layer(x)
        sizes.append(x.shape[-1])
    assert sizes == [14, 7, 4, 2], f"image sizes after each conv layer: {sizes}, expected [14, 7, 4, 2]"
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10), f"the model's output for 3 images: shape {tuple(out.shape)}, expected (3, 10)"


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
                      hint="A tensor can be indexed with a tensor of indices: ask the dataset once per batch, and "
                           "keep the last, smaller batch.")
def test_batch_loader_fetches_each_batch_in_one_call(mod):
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    ds = CountingDataset(x, y)
    batches = list(mod.BatchDataLoader(ds, 4))
    got = [yb.tolist() for _, yb in batches]
    expected = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert got == expected, f"10 items at bs 4, not shuffled: batches {got}, expected {expected} " \
                            "(the last batch is smaller, and kept)"
    assert len(ds.asked) == 3, f"{len(ds.asked)} calls of ds[...] for 3 batches, expected one per batch"
    kinds = [(type(i).__name__, getattr(i, "dtype", None)) for i in ds.asked]
    assert all(isinstance(i, torch.Tensor) and i.dtype == torch.int64 for i in ds.asked), \
        f"ds was indexed with {kinds}, expected int64 tensors of indices"
    expect_close(batches[2][0], x[8:], "the inputs of the last batch")
    assert len(mod.BatchDataLoader(ds, 4)) == 3, f"len(loader) is {len(mod.BatchDataLoader(ds, 4))}, expected 3"


@pytest.mark.exercise("03-batch-loader", points=1,
                      hint="A last batch of one item is still a batch: (1, features), not a single item.")
def test_batch_loader_last_batch_of_one(mod):
    x, y = torch.randn(9, 3), torch.arange(9)
    batches = list(mod.BatchDataLoader(mod.Dataset(x, y), 4))
    shapes = [(tuple(xb.shape), tuple(yb.shape)) for xb, yb in batches]
    expected = [((4, 3), (4,)), ((4, 3), (4,)), ((1, 3), (1,))]
    assert shapes == expected, f"9 items at bs 4: batch shapes {shapes}, expected {expected}"


@pytest.mark.exercise("03-batch-loader", points=2,
                      hint="Shuffle with one random permutation of all the indices per pass, as lesson 00's loader.")
def test_batch_loader_shuffles_like_lesson_00(mod):
    x, y = torch.randn(23, 3), torch.arange(23)
    torch.manual_seed(5)
    old = [yb for _, yb in mod.DataLoader(mod.Dataset(x, y), 5, shuffle=True)]
    torch.manual_seed(5)
    loader = mod.BatchDataLoader(mod.Dataset(x, y), 5, shuffle=True)
    new = [yb for _, yb in loader]
    assert [b.tolist() for b in new] == [b.tolist() for b in old], \
        f"shuffled batches {[b.tolist() for b in new]}, expected lesson 00's {[b.tolist() for b in old]}"
    again = torch.cat([yb for _, yb in loader])
    assert sorted(again.tolist()) == list(range(23)), f"a second pass gave {again.tolist()}: not every item once"
    assert not torch.equal(again, torch.cat(new)), "a second pass repeated the first pass's order: draw a new one"


# ------------------------------------------------------------------ SequentialModel

@pytest.mark.exercise("03-sequential-model", points=2,
                      hint="Run the layers one after the other, and record each one's OUTPUT, as floats, while "
                           "the model is training.")
def test_sequential_model_records_each_layers_output(mod):
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    model = mod.SequentialModel(*layers)
    x = torch.randn(16, 3)
    out = model(x)
    expect_close(out, nn.Sequential(*layers)(x), "SequentialModel's output")
    h = x
    for i, layer in enumerate(layers):
        h = layer(h)
        assert len(model.act_means[i]) == 1 and len(model.act_stds[i]) == 1, \
            f"layer {i}: {len(model.act_means[i])} means and {len(model.act_stds[i])} stds after one batch, expected 1"
        expect_float(model.act_means[i][0], h.mean().item(), f"layer {i}'s output mean")
        expect_float(model.act_stds[i][0], h.std().item(), f"layer {i}'s output std")
    model(torch.randn(16, 3))
    got = [len(m) for m in model.act_means]
    assert got == [2, 2, 2], f"means recorded per layer after 2 batches: {got}, expected [2, 2, 2]"
    model.eval()
    model(torch.randn(16, 3))
    got = [len(m) for m in model.act_stds]
    assert got == [2, 2, 2], f"stds per layer after an eval-mode batch: {got}, expected [2, 2, 2] (nothing recorded)"


@pytest.mark.exercise("03-sequential-model", points=1,
                      hint="Activations of mean 10,000 and std 1: compute the std as the spread around the mean, "
                           "not from E[x^2] - E[x]^2.")
def test_sequential_model_with_a_large_mean(mod):
    layer = nn.Linear(4, 8)
    with torch.no_grad():
        layer.bias.fill_(10_000.0)
    model = mod.SequentialModel(layer)
    x = torch.randn(32, 4)
    model(x)
    out = layer(x).double()
    expect_float(model.act_means[0][0], out.mean().item(), "mean of outputs around 10,000", rel=1e-6)
    expect_float(model.act_stds[0][0], out.std().item(), "std of outputs around 10,000", rel=1e-2)


# ---------------------------------------------------------------------------- Hook

@pytest.mark.exercise("03-hook-class", points=2,
                      hint="The module must call f with the Hook as its first argument: bind it before "
                           "registering, and keep what register returns, to remove it later.")
def test_hook_calls_f_with_itself_and_removes(mod):
    layer = nn.Linear(3, 2)
    calls = []

    def f(hook, module, inp, outp):
        calls.append((hook, module, inp[0].shape, outp.shape))
        hook.count = getattr(hook, "count", 0) + 1

    hook = mod.Hook(layer, f)
    layer(torch.randn(4, 3))
    layer(torch.randn(5, 3))
    got = [(h is hook, m is layer, tuple(i), tuple(o)) for h, m, i, o in calls]
    expected = [(True, True, (4, 3), (4, 2)), (True, True, (5, 3), (5, 2))]
    assert got == expected, f"calls of f as (is the Hook, is the module, input shape, output shape): {got}, " \
                            f"expected {expected}"
    assert getattr(hook, "count", None) == 2, f"state kept on the Hook: count {getattr(hook, 'count', None)}, expected 2"
    assert count_hooks(layer) == 1, f"{count_hooks(layer)} hooks on the module, expected 1"
    hook.remove()
    layer(torch.randn(4, 3))
    assert len(calls) == 2 and count_hooks(layer) == 0, \
        f"after remove(): {count_hooks(layer)} hooks on the module and f called {len(calls) - 2} more times, expected 0"
    hook.remove()  # twice is harmless
    hook = mod.Hook(layer, f)
    assert count_hooks(layer) == 1, f"{count_hooks(layer)} hooks after a new Hook, expected 1"
    hook.__del__()  # calls remove()
    assert count_hooks(layer) == 0, f"{count_hooks(layer)} hooks after __del__, expected 0"


@pytest.mark.exercise("03-hook-class", points=2,
                      hint="backward=True: the same binding, registered with the module's full backward hook.")
def test_hook_backward(mod):
    layer = nn.Linear(3, 2)
    calls = []
    hook = mod.Hook(layer, lambda h, m, grad_in, grad_out: calls.append((h, m, grad_in, grad_out)), backward=True)
    x = torch.randn(4, 3, requires_grad=True)
    out = layer(x)
    assert calls == [], f"a backward Hook was called {len(calls)} times by the forward pass, expected 0"
    (out * torch.arange(2.0)).sum().backward()
    assert len(calls) == 1, f"a backward Hook was called {len(calls)} times by one backward pass, expected once"
    h, m, grad_in, grad_out = calls[0]
    assert h is hook and m is layer, f"f got ({type(h).__name__}, {type(m).__name__}), expected (the Hook, the module)"
    expect_close(grad_out[0], torch.arange(2.0).expand(4, 2), "grad_output[0]: d loss / d output")
    expect_close(grad_in[0], x.grad, "grad_input[0]: d loss / d input")
    hook.remove()
    layer(x).sum().backward()
    assert len(calls) == 1 and count_hooks(layer) == 0, \
        f"after remove(): {count_hooks(layer)} hooks on the module, f called {len(calls) - 1} more times, expected 0"


# ------------------------------------------------------------------- ListContainer

@pytest.mark.exercise("03-list-index", points=2,
                      hint="Four kinds of index: an int, a slice, an iterable of ints (indices), an iterable of "
                           "booleans (a mask, one per item).")
def test_list_container_indexing(mod, ref, monkeypatch):
    monkeypatch.setattr(mod.ListContainer, "__len__", ref.ListContainer.__len__)
    monkeypatch.setattr(mod.ListContainer, "__iter__", ref.ListContainer.__iter__)
    c = mod.ListContainer(list("abcdef"))
    cases = [(0, "a"), (-1, "f"), (slice(1, 4), ["b", "c", "d"]), (slice(None, None, 2), ["a", "c", "e"]),
             ([0, 5, 2], ["a", "f", "c"]), ((1, 1), ["b", "b"]), (torch.tensor([3, 0]), ["d", "a"]), ([], []),
             ([True, False, True, False, False, True], ["a", "c", "f"]), ([False] * 6, [])]
    for idx, expected in cases:
        got = c[idx]
        assert got == expected, f"ListContainer(list('abcdef'))[{idx!r}]: got {got!r}, expected {expected!r}"


@pytest.mark.exercise("03-list-index", points=1,
                      hint="A mask of the wrong length is an error worth a clear message: say both lengths.")
def test_list_container_mask_of_the_wrong_length(mod, ref, monkeypatch):
    monkeypatch.setattr(mod.ListContainer, "__len__", ref.ListContainer.__len__)
    monkeypatch.setattr(mod.ListContainer, "__iter__", ref.ListContainer.__iter__)
    c = mod.ListContainer(list("abcdef"))
    for mask in ([True, False], [True] * 7):
        try:
            got = c[mask]
        except IndexError as e:
            message = str(e)
            assert str(len(mask)) in message and "6" in message, \
                f"IndexError({message!r}) for a mask of {len(mask)} on 6 items: say both lengths"
        else:
            raise AssertionError(f"a mask of length {len(mask)} on 6 items returned {got!r}, expected an IndexError")


@pytest.mark.exercise("03-list-container", points=2,
                      hint="A ListContainer keeps its items in a list: each dunder method asks that list.")
def test_list_container_behaves_like_a_list(mod):
    c = mod.ListContainer([1, 2, 3, 4])
    assert (len(c), list(c), sum(c)) == (4, [1, 2, 3, 4], 10), \
        f"len, list and sum of ListContainer([1, 2, 3, 4]): {(len(c), list(c), sum(c))}, expected (4, [1, 2, 3, 4], 10)"
    c[1] = "two"
    assert c.items == [1, "two", 3, 4], f"after c[1] = 'two': {c.items}, expected [1, 'two', 3, 4]"
    del c[0]
    assert c.items == ["two", 3, 4] and len(c) == 3, f"after del c[0]: {c.items}, expected ['two', 3, 4]"
    del c[-1]
    assert list(c) == ["two", 3], f"after del c[-1]: {list(c)}, expected ['two', 3]"
    for items, expected in [(None, 0), ("ab", 1)]:
        got = len(mod.ListContainer(items))
        assert got == expected, f"len(ListContainer({items!r})): {got}, expected {expected}"


@pytest.mark.exercise("03-list-container", points=1,
                      hint="The class's own name (subclasses too), the count, and at most 10 items; '...' inside "
                           "the closing bracket when some are left out.")
def test_list_container_repr(mod):
    cases = [([1, 2, 3], "ListContainer (3 items)\n[1, 2, 3]"),
             (list(range(10)), "ListContainer (10 items)\n[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
             (list(range(12)), "ListContainer (12 items)\n[0, 1, 2, 3, 4, 5, 6, 7, 8, 9...]")]
    for items, expected in cases:
        expect_str(repr(mod.ListContainer(items)), expected, f"repr(ListContainer({items}))")

    class Things(mod.ListContainer):
        pass
    expect_str(repr(Things(["x"])), "Things (1 items)\n['x']", "repr of a subclass Things(['x'])")


# ---------------------------------------------------------------------------- Hooks

@pytest.mark.exercise("03-hooks", points=2,
                      hint="A Hook per module; the with statement binds what __enter__ returns, and __exit__ "
                           "cleans up.")
def test_hooks_is_a_context_manager_that_removes_every_hook(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []
    with mod.Hooks(model, lambda hook, m, i, o: seen.append((hook, m))) as hooks:
        assert isinstance(hooks, mod.Hooks), f"`with Hooks(...) as hooks` bound {hooks!r}, expected the Hooks"
        assert len(hooks) == 3 and count_hooks(*model) == 3, \
            f"{len(hooks)} Hooks and {count_hooks(*model)} hooks on the model's 3 layers, expected 3 and 3"
        model(torch.randn(2, 3))
    assert [m for _, m in seen] == list(model), f"f saw the modules {[m for _, m in seen]}, expected {list(model)}"
    assert [h for h, _ in seen] == list(hooks), "f's first argument was not the Hook of each module"
    assert count_hooks(*model) == 0, f"{count_hooks(*model)} hooks left on the model after the with block, expected 0"


@pytest.mark.exercise("03-hooks", points=2,
                      hint="__exit__ runs also when the block raises; let the exception go on.")
def test_hooks_are_removed_when_the_block_raises(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    raised = False
    try:
        with mod.Hooks(model, lambda hook, m, i, o: None) as hooks:  # `as`: keep it alive, so only __exit__ removes
            model(torch.randn(2, 3))
            1 / 0
    except ZeroDivisionError:
        raised = True
    assert raised, "the ZeroDivisionError raised inside the with block was swallowed: __exit__ must not return True"
    assert count_hooks(*model) == 0, \
        f"{count_hooks(*model)} hooks left after a with block that raised, expected 0 ({len(hooks)} Hooks in it)"


@pytest.mark.exercise("03-hooks", points=1,
                      hint="del hooks[i] must take that hook off its module too; remove() takes off all of them.")
def test_hooks_del_and_remove(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    layers = [nn.Linear(2, 2) for _ in range(3)]
    hooks = mod.Hooks(layers, lambda hook, m, i, o: None)
    del hooks[1]
    got = (len(hooks), [count_hooks(m) for m in layers])
    assert got == (2, [1, 0, 1]), f"after del hooks[1]: (len, hooks per layer) {got}, expected (2, [1, 0, 1])"
    hooks.remove()
    got = [count_hooks(m) for m in layers]
    assert got == [0, 0, 0], f"hooks per layer after remove(): {got}, expected [0, 0, 0]"


@pytest.mark.exercise("03-hooks", points=1,
                      hint="Hooks takes the same `backward` flag as Hook, and hands it on.")
def test_hooks_backward(mod, ref, monkeypatch):
    monkeypatch.setattr(mod, "Hook", ref.Hook)
    use_ref_list_container(monkeypatch, mod, ref)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []
    with mod.Hooks(model, lambda hook, m, grad_in, grad_out: seen.append(m), backward=True) as hooks:
        out = model(torch.randn(2, 3, requires_grad=True))
        assert seen == [], f"backward Hooks were called {len(seen)} times by the forward pass, expected 0"
        out.sum().backward()
    expected = list(model)[::-1]
    assert seen == expected, f"backward Hooks saw {seen}, expected the layers from last to first {expected}"
    assert count_hooks(*model) == 0, f"{count_hooks(*model)} hooks left after the block ({len(hooks)} Hooks), expected 0"


# ---------------------------------------------------------------------- append_stats

@pytest.mark.exercise("03-append-stats", points=2,
                      hint="The hook's state is created on its first call and extended on every later one; the "
                           "histogram uses the bins and range it is given.")
def test_append_stats_records_mean_std_and_histogram(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 50)
    outs = [torch.randn(8, 50) * 3, torch.randn(8, 50) + 2]
    for out in outs:
        mod.append_stats(hook, layer, (None,), out)
    assert hasattr(hook, "stats"), "no hook.stats after two calls: expected (means, stds, hists)"
    means, stds, hists = hook.stats
    assert (len(means), len(stds), len(hists)) == (2, 2, 2), \
        f"(means, stds, hists) lengths after 2 calls: {(len(means), len(stds), len(hists))}, expected (2, 2, 2)"
    for i, o in enumerate(outs):
        expect_float(means[i], o.mean().item(), f"mean of batch {i}")
        expect_float(stds[i], o.std().item(), f"std of batch {i}")
        expect_close(hists[i], o.histc(40, -7, 7), f"histogram of batch {i} (40 bins over (-7, 7))")
    assert tuple(hook.hist_range) == (-7, 7), f"hook.hist_range {hook.hist_range}, expected (-7, 7)"

    hook = SimpleNamespace()
    mod.append_stats(hook, layer, (None,), outs[0], bins=10, range=(0, 5))
    expect_close(hook.stats[2][0], outs[0].histc(10, 0, 5), "histogram with bins=10, range=(0, 5)")
    assert tuple(hook.hist_range) == (0, 5), f"hook.hist_range {hook.hist_range}, expected (0, 5)"


@pytest.mark.exercise("03-append-stats", points=2,
                      hint="Validation batches run in eval mode, and they are not part of the training telemetry.")
def test_append_stats_ignores_eval_mode(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 5)
    mod.append_stats(hook, layer, (None,), torch.randn(4, 5))
    layer.eval()
    mod.append_stats(hook, layer, (None,), torch.randn(4, 5))
    got = [len(s) for s in hook.stats]
    assert got == [1, 1, 1], f"(means, stds, hists) lengths after a training and an eval call: {got}, expected [1, 1, 1]"
    layer.train()
    out = torch.randn(4, 5, requires_grad=True)
    mod.append_stats(hook, layer, (None,), out * 2)  # a tensor that is part of a graph
    got = [len(s) for s in hook.stats]
    assert got == [2, 2, 2], f"lengths after another training call: {got}, expected [2, 2, 2]"
    assert not hook.stats[2][1].requires_grad, "the histogram kept a link to the graph: detach the output first"


@pytest.mark.exercise("03-append-stats", points=1,
                      hint="Activations of mean 10,000 and std 1: compute the std as the spread around the mean, "
                           "not from E[x^2] - E[x]^2.")
def test_append_stats_with_a_large_mean(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 5)
    out = torch.randn(64, 32) + 10_000
    mod.append_stats(hook, layer, (None,), out)
    expect_float(hook.stats[1][0], out.double().std().item(), "std of activations around 10,000", rel=1e-2)


# -------------------------------------------------------------------------- get_hist

@pytest.mark.exercise("03-get-hist", points=2,
                      hint="An image with one column per iteration and one row per bin, lowest bin first; the "
                           "log must be 0 for an empty bin.")
def test_get_hist(mod):
    hists = [torch.tensor([0.0, 1.0, 3.0]), torch.tensor([7.0, 0.0, 0.0]), torch.tensor([2.0, 2.0, 0.0]),
             torch.tensor([0.0, 0.0, 15.0])]
    hook = SimpleNamespace(stats=([0.0] * 4, [1.0] * 4, hists), hist_range=(0, 3))
    image = mod.get_hist(hook)
    expected = torch.tensor([[0.0, 7.0, 2.0, 0.0], [1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 0.0, 15.0]]).log1p()
    assert isinstance(image, torch.Tensor) and image.dtype.is_floating_point, \
        f"get_hist returned {type(image).__name__} {getattr(image, 'dtype', '')}, expected a float tensor"
    expect_close(image, expected, "get_hist of 4 iterations of 3 bins (shape: bins x iterations)")


# --------------------------------------------------------------------------- get_min

@pytest.mark.exercise("03-get-min", points=2,
                      hint="Work out each bin's centre from the range and the number of bins; count the bins whose "
                           "centre is near zero, over all the counts.")
def test_get_min_on_a_positive_range(mod):
    h1, h2 = torch.zeros(40), torch.zeros(40)
    h1[0], h1[1], h1[2], h1[30] = 5, 3, 100, 92  # 8 of 200 in [0, 0.5)
    h2[0], h2[39] = 10, 30
    hook = SimpleNamespace(stats=([0.0] * 2, [1.0] * 2, [h1, h2]), hist_range=(0.0, 10.0))
    expect_close(mod.get_min(hook), torch.tensor([8 / 200, 10 / 40]), "get_min on (0, 10), near=0.5")
    expect_close(mod.get_min(hook, near=0.8), torch.tensor([108 / 200, 10 / 40]),
                 "get_min on (0, 10), near=0.8 (centres 0.125, 0.375, 0.625 count)")


@pytest.mark.exercise("03-get-min", points=2,
                      hint="On a range around zero, the bins near zero are in the middle; which ones depends on "
                           "the range and the bin count.")
def test_get_min_on_a_symmetric_range(mod):
    h = torch.ones(40)
    h[19], h[20], h[21], h[18] = 11, 21, 1000, 1000
    hook = SimpleNamespace(stats=([0.0], [1.0], [h]), hist_range=(-7.0, 7.0))
    expect_close(mod.get_min(hook), torch.tensor([32 / h.sum().item()]), "get_min on (-7, 7): bins 19 and 20")


@pytest.mark.exercise("03-get-min", points=1,
                      hint="'Strictly between -near and near': a centre exactly at +-near does not count.")
def test_get_min_centre_on_the_boundary(mod):
    h = torch.zeros(40)
    h[0], h[1], h[2] = 1, 2, 4  # centres 0.125, 0.375, 0.625
    hook = SimpleNamespace(stats=([0.0], [1.0], [h]), hist_range=(0.0, 10.0))
    expect_close(mod.get_min(hook, near=0.375), torch.tensor([1 / 7]),
                 "get_min with near=0.375 on (0, 10): only the bin centred at 0.125")


# -------------------------------------------------------------------------- init_cnn

def kaiming(shape, uniform, seed, **kwargs):
    """torch's Kaiming init of a fresh tensor of `shape`, drawn after `torch.manual_seed(seed)`."""
    w = torch.empty(shape)
    torch.manual_seed(seed)
    (nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_)(w, **kwargs)
    return w


@pytest.mark.exercise("03-init-cnn", points=2,
                      hint="Kaiming's gain for a leaky ReLU depends on its slope, `a`; the lesson's layers leak 0.1.")
@pytest.mark.parametrize("uniform", [False, True])
def test_init_cnn_is_kaiming_with_a_leak_of_0_1(mod, uniform):
    conv = nn.Conv2d(16, 64, 3)
    torch.manual_seed(3)
    mod.init_cnn(nn.Sequential(nn.Sequential(conv)), uniform=uniform)
    shape, w = conv.weight.shape, conv.weight.detach()
    if torch.allclose(w, kaiming(shape, uniform, 3, a=0.1), atol=1e-6):
        return
    name = "kaiming_uniform_" if uniform else "kaiming_normal_"
    candidates = {"a=0 (no leak)": kaiming(shape, uniform, 3), "mode='fan_out'": kaiming(shape, uniform, 3, a=0.1,
                                                                                          mode="fan_out"),
                  "the other init (normal for uniform or back)": kaiming(shape, not uniform, 3, a=0.1)}
    diagnosis = next((f": it matches {name} with {what}" for what, c in candidates.items()
                      if torch.allclose(w, c, atol=1e-6)), "")
    raise AssertionError(f"init_cnn(uniform={uniform}) weights (std {w.std():.5f}) differ from {name}(weight, "
                         f"a=0.1), std {kaiming(shape, uniform, 3, a=0.1).std():.5f}{diagnosis}")


@pytest.mark.exercise("03-init-cnn", points=2,
                      hint="Convolutions can sit at any depth: visit every child, and their children; leave other "
                           "layers alone.")
def test_init_cnn_reaches_every_conv_and_leaves_the_rest(mod):
    torch.manual_seed(0)
    deep = nn.Conv2d(16, 64, 3)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU()),
                          nn.Sequential(nn.Sequential(deep)), nn.Conv2d(64, 4, 1, bias=False), nn.Linear(4, 3))
    linear = model[3].weight.detach().clone()
    returned = mod.init_cnn(model)
    assert returned is model, f"init_cnn returned {type(returned).__name__}, expected the model itself"
    gain = math.sqrt(2 / (1 + 0.1 ** 2))
    for conv, fan_in, rel in [(deep, 16 * 9, 0.05), (model[0][0], 25, 0.3), (model[2], 64, 0.3)]:
        got, expected = conv.weight.std().item(), gain / math.sqrt(fan_in)
        assert got == pytest.approx(expected, rel=rel), \
            f"weight std of {conv}: {got:.4f}, expected about {expected:.4f} (gain / sqrt(fan_in))"
    for conv in (deep, model[0][0]):
        assert torch.all(conv.bias == 0), f"bias of {conv}: {show(conv.bias)}, expected zeros"
    assert torch.equal(model[3].weight, linear), "the Linear layer's weights changed: only Conv2d layers are initialised"


@pytest.mark.exercise("03-init-cnn", points=1,
                      hint="With Kaiming init, a deep stack of conv + ReLU layers keeps the size of its signal.")
def test_init_cnn_keeps_the_signal_through_a_deep_stack(mod):
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Sequential(nn.Conv2d(32, 32, 3), nn.ReLU()) for _ in range(8)])
    mod.init_cnn(model)
    x = torch.randn(16, 32, 20, 20)
    with torch.no_grad():
        for i, layer in enumerate(model):
            x = layer(x)
            ms = x.pow(2).mean().item()
            assert 0.1 < ms < 10, f"mean square after layer {i}: {ms:.4g}, expected between 0.1 and 10 " \
                                  "(PyTorch's default init: 0.0005 after 8 layers)"


# ----------------------------------------------------------------------- GeneralRelu

@pytest.mark.exercise("03-general-relu", points=2,
                      hint="Three optional steps in a fixed order: (leaky) ReLU, subtract, clamp from above; each "
                           "skipped only when its argument is None.")
def test_general_relu_against_torch(mod):
    x = torch.randn(1000) * 5
    cases = [((), {}, F.relu(x)), ((), {"leak": 0.1}, F.leaky_relu(x, 0.1)), ((), {"sub": 0.4}, F.relu(x) - 0.4),
             ((), {"maxv": 6.0}, F.relu(x).clamp_max(6.0)),
             ((0.1, 0.4, 6.0), {}, (F.leaky_relu(x, 0.1) - 0.4).clamp_max(6.0))]
    for args, kwargs, expected in cases:
        expect_close(mod.GeneralRelu(*args, **kwargs)(x), expected, f"GeneralRelu(*{args}, **{kwargs})")
    got = mod.GeneralRelu(0.1, 0.4, 6.0)(torch.tensor([100.0])).item()
    assert got == 6.0, f"GeneralRelu(0.1, 0.4, 6)(100): {got}, expected 6.0 (clamped after subtracting)"


@pytest.mark.exercise("03-general-relu", points=1,
                      hint="0 is a value, not a missing argument; and the ceiling is only a ceiling.")
def test_general_relu_edge_values(mod):
    x = torch.tensor([-1e4, -50.0, -1.0, 0.5, 3.0, 1e4])
    expect_close(mod.GeneralRelu(maxv=0.0)(x), F.relu(x).clamp_max(0.0), "GeneralRelu(maxv=0)")
    expect_close(mod.GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(x), (F.leaky_relu(x, 0.1) - 0.4).clamp_max(6.0),
                 "GeneralRelu(0.1, 0.4, 6) on large negative and positive inputs")
    expect_close(mod.GeneralRelu(leak=0.0, sub=0.0)(x), F.relu(x), "GeneralRelu(leak=0, sub=0)")


@pytest.mark.exercise("03-general-relu", points=1,
                      hint="No in-place operations: the input stays as it was, and the ReLU's backward needs its "
                           "output.")
def test_general_relu_keeps_its_input_and_its_gradient(mod):
    x = torch.randn(50, requires_grad=True)
    x0 = x.detach().clone()
    y = mod.GeneralRelu(sub=0.4, maxv=1.0)(x)
    y.sum().backward()
    assert torch.equal(x.detach(), x0), "GeneralRelu changed its input"
    expect_close(x.grad, ((x0 > 0) & (x0 - 0.4 < 1.0)).float(), "gradient of GeneralRelu(sub=0.4, maxv=1)")
    x = torch.randn(50, requires_grad=True)
    mod.GeneralRelu(leak=0.1)(x).sum().backward()
    expect_close(x.grad, torch.where(x.detach() > 0, 1.0, 0.1), "gradient of GeneralRelu(leak=0.1)")


# ------------------------------------------------------------------ append_grad_stats

def rms(t):
    return t.double().pow(2).mean().sqrt().item()


@pytest.mark.exercise("03-grad-stats", points=2,
                      hint="The gradient with respect to the module's output is the first tensor of grad_output; "
                           "its size is the square root of the mean of its squares.")
def test_append_grad_stats_records_the_rms_of_grad_output(mod):
    hook, layer = SimpleNamespace(), nn.Linear(3, 4)
    grads = [torch.randn(8, 4) * 0.01 + 0.02, torch.randn(8, 4) * 3 - 1]
    for g in grads:
        mod.append_grad_stats(hook, layer, (torch.randn(8, 3),), (g,))
    got = getattr(hook, "grad_rms", None)
    assert isinstance(got, list) and len(got) == 2, f"hook.grad_rms after 2 calls: {got!r}, expected a list of 2 floats"
    for i, g in enumerate(grads):
        expect_float(got[i], rms(g), f"RMS of batch {i}'s grad_output[0] (std {g.std():.4f}, mean {g.mean():.4f})",
                     rel=1e-4)
    hook = SimpleNamespace()
    mod.append_grad_stats(hook, layer, (None,), (torch.tensor([[-0.5]]),))  # layer 0: no grad_input; one value
    expect_float(hook.grad_rms[0], 0.5, "RMS of a single gradient value -0.5, with grad_input (None,)")


@pytest.mark.exercise("03-grad-stats", points=2,
                      hint="In a real backward pass grad_output is what flows in from the layers after the module; "
                           "it is all the size needs, whatever grad_input holds.")
def test_append_grad_stats_in_a_backward_pass(mod):
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    holders = [SimpleNamespace() for _ in model]
    handles = [m.register_full_backward_hook(lambda m, gi, go, h=h: mod.append_grad_stats(h, m, gi, go))
               for m, h in zip(model, holders)]
    x = torch.randn(10, 5, requires_grad=True)
    outs, h = [], x
    for layer in model:
        h = layer(h)
        h.retain_grad()
        outs.append(h)
    F.cross_entropy(h, torch.arange(10) % 3).backward()
    for handle in handles:
        handle.remove()
    for i, (holder, out) in enumerate(zip(holders, outs)):
        got = getattr(holder, "grad_rms", None)
        assert isinstance(got, list) and len(got) == 1, f"layer {i}: grad_rms {got!r}, expected a list of one float"
        expect_float(got[0], rms(out.grad), f"layer {i}: RMS of d loss / d output", rel=1e-4)
