"""Affine calibration: our two-parameter Newton fit against scikit-learn's LogisticRegression.

    python benchmarks/bench_calibration.py [--out results/benchmarks.md] [--trials 550000]

``arwsv eval --calibrate`` fits one affine calibration per pair of speaker folds (15 fits for 5
folds) on a VoxCeleb1-H-sized list, inside a 3-second budget. Both fits minimise the same
prior-weighted logistic loss (class weights π / N_tar and (1 - π) / N_non, no penalty); this prints
their times and the largest difference of the fitted maps, measured in one run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arwsv.evaluation.calibration import AffineCalibration, cross_validated_llr  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="update this markdown file's bench_calibration section")
    parser.add_argument("--trials", type=int, default=550_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(args.seed)
    n, n_spk = args.trials, 1251
    enrol, test = rng.integers(0, n_spk, n), rng.integers(0, n_spk, n)
    is_target = rng.random(n) < 0.5
    test = np.where(is_target, enrol, test)
    is_target = enrol == test
    scores = np.where(is_target, rng.normal(0.55, 0.15, n), rng.normal(0.1, 0.12, n))  # cosine-like

    def timed(fn, repeat=3):
        best = math.inf
        for _ in range(repeat):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
        return best, out

    ours_s, ours = timed(lambda: AffineCalibration().fit(scores, is_target))
    weight = np.where(is_target, 0.5 / is_target.sum(), 0.5 / (~is_target).sum()) * n

    def sklearn_fit():
        return LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(scores[:, None], is_target,
                                                                             sample_weight=weight)

    theirs_s, theirs = timed(sklearn_fit)
    grid = np.linspace(scores.min(), scores.max(), 101)
    diff = np.max(np.abs(ours.transform(grid) - (theirs.coef_[0, 0] * grid + theirs.intercept_[0])))
    cv_s, _ = timed(lambda: cross_validated_llr(scores, is_target, enrol, test, n_spk, folds=5), repeat=1)
    lines = ["## Affine calibration fit", "",
             f"Regenerate: `python benchmarks/bench_calibration.py --out results/benchmarks.md` ({n:,} trials, best of 3)",
             "", "| fit | time (s) | ratio to ours | largest LLR difference on the score range |", "|---|---|---|---|",
             f"| arwsv `AffineCalibration` (Newton, {ours.n_iter_} steps) | {ours_s:.3f} | 1.00 | - |",
             f"| scikit-learn `LogisticRegression` (lbfgs, same objective) | {theirs_s:.3f} | {theirs_s / ours_s:.1f} | "
             f"{diff:.1e} |",
             f"| `cross_validated_llr`, 5 speaker folds (15 fits) | {cv_s:.3f} | {cv_s / ours_s:.1f} | - |"]
    text = "\n".join(lines)
    from _sections import publish

    publish(text, args.out, "bench_calibration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
