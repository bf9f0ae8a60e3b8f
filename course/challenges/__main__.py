"""`python -m course.challenges run|list|ablation` (`make challenge NAME=... [ENTRY=...] [ARGS=...]`)."""

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
scores no test set. The rules: docs/challenges.md, or `python -m course.challenges list`.
Exit status: 0 scored, 1 some seed failed (the others are saved), 2 unusable entry or data,
3 refused (a rule broken)."""


def _run(args) -> int:
    challenge = ch.CHALLENGES[args.name]
    paths = [ch.find_entry(challenge, e) for e in args.entries] or challenge.entries()
    if not paths:
        print(f"{challenge.name} has no reference entry yet: name an entry file", file=sys.stderr)
        return 2
    split = ch.mnist_split(test=not args.smoke)
    if args.smoke:
        split = split.head(*SMOKE)
        print(f"smoke run on {SMOKE[0]} training and {SMOKE[1]} validation images: nothing is saved")
    status = 0
    for path in paths:
        record = ch.score(challenge, path, split, seeds=args.seeds, jobs=args.jobs, report=partial(print, flush=True))
        print(ch.describe(record, test=not args.smoke))
        if record["failed_seeds"]:
            status = 1
        if not args.smoke and not args.no_save:
            where = ch.result_path(challenge.name, path)
            ch.save(record, where)
            print(f"  saved {where}" + ("" if record["standard_seeds"] else
                                        f" (seeds {record['seeds']}, not {list(ch.SEEDS)}: listed, not ranked)"))
    return status


def _list(args) -> int:
    for challenge in ch.CHALLENGES.values():
        bs = f"batch size {challenge.batch_size}" if challenge.batch_size else "any batch size"
        epochs = f"{'at most ' if challenge.max_epochs else ''}{challenge.epochs} epoch(s)"
        print(f"{challenge.name}: {challenge.goal} ({epochs}, {bs}"
              f"{', no normalisation' if not challenge.norms_allowed else ''})")
        for path in challenge.entries():
            print(f"  {path.stem}: {ch.describe_entry(path).summary}")
    print("\nrules:")
    for rule, text in ch.RULES.items():
        print(f"  {rule}: {text}")
    return 0


def _ablation(args) -> int:
    from course.challenges import ablation
    split = ch.mnist_split(test=not args.smoke)
    if args.smoke:
        split = split.head(*SMOKE)
    for row in args.rows or list(ablation.ROWS):
        for bs in args.bs:
            record = ablation.run(row, bs, split, seeds=args.seeds, jobs=args.jobs)
            print(ablation.describe(record))
            if not args.smoke:
                print(f"  saved {ch.save(record, ablation.result_path(row, bs)).relative_to(ch.ROOT)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.challenges", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="score entries (default: the challenge's reference entries) and save results",
                         epilog=ENTRY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("name", choices=list(ch.CHALLENGES))
    run.add_argument("entries", nargs="*", help="entry files, or names of reference entries")
    run.add_argument("--seeds", type=int, nargs="+", default=list(ch.SEEDS),
                     help=f"default {' '.join(map(str, ch.SEEDS))}; other seeds are listed, not ranked")
    run.add_argument("--smoke", action="store_true",
                     help=f"a quick check on {SMOKE[0]} training images; saves nothing, scores no test set")
    run.add_argument("--jobs", type=int, default=1, help="seeds to run at once (default 1)")
    run.add_argument("--no-save", action="store_true", help="print the scores without saving the record")
    run.set_defaults(func=_run)
    sub.add_parser("list", help="the challenges, their reference entries and the rules").set_defaults(func=_list)
    abl = sub.add_parser("ablation", help="one epoch of the same network with each normalisation layer")
    abl.add_argument("rows", nargs="*", help="rows to run (default: all)")
    abl.add_argument("--bs", type=int, nargs="+", default=[2, 32])
    abl.add_argument("--seeds", type=int, nargs="+", default=[0])
    abl.add_argument("--jobs", type=int, default=1, help="seeds to run at once (default 1)")
    abl.add_argument("--smoke", action="store_true", help="a quick check on a small slice; saves nothing")
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
