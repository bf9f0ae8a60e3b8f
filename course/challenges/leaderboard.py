"""The Challenges page's tables, built from the committed results at site build time.

docs/challenges.md holds a marker where each table goes: `<!-- leaderboard NAME -->` for challenge
NAME's leaderboard, `<!-- leaderboard ablation -->` for the normalisation ablation,
`<!-- leaderboard rules -->` for the list of rules the challenge runner checks. The site hooks
(course/site_hooks.py) call `fill` on every hand-written page.
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
    """The leaderboard of one challenge: its entries and the ablation's runs under its rules
    (`ablated`), ranked by mean validation accuracy (what entries compete on), with the test accuracy
    (the final score) beside it and the lecture's and its notebook's published numbers in between
    (not ranked); records over other seeds than the standard ones after them, unranked; then each
    entry's notes."""
    rows = [(r["valid_accuracy"]["mean"], r) for r in [*records, *ablated] if ranked(r)]
    rows += [(ref.accuracy, ref) for ref in challenge.references]
    rows.sort(key=lambda row: -row[0])
    rows += [(r["valid_accuracy"]["mean"], r) for r in [*records, *ablated] if not ranked(r)]
    out = ["| # | Entry | Validation, mean ± std | Min - max | Test, mean ± std | Seconds per run | Seeds |",
           "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    rank = 0
    for _, row in rows:
        if isinstance(row, ch.Reference):
            out.append(f"| | *{row.source}: {row.recipe}* | *{_pct(row.accuracy)}* | | | | *one run* |")
            continue
        rank += ranked(row)
        n = len(row["seeds"])
        acc = row["valid_accuracy"]
        link = (f"ablation: {ablation.ROWS[row['row']].label}](#ablation" if "row" in row
                else f"{row['entry']}](#{challenge.name}-{row['entry']}")
        out.append(f"| {rank if ranked(row) else '–'} | [{link}) | {_accuracy(acc, n)} | "
                   f"{_pct(acc['min'])} - {_pct(acc['max'])} | {_accuracy(row['test_accuracy'], n)} | "
                   f"{row['train_seconds']['mean']:.0f} | {', '.join(map(str, row['seeds']))} |")
    unscored = sorted({p.stem for p in challenge.entries()} - {r["entry"] for r in records})
    if unscored:
        out += ["", f"*Reference entries without a result yet: {', '.join(f'`{e}`' for e in unscored)} "
                    f"(`make challenge NAME={challenge.name}` scores them).*"]
    elif not records and not ablated:
        out += ["", "*No result yet: run `make challenge NAME=" + challenge.name + "`.*"]
    for r in records:
        course = r.get("course") or {}
        made = (f"course commit `{course['commit'][:10]}`{'' if course.get('clean') else ' (with local changes)'}"
                if course.get("commit") else "course commit not recorded")
        out += ["", f"### {r['entry']} {{ #{challenge.name}-{r['entry']} }}", "", f"**{r['summary']}**", "",
                r["description"] or "", "",
                f"<small>`{r['source']}`, batch size {r['runs'][0]['batch_size']}, {r['runs'][0]['epochs']} "
                f"epoch(s), {r['runs'][0]['steps']} steps; per seed: "
                + ", ".join(f"{run['seed']}: {_pct(run['valid_accuracy'])} in {run['train_seconds']:.1f} s"
                            + (f" (load {run['load_average']})" if "load_average" in run else "")
                            for run in r["runs"])
                + f"; {ch.trained_on(r)} of {r['hardware']['cpu_count']} CPUs, torch {r['versions']['torch']}, "
                f"Python {r['versions']['python']}, {made}, {r['date'][:10]}; "
                + ("test set scored" if r["test_accuracy"] else "test set not scored: trained before the judge "
                   "scored it, and not rerun since") + ".</small>"]
    return "\n".join(out)


def ablation_markdown(records: dict[tuple[str, int], dict]) -> str:
    """The ablation's table: one row per normalisation layer, one column pair per batch size."""
    sizes = sorted({bs for _, bs in records})
    if not records:
        return "*No ablation result yet: run `make ablation`.*"
    head = "| Normalisation | " + " | ".join(f"bs {bs}: validation | bs {bs}: s/run" for bs in sizes) + " |"
    out = [head, "| --- |" + " ---: | ---: |" * len(sizes)]
    for row, spec in ablation.ROWS.items():
        cells = []
        for bs in sizes:
            r = records.get((row, bs))
            cells += (["not run", ""] if r is None else
                      [_accuracy(r["valid_accuracy"], len(r["seeds"])), f"{r['train_seconds']['mean']:.0f}"])
        out.append(f"| {spec.label} | " + " | ".join(cells) + " |")
    seeds = sorted({s for r in records.values() for s in r["seeds"]})
    some = next(iter(records.values()))
    out += ["", f"<small>Seeds {', '.join(map(str, seeds))}; {ch.trained_on(some)}, torch {some['versions']['torch']}, "
                f"{some['date'][:10]}.</small>"]
    return "\n".join(out)
