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

__all__ = ["BatchCurves", "BootstrapCurve", "WindowedTrials", "Workspace"]


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
        self.trials, self.n_speakers = trials, n_speakers
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
        self.non_e, self.non_t = non_e, non_t
        self._pairs = None

    @property
    def pairs(self):
        """The non-targets' speaker-pair counts P (S, S), a sparse matrix (built on first use)."""
        if self._pairs is None:
            from scipy import sparse

            self._pairs = sparse.csr_matrix((np.ones(len(self.non_e)), (self.non_e, self.non_t)),
                                            shape=(self.n_speakers, self.n_speakers))
            self._pairs.sum_duplicates()
        return self._pairs

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



def _compact(codes: np.ndarray, n: int) -> tuple:
    """``np.unique(codes, return_inverse=True)`` for codes in [0, n), by counting (no sort)."""
    present = np.bincount(codes, minlength=n) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


def _components(rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label (the smallest member) of each of ``n`` nodes joined by the edges."""
    labels = np.arange(n)
    while True:
        low = np.minimum(labels[rows], labels[cols])
        new = labels.copy()
        np.minimum.at(new, rows, low)
        np.minimum.at(new, cols, low)
        new = new[new]  # jump to the label's label
        if np.array_equal(new, labels):
            return labels
        labels = new


class _PairForm:
    """``c^T P c`` for every row c of a matrix: P, the speaker-pair counts of the non-targets, is summed
    per connected block of speakers (VoxCeleb1-H pairs speakers of one gender and nationality only), each
    block a small dense matrix. Counts are whole numbers: the sums are exact in any order."""

    def __init__(self, enrol: np.ndarray, test: np.ndarray, n_speakers: int):
        used, where = _compact(np.concatenate((enrol, test)), n_speakers)
        row, col = where[:len(enrol)], where[len(enrol):]
        self.blocks = []
        if len(used) == 0:
            return
        label = _components(row, col, len(used))
        # each component's members numbered 0.. within it, and its pairs' counts as a dense matrix
        _, component = _compact(label, len(used))
        sizes = np.bincount(component)
        rank = np.empty(len(used), dtype=np.int64)
        order = np.argsort(component, kind="stable")
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        rank[order] = np.arange(len(used)) - np.repeat(starts, sizes)
        pair_component = component[row]
        by_pair = np.argsort(pair_component, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(pair_component, minlength=len(sizes)))))
        for c, size in enumerate(sizes.tolist()):
            pick = by_pair[bounds[c]:bounds[c + 1]]
            local = rank[row[pick]] * size + rank[col[pick]]
            dense = np.bincount(local, minlength=size * size).astype(np.float64).reshape(size, size)
            self.blocks.append((used[order[starts[c]:starts[c] + size]], dense))

    def __call__(self, c: np.ndarray) -> np.ndarray:
        total = np.zeros(len(c))
        for speakers, dense in self.blocks:
            part = c[:, speakers]
            total += ((part @ dense) * part).sum(axis=1)
        return total


# a group whose window points times target speakers are at most this many: every point a checkpoint
DENSE_CELLS = 1 << 15


class Workspace:
    """Scratch arrays reused block after block (a fresh array of many megabytes costs its page faults,
    as much as the sums written into it)."""

    def __init__(self):
        self._buffers: dict = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buffer = self._buffers.get((name, dtype))
        if buffer is None or len(buffer) < size:
            buffer = self._buffers[(name, dtype)] = np.empty(size, dtype=dtype)
        return buffer[:size].reshape(shape)


class BatchCurves:
    """:class:`BootstrapCurve`'s answers for many weightings at once: a block of replicates, one row each.

    Each weighting is a row of a multiplicity matrix (R, S). The answers are those of
    :class:`BootstrapCurve` to the last bit (every count is a whole number, held exactly in float64, and
    every rate, cost and interpolation is the same float expression), for R replicates in a few array
    operations instead of R passes over the trials:

    - the target weight below a *checkpoint* (the window's first point, a point every ``block`` targets
      or points, the last point) is one matrix product of the multiplicities with the per-speaker target
      counts below the checkpoints; below any other point it is the checkpoint's plus the few targets
      since, summed where asked;
    - the non-target weights of a window are summed from the top for every row, as one replicate does,
      but over a smaller window (``start``): the rows whose answer may lie below it are answered by
      ``deeper`` (the same for the window of ``prepared``), and below that by :class:`BootstrapCurve`;
    - the EER lies between the last checkpoint where FNMR < FMR and the next one: only that stretch is
      summed point by point; for minDCF only the top candidates can cost less than the best checkpoint,
      each with FMR known and FNMR between its stretch's ends, and a stretch is summed point by point
      only while one of its candidates may still hold the minimum; a rate at a threshold sums only the
      stretch that holds it.
    """

    def __init__(self, prepared: WindowedTrials, start: int | None = None, block: int | None = None,
                 pair_form: "_PairForm | None" = None, workspace: "Workspace | None" = None, focus=()):
        p = self.p = prepared
        self.workspace = workspace or Workspace()
        tc, nc, n_points = p.tc, p.nc, len(p.tc)
        last = n_points - 1
        # the window: non-targets from j0 (a run boundary at or above ``start``) up
        self.k0 = p.k0 if start is None else max(p.k0, int(np.searchsorted(nc, start, side="left")))
        self.j0 = int(nc[self.k0])
        self.top_e = np.ascontiguousarray(p.top_e[self.j0 - p.j0:])
        self.top_t = np.ascontiguousarray(p.top_t[self.j0 - p.j0:])
        self.pair_form = pair_form or _PairForm(p.non_e, p.non_t, p.n_speakers)
        self._has_deeper, self._deeper_curves = start is not None, None
        block = block or max(256, -(-p.n_targets // 128))
        # checkpoints: the last point with at most m * block targets below, the point after it (a big run
        # of tied targets is then a stretch with no point inside), every block-th point, k0 and the last point
        # (and ``block / 8`` apart over the ``focus`` ranges of points, where the minima of replicates lie:
        # there the bounds of finer stretches leave fewer points to sum one by one)
        fine = max(16, block // 8)
        where = [np.arange(0, p.n_targets + block, block)]
        spaced = [np.arange(self.k0, n_points, block)]
        for lo, hi in focus:
            lo, hi = max(int(lo), 0), min(int(hi), last)
            if hi > lo:
                where.append(np.arange(tc[lo], tc[hi] + fine, fine))
                spaced.append(np.arange(lo, hi + 1, fine))
        marks = np.unique(np.searchsorted(tc, np.concatenate(where), side="right") - 1)
        after = np.minimum(marks + 1, last)
        jumps = after[tc[after] - tc[marks] > fine]  # a big run of tied targets: a stretch of its own
        kappa = np.concatenate((marks, jumps, *spaced, [self.k0, last]))
        kappa = np.unique(kappa[(kappa >= self.k0) & (kappa <= last)])
        # a small set: every point of the window a checkpoint (no stretch is ever summed point by point)
        self.every_point = (n_points - self.k0) * max(int((np.bincount(p.target_spk, minlength=1) > 0).sum()), 1) \
            <= DENSE_CELLS
        if self.every_point:
            kappa = np.arange(self.k0, n_points)
        self.kappa = kappa
        self.below = tc[kappa]  # targets below each checkpoint
        # per-speaker targets below each checkpoint: T[s, i] (float64: the product below is exact)
        self.t_speakers, local = _compact(p.target_spk, p.n_speakers)
        n_k = len(kappa)
        # the first checkpoint each target lies below: targets [below[j - 1], below[j]) -> j
        first_counted = np.repeat(np.arange(n_k + 1), np.diff(np.concatenate(([0], self.below, [p.n_targets]))))
        counts = np.bincount(local * (n_k + 1) + first_counted, minlength=len(self.t_speakers) * (n_k + 1))
        # float32 holds every count exactly below 2**24, and so does the product while no row's target
        # weight reaches it (checked per block; float64 otherwise): twice as fast, half the memory
        self.t_below = np.cumsum(counts.reshape(len(self.t_speakers), n_k + 1)[:, :n_k], axis=1).astype(np.float32)
        # minDCF candidates: k0 and every point just above a non-target (between two of them FMR is constant
        # and FNMR grows: the cost can only rise), each with its stretch and its index among the window's
        k = np.arange(self.k0 + 1, n_points)
        self.cand = np.concatenate(([self.k0], k[nc[k] > nc[k - 1]]))
        self.cand_above = nc[self.cand] - self.j0
        self.cand_stretch = np.minimum(np.searchsorted(kappa, self.cand, side="right") - 1, max(n_k - 2, 0))
        at = np.minimum(np.searchsorted(kappa, self.cand), n_k - 1)
        self.cand_checkpoint = np.where(kappa[at] == self.cand, at, -1)
        self.c = None

    # --- whole counts per row --------------------------------------------------------------------------

    def measure(self, multiplicity: np.ndarray) -> "BatchCurves":
        """Prepare the answers for a block of rows (R, S); returns self."""
        c = self.c = np.ascontiguousarray(multiplicity, dtype=np.float64)
        rows = len(c)
        if len(self.t_speakers):
            used = c[:, self.t_speakers]
            if float(used.max(initial=0)) * self.p.n_targets < 2**24:
                self.cp = (used.astype(np.float32) @ self.t_below).astype(np.float64)
            else:
                self.cp = used @ self.t_below.astype(np.float64)
            self.n_t = self.cp[:, -1].copy()
        else:
            self.cp, self.n_t = np.zeros((rows, len(self.kappa))), np.zeros(rows)
        self.n_n = self.pair_form(c)
        # non-target weights of the window, summed from its start (whole numbers: int32 while no sum can pass
        # 2**31), in reused scratch arrays: the weight at or above window non-target i is total - prefix[i - 1]
        small = float(c.max(initial=0)) ** 2 * max(len(self.top_e), self.p.n_targets, 1) < 2**31 - 1
        dtype = np.int32 if small else np.int64
        counts = self.counts = c.astype(dtype)
        n_w = len(self.top_e)
        prefix = self.workspace.get("prefix", (rows, n_w), dtype)
        other = self.workspace.get("other", (rows, n_w), dtype)
        np.take(counts, self.top_e, axis=1, out=prefix)
        np.take(counts, self.top_t, axis=1, out=other)
        prefix *= other
        np.cumsum(prefix, axis=1, out=prefix)
        self.prefix = prefix
        self.total = prefix[:, -1].copy() if n_w else np.zeros(rows, dtype=dtype)
        self.defined = (self.n_t > 0) & (self.n_n > 0)
        self._at_cp = None
        return self

    def release(self) -> None:
        """Drop the last block's arrays."""
        self.c = self.counts = self.cp = self.prefix = self.total = self._at_cp = None
        if self._deeper_curves is not None:
            self._deeper_curves.release()

    def _deeper(self, rows: np.ndarray):
        """Who answers ``rows`` when the window is too shallow: (the same for the whole window, measured on
        those rows) or None (then BootstrapCurve, row by row)."""
        if not self._has_deeper:
            return None
        if self._deeper_curves is None:
            self._deeper_curves = BatchCurves(self.p, pair_form=self.pair_form)  # its own scratch arrays
        return self._deeper_curves.measure(self.c[rows])

    def _row_curve(self, r: int) -> BootstrapCurve:
        return self.p.curve(self.c[r], float(self.n_n[r]))

    def _above(self, rows, index) -> np.ndarray:
        """Non-target weight (float64) at or above window non-target ``index`` (0 .. window size) of
        ``rows`` (broadcast against ``index``)."""
        total = self.total[rows]
        if len(self.top_e) == 0:
            return np.broadcast_to(total, np.broadcast_shapes(total.shape, np.shape(index))).astype(np.float64)
        before = self.prefix[rows, np.maximum(index - 1, 0)]
        return np.where(index > 0, total - before, total).astype(np.float64)

    def _checkpoints(self) -> tuple:
        """(live rows, FNMR (L, K), FMR (L, K)) at every checkpoint of the rows where the curve is defined."""
        if self._at_cp is None:
            live = np.flatnonzero(self.defined)
            fnmr = self.cp[live] / self.n_t[live, None]
            fmr = self._above(live[:, None], self.p.nc[self.kappa] - self.j0) / self.n_n[live, None]
            self._at_cp = live, fnmr, fmr
        return self._at_cp

    def _partial(self, rows: np.ndarray, start: np.ndarray, want: np.ndarray) -> np.ndarray:
        """Target weight of the ``want`` (Q, W) targets from position ``start`` (Q,) on, per row (Q,): whole
        numbers, summed exactly in int32 (at most ``block`` targets of at most S copies each)."""
        span = int(want.max(initial=0))
        if span == 0:
            return np.zeros(want.shape)
        p = self.p
        offsets = np.minimum(start[:, None] + np.arange(span), p.n_targets - 1)
        weights = np.take(self.counts.reshape(-1), rows[:, None] * self.counts.shape[1] + p.target_spk[offsets])
        np.cumsum(weights, axis=1, out=weights)
        out = np.take_along_axis(weights, np.maximum(want - 1, 0), axis=1).astype(np.float64)
        out[want == 0] = 0.0
        return out

    def _below_at(self, rows: np.ndarray, point: np.ndarray) -> np.ndarray:
        """Target weight below one point (>= k0) per row (Q,): its checkpoint's, plus the targets since."""
        at = np.searchsorted(self.kappa, point, side="right") - 1
        want = np.where(self.kappa[at] == point, 0, self.p.tc[point] - self.below[at])
        return self.cp[rows, at] + self._partial(rows, self.below[at], want[:, None])[:, 0]

    # --- the queries ---------------------------------------------------------------------------------

    def eer(self) -> tuple:
        """(eer (R,), threshold (R,)) as BootstrapCurve.eer gives them."""
        p, rows = self.p, len(self.c)
        eer, threshold = np.full(rows, np.nan), np.full(rows, np.nan)
        live, fnmr_cp, fmr_cp = self._checkpoints()
        if len(live) == 0:
            return eer, threshold
        d = fnmr_cp - fmr_cp
        shallow = d[:, 0] >= 0  # the crossing may lie below the window (k0 is the first checkpoint)
        if shallow.any():
            rows_s = live[shallow]
            deeper = self._deeper(rows_s)
            if deeper is not None:
                eer[rows_s], threshold[rows_s] = deeper.eer()
            else:
                for r in rows_s.tolist():
                    eer[r], threshold[r] = self._row_curve(r).eer()
            live, d = live[~shallow], d[~shallow]
            if len(live) == 0:
                return eer, threshold
        i = np.argmax(d >= 0, axis=1)  # the last point's d is 1 - 0: always found, and i >= 1
        # the first point with d >= 0 lies in (checkpoint i - 1, checkpoint i]: bisect, summing the stretch's
        # targets once
        lo, hi = self.kappa[i - 1], self.kappa[i]
        end, start = hi.copy(), self.below[i - 1]
        inner = np.where(hi - lo > 1, p.tc[np.maximum(hi - 1, lo)] - start, 0)
        sums = self._partial(live, start, np.broadcast_to(np.arange(int(inner.max()) + 1), (len(live), int(inner.max()) + 1)))
        n_t, n_n = self.n_t[live], self.n_n[live]
        take = np.arange(len(live))

        def rates(point):  # point (Q,) or (Q, W)
            shape = (-1,) + (1,) * (np.ndim(point) - 1)
            r = take.reshape(shape)
            below = np.where(point == end.reshape(shape), self.cp[live, i].reshape(shape),
                             self.cp[live, i - 1].reshape(shape) +
                             sums[r, np.minimum(p.tc[point] - start.reshape(shape), sums.shape[1] - 1)])
            return below / n_t.reshape(shape), self._above(live.reshape(shape), p.nc[point] - self.j0) / n_n.reshape(shape)

        steps = np.arange(1, 32)
        while (hi - lo > 1).any():  # 32 parts at a time: d at 31 inner points per row
            probe = np.minimum(lo[:, None] + (((hi - lo)[:, None] * steps) >> 5), hi[:, None])
            fnmr, fmr = rates(probe)
            up = (fnmr - fmr >= 0) & (probe > lo[:, None])
            first = np.argmax(up, axis=1)
            found = up[take, first]
            # the first probe with d >= 0 is the new end; the probe before it (or the old start) the new start
            before = np.where(first > 0, probe[take, np.maximum(first - 1, 0)], lo)
            hi = np.where(found, probe[take, first], hi)
            lo = np.where(found, np.maximum(before, lo), probe[:, -1])
        (f0, m0), (f1, m1) = rates(hi - 1), rates(hi)
        t0, t1 = p.thresholds[hi - 1], p.thresholds[hi]
        # DetCurve.eer on the two points around the crossing
        d0, d1 = f0 - m0, f1 - m1
        a = -d0 / (d1 - d0)
        eer[live] = f0 + a * (f1 - f0)
        threshold[live] = np.minimum(np.maximum(t0 * (1.0 - a) + t1 * a, t0), t1)
        return eer, threshold

    def min_dcf(self, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> np.ndarray:
        """minDCF (R,) as BootstrapCurve.min_dcf gives it (the value)."""
        rows = len(self.c)
        out = np.full(rows, np.nan)
        live, fnmr_cp, fmr_cp = self._checkpoints()
        if len(live) == 0:
            return out
        a, b = c_miss * p_target, c_fa * (1.0 - p_target)
        norm = min(c_miss * p_target, c_fa * (1.0 - p_target))
        best = (a * fnmr_cp + b * fmr_cp).min(axis=1)  # the window's minimum is at most its checkpoints'
        if len(self.kappa) > 1 and not self.every_point:
            best = self._least_cost(live, a, b, best)
        out[live] = best / norm
        # below the window FMR >= its start's; a point there may cost as little: a deeper window decides
        shallow = b * fmr_cp[:, 0] <= best
        if shallow.any():
            rows_s = live[shallow]
            deeper = self._deeper(rows_s)
            if deeper is not None:
                out[rows_s] = deeper.min_dcf(p_target, c_miss, c_fa)
            else:
                for r in rows_s.tolist():
                    out[r] = self._row_curve(r).min_dcf(p_target, c_miss, c_fa)[0]
        return out

    def _least_cost(self, live: np.ndarray, a: float, b: float, best: np.ndarray) -> np.ndarray:
        """The least ``a FNMR + b FMR`` over the window's minDCF candidates, per row (``best``: the least at
        the checkpoints, an upper bound).

        A stretch's candidates cost at least its start's FNMR term plus its end's FMR term, and each at
        least its stretch's start FNMR term plus its own FMR term (FMR is known at every point): only the
        stretches with a candidate below the best known cost are summed point by point, first each row's
        most promising one (which lowers the best), then every one still open."""
        _, fnmr_cp, fmr_cp = self._checkpoints()
        n_t, n_n = self.n_t[live, None], self.n_n[live, None]
        bound = a * fnmr_cp[:, :-1] + b * fmr_cp[:, 1:]  # (L, K - 1)
        first = np.argmin(bound, axis=1)
        rows_q = np.flatnonzero(bound[np.arange(len(live)), first] <= best)
        if len(rows_q):
            cost = self._stretch_least_cost(live[rows_q], first[rows_q], a, b, n_t[rows_q], n_n[rows_q])
            best[rows_q] = np.minimum(best[rows_q], cost)
            bound[rows_q, first[rows_q]] = np.inf  # summed
        rows_q, stretch = np.nonzero(bound <= best[:, None])
        if len(rows_q) == 0:
            return best
        # a candidate costs at least its stretch's start FNMR term plus its own FMR term
        lo = np.searchsorted(self.cand_stretch, stretch, side="left")
        count = np.searchsorted(self.cand_stretch, stretch, side="right") - lo
        index = np.minimum(lo[:, None] + np.arange(max(int(count.max()), 1)), len(self.cand) - 1)
        fmr = self._above(live[rows_q][:, None], self.cand_above[index]) / n_n[rows_q]
        lower = a * fnmr_cp[rows_q, stretch][:, None] + b * fmr
        keep = ((lower <= best[rows_q, None]) & (np.arange(index.shape[1]) < count[:, None])).any(axis=1)
        rows_q, stretch = rows_q[keep], stretch[keep]
        if len(rows_q):
            cost = self._stretch_least_cost(live[rows_q], stretch, a, b, n_t[rows_q], n_n[rows_q])
            np.minimum.at(best, rows_q, cost)
        return best

    def _stretch_least_cost(self, rows, stretch, a, b, n_t, n_n) -> np.ndarray:
        """The least cost over the candidates of one stretch per row (Q,), each summed exactly."""
        p = self.p
        first = np.searchsorted(self.cand_stretch, stretch, side="left")
        count = np.searchsorted(self.cand_stretch, stretch, side="right") - first  # 0: no candidate (inf)
        index = np.minimum(first[:, None] + np.arange(max(int(count.max()), 1)), len(self.cand) - 1)
        valid = np.arange(index.shape[1]) < count[:, None]
        checkpoint = self.cand_checkpoint[index]
        at_checkpoint = checkpoint >= 0
        start = self.below[stretch]
        want = np.where(at_checkpoint | ~valid, 0, p.tc[self.cand[index]] - start[:, None])
        base = self.cp[rows, stretch][:, None] + self._partial(rows, start, want)
        below = np.where(at_checkpoint, self.cp[rows[:, None], np.maximum(checkpoint, 0)], base)
        fnmr = below / n_t
        fmr = self._above(rows[:, None], self.cand_above[index]) / n_n
        return np.where(valid, a * fnmr + b * fmr, np.inf).min(axis=1)

    def rates_at(self, thresholds) -> tuple:
        """(fnmr (R,), fmr (R,)) at one threshold per row (or one for all), as BootstrapCurve.rates_at."""
        p, rows = self.p, len(self.c)
        thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (rows,))
        fnmr, fmr = np.full(rows, np.nan), np.full(rows, np.nan)
        k = np.searchsorted(p.thresholds[:-1], thresholds, side="left")
        ok = ~np.isnan(thresholds)
        low = ok & (k < self.k0)
        if low.any():
            rows_s = np.flatnonzero(low)
            deeper = self._deeper(rows_s)
            if deeper is not None:
                fnmr[rows_s], fmr[rows_s] = deeper.rates_at(thresholds[rows_s])
            else:
                for r in rows_s.tolist():
                    fnmr[r], fmr[r] = self._row_curve(r).rates_at(float(thresholds[r]))
        live = np.flatnonzero(ok & ~low)
        if len(live):
            point = k[live]
            below = self._below_at(live, point)
            above = self._above(live, self.p.nc[point] - self.j0)
            n_t, n_n = self.n_t[live], self.n_n[live]
            with np.errstate(invalid="ignore", divide="ignore"):
                fnmr[live] = np.where(n_t > 0, below / n_t, np.nan)
                fmr[live] = np.where(n_n > 0, above / n_n, np.nan)
        return fnmr, fmr
