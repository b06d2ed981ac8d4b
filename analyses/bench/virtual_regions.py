"""Which speakers would targeted virtual speakers reach? The regions of ``arwsv virtual-speakers`` at several K, read
against the labels (an analysis: the planner reads none).

For a reference model and its training manifest: k-means of the speakers' mean embeddings (2 utterances each) at
each K, each region's signal (crowding: mean cosine between two of its speakers; difficulty: EER of its own
utterance pairs; small nearest-neighbour distance), the 3/8 weakest regions by each signal, and how much of the
minority-country women (the benchmark's worst cells) and of the rest they hold.

    python analyses/bench/virtual_regions.py --model exp/augment_study/baseline_seed0 --data data/bench \\
        --out results/levelup/bench/regions_k.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ks", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import pandas as pd
    import torch
    from sklearn.cluster import KMeans

    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import load_model
    from arwsv.io.files import atomic_write
    from arwsv.selection.signals import _pair_eer
    from arwsv.selection.virtual import embed_speakers, region_nn_distances
    from arwsv.training.reweighting import cluster_crowding

    torch.set_num_threads(1)
    features, model, _ = load_model(args.model)
    by = {}
    for row in sorted(load_manifest_rows(args.data / "train.csv"), key=lambda r: r["id"]):
        by.setdefault(row["spk_id"], []).append(row)
    speakers = sorted(by)
    means, utt, owner = embed_speakers(features, model, [by[s][:2] for s in speakers])
    meta = pd.read_csv(args.data / "meta.csv", sep="\t")
    cell = dict(zip(meta["VoxCeleb1 ID"].astype(str), meta["Gender"] + "/" + meta["Nationality"]))
    cells = np.array([cell[s] for s in speakers])
    majority = meta[meta["Set"] == "dev"]["Nationality"].value_counts().idxmax()
    minority_women = np.array([c.startswith("f/") and not c.endswith("/" + majority) for c in cells])
    lines = [f"# Which speakers would targeted virtual speakers reach? (`{args.data.name}`, labels read after)", "",
             f"Regenerate: `python analyses/bench/virtual_regions.py --model {args.model} --data {args.data} --out "
             f"{args.out}`", "",
             f"Reference model `{args.model}`; {len(speakers)} training speakers, {int(minority_women.sum())} of them "
             f"minority-country women (every women's cell but {majority}'s). Per K and signal: the 3/8 weakest "
             "regions, the speakers they hold, the share of the minority-country women among them, and the share "
             "of all minority-country women they reach.", "",
             "| K | signal | regions targeted | speakers | minority women reached | of the targeted, minority women |",
             "|---|---|---|---|---|---|"]
    for k in args.ks:
        labels = KMeans(n_clusters=k, n_init=10, random_state=args.seed).fit(means).labels_
        sizes, crowding = cluster_crowding(means, labels, k)
        difficulty = np.array([_pair_eer(utt[labels[owner] == c], owner[labels[owner] == c]) for c in range(k)])
        nn = np.array([np.median(region_nn_distances(means[labels == c])) if sizes[c] > 1 else np.nan
                       for c in range(k)])
        for name, signal in (("crowding", crowding), ("difficulty", difficulty), ("small NN distance", -nn)):
            top = np.argsort(-np.nan_to_num(signal, nan=-np.inf), kind="stable")[: max(1, 3 * k // 8)]
            chosen = np.isin(labels, top)
            lines.append(f"| {k} | {name} | {len(top)} | {int(chosen.sum())} | "
                         f"{(chosen & minority_women).sum() / minority_women.sum():.0%} | "
                         f"{(chosen & minority_women).sum() / max(1, chosen.sum()):.0%} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
