"""How candidates of ``arwsv select`` compare under development criteria other than the rule's, from kept pieces.

For one corpus and seed of ``arwsv study --select``: the development speakers are assigned to K k-means clusters
of the *training* speakers (by the uniform model), and each candidate's development EER is computed per cluster
(trials within a cluster), then averaged over clusters (every cluster counts alike, small ones as much as large
ones) and its worst cluster taken. No labels are read. Writes a markdown table.

    python analyses/bench/dev_criteria.py --pieces results/select_study/bench/seed0/pieces \\
        --reference exp/select/bench_seed0/reference.npz --clusters 8 16 32 --out results/select_study/bench/seed0/dev_criteria.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sklearn.cluster import KMeans

    from arwsv.evaluation.metrics import eer
    from arwsv.io.files import atomic_write
    from arwsv.selection.pseudo_groups import DevTrials
    from arwsv.selection.run import _read_dev_piece
    from arwsv.selection.signals import unit_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", required=True, type=Path)
    parser.add_argument("--reference", required=True, type=Path, help="WORK/reference.npz of the same run")
    parser.add_argument("--clusters", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    ref = np.load(args.reference)
    ids, spk, uniform = _read_dev_piece(args.pieces, "uniform")
    names = np.unique(spk)
    means = np.stack([unit_rows(uniform[spk == s]).mean(0) for s in names])
    candidates = sorted(p.stem for p in (args.pieces / "dev").glob("*.npz"))
    candidates = ["uniform"] + [c for c in candidates if c != "uniform"]
    lines = [f"# Development criteria from the kept pieces: `{args.pieces}`", "",
             f"Regenerate: `python analyses/bench/dev_criteria.py --pieces {args.pieces} --reference {args.reference} "
             f"--clusters {' '.join(map(str, args.clusters))} --out {args.out}`", "",
             "Development EER (%) per k-means cluster of the training speakers (uniform model), averaged over clusters "
             "(each counts alike) and its worst cluster; clusters with both kinds of trial only. No labels read.", "",
             "| K | clusters used | " + " | ".join(f"{c}: mean / worst" for c in candidates) + " |",
             "|---|---|" + "---|" * len(candidates)]
    for k in args.clusters:
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=args.seed).fit(ref["train"])
        cluster = (unit_rows(means) @ unit_rows(kmeans.cluster_centers_).T).argmax(1)
        group_of = {s: f"c{c}" for s, c in zip(names, cluster)}
        trials = DevTrials(ids, spk, group_of)
        of_trial = np.array([group_of[s] for s in trials.speakers[trials.first]])
        cells = []
        for name in candidates:
            piece_ids, _, emb = _read_dev_piece(args.pieces, name)
            scores = trials.scores(piece_ids, emb)
            per = [eer(scores[of_trial == c], trials.is_target[of_trial == c]) for c in sorted(set(of_trial))
                   if trials.is_target[of_trial == c].any() and (~trials.is_target[of_trial == c]).any()]
            cells.append(f"{100 * np.mean(per):.2f} / {100 * max(per):.2f}")
        lines.append(f"| {k} | {len(per)} | " + " | ".join(cells) + " |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
