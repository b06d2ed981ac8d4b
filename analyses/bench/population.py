"""What a system's H-list EER becomes when the test population has the training population's proportions.

The benchmark's H list weighs its eight gender x country cells alike (50 test speakers each); a list drawn in the
training proportions (as VoxCeleb1-H is, mostly from its largest groups) weighs them by their share of training
speakers. This reweights every H trial so that each cell's targets and non-targets carry that cell's training
share, and compares each system with the baseline of the same seed: the paired difference pooled over seeds, with
a 95 % paired speaker bootstrap (replicate r draws the same test speakers with replacement for every system; a
trial weighs the product of its two speakers' draw counts). Labels are read (this is an analysis of results).

    python analyses/bench/population.py --runs results/bench_study/runs --baseline baseline \\
        --systems crowding_twopass arw --data data/bench --out results/bench_population.md
    python analyses/bench/population.py --runs results/speechbrain_plugin --baseline none --systems crowding \\
        --data data/bench --out results/speechbrain_plugin/population.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def h_trials(data: Path) -> dict:
    """The H list's trials of corpus ``data``: ``cells`` (N,) each trial's gender x country cell ("female/Arcadia"),
    ``target`` (N,) bool, ``enrol``/``test`` (N,) speaker codes, ``speakers`` the number of codes, and ``share``
    each cell's share of the training speakers (a pandas Series)."""
    import pandas as pd

    meta = pd.read_csv(data / "meta.csv", sep="\t")
    cell = dict(zip(meta["VoxCeleb1 ID"].astype(str), meta["Gender"] + "/" + meta["Nationality"]))
    train = pd.read_csv(data / "train.csv", dtype={"spk_id": str}).drop_duplicates("spk_id")
    trials = pd.read_csv(data / "trials" / "H.txt", sep=" ", header=None, names=["label", "enrol", "test"])
    enrol = trials["enrol"].str.split("/").str[0]
    test = trials["test"].str.split("/").str[0]
    names, codes = np.unique(np.concatenate([enrol, test]), return_inverse=True)
    return {"cells": enrol.map(cell).to_numpy(), "target": trials["label"].to_numpy() == 1,
            "enrol": codes[: len(trials)], "test": codes[len(trials):], "speakers": len(names),
            "share": train["spk_id"].map(cell).value_counts(normalize=True)}


def speaker_draws(speakers: int, bootstrap: int, seed: int) -> list:
    """``bootstrap`` speaker-bootstrap replicates: per replicate each speaker code's draw count (``speakers``,),
    the same for every system compared (a trial then weighs its two speakers' counts' product)."""
    rng = np.random.default_rng(seed)
    return [np.bincount(rng.integers(0, speakers, speakers), minlength=speakers) for _ in range(bootstrap)]


def cell_weights(data: Path):
    """(trial weights (N,) for the training population, is-target (N,), enrol/test speaker codes (N,), speaker count)."""
    h = h_trials(data)
    cells, target = h["cells"], h["target"]
    weights = np.zeros(len(cells))
    for name in np.unique(cells):
        for kind in (True, False):
            mask = (cells == name) & (target == kind)
            weights[mask] = h["share"].get(name, 0.0) / mask.sum()
    return weights, target, h["enrol"], h["test"], h["speakers"]


def main() -> None:
    from arwsv.evaluation.metrics import eer
    from arwsv.io.files import atomic_write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--baseline", default="baseline")
    parser.add_argument("--systems", nargs="+", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="the training seeds pooled (default: every seed with a run of the system and the baseline)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    weights, target, enrol, test, n_speakers = cell_weights(args.data)
    balanced = np.where(target, 1.0 / target.sum(), 1.0 / (~target).sum())
    draws = speaker_draws(n_speakers, args.bootstrap, args.seed)

    def scores(name, seed):
        path = args.runs / f"{name}_seed{seed}.npz"
        if seed == 0 and not path.is_file():  # a folder of single runs (NAME.npz, e.g. the SpeechBrain plug-in's)
            path = args.runs / f"{name}.npz"
        return np.load(path)["scores"] if path.is_file() else None

    lines = [f"# The H list in the training population's proportions: `{args.runs}`", "",
             f"Regenerate: `python analyses/bench/population.py --runs {args.runs} --baseline {args.baseline} --systems "
             f"{' '.join(args.systems)} --data {args.data} --bootstrap {args.bootstrap}"
             + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds is not None else "") + f" --out {args.out}`", "",
             "EER (%) of the H list as it is (every gender x country cell alike) and with each cell weighted by its share "
             "of the training speakers; against the same seed's baseline: the paired difference in pp pooled over seeds "
             f"with its 95 % paired speaker-bootstrap interval ({args.bootstrap} replicates).", "",
             "| system | seeds | H EER (cells alike) | difference | H EER (training proportions) | difference |",
             "|---|---|---|---|---|---|"]
    for system in args.systems:
        seeds = [s for s in (args.seeds if args.seeds is not None else range(100))
                 if scores(system, s) is not None and scores(args.baseline, s) is not None]
        if not seeds:
            continue
        cells = []
        for w in (balanced, weights):
            values, deltas, reps = [], [], np.zeros(args.bootstrap)
            for s in seeds:
                a, b = scores(args.baseline, s), scores(system, s)
                values.append(eer(b, target, weights=w))
                deltas.append(values[-1] - eer(a, target, weights=w))
                for r, m in enumerate(draws if system != args.baseline else []):
                    rw = w * m[enrol] * m[test]
                    reps[r] += (eer(b, target, weights=rw) - eer(a, target, weights=rw)) / len(seeds)
            lo, hi = np.percentile(reps, [2.5, 97.5])
            cells += [f"{100 * np.mean(values):.2f}", f"{100 * np.mean(deltas):+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"]
        lines.append(f"| {system} | {len(seeds)} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
