"""Detection metrics for verification trials: DET curve, EER, minDCF, error rates at a threshold.

Everything here costs one sort, O(N log N) time and O(N) memory, with no Python loop over
trials or thresholds (SpeechBrain's ``EER`` loops over ~2N thresholds and its ``minDCF`` builds
a thresholds x scores matrix; see ``benchmarks/bench_eval.py``).

Conventions
-----------
A trial is *accepted* at threshold ``t`` when ``score >= t``.

- FNMR(t) (miss rate, P_miss) = share of target trials with ``score < t``.
- FMR(t) (false-alarm rate, P_fa) = share of non-target trials with ``score >= t``.

The DET curve has one operating point per distinct score value ``u_k`` (accept ``score >= u_k``),
plus the point that rejects everything. Its FNMR rises from 0 to 1 and its FMR falls from 1 to 0.

- **EER**: the error rate where FNMR = FMR, linearly interpolated between the two adjacent
  operating points ``k-1, k`` whose difference ``d = FNMR - FMR`` changes sign:
  ``a = -d[k-1] / (d[k] - d[k-1])``, ``EER = FNMR[k-1] + a (FNMR[k] - FNMR[k-1])``
  (equal to the same interpolation of FMR). The EER threshold is interpolated the same way
  between the two score values; beyond the highest score the grid is extended by one step.
- **minDCF** (normalised, NIST SRE): ``min_t [C_miss P_tar FNMR(t) + C_fa (1 - P_tar) FMR(t)] /
  min(C_miss P_tar, C_fa (1 - P_tar))`` over all operating points.

Weights: every function takes optional non-negative per-trial ``weights``; a trial of weight 2
counts exactly as two copies of it. The speaker bootstrap of ``arwsv.evaluation.groups`` uses this to
resample without re-sorting. With no weights all trials count 1.

Undefined values (no target or no non-target trial) are ``nan``, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetCurve", "SortedTrials", "det_curve", "eer", "min_dcf"]


@dataclass(frozen=True)
class DetCurve:
    """Operating points of a set of scored trials.

    Attributes
    ----------
    fnmr, fmr : ndarray, shape (U + 1,)
        Error rates at each operating point; point ``k`` accepts ``score >= thresholds[k]``.
        ``fnmr`` is non-decreasing from 0, ``fmr`` non-increasing from 1.
    thresholds : ndarray, shape (U + 1,)
        The ``U`` distinct score values in ascending order, then one step above the highest
        (the point that rejects everything).
    n_targets, n_nontargets : float
        Total (weighted) number of target and non-target trials.
    """

    fnmr: np.ndarray
    fmr: np.ndarray
    thresholds: np.ndarray
    n_targets: float
    n_nontargets: float

    @property
    def defined(self) -> bool:
        """True when there is at least one target and one non-target trial."""
        return self.n_targets > 0 and self.n_nontargets > 0

    def eer(self) -> tuple[float, float]:
        """Equal error rate and its threshold, ``(eer, threshold)``; ``(nan, nan)`` if undefined."""
        if not self.defined:
            return float("nan"), float("nan")
        d = self.fnmr - self.fmr  # -1 at point 0, +1 at the last point, non-decreasing
        k = int(np.argmax(d >= 0))
        a = -d[k - 1] / (d[k] - d[k - 1])
        rate = self.fnmr[k - 1] + a * (self.fnmr[k] - self.fnmr[k - 1])
        lo, hi = self.thresholds[k - 1], self.thresholds[k]
        # convex combination (no overflow for scores near the float limits), clamped so that
        # rounding can never carry the threshold past the next score (a = 1 must mean point k)
        threshold = min(max(lo * (1.0 - a) + hi * a, lo), hi)
        return float(rate), float(threshold)

    def min_dcf(self, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> tuple[float, float]:
        """Normalised minimum detection cost and its threshold, ``(min_dcf, threshold)``."""
        if not self.defined:
            return float("nan"), float("nan")
        cost = c_miss * p_target * self.fnmr + c_fa * (1.0 - p_target) * self.fmr
        k = int(np.argmin(cost))
        return float(cost[k] / min(c_miss * p_target, c_fa * (1.0 - p_target))), float(self.thresholds[k])

    def rates_at(self, threshold: float) -> tuple[float, float]:
        """``(fnmr, fmr)`` when accepting ``score >= threshold``; nan where undefined."""
        if np.isnan(threshold):
            return float("nan"), float("nan")
        # number of distinct score values below the threshold = index of the operating point
        k = int(np.searchsorted(self.thresholds[:-1], threshold, side="left"))
        fnmr = float(self.fnmr[k]) if self.n_targets > 0 else float("nan")
        fmr = float(self.fmr[k]) if self.n_nontargets > 0 else float("nan")
        return fnmr, fmr


class SortedTrials:
    """Trials sorted by score once, so that DET curves under many weightings cost O(N) each.

    Parameters
    ----------
    scores : array_like of float, shape (N,)
    is_target : array_like of bool, shape (N,)
    assume_sorted : bool
        Skip the sort when ``scores`` is already ascending.
    """

    def __init__(self, scores, is_target, *, assume_sorted: bool = False):
        scores = np.asarray(scores, dtype=np.float64)
        is_target = np.asarray(is_target, dtype=bool)
        if scores.shape != is_target.shape or scores.ndim != 1:
            raise ValueError(f"scores {scores.shape} and is_target {is_target.shape} must be 1-D of equal length")
        if not assume_sorted:
            order = np.argsort(scores, kind="stable")
            scores, is_target = scores[order], is_target[order]
        self.scores = scores
        self.is_target = is_target
        if len(scores):
            # last index of each run of equal scores: the operating points sit between runs
            self._run_ends = np.append(np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1)
            starts = np.concatenate(([0], self._run_ends[:-1] + 1))
            unique = scores[starts]
            self._thresholds = np.append(unique, _above(unique))
        else:
            self._run_ends = np.zeros(0, dtype=np.int64)
            self._thresholds = np.array([np.inf])

    def __len__(self) -> int:
        return len(self.scores)

    def det(self, weights=None) -> DetCurve:
        """DET curve of these trials; ``weights`` (shape (N,), in sorted order) count copies."""
        if weights is None:
            tgt = self.is_target.astype(np.float64)
            non = 1.0 - tgt
        else:
            weights = np.asarray(weights, dtype=np.float64)
            tgt = np.where(self.is_target, weights, 0.0)
            non = np.where(self.is_target, 0.0, weights)
        if len(self.scores) == 0:
            return DetCurve(np.zeros(1), np.ones(1), self._thresholds, 0.0, 0.0)
        cum_tgt = np.cumsum(tgt)[self._run_ends]
        cum_non = np.cumsum(non)[self._run_ends]
        n_tgt, n_non = float(cum_tgt[-1]), float(cum_non[-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            fnmr = np.concatenate(([0.0], cum_tgt / n_tgt))
            fmr = np.concatenate(([1.0], (n_non - cum_non) / n_non))
        return DetCurve(fnmr, fmr, self._thresholds, n_tgt, n_non)


def _above(unique: np.ndarray) -> float:
    """A threshold above every score (the 'reject all' point): one more step of the score grid,
    or the next float where that step is lost to rounding or overflows."""
    top = unique[-1]
    with np.errstate(over="ignore"):
        candidate = top + (top - unique[-2] if len(unique) > 1 else max(1.0, abs(top)))
    return float(candidate) if np.isfinite(candidate) and candidate > top else float(np.nextafter(top, np.inf))


def det_curve(scores, is_target, weights=None) -> DetCurve:
    """DET curve of trials given in any order. Shapes: scores, is_target, weights (N,)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    trials = SortedTrials(scores[order], np.asarray(is_target, dtype=bool)[order], assume_sorted=True)
    return trials.det(None if weights is None else np.asarray(weights, dtype=np.float64)[order])


def eer(scores, is_target, weights=None) -> float:
    """Equal error rate (fraction in [0, 1]) of trials given in any order."""
    return det_curve(scores, is_target, weights).eer()[0]


def min_dcf(scores, is_target, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0, weights=None) -> float:
    """Normalised minDCF of trials given in any order."""
    return det_curve(scores, is_target, weights).min_dcf(p_target, c_miss, c_fa)[0]
