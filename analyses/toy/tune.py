"""Search ARW settings on a *tuning* toy corpus (another corpus seed), never on the study's corpus.

    python analyses/toy/tune.py --device cuda --jobs 6 --out results/toy_tuning.md

Every configuration of :data:`CONFIGS` (a variant of ``arwsv.experiments.demo.VARIANTS`` plus ``reweighting``
overrides of ``recipes/toy/arw.yaml``) is trained for each seed on the toy corpus generated with
``--corpus-seed`` (1 by default: the same generative model as the study's corpus, other speakers,
voices and recordings), scored on its H list and evaluated. Settings chosen here are then measured
on the default corpus (seed 0) by ``arwsv study``, so the study's numbers are not selected on its own
test speakers. Jobs run in parallel processes (``--jobs``), each with ``--threads`` CPU threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CONFIGS = {  # name -> (variant, reweighting overrides)
    "baseline": ("baseline", {}),
    "oracle": ("oracle", {}),
    "pw_recipe": ("arw", {}),
    "pw_lr1e-3": ("arw", {"adversary_lr": 0.001}),
    "pw_lr3e-3": ("arw", {"adversary_lr": 0.003}),
    "pw_lr1e-2": ("arw", {"adversary_lr": 0.01}),
    "pw_lr1e-3_warm0": ("arw", {"adversary_lr": 0.001, "warmup_steps": 0}),
    "pw_lr1e-3_warm300": ("arw", {"adversary_lr": 0.001, "warmup_steps": 300}),
    "pw_lr1e-3_r8": ("arw", {"adversary_lr": 0.001, "region_priors": 8}),
    "pw_lr1e-3_r16": ("arw", {"adversary_lr": 0.001, "region_priors": 16}),
    "pw_lr1e-3_r0": ("arw", {"adversary_lr": 0.001, "region_priors": 0}),
    "pw_lr1e-3_features": ("arw", {"adversary_lr": 0.001, "adversary_input": "features"}),
    "pw_lr1e-3_product": ("arw", {"adversary_lr": 0.001, "pair_rule": "product"}),
    "aps_lr1e-3": ("aps", {"adversary_lr": 0.001}),
    "aps_lr1e-2": ("aps", {"adversary_lr": 0.01}),
    "pl_lr1e-2": ("pl", {"adversary_lr": 0.01}),
    "pl_lr1e-1_r8": ("pl", {"adversary_lr": 0.1, "pseudo_groups": 8}),
    # second round: stronger adversaries, pseudo-groups as coarse as gender
    "pl_lr3e-2_r2": ("pl", {"adversary_lr": 0.03, "pseudo_groups": 2}),
    "pl_lr1e-1_r2": ("pl", {"adversary_lr": 0.1, "pseudo_groups": 2}),
    "pl_lr1e-1_r4": ("pl", {"adversary_lr": 0.1, "pseudo_groups": 4}),
    "pl_lr3e-1_r4": ("pl", {"adversary_lr": 0.3, "pseudo_groups": 4}),
    "pw_lr3e-3_r0": ("arw", {"adversary_lr": 0.003, "region_priors": 0}),
    "pw_lr1e-2_r16": ("arw", {"adversary_lr": 0.01, "region_priors": 16}),
    "aps_lr3e-2": ("aps", {"adversary_lr": 0.03}),
}
KEYS = {"eer": ("overall", "eer"), "gender_gap": ("attributes", "gender", "summary", "eer_gap_abs"),
        "country_std": ("attributes", "nationality", "summary", "eer_std")}


def _job(task):
    name, seed, data, work, device, threads, quick = task
    import torch

    from arwsv.experiments.demo import evaluate_model, train_variant
    from arwsv.evaluation.groups import _dig

    torch.set_num_threads(threads)
    variant, overrides = CONFIGS[name]
    start = time.perf_counter()
    model = train_variant(variant, Path(data), Path(work), seed, quick=quick, progress=False,
                          reweighting=overrides, folder=f"{name}_seed{seed}", device=device)
    report, _ = evaluate_model(model, Path(data), "H", 0, seed, progress=False, device=device)
    return name, seed, {k: _dig(report, path) for k, path in KEYS.items()}, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--corpus-seed", type=int, default=1)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--work", default="exp/tune")
    parser.add_argument("--out", default="results/toy_tuning.md")
    parser.add_argument("--quick", action="store_true", help="tiny corpus and models (checks the script runs)")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.configs)) != len(args.configs):
        parser.error("--seeds and --configs must not repeat a value")
    if args.corpus_seed == 0:
        parser.error("--corpus-seed 0 is the study's corpus: tune on another one")
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from arwsv.experiments.demo import toy_corpus
    from arwsv.io.files import atomic_write

    work = Path(args.work)
    data = toy_corpus(work, args.corpus_seed, quick=args.quick, progress=True)
    tasks = [(name, seed, str(data), str(work), args.device, args.threads, args.quick) for name in args.configs for seed in args.seeds]
    results, wall = {}, []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for name, seed, metrics, seconds in tqdm(pool.imap_unordered(_job, tasks), total=len(tasks), desc="tune"):
            results.setdefault(name, {})[seed] = metrics
            wall.append(seconds)
    base = {k: statistics.fmean(results["baseline"][s][k] for s in args.seeds) for k in KEYS} \
        if "baseline" in results else None
    command = "python analyses/toy/tune.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# ARW settings searched on a tuning toy corpus", "", f"Regenerate: `{command.strip()}`", "",
             f"Toy corpus seed {args.corpus_seed} (not the study's corpus 0), H list, training seeds {args.seeds}, "
             f"device {args.device}. Mean ± population std over seeds; in brackets the change of the mean against "
             "the baseline. No bootstrap here: the per-run intervals are in `toy_study.md`.", "",
             "| config | overrides | overall EER (%) | gender gap (pp) | country std (pp) |", "|---|---|---|---|---|"]
    summary = {}
    for name in args.configs:
        row, cells = {}, []
        for key in KEYS:
            values = [results[name][s][key] for s in args.seeds]
            mean, std = statistics.fmean(values), statistics.pstdev(values)
            change = (mean - base[key]) / base[key] * 100 if base and base[key] else float("nan")
            row[key] = {"mean": mean, "std": std, "values": values, "change_vs_baseline": change}
            cells.append(f"{100 * mean:.2f} ± {100 * std:.2f}" + (f" ({change:+.0f} %)" if name != "baseline" else ""))
        variant, overrides = CONFIGS[name]
        described = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "recipe"
        lines.append(f"| {name} | {variant}: {described} | " + " | ".join(cells) + " |")
        summary[name] = row
    lines += ["", f"{len(tasks)} runs, median {statistics.median(wall):.0f} s per run (train + embed + score + eval) "
                  f"with {args.jobs} parallel jobs."]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as handle:
        handle.write(text)
    with atomic_write(out.with_suffix(".json")) as handle:
        handle.write(json.dumps({"command": command.strip(), "corpus_seed": args.corpus_seed, "seeds": args.seeds,
                                 "device": args.device, "configs": {k: list(CONFIGS[k]) for k in args.configs},
                                 "summary": summary}, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
