"""`python -m course.challenges run|ablation` (`make challenge NAME=... [ENTRY=...] [ARGS=...]`, `make ablation`)."""

from __future__ import annotations

import argparse
import sys
from functools import partial

from course import challenges as ch
from course.data import MNISTError

SMOKE = (1000, 500)  # --smoke: train on the first 1,000 images, validate on the first 500

ENTRY_HELP = f"""\
An entry is a Python file that defines
  learn_run(data) -> (learn, run)  a course Learner built on `data` (a DataBunch with the sizes of the
                                   training set and no images) and a course Runner with the entry's
                                   callbacks, e.g. solutions.l03_cnn_hooks.get_runner(model, data, lr, cbs)
  BATCH_SIZE = 64                  optional (tiny-batch fixes 2)
  EPOCHS = 8                       optional, beat-98 only (at most 8)
and a docstring: its first paragraph is the leaderboard's summary, the rest its description.

Each seed trains in a fresh process; the judge feeds the batches, computes the loss and makes the
SGD step itself. To train on a GPU, add solutions.l03_cnn_hooks.DeviceCallback to the callbacks.
Default seeds: {' '.join(map(str, ch.SEEDS))}. Results: a reference entry's (a file in
course/challenges/entries/<challenge>/) go to course/challenges/results/<challenge>/<name>.json;
any other entry's next to its file, as <name>.<challenge>.json. A smoke run saves nothing and
scores no test set. Exit status: 0 scored, 1 some seed failed (the others are saved), 2 unusable
entry or data, 3 refused (a rule broken).

The challenges:
""" + "\n".join(f"  {c.name}: {c.goal}" for c in ch.CHALLENGES.values()) + "\n\nThe rules (docs/challenges.md):\n" \
    + "\n".join(f"  {rule}: {text}" for rule, text in ch.RULES.items())


def _score_all(args, jobs) -> int:
    """Run each `score(split, seeds, jobs, report)` of `jobs` (with where its record goes) and report it."""
    split = ch.mnist_split(test=not args.smoke)
    if args.smoke:
        split = split.head(*SMOKE)
        print(f"smoke run on {SMOKE[0]} training and {SMOKE[1]} validation images: nothing is saved")
    status = 0
    for score, path in jobs:
        record = score(split, seeds=args.seeds, jobs=args.jobs, report=partial(print, flush=True))
        print(ch.describe(record, test=not args.smoke))
        status |= bool(record["failed_seeds"])
        if not args.smoke and not getattr(args, "no_save", False):
            ch.save(record, path)
            print(f"  saved {path}" + ("" if record["standard_seeds"] else
                                       f" (seeds {record['seeds']}, not {list(ch.SEEDS)}: listed, not ranked)"))
    return status


def _run(args) -> int:
    challenge = ch.CHALLENGES[args.name]
    paths = [ch.find_entry(challenge, e) for e in args.entries] or challenge.entries()
    if not paths:
        print(f"{challenge.name} has no reference entry yet: name an entry file", file=sys.stderr)
        return 2
    return _score_all(args, [(partial(ch.score, challenge, p), ch.result_path(challenge.name, p)) for p in paths])


def _ablation(args) -> int:
    from course.challenges import ablation
    jobs = [(row, bs) for row in args.rows or list(ablation.ROWS) for bs in args.bs]
    for row, bs in jobs:
        ablation.entry(row, bs)  # an unknown row or batch size: said before anything runs
    return _score_all(args, [(partial(ablation.run, row, bs), ablation.result_path(row, bs)) for row, bs in jobs])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.challenges", description=ch.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="score entries (default: the challenge's reference entries) and save results",
                         epilog=ENTRY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("name", choices=list(ch.CHALLENGES))
    run.add_argument("entries", nargs="*", help="entry files, or names of reference entries")
    run.add_argument("--seeds", type=int, nargs="+", default=list(ch.SEEDS),
                     help=f"default {' '.join(map(str, ch.SEEDS))}; other seeds are listed, not ranked")
    run.add_argument("--no-save", action="store_true", help="print the scores without saving the record")
    abl = sub.add_parser("ablation", help="one epoch of the same network with each normalisation layer")
    abl.add_argument("rows", nargs="*", help="rows to run (default: all)")
    abl.add_argument("--bs", type=int, nargs="+", default=[2, 32])
    abl.add_argument("--seeds", type=int, nargs="+", default=[0])
    for p in (run, abl):
        p.add_argument("--smoke", action="store_true",
                       help=f"a quick check on {SMOKE[0]} training images; saves nothing, scores no test set")
        p.add_argument("--jobs", type=int, default=1, help="seeds to run at once (default 1)")
    run.set_defaults(func=_run)
    abl.set_defaults(func=_ablation)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ch.RuleViolation as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ch.EntryError, MNISTError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
