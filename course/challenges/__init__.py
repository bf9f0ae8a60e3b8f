"""The lecture's three toy problems as contests: rules in code, fixed seeds, results as JSON.

An entry is a Python file that defines `learn_run(data) -> (learn, run)` (optional: `BATCH_SIZE`,
`EPOCHS`). Each seed runs in a fresh process (`judge.py`) that holds a copy of the training images
and nothing else, fenced in by an audit hook; the judge there feeds the batches, computes the loss
and makes the SGD step. This process, which never imports the entry, scores the TorchScript model
it sends back. A broken rule is a `RuleViolation` that names it (`RULES`) and says what happened.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import hashlib
import io
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import secrets
import statistics
import subprocess
import types
import warnings
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import course.data
from course import threads
from course.paths import ROOT

ENTRIES = Path(__file__).resolve().parent / "entries"
RESULTS = ENTRIES.parent / "results"
SEEDS = (0, 1, 2)
EVAL_BS = 1000
INDEPENDENCE_ITEMS = 32  # images the judge also scores one at a time

RULES = {
    "data": "the entry learns only from the training batches the judge feeds it, each once per epoch: it "
            "never opens MNIST's files, iterates the data itself or replaces a batch",
    "sandbox": "the entry's code stays inside its process: it writes no file, starts no process or thread, "
               "opens no socket, and does not reach into the judge (stack frames, the garbage collector's "
               "object lists, ctypes, tracers, signal handlers)",
    "epochs": "the entry trains for the challenge's number of epochs",
    "batch-size": "the entry trains at the challenge's batch size, where the challenge fixes one",
    "steps": "the parameters change only through the judge's optimiser step, one per training batch, with the "
             "gradient of that batch's loss (no gradient hooks on the parameters)",
    "optimiser": "plain SGD: torch.optim.SGD without momentum, weight decay, dampening, nesterov or "
                 "maximize (the judge makes the step itself, with the entry's learning rate)",
    "loss": "plain cross-entropy: F.cross_entropy, lesson 01's cross_entropy, or nn.CrossEntropyLoss "
            "without label smoothing or class weights (the judge computes it itself)",
    "no-norm": "beat-98: the model does not normalise; a probe scales the input, each module's output and "
               "each module's parameters by 2 on a few training images, before and after training: when "
               "the logits do not move, something normalised",
    "eval": "the judge evaluates the model in eval mode, each image on its own: its prediction for an "
            "image does not depend on the other images of the batch",
    "runner": "learn_run returns a course Learner built on its `data` argument and a course Runner",
}


class RuleViolation(Exception):
    """An entry broke a challenge rule; `rule` is its key in `RULES`."""

    def __init__(self, rule: str, detail: str):
        self.rule, self.detail = rule, detail
        super().__init__(f"refused, rule '{rule}': {detail} ({RULES[rule]})")


class EntryError(Exception):
    """An entry that cannot be used (missing, no `learn_run`, an error while it trained...)."""


Reference = namedtuple("Reference", "source recipe accuracy")  # a published number, not ranked


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


@dataclass
class Split:
    """Images (N, 1, 28, 28) float32 and labels (N,) int64; the test set may be None."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    def head(self, n_train: int, n_valid: int) -> Split:
        """The first images of the training and validation sets, no test set: a quick smoke run."""
        return Split(self.x_train[:n_train], self.y_train[:n_train], self.x_valid[:n_valid], self.y_valid[:n_valid])


def mnist_split(data_dir=None, test: bool = True) -> Split:
    """The course's split of MNIST and, with `test`, the official test set (`course.data` fetches both)."""
    x_train, y_train, x_valid, y_valid = course.data.get_mnist(data_dir)
    split = Split(x_train.view(-1, 1, 28, 28), y_train, x_valid.view(-1, 1, 28, 28), y_valid)
    if test:
        x_test, split.y_test = course.data.get_mnist_test(data_dir)
        split.x_test = x_test.view(-1, 1, 28, 28)
    return split


def data_dirs(data_dir=None) -> list[str]:
    """The folders an entry may not open: where MNIST is, and the loader's default cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "callbacks-to-norms"
    return sorted(os.path.realpath(f) for f in {course.data.resolve_data_dir(data_dir), cache})


# an entry: its name, its module (`learn_run`, `BATCH_SIZE`, `EPOCHS`, a docstring) and its file
Entry = namedtuple("Entry", "name module source")


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


def load_entry(spec) -> Entry:
    """Import an entry (a file's path, or ["ablation", row, batch size]): only the seed process does."""
    if isinstance(spec, list):
        from course.challenges import ablation
        return ablation.entry(*spec[1:])
    import importlib.util
    path = Path(spec)
    module_spec = importlib.util.spec_from_file_location(f"challenge_entry_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not callable(getattr(module, "learn_run", None)):
        raise EntryError(f"{path} defines no function learn_run(data) -> (learn, run): the judge calls it to get "
                         "the Learner and Runner it trains")
    return Entry(path.stem, module, path)


def describe_entry(spec) -> Entry:
    """The entry's name, docstring and file, read with `ast`: its code does not run here."""
    if isinstance(spec, list):
        return load_entry(spec)  # an ablation row: the course's own code
    path = Path(spec)
    try:
        doc = ast.get_docstring(ast.parse(path.read_bytes()))
    except (OSError, SyntaxError, ValueError) as e:
        raise EntryError(f"cannot read the entry {path}: {e}") from None
    return Entry(path.stem, types.SimpleNamespace(__doc__=doc), path)


def settings(challenge: Challenge, entry: Entry) -> tuple[int, int]:
    """(batch size, epochs) the entry trains with; refuses what the challenge's rules forbid."""
    bs = getattr(entry.module, "BATCH_SIZE", challenge.batch_size or 64)
    if not isinstance(bs, int) or bs < 1:
        raise EntryError(f"{entry.source}: BATCH_SIZE must be a positive int, got {bs!r}")
    if challenge.batch_size is not None and bs != challenge.batch_size:
        raise RuleViolation("batch-size", f"{challenge.name} trains at batch size {challenge.batch_size}; "
                                          f"the entry asks for BATCH_SIZE = {bs}")
    epochs = getattr(entry.module, "EPOCHS", challenge.epochs)
    if not isinstance(epochs, int) or epochs < 1:
        raise EntryError(f"{entry.source}: EPOCHS must be a positive int, got {epochs!r}")
    if epochs > challenge.epochs or (epochs != challenge.epochs and not challenge.max_epochs):
        allowed = f"at most {challenge.epochs}" if challenge.max_epochs else f"exactly {challenge.epochs}"
        raise RuleViolation("epochs", f"{challenge.name} trains for {allowed} epoch(s); the entry asks for "
                                      f"EPOCHS = {epochs}")
    return bs, epochs


def run_seeds(challenge: Challenge, spec, x_train: torch.Tensor, y_train: torch.Tensor, seeds, jobs: int,
              n_threads: int):
    """Yield (seed, header, model bytes) for each seed as it finishes, `jobs` at a time, each in a
    fresh process (forked from a server that imported only the judge); every process is ended when
    this generator is (normally, on an error, on Ctrl-C)."""
    from course.challenges import judge
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["course.challenges.judge"])
    else:
        ctx = multiprocessing.get_context("spawn")
    todo, running = list(seeds), {}
    x, y = x_train.numpy().copy(), y_train.numpy().copy()  # a fresh array: no view of anything larger
    try:
        while todo or running:
            while todo and len(running) < max(1, jobs):
                seed, (here, there) = todo.pop(0), ctx.Pipe()
                process = ctx.Process(target=judge.main, args=(there,), daemon=True)
                process.start()
                there.close()
                running[here] = (seed, process, secrets.token_hex(16))
                with contextlib.suppress(OSError):  # a process that died at start: _receive says so
                    here.send({"challenge": challenge.name, "spec": spec, "seed": seed, "x": x, "y": y,
                               "token": running[here][2], "threads": n_threads, "data_dirs": data_dirs()})
            for conn in multiprocessing.connection.wait(list(running)):
                seed, process, token = running.pop(conn)
                yield seed, *_receive(conn, process, token)
    finally:
        for conn, (_, process, _) in running.items():
            process.kill()
            process.join()
            conn.close()


def _receive(conn, process, token: str) -> tuple[dict, bytes]:
    """The seed process's two messages, read as JSON and bytes (never unpickled), and its exit."""
    try:
        header, model = json.loads(conn.recv_bytes()), conn.recv_bytes()
    except (EOFError, OSError, ValueError):
        header, model = None, b""
    process.join()
    conn.close()
    if not isinstance(header, dict):
        code = process.exitcode
        why = (f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "") if code and code < 0
               else f"exit code {code}")
        return {"error": f"the seed's process ended without a result ({why})"}, b""
    if "refused" not in header and "error" not in header and header.get("token") != token:
        return {"refused": "sandbox", "detail": "a result the judge did not write reached the judge"}, b""
    return header, model


@torch.no_grad()
def evaluate(model_bytes: bytes, split: Split, norms_allowed: bool) -> dict:
    """Score the TorchScript model (eval mode, on the CPU, the judge's code): valid and test accuracy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript: loads without the entry's code
        model = torch.jit.load(io.BytesIO(model_bytes), map_location="cpu").eval()
    x = split.x_valid[:INDEPENDENCE_ITEMS]
    together = model(x)
    alone = torch.cat([model(x[i:i + 1]) for i in range(len(x))])
    if not torch.allclose(together, alone, rtol=1e-4, atol=1e-4 * together.nan_to_num().abs().max().item(),
                          equal_nan=True):  # a diverged run is scored, not refused
        raise RuleViolation("eval", "the logits of an image change with the other images of its batch "
                                    "(batch statistics at evaluation?)")
    if not norms_allowed and (model(2 * x) - together).abs().max() <= 1e-3 * together.abs().max():
        raise RuleViolation("no-norm", "in eval mode, scaling the input images by 2 leaves the logits where they "
                                       "were: the model normalises")
    return {"valid_accuracy": accuracy(model, split.x_valid, split.y_valid),
            "test_accuracy": None if split.x_test is None else accuracy(model, split.x_test, split.y_test)}


def accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = sum((model(x[i:i + EVAL_BS]).argmax(dim=1) == y[i:i + EVAL_BS]).sum().item()
                  for i in range(0, len(x), EVAL_BS))
    return correct / len(x)


def score(challenge: Challenge, entry, split: Split, seeds=SEEDS, report=print, jobs: int = 1,
          n_threads: int | None = None) -> dict:
    """Run an entry (a file, or ("ablation", row, bs)) once per seed, each in a fresh process, and
    score each trained model here: its result record. Each seed is reported as it finishes; a seed
    that fails is reported and left out (the record lists it), a broken rule refuses the entry."""
    n_threads, course = threads.configure(n_threads), course_commit()  # the code the seeds run
    spec = list(entry) if isinstance(entry, tuple) else str(Path(entry).resolve())
    info, runs, failed = describe_entry(spec), [], {}
    for seed, header, model in run_seeds(challenge, spec, split.x_train, split.y_train, seeds, jobs, n_threads):
        if "refused" in header:
            rule = header["refused"] if header["refused"] in RULES else "sandbox"  # the entry may send one
            raise RuleViolation(rule, f"seed {seed}: {header.get('detail')}")
        if "error" in header:
            failed[seed] = header["error"]
            report(f"  {challenge.name} / {info.name}, seed {seed} failed: {header['error']}")
            continue
        try:
            scores = evaluate(model, split, challenge.norms_allowed)
        except RuleViolation as e:
            raise RuleViolation(e.rule, f"seed {seed}: {e.detail}") from None
        keys = ("batch_size", "epochs", "steps", "device", "train_seconds", "total_seconds")
        runs.append({"seed": seed, **{k: header[k] for k in keys}, **scores,
                     "load_average": round(os.getloadavg()[0], 1)})
        report(f"  {challenge.name} / {info.name}, seed {seed}: valid {runs[-1]['valid_accuracy']:.4f} "
               f"in {runs[-1]['train_seconds']:.1f} s")
    if not runs:
        raise EntryError(f"no seed of {info.name} finished:\n" + "\n".join(f"seed {s}: {m}" for s, m in failed.items()))
    runs.sort(key=lambda r: r["seed"])
    tested, source = split.x_test is not None, Path(info.source).resolve()
    doc = (info.module.__doc__ or "").strip()  # its first paragraph is the summary, the rest the description
    return {
        "challenge": challenge.name, "entry": info.name,
        "source": source.relative_to(ROOT).as_posix() if source.is_relative_to(ROOT) else str(source),
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "summary": doc.split("\n\n")[0].replace("\n", " ").strip(), "description": doc.partition("\n\n")[2].strip(),
        "seeds": [r["seed"] for r in runs], "standard_seeds": [r["seed"] for r in runs] == list(SEEDS),
        "failed_seeds": {str(s): m for s, m in failed.items()}, "runs": runs,
        "valid_accuracy": spread([r["valid_accuracy"] for r in runs]),
        "test_accuracy": spread([r["test_accuracy"] for r in runs]) if tested else None,
        "test_set": "scored" if tested else "not scored",
        "train_seconds": spread([r["train_seconds"] for r in runs]),
        "n_train": len(split.x_train), "n_valid": len(split.x_valid), "n_test": len(split.x_test) if tested else 0,
        "hardware": hardware() | {"torch_threads": n_threads},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "course": course, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def hardware() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.partition(":")[2].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "platform": platform.platform()}


def course_commit() -> dict:
    """The course's git commit and whether its tracked files were unchanged (the library code matters too)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD") or None,
                "clean": git("status", "--porcelain", "--untracked-files=no") == ""}
    except OSError:  # no git
        return {"commit": None, "clean": None}


def result_path(challenge: str, entry: str | Path, results=RESULTS) -> Path:
    """results/<challenge>/<name>.json for a reference entry (a file in entries/<challenge>/, or a
    name); <name>.<challenge>.json next to any other entry's file, never among the reference results."""
    path = Path(entry)
    if path.suffix == ".py" and path.resolve().parent != (ENTRIES / challenge).resolve():
        return path.with_name(f"{path.stem}.{challenge}.json")
    return Path(results) / challenge / f"{path.stem}.json"


def save(record: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_results(results=RESULTS) -> dict[str, list[dict]]:
    """Every challenge's saved records, best mean validation accuracy first."""
    return {name: sorted((json.loads(p.read_text()) for p in sorted((Path(results) / name).glob("*.json"))),
                         key=lambda r: -r["valid_accuracy"]["mean"]) for name in CHALLENGES}


def trained_on(record: dict) -> str:
    """The GPU's name if the runs trained on one, else the CPU and its threads."""
    hw = record["hardware"]
    if hw.get("gpu") and any(run.get("device", "cpu") != "cpu" for run in record["runs"]):
        return hw["gpu"]
    return f"{hw['cpu']}, {hw['torch_threads']} thread{'s' if hw['torch_threads'] != 1 else ''}"


def describe(record: dict, test: bool = True) -> str:
    """One line: validation over the seeds, with `test` the test accuracy (never on a smoke run)."""
    acc, what = record["valid_accuracy"], record.get("row", record["entry"])
    what = f"ablation {what} at bs {record['batch_size']}" if "row" in record else f"{record['challenge']} / {what}"
    scored = f"; test {record['test_accuracy']['mean']:.4f}" if test and record["test_accuracy"] else ""
    return (f"{what}: valid {acc['mean']:.4f} ± {acc['std']:.4f} "
            f"(min {acc['min']:.4f}, max {acc['max']:.4f}) over seeds {record['seeds']}{scored}; "
            f"{record['train_seconds']['mean']:.1f} s per run ({trained_on(record)})")
