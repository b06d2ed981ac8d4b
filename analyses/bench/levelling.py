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
        diffs = []
        for m in draws:
            weights = m[enrol] * m[test]
            diffs.append(eer(b, target, weights=weights) - eer(a, target, weights=weights))
        out[cell] = (eer(a, target), eer(b, target), list(np.percentile(diffs, [2.5, 97.5])))
    return out


def dev_groups_moved(selection: Path, system: str) -> str:
    """``"better / worse (of n)"`` pseudo-groups of the development trials (no labels; the interval of each group's
    change below / above 0) for a candidate of a selection's JSON, ``"n/a"`` where it was not a candidate."""
    import json

    from arwsv.selection.rule import groups_better, groups_worse

    if not selection.is_file():
        return "n/a"
    rows = {r["candidate"]: r for r in json.loads(selection.read_text())["candidates"]}
    if system not in rows or "groups_ci" not in rows[system]:
        return "n/a"
    row = rows[system]
    return f"{len(groups_better(row))} / {len(groups_worse(row))} (of {len(row['groups_ci'])})"


def _row(corpus: str, system: str, cells: dict, dev: str = "n/a") -> str:
    """One table row from :func:`cell_changes`: the baseline's worst and best cells, and the cells better / worse;
    ``dev``: the development pseudo-groups better / worse (:func:`dev_groups_moved`)."""
    worst = max(cells, key=lambda c: cells[c][0])
    best = min(cells, key=lambda c: cells[c][0])

    def shown(cell):
        a, b, ci = cells[cell]
        return f"{cell} {100 * a:.2f} → {100 * b:.2f}", f"{100 * (b - a):+.2f} [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]"

    better = sum(ci[1] < 0 for _, _, ci in cells.values())
    worse = sum(ci[0] > 0 for _, _, ci in cells.values())
    return f"| {corpus} | {system} | " + " | ".join([*shown(worst), *shown(best)]) + \
        f" | {better} / {worse} (of {len(cells)}) | {dev} |"


def main() -> None:
    from tqdm import tqdm

    from arwsv.io.files import atomic_write
    from population import h_trials, speaker_draws

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--systems", nargs="+", required=True)
    parser.add_argument("--baseline", default="uniform")
    parser.add_argument("--seed", type=int, default=0, help="the training seed whose runs are compared")
    parser.add_argument("--runs", default="results/select_study/{corpus}/runs")
    parser.add_argument("--data", default="data/{corpus}")
    parser.add_argument("--selection", default="results/select_study/{corpus}/seed{seed}/selection.json")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    lines = ["# Levelling up or down: each cell's H EER against the same seed's baseline", "",
             f"Regenerate: `python analyses/bench/levelling.py --corpora {' '.join(args.corpora)} --seed {args.seed} "
             f"--systems {' '.join(args.systems)} --bootstrap {args.bootstrap} --out {args.out}`", "",
             f"Seed {args.seed}; H EER (%) per gender x country cell (labels joined for this table only); changes in pp "
             f"against `{args.baseline}` with a 95 % paired speaker-bootstrap interval ({args.bootstrap} replicates). "
             "Worst / best cell: the cells the baseline serves worst and best. Better / worse: cells whose interval "
             "lies below / above 0. Last column, without labels: the development pseudo-groups of `arwsv select` "
             "(`selection.json`) whose change lies below / above 0, the rule's \"no pseudo-group worse\" test.", "",
             "| corpus | system | worst cell: baseline → system | change | best cell: baseline → system | change | "
             "cells better / worse (of all) | development pseudo-groups better / worse (no labels) |",
             "|---|---|---|---|---|---|---|---|"]
    progress = tqdm(total=len(args.corpora) * len(args.systems), desc="corpus x system")
    for corpus in args.corpora:
        runs = Path(args.runs.format(corpus=corpus))
        base_path = runs / f"{args.baseline}_seed{args.seed}.npz"
        systems = [s for s in args.systems if base_path.is_file() and (runs / f"{s}_seed{args.seed}.npz").is_file()]
        progress.update(len(args.systems) - len(systems))
        if not systems:
            continue
        # the H list, the baseline's scores and the draws once per corpus: every system is paired with the same ones
        h = h_trials(Path(args.data.format(corpus=corpus)))
        draws = speaker_draws(h["speakers"], args.bootstrap, args.seed)
        base = np.load(base_path)["scores"]
        for system in systems:
            progress.update(1)
            dev = dev_groups_moved(Path(args.selection.format(corpus=corpus, seed=args.seed)), system)
            lines.append(_row(corpus, system, cell_changes(h, base, np.load(runs / f"{system}_seed{args.seed}.npz")
                                                           ["scores"], draws), dev))
    progress.close()
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
