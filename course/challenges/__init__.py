"""The lecture's three toy problems as contests: rules in code, fixed seeds, results as JSON.

    python -m course.challenges run one-epoch [ENTRY.py ...] [--seeds 0 1 2] [--smoke]
    python -m course.challenges list
    python -m course.challenges ablation [--bs 2 32] [--seeds 0]

An ENTRY is a small Python file (the reference entries are in `entries/<challenge>/`) that defines

    BATCH_SIZE = 64          # optional: the batch size it trains at (tiny-batch fixes it at 2)
    EPOCHS = 8               # optional, beat-98 only: at most 8
    def learn_run(data):     # data: the challenge's DataBunch (training images only)
        return learn, run    # a Learner on `data` and the course's Runner, e.g. from get_learn_run

The challenge owns everything else: the data and its split (the first 50,000 images of MNIST's
training set train, the last 10,000 validate), the batch size where it is fixed, the number of
epochs (it calls `run.fit` itself), the seeds and the evaluation (`learn.model(x)` in eval mode on
images shaped (N, 1, 28, 28), normalised with the training split's statistics). The rules that
cannot hold by construction are checked, and an entry that breaks one is refused with a
`RuleViolation` that names the rule (`RULES`). Each run's scores, time, hardware and library versions
go to `results/<challenge>/<entry>.json`, which the site's Challenges page turns into a leaderboard.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import inspect
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from course import threads

threads.configure()  # before torch is imported: its OpenMP pool reads the policy once

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import course.data  # noqa: E402
from course.seed import set_seed  # noqa: E402
from course.paths import ROOT  # noqa: E402
from solutions import l00_training_loop as l00  # noqa: E402
from solutions import l02_exceptions as l02  # noqa: E402
from solutions import l03_cnn_hooks as l03  # noqa: E402

HERE = Path(__file__).resolve().parent
ENTRIES = HERE / "entries"
RESULTS = HERE / "results"
SEEDS = (0, 1, 2)
EVAL_BS = 1000

RULES = {
    "data": "the entry trains only on the challenge's training batches: it never loads MNIST itself "
            "(that would give it the validation and test images) and never feeds the model other data",
    "epochs": "the entry trains for the challenge's number of epochs, and at most one optimiser step per "
              "training batch",
    "batch-size": "the entry trains at the challenge's batch size, where the challenge fixes one",
    "no-norm": "beat-98: no normalisation layer (batch, layer, instance, group norm or any other)",
    "optimiser": "only optimisers the course has built: plain SGD as in the lessons (torch.optim.SGD "
                 "without momentum, weight decay or nesterov) or one defined in solutions/",
    "runner": "the entry returns a Learner on the challenge's data and the course's Runner",
    "loss": "the entry trains with the course's loss: plain cross-entropy (F.cross_entropy, or "
            "nn.CrossEntropyLoss without label smoothing or class weights) or one defined in solutions/",
}


class RuleViolation(Exception):
    """An entry broke a challenge rule; `rule` is its key in `RULES`."""

    def __init__(self, rule: str, detail: str):
        self.rule, self.detail = rule, detail
        super().__init__(f"refused, rule '{rule}' ({RULES[rule]}): {detail}")


class EntryError(Exception):
    """An entry file that cannot be used (missing, no `learn_run`, wrong return value...)."""


@dataclass(frozen=True)
class Reference:
    """A published number to compare with: who, what, validation accuracy."""
    source: str
    recipe: str
    accuracy: float


@dataclass(frozen=True)
class Challenge:
    name: str
    goal: str
    epochs: int  # exactly this many, or at most this many when `max_epochs`
    batch_size: int | None = None  # fixed, or None: the entry's choice
    max_epochs: bool = False
    norms_allowed: bool = True
    references: tuple[Reference, ...] = field(default=())

    def entries(self) -> list[Path]:
        """The reference entries, in name order."""
        return sorted((ENTRIES / self.name).glob("[!_]*.py"))


CHALLENGES = {c.name: c for c in (
    Challenge("one-epoch", "best validation accuracy after exactly one pass over the 50,000 training images",
              epochs=1, references=(
                  Reference("lecture", "the lecture's best one-epoch result", 0.975),
                  Reference("lecture notebook", "RunningBatchNorm, bs 32, sched_lin(1.0, 0.2)", 0.9818))),
    Challenge("tiny-batch", "best validation accuracy in one epoch at batch size 2", epochs=1, batch_size=2,
              references=(
                  Reference("lecture notebook", "nn.BatchNorm2d, lr 0.4", 0.2604),
                  Reference("lecture", "RunningBatchNorm as in the lecture, lr 0.4", 0.91),
                  Reference("lecture notebook", "RunningBatchNorm, corrected, lr 0.4", 0.9723))),
    Challenge("beat-98", "best validation accuracy with lesson 3's layers, no normalisation, in at most 8 epochs",
              epochs=8, max_epochs=True, norms_allowed=False, references=(
                  Reference("lecture notebook", "nfs [8, 16, 32, 32], GeneralRelu, one-cycle cosine, 8 epochs",
                            0.9826),)),
)}


# ------------------------------------------------------------------------------------ data


@dataclass
class Split:
    """The challenge's data: images (N, 1, 28, 28) float32, labels (N,) int64; the test set may be None."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    def head(self, n_train: int, n_valid: int) -> Split:
        """The first images of each set: a quick smoke test of an entry."""
        return Split(self.x_train[:n_train], self.y_train[:n_train], self.x_valid[:n_valid], self.y_valid[:n_valid],
                     None if self.x_test is None else self.x_test[:n_valid],
                     None if self.y_test is None else self.y_test[:n_valid])


def mnist_split(data_dir=None) -> Split:
    """The course's split of MNIST, plus the official test set when it is on disk (never downloaded)."""
    x_train, y_train, x_valid, y_valid = course.data.get_mnist(data_dir)
    split = Split(x_train.view(-1, 1, 28, 28), y_train, x_valid.view(-1, 1, 28, 28), y_valid)
    if course.data.has_test_set(data_dir):
        x_test, split.y_test = course.data.get_mnist_test(data_dir)
        split.x_test = x_test.view(-1, 1, 28, 28)
    return split


class TrainLoader(l03.BatchDataLoader):
    """The challenge's training loader: lesson 03's BatchDataLoader, shuffled, which remembers the
    batch it handed out last: the rule guard checks that every training batch is that batch."""

    last = None

    def __init__(self, x, y, bs: int):
        super().__init__(l03.Dataset(x, y), bs, shuffle=True)

    def __iter__(self):
        for batch in super().__iter__():
            self.last = batch
            yield batch


class NoValidation:
    """The validation loader an entry trains with: empty. The challenge validates, after training."""

    def __init__(self, x, y):
        self.ds, self.bs = l03.Dataset(x[:0], y[:0]), 1

    def __len__(self) -> int:
        return 0

    def __iter__(self):
        return iter(())


# ------------------------------------------------------------------------------- entries


@dataclass
class Entry:
    """An entry, loaded: its name, its module (`learn_run`, optional `BATCH_SIZE`, `EPOCHS`, a docstring
    that says what it does and why) and where its source is."""
    name: str
    module: object
    source: Path

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.module) or "").split("\n\n")[0].replace("\n", " ").strip()

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.module) or "").partition("\n\n")[2].strip()

    def setting(self, name: str, default):
        return getattr(self.module, name, default)


def find_entry(challenge: Challenge, ref: str | Path) -> Path:
    """An entry file from its path, or the name of one of the challenge's reference entries."""
    path = Path(ref)
    if not path.suffix and not path.exists():
        path = ENTRIES / challenge.name / f"{ref}.py"
    if not path.is_file():
        names = ", ".join(p.stem for p in challenge.entries()) or "none yet"
        raise EntryError(f"no entry file {ref}: give the path of a .py file, or the name of a reference entry of "
                         f"{challenge.name} ({names})")
    return path.resolve()


def load_entry(path: Path) -> Entry:
    """Import an entry file as a fresh module (a new one for every run, so no state leaks between seeds)."""
    spec = importlib.util.spec_from_file_location(f"challenge_entry_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        raise EntryError(f"no entry file {path}") from None
    if not callable(getattr(module, "learn_run", None)):
        raise EntryError(f"{path} defines no function learn_run(data) -> (learn, run): the challenge calls it "
                         "to get the Learner and Runner it trains")
    return Entry(path.stem, module, path)


def settings(challenge: Challenge, entry: Entry) -> tuple[int, int]:
    """(batch size, epochs) the entry trains with; refuses what the challenge's rules forbid."""
    bs = entry.setting("BATCH_SIZE", challenge.batch_size or 64)
    if not isinstance(bs, int) or bs < 1:
        raise EntryError(f"{entry.source}: BATCH_SIZE must be a positive int, got {bs!r}")
    if challenge.batch_size is not None and bs != challenge.batch_size:
        raise RuleViolation("batch-size", f"{challenge.name} trains at batch size {challenge.batch_size}; "
                                          f"the entry asks for BATCH_SIZE = {bs}")
    epochs = entry.setting("EPOCHS", challenge.epochs)
    if not isinstance(epochs, int) or epochs < 1:
        raise EntryError(f"{entry.source}: EPOCHS must be a positive int, got {epochs!r}")
    if epochs > challenge.epochs or (epochs != challenge.epochs and not challenge.max_epochs):
        allowed = f"at most {challenge.epochs}" if challenge.max_epochs else f"exactly {challenge.epochs}"
        raise RuleViolation("epochs", f"{challenge.name} trains for {allowed} epoch(s); the entry asks for "
                                      f"EPOCHS = {epochs}")
    return bs, epochs


# --------------------------------------------------------------------------------- rules

NORM_FUNCTIONS = ("batch_norm", "instance_norm", "layer_norm", "group_norm", "local_response_norm", "rms_norm")


def is_norm_layer(module: nn.Module) -> bool:
    """Batch/layer/instance/group norm, PyTorch's or the course's (any class named like a norm)."""
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.RMSNorm)
    return isinstance(module, norms) or any("norm" in cls.__name__.lower() for cls in type(module).__mro__)


def check_optimiser(opt) -> None:
    """Refuse an optimiser the course has not built, or SGD with extras the lessons never used."""
    cls = type(opt)
    if cls.__module__.split(".")[0] == "solutions":
        return
    if cls is not torch.optim.SGD:
        raise RuleViolation("optimiser", f"{cls.__module__}.{cls.__qualname__} is not an optimiser the course "
                                         "has built")
    for i, group in enumerate(opt.param_groups):
        extras = {k: group.get(k) for k in ("momentum", "weight_decay", "dampening") if group.get(k)}
        extras.update({k: True for k in ("nesterov", "maximize") if group.get(k)})
        if extras:
            raise RuleViolation("optimiser", f"parameter group {i} of torch.optim.SGD uses "
                                             + ", ".join(f"{k}={v}" for k, v in extras.items())
                                             + ": the course's SGD is plain SGD")


def check_loss(loss_func) -> None:
    """Refuse a loss other than the course's cross-entropy (label smoothing, class weights, a wrapper)."""
    if loss_func is nn.functional.cross_entropy or getattr(loss_func, "__module__", "").split(".")[0] == "solutions":
        return
    if type(loss_func) is nn.CrossEntropyLoss:
        if loss_func.label_smoothing or loss_func.weight is not None:
            raise RuleViolation("loss", f"nn.CrossEntropyLoss(label_smoothing={loss_func.label_smoothing}, "
                                        f"weight={'set' if loss_func.weight is not None else None}): "
                                        "the course's cross-entropy has neither")
        return
    raise RuleViolation("loss", f"{loss_func!r} is not the course's loss; use F.cross_entropy")


def check_learn_run(challenge: Challenge, returned, data) -> tuple[l00.Learner, l00.Runner]:
    """What `learn_run` returned, checked before training: a Learner on `data`, a course Runner, a
    course optimiser and loss, and no normalisation layer where the challenge forbids them."""
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise EntryError(f"learn_run(data) must return (learn, run), got {type(returned).__name__}")
    learn, run = returned
    if not isinstance(learn, l00.Learner):
        raise RuleViolation("runner", f"learn_run returned a {type(learn).__name__}, not the course's Learner")
    if not isinstance(run, l00.Runner):
        raise RuleViolation("runner", f"learn_run returned a {type(run).__name__}, not the course's Runner")
    if learn.data is not data:
        raise RuleViolation("data", "the Learner does not hold the challenge's data (build it on the `data` "
                                    "argument of learn_run)")
    if not challenge.norms_allowed:
        norms = sorted({type(m).__name__ for m in learn.model.modules() if is_norm_layer(m)})
        if norms:
            raise RuleViolation("no-norm", f"the model has {', '.join(norms)}")
    check_optimiser(learn.opt)
    check_loss(learn.loss_func)
    return learn, run


class RuleGuard(l02.Callback):
    """Watches a training run for what the rules forbid and can't prevent by construction: a training
    batch that did not come from the challenge's loader, a batch of another size, more items or more
    optimiser steps than the epochs allow, an optimiser whose settings change to forbidden ones.

    It runs before every other callback (`_order`), so it sees each batch as the loader gave it.
    """

    _order = -1000

    def __init__(self, loader: TrainLoader, bs: int, epochs: int):
        self.loader, self.bs, self.epochs = loader, bs, epochs
        self.n_items, self.n_batches, self.n_steps = 0, 0, 0
        self.max_items = epochs * len(loader.ds)

    def begin_fit(self):
        self.hook = self.opt.register_step_post_hook(self.count_step)

    def count_step(self, opt, args, kwargs):
        self.n_steps += 1
        check_optimiser(opt)
        if self.n_steps > self.n_batches:
            raise RuleViolation("epochs", f"optimiser step {self.n_steps} after {self.n_batches} training "
                                          "batch(es): at most one step per batch")

    def begin_batch(self):
        if not self.in_train:
            return
        last = self.loader.last
        if last is None or self.xb is not last[0] or self.yb is not last[1]:
            raise RuleViolation("data", "a training batch did not come from the challenge's training loader")
        n, per_epoch = len(self.xb), len(self.loader.ds)
        if n > self.bs or (n < self.bs and self.n_items % per_epoch + n != per_epoch):  # only the last may be short
            raise RuleViolation("batch-size", f"a training batch of {n} items; the batch size is {self.bs}")
        self.n_items += n
        self.n_batches += 1
        if self.n_items > self.max_items:
            raise RuleViolation("epochs", f"more than {self.epochs} epoch(s) of training data: {self.n_items} items "
                                          f"of {len(self.loader.ds)} per epoch")

    def after_fit(self):
        self.hook.remove()


@contextlib.contextmanager
def _forbidden(obj, names, rule: str, why: str):
    """Within the block, calling `obj.<name>` for each of `names` raises RuleViolation(rule)."""
    saved = {n: getattr(obj, n) for n in names if hasattr(obj, n)}

    def refuse(name):
        def refused(*args, **kwargs):
            raise RuleViolation(rule, f"{why} ({obj.__name__}.{name} was called)")
        return refused
    for name in saved:
        setattr(obj, name, refuse(name))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(obj, name, value)


def guarded(challenge: Challenge):
    """Everything the entry does (import, learn_run, fit) runs inside this: it cannot load MNIST, and
    in a challenge without norms, the functional norms refuse to run."""
    stack = contextlib.ExitStack()
    stack.enter_context(_forbidden(course.data, ("_load_set", "read_idx", "get_mnist", "get_mnist_test"), "data",
                                   "the entry loaded MNIST itself; it gets its training data from the challenge"))
    if not challenge.norms_allowed:
        why = "the model normalised its activations"
        stack.enter_context(_forbidden(nn.functional, NORM_FUNCTIONS, "no-norm", why))
        stack.enter_context(_forbidden(torch, NORM_FUNCTIONS, "no-norm", why))
    return stack


# --------------------------------------------------------------------------------- runs


def apply_thread_policy() -> int:
    """The course's thread policy (`course.threads`, applied when this module is imported, before
    torch): the number of threads the runs use, which the results record."""
    threads.configure()
    return torch.get_num_threads()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of `x` that `model`, in eval mode, classifies as `y` (on the model's device)."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(x), EVAL_BS):
        out = model(x[start:start + EVAL_BS].to(device))
        correct += (out.argmax(dim=1).cpu() == y[start:start + EVAL_BS]).sum().item()
    return correct / len(x)


def run_once(challenge: Challenge, load, split: Split, seed: int) -> dict:
    """One seeded run of the entry that `load()` returns: load, build, check, train, evaluate."""
    set_seed(seed)
    started = time.perf_counter()
    with guarded(challenge):
        entry = load()
        bs, epochs = settings(challenge, entry)
        loader = TrainLoader(split.x_train, split.y_train, bs)
        data = l00.DataBunch(loader, NoValidation(split.x_valid, split.y_valid), c_in=1, c_out=10)
        learn, run = check_learn_run(challenge, entry.module.learn_run(data), data)
        guard = RuleGuard(loader, bs, epochs)
        run.cbs.append(guard)
        built = time.perf_counter()
        run.fit(epochs, learn)
        trained = time.perf_counter()
    check_learn_run(challenge, (learn, run), data)  # nothing swapped during training
    if guard.n_batches == 0:
        raise EntryError(f"{entry.source}: the run trained on no batch at all (did a callback cancel training?)")
    result = {"seed": seed, "batch_size": bs, "epochs": epochs, "steps": guard.n_steps,
              "device": next(learn.model.parameters()).device.type,  # cuda where the entry used DeviceCallback
              "valid_accuracy": accuracy(learn.model, split.x_valid, split.y_valid),
              "test_accuracy": None if split.x_test is None else accuracy(learn.model, split.x_test, split.y_test),
              "train_seconds": round(trained - built, 2), "total_seconds": round(time.perf_counter() - started, 2),
              "load_average": round(os.getloadavg()[0], 1)}  # how busy the machine was: context for the seconds
    return result


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def hardware() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "platform": platform.platform()}


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}


_job = None  # (challenge, load, split) of the seeds that `score` runs in parallel, inherited by fork


def _run_seed(seed: int) -> dict:
    # a forked child must not enter the OpenMP pool its parent started: it would wait forever for
    # threads it does not have (torch's DataLoader workers do the same); the seeds run side by side
    torch.set_num_threads(1)
    return run_once(*_job, seed)


def score(challenge: Challenge, entry: Path | Callable[[], Entry], split: Split, seeds=SEEDS, report=print,
          jobs: int = 1) -> dict:
    """Run an entry (a file, or a function that makes a fresh Entry) once per seed: its result record.

    With `jobs` > 1, that many seeds run at once, each in a forked process of its own (same results:
    each run seeds everything itself; on a busy machine the seconds per run are longer), unless this
    process has used CUDA already: a forked child cannot, so the seeds then run one after another."""
    global _job
    threads = apply_thread_policy()
    load = partial(load_entry, Path(entry)) if isinstance(entry, (str, Path)) else entry
    with guarded(challenge):
        entry = load()  # for its docstring; every run loads it afresh
    forked = jobs > 1 and len(seeds) > 1
    if forked and torch.cuda.is_initialized():
        report("this process has used CUDA, which a forked process cannot: the seeds run one after another")
        forked = False
    if forked:
        _job = (challenge, load, split)
        try:
            with multiprocessing.get_context("fork").Pool(min(jobs, len(seeds))) as pool:
                runs = pool.map(_run_seed, seeds)
        finally:
            _job = None
    else:
        runs = [run_once(challenge, load, split, seed) for seed in seeds]
    for run in runs:
        report(f"  {challenge.name} / {entry.name}, seed {run['seed']}: valid {run['valid_accuracy']:.4f} in "
               f"{run['train_seconds']:.1f} s")
    tested = split.x_test is not None
    source = Path(entry.source).resolve()
    return {
        "challenge": challenge.name, "entry": entry.name,
        "source": source.relative_to(ROOT).as_posix() if source.is_relative_to(ROOT) else str(source),
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "summary": entry.summary, "description": entry.description,
        "seeds": list(seeds), "runs": runs,
        "valid_accuracy": spread([r["valid_accuracy"] for r in runs]),
        "test_accuracy": spread([r["test_accuracy"] for r in runs]) if tested else None,
        "test_set": "available" if tested else "not available",
        "train_seconds": spread([r["train_seconds"] for r in runs]),
        "n_train": len(split.x_train), "n_valid": len(split.x_valid),
        # forked seeds run on one thread each (_run_seed)
        "hardware": hardware() | {"torch_threads": 1 if forked else threads}, "versions": versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def result_path(challenge: str, entry: str, results=RESULTS) -> Path:
    return Path(results) / challenge / f"{entry}.json"


def save(record: dict, path: Path | None = None) -> Path:
    """Write a record as JSON to `path` (default: results/<challenge>/<entry>.json)."""
    path = path or result_path(record["challenge"], record["entry"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_results(results=RESULTS) -> dict[str, list[dict]]:
    """Every challenge's saved records, best mean validation accuracy first."""
    out = {}
    for name in CHALLENGES:
        records = [json.loads(p.read_text()) for p in sorted((Path(results) / name).glob("*.json"))]
        out[name] = sorted(records, key=lambda r: -r["valid_accuracy"]["mean"])
    return out


def trained_on(record: dict) -> str:
    """Where the record's runs trained: the GPU's name if they did on one, else the CPU and its threads
    (a GPU in the machine that an entry did not use is not where it trained)."""
    hw = record["hardware"]
    if hw.get("gpu") and any(run.get("device", "cpu") != "cpu" for run in record["runs"]):
        return hw["gpu"]
    return f"{hw['cpu']}, {hw['torch_threads']} thread{'s' if hw['torch_threads'] != 1 else ''}"


def describe(record: dict) -> str:
    acc = record["valid_accuracy"]
    test = ("test set not available" if record["test_accuracy"] is None
            else f"test {record['test_accuracy']['mean']:.4f}")
    return (f"{record['challenge']} / {record['entry']}: valid {acc['mean']:.4f} ± {acc['std']:.4f} "
            f"(min {acc['min']:.4f}, max {acc['max']:.4f}) over seeds {record['seeds']}; {test}; "
            f"{record['train_seconds']['mean']:.1f} s per run ({trained_on(record)})")

