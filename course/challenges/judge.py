"""One seed of an entry, judged in a fresh process: fence the process in, train, export.

The parent (`course.challenges.score`) sends the task over a pipe (challenge, entry, seed, a fresh
copy of the training set, thread count) and reads back a JSON header and the model as TorchScript
bytes; it never unpickles them, never imports the entry and evaluates the model itself. Before the
entry is imported, `Fence` is installed as an audit hook (it cannot be removed): the first forbidden
event (MNIST's files, writing, processes, sockets, ctypes, stack frames, the gc's object lists,
tracers) sends the rule broken and ends the process. The judge's modules and builtins are private
snapshots taken before the fence, so patching them from the entry changes nothing the judge calls.
`train` owns the loop: it feeds each batch to the entry's Runner callbacks, computes the loss and the
gradient and makes the SGD step itself; between two of its steps the parameters must not change.
"""

from __future__ import annotations

import builtins
import io
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import types
import warnings
import _thread

import torch
import torch.jit._trace
import torch.nn.functional as F
from torch import nn

from course import challenges as ch
from course.challenges import ablation  # noqa: F401  (imported before the fence: entries build on it)
from course.seed import set_seed
from solutions import l01_callbacks as l01
from solutions import l02_exceptions as l02
from solutions import l03_cnn_hooks as l03  # noqa: F401  (imported before the fence: entries build on it)
from solutions import l04_norms as l04  # noqa: F401

SGD, CROSS_ENTROPY = torch.optim.SGD, F.cross_entropy  # as they were before the entry could patch them
LOSSES = (F.cross_entropy, l01.cross_entropy)
PROBE_ITEMS = 8  # images the beat-98 normalisation probe runs on
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
# stdlib code that asks for a frame and gives back no frame: a module's name, a stack as text
# (torch.manual_seed calls traceback.format_stack)
FRAME_USERS = (("collections/__init__.py", "namedtuple"), ("typing.py", None), ("typing_extensions.py", None),
               ("enum.py", None), ("traceback.py", "format_stack"))
SANDBOX_EVENTS = ("subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
                  "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn", "socket.", "ctypes.",
                  "sys.addaudithook", "sys.settrace", "sys.setprofile", "sys._current_frames",
                  "sys._current_exceptions", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                  "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.link", "os.symlink", "os.truncate",
                  "os.chmod", "os.chown", "os.utime", "shutil.")
CLASSES = []  # (class, its namespace) of the classes whose methods the judge relies on: filled by fence_in
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Fence:
    """The audit hook: the first forbidden event sends the refusal to the parent and ends the process."""

    def __init__(self, conn, data_dirs: list[str]):
        self.conn, self.data_dirs, self.pid, self.closed = conn, data_dirs, str(os.getpid()), False
        self.busy = False  # the hook's own frame lookup raises an event too

    def __call__(self, event: str, args: tuple) -> None:
        if self.closed or self.busy:
            return
        self.busy = True
        try:
            if event == "open":
                self.check_open(*args[:3])
            elif event == "sys._getframe":
                caller = sys._getframe(1).f_code  # who called sys._getframe
                if not any(caller.co_filename.endswith(file) and name in (None, caller.co_name)
                           for file, name in FRAME_USERS):
                    self.refuse("sandbox", f"{caller.co_filename} ({caller.co_name}) asked for a stack frame")
            elif event == "object.__getattr__" and args[1] in FRAME_ATTRIBUTES:
                self.refuse("sandbox", f"the entry reached a stack frame ({type(args[0]).__name__}.{args[1]})")
            elif event == "challenge.refused":
                self.refuse(*args)
            elif event.startswith(SANDBOX_EVENTS):
                self.refuse("sandbox", f"the entry's code raised the audit event {event}")
        finally:
            self.busy = False

    def check_open(self, path, mode, flags) -> None:
        if isinstance(path, int):
            return  # an open file descriptor: it was opened by a checked call
        name = os.fsdecode(path)
        if (mode and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
            self.refuse("sandbox", f"the entry opened {name} for writing")
        real = os.path.realpath(name)
        if "-ubyte" in real or any(real == d or real.startswith(d + os.sep) for d in self.data_dirs):
            self.refuse("data", f"the entry opened {name}")
        parts = real.split(os.sep)  # ["", "proc", "<pid>", ...]
        if real.startswith("/proc/") and ((parts[2].isdigit() and parts[2] != self.pid)
                                          or parts[-1] in ("mem", "pagemap")):
            self.refuse("sandbox", f"the entry opened {name}: another process's or its own memory")

    def refuse(self, rule: str, detail: str) -> None:
        self.closed = True
        send(self.conn, {"refused": rule, "detail": detail})
        os._exit(3)


def send(conn, header: dict, payload: bytes = b"") -> None:
    conn.send_bytes(json.dumps(header).encode())
    conn.send_bytes(payload)


def refused(rule: str, what: str):
    """A function that has the fence refuse `rule`, with no judge globals behind it (only `sys.audit`)."""
    return eval("lambda *args, **kwargs: audit('challenge.refused', rule, what)",  # noqa: S307
                {"audit": sys.audit, "rule": rule, "what": what})


def private(module, *subs: str) -> types.SimpleNamespace:
    """A copy of a module's namespace (and of its submodules `subs`, dotted): what the judge calls."""
    ns = types.SimpleNamespace(**vars(module))
    for sub in {s.partition(".")[0] for s in subs}:
        inner = [s.partition(".")[2] for s in subs if s.startswith(sub + ".")]
        setattr(ns, sub, private(getattr(module, sub), *inner))
    return ns


def fence_in(conn, data_dirs: list[str]) -> Fence:
    """Everything the judge itself needs first, then the fence: after it, only the entry's code is new."""
    if torch.cuda.is_available():
        torch.cuda.init()
    sys.dont_write_bytecode = True  # importing the entry must not write .pyc files: writing is refused
    # tracing names the graph's inputs from its caller's frame; the judge has no use for the names
    torch.jit._trace._create_interpreter_name_lookup_fn = lambda frames_up=1: lambda var: ""
    # no audit events for these: a signal handler receives the current frame, a thread outlives the checks
    signal.signal = refused("sandbox", "the entry called signal.signal")
    threading.Thread.start = refused("sandbox", "the entry started a thread")
    _thread.start_new_thread = refused("sandbox", "the entry started a thread")
    warm_up()
    judge = globals()
    judge.update({k: v for k, v in vars(builtins).items() if not k.startswith("__")})
    judge.update(torch=private(torch, "autograd", "jit", "random", "cuda", "_C"), nn=private(nn), F=private(F),
                 ch=private(ch), l02=private(l02), os=private(os, "path"), json=private(json), math=private(math),
                 time=private(time), io=private(io), sys=private(sys), traceback=private(traceback))
    CLASSES.extend((cls, dict(vars(cls))) for cls in (torch.Tensor, nn.Parameter, nn.Module))
    del sys.modules[__name__]
    delattr(sys.modules["course.challenges"], "judge")
    fence = Fence(conn, data_dirs)
    sys.addaudithook(fence)
    return fence


def warm_up() -> None:
    """Seed, step and export a small CNN: what torch imports lazily (its imports inspect frames) comes in now."""
    set_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 26 * 26, 10))
    x = torch.randn(2, 1, 28, 28)
    with torch.random.fork_rng():
        torch.autograd.grad(CROSS_ENTROPY(model(x), torch.tensor([0, 1])), list(model.parameters()))
        script(model.eval(), x)[1](x)


def script(model: nn.Module, example: torch.Tensor) -> tuple[bytes, torch.jit.ScriptModule]:
    """The model traced as TorchScript: its bytes, and the module loaded back from them."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # eval mode: RunningBatchNorm's branches are fixed
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), buffer)
        return buffer.getvalue(), torch.jit.load(io.BytesIO(buffer.getvalue()))


def main(conn) -> None:
    """The seed process: read the task, train, send the header and the model (or why not)."""
    task = conn.recv()
    token = task.pop("token")
    torch.set_num_threads(task.pop("threads"))
    rules = ch.CHALLENGES[task.pop("challenge")]
    fence = fence_in(conn, task.pop("data_dirs"))
    try:
        header, model = train(rules, **task)
        send(conn, header | {"token": token}, model)
    except ch.RuleViolation as e:
        send(conn, {"refused": e.rule, "detail": e.detail})
    except BaseException as e:  # noqa: BLE001 - whatever the entry raised goes back to the parent
        send(conn, {"error": explain(fence, e)})


def explain(fence: Fence, e: BaseException) -> str:
    """The exception's type, message and last three places outside the judge, made without running the
    entry's code (the fence is lowered for the judge alone to read the frames)."""
    args = e.args if all(type(a) in (str, int, float) for a in e.args) else ("(a message the judge will not print)",)
    message = f"{type(e).__qualname__}: {', '.join(map(str, args))}"
    fence.closed = True
    try:
        frames = traceback.extract_tb(e.__traceback__, limit=50)
    finally:
        fence.closed = False
    here = os.path.dirname(__file__)
    own = [f for f in frames if not f.filename.startswith(here)] or frames
    return (message + "\n" + "".join(traceback.format_list(own[-3:]))).rstrip()


def unpatched() -> None:
    """Refuse an entry that changed torch.Tensor's, nn.Parameter's or nn.Module's methods."""
    for cls, saved in CLASSES:
        if vars(cls) != saved:
            changed = sorted(k for k in set(vars(cls)) | set(saved) if vars(cls).get(k) is not saved.get(k))
            raise ch.RuleViolation("sandbox", f"the entry changed {cls.__qualname__}.{', '.join(changed)}")


def modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) as `named_modules` lists them, read from the modules' dicts (not their methods)."""
    found, todo = {}, [("", model)]
    while todo:
        name, m = todo.pop(0)
        if id(m) not in found:
            found[id(m)] = (name, m)
            todo += [(f"{name}.{k}" if name else k, c) for k, c in vars(m)["_modules"].items() if c is not None]
    return list(found.values())


def own(m: nn.Module, kind: str = "_parameters") -> list[tuple[str, torch.Tensor]]:
    return [(k, t) for k, t in vars(m)[kind].items() if t is not None]


def parameters(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(name, parameter) of the model, as `named_parameters` lists them."""
    found = {}
    for name, m in modules(model):
        for k, p in own(m):
            found.setdefault(id(p), (f"{name}.{k}" if name else k, p))
    return list(found.values())


def check_optimiser(opt) -> None:
    if type(opt) is not SGD:
        raise ch.RuleViolation("optimiser", f"{type(opt).__module__}.{type(opt).__qualname__} is not "
                                            "torch.optim.SGD")
    for i, group in enumerate(opt.param_groups):
        extras = [f"{k}={group.get(k)}" for k in ("momentum", "weight_decay", "dampening", "nesterov", "maximize")
                  if group.get(k)]
        if extras:
            raise ch.RuleViolation("optimiser", f"parameter group {i} of torch.optim.SGD has {', '.join(extras)}")


def check_loss(loss_func) -> None:
    if any(loss_func is f for f in LOSSES):
        return
    if type(loss_func) is nn.CrossEntropyLoss and not loss_func.label_smoothing and loss_func.weight is None \
            and loss_func.reduction == "mean" and loss_func.ignore_index == -100:
        return
    raise ch.RuleViolation("loss", f"{loss_func!r} is not plain cross-entropy")


def same(given, fed: torch.Tensor) -> bool:
    return isinstance(given, torch.Tensor) and given.shape == fed.shape and given.dtype == fed.dtype \
        and torch.equal(given.detach().cpu(), fed)


def identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit (a diverged run's NaNs are equal to themselves)."""
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.reshape(-1).view(torch.uint8),
                                                                     b.reshape(-1).view(torch.uint8))


class Steps:
    """The judge's plain SGD step with the entry's learning rates, the parameters checked against a
    snapshot of the last step before each new one."""

    def __init__(self, model: nn.Module, opt):
        self.model, self.opt, self.n = model, opt, 0
        self.named = parameters(model)
        self.params = [p for _, p in self.named]
        self.snapshot = [p.detach().clone() for p in self.params]

    def check(self, when: str) -> None:
        unpatched()
        now = parameters(self.model)
        if len(now) != len(self.params) or any(p is not q for (_, p), q in zip(now, self.params)):
            raise ch.RuleViolation("steps", f"the model's parameters were replaced {when}")
        for p, s in zip(self.params, self.snapshot):
            if p.device != s.device or not identical(p.detach(), s):
                raise ch.RuleViolation("steps", f"a parameter changed outside the judge's optimiser step {when}")
            if p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None):
                raise ch.RuleViolation("steps", f"a parameter has a gradient hook {when}")

    def step(self, grads: dict, when: str) -> None:
        self.check(when)
        check_optimiser(self.opt)
        known = {id(p) for p in self.params}
        with torch.no_grad():
            for group in self.opt.param_groups:
                for p in group["params"]:
                    if id(p) not in known:
                        raise ch.RuleViolation("optimiser", "the optimiser holds a tensor that is not a parameter "
                                                            "of the model")
                    if grads.get(id(p)) is not None:
                        p.add_(grads[id(p)], alpha=-group["lr"])  # what torch.optim.SGD does, bit for bit
        self.snapshot = [p.detach().clone() for p in self.params]
        self.n += 1


class NoImages(types.SimpleNamespace):
    """What the entry's DataBunch holds in place of a loader: the sizes (`ds`, `bs`), no images."""

    __iter__ = refused("data", "the entry iterated its data loader; the judge feeds every training batch itself")
    __len__ = eval("lambda self: -(-len(self.ds) // self.bs)", {})  # noqa: S307 - batches per epoch, no judge globals


def train(challenge: ch.Challenge, spec, seed: int, x, y) -> tuple[dict, bytes]:
    """Train the entry `spec` on `x`, `y` (numpy) under `challenge`'s rules: (header, TorchScript bytes)."""
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    set_seed(seed)
    started = time.perf_counter()
    entry = ch.load_entry(spec)
    bs, epochs = ch.settings(challenge, entry)
    data = l02.DataBunch(NoImages(ds=range(len(x)), bs=bs), NoImages(ds=range(0), bs=1), c_in=1, c_out=10)
    learn, run = entry.module.learn_run(data)
    if not isinstance(learn, l02.Learner) or not isinstance(run, l02.Runner):
        raise ch.RuleViolation("runner", f"learn_run returned ({type(learn).__name__}, {type(run).__name__}), "
                                         "not (Learner, Runner)")
    if learn.data is not data:
        raise ch.RuleViolation("runner", "the Learner is not built on the `data` argument of learn_run")
    model, opt = learn.model, learn.opt
    check_optimiser(opt)
    check_loss(learn.loss_func)
    built = time.perf_counter()
    steps = fit(run, learn, model, opt, x, y, bs, epochs, probe=not challenge.norms_allowed)
    trained = time.perf_counter()
    return {"batch_size": bs, "epochs": epochs, "steps": steps.n, "device": steps.params[0].device.type,
            "train_seconds": round(trained - built, 2), "total_seconds": round(trained - started, 2)}, \
        export(model, steps, x[:2])


def fit(run, learn, model: nn.Module, opt, x, y, bs: int, epochs: int, probe: bool) -> Steps:
    """The course Runner's fit (its events, in its order, with its exceptions), driven by the judge."""
    run.epochs, run.learn, run.loss = epochs, learn, torch.tensor(0.0)
    steps = None
    try:
        for cb in run.cbs:
            cb.set_runner(run)
        run("begin_fit")
        steps = Steps(model, opt)  # after begin_fit, where DeviceCallback moves the model
        if probe:
            no_normalisation(model, x[:PROBE_ITEMS], "before training")
        for epoch in range(epochs):
            run.epoch = epoch
            run("begin_epoch")
            run.iters = math.ceil(len(x) / bs)
            try:
                for idx in torch.randperm(len(x)).split(bs):  # as lesson 03's BatchDataLoader draws them
                    one_batch(run, model, steps, x[idx], y[idx])
            except l02.CancelEpochException:
                run("after_cancel_epoch")
            with torch.no_grad():
                run("begin_validate")
                run.iters = 0
            run("after_epoch")
    except l02.CancelTrainException:
        run("after_cancel_train")
    finally:
        run("after_fit")
    steps = steps or Steps(model, opt)
    steps.check("after the last step")
    if probe:
        for training in (True, False):
            set_mode(model, training)
            no_normalisation(model, x[:PROBE_ITEMS], f"after training, in {'train' if training else 'eval'} mode")
    return steps


def one_batch(run, model: nn.Module, steps: Steps, xb, yb) -> None:
    run.xb, run.yb = xb.clone(), yb.clone()  # the judge keeps the originals to compare with
    try:
        run("begin_batch")
        if not (same(run.xb, xb) and same(run.yb, yb)):
            raise ch.RuleViolation("data", "a callback replaced the training batch at begin_batch")
        xin, yin = run.xb, run.yb  # where DeviceCallback put them
        with torch.enable_grad():
            pred = model(xin)
            loss = CROSS_ENTROPY(pred, yin)
            params = [p for p in steps.params if p.requires_grad]
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        run.pred = pred
        run("after_pred")
        run.loss = loss
        run("after_loss")
        run("after_backward")
        steps.step({id(p): g for p, g in zip(params, grads)}, f"before step {steps.n + 1}")
        run("after_step")
    except l02.CancelBatchException:
        run("after_cancel_batch")
    finally:
        run("after_batch")


def set_mode(model: nn.Module, training: bool) -> None:
    for _, m in modules(model):
        vars(m)["training"] = training  # the flag itself, not the entry's `train`/`eval`


@torch.no_grad()
def no_normalisation(model: nn.Module, x: torch.Tensor, when: str) -> None:
    """Refuse a model whose logits stay where they were when the input, one module's output or its own
    parameters are scaled by 2 (buffers and random state are restored after each try)."""
    device = parameters(model)[0][1].device
    x = x.to(device)
    buffers = [(b, b.clone()) for _, m in modules(model) for _, b in own(m, "_buffers")]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        state = torch.random.get_rng_state()
        base = model(x)

        def unmoved(what: str, out) -> None:
            torch.random.set_rng_state(state)
            for b, saved in buffers:
                b.copy_(saved)
            if isinstance(out, torch.Tensor) and out.shape == base.shape \
                    and (out - base).abs().max() <= 1e-3 * base.abs().max():
                raise ch.RuleViolation("no-norm", f"{when}, scaling {what} by 2 leaves the logits where they "
                                                  "were: the model normalises")

        unmoved("the input images", model(2 * x))
        for name, m in modules(model)[1:]:
            fired = []
            hook = nn.Module.register_forward_hook(
                m, lambda mod, args, out: fired.append(1) or (2 * out if isinstance(out, torch.Tensor) else None))
            try:
                out = model(x)
            finally:
                hook.remove()
            if fired:
                unmoved(f"the output of `{name}` ({type(m).__name__})", out)
            params = [p for _, p in own(m)]
            if params:
                for p in params:
                    p.mul_(2)
                try:
                    out = model(x)
                finally:
                    for p in params:
                        p.div_(2)  # exact: a power of two
                unmoved(f"the parameters of `{name}` ({type(m).__name__})", out)


def export(model: nn.Module, steps: Steps, example: torch.Tensor) -> bytes:
    """The trained model in eval mode, on the CPU, as TorchScript bytes, checked against the last step's."""
    unpatched()
    set_mode(model, False)
    model_bytes, written = script(model.cpu(), example)
    saved = dict(written.named_parameters())
    for (name, _), s in zip(steps.named, steps.snapshot):
        if name not in saved or not identical(saved[name].detach(), s.cpu()):
            raise ch.RuleViolation("steps", f"parameter {name} of the exported model is not the one the judge's "
                                            "last step left")
    return model_bytes
