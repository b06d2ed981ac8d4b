"""What crowding sees of the true cells at each clustering scale: is there a K where the signal follows them?

For each corpus given (seed 0; the uniform model's training-speaker embeddings kept by `arwsv study --select` in
``exp/select/<corpus>_seed0/reference.npz``) and each K, per true gender x country cell (labels joined here
only): the mean crowding of its speakers' k-means clusters and the share of those clusters in the cell
(:func:`arwsv.experiments.select_study.cluster_view`, the selection's 8 restarts and seed). Markdown.

    python analyses/bench/cluster_scale.py results/select_study/cluster_scale.md bench uncrowded
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SCALES = (2, 4, 8, 16, 32, 48)


def corpus_table(corpus: str) -> str:
    from arwsv.experiments.select_study import cluster_view

    work = ROOT / "exp" / "select" / f"{corpus}_seed0"
    frame = pd.read_csv(work / "split" / "train.csv", keep_default_na=False).groupby("spk_id").first()
    with np.load(work / "reference.npz", allow_pickle=False) as reference:
        speakers, embeddings = reference["train_speakers"], reference["train"]
    cells = (frame["gender"] + "/" + frame["nationality"]).reindex(speakers).to_numpy()
    names, codes = np.unique(cells, return_inverse=True)
    table = pd.DataFrame({"cell": names, "speakers": np.bincount(codes)})
    for clusters in SCALES:
        seen, share = cluster_view(embeddings, codes, clusters, restarts=8, seed=0)
        table[f"K{clusters}"] = [f"{seen[codes == i].mean():.2f} ({share[codes == i].mean():.2f})"
                                 for i in range(len(names))]
    lines = [f"## `{corpus}`, seed 0", "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main() -> None:
    from arwsv.io.files import atomic_write

    out, corpora = Path(sys.argv[1]), sys.argv[2:]
    text = ["# What crowding sees of the true cells, by clustering scale", "",
            f"Regenerate: `python analyses/bench/cluster_scale.py {out} {' '.join(corpora)}`", "",
            "Each cell: the mean crowding of the cell's training speakers' k-means clusters (mean cosine between two "
            "speakers of a cluster, uniform model, 8 restarts) and, in brackets, the share of those clusters the "
            "cell fills. Labels joined for this table only.", ""]
    text += [corpus_table(corpus) for corpus in corpora]
    with atomic_write(out) as handle:
        handle.write("\n".join(text))


if __name__ == "__main__":
    main()
