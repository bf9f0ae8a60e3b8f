"""`python -m course.challenges run|list|ablation` (`make challenge NAME=... [ENTRY=...]`)."""

from __future__ import annotations

import argparse
import sys

from course import challenges as ch
from course.data import MNISTError

SMOKE = (1000, 500)  # --smoke: train on the first 1,000 images, validate on the first 500


def _run(args) -> int:
    challenge = ch.CHALLENGES[args.name]
    paths = [ch.find_entry(challenge, e) for e in args.entries] or challenge.entries()
    if not paths:
        print(f"{challenge.name} has no reference entry yet: name an entry file", file=sys.stderr)
        return 2
    split = ch.mnist_split()
    if args.smoke:
        split = split.head(*SMOKE)
        print(f"smoke run on {SMOKE[0]} training and {SMOKE[1]} validation images: nothing is saved")
    elif split.x_test is None:
        print("test set not available: scoring on the validation set only")
    for path in paths:
        record = ch.score(challenge, path, split, seeds=args.seeds, jobs=args.jobs)
        print(ch.describe(record))
        if not args.smoke and not args.no_save:
            print(f"  saved {ch.save(record).relative_to(ch.ROOT)}")
    return 0


def _list(args) -> int:
    for challenge in ch.CHALLENGES.values():
        bs = f"batch size {challenge.batch_size}" if challenge.batch_size else "any batch size"
        epochs = f"{'at most ' if challenge.max_epochs else ''}{challenge.epochs} epoch(s)"
        print(f"{challenge.name}: {challenge.goal} ({epochs}, {bs}"
              f"{', no normalisation layers' if not challenge.norms_allowed else ''})")
        for path in challenge.entries():
            print(f"  {path.stem}: {ch.load_entry(path).summary}")
    return 0


def _ablation(args) -> int:
    from course.challenges import ablation
    split = ch.mnist_split()
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
    run = sub.add_parser("run", help="score entries (default: the challenge's reference entries) and save results")
    run.add_argument("name", choices=list(ch.CHALLENGES))
    run.add_argument("entries", nargs="*", help="entry files, or names of reference entries")
    run.add_argument("--seeds", type=int, nargs="+", default=list(ch.SEEDS))
    run.add_argument("--smoke", action="store_true", help="a quick check on a small slice; saves nothing")
    run.add_argument("--jobs", type=int, default=1, help="seeds to run at once, each in a process of its own")
    run.add_argument("--no-save", action="store_true", help="print the scores without writing results/")
    run.set_defaults(func=_run)
    sub.add_parser("list", help="the challenges and their reference entries").set_defaults(func=_list)
    abl = sub.add_parser("ablation", help="one epoch of the same network with each normalisation layer")
    abl.add_argument("rows", nargs="*", help="rows to run (default: all)")
    abl.add_argument("--bs", type=int, nargs="+", default=[2, 32])
    abl.add_argument("--seeds", type=int, nargs="+", default=[0])
    abl.add_argument("--jobs", type=int, default=1, help="seeds to run at once, each in a process of its own")
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
