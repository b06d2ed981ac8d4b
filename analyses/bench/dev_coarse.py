"""Can the development trials see a pooled gap widen? Two coarse pseudo-groups, no labels in the measurement.

The H list's gender gap is the EER of all women's trials pooled against all men's. Post-hoc AS-norm made no
gender x country cell worse yet widened that pooled gap on three corpora (``results/select_study/levelling.md``):
a pooled EER also depends on how the cells' score ranges sit against one another. The rule's eight pseudo-groups
do not see it (their spread did not move). This script asks whether a *coarse* split can: k-means of the
development speakers (uniform model, as :func:`arwsv.selection.pseudo_groups.pseudo_groups`) into 2 groups,
trials within each, and the gap between the two groups' pooled EERs for every system of the selection
(``arwsv/selection/rule.py``'s metrics and intervals). Labels are joined only to say how well the two coarse
groups match gender (purity) and to set the H-list gender-gap change (``results/select_study/summary.json``)
beside the coarse gap's.

    python analyses/bench/dev_coarse.py --corpora bench uncrowded shares crowded --seed 0 \\
        --out results/select_study/dev_coarse.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _systems(pieces: Path) -> dict:
    """``{name: (ids, embeddings)}`` of every trained candidate's development piece."""
    out = {}
    for path in sorted((pieces / "dev").glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            out[path.stem] = (data["ids"], data["speakers"], data["embeddings"].astype(np.float32))
    return out


def main() -> None:
    import pandas as pd

    from arwsv.io.files import atomic_write
    from arwsv.io.metadata import read_metadata
    from arwsv.selection.pseudo_groups import DevTrials, pseudo_groups
    from arwsv.selection.rule import evaluate_candidates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    summary = json.loads((ROOT / "results" / "select_study" / "summary.json").read_text())
    lines = [f"# Coarse pseudo-groups ({args.groups}) on the development trials: do they see a pooled gap widen?", "",
             f"Regenerate: `python analyses/bench/dev_coarse.py --corpora {' '.join(args.corpora)} --seed {args.seed} "
             f"--groups {args.groups} --out {args.out}`", "",
             f"Seed {args.seed}. Development speakers split into {args.groups} by k-means of their uniform-model "
             "embeddings; trials within each; gap = the coarse groups' EER max - min. Every system against uniform in "
             f"pp with the 95 % paired speaker-bootstrap interval ({args.bootstrap} replicates). Beside it, the H list's "
             "pooled gender-gap change (labels; `summary.json`, same seed). Purity: the share of each coarse group's "
             "speakers of its majority gender (labels joined for this column only).", "",
             "| corpus | purity (gender) | system | coarse gap: change | H-list gender gap: change | agree? |",
             "|---|---|---|---|---|---|"]
    for corpus in args.corpora:
        pieces = ROOT / "results" / "select_study" / corpus / f"seed{args.seed}" / "pieces"
        if not (pieces / "dev" / "uniform.npz").is_file() or not (pieces / "cohort.npz").is_file():
            print(f"{corpus}: no pieces or cohort piece, skipped", file=sys.stderr)
            continue
        systems = _systems(pieces)
        ids, speakers, uniform = systems["uniform"]
        coarse = pseudo_groups(uniform, speakers, args.groups, args.seed)
        meta = read_metadata(ROOT / "data" / corpus / "meta.csv")
        names = sorted(coarse)
        gender = dict(zip(names, meta.values("gender", names)))
        purity = []
        for group in sorted(set(coarse.values())):
            members = [gender[s] for s in names if coarse[s] == group]
            purity.append(max(members.count(g) for g in set(members)) / len(members))
        trials = DevTrials(ids, speakers, coarse)
        scores = {name: trials.scores(i, e) for name, (i, _, e) in systems.items()}
        with np.load(pieces / "cohort.npz", allow_pickle=False) as data:
            cohort = data["embeddings"].astype(np.float32)
        scores["asnorm_train"] = trials.normalised_scores(ids, uniform, cohort, top_k=200)
        rows = evaluate_candidates(trials, scores, bootstrap=args.bootstrap, seed=args.seed)
        h = summary[corpus]["summary"]
        for row in rows:
            if row["candidate"] == "uniform":
                continue
            lo, hi = row["ci"]["gap"]
            entry = h.get(row["candidate"], {}).get("gender_gap", {})
            h_ci = entry.get("ci_mean")
            h_text = "n/a" if not h_ci else f"{100 * entry['diff_mean']:+.2f} [{100 * h_ci[0]:+.2f}, {100 * h_ci[1]:+.2f}]"
            sign = lambda a, b: "+" if a > 0 else "-" if b < 0 else "0"  # noqa: E731
            agree = "n/a" if not h_ci else ("yes" if sign(lo, hi) == sign(*h_ci) else "no")
            lines.append(f"| {corpus} | {' / '.join(f'{p:.2f}' for p in purity)} | {row['candidate']} | "
                         f"{100 * row['delta']['gap']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] | {h_text} | {agree} |")
            print(lines[-1], flush=True)
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
