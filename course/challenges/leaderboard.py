"""The Challenges page's tables, from the committed results, at site build time (`course/site_hooks.py`).

docs/challenges.md marks where each goes: `<!-- leaderboard NAME -->` for challenge NAME's table,
`<!-- leaderboard ablation -->` for the normalisation ablation, `<!-- leaderboard rules -->` for the rules.
"""

from __future__ import annotations

import re

from course import challenges as ch
from course.challenges import ablation

MARKER = re.compile(r"<!-- leaderboard ([\w-]+) -->")


class LeaderboardError(ValueError):
    """A marker that names no challenge."""


def fill(markdown: str, results=ch.RESULTS) -> str:
    """`markdown` with every leaderboard marker replaced by its table."""
    if not MARKER.search(markdown):
        return markdown
    records, rows = ch.load_results(results), ablation.load_results(results)

    def table(match: re.Match) -> str:
        name = match.group(1)
        if name == "rules":
            return "\n".join(f"- **{rule}**: {text}." for rule, text in ch.RULES.items())
        if name == "ablation":
            return ablation_markdown(rows)
        if name not in ch.CHALLENGES:
            raise LeaderboardError(f"marker {match.group(0)} names no challenge; the challenges are "
                                   f"{', '.join(ch.CHALLENGES)} (and 'ablation', 'rules')")
        return challenge_markdown(ch.CHALLENGES[name], records[name],
                                  [r for r in rows.values() if r["challenge"] == name])
    return MARKER.sub(table, markdown)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _accuracy(stats: dict | None, seeds: int) -> str:
    if stats is None:
        return "not scored"
    return _pct(stats["mean"]) + (f" ± {100 * stats['std']:.2f}" if seeds > 1 else "")


def ranked(record: dict) -> bool:
    """Only records over the standard seeds compete; others are listed below them."""
    return record.get("standard_seeds", record["seeds"] == list(ch.SEEDS))


def challenge_markdown(challenge: ch.Challenge, records: list[dict], ablated: list[dict] = ()) -> str:
    """One challenge's entries and ablation rows, ranked by mean validation accuracy with the test
    accuracy beside it and the published numbers in between (not ranked), records over other seeds
    after them (unranked), then each entry's notes."""
    rows = sorted([*[r for r in [*records, *ablated] if ranked(r)], *challenge.references],
                  key=lambda r: -(r.accuracy if isinstance(r, ch.Reference) else r["valid_accuracy"]["mean"]))
    out = ["| # | Entry | Validation, mean ± std | Min - max | Test, mean ± std | Seconds per run | Seeds |",
           "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    rank = 0
    for row in rows + [r for r in [*records, *ablated] if not ranked(r)]:
        if isinstance(row, ch.Reference):
            out.append(f"| | *{row.source}: {row.recipe}* | *{_pct(row.accuracy)}* | | | | *one run* |")
            continue
        rank += ranked(row)
        n, acc = len(row["seeds"]), row["valid_accuracy"]
        link = (f"ablation: {ablation.ROWS[row['row']][0]}](#ablation" if "row" in row
                else f"{row['entry']}](#{challenge.name}-{row['entry']}")
        out.append(f"| {rank if ranked(row) else '–'} | [{link}) | {_accuracy(acc, n)} | "
                   f"{_pct(acc['min'])} - {_pct(acc['max'])} | {_accuracy(row['test_accuracy'], n)} | "
                   f"{row['train_seconds']['mean']:.0f} | {', '.join(map(str, row['seeds']))} |")
    unscored = sorted({p.stem for p in challenge.entries()} - {r["entry"] for r in records})
    if unscored:
        out += ["", f"*Reference entries without a result yet: {', '.join(f'`{e}`' for e in unscored)} "
                    f"(`make challenge NAME={challenge.name}` scores them).*"]
    elif not records and not ablated:
        out += ["", f"*No result yet: run `make challenge NAME={challenge.name}`.*"]
    for r in records:
        course, first = r.get("course") or {}, r["runs"][0]
        made = (f"course commit `{course['commit'][:10]}`{'' if course.get('clean') else ' (with local changes)'}"
                if course.get("commit") else "course commit not recorded")
        seeds = ", ".join(f"{run['seed']}: {_pct(run['valid_accuracy'])} in {run['train_seconds']:.1f} s"
                          + (f" (load average {run['load_average']})" if "load_average" in run else "")
                          for run in r["runs"])
        out += ["", f"### {r['entry']} {{ #{challenge.name}-{r['entry']} }}", "", f"**{r['summary']}**", "",
                r["description"] or "", "",
                f"<small>`{r['source']}`, batch size {first['batch_size']}, {first['epochs']} epoch(s), "
                f"{first['steps']} steps; per seed: {seeds}; {ch.trained_on(r)} of {r['hardware']['cpu_count']} "
                f"CPUs, torch {r['versions']['torch']}, Python {r['versions']['python']}, {made}, {r['date'][:10]}; "
                + ("test set scored" if r["test_accuracy"] else "test set not scored") + ".</small>"]
    return "\n".join(out)


def ablation_markdown(records: dict[tuple[str, int], dict]) -> str:
    """One row per normalisation layer, a column pair per batch size."""
    if not records:
        return "*No ablation result yet: run `make ablation`.*"
    sizes = sorted({bs for _, bs in records})
    out = ["| Normalisation | " + " | ".join(f"bs {bs}: validation | bs {bs}: s/run" for bs in sizes) + " |",
           "| --- |" + " ---: | ---: |" * len(sizes)]
    for row, (label, _) in ablation.ROWS.items():
        cells = [["not run", ""] if (row, bs) not in records else
                 [_accuracy(records[row, bs]["valid_accuracy"], len(records[row, bs]["seeds"])),
                  f"{records[row, bs]['train_seconds']['mean']:.0f}"] for bs in sizes]
        out.append(f"| {label} | " + " | ".join(c for pair in cells for c in pair) + " |")
    seeds, some = sorted({s for r in records.values() for s in r["seeds"]}), next(iter(records.values()))
    return "\n".join([*out, "", f"<small>Seeds {', '.join(map(str, seeds))}; {ch.trained_on(some)}, "
                                f"torch {some['versions']['torch']}, {some['date'][:10]}.</small>"])
