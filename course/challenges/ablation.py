"""The normalisation ablation: one epoch of the same network with each normalisation layer, at batch
size 2 (under tiny-batch's rules) and 32 (under one-epoch's).

The network is the lecture notebook's (`norm_layer`, the same layer as lesson 04's `conv_layer`): five
stride-2 convolutions, nfs [8, 16, 32, 64, 64], each followed by a ReLU and then the row's
normalisation layer (the convolution has no bias when a norm follows), Kaiming init. The learning
rate is the notebook's for each batch size: a
constant 0.4 at batch size 2, `sched_lin(1.0, 0.2)` at 32: the rows `batchnorm2d` and `rbn` at batch
size 2 follow the notebook's tiny-batch experiments, and `rbn` at 32 its one-epoch recipe. `rbn-lecture`
is lesson 04's reading of the debiasing the lecture describes in words (its code is not published).

    python -m course.challenges ablation [ROW ...] [--bs 2 32] [--seeds 0]   # make ablation
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from torch import nn

from course import challenges as ch
from solutions import l03_cnn_hooks as l03
from solutions import l04_norms as l04
from solutions import l04_variants

SCHEDULES = {2: l03.sched_no(0.4, 0.4), 32: l03.sched_lin(1.0, 0.2)}


@dataclass(frozen=True)
class Row:
    label: str
    norm: object  # nf -> normalisation module, or None: no normalisation


ROWS = {
    "none": Row("no normalisation", None),
    "batchnorm2d": Row("`nn.BatchNorm2d`", nn.BatchNorm2d),
    "batchnorm2d-eps0.1": Row("`nn.BatchNorm2d(eps=0.1)`", partial(nn.BatchNorm2d, eps=0.1)),
    "groupnorm": Row("`GroupNorm`, 4 groups", partial(l04.GroupNorm, 4)),
    "layernorm": Row("`LayerNorm`", l04.layer_norm),
    "instancenorm": Row("`InstanceNorm`", l04.InstanceNorm),
    "rbn-lecture": Row("`RunningBatchNorm`, debiasing as the lecture describes it",
                       l04_variants.TranscriptRunningBatchNorm),
    "rbn": Row("`RunningBatchNorm`, corrected", l04.RunningBatchNorm),
}
RESULTS = ch.RESULTS / "ablation"


def norm_layer(norm, ni: int, nf: int, ks: int = 3, stride: int = 2, **kwargs) -> nn.Sequential:
    """Lesson 03's conv_layer, then `norm(nf)` (None: no norm); the convolution's bias goes, as the
    norm adds one. The same layer as lesson 04's `conv_layer(..., norm=norm)`, built the way the
    committed results were made (the first convolution it makes, then replaces, draws random
    numbers: switching to lesson 04's would change every seed's run)."""
    layer = l03.conv_layer(ni, nf, ks, stride, **kwargs)
    if norm is None:
        return layer
    layer[0] = nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride, bias=False)
    return nn.Sequential(*layer, norm(nf))


def learn_run(row: str, bs: int, data):
    """The row's network and schedule at batch size `bs`, on `data`: (learn, run)."""
    sched = partial(l03.ParamScheduler, "lr", SCHEDULES[bs])
    return l03.get_learn_run(l04.NFS, data, 0.4, partial(norm_layer, ROWS[row].norm), cbs=[sched])


def entry(row: str, bs: int) -> ch.Entry:
    """The row at batch size `bs` as a challenge entry."""
    if row not in ROWS:
        raise ch.EntryError(f"no ablation row {row!r}; the rows are {', '.join(ROWS)}")
    if bs not in SCHEDULES:
        raise ch.EntryError(f"the ablation runs at batch sizes {', '.join(map(str, SCHEDULES))}, not {bs}")
    module = types.ModuleType(f"ablation_{row}_bs{bs}", f"{ROWS[row].label} at batch size {bs}.")
    module.BATCH_SIZE, module.learn_run = bs, partial(learn_run, row, bs)
    return ch.Entry(f"{row}-bs{bs}", module, Path(__file__))


def challenge(bs: int) -> ch.Challenge:
    return ch.CHALLENGES["tiny-batch" if bs == 2 else "one-epoch"]


def run(row: str, bs: int, split: ch.Split, seeds=(0,), report=print, jobs: int = 1) -> dict:
    """Score one row at one batch size (the record `course.challenges.score` makes, plus the row)."""
    if row not in ROWS or bs not in SCHEDULES:
        entry(row, bs)  # says what is wrong
    record = ch.score(challenge(bs), ("ablation", row, bs), split, seeds=seeds, report=report, jobs=jobs)
    return record | {"row": row, "batch_size": bs}


def result_path(row: str, bs: int, results=RESULTS) -> Path:
    return Path(results) / f"{row}-bs{bs}.json"


def load_results(results=ch.RESULTS) -> dict[tuple[str, int], dict]:
    """The saved ablation records by (row, batch size)."""
    records = [json.loads(p.read_text()) for p in sorted((Path(results) / "ablation").glob("*.json"))]
    return {(r["row"], r["batch_size"]): r for r in records}


def describe(record: dict) -> str:
    return f"ablation {record['row']} at bs {record['batch_size']}: " + ch.describe(record).partition(": ")[2]

