"""Levelling up or down? Each gender x country cell's H-list EER change under a method, with paired intervals.

A gap can narrow because the worst-served groups gain (levelling up) or because the best-served lose (levelling
down). For each corpus and method this compares every cell's H EER with the same seed's baseline: the cell the
baseline serves worst, the cell it serves best, and how many cells get better or worse (95 % paired speaker
bootstrap: replicate r draws the same test speakers with replacement for both systems; a trial weighs the product
of its two speakers' draw counts). Labels are read (this is an analysis of results).

    python analyses/bench/levelling.py --corpora bench uncrowded shares crowded --seed 0 \\
        --systems crowding_k48_b20 difficulty_k16_b10 arw_pw asnorm_train --out results/select_study/levelling.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cell_changes(h: dict, base: np.ndarray, system: np.ndarray, draws: list) -> dict:
    """Per cell: (baseline EER, system EER, [low, high] of the paired difference) from H trials ``h``
    (:func:`population.h_trials`), two systems' scores (N,) and the bootstrap's draw counts per speaker."""
    from arwsv.evaluation.metrics import eer

    out = {}
    for cell in np.unique(h["cells"]):
        mask = h["cells"] == cell
        target, a, b = h["target"][mask], base[mask], system[mask]
        enrol, test = h["enrol"][mask], h["test"][mask]
        diffs = [eer(b, target, weights=m[enrol] * m[test]) - eer(a, target, weights=m[enrol] * m[test])
                 for m in draws]
        out[cell] = (eer(a, target), eer(b, target), list(np.percentile(diffs, [2.5, 97.5])))
    return out


def main() -> None:
    from tqdm import tqdm

    from arwsv.io.files import atomic_write
    from population import h_trials

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--systems", nargs="+", required=True)
    parser.add_argument("--baseline", default="uniform")
    parser.add_argument("--seed", type=int, default=0, help="the training seed whose runs are compared")
    parser.add_argument("--runs", default="results/select_study/{corpus}/runs")
    parser.add_argument("--data", default="data/{corpus}")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    lines = ["# Levelling up or down: each cell's H EER against the same seed's baseline", "",
             f"Regenerate: `python analyses/bench/levelling.py --corpora {' '.join(args.corpora)} --seed {args.seed} "
             f"--systems {' '.join(args.systems)} --bootstrap {args.bootstrap} --out {args.out}`", "",
             f"Seed {args.seed}; H EER (%) per gender x country cell (labels joined for this table only); changes in pp "
             f"against `{args.baseline}` with a 95 % paired speaker-bootstrap interval ({args.bootstrap} replicates). "
             "Worst / best cell: the cells the baseline serves worst and best. Better / worse: cells whose interval "
             "lies below / above 0.", "",
             "| corpus | system | worst cell: baseline → system | change | best cell: baseline → system | change | "
             "cells better / worse (of all) |", "|---|---|---|---|---|---|---|"]
    jobs = [(c, s) for c in args.corpora for s in args.systems]
    for corpus, system in tqdm(jobs, desc="corpus x system"):
        runs = Path(args.runs.format(corpus=corpus))
        paths = [runs / f"{name}_seed{args.seed}.npz" for name in (args.baseline, system)]
        if not all(p.is_file() for p in paths):
            continue
        h = h_trials(Path(args.data.format(corpus=corpus)))
        rng = np.random.default_rng(args.seed)
        draws = [np.bincount(rng.integers(0, h["speakers"], h["speakers"]), minlength=h["speakers"])
                 for _ in range(args.bootstrap)]
        base, other = (np.load(p)["scores"] for p in paths)
        cells = cell_changes(h, base, other, draws)
        worst = max(cells, key=lambda c: cells[c][0])
        best = min(cells, key=lambda c: cells[c][0])

        def shown(cell):
            a, b, ci = cells[cell]
            return (f"{cell} {100 * a:.2f} → {100 * b:.2f}",
                    f"{100 * (b - a):+.2f} [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]")

        better = sum(ci[1] < 0 for _, _, ci in cells.values())
        worse = sum(ci[0] > 0 for _, _, ci in cells.values())
        lines.append(f"| {corpus} | {system} | " + " | ".join([*shown(worst), *shown(best)]) +
                     f" | {better} / {worse} (of {len(cells)}) |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
