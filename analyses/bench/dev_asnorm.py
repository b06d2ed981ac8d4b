"""Can the selection's development trials see post-hoc AS-norm? No labels read.

For each corpus' selection pieces (``results/select_study/<corpus>/seed<S>/pieces``: the development speakers'
embeddings by the uniform model and their pseudo-groups) and the uniform model's training-speaker embeddings
(``exp/select/<corpus>_seed<S>/reference.npz``, one mean embedding per training speaker: the cohort), this scores
the development trials (pairs within pseudo-groups) with cosine and with AS-norm (top 200), compares them with the
rule's own metrics and intervals (:func:`arwsv.selection.rule.evaluate_candidates`) and counts the pseudo-groups
whose EER falls or rises. It asks whether a label-free rule could tell that AS-norm "makes no group worse", as the
labelled cells say it does (``results/select_study/levelling.md``).

    python analyses/bench/dev_asnorm.py --corpora bench uncrowded shares crowded --seed 0 \\
        --out results/select_study/dev_asnorm.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import pandas as pd

    from arwsv.inference.score import asnorm
    from arwsv.io.files import atomic_write
    from arwsv.selection.pseudo_groups import DevTrials
    from arwsv.selection.rule import evaluate_candidates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pieces", default="results/select_study/{corpus}/seed{seed}/pieces")
    parser.add_argument("--reference", default="exp/select/{corpus}_seed{seed}/reference.npz")
    parser.add_argument("--top-k", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    lines = ["# Post-hoc AS-norm on the selection's development trials (no labels)", "",
             f"Regenerate: `python analyses/bench/dev_asnorm.py --corpora {' '.join(args.corpora)} --seed {args.seed} "
             f"--out {args.out}`", "",
             f"Seed {args.seed}. Development trials: every pair within a pseudo-group of the development speakers (as "
             "`arwsv select` scores them), by the uniform model; AS-norm with the uniform model's training speakers as "
             f"cohort (one mean embedding each, top {args.top_k}). EER in %, AS-norm minus cosine in pp with the rule's "
             f"95 % paired speaker-bootstrap interval ({args.bootstrap} replicates); pseudo-groups lower / higher: "
             "point estimates.", "",
             "| corpus | overall EER: cosine → AS-norm | worst pseudo-group | pseudo-group std | pseudo-groups lower / "
             "higher |", "|---|---|---|---|---|"]
    for corpus in args.corpora:
        pieces = Path(args.pieces.format(corpus=corpus, seed=args.seed))
        reference = Path(args.reference.format(corpus=corpus, seed=args.seed))
        if not (pieces / "dev" / "uniform.npz").is_file() or not reference.is_file():
            print(f"{corpus}: no pieces or reference, skipped", file=sys.stderr)
            continue
        groups = pd.read_csv(pieces / "pseudo_groups.csv", dtype=str)
        dev = np.load(pieces / "dev" / "uniform.npz")
        trials = DevTrials(dev["ids"], dev["speakers"], dict(zip(groups["spk_id"], groups["pseudo_group"])))
        embeddings = dev["embeddings"].astype(np.float64)
        cosine = trials.scores(dev["ids"], embeddings)
        normed = asnorm(cosine, embeddings[trials.first], embeddings[trials.second],
                        np.load(reference)["train"].astype(np.float64), top_k=args.top_k)
        rows = {r["candidate"]: r for r in evaluate_candidates(trials, {"uniform": cosine, "asnorm": normed},
                                                               bootstrap=args.bootstrap, seed=args.seed)}
        row, base = rows["asnorm"], rows["uniform"]

        def cell(key):
            lo, hi = row["ci"][key]
            return (f"{100 * base['value'][key]:.2f} → {100 * row['value'][key]:.2f} "
                    f"({100 * row['delta'][key]:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}])")

        change = list(row["groups_delta"].values())
        lines.append(f"| {corpus} | {cell('eer')} | {cell('worst')} | {cell('std')} | "
                     f"{sum(c < 0 for c in change)} / {sum(c > 0 for c in change)} (of {len(change)}) |")
        print(lines[-1], flush=True)
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
