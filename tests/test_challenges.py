"""The challenge judge: a cheat entry of every kind is refused with its rule named, a fair entry of
every challenge is scored, and the records, the leaderboard and the command line work. Tiny
synthetic images only (never MNIST); every seed runs in a fresh process, as in a real run."""

import contextlib
import json
import textwrap

import pytest
import torch

from course import challenges as ch
from course.challenges import ablation, leaderboard

N_TRAIN, N_VALID = 24, 12


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


HEADER = '''"""A test entry.

What it does."""
import torch
from functools import partial
from torch import nn
from solutions.l03_cnn_hooks import Callback, Learner, ParamScheduler, Runner, flatten, Lambda
BATCH_SIZE = 4
'''

MODEL = "nn.Sequential(Lambda(flatten), nn.Linear(784, 10))"
LEARN_RUN = """
def learn_run(data):
    model = MODEL
    return Learner(model, OPT, LOSS, data), Runner(cb_funcs=CBS)
"""


def write_entry(tmp_path, body="", cbs="[]", model=MODEL, opt="torch.optim.SGD(model.parameters(), lr=0.1)",
                loss="nn.functional.cross_entropy", learn_run=LEARN_RUN, name="entry"):
    path = tmp_path / f"{name}.py"
    source = learn_run.replace("MODEL", model).replace("OPT", opt).replace("LOSS", loss).replace("CBS", cbs)
    path.write_text(HEADER + textwrap.dedent(body) + source)
    return path


def score(name, path, split, seeds=(0,), **kwargs):
    return ch.score(ch.CHALLENGES[name], path, split, seeds=seeds, report=lambda *a: None, **kwargs)


def refused(rule, path, split, name="one-epoch"):
    with pytest.raises(ch.RuleViolation) as info:
        score(name, path, split)
    assert info.value.rule == rule, str(info.value)
    message = str(info.value)
    assert f"rule '{rule}'" in message and "\n" not in message  # one line, naming the rule
    return info.value.detail


# ------------------------------------------------------------------------------- accepted


def test_a_fair_entry_is_scored(tmp_path, split):
    record = score("one-epoch", write_entry(tmp_path), split, seeds=(0, 1))
    assert record["challenge"] == "one-epoch" and record["entry"] == "entry" and record["summary"] == "A test entry."
    assert [r["seed"] for r in record["runs"]] == [0, 1] and record["standard_seeds"] is False
    assert all(r["steps"] == N_TRAIN // 4 and r["batch_size"] == 4 for r in record["runs"])
    accs = [r["valid_accuracy"] for r in record["runs"]]
    assert record["valid_accuracy"]["mean"] == pytest.approx(sum(accs) / 2) and min(accs) > 0.5
    assert record["test_accuracy"] is None and record["test_set"] == "not scored"
    assert record["hardware"]["torch_threads"] >= 1 and record["versions"]["torch"] == torch.__version__
    assert len(record["course"]["commit"]) == 40 and record["course"]["clean"] in (True, False)
    json.dumps(record)  # plain JSON


def test_a_seed_reproduces_its_run(tmp_path, split):
    path = write_entry(tmp_path)
    first, second = score("one-epoch", path, split), score("one-epoch", path, split)
    assert first["runs"][0]["valid_accuracy"] == second["runs"][0]["valid_accuracy"]


def test_the_test_set_is_scored_when_given(tmp_path, split):
    split.x_test, split.y_test = split.x_valid, split.y_valid
    record = score("one-epoch", write_entry(tmp_path), split)
    assert record["test_set"] == "scored" and record["n_test"] == N_VALID
    assert record["test_accuracy"]["mean"] == record["valid_accuracy"]["mean"]
    assert "test" in ch.describe(record) and "test" not in ch.describe(record, test=False)


def test_a_diverged_run_is_scored(tmp_path, split):
    record = score("one-epoch", write_entry(tmp_path, opt="torch.optim.SGD(model.parameters(), lr=1e38)"), split)
    assert 0 <= record["runs"][0]["valid_accuracy"] <= 0.5  # NaN logits: argmax is some class


def test_a_failing_seed_is_reported_and_the_others_kept(tmp_path, split):
    body = """
    class FailOnSeed1(Callback):
        def begin_fit(self):
            if torch.initial_seed() == 1:
                raise ValueError("seed 1 fails")
    """
    said = []
    record = ch.score(ch.CHALLENGES["one-epoch"], write_entry(tmp_path, body, cbs="[FailOnSeed1]"), split,
                      seeds=(0, 1), report=said.append)
    assert record["seeds"] == [0] and "ValueError: seed 1 fails" in record["failed_seeds"]["1"]
    assert any("seed 1 failed" in line for line in said) and any("seed 0: valid" in line for line in said)


def test_no_seed_process_outlives_its_run(tmp_path, split):
    """Seeds that have not finished when the run ends (an error, a refusal, Ctrl-C) are killed."""
    import multiprocessing.forkserver
    import os
    body = """
    import time
    class Slow(Callback):
        def begin_fit(self):
            if torch.initial_seed() == 1:
                time.sleep(600)
    """
    seeds = ch.run_seeds(ch.CHALLENGES["one-epoch"], str(write_entry(tmp_path, body, cbs="[Slow]")), split.x_train,
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


def test_the_entry_gets_the_sizes_of_the_data_and_no_image(tmp_path, split):
    learn_run = LEARN_RUN.replace("def learn_run(data):", """def learn_run(data):
    assert len(data.train_ds) == %d and len(data.train_dl) == %d and len(data.valid_ds) == 0 and data.c_out == 10
    assert not any(isinstance(v, torch.Tensor) for o in (data, data.train_dl, data.valid_dl) for v in vars(o).values())
""" % (N_TRAIN, N_TRAIN // 4))
    assert score("one-epoch", write_entry(tmp_path, learn_run=learn_run), split)


def test_what_a_callback_does_to_the_loss_or_the_runner_does_not_count(tmp_path, split):
    """The judge computes the loss and the gradient itself and never calls the Runner's fit: label
    smoothing applied to `run.loss`, a Runner whose fit and one_batch cheat, change nothing."""
    fair = score("one-epoch", write_entry(tmp_path, name="fair"), split)["runs"][0]["valid_accuracy"]
    body = """
    class Smooth(Callback):
        def after_loss(self):
            self.run.loss = self.run.loss * 0.9 + 0.1 * -self.run.pred.log_softmax(-1).mean()
    class MyRunner(Runner):
        def fit(self, epochs, learn):
            raise AssertionError("never called")
        one_batch = all_batches = fit
    """
    path = write_entry(tmp_path, body, cbs="[Smooth]",
                       learn_run=LEARN_RUN.replace("Runner(cb_funcs", "MyRunner(cb_funcs"))
    assert score("one-epoch", path, split)["runs"][0]["valid_accuracy"] == fair


def test_patching_the_judge_changes_nothing(tmp_path, split):
    """The entry's process never evaluates, and the judge's modules are private copies."""
    fair = score("one-epoch", write_entry(tmp_path, name="fair"), split)["runs"][0]["valid_accuracy"]
    body = """
    import builtins, course.challenges
    course.challenges.accuracy = lambda *a: 1.0
    course.challenges.evaluate = lambda *a: {"valid_accuracy": 1.0, "test_accuracy": 1.0}
    course.challenges.CHALLENGES = {}
    torch.equal = lambda a, b: True
    builtins.any = lambda *a: False
    """
    assert score("one-epoch", write_entry(tmp_path, body), split)["runs"][0]["valid_accuracy"] == fair


# ------------------------------------------------------------------------------ refusals

SUPPORT = """
def loss_of(cb):
    return nn.functional.cross_entropy(cb.model(cb.run.xb), cb.run.yb)
"""

CHEATS = {
    # rule 'data': MNIST's files, the data loader, the batches
    "opens an MNIST file": ("data", "open('/somewhere/train-images-idx3-ubyte.gz', 'rb')", None),
    "loads MNIST": ("data", "import course.data; course.data.get_mnist(DATA_DIR)", None),
    "reloads the loader": ("data", "import importlib, course.data; importlib.reload(course.data).get_mnist(DATA_DIR)",
                           None),
    "iterates its data": ("data", None, "[x for x in data.train_dl]"),
    "fits in learn_run": ("data", None, "Runner().fit(1, Learner(model, OPT, LOSS, data))"),
    "swaps the batch": ("data", """
        class Swap(Callback):
            def begin_batch(self):
                self.run.xb = self.xb.flip(0)
        """, "[Swap]"),
    "augments the batch in place": ("data", """
        class Noise(Callback):
            def begin_batch(self):
                self.xb.add_(torch.randn_like(self.xb))
        """, "[Noise]"),
    # rule 'sandbox': the judge's memory, files, processes
    "asks for a frame": ("sandbox", "import sys; sys._getframe()", None),
    "inspects the stack": ("sandbox", """
        class Look(Callback):
            def begin_fit(self):
                import inspect; inspect.stack()
        """, "[Look]"),
    "reads a traceback's frame": ("sandbox", """
        try:
            1 / 0
        except ZeroDivisionError as e:
            e.__traceback__.tb_frame
        """, None),
    "lists the gc's objects": ("sandbox", "import gc; gc.get_objects()", None),
    "finds the gc's referrers": ("sandbox", "import gc; gc.get_referrers(torch)", None),
    "uses ctypes": ("sandbox", "import ctypes; ctypes.CDLL(None).getpid", None),
    "runs a process": ("sandbox", "import subprocess; subprocess.run(['true'])", None),
    "calls os.system": ("sandbox", "import os; os.system('true')", None),
    "writes a file": ("sandbox", "open(__file__ + '.cache', 'w')", None),
    "starts a thread": ("sandbox", "import threading; threading.Thread(target=print).start()", None),
    "installs a signal handler": ("sandbox", "import signal; signal.signal(signal.SIGALRM, print)", None),
    "installs a tracer": ("sandbox", "import sys; sys.settrace(lambda *a: None)", None),
    "patches torch.Tensor": ("sandbox", """
        class Stay(Callback):
            def begin_fit(self):
                torch.Tensor.add_ = lambda self, *a, **k: self
        """, "[Stay]"),
    "reads its parent's memory": ("sandbox", "import os; open(f'/proc/{os.getppid()}/mem', 'rb')", None),
    # rule 'steps': parameters change only through the judge's step
    "steps a second time": ("steps", """
        class Twice(Callback):
            def after_step(self):
                loss_of(self).backward(); self.opt.step()
        """, "[Twice]"),
    "updates by hand": ("steps", """
        class ByHand(Callback):
            def after_batch(self):
                with torch.no_grad():
                    for p in self.model.parameters(): p.mul_(1.01)
        """, "[ByHand]"),
    "trains in after_fit": ("steps", """
        class Late(Callback):
            def after_fit(self):
                loss_of(self).backward(); self.opt.step()
        """, "[Late]"),
    "steps a second optimiser": ("steps", """
        class Other(Callback):
            def begin_fit(self):
                self.other = torch.optim.SGD(self.model.parameters(), lr=0.1)
            def after_batch(self):
                self.other.zero_grad(); loss_of(self).backward(); self.other.step()
        """, "[Other]"),
    "trains on more batches": ("steps", """
        class Again(Callback):
            def after_batch(self):
                if not getattr(self, 'busy', False):
                    self.busy = True
                    self.run.one_batch(self.xb, self.yb)
                    self.busy = False
        """, "[Again]"),
    "accumulates gradients in a hook": ("steps", """
        class Accumulate(Callback):
            def begin_fit(self):
                for p in self.model.parameters(): p.register_hook(lambda g: g * 2)
        """, "[Accumulate]"),
    "trains in a forward": ("steps", """
        class Learns(nn.Linear):
            def forward(self, x):
                with torch.no_grad(): self.weight.mul_(1.01)
                return super().forward(x)
        """, None),
    # rules 'optimiser' and 'loss': what the judge would not do
    "asks for Adam": ("optimiser", None, None),
    "asks for momentum": ("optimiser", None, None),
    "spoofs a solutions optimiser": ("optimiser", """
        class SGDM(torch.optim.SGD):
            __module__ = 'solutions.l02_exceptions'
        """, None),
    "switches momentum on": ("optimiser", None, "[partial(ParamScheduler, 'momentum', lambda pos: 0.9)]"),
    "asks for label smoothing": ("loss", None, None),
    "wraps the loss": ("loss", None, None),
    # rule 'eval': the judge evaluates each image on its own
    "normalises with the batch at evaluation": ("eval", """
        class BatchStats(nn.Module):
            def forward(self, x):
                return (x - x.mean(0)) / (x.var(0, correction=0) + 1e-5).sqrt()
        """, None),
}
OVERRIDES = {  # (model, optimiser, loss) where a cheat changes them
    "trains in a forward": {"model": "nn.Sequential(Lambda(flatten), Learns(784, 10))"},
    "asks for Adam": {"opt": "torch.optim.Adam(model.parameters())"},
    "asks for momentum": {"opt": "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)"},
    "spoofs a solutions optimiser": {"opt": "SGDM(model.parameters(), lr=0.1, momentum=0.9)"},
    "asks for label smoothing": {"loss": "nn.CrossEntropyLoss(label_smoothing=0.1)"},
    "wraps the loss": {"loss": "lambda pred, y: nn.functional.cross_entropy(pred, y) * 2"},
    "normalises with the batch at evaluation": {"model": "nn.Sequential(Lambda(flatten), nn.Linear(784, 10), "
                                                         "BatchStats())"},
}


@pytest.mark.parametrize("cheat", list(CHEATS))
def test_a_cheat_is_refused_with_its_rule_named(tmp_path, split, cheat, monkeypatch):
    rule, body, extra = CHEATS[cheat]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really")
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_dir))
    body = SUPPORT + f"DATA_DIR = {str(data_dir)!r}\n" + textwrap.dedent(body or "")
    kwargs = OVERRIDES.get(cheat, {})
    if extra and extra.startswith("["):
        kwargs["cbs"] = extra
    elif extra:
        kwargs["learn_run"] = LEARN_RUN.replace("    return", f"    {extra}\n    return")
    detail = refused(rule, write_entry(tmp_path, body, **kwargs), split)
    assert detail.startswith("seed 0: ") and len(detail) > 20


NORMALISED = {
    "nn.BatchNorm2d": "nn.Sequential(nn.BatchNorm2d(1), Lambda(flatten), nn.Linear(784, 10))",
    "the course's BatchNorm": "nn.Sequential(BatchNorm(1), Lambda(flatten), nn.Linear(784, 10))",
    "torch.native_batch_norm": "nn.Sequential(Lambda(flatten), nn.Linear(784, 32), Native(), nn.Linear(32, 10))",
    "F.normalize": "nn.Sequential(Lambda(flatten), nn.Linear(784, 32), Normalize(), nn.Linear(32, 10))",
    "hand-written standardisation": "nn.Sequential(Lambda(flatten), Standardise(784, 10))",
    "layer norm on the input": "nn.Sequential(Lambda(lambda x: nn.functional.layer_norm(x, x.shape[1:])), "
                               "Lambda(flatten), nn.Linear(784, 10))",
}
NORM_MODULES = """
from solutions.l04_norms import BatchNorm
class Native(nn.Module):
    def forward(self, x):
        return torch.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)[0]
class Normalize(nn.Module):
    def forward(self, x):
        return nn.functional.normalize(x)
class Standardise(nn.Linear):
    def forward(self, x):
        out = nn.functional.linear(x, self.weight)
        return (out - out.mean(1, keepdim=True)) / out.std(1, keepdim=True) + self.bias
"""


@pytest.mark.parametrize("norm", list(NORMALISED))
def test_normalisation_is_refused_in_beat_98(tmp_path, split, norm):
    path = write_entry(tmp_path, NORM_MODULES, model=NORMALISED[norm])
    assert "normalises" in refused("no-norm", path, split, "beat-98")


def test_normalisation_is_allowed_elsewhere_and_a_norm_named_layer_is_not_one(tmp_path, split):
    model = NORMALISED["nn.BatchNorm2d"]
    assert score("one-epoch", write_entry(tmp_path, NORM_MODULES, model=model), split)["runs"]
    model = MODEL.replace("Lambda(flatten)", "MyNorm(), Lambda(flatten)")
    assert score("beat-98", write_entry(tmp_path, "class MyNorm(nn.Identity): pass", model=model), split)["runs"]


@pytest.mark.parametrize("name, setting, rule", [("one-epoch", "EPOCHS = 2", "epochs"),
                                                 ("tiny-batch", "BATCH_SIZE = 2\nEPOCHS = 2", "epochs"),
                                                 ("beat-98", "EPOCHS = 9", "epochs"),
                                                 ("tiny-batch", "BATCH_SIZE = 32", "batch-size")])
def test_settings_outside_the_rules_are_refused(tmp_path, split, name, setting, rule):
    assert setting.split("\n")[-1] in refused(rule, write_entry(tmp_path, setting), split, name)


def test_fewer_epochs_are_allowed_in_beat_98(tmp_path, split):
    record = score("beat-98", write_entry(tmp_path, "EPOCHS = 2"), split)
    assert record["runs"][0]["epochs"] == 2 and record["runs"][0]["steps"] == 2 * N_TRAIN // 4


def test_another_runner_is_refused(tmp_path, split):
    refused("runner", write_entry(tmp_path, learn_run=LEARN_RUN.replace("Runner(cb_funcs=CBS)", "object()")), split)


def test_an_unusable_entry_is_explained(tmp_path, split):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    with pytest.raises(ch.EntryError, match="learn_run"):
        score("one-epoch", path, split)
    with pytest.raises(ch.EntryError, match="reference entry"):
        ch.find_entry(ch.CHALLENGES["one-epoch"], "no-such-entry")


# ------------------------------------------------------------ reference entries, leaderboard


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


def test_a_participants_result_goes_beside_the_entry(tmp_path):
    assert ch.result_path("one-epoch", tmp_path / "deeper.py") == tmp_path / "deeper.one-epoch.json"
    reference = ch.ENTRIES / "one-epoch" / "deeper.py"
    assert ch.result_path("one-epoch", reference) == ch.RESULTS / "one-epoch" / "deeper.json"


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


def test_leaderboard_from_saved_results(tmp_path, split):
    split.x_test, split.y_test = split.x_valid, split.y_valid
    record = score("one-epoch", write_entry(tmp_path, name="mine"), split, seeds=(0, 1, 2))
    ch.save(record, ch.result_path("one-epoch", "mine", tmp_path / "results"))
    other = record | {"entry": "other", "seeds": [5], "standard_seeds": False}
    ch.save(other, ch.result_path("one-epoch", "other", tmp_path / "results"))
    markers = "<!-- leaderboard one-epoch -->\n<!-- leaderboard rules -->\n<!-- leaderboard tiny-batch -->"
    page = leaderboard.fill(markers, tmp_path / "results")
    assert "[mine](#one-epoch-mine)" in page and "| 1 |" in page
    assert "| – | [other](#one-epoch-other)" in page  # other seeds: listed, not ranked
    assert "*lecture notebook: RunningBatchNorm, bs 32, sched_lin(1.0, 0.2)*" in page  # comparison rows
    assert all(f"**{rule}**" in page for rule in ch.RULES)
    assert "Reference entries without a result yet: `" in page  # tiny-batch: none saved in tmp_path
    with pytest.raises(leaderboard.LeaderboardError, match="names no challenge"):
        leaderboard.fill("<!-- leaderboard one-epoch-typo -->", tmp_path)


def test_the_challenges_page_has_every_marker():
    page = (ch.ROOT / "docs" / "challenges.md").read_text()
    for name in [*ch.CHALLENGES, "ablation", "rules"]:
        assert f"<!-- leaderboard {name} -->" in page


def test_the_command_line(tmp_path, split, monkeypatch, capsys):
    from course.challenges.__main__ import main
    monkeypatch.setattr(ch, "mnist_split", lambda test=True: split)
    assert main(["run", "tiny-batch", str(write_entry(tmp_path, "BATCH_SIZE = 8")), "--seeds", "0"]) == 3
    assert "error: refused, rule 'batch-size'" in capsys.readouterr().err
    assert main(["run", "one-epoch", str(tmp_path / "missing.py")]) == 2
    assert "no entry file" in capsys.readouterr().err
    path = write_entry(tmp_path, "BATCH_SIZE = 8")
    assert main(["run", "one-epoch", str(path), "--seeds", "0", "1", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "seed 0: valid" in out and "over seeds [0, 1]" in out and "not ranked" in out
    assert json.loads((tmp_path / "entry.one-epoch.json").read_text())["seeds"] == [0, 1]
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert [s for s in ("learn_run(data)", "DeviceCallback", "Default seeds: 0 1 2", "results/<challenge>/<name>.json")
            if s not in out] == [], out
