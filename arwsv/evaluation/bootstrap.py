"""Exact DET queries under speaker-bootstrap weights, at a fraction of a full pass over the trials.

A speaker-bootstrap replicate gives speaker ``s`` a multiplicity ``c_s``; a target trial of speaker
``a`` weighs ``c_a``, a non-target trial between ``a`` and ``b`` weighs ``c_a c_b`` (see
:mod:`arwsv.evaluation.groups`). Recomputing a whole weighted DET curve per replicate costs several
passes over all N trials. The metrics need much less:

- every operating point's FNMR needs the weight of the targets below it: one gather and one cumsum
  over the **targets** (shared by all the queries below);
- FMR is only needed where it is small: the EER crossing and every point that can hold minDCF lie in
  the top of the non-target scores. Only the non-targets above a *window start* ``j0`` are weighted
  one by one; the total non-target weight, needed to normalise FMR, is the quadratic form
  ``c^T P c`` of the set's speaker-pair counts ``P`` (a sparse matrix product, no per-trial work);
- the EER is found by bisection on the monotone ``FNMR - FMR``, minDCF by scanning only the points
  just above a non-target (between two non-targets FMR is constant and FNMR grows, so the cost can
  only rise).

Everything is exact: weights are integers, so every sum is an exact float64 integer and the results
equal those of :meth:`arwsv.evaluation.metrics.SortedTrials.det` to the last bit (thresholds too). When a replicate's
answer could lie below the window (its EER crossing, a minDCF point, or a threshold asked for), the
query falls back to the full weighted curve, so the window size changes speed only, never a result.
"""

from __future__ import annotations

import numpy as np

from arwsv.evaluation.metrics import DetCurve, SortedTrials

__all__ = ["BootstrapCurve", "WindowedTrials"]


class WindowedTrials:
    """One sorted trial set prepared for many speaker weightings.

    Parameters
    ----------
    trials : SortedTrials
        The set's N trials in ascending score order.
    enrol, test : ndarray of int, shape (N,)
        Speaker codes of each trial, in the same order.
    n_speakers : int
        Number of speaker codes (the length of a multiplicity vector).
    window_fmr : float
        Unweighted FMR at which the window starts: non-targets scoring above the top
        ``window_fmr`` share of them are weighted one by one. 1 weighs them all.
    """

    def __init__(self, trials: SortedTrials, enrol, test, n_speakers: int, *, window_fmr: float = 1.0):
        from scipy import sparse

        self.trials = trials
        self.enrol, self.test = enrol, test = np.asarray(enrol), np.asarray(test)
        tgt = trials.is_target
        self.n_targets, self.n_nontargets = int(tgt.sum()), int((~tgt).sum())
        self.target_spk = enrol[tgt].astype(np.intp)  # a target trial weighs its enrol speaker's multiplicity
        non_e, non_t = enrol[~tgt].astype(np.intp), test[~tgt].astype(np.intp)
        # operating point k accepts the runs k, k+1, ...: tc[k] / nc[k] targets / non-targets lie below it
        ends = trials._run_ends
        self.tc = np.concatenate(([0], np.cumsum(tgt)[ends])) if len(ends) else np.zeros(1, dtype=np.int64)
        self.nc = np.concatenate(([0], np.cumsum(~tgt)[ends])) if len(ends) else np.zeros(1, dtype=np.int64)
        self.thresholds = trials._thresholds
        self.j0 = int(np.floor(self.n_nontargets * (1.0 - min(max(window_fmr, 0.0), 1.0))))
        self.k0 = int(np.searchsorted(self.nc, self.j0, side="left"))  # first point with >= j0 non-targets below
        self.j0 = int(self.nc[self.k0])  # the window starts at a run boundary
        self.top_e, self.top_t = non_e[self.j0:], non_t[self.j0:]
        # minDCF candidates: the window's first point, then every point just above a non-target
        k = np.arange(self.k0 + 1, len(self.nc))
        self.candidates = np.concatenate(([self.k0], k[self.nc[k] > self.nc[k - 1]]))
        self.pairs = sparse.csr_matrix((np.ones(len(non_e)), (non_e, non_t)), shape=(n_speakers, n_speakers))
        self.pairs.sum_duplicates()

    def nontarget_total(self, multiplicity: np.ndarray) -> float:
        """Total non-target weight ``c^T P c`` under one multiplicity vector (S,)."""
        return float(multiplicity @ (self.pairs @ multiplicity))

    def curve(self, multiplicity: np.ndarray, nontarget_total: float | None = None) -> "BootstrapCurve":
        """The weighted DET of this set under ``multiplicity`` (S,), as a lazy query object."""
        return BootstrapCurve(self, np.asarray(multiplicity, dtype=np.float64), nontarget_total)


class BootstrapCurve:
    """Answers :class:`~arwsv.evaluation.metrics.DetCurve`'s queries (``eer``, ``min_dcf``,
    ``rates_at``, ``defined``) for one weighting, exactly, from the window where it can."""

    def __init__(self, prepared: WindowedTrials, multiplicity: np.ndarray, nontarget_total: float | None):
        self.p = p = prepared
        self.m = multiplicity
        # integer weights: their cumsum is exact and vectorises (a float cumsum is ~10x slower);
        # int32 while no partial sum can overflow it
        counts = multiplicity.astype(np.int64)
        top = int(counts.max(initial=0))
        small = max(p.n_targets, p.n_nontargets) * top * top < 2**31 - 1
        counts = counts.astype(np.int32 if small else np.int64)
        self.cum_t = np.zeros(p.n_targets + 1, dtype=counts.dtype)
        np.cumsum(np.take(counts, p.target_spk), out=self.cum_t[1:])
        self.n_targets = float(self.cum_t[-1])
        self.n_nontargets = float(p.nontarget_total(multiplicity) if nontarget_total is None else nontarget_total)
        weights = np.take(counts, p.top_e) * np.take(counts, p.top_t)
        self.above_n = np.zeros(len(weights) + 1, dtype=counts.dtype)  # weight at or above non-target j0 + i
        np.cumsum(weights[::-1], out=self.above_n[-2::-1] if len(weights) else self.above_n[:0])
        self._full = self._at_candidates = None

    @property
    def defined(self) -> bool:
        return self.n_targets > 0 and self.n_nontargets > 0

    def full(self) -> DetCurve:
        """The whole weighted curve (the fallback; also the reference the tests compare with)."""
        if self._full is None:
            p = self.p
            e, t = self.m[p.enrol], self.m[p.test]
            self._full = p.trials.det(np.where(p.trials.is_target, e, e * t))
        return self._full

    def _rates(self, k):
        """(fnmr, fmr) at window points ``k`` (int or array, all >= k0) of a defined curve."""
        return self.cum_t[self.p.tc[k]] / self.n_targets, self.above_n[self.p.nc[k] - self.p.j0] / self.n_nontargets

    def _candidate_rates(self) -> tuple:
        """(fnmr, fmr) at the minDCF candidates (computed once, shared by every query)."""
        if self._at_candidates is None:
            self._at_candidates = self._rates(self.p.candidates)
        return self._at_candidates

    def eer(self) -> tuple:
        if not self.defined:
            return float("nan"), float("nan")
        p = self.p
        fnmr, fmr = self._candidate_rates()
        d = fnmr - fmr  # non-decreasing
        if d[0] >= 0:  # the crossing may lie below the window
            return self.full().eer()
        # the first candidate at or past the crossing (or the reject-all point): between two
        # candidates FMR is constant, so the crossing is among the points in between
        i = int(np.argmax(d >= 0)) if d[-1] >= 0 else len(d)
        lo, hi = int(p.candidates[i - 1]), int(p.candidates[i]) if i < len(d) else len(p.tc) - 1
        k = np.arange(lo, hi + 1)
        fnmr, fmr = self._rates(k)
        j = int(np.argmax(fnmr - fmr >= 0))  # >= 1, as d(lo) < 0 <= d(hi)
        # the same interpolation as DetCurve.eer, on the two points around the crossing
        return DetCurve(fnmr[j - 1:j + 1], fmr[j - 1:j + 1], p.thresholds[k[j - 1:j + 1]], self.n_targets,
                        self.n_nontargets).eer()

    def min_dcf(self, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> tuple:
        if not self.defined:
            return float("nan"), float("nan")
        fnmr, fmr = self._candidate_rates()
        cost = c_miss * p_target * fnmr + c_fa * (1.0 - p_target) * fmr
        k = int(np.argmin(cost))
        # below the window FMR >= fmr[0], so the cost there is at least c_fa (1 - P) fmr[0]; on a tie
        # a point below could hold the same cost first, and the full curve names its threshold
        if c_fa * (1.0 - p_target) * fmr[0] <= cost[k]:
            return self.full().min_dcf(p_target, c_miss, c_fa)
        return (float(cost[k] / min(c_miss * p_target, c_fa * (1.0 - p_target))),
                float(self.p.thresholds[self.p.candidates[k]]))

    def rates_at(self, threshold: float) -> tuple:
        if np.isnan(threshold):
            return float("nan"), float("nan")
        p = self.p
        k = int(np.searchsorted(p.thresholds[:-1], threshold, side="left"))
        if k < p.k0:
            return self.full().rates_at(threshold)
        fnmr = self.cum_t[p.tc[k]] / self.n_targets if self.n_targets > 0 else float("nan")
        fmr = self.above_n[p.nc[k] - p.j0] / self.n_nontargets if self.n_nontargets > 0 else float("nan")
        return float(fnmr), float(fmr)

