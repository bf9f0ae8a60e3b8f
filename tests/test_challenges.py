"""The challenge judge: a cheat entry of every kind is refused with its rule named, fair entries are
scored, and the records, the leaderboard and the command line work. Tiny synthetic images only
(never MNIST); every seed runs in a fresh process, as in a real run."""

import contextlib
import json
import os

import pytest
import torch

from course import challenges as ch
from course.challenges import ablation, leaderboard

N_TRAIN, N_VALID = 24, 12
ENTRY = '''"""A test entry.

What it does."""
import torch
from functools import partial
from torch import nn
from solutions.l03_cnn_hooks import Callback, Learner, ParamScheduler, Runner, flatten, Lambda
BATCH_SIZE = 4
LOSS, CBS, RUNNER = nn.functional.cross_entropy, [], Runner

def model():
    return nn.Sequential(Lambda(flatten), nn.Linear(784, 10))

def opt(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)

def prepare(data):
    pass

def learn_run(data):
    prepare(data)
    m = model()
    return Learner(m, opt(m), LOSS, data), RUNNER(cb_funcs=CBS)

def on(event, f):  # a callback that calls f(callback) at `event`
    return type("On", (Callback,), {event: lambda self: f(self)})


class Standardise(nn.Linear):  # a normalisation under another name
    def forward(self, x):
        out = nn.functional.linear(x, self.weight)
        return (out - out.mean(1, keepdim=True)) / out.std(1, keepdim=True) + self.bias

def loss_of(cb):
    return nn.functional.cross_entropy(cb.model(cb.run.xb), cb.run.yb)
'''


def make(n, seed):
    """Images (N, 1, 28, 28) whose class is the quadrant lit up: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randn(n, 1, 28, 28, generator=g) * 0.1
    for i, c in enumerate(y.tolist()):
        x[i, 0, 14 * (c // 2):14 * (c // 2) + 14, 14 * (c % 2):14 * (c % 2) + 14] += 1.0
    return x, y


@pytest.fixture
def split():
    return ch.Split(*make(N_TRAIN, 0), *make(N_VALID, 1))


def write_entry(folder, source="", name="entry"):
    """The fair entry above, with `source` appended: it may redefine any of its names."""
    path = folder / f"{name}.py"
    path.write_text(ENTRY + "\n" + source + "\n")
    return path


def score(name, path, split, seeds=(0,), **kwargs):
    return ch.score(ch.CHALLENGES[name], path, split, seeds=seeds, report=lambda *a: None, **kwargs)


@pytest.fixture(scope="module")
def fair(tmp_path_factory):
    """Seed 0's validation accuracy of the fair entry."""
    path = write_entry(tmp_path_factory.mktemp("fair"))
    return score("one-epoch", path, ch.Split(*make(N_TRAIN, 0), *make(N_VALID, 1)))["runs"][0]["valid_accuracy"]


# ------------------------------------------------------------------------------- accepted

SAME = "scores what the fair entry scores"
ACCEPTED = {  # what an entry does: (challenge, source, what its record must show)
    "sees the sizes of the data, no image": ("one-epoch", """
def prepare(data):
    assert len(data.train_ds) == 24 and len(data.train_dl) == 6 and len(data.valid_ds) == 0 and data.c_out == 10
    assert not any(isinstance(v, torch.Tensor) for o in (data, data.train_dl, data.valid_dl) for v in vars(o).values())
""", SAME),
    # the judge computes the loss and the gradient itself and never calls the Runner's fit
    "smooths run.loss and overrides the Runner's fit": ("one-epoch", """
CBS = [on("after_loss", lambda cb: setattr(cb.run, "loss", cb.loss * 0.9 - 0.1 * cb.pred.log_softmax(-1).mean()))]
class RUNNER(Runner):
    def fit(self, epochs, learn):
        raise AssertionError("never called")
    one_batch = all_batches = fit
""", SAME),
    # the entry's process never evaluates, and the judge's modules are private copies
    "patches the judge": ("one-epoch", """
import builtins, course.challenges
course.challenges.accuracy = lambda *a: 1.0
course.challenges.evaluate = lambda *a: {"valid_accuracy": 1.0, "test_accuracy": 1.0}
course.challenges.CHALLENGES = {}
torch.equal = lambda a, b: True
builtins.any = lambda *a: False
""", SAME),
    "diverges": ("one-epoch", "def opt(model): return torch.optim.SGD(model.parameters(), lr=1e38)", "at most 0.5"),
    "normalises outside beat-98": ("one-epoch", """
def model(): return nn.Sequential(nn.BatchNorm2d(1), Lambda(flatten), nn.Linear(784, 10))""", "scored"),
    "has a layer named like a norm in beat-98": ("beat-98", """
class MyNorm(nn.Identity): pass
def model(): return nn.Sequential(MyNorm(), Lambda(flatten), nn.Linear(784, 10))""", "scored"),
    "trains 2 epochs of beat-98's 8": ("beat-98", "EPOCHS = 2", "12 steps"),
}


@pytest.mark.parametrize("what", list(ACCEPTED))
def test_a_fair_entry_is_scored(tmp_path, split, fair, what):
    name, source, expected = ACCEPTED[what]
    run = score(name, write_entry(tmp_path, source), split)["runs"][0]
    acc = run["valid_accuracy"]
    assert {SAME: acc == fair, "at most 0.5": 0 <= acc <= 0.5, "scored": 0 <= acc <= 1,  # at most 0.5: NaN logits
            "12 steps": run["steps"] == 12 == 2 * N_TRAIN // 4 and run["epochs"] == 2}[expected], run


# ------------------------------------------------------------------------------ refusals

CHEATS = {  # what an entry does: (rule it breaks, source[, what the refusal says[, challenge: one-epoch]])
    # rule 'data': MNIST's files, the data loader, the batches
    "opens an MNIST file": ("data", "open('/somewhere/train-images-idx3-ubyte.gz', 'rb')"),
    "loads MNIST": ("data", "import course.data; course.data.get_mnist(DATA_DIR)"),
    "reloads the loader": ("data", "import importlib, course.data; importlib.reload(course.data).get_mnist(DATA_DIR)"),
    "iterates its data": ("data", "def prepare(data): [x for x in data.train_dl]"),
    "fits in learn_run": ("data", "def prepare(data): m = model(); Runner().fit(1, Learner(m, opt(m), LOSS, data))"),
    "swaps the batch": ("data", "CBS = [on('begin_batch', lambda cb: setattr(cb.run, 'xb', cb.xb.flip(0)))]"),
    "augments the batch in place": ("data", "CBS = [on('begin_batch', lambda cb: cb.xb.add_(1))]"),
    # rule 'sandbox': the judge's memory, files, processes
    "asks for a frame": ("sandbox", "import sys; sys._getframe()"),
    "inspects the stack": ("sandbox", "CBS = [on('begin_fit', lambda cb: __import__('inspect').stack())]"),
    "reads a traceback's frame": ("sandbox", "try: 1 / 0\nexcept ZeroDivisionError as e: e.__traceback__.tb_frame"),
    "lists the gc's objects": ("sandbox", "import gc; gc.get_objects()"),
    "finds the gc's referrers": ("sandbox", "import gc; gc.get_referrers(torch)"),
    "uses ctypes": ("sandbox", "import ctypes; ctypes.CDLL(None).getpid"),
    "runs a process": ("sandbox", "import subprocess; subprocess.run(['true'])"),
    "calls os.system": ("sandbox", "import os; os.system('true')"),
    "writes a file": ("sandbox", "open(__file__ + '.cache', 'w')"),
    "starts a thread": ("sandbox", "import threading; threading.Thread(target=print).start()"),
    "installs a signal handler": ("sandbox", "import signal; signal.signal(signal.SIGALRM, print)"),
    "installs a tracer": ("sandbox", "import sys; sys.settrace(lambda *a: None)"),
    "patches torch.Tensor": ("sandbox", "CBS = [on('begin_fit', lambda cb: setattr(torch.Tensor, 'add_', "
                                        "lambda self, *a, **k: self))]"),
    "reads its parent's memory": ("sandbox", "import os; open(f'/proc/{os.getppid()}/mem', 'rb')"),
    # rule 'steps': parameters change only through the judge's step
    "steps a second time": ("steps", "CBS = [on('after_step', lambda cb: (loss_of(cb).backward(), cb.opt.step()))]"),
    "updates by hand": ("steps", "CBS = [on('after_batch', lambda cb: "
                                 "[p.data.mul_(2) for p in cb.model.parameters()])]"),
    "trains in after_fit": ("steps", "CBS = [on('after_fit', lambda cb: (loss_of(cb).backward(), cb.opt.step()))]"),
    "steps a second optimiser": ("steps", "CBS = [on('after_batch', lambda cb: (loss_of(cb).backward(), "
                                          "torch.optim.SGD(cb.model.parameters(), lr=0.1).step()))]"),
    "trains on more batches": ("steps", """
class Again(Callback):
    def after_batch(self):
        if not getattr(self, "busy", False):
            self.busy = True
            self.run.one_batch(self.xb, self.yb)
CBS = [Again]"""),
    "accumulates gradients in a hook": ("steps", "CBS = [on('begin_fit', lambda cb: [p.register_hook(lambda g: g * 2) "
                                                 "for p in cb.model.parameters()])]"),
    "trains in a forward": ("steps", """
class Learns(nn.Linear):
    def forward(self, x):
        with torch.no_grad(): self.weight.mul_(1.01)
        return super().forward(x)
def model(): return nn.Sequential(Lambda(flatten), Learns(784, 10))"""),
    # rules 'optimiser', 'loss', 'eval', 'runner': what the judge would not do
    "asks for Adam": ("optimiser", "def opt(model): return torch.optim.Adam(model.parameters())"),
    "asks for momentum": ("optimiser", "def opt(model): return torch.optim.SGD(model.parameters(), momentum=0.9)"),
    "spoofs a solutions optimiser": ("optimiser", """
class SGDM(torch.optim.SGD): __module__ = 'solutions.l02_exceptions'
def opt(model): return SGDM(model.parameters(), lr=0.1, momentum=0.9)"""),
    "switches momentum on": ("optimiser", "CBS = [partial(ParamScheduler, 'momentum', lambda pos: 0.9)]"),
    "asks for label smoothing": ("loss", "LOSS = nn.CrossEntropyLoss(label_smoothing=0.1)"),
    "wraps the loss": ("loss", "LOSS = lambda pred, y: nn.functional.cross_entropy(pred, y) * 2"),
    "normalises with the batch at evaluation": ("eval", """
def model(): return nn.Sequential(Lambda(flatten), nn.Linear(784, 10),
                                  Lambda(lambda x: (x - x.mean(0)) / (x.var(0, correction=0) + 1e-5).sqrt()))"""),
    "returns another runner": ("runner", "RUNNER = lambda cb_funcs: object()"),
    # rules 'epochs' and 'batch-size'
    "trains 2 epochs": ("epochs", "EPOCHS = 2", "EPOCHS = 2"),
    "trains 2 epochs of tiny-batch": ("epochs", "BATCH_SIZE = 2\nEPOCHS = 2", "EPOCHS = 2", "tiny-batch"),
    "trains 9 epochs of beat-98": ("epochs", "EPOCHS = 9", "EPOCHS = 9", "beat-98"),
    "trains at batch size 32 in tiny-batch": ("batch-size", "BATCH_SIZE = 32", "BATCH_SIZE = 32", "tiny-batch"),
    # rule 'no-norm' (beat-98): a normalisation under any name
    **{f"normalises with {what} in beat-98": ("no-norm", f"def model(): return nn.Sequential({layers})",
                                               "normalises", "beat-98") for what, layers in {
        "nn.BatchNorm2d": "nn.BatchNorm2d(1), Lambda(flatten), nn.Linear(784, 10)",
        "the course's BatchNorm": "__import__('solutions.l04_norms').l04_norms.BatchNorm(1), Lambda(flatten), "
                                  "nn.Linear(784, 10)",
        "torch.native_batch_norm": "Lambda(flatten), nn.Linear(784, 32), Lambda(lambda x: torch.native_batch_norm("
                                   "x, None, None, None, None, True, 0.1, 1e-5)[0]), nn.Linear(32, 10)",
        "F.normalize": "Lambda(flatten), nn.Linear(784, 32), Lambda(nn.functional.normalize), nn.Linear(32, 10)",
        "a hand-written standardisation": "Lambda(flatten), Standardise(784, 10)",
        "layer norm on the input": "Lambda(lambda x: nn.functional.layer_norm(x, x.shape[1:])), Lambda(flatten), "
                                   "nn.Linear(784, 10)",
    }.items()},
}


@pytest.mark.parametrize("cheat", list(CHEATS))
def test_a_cheat_is_refused_with_its_rule_named(tmp_path, split, cheat, monkeypatch):
    rule, source, said, name = (lambda rule, source, said="", name="one-epoch": (rule, source, said, name))(
        *CHEATS[cheat])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    path = write_entry(tmp_path, f"DATA_DIR = {str(tmp_path / 'data')!r}\n{source}")
    with pytest.raises(ch.RuleViolation) as info:
        score(name, path, split)
    message = str(info.value)
    assert info.value.rule == rule and f"rule '{rule}'" in message and "\n" not in message, message  # one line
    assert info.value.detail.startswith("seed 0: ") and said in info.value.detail and len(info.value.detail) > 20


def test_an_unusable_entry_is_explained(tmp_path, split):
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ch.EntryError, match="learn_run"):
        score("one-epoch", tmp_path / "empty.py", split)
    with pytest.raises(ch.EntryError, match="reference entry"):
        ch.find_entry(ch.CHALLENGES["one-epoch"], "no-such-entry")


def test_a_failing_seed_is_reported_and_the_others_kept(tmp_path, split):
    source = "def prepare(data):\n    if torch.initial_seed() == 1: raise ValueError('seed 1 fails')"
    said = []
    record = ch.score(ch.CHALLENGES["one-epoch"], write_entry(tmp_path, source), split, seeds=(0, 1),
                      report=said.append)
    assert record["seeds"] == [0] and "ValueError: seed 1 fails" in record["failed_seeds"]["1"]
    assert any("seed 1 failed" in line for line in said) and any("seed 0: valid" in line for line in said)


def test_no_seed_process_outlives_its_run(tmp_path, split):
    """Seeds that have not finished when the run ends (an error, a refusal, Ctrl-C) are killed."""
    import multiprocessing.forkserver
    source = "import time\ndef prepare(data):\n    if torch.initial_seed() == 1: time.sleep(600)"
    seeds = ch.run_seeds(ch.CHALLENGES["one-epoch"], str(write_entry(tmp_path, source)), split.x_train,
                         split.y_train, seeds=(0, 1), jobs=2, n_threads=1)
    seed, header, _ = next(seeds)
    assert seed == 0 and "token" in header
    server = multiprocessing.forkserver._forkserver._forkserver_pid

    def children():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
                found += [pid] if f"PPid:\t{server}\n" in status.read() else []
        return found
    assert len(children()) == 1  # seed 1, asleep
    seeds.close()
    assert children() == []


# ------------------------------------------------------------ reference entries, records, leaderboard

REFERENCE = [(c.name, p) for c in ch.CHALLENGES.values() for p in c.entries()]


@pytest.mark.parametrize("name, path", REFERENCE, ids=[f"{n}/{p.stem}" for n, p in REFERENCE])
def test_smoke_every_reference_entry(split, name, path):
    """Every reference entry loads, passes the rules and trains on a small slice."""
    record = score(name, path, split)
    assert 0 <= record["valid_accuracy"]["mean"] <= 1 and record["summary"]


def test_every_result_has_an_entry():
    results = ch.load_results()
    for challenge in ch.CHALLENGES.values():
        assert challenge.entries(), challenge.name
        saved = {r["entry"] for r in results[challenge.name]}
        assert saved <= {p.stem for p in challenge.entries()}, f"{challenge.name}: results without an entry"


def test_a_record_reproduces_and_ranks_on_the_leaderboard(tmp_path, split, fair):
    split.x_test, split.y_test = split.x_valid, split.y_valid
    record = score("one-epoch", write_entry(tmp_path, name="mine"), split, seeds=(0, 1, 2))
    assert record["runs"][0]["valid_accuracy"] == fair  # the same seed, the same run
    assert record["test_set"] == "scored" and record["n_test"] == N_VALID
    assert record["test_accuracy"]["mean"] == record["valid_accuracy"]["mean"]
    assert "test" in ch.describe(record) and "test" not in ch.describe(record, test=False)
    ch.save(record, ch.result_path("one-epoch", "mine", tmp_path / "results"))
    other = record | {"entry": "other", "seeds": [5], "standard_seeds": False}
    ch.save(other, ch.result_path("one-epoch", "other", tmp_path / "results"))
    markers = "<!-- leaderboard one-epoch -->\n<!-- leaderboard rules -->\n<!-- leaderboard tiny-batch -->"
    page = leaderboard.fill(markers, tmp_path / "results")
    assert "| 1 | [mine](#one-epoch-mine)" in page
    assert "| – | [other](#one-epoch-other)" in page  # other seeds: listed, not ranked
    assert "*lecture notebook: RunningBatchNorm, bs 32, sched_lin(1.0, 0.2)*" in page  # comparison rows
    assert all(f"**{rule}**" in page for rule in ch.RULES)
    assert "Reference entries without a result yet: `" in page  # tiny-batch: none saved in tmp_path
    with pytest.raises(leaderboard.LeaderboardError, match="names no challenge"):
        leaderboard.fill("<!-- leaderboard one-epoch-typo -->", tmp_path)
    page = (ch.ROOT / "docs" / "challenges.md").read_text()
    assert all(f"<!-- leaderboard {name} -->" in page for name in [*ch.CHALLENGES, "ablation", "rules"])


def test_smoke_the_ablation(tmp_path, split):
    """An ablation row is a tiny-batch (bs 2) or one-epoch (bs 32) run: its leaderboard lists it."""
    record = ablation.run("rbn", 2, split.head(8, 4), report=lambda *a: None)
    assert record["challenge"] == "tiny-batch" and record["row"] == "rbn" and record["runs"][0]["steps"] == 4
    ch.save(record, ablation.result_path("rbn", 2, tmp_path / "ablation"))
    page = leaderboard.fill("<!-- leaderboard tiny-batch -->\n<!-- leaderboard ablation -->", tmp_path)
    assert "[ablation: `RunningBatchNorm`, corrected](#ablation)" in page
    assert "| `RunningBatchNorm`, corrected | " in page and "| `nn.BatchNorm2d` | not run |  |" in page
    with pytest.raises(ch.EntryError, match="no ablation row"):
        ablation.run("batchnorm", 2, split)


def test_the_command_line(tmp_path, split, monkeypatch, capsys):
    from course.challenges.__main__ import main
    monkeypatch.setattr(ch, "mnist_split", lambda test=True: split)
    assert main(["run", "tiny-batch", str(write_entry(tmp_path, "BATCH_SIZE = 8")), "--seeds", "0"]) == 3
    assert "error: refused, rule 'batch-size'" in capsys.readouterr().err
    assert main(["run", "one-epoch", str(tmp_path / "missing.py")]) == 2
    assert "no entry file" in capsys.readouterr().err
    assert main(["run", "one-epoch", str(write_entry(tmp_path)), "--seeds", "0", "1", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "seed 0: valid" in out and "over seeds [0, 1]" in out and "not ranked" in out and "; test" not in out
    record = json.loads((tmp_path / "entry.one-epoch.json").read_text())  # beside the entry, not among results
    assert record["challenge"] == "one-epoch" and record["entry"] == "entry" and record["summary"] == "A test entry."
    assert [r["seed"] for r in record["runs"]] == [0, 1] and record["standard_seeds"] is False
    assert all(r["steps"] == N_TRAIN // 4 and r["batch_size"] == 4 for r in record["runs"])
    accs = [r["valid_accuracy"] for r in record["runs"]]
    assert record["valid_accuracy"]["mean"] == pytest.approx(sum(accs) / 2) and min(accs) > 0.5
    assert record["test_accuracy"] is None and record["test_set"] == "not scored"
    assert record["hardware"]["torch_threads"] >= 1 and record["versions"]["torch"] == torch.__version__
    assert len(record["course"]["commit"]) == 40 and record["course"]["clean"] in (True, False)
    reference = ch.ENTRIES / "one-epoch" / "deeper.py"
    assert ch.result_path("one-epoch", reference) == ch.RESULTS / "one-epoch" / "deeper.json"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert [s for s in ("learn_run(data)", "DeviceCallback", "Default seeds: 0 1 2", "results/<challenge>/<name>.json",
                        *(f"{rule}: " for rule in ch.RULES)) if s not in out] == [], out
