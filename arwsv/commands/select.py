"""``arwsv select RECIPE.yaml SELECTION.yaml [--key=value ...]``: choose a reweighting without labels."""

from __future__ import annotations

from arwsv.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("select", help="choose a reweighting method and its settings on development speakers "
                                      "(no demographic labels)",
                       description="Hold out development speakers, train every candidate of SELECTION.yaml with "
                                   "RECIPE.yaml on the other training speakers, score trials within pseudo-groups "
                                   "of the development speakers and pick the candidate (or post-hoc AS-norm of the "
                                   "uniform model) that narrows the pseudo-groups' EER spread without raising the "
                                   "overall EER by more than max_eer_increase (0 by default) or making any "
                                   "pseudo-group worse, or uniform weights (criterion: worst in SELECTION.yaml: the "
                                   "one that lowers the worst pseudo-group's or the overall EER instead; levels_up: the one "
                                   "that lowers the EER of the pseudo-group uniform serves worst). Candidates may "
                                   "also be data (virtual_uniform, virtual_targeted speakers). "
                                   "Resumable: a rerun skips finished candidates. Any --key=value overrides a "
                                   "recipe key, as in arwsv train.")
    p.add_argument("recipe", help="the baseline recipe, e.g. recipes/bench/baseline.yaml")
    p.add_argument("selection", help="the candidates and the rule's settings, e.g. recipes/bench/select.yaml")
    p.add_argument("--work", help="folder of the split, the candidates and their scores "
                                  "[default: exp/select/<recipe name>_seed<S>]")
    p.add_argument("--out", help="where selection.md/.json/.png go [default: the work folder]")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the trainings and the bootstrap")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--jobs", type=int, default=1, help="candidates trained at once (several fit on one GPU)")
    p.add_argument("--only", choices=["train"], help="stop once the candidates are trained")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, takes_overrides=True)


def run(args) -> int:
    from pathlib import Path

    from arwsv.selection.config import load_selection_config
    from arwsv.training.recipe import parse_overrides

    if args.seed < 0:
        raise InputError("--seed must be >= 0")
    if args.jobs < 1:
        raise InputError("--jobs must be >= 1")
    if not Path(args.recipe).is_file():
        raise InputError("no such recipe", args.recipe)
    settings = load_selection_config(args.selection)
    overrides = parse_overrides(args.overrides)
    for key in ("seed", "output_folder", "train_manifest", "n_speakers"):
        if key in overrides:
            raise InputError(f"--{key} is set by arwsv select for every candidate; use --seed or --work")
    if "reweighting" in overrides:  # each candidate's reweighting block comes from SELECTION.yaml alone
        raise InputError("--reweighting.* is set by arwsv select for every candidate from the selection file "
                         "(its candidates and warmup_steps)", args.selection)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is visible")
    work = Path(args.work or f"exp/select/{Path(args.recipe).stem}_seed{args.seed}")
    out = Path(args.out or work)
    for folder in (work, out):
        if folder.exists() and not folder.is_dir():
            raise InputError("is a file; give a folder", folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create this folder: {err.strerror}", folder) from None
    from arwsv.selection.run import run_selection

    result = run_selection(args.recipe, settings=settings, work=work, out=out, overrides=overrides, seed=args.seed,
                           device=args.device, jobs=args.jobs, progress=not args.quiet, only=args.only)
    if args.only == "train":
        print(f"trained every candidate in {work / 'candidates'}")
        return 0
    print(f"selected {result['selection']['selected']}: {result['selection']['reason']}")
    print(f"use it: {result['selection']['scoring']}")
    print(f"wrote {out / 'selection.md'}, {out / 'selection.json'}, {out / 'selection.png'}")
    return 0
