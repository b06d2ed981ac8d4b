"""``arwsv study``: every reweighting variant x seeds on the toy corpus, and a sensitivity grid."""

from __future__ import annotations


def add_parser(sub) -> None:
    from arwsv.experiments.demo import VARIANTS

    p = sub.add_parser("study", help="the toy fairness study: all variants x seeds, mean ± std, sensitivity grid",
                       description="Train every reweighting variant on the default toy corpus for each seed with "
                                   "the same budget, evaluate the H list with a speaker bootstrap, and write "
                                   "OUT/toy_study.md, OUT/toy_study.json and OUT/toy_sensitivity.png. About two "
                                   "minutes per model on 2 CPU cores; finished models are reused.")
    p.add_argument("--out", help="folder for the table, JSON and plot (results; with --quick WORK/quick/results)")
    p.add_argument("--work", default="exp/arwsv", help="corpus and models, shared with `arwsv demo`")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--no-grid", dest="grid", action="store_false", help="skip the sensitivity grid")
    p.add_argument("--bootstrap", type=int, default=200, help="speaker-bootstrap replicates per run")
    p.add_argument("--quick", action="store_true", help="tiny corpus and models (for tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from arwsv.errors import InputError
    from arwsv.experiments.study import run_study

    if min(args.seeds) < 0 or args.bootstrap < 0:
        raise InputError("--seeds and --bootstrap must be >= 0")
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.variants)) != len(args.variants):
        raise InputError("--seeds and --variants must not repeat a value")
    out = args.out or (f"{args.work}/quick/results" if args.quick else "results")  # quick never overwrites results/
    run_study(out=out, work=args.work, seeds=args.seeds, variants=args.variants, grid=args.grid,
              bootstrap=args.bootstrap, quick=args.quick, progress=not args.quiet)
    return 0
