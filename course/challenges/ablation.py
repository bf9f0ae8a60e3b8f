"""The normalisation ablation: one epoch of the lecture notebook's network with each normalisation
layer, at batch size 2 (tiny-batch's rules, a constant lr 0.4) and 32 (one-epoch's, `sched_lin(1.0,
0.2)`): five stride-2 convolutions, nfs [8, 16, 32, 64, 64], each with a ReLU and the row's layer.
`rbn-lecture` is lesson 04's reading of the debiasing the lecture describes in words.

    python -m course.challenges ablation [ROW ...] [--bs 2 32] [--seeds 0]   # make ablation
"""

from __future__ import annotations

import json
import types
from functools import partial
from pathlib import Path

from torch import nn

from course import challenges as ch
from solutions import l03_cnn_hooks as l03
from solutions import l04_norms as l04
from solutions import l04_variants

SCHEDULES = {2: l03.sched_no(0.4, 0.4), 32: l03.sched_lin(1.0, 0.2)}
ROWS = {  # name: (label, nf -> normalisation module, or None)
    "none": ("no normalisation", None),
    "batchnorm2d": ("`nn.BatchNorm2d`", nn.BatchNorm2d),
    "batchnorm2d-eps0.1": ("`nn.BatchNorm2d(eps=0.1)`", partial(nn.BatchNorm2d, eps=0.1)),
    "groupnorm": ("`GroupNorm`, 4 groups", partial(l04.GroupNorm, 4)),
    "layernorm": ("`LayerNorm`", l04.layer_norm),
    "instancenorm": ("`InstanceNorm`", l04.InstanceNorm),
    "rbn-lecture": ("`RunningBatchNorm`, debiasing as the lecture describes it",
                    l04_variants.TranscriptRunningBatchNorm),
    "rbn": ("`RunningBatchNorm`, corrected", l04.RunningBatchNorm),
}
RESULTS = ch.RESULTS / "ablation"


def norm_layer(norm, ni: int, nf: int, ks: int = 3, stride: int = 2, **kwargs) -> nn.Sequential:
    """Lesson 03's conv_layer, then `norm(nf)` with a bias-free convolution. Lesson 04's `conv_layer(...,
    norm=norm)` draws its random numbers in another order: the committed results were made with this one."""
    layer = l03.conv_layer(ni, nf, ks, stride, **kwargs)
    if norm is None:
        return layer
    layer[0] = nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride, bias=False)
    return nn.Sequential(*layer, norm(nf))


def learn_run(row: str, bs: int, data):
    sched = partial(l03.ParamScheduler, "lr", SCHEDULES[bs])
    return l03.get_learn_run(l04.NFS, data, 0.4, partial(norm_layer, ROWS[row][1]), cbs=[sched])


def entry(row: str, bs: int) -> ch.Entry:
    """The row at batch size `bs` as a challenge entry."""
    if row not in ROWS:
        raise ch.EntryError(f"no ablation row {row!r}; the rows are {', '.join(ROWS)}")
    if bs not in SCHEDULES:
        raise ch.EntryError(f"the ablation runs at batch sizes {', '.join(map(str, SCHEDULES))}, not {bs}")
    module = types.ModuleType(f"ablation_{row}_bs{bs}", f"{ROWS[row][0]} at batch size {bs}.")
    module.BATCH_SIZE, module.learn_run = bs, partial(learn_run, row, bs)
    return ch.Entry(f"{row}-bs{bs}", module, Path(__file__))


def run(row: str, bs: int, split: ch.Split, seeds=(0,), report=print, jobs: int = 1) -> dict:
    """Score one row at one batch size, under tiny-batch's rules at 2 and one-epoch's at 32."""
    entry(row, bs)  # says what is wrong
    challenge = ch.CHALLENGES["tiny-batch" if bs == 2 else "one-epoch"]
    record = ch.score(challenge, ("ablation", row, bs), split, seeds=seeds, report=report, jobs=jobs)
    return record | {"row": row, "batch_size": bs}


def result_path(row: str, bs: int, results=RESULTS) -> Path:
    return Path(results) / f"{row}-bs{bs}.json"


def load_results(results=ch.RESULTS) -> dict[tuple[str, int], dict]:
    """The saved ablation records by (row, batch size)."""
    records = [json.loads(p.read_text()) for p in sorted((Path(results) / "ablation").glob("*.json"))]
    return {(r["row"], r["batch_size"]): r for r in records}
