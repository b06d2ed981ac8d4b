"""How close label-free crowding factors come to the oracle's group-balanced ones, per cell.

    python analyses/bench/crowding_factors.py exp/bench/baseline_seed0 --data data/bench --out results/bench_crowding.md

Embeds the first ``--utts`` utterances of every training speaker with a trained model, averages them
per speaker, and computes :func:`arwsv.training.reweighting.crowding_factors` (what ``method:
crowding`` weighs speakers by) for each K in ``--regions`` and beta in ``--betas``, twice (two blocks
of k-means seeds, to show how much the clustering's initialisation moves them). Labels are joined
afterwards only to report: the mean factor per gender x country cell beside the oracle's
(:func:`group_balanced_factors` of the true cells), the correlation of the log factors with the
oracle's over speakers and their rms difference. beta = 0 is plain cluster balance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained model folder (arwsv train)")
    parser.add_argument("--data", type=Path, default=Path("data/bench"))
    parser.add_argument("--utts", type=int, default=2, help="utterances per speaker")
    parser.add_argument("--regions", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    import torch

    from arwsv.data.dataio import first_rows_per_speaker, load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.io.files import atomic_write
    from arwsv.training.reweighting import cluster_crowding, crowding_factors, group_balanced_factors

    torch.manual_seed(args.seed)
    features, model, _ = load_model(args.model)
    rows = load_manifest_rows(args.data / "train.csv")
    kept = first_rows_per_speaker(rows, args.utts)
    _, emb = extract(features, model, kept)
    speakers = sorted({r["spk_id"] for r in kept})
    owner = np.array([speakers.index(r["spk_id"]) for r in kept])
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    centroids = np.stack([unit[owner == s].mean(0) for s in range(len(speakers))])

    labels = pd.read_csv(args.data / "meta.csv", sep="\t").rename(columns={"VoxCeleb1 ID": "spk_id"}).set_index("spk_id")
    cell = np.array([f"{labels.loc[s, 'Gender']}/{labels.loc[s, 'Nationality']}" for s in speakers])
    columns = {"oracle": group_balanced_factors(cell)}
    for k in args.regions:
        for beta in args.betas:
            for block in (0, 1):
                columns[f"K={k} beta={beta:g} seeds {block}"] = crowding_factors(
                    centroids, k, beta=beta, restarts=args.restarts, seed=args.seed * 2 + block)
    table = pd.DataFrame({"cell": cell, **columns})
    cells = sorted(set(cell))
    lines = ["# Label-free crowding factors against the oracle's (bench corpus, training speakers)", "",
             f"Regenerate: `python analyses/bench/crowding_factors.py {args.model} --data {args.data} --utts {args.utts} "
             f"--regions {' '.join(map(str, args.regions))} --betas {' '.join(f'{b:g}' for b in args.betas)} "
             f"--restarts {args.restarts} --seed {args.seed} --out {args.out}`", "",
             f"Model `{args.model}`; {len(speakers)} training speakers, each the mean of {args.utts} utterances' embeddings; "
             f"`crowding_factors` with {args.restarts} k-means restarts (two blocks of seeds per setting). Mean factor "
             "per cell (mean 1 over speakers); the last column is the correlation of log factors with the oracle's "
             "over speakers, and the root mean square of their difference (how far the factors' spread is from the "
             "oracle's: the criterion that chose `crowding_strong`). The oracle balances the true gender x country cells (uses labels); beta = 0 balances "
             "the clusters alone.", "",
             "| factors | " + " | ".join(cells) + " | log corr. with oracle | rms log error |",
             "|---" * (len(cells) + 3) + "|"]
    means = table.groupby("cell").mean()
    # what the factors try to find: each true cell's crowding, the mean cosine between two of its speakers
    unit_centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    crowding = dict(zip(cells, cluster_crowding(unit_centroids, np.searchsorted(cells, cell), len(cells))[1]))
    lines.append("| crowding of the true cell (mean cosine between two of its speakers) | "
                 + " | ".join(f"{crowding[c]:.2f}" for c in cells) + " | | |")
    for name in columns:
        oracle, found = np.log(columns["oracle"]), np.log(columns[name])
        corr, rms = np.corrcoef(oracle, found)[0, 1], np.sqrt(np.mean((oracle - found) ** 2))
        lines.append(f"| {name} | " + " | ".join(f"{means.loc[c, name]:.2f}" for c in cells) + f" | {corr:.2f} | {rms:.2f} |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
