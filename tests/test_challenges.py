"""The challenge runner: each rule's refusal, the results format, the leaderboard, and a smoke run
of every reference entry. Tiny synthetic images only (never MNIST), so the whole file takes seconds."""

import json
import textwrap

import pytest
import torch

from course import challenges as ch
from course.challenges import ablation, leaderboard

N_TRAIN, N_VALID = 24, 12


@pytest.fixture
def split():
    """Images (N, 1, 28, 28) whose class is the quadrant lit up: learnable in a few steps."""
    def make(n, seed):
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % 4
        x = torch.randn(n, 1, 28, 28, generator=g) * 0.1
        for i, c in enumerate(y.tolist()):
            x[i, 0, 14 * (c // 2):14 * (c // 2) + 14, 14 * (c % 2):14 * (c % 2) + 14] += 1.0
        return x, y
    return ch.Split(*make(N_TRAIN, 0), *make(N_VALID, 1))


HEADER = """
import torch
from functools import partial
from torch import nn
from solutions.l03_cnn_hooks import Callback, Learner, ParamScheduler, Runner, flatten, Lambda
"""

LINEAR = """
def learn_run(data):
    model = nn.Sequential(Lambda(flatten), nn.Linear(784, 10))
    return Learner(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.functional.cross_entropy, data), \\
        Runner(cb_funcs=CBS)
"""


def write_entry(tmp_path, body="", learn_run=LINEAR, cbs="[]", name="entry"):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body) + f"\nCBS = {cbs}\n" + learn_run)
    return path


def score(name, path, split, seeds=(0,)):
    return ch.score(ch.CHALLENGES[name], path, split, seeds=seeds, report=lambda *a: None)


def refused(rule, name, path, split):
    with pytest.raises(ch.RuleViolation) as info:
        score(name, path, split)
    assert info.value.rule == rule
    assert f"rule '{rule}'" in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------------------- accepted


def test_a_plain_entry_is_scored(tmp_path, split):
    record = score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4"), split, seeds=(0, 1))
    assert record["challenge"] == "one-epoch" and record["entry"] == "entry"
    assert [r["seed"] for r in record["runs"]] == [0, 1]
    assert all(r["steps"] == N_TRAIN // 4 and r["batch_size"] == 4 for r in record["runs"])
    accs = [r["valid_accuracy"] for r in record["runs"]]
    assert record["valid_accuracy"]["mean"] == pytest.approx(sum(accs) / 2)
    assert record["valid_accuracy"]["min"] == min(accs) and record["valid_accuracy"]["max"] == max(accs)
    assert record["test_accuracy"] is None and record["test_set"] == "not available"
    assert record["hardware"]["torch_threads"] >= 1 and record["versions"]["torch"] == torch.__version__
    assert record["n_train"] == N_TRAIN and record["n_valid"] == N_VALID
    json.dumps(record)  # the results format is plain JSON


def test_the_record_says_where_the_runs_trained(tmp_path, split):
    record = score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4"), split)
    assert record["runs"][0]["device"] == "cpu"
    record["hardware"] |= {"cpu": "Some CPU", "torch_threads": 1, "gpu": "Some GPU"}
    assert ch.trained_on(record) == "Some CPU, 1 thread"  # a GPU the entry did not use is not where it trained
    assert "(Some CPU, 1 thread)" in ch.describe(record)
    record["runs"][0]["device"] = "cuda"
    assert ch.trained_on(record) == "Some GPU" and "Some GPU" in leaderboard.challenge_markdown(
        ch.CHALLENGES["one-epoch"], [record])


def test_seeds_run_side_by_side_on_one_thread_each(tmp_path, split):
    record = ch.score(ch.CHALLENGES["one-epoch"], write_entry(tmp_path, "BATCH_SIZE = 4"), split, seeds=(0, 1),
                      report=lambda *a: None, jobs=2)
    assert [r["seed"] for r in record["runs"]] == [0, 1] and record["hardware"]["torch_threads"] == 1


def test_seeds_run_one_after_another_once_this_process_has_used_cuda(tmp_path, split, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(ch.multiprocessing, "get_context", lambda method: pytest.fail("forked after CUDA"))
    said = []
    record = ch.score(ch.CHALLENGES["one-epoch"], write_entry(tmp_path, "BATCH_SIZE = 4"), split, seeds=(0, 1),
                      report=said.append, jobs=2)
    assert [r["seed"] for r in record["runs"]] == [0, 1] and "one after another" in said[0]


def test_a_seed_reproduces_its_run(tmp_path, split):
    path = write_entry(tmp_path, "BATCH_SIZE = 4")
    first, second = score("one-epoch", path, split), score("one-epoch", path, split)
    assert first["runs"][0]["valid_accuracy"] == second["runs"][0]["valid_accuracy"]


def test_the_test_set_is_scored_when_present(tmp_path, split):
    split.x_test, split.y_test = split.x_valid, split.y_valid
    record = score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4"), split)
    assert record["test_set"] == "available"
    assert record["test_accuracy"]["mean"] == record["valid_accuracy"]["mean"]


def test_the_entry_sees_training_data_only(tmp_path, split):
    """The DataBunch an entry gets holds the training images and an empty validation loader: the
    challenge validates after training, with its own data."""
    learn_run = LINEAR.replace("def learn_run(data):", """def learn_run(data):
    assert len(data.valid_dl) == 0 and list(data.valid_dl) == []
    assert len(data.train_ds) == %d and data.c_out == 10
    assert next(iter(data.train_dl))[0].shape == (4, 1, 28, 28)""" % N_TRAIN)
    assert score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4", learn_run=learn_run), split)


# ------------------------------------------------------------------------------ refusals


def test_refused_loading_mnist_itself(tmp_path, split):
    learn_run = LINEAR.replace("def learn_run(data):", "def learn_run(data):\n    get_mnist()")
    path = write_entry(tmp_path, "from course.data import get_mnist", learn_run=learn_run)
    assert "loaded MNIST" in refused("data", "one-epoch", path, split)


def test_refused_loading_the_test_set(tmp_path, split):
    learn_run = LINEAR.replace("def learn_run(data):", "def learn_run(data):\n    course.data.get_mnist_test()")
    refused("data", "beat-98", write_entry(tmp_path, "import course.data", learn_run=learn_run), split)


def test_refused_feeding_other_data(tmp_path, split):
    body = """
    class Sneaky(Callback):
        def after_batch(self):
            if self.in_train and not getattr(self, 'busy', False):
                self.busy = True
                self.run.one_batch(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long))
                self.busy = False
    """
    assert "did not come from" in refused("data", "one-epoch", write_entry(tmp_path, body, cbs="[Sneaky]"), split)


def test_refused_a_learner_on_other_data(tmp_path, split):
    learn_run = LINEAR.replace("nn.functional.cross_entropy, data)", "nn.functional.cross_entropy, None)")
    refused("data", "one-epoch", write_entry(tmp_path, learn_run=learn_run), split)


@pytest.mark.parametrize("name, epochs", [("one-epoch", 2), ("tiny-batch", 2), ("beat-98", 9)])
def test_refused_more_epochs(tmp_path, split, name, epochs):
    path = write_entry(tmp_path, f"BATCH_SIZE = 2\nEPOCHS = {epochs}")
    assert f"EPOCHS = {epochs}" in refused("epochs", name, path, split)


def test_fewer_epochs_are_allowed_in_beat_98(tmp_path, split):
    record = score("beat-98", write_entry(tmp_path, "BATCH_SIZE = 8\nEPOCHS = 2"), split)
    assert record["runs"][0]["epochs"] == 2 and record["runs"][0]["steps"] == 2 * N_TRAIN // 8


def test_refused_a_second_step_per_batch(tmp_path, split):
    body = """
    class Twice(Callback):
        def after_step(self):
            self.opt.step()
    """
    assert "at most one step per batch" in refused("epochs", "one-epoch", write_entry(tmp_path, body, cbs="[Twice]"),
                                                   split)


def test_refused_an_extra_pass_over_the_training_data(tmp_path, split):
    body = """
    class Again(Callback):
        def begin_validate(self):
            with torch.enable_grad():
                self.model.train(); self.run.in_train = True
                self.run.all_batches(self.data.train_dl)
    """
    assert "more than 1 epoch" in refused("epochs", "one-epoch", write_entry(tmp_path, body, cbs="[Again]"), split)


def test_refused_another_batch_size(tmp_path, split):
    assert "BATCH_SIZE = 32" in refused("batch-size", "tiny-batch", write_entry(tmp_path, "BATCH_SIZE = 32"), split)


def test_refused_changing_the_batch_size_on_the_loader(tmp_path, split):
    learn_run = LINEAR.replace("def learn_run(data):", "def learn_run(data):\n    data.train_dl.bs = 4")
    refused("batch-size", "tiny-batch", write_entry(tmp_path, learn_run=learn_run), split)


NORMED = """
class MyNorm(nn.Module):  # any layer named like a norm counts
    def forward(self, x):
        return x
class Functional(nn.Module):  # a norm hidden in a forward
    def forward(self, x):
        return nn.functional.layer_norm(x, x.shape[1:])
def learn_run(data):
    model = nn.Sequential(LAYER, Lambda(flatten), nn.Linear(784, 10))
    return Learner(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.functional.cross_entropy, data), \\
        Runner(cb_funcs=CBS)
"""


@pytest.mark.parametrize("layer", ["nn.BatchNorm2d(1)", "nn.GroupNorm(1, 1)", "MyNorm()", "Functional()"])
def test_refused_a_norm_in_beat_98(tmp_path, split, layer):
    path = write_entry(tmp_path, "BATCH_SIZE = 4", learn_run=NORMED.replace("LAYER", layer))
    refused("no-norm", "beat-98", path, split)
    assert score("one-epoch", path, split)["valid_accuracy"]["mean"] >= 0  # allowed elsewhere


def test_refused_the_course_batchnorm_in_beat_98(tmp_path, split):
    path = write_entry(tmp_path, "BATCH_SIZE = 4\nfrom solutions.l04_norms import BatchNorm",
                       learn_run=NORMED.replace("LAYER", "BatchNorm(1)"))
    assert "BatchNorm" in refused("no-norm", "beat-98", path, split)


@pytest.mark.parametrize("opt", ["torch.optim.Adam(model.parameters())",
                                 "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)",
                                 "torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-4)"])
def test_refused_an_optimiser_the_course_has_not_built(tmp_path, split, opt):
    learn_run = LINEAR.replace("torch.optim.SGD(model.parameters(), lr=0.1)", opt)
    refused("optimiser", "one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4", learn_run=learn_run), split)


@pytest.mark.parametrize("loss", ["partial(nn.functional.cross_entropy, label_smoothing=0.1)",
                                  "nn.CrossEntropyLoss(label_smoothing=0.1)",
                                  "nn.CrossEntropyLoss(weight=torch.ones(10))",
                                  "lambda pred, y: nn.functional.cross_entropy(pred, y) * 2"])
def test_refused_a_loss_the_course_has_not_built(tmp_path, split, loss):
    learn_run = LINEAR.replace("nn.functional.cross_entropy, data", f"{loss}, data")
    refused("loss", "one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4", learn_run=learn_run), split)


def test_plain_cross_entropy_loss_module_is_accepted(tmp_path, split):
    learn_run = LINEAR.replace("nn.functional.cross_entropy, data", "nn.CrossEntropyLoss(), data")
    assert score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4", learn_run=learn_run), split)["runs"]


def test_refused_momentum_switched_on_while_training(tmp_path, split):
    path = write_entry(tmp_path, "BATCH_SIZE = 4", cbs="[partial(ParamScheduler, 'momentum', lambda pos: 0.9)]")
    assert "momentum=0.9" in refused("optimiser", "one-epoch", path, split)


def test_refused_another_runner(tmp_path, split):
    learn_run = LINEAR.replace("Runner(cb_funcs=CBS)", "object()")
    refused("runner", "one-epoch", write_entry(tmp_path, learn_run=learn_run), split)


def test_an_entry_without_learn_run_is_explained(tmp_path, split):
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


def test_every_challenge_has_a_reference_entry_and_every_result_an_entry():
    results = ch.load_results()
    for challenge in ch.CHALLENGES.values():
        assert challenge.entries(), challenge.name
        saved = {r["entry"] for r in results[challenge.name]}
        assert saved <= {p.stem for p in challenge.entries()}, f"{challenge.name}: results without an entry"


def test_smoke_the_ablation(tmp_path, split):
    """An ablation row is a tiny-batch (bs 2) or one-epoch (bs 32) run: its leaderboard lists it."""
    record = ablation.run("rbn", 2, split.head(8, 4), report=lambda *a: None)
    assert record["challenge"] == "tiny-batch" and record["row"] == "rbn" and record["runs"][0]["steps"] == 4
    ch.save(record, ablation.result_path("rbn", 2, tmp_path / "ablation"))
    page = leaderboard.fill("<!-- leaderboard tiny-batch -->\n<!-- leaderboard ablation -->", tmp_path)
    assert "[ablation: `RunningBatchNorm`, corrected](#ablation)" in page
    assert "| `RunningBatchNorm`, corrected | " in page and "| `nn.BatchNorm2d` | not run |  |" in page
    with pytest.raises(ch.EntryError, match="no ablation row"):
        ablation.entry("batchnorm", 2)


def test_leaderboard_from_saved_results(tmp_path, split):
    record = score("one-epoch", write_entry(tmp_path, "BATCH_SIZE = 4", name="mine"), split)
    ch.save(record, ch.result_path("one-epoch", "mine", tmp_path / "results"))
    markers = "<!-- leaderboard one-epoch -->\n<!-- leaderboard rules -->\n<!-- leaderboard tiny-batch -->"
    page = leaderboard.fill(markers, tmp_path / "results")
    assert "[mine](#one-epoch-mine)" in page and "| 1 |" in page
    assert "*lecture notebook: RunningBatchNorm, bs 32, sched_lin(1.0, 0.2)*" in page  # comparison rows
    assert all(f"**{rule}**" in page for rule in ch.RULES)
    assert "Reference entries without a result yet: `" in page  # tiny-batch: none saved in tmp_path
    with pytest.raises(leaderboard.LeaderboardError, match="names no challenge"):
        leaderboard.fill("<!-- leaderboard one-epoch-typo -->", tmp_path)


def test_the_challenges_page_has_every_marker():
    page = (ch.ROOT / "docs" / "challenges.md").read_text()
    for name in [*ch.CHALLENGES, "ablation", "rules"]:
        assert f"<!-- leaderboard {name} -->" in page


def test_the_command_line_names_the_broken_rule(tmp_path, split, monkeypatch, capsys):
    from course.challenges.__main__ import main
    monkeypatch.setattr(ch, "mnist_split", lambda: split)
    monkeypatch.setattr(ch, "RESULTS", tmp_path / "results")
    assert main(["run", "tiny-batch", str(write_entry(tmp_path, "BATCH_SIZE = 8")), "--seeds", "0"]) == 3
    assert "error: refused, rule 'batch-size'" in capsys.readouterr().err
    assert main(["run", "one-epoch", str(tmp_path / "missing.py")]) == 2
    assert "no entry file" in capsys.readouterr().err
    assert main(["run", "one-epoch", str(write_entry(tmp_path, "BATCH_SIZE = 8")), "--seeds", "0", "1", "--jobs", "2",
                 "--no-save"]) == 0
    assert "over seeds [0, 1]" in capsys.readouterr().out and not (tmp_path / "results").exists()
