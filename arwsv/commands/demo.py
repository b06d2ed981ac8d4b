"""``arwsv demo``: generate the toy corpus, train baseline and ARW, score, evaluate, compare."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="baseline vs ARW on the toy corpus, side by side (a few minutes on a CPU)",
                       description="Generate the default toy corpus, train the baseline and the ARW recipe with "
                                   "the same seed and budget, score the H list, evaluate, and write OUT/README.md, "
                                   "OUT/demo.json, OUT/det.png and OUT/weights.png.")
    p.add_argument("--out", help="where the table, JSON and plots go (results/demo; with --quick WORK/quick/demo)")
    p.add_argument("--work", default="exp/arwsv",
                   help="corpus and models, shared with `arwsv study` (reused when settings match)")
    p.add_argument("--seed", type=int, default=0,
                   help="training seed of both models (the corpus is always the default toy corpus)")
    p.add_argument("--trials", default="H", choices=["O", "E", "H"], help="trial list to score")
    p.add_argument("--bootstrap", type=int, default=200, help="speaker-bootstrap replicates for CIs")
    p.add_argument("--quick", action="store_true", help="tiny corpus and model, one epoch (for tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from arwsv.experiments.demo import run_demo
    from arwsv.errors import InputError

    if args.seed < 0 or args.bootstrap < 0:
        raise InputError("--seed and --bootstrap must be >= 0")
    out = args.out or (f"{args.work}/quick/demo" if args.quick else "results/demo")  # quick never overwrites results/
    run_demo(out=out, work=args.work, seed=args.seed, quick=args.quick, trials=args.trials,
             bootstrap=args.bootstrap, progress=not args.quiet)
    return 0
