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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arwsv.evaluation.fairness import gap_summary, spread_summary
from arwsv.evaluation.metrics import SortedTrials
from arwsv.io.scorefile import ScoreTable

__all__ = ["EvalSettings", "FairnessEvaluation", "OTHER", "threshold_key"]

OTHER = "other"
# a group's bootstrap window reaches this many times the largest FMR its point estimates need
WINDOW_MARGIN = 3.0


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
        self.settings = settings or EvalSettings()
        self.replicates: list = []  # the bootstrap replicates of the last run()
        self._prepared: dict = {}  # group -> WindowedTrials, built at the first bootstrap replicate
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
        labelled = values.astype(object)  # copy; "" (unknown) becomes the NA sentinel -1
        labelled[labelled == ""] = None
        codes, names = pd.factorize(labelled, use_na_sentinel=True)
        n_groups = len(names)
        e, t = codes[self.table.enrol_spk], codes[self.table.test_spk]
        trial = np.where((e == t) & (e >= 0), e, np.where((e >= 0) & (t >= 0), n_groups, n_groups + 1))
        return trial, codes, list(names)

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
            return group.trials.det()
        return self._windowed(group).curve(multiplicity)

    def _windowed(self, group: _Group):
        """The group's trials prepared for bootstrap weights, with a window sized from the point
        estimates (a replicate whose answer lies outside it falls back to the full curve)."""
        from arwsv.evaluation.bootstrap import WindowedTrials

        key = id(group)
        if key not in self._prepared:
            det = group.trials.det()
            overall_eer, threshold = self.overall.trials.det().eer()
            s = self.settings
            dcf_bound = max(s.c_miss * p / (s.c_fa * (1 - p)) for p in s.p_targets)
            # the window reaches every FMR a point estimate needs (deployed thresholds included)
            needed = [det.rates_at(t)[1] for t in (threshold, *s.thresholds)]
            reach = np.nanmax([det.eer()[0], *needed, overall_eer, dcf_bound, 0.0])
            self._prepared[key] = WindowedTrials(
                group.trials, self.table.enrol_spk[group.index], self.table.test_spk[group.index],
                len(self.table.speakers), window_fmr=min(1.0, WINDOW_MARGIN * reach))
        return self._prepared[key]

    def _calibration_metrics(self, group: _Group, multiplicity) -> dict:
        """Cllr, minCllr, calibration loss, actual DCF of the group's LLRs ({} without LLRs)."""
        if self.llr is None:
            return {}
        from arwsv.evaluation.calibration import CalibrationTerms

        key = id(group)
        if key not in self._calibration:
            s, i = self.settings, group.index
            self._calibration[key] = CalibrationTerms(self.llr[i], self.table.is_target[i], self.table.enrol_spk[i],
                                                      self.table.test_spk[i], len(self.table.speakers),
                                                      s.p_targets, s.c_miss, s.c_fa)
        return self._calibration[key].measure(multiplicity)

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
            cross = self._curve(part.cross, multiplicity).rates_at(threshold)
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
            out[part.attribute] = {"groups": groups, "cross_group": {"fnmr": cross[0], "fmr": cross[1]},
                                   "summary": summary}
        return out

    def bootstrap(self, progress: bool = True) -> list:
        """``settings.bootstrap`` replicate results of :meth:`measure`, resampling speakers."""
        from tqdm.auto import tqdm

        rng = np.random.default_rng(self.settings.seed)
        n_spk = len(self.table.speakers)
        replicates = []
        for _ in tqdm(range(self.settings.bootstrap), desc="bootstrap", unit="rep", disable=not progress or None,
                      leave=False):
            multiplicity = np.bincount(rng.integers(0, n_spk, size=n_spk), minlength=n_spk).astype(np.float64)
            replicates.append(self.measure(multiplicity))
        return replicates

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
        lo_q = (1 - self.settings.confidence) / 2 * 100

        def ci(path):
            if not replicates:
                return None
            values = np.array([_dig(r, path) for r in replicates], dtype=np.float64)
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


def _dig(tree: dict, path: tuple):
    for key in path:
        tree = tree[key]
    return tree
