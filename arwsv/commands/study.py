"""``arwsv study``: every reweighting variant x seeds, on the toy corpus (with a sensitivity grid) or,
with ``--bench``, on the benchmark corpus, run in pieces."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="the fairness study: all variants x seeds, mean ± std (toy, or --bench)",
                       description="Train every reweighting variant for each seed with the same budget, evaluate "
                                   "the H list with a speaker bootstrap, and write the tables. Toy corpus (default): "
                                   "OUT/toy_study.md, OUT/toy_study.json, OUT/toy_sensitivity.png, about two minutes "
                                   "per model on 2 CPU cores. --bench: the benchmark corpus, each finished run kept in "
                                   "OUT/runs/ and skipped on rerun, paired differences against the baseline of the "
                                   "same seed in OUT/README.md. Finished models are reused.")
    p.add_argument("--bench", action="store_true", help="the benchmark corpus (arwsv prepare toy --preset bench)")
    p.add_argument("--select", action="store_true",
                   help="the label-free selection (arwsv select) on the benchmark and on the corpora no choice was "
                        "tuned on, with ARW-PW and AS-norm beside it [OUT: results/select_study, WORK: exp/select, "
                        "corpora under --data, default data/]")
    p.add_argument("--corpora", nargs="+", help="--select: corpora to run [default: all, each its plan of seeds]")
    p.add_argument("--jobs", type=int, default=1, help="--select: candidates trained at once (on a GPU: several)")
    p.add_argument("--only", choices=["train"],
                   help="--select: train and score every system, apply no rule and write no table (e.g. on a lent "
                        "GPU; a later run without it selects from the kept pieces)")
    p.add_argument("--out", help="folder for the tables (results, with --bench results/bench_study; with --quick "
                                 "under WORK/quick)")
    p.add_argument("--work", help="corpus and models [default: exp/arwsv, shared with `arwsv demo`; --bench: exp/bench]")
    p.add_argument("--data", help="--bench: an already prepared benchmark corpus [default: WORK/corpus, generated]")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="training seeds [default: 0 1 2; --bench: each variant's plan, baseline and arw 5, others 3]")
    # no `choices`: the variant tables live with the experiments, which import pandas and the trainer, and a
    # parser must build without them (arwsv --help); run() checks the names
    p.add_argument("--variants", nargs="+", help="variants to run [default: all of the corpus's]")
    p.add_argument("--no-grid", dest="grid", action="store_false", help="skip the sensitivity grid (toy)")
    p.add_argument("--bootstrap", type=int, default=200, help="speaker-bootstrap replicates per run")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="--bench: train and embed here")
    p.add_argument("--quick", action="store_true", help="tiny corpus and models (for tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from arwsv.errors import InputError

    seeds, variants = args.seeds, args.variants
    if (seeds and min(seeds) < 0) or args.bootstrap < 0:
        raise InputError("--seeds and --bootstrap must be >= 0")
    if (seeds and len(set(seeds)) != len(seeds)) or (variants and len(set(variants)) != len(variants)):
        raise InputError("--seeds and --variants must not repeat a value")
    if args.select:
        from arwsv.experiments.select_study import CORPORA

        corpora = args.corpora
        unknown = [c for c in corpora or [] if c not in CORPORA]
        if unknown or (corpora and len(set(corpora)) != len(corpora)):
            raise InputError(f"--corpora: each once, of {', '.join(CORPORA)}")
        if args.bench or variants or args.quick or args.jobs < 1:
            raise InputError("--select takes --corpora, --seeds, --jobs >= 1, --only, --device, --bootstrap, --out, "
                             "--work, --data (not --bench, --variants or --quick)")
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise InputError("--device cuda: no CUDA device is visible")
        from arwsv.experiments.select_study import run_select_study

        run_select_study(out=args.out or "results/select_study", work=args.work or "exp/select",
                         data=args.data or "data", corpora=corpora, seeds=seeds, bootstrap=args.bootstrap,
                         device=args.device, jobs=args.jobs, progress=not args.quiet, only=args.only)
        return 0
    if args.corpora or args.jobs != 1 or args.only:
        raise InputError("--corpora, --jobs and --only go with --select")
    if args.bench:
        from arwsv.experiments.bench_study import BENCH_VARIANTS, run_bench_study

        unknown = [v for v in variants or [] if v not in BENCH_VARIANTS]
        if unknown:
            raise InputError(f"--variants {' '.join(unknown)}: not a benchmark variant "
                             f"(those are {', '.join(BENCH_VARIANTS)})")
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise InputError("--device cuda: no CUDA device is visible")
        work = args.work or "exp/bench"
        out = args.out or (f"{work}/quick/results/bench_study" if args.quick else "results/bench_study")
        run_bench_study(out=out, work=work, data=args.data, variants=variants, seeds=seeds, bootstrap=args.bootstrap,
                        quick=args.quick, device=args.device, progress=not args.quiet)
        return 0
    from arwsv.experiments.demo import VARIANTS
    from arwsv.experiments.study import run_study

    unknown = [v for v in variants or [] if v not in VARIANTS]
    if unknown:
        from arwsv.experiments.bench_study import BENCH_VARIANTS

        if all(v in BENCH_VARIANTS for v in unknown):
            raise InputError(f"--variants {' '.join(unknown)}: only with --bench")
        raise InputError(f"--variants {' '.join(unknown)}: not a variant (toy: {', '.join(VARIANTS)}; with --bench: "
                         f"{', '.join(BENCH_VARIANTS)})")
    if args.data or args.device != "cpu":
        raise InputError("--data and --device go with --bench")
    work = args.work or "exp/arwsv"
    out = args.out or (f"{work}/quick/results" if args.quick else "results")  # quick never overwrites results/
    run_study(out=out, work=work, seeds=seeds or [0, 1, 2], variants=variants or list(VARIANTS), grid=args.grid,
              bootstrap=args.bootstrap, quick=args.quick, progress=not args.quiet)
    return 0
