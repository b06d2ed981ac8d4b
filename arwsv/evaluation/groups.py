"""Fairness evaluation of scored verification trials: overall, per group, gaps, speaker bootstrap.

Groups
------
For an attribute (``gender``, ``nationality``, ...) each speaker has a value. A trial is
*within group g* when both its speakers have value g; those trials give the group's EER and
minDCF. Trials between two labelled groups are *cross-group* (counted, and their FMR/FNMR at the
global threshold reported); trials with an unlabelled speaker are *unlabelled*. Per-group FNMR
and FMR are measured at the **overall EER threshold**, because a deployed system has one threshold.
Groups with fewer than ``min_targets`` within-group target trials are pooled into ``other``
(``min_targets`` turns VoxCeleb's 36 nationalities into the paper's US / UK / others view).
With ``intersect``, the attributes are crossed (``gender/nationality`` groups such as
``female/USA``), built from the pooled values.

Calibration
-----------
With LLRs (``llr``: the scores themselves, or calibrated ones, see :mod:`arwsv.evaluation.calibration`)
every group also gets Cllr, minCllr, the calibration loss Cllr - minCllr and the actual DCF at the
Bayes threshold of each P_tar, and each attribute the gap and std of Cllr and of the calibration
loss: one calibration for everybody, as deployed. ``settings.thresholds`` adds each group's FNMR
and FMR at fixed score thresholds (``fnmr@T``, ``fmr@T``).

Bootstrap
---------
Confidence intervals resample **speakers**, not trials (trials of one speaker are not independent):
each replicate draws S speakers with replacement; a speaker drawn c times weighs c, a target trial
of speaker a counts c_a times and a non-target trial between a and b counts c_a * c_b times (every
pair of drawn copies). Metrics are recomputed with these weights without re-sorting, and only
where they can change (:mod:`arwsv.evaluation.bootstrap`: exact, a fraction of a pass over the trials),
and the interval is the percentile interval of the replicates where the metric is defined.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from arwsv.evaluation.fairness import gap_summary, gap_summary_rows, spread_summary
from arwsv.evaluation.metrics import SortedTrials
from arwsv.io.scorefile import ScoreTable

__all__ = ["EvalSettings", "FairnessEvaluation", "OTHER", "threshold_key"]

OTHER = "other"
# a group's bootstrap window reaches this many times the largest FMR its point estimates need
WINDOW_MARGIN = 3.0
# bootstrap replicates measured together (a block's arrays: BATCH x the trials of the window)
BATCH = 80
# the first window of a block of replicates: this many times the largest FMR the point estimates need
BATCH_MARGIN = 1.1
# finer checkpoints where the point estimate's detection cost is within this factor of its minimum
FOCUS_COST = 1.05


@dataclass
class EvalSettings:
    """Knobs of :class:`FairnessEvaluation` (defaults follow VoxCeleb practice)."""

    p_targets: tuple = (0.01, 0.05)
    c_miss: float = 1.0
    c_fa: float = 1.0
    min_targets: int = 0
    fdr_alpha: float = 0.5
    garbe_alpha: float = 0.5
    bootstrap: int = 0
    confidence: float = 0.95
    seed: int = 0
    thresholds: tuple = ()  # deployed score thresholds: per-group FNMR / FMR at each


@dataclass
class _Group:
    name: str
    index: np.ndarray  # trial indices, in ascending score order
    trials: SortedTrials
    n_speakers: int = 0


@dataclass
class _Partition:
    attribute: str
    groups: list
    cross: _Group
    n_unlabelled: int
    pooled: list = field(default_factory=list)


def _dcf_key(p: float) -> str:
    return f"min_dcf@{p:g}"


def threshold_key(t: float) -> str:
    """How a threshold names its keys (``fnmr@0.5``): short, and never the same for two thresholds."""
    short = f"{t:g}"
    return short if float(short) == t else repr(float(t))


class FairnessEvaluation:
    """Overall and per-group verification metrics of one score table.

    Parameters
    ----------
    table : ScoreTable
        N scored trials with speaker codes.
    speaker_values : dict attribute -> ndarray of str, shape (S,)
        Each speaker's value of each attribute, aligned with ``table.speakers``; "" = unknown.
    settings : EvalSettings
    intersect : bool
        Also evaluate the cross product of all attributes.
    sorted_like : FairnessEvaluation, optional
        An evaluation of the same table whose score sort is reused (for many labellings of the
        same trials, e.g. ``arwsv audit``'s random cohorts): building this one is then O(N).
    llr : ndarray, shape (N,), optional
        Each trial's log-likelihood ratio (the scores, or calibrated scores): adds the calibration
        metrics. EER and minDCF stay those of ``table.scores``.
    """

    def __init__(self, table: ScoreTable, speaker_values: dict, settings: EvalSettings | None = None,
                 intersect: bool = False, sorted_like: "FairnessEvaluation | None" = None, llr=None):
        self.table = table
        self.llr = None if llr is None else np.asarray(llr, dtype=np.float64)
        if self.llr is not None and self.llr.shape != table.scores.shape:
            raise ValueError(f"llr {self.llr.shape} must have one value per trial {table.scores.shape}")
        if self.llr is not None and not np.isfinite(self.llr).all():
            raise ValueError("llr must be finite (an infinite LLR of an undrawn speaker would turn sums into nan)")
        self._calibration: dict = {}  # group -> CalibrationTerms
        self._llr_orders = None  # group -> the permutation sorting its LLRs
        self._calibration_point: dict = {}  # group -> its point calibration metrics
        self.settings = settings or EvalSettings()
        self.replicates: list = []  # the bootstrap replicates of the last run()
        self._prepared: dict = {}  # group -> WindowedTrials, built at the first bootstrap replicate
        self._batches: dict = {}  # group -> BatchCurves (the same, for a block of replicates)
        self._dets: dict = {}  # group -> its unweighted DetCurve
        if sorted_like is not None and sorted_like.table is table:
            self.order, self.overall = sorted_like.order, sorted_like.overall
        else:
            self.order = np.argsort(table.scores, kind="stable")  # the one O(N log N) sort
            self.overall = _Group("all", self.order, SortedTrials(table.scores[self.order], table.is_target[self.order],
                                                                  assume_sorted=True), len(table.speakers))
        pooled_values, self.partitions = {}, []
        for attribute, values in speaker_values.items():
            values, pooled = self._pool(np.asarray(values, dtype=object))
            pooled_values[attribute] = values
            self.partitions.append(self._partition(attribute, values, pooled))
        if intersect and len(pooled_values) >= 2:
            names = list(pooled_values)
            crossed = pooled_values[names[0]].copy()
            for name in names[1:]:
                other = pooled_values[name]
                known = (crossed != "") & (other != "")
                crossed = np.where(known, crossed + "/" + other, "")
            self.partitions.append(self._partition("/".join(names), crossed.astype(object), []))

    # --- building groups -------------------------------------------------------------------

    def _within_codes(self, values: np.ndarray):
        """Per-trial group code: g for within-group, G for cross-group, G+1 for unlabelled."""
        # codes in order of first appearance (as pandas.factorize numbers them); "" (unknown) is -1
        index: dict = {}
        codes = np.fromiter((-1 if _unknown(v) else index.setdefault(v, len(index)) for v in values.tolist()),
                            dtype=np.intp, count=len(values))
        names = list(index)
        n_groups = len(names)
        e, t = codes[self.table.enrol_spk], codes[self.table.test_spk]
        trial = np.where((e == t) & (e >= 0), e, np.where((e >= 0) & (t >= 0), n_groups, n_groups + 1))
        return trial, codes, names

    def _pool(self, values: np.ndarray):
        """Pool groups with fewer than ``min_targets`` within-group target trials into OTHER."""
        if self.settings.min_targets <= 0:
            return values, []
        trial, _, names = self._within_codes(values)
        targets = np.bincount(trial[self.table.is_target], minlength=len(names) + 2)[: len(names)]
        small = [n for n, count in zip(names, targets) if count < self.settings.min_targets and n != OTHER]
        if not small:
            return values, []
        return np.where(np.isin(values, small), OTHER, values).astype(object), sorted(small)

    def _partition(self, attribute: str, values: np.ndarray, pooled: list) -> _Partition:
        trial, spk_codes, names = self._within_codes(values)
        n_groups = len(names)
        # trials sorted by group, then by score (stable sort of the score order by group code)
        # a stable sort of small integers is a radix sort: O(N)
        small = np.int16 if n_groups + 2 < 2**15 else np.int64
        by_group = self.order[np.argsort(trial[self.order].astype(small), kind="stable")]
        bounds = np.concatenate(([0], np.cumsum(np.bincount(trial, minlength=n_groups + 2))))
        scores, is_target = self.table.scores[by_group], self.table.is_target[by_group]
        n_spk = np.bincount(spk_codes[spk_codes >= 0], minlength=n_groups)

        def group(g: int, name: str) -> _Group:
            lo, hi = bounds[g], bounds[g + 1]
            return _Group(name, by_group[lo:hi], SortedTrials(scores[lo:hi], is_target[lo:hi], assume_sorted=True),
                          int(n_spk[g]) if g < n_groups else 0)

        # groups in name order, "other" last, so tables read the same run after run
        rank = sorted(range(n_groups), key=lambda g: (names[g] == OTHER, str(names[g])))
        groups = [group(g, str(names[g])) for g in rank]
        return _Partition(attribute, groups, group(n_groups, "(cross-group)"),
                          int(bounds[n_groups + 2] - bounds[n_groups + 1]), pooled)

    # --- measuring -------------------------------------------------------------------------

    def _curve(self, group: _Group, multiplicity):
        """The group's DET curve: exact and unweighted, or a bootstrap replicate's weighted one."""
        if multiplicity is None:
            return self._det(group)
        return self._windowed(group).curve(multiplicity)

    def _det(self, group: _Group):
        """The group's unweighted DET curve (computed once)."""
        key = id(group)
        if key not in self._dets:
            self._dets[key] = group.trials.det()
        return self._dets[key]

    def _windowed(self, group: _Group):
        """The group's trials prepared for bootstrap weights, with a window sized from the point
        estimates (a replicate whose answer lies outside it falls back to the full curve)."""
        from arwsv.evaluation.bootstrap import WindowedTrials

        key = id(group)
        if key not in self._prepared:
            s = self.settings
            dcf_bound = max(s.c_miss * p / (s.c_fa * (1 - p)) for p in s.p_targets)
            # the window reaches every FMR a point estimate needs (deployed thresholds included)
            reach = max(self._reach(group), dcf_bound)
            self._prepared[key] = WindowedTrials(
                group.trials, self.table.enrol_spk[group.index], self.table.test_spk[group.index],
                len(self.table.speakers), window_fmr=min(1.0, WINDOW_MARGIN * reach))
        return self._prepared[key]

    def _focus(self, group: _Group) -> list:
        """Ranges of the group's points where replicates' minDCF lie: those within :data:`FOCUS_COST` of the
        point estimate's minimum cost, for each P_target (a speed hint only: no answer depends on it)."""
        det, s = self._det(group), self.settings
        if not det.defined:
            return []
        ranges = []
        for p in s.p_targets:
            cost = s.c_miss * p * det.fnmr + s.c_fa * (1.0 - p) * det.fmr
            near = np.flatnonzero(cost <= FOCUS_COST * cost.min())
            ranges.append((int(near[0]), int(near[-1])))
        return ranges

    def _reach(self, group: _Group) -> float:
        """The largest FMR of the group that a point estimate needs: its EER, its FMR at the overall EER
        threshold and at each deployed threshold, the overall EER."""
        det = self._det(group)
        overall_eer, threshold = self._det(self.overall).eer()
        needed = [det.rates_at(t)[1] for t in (threshold, *self.settings.thresholds)]
        return float(np.nanmax([det.eer()[0], *needed, overall_eer, 0.0]))

    def _calibration_metrics(self, group: _Group, multiplicity) -> dict:
        """Cllr, minCllr, calibration loss, actual DCF of the group's LLRs ({} without LLRs)."""
        if self.llr is None:
            return {}
        if multiplicity is None and id(group) in self._calibration_point:
            return self._calibration_point[id(group)]
        return self._terms(group).measure(multiplicity)

    def _terms(self, group: _Group):
        """The group's CalibrationTerms (built once)."""
        from arwsv.evaluation.calibration import CalibrationTerms

        key = id(group)
        if key not in self._calibration:
            s, i = self.settings, group.index
            self._calibration[key] = CalibrationTerms(self.llr[i], self.table.is_target[i], self.table.enrol_spk[i],
                                                      self.table.test_spk[i], len(self.table.speakers),
                                                      s.p_targets, s.c_miss, s.c_fa, order=self._llr_order(group))
        return self._calibration[key]

    def _calibration_points(self) -> None:
        """Every group's point calibration metrics at once, the groups shared among threads
        (:mod:`arwsv.evaluation.parallel`): each group's numbers are computed as alone."""
        if self.llr is None or self._calibration_point:
            return
        from arwsv.evaluation.calibration import _isotonic_regression
        from arwsv.evaluation.parallel import thread_map

        _isotonic_regression()  # found once, before the threads
        groups = [self.overall] + [g for part in self.partitions for g in part.groups]
        terms = [self._terms(g) for g in groups]
        values = thread_map(lambda t: t.measure(None), terms)
        self._calibration_point = {id(g): v for g, v in zip(groups, values)}

    def _llr_order(self, group: _Group) -> np.ndarray:
        """The permutation sorting ``group``'s LLRs (in its trial order) ascending: one sort of all the LLRs,
        then per attribute one O(N) pass (a stable sort of small group codes) instead of a sort per group."""
        if self._llr_orders is None:
            n = len(self.llr)
            order = np.argsort(self.llr, kind="stable")
            position = np.empty(n, dtype=np.intp)
            position[self.overall.index] = np.arange(n)
            orders = {id(self.overall): position[order]}
            for part in self.partitions:
                groups = part.groups + [part.cross]
                code = np.full(n, len(groups), dtype=np.int16 if len(groups) < 2**15 - 1 else np.int64)
                for g, grp in enumerate(groups):
                    code[grp.index] = g
                by_group = order[np.argsort(code[order], kind="stable")]
                bounds = np.concatenate(([0], np.cumsum(np.bincount(code, minlength=len(groups) + 1))))
                for g, grp in enumerate(part.groups):
                    position[grp.index] = np.arange(len(grp.index))
                    orders[id(grp)] = position[by_group[bounds[g]:bounds[g + 1]]]
            self._llr_orders = orders
        return self._llr_orders[id(group)]

    def _group_metrics(self, group: _Group, multiplicity, threshold: float) -> dict:
        det = self._curve(group, multiplicity)
        eer, _ = det.eer()
        out = {"eer": eer}
        for p in self.settings.p_targets:
            out[_dcf_key(p)] = det.min_dcf(p, self.settings.c_miss, self.settings.c_fa)[0]
        out["fnmr"], out["fmr"] = det.rates_at(threshold)
        for t in self.settings.thresholds:
            out[f"fnmr@{threshold_key(t)}"], out[f"fmr@{threshold_key(t)}"] = det.rates_at(t)
        out.update(self._calibration_metrics(group, multiplicity))
        return out

    def measure(self, multiplicity=None) -> dict:
        """All metrics under one speaker weighting (None: every speaker once).

        Returns a nested dict of floats:
        ``{"overall": {...}, attribute: {"groups": {name: {...}}, "cross_group": {...}, "summary": {...}}}``.
        """
        if multiplicity is None:
            self._calibration_points()
        det = self._curve(self.overall, multiplicity)
        eer, threshold = det.eer()
        overall = {"eer": eer, "eer_threshold": threshold}
        for p in self.settings.p_targets:
            overall[_dcf_key(p)] = det.min_dcf(p, self.settings.c_miss, self.settings.c_fa)[0]
        for t in self.settings.thresholds:
            overall[f"fnmr@{threshold_key(t)}"], overall[f"fmr@{threshold_key(t)}"] = det.rates_at(t)
        overall.update(self._calibration_metrics(self.overall, multiplicity))
        out = {"overall": overall}
        for part in self.partitions:
            groups = {g.name: self._group_metrics(g, multiplicity, threshold) for g in part.groups}
            out[part.attribute] = self._summarise(groups, self._curve(part.cross, multiplicity).rates_at(threshold))
        return out

    def bootstrap(self, progress: bool = True) -> list:
        """``settings.bootstrap`` replicate results of :meth:`measure`, resampling speakers.

        The replicates are those of ``[self.measure(m) for m in draws]`` to the last bit, with the same
        draws in the same order; they are measured :data:`BATCH` at a time
        (:class:`arwsv.evaluation.bootstrap.BatchCurves`). (Blocks shared among threads were measured
        slower on 2 cores: most of a block's time is spent between NumPy calls, under the interpreter lock.)"""
        rng = np.random.default_rng(self.settings.seed)
        n_spk = len(self.table.speakers)
        n = self.settings.bootstrap
        draws = np.empty((n, n_spk))
        for r in range(n):
            draws[r] = np.bincount(rng.integers(0, n_spk, size=n_spk), minlength=n_spk)
        blocks = [draws[lo:lo + BATCH] for lo in range(0, n, BATCH)]
        bar = None
        if progress and n and sys.stderr.isatty():
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="bootstrap", unit="rep", leave=False)
        groups = [self.overall] + [g for part in self.partitions for g in (*part.groups, part.cross)]
        batches = {id(g): self._batch(g) for g in groups}
        from arwsv.evaluation.parallel import one_blas_thread

        results: list = []
        try:
            with one_blas_thread():
                for block in blocks:
                    results.append(self._measure_block(block, batches))
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
            self._batches = {}  # their scratch arrays go with them
        return [replicate for block in results for replicate in block]

    def _batch(self, group: _Group):
        """The group's :class:`~arwsv.evaluation.bootstrap.BatchCurves`: a first window of
        :data:`BATCH_MARGIN` times the FMR its point estimates need (the rows whose answer lies deeper are
        answered from the window of :meth:`_windowed`)."""
        from arwsv.evaluation.bootstrap import BatchCurves

        key = id(group)
        if key not in self._batches:
            prepared = self._windowed(group)
            share = min(1.0, BATCH_MARGIN * self._reach(group))
            start = int(np.floor(prepared.n_nontargets * (1.0 - share)))
            self._batches[key] = BatchCurves(prepared, start=start, focus=self._focus(group))
        return self._batches[key]

    def _block_metrics(self, group: _Group, multiplicity: np.ndarray, threshold, batches: dict) -> dict:
        """:meth:`_group_metrics` without the calibration terms, as columns (one entry per row)."""
        s = self.settings
        curves = batches[id(group)].measure(multiplicity)
        out = {"eer": curves.eer()[0]}
        for p in s.p_targets:
            out[_dcf_key(p)] = curves.min_dcf(p, s.c_miss, s.c_fa)
        out["fnmr"], out["fmr"] = curves.rates_at(threshold)
        for t in s.thresholds:
            out[f"fnmr@{threshold_key(t)}"], out[f"fmr@{threshold_key(t)}"] = curves.rates_at(t)
        curves.release()
        return {k: v.tolist() for k, v in out.items()}

    def _measure_block(self, multiplicity: np.ndarray, batches: dict) -> list:
        """``[self.measure(m) for m in multiplicity]`` for a block of rows (R, S), the same numbers
        (``batches``: each group's BatchCurves, by ``id(group)``)."""
        s = self.settings
        rows = len(multiplicity)
        curves = batches[id(self.overall)].measure(multiplicity)
        eer, threshold = curves.eer()
        overall = {"eer": eer, "eer_threshold": threshold}
        for p in s.p_targets:
            overall[_dcf_key(p)] = curves.min_dcf(p, s.c_miss, s.c_fa)
        for t in s.thresholds:
            overall[f"fnmr@{threshold_key(t)}"], overall[f"fmr@{threshold_key(t)}"] = curves.rates_at(t)
        curves.release()
        overall = {k: v.tolist() for k, v in overall.items()}
        parts = []
        for part in self.partitions:
            groups = {g.name: (g, self._block_metrics(g, multiplicity, threshold, batches)) for g in part.groups}
            cross_curves = batches[id(part.cross)].measure(multiplicity)
            cross = [v.tolist() for v in cross_curves.rates_at(threshold)]
            cross_curves.release()
            columns = [cols for _, cols in groups.values()]

            def matrix(key):  # (rows, groups)
                return np.array([c[key] for c in columns], dtype=np.float64).reshape(len(columns), rows).T

            summaries = gap_summary_rows(matrix("eer"), matrix("fmr"), matrix("fnmr"), fdr_alpha=s.fdr_alpha,
                                         garbe_alpha=s.garbe_alpha)
            parts.append((part, groups, cross, summaries))
        out = []
        for r in range(rows):
            m = multiplicity[r]
            row = {k: v[r] for k, v in overall.items()}
            row.update(self._calibration_metrics(self.overall, m))
            result = {"overall": row}
            for part, groups, cross, summaries in parts:
                metrics = {}
                for name, (g, columns) in groups.items():
                    metrics[name] = {k: v[r] for k, v in columns.items()}
                    metrics[name].update(self._calibration_metrics(g, m))
                result[part.attribute] = self._summarise(metrics, (cross[0][r], cross[1][r]), summaries[r])
            out.append(result)
        return out

    def _summarise(self, groups: dict, cross: tuple, summary: dict | None = None) -> dict:
        """An attribute's entry of :meth:`measure` from its groups' metrics and the cross-group rates (and
        its :func:`gap_summary`, when computed already)."""
        if summary is None:
            summary = gap_summary([m["eer"] for m in groups.values()], [m["fmr"] for m in groups.values()],
                                  [m["fnmr"] for m in groups.values()], fdr_alpha=self.settings.fdr_alpha,
                                  garbe_alpha=self.settings.garbe_alpha)
        for name, ratio in zip(groups, summary.pop("eer_ratio_to_mean")):
            groups[name]["eer_ratio_to_mean"] = ratio
        if self.llr is not None:  # the same groups as the EER summaries: those with a defined EER
            defined = [np.isfinite(m["eer"]) for m in groups.values()]
            for key in ("cllr", "cal_loss"):
                summary.update(spread_summary([m[key] if ok else np.nan for m, ok in zip(groups.values(), defined)],
                                              key))
        return {"groups": groups, "cross_group": {"fnmr": cross[0], "fmr": cross[1]}, "summary": summary}

    # --- the report ------------------------------------------------------------------------

    @staticmethod
    def _counts(group: _Group) -> dict:
        n_tgt = int(group.trials.is_target.sum())
        return {"n_trials": len(group.trials), "n_targets": n_tgt, "n_nontargets": len(group.trials) - n_tgt}

    def run(self, progress: bool = True) -> dict:
        """Point estimates, counts and (with ``settings.bootstrap``) confidence intervals.

        The result is JSON-ready (nan where undefined); its keys are documented in README.
        """
        point = self.measure()
        replicates = self.bootstrap(progress) if self.settings.bootstrap > 0 else []
        self.replicates = replicates  # kept for statistics of the caller's own (e.g. arwsv audit's gap)
        self._prepared, self._dets = {}, {}  # the bootstrap's arrays: not needed after this
        lo_q = (1 - self.settings.confidence) / 2 * 100

        def ci(path):
            if not replicates:
                return None
            values = np.array(_column(replicates, path), dtype=np.float64)
            values = values[np.isfinite(values)]
            if len(values) == 0:
                return [float("nan"), float("nan")]
            return [float(np.percentile(values, lo_q)), float(np.percentile(values, 100 - lo_q))]

        def with_ci(metrics: dict, path: tuple) -> dict:
            out = dict(metrics)
            if replicates:
                out["ci"] = {k: ci(path + (k,)) for k in metrics if not k.startswith("n_")}
            return out

        table = self.table
        report = {
            "overall": {**self._counts(self.overall), "n_speakers": len(table.speakers),
                        **with_ci(point["overall"], ("overall",))},
            "attributes": {},
        }
        for part in self.partitions:
            measured = point[part.attribute]
            groups = {}
            for g in part.groups:
                groups[g.name] = {"n_speakers": g.n_speakers, **self._counts(g),
                                  **with_ci(measured["groups"][g.name], (part.attribute, "groups", g.name))}
            report["attributes"][part.attribute] = {
                "groups": groups,
                "cross_group": {**self._counts(part.cross),
                                **with_ci(measured["cross_group"], (part.attribute, "cross_group"))},
                "n_unlabelled_trials": part.n_unlabelled,
                "pooled_into_other": part.pooled,
                "summary": with_ci(measured["summary"], (part.attribute, "summary")),
            }
        return report


def _unknown(value) -> bool:
    """An unknown attribute value: "" (and, as pandas.factorize takes them, None and nan)."""
    return value is None or (isinstance(value, str) and value == "") or (isinstance(value, float) and value != value)


def _column(trees: list, path: tuple) -> list:
    """``[_dig(tree, path) for tree in trees]``, the subscripts written out (the report asks for hundreds
    of paths of a thousand replicates)."""
    if len(path) == 2:
        a, b = path
        return [t[a][b] for t in trees]
    if len(path) == 3:
        a, b, c = path
        return [t[a][b][c] for t in trees]
    if len(path) == 4:
        a, b, c, d = path
        return [t[a][b][c][d] for t in trees]
    return [_dig(t, path) for t in trees]


def _dig(tree: dict, path: tuple):
    for key in path:
        tree = tree[key]
    return tree
