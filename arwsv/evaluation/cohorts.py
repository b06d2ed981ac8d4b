"""Automatic cohort discovery: find the speakers a system serves worst, without demographic labels.

Demographic labels are often missing or wrong (VoxCeleb1 labels several French speakers as
Norwegian). Following ARW's "virtual regions", :class:`CohortAudit` clusters **speakers** by their
mean embedding and ranks the clusters (cohorts) by their EER:

1. speaker embedding = mean of the speaker's L2-normalised utterance embeddings, normalised again;
2. scikit-learn k-means (``n_init=10``, seeded) on those unit vectors into K cohorts; by default
   ``K = clip(round(sqrt(S / 2)), 2, 20)`` for S speakers (the usual square-root rule of thumb,
   kept small enough that a cohort holds several speakers and thus target trials);
3. a cohort's EER uses the trials whose **both** speakers are in it (as a group in ``arwsv eval``);
   cohorts without a target or a non-target trial of their own have no EER and are ranked last;
4. the **bottom cohorts** are the worst-ranked cohorts taken in order until they hold at least
   ``bottom_share`` of the speakers (at least one cohort); the **gap** is their EER minus the EER of
   the remaining speakers' trials (absolute, in points, and relative to the rest), the WER-gap style
   figure of ASR fairness audits;
5. 95 % intervals resample speakers (the bootstrap of :mod:`arwsv.evaluation.groups`), with the cohorts
   held fixed (the clustering is not redone per replicate); no interval when fewer than 95 % of the
   replicates define the gap;
6. **selection bias**: the worst of K cohorts is worse than the rest even when cohorts mean nothing.
   The same selection is repeated on ``null_rounds`` random cohorts of the same sizes (speakers
   shuffled between cohorts); the report gives the mean and 95th percentile of those gaps and the
   share at least as large as the observed one. A discovered cohort matters when its gap clears them.

With metadata, each cohort is described by its share of each gender / nationality, so one sees
whether the discovered cohorts line up with the labelled groups. The plot projects the speaker
embeddings to 2-D (PCA, or t-SNE) and colours each speaker by its cohort's EER.
"""

from __future__ import annotations

import math

import numpy as np

from arwsv.errors import InputError
from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation

__all__ = ["speaker_embeddings", "default_clusters", "CohortAudit"]

BOTTOM, REST = "bottom", "rest"


def default_clusters(n_speakers: int) -> int:
    """K = clip(round(sqrt(S / 2)), 2, 20)."""
    return int(min(20, max(2, round(math.sqrt(n_speakers / 2)))))


def speaker_embeddings(ids, embeddings, speakers, rule, *, source="", allow_extra: bool = False) -> np.ndarray:
    """Mean unit embedding of each speaker in ``speakers`` (S,), from utterance ``ids`` (N,) and
    ``embeddings`` (N, D) whose speaker is ``rule(id)``; returns (S, D) unit rows.

    Every scored speaker needs an embedding; embeddings of speakers without trials are refused
    unless ``allow_extra`` (they would change the clusters but never be scored).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "US":
        raise InputError(f"ids must be a 1-D array of utterance ids (strings), got shape {ids.shape} of {ids.dtype}",
                         source)
    try:
        embeddings = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("embeddings must be numbers", source) from None
    if embeddings.ndim != 2 or len(embeddings) != len(ids) or len(ids) == 0 or embeddings.shape[1] < 2:
        raise InputError(f"embeddings must be an (N, D) array, D >= 2, with one row per id; got shape "
                         f"{embeddings.shape} for {len(ids)} ids", source)
    if not np.isfinite(embeddings).all():
        row = int(np.flatnonzero(~np.isfinite(embeddings).all(axis=1))[0])
        raise InputError(f"embedding of {str(ids[row])!r} is not finite", source)
    owners = np.array([rule(str(u)) or "" for u in ids], dtype=object)
    index = {s: i for i, s in enumerate(speakers)}
    codes = np.array([index.get(o, -1) for o in owners])
    extra = sorted(set(owners[codes < 0]))
    if extra and not allow_extra:
        raise InputError(f"embeddings of {len(extra)} speakers that have no trial in the scores (e.g. "
                         f"{', '.join(extra[:3])}); embed the scored speakers only or pass --allow-extra", source)
    keep = codes >= 0
    norms = np.linalg.norm(embeddings[keep], axis=1, keepdims=True)
    unit = embeddings[keep] / np.where(norms > 0, norms, 1.0)
    sums = np.zeros((len(speakers), embeddings.shape[1]))
    np.add.at(sums, codes[keep], unit)
    counts = np.bincount(codes[keep], minlength=len(speakers))
    if (counts == 0).any():
        missing = [str(s) for s in np.asarray(speakers)[counts == 0][:3]]
        raise InputError(f"{int((counts == 0).sum())} of {len(speakers)} scored speakers have no embedding "
                         f"(e.g. {', '.join(missing)}); embed every utterance of the trial list", source)
    means = sums / counts[:, None]
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


class CohortAudit:
    """Cluster speakers into cohorts, rank cohorts by EER, measure the bottom cohorts' gap.

    Parameters
    ----------
    table : ScoreTable
        Scored trials (S speakers).
    speaker_emb : ndarray (S, D)
        One unit embedding per speaker of ``table.speakers`` (:func:`speaker_embeddings`).
    clusters : int or None
        K; None for :func:`default_clusters`.
    bottom_share : float in (0, 1)
    bootstrap, seed : speaker-bootstrap replicates and the seed of k-means and bootstrap.
    null_rounds : draws of random cohorts of the same sizes, for the gap that selection alone gives.
    meta_values : dict attribute -> ndarray (S,) of str, optional (cohort make-up).
    """

    def __init__(self, table, speaker_emb: np.ndarray, *, clusters: int | None = None, bottom_share: float = 0.1,
                 bootstrap: int = 200, seed: int = 0, meta_values: dict | None = None, null_rounds: int = 100):
        n_spk = len(table.speakers)
        self.k = default_clusters(n_spk) if clusters is None else clusters
        if self.k < 2:
            raise InputError(f"--clusters must be >= 2, got {self.k}")
        if self.k > n_spk:
            raise InputError(f"--clusters {self.k} is more than the {n_spk} speakers in the scores")
        self.table, self.emb, self.bottom_share = table, speaker_emb, bottom_share
        if not 0.0 < bottom_share < 1.0 or not math.isfinite(bottom_share):
            raise InputError(f"--bottom-share must be in (0, 1), got {bottom_share}")
        self.bootstrap, self.seed, self.meta_values = bootstrap, seed, meta_values or {}
        self.null_rounds, self._progress = null_rounds, False
        self._sorted = None

    def fit(self) -> np.ndarray:
        """Cohort of every speaker, (S,) int, numbered 0..K-1."""
        import warnings

        from sklearn.cluster import KMeans

        with warnings.catch_warnings():  # duplicate points: reported below as fewer cohorts than asked
            warnings.simplefilter("ignore")
            self.labels_ = KMeans(n_clusters=self.k, n_init=10, random_state=self.seed).fit_predict(self.emb)
        found = len(np.unique(self.labels_))
        if found < self.k:
            raise InputError(f"k-means found only {found} distinct cohorts for --clusters {self.k} (identical "
                             "speaker embeddings?); use fewer clusters")
        return self.labels_

    def _select(self, names: np.ndarray, groups: dict) -> tuple:
        """Cohorts ranked worst first, and the bottom ones covering ``bottom_share`` of the speakers."""
        def badness(name):  # undefined EERs rank last
            eer = groups[name]["eer"]
            return -eer if eer is not None and math.isfinite(eer) else math.inf

        ranked = sorted(groups, key=lambda name: (badness(name), name))
        bottom, covered = [], 0
        for name in ranked:
            if covered >= self.bottom_share * len(names) or not math.isfinite(badness(name)):
                break
            bottom.append(name)
            covered += groups[name]["n_speakers"]
        return ranked, bottom

    def _groups(self, attribute: str, values: np.ndarray) -> dict:
        """Point metrics (no bootstrap) of every group of one per-speaker labelling."""
        evaluation = FairnessEvaluation(self.table, {attribute: values}, EvalSettings(bootstrap=0, seed=self.seed),
                                        sorted_like=self._sorted)
        self._sorted = self._sorted or evaluation  # every labelling shares the one score sort
        return evaluation.run(progress=False)["attributes"][attribute]["groups"]

    def _null(self, names: np.ndarray, rounds: int) -> list:
        """Gaps of the same selection on cohorts of the same sizes drawn at random: the gap one gets by
        picking the worst of K cohorts even when cohorts mean nothing (selection bias)."""
        from tqdm.auto import tqdm

        rng = np.random.default_rng(self.seed)
        gaps = []
        for _ in tqdm(range(rounds), desc="random cohorts", unit="draw", disable=not self._progress or None,
                      leave=False):
            shuffled = rng.permutation(names)
            groups = self._groups("cohort", shuffled)
            _, bottom = self._select(shuffled, groups)
            split = np.where(np.isin(shuffled, bottom), BOTTOM, REST).astype(object)
            gaps.append(self._gap(self._groups("split", split))["gap_abs"])
        return gaps

    def run(self, progress: bool = True) -> dict:
        """The audit as a JSON-ready dict (see module docstring)."""
        self._progress = progress
        labels = self.fit()
        names = np.array([f"c{c:02d}" for c in labels], dtype=object)
        groups = self._groups("cohort", names)
        ranked, bottom = self._select(names, groups)
        if not bottom:
            raise InputError(f"no cohort has both target and non-target trials of its own, so none has an EER; "
                             f"use fewer than {self.k} clusters")
        split = np.where(np.isin(names, bottom), BOTTOM, REST).astype(object)
        if (split == BOTTOM).all():
            raise InputError(f"the bottom cohorts would hold every speaker (--bottom-share {self.bottom_share} with "
                             f"{self.k} cohorts): lower --bottom-share or use more clusters")
        evaluation = FairnessEvaluation(self.table, {"cohort": names, "split": split},
                                        EvalSettings(bootstrap=self.bootstrap, seed=self.seed), sorted_like=self._sorted)
        report = evaluation.run(progress=progress)
        point = report["attributes"]["split"]["groups"]
        gap = self._gap(point)
        gap_ci, valid = self._gap_ci(evaluation)
        null = [g for g in self._null(names, self.null_rounds) if math.isfinite(g)] if self.null_rounds else []
        cohorts = []
        for rank, name in enumerate(ranked, start=1):
            members = names == name
            entry = {"cohort": name, "rank": rank, "bottom": name in bottom,
                     **report["attributes"]["cohort"]["groups"][name]}
            entry["make_up"] = {attribute: self._shares(values[members]) for attribute, values in self.meta_values.items()}
            cohorts.append(entry)
        random_cohorts = None
        if null:
            random_cohorts = {"rounds": len(null), "gap_abs_mean": float(np.mean(null)),
                              "gap_abs_p95": float(np.percentile(null, 95)),
                              "share_at_least_observed": float(np.mean(np.asarray(null) >= gap["gap_abs"]))}
        return {
            "n_speakers": len(names), "clusters": self.k, "bottom_share": self.bottom_share, "seed": self.seed,
            "bootstrap": self.bootstrap, "overall": report["overall"], "cohorts": cohorts,
            "bottom": {"cohorts": bottom, "n_speakers": int((split == BOTTOM).sum()),
                       "share": float((split == BOTTOM).mean()),
                       "eer": point.get(BOTTOM, {}).get("eer"), "rest_eer": point.get(REST, {}).get("eer"),
                       **gap, "ci": gap_ci, "ci_valid_replicates": valid, "random_cohorts": random_cohorts},
            "speaker_cohort": {str(s): str(c) for s, c in zip(self.table.speakers, names)},
        }

    @staticmethod
    def _gap(groups: dict) -> dict:
        bottom, rest = (groups.get(g, {}).get("eer") for g in (BOTTOM, REST))
        if bottom is None or rest is None or not (math.isfinite(bottom) and math.isfinite(rest)):
            return {"gap_abs": float("nan"), "gap_rel": float("nan")}
        return {"gap_abs": bottom - rest, "gap_rel": (bottom - rest) / rest if rest > 0 else float("nan")}

    def _gap_ci(self, evaluation) -> tuple:
        """Percentile intervals of the gap over the bootstrap replicates, and how many were defined.
        No interval when fewer than 95 % of the replicates define the gap (it would look falsely tight)."""
        if not evaluation.replicates:
            return None, 0
        values = {"gap_abs": [], "gap_rel": []}
        for replicate in evaluation.replicates:
            gap = self._gap(replicate["split"]["groups"])
            for key in values:
                values[key].append(gap[key])
        out, valid = {}, 0
        for key, series in values.items():
            series = np.asarray(series, dtype=np.float64)
            series = series[np.isfinite(series)]
            valid = len(series) if key == "gap_abs" else valid
            enough = len(series) >= 0.95 * len(evaluation.replicates)
            out[key] = [float(np.percentile(series, 2.5)), float(np.percentile(series, 97.5))] if enough else None
        return out, valid

    @staticmethod
    def _shares(values: np.ndarray) -> dict:
        labelled = values[values != ""]
        if len(labelled) == 0:
            return {}
        names, counts = np.unique(labelled.astype(str), return_counts=True)
        return {str(n): float(c / len(labelled)) for n, c in sorted(zip(names, counts), key=lambda p: -p[1])}

    def plot(self, result: dict, path, projection: str = "pca") -> None:
        """2-D projection of the speaker embeddings, coloured by cohort EER; bottom cohorts outlined."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from arwsv.io.files import atomic_write

        if projection == "tsne":
            from sklearn.manifold import TSNE

            if len(self.emb) < 4:
                raise InputError(f"--projection tsne needs at least 4 speakers, the scores have {len(self.emb)}")

            xy = TSNE(n_components=2, random_state=self.seed,
                      perplexity=min(30.0, max(2.0, (len(self.emb) - 1) / 3))).fit_transform(self.emb)
        else:
            from sklearn.decomposition import PCA

            xy = PCA(n_components=2, random_state=self.seed).fit_transform(self.emb)
        eer = {c["cohort"]: c["eer"] for c in result["cohorts"]}
        names = np.array([result["speaker_cohort"][str(s)] for s in self.table.speakers])
        colour = np.array([100 * eer[n] if eer[n] is not None and math.isfinite(eer[n]) else np.nan for n in names])
        bottom = np.isin(names, result["bottom"]["cohorts"])
        fig, ax = plt.subplots(figsize=(7, 5.5))
        points = ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="viridis_r", s=28,
                            edgecolors=np.where(bottom, "red", "none"), linewidths=1.2, plotnonfinite=True)
        for name in np.unique(names):
            centre = xy[names == name].mean(axis=0)
            ax.annotate(name, centre, fontsize=8, ha="center", va="center", weight="bold")
        fig.colorbar(points, ax=ax, label="cohort EER (%)")
        b = result["bottom"]
        ax.set(title=f"speakers by cohort ({projection.upper()}); red edge: bottom {100 * b['share']:.0f} % "
                     f"of speakers", xlabel=f"{projection} 1", ylabel=f"{projection} 2")
        fig.tight_layout()
        with atomic_write(path, mode="wb") as handle:
            fig.savefig(handle, format="png", dpi=110)
        plt.close(fig)


def format_audit(result: dict) -> str:
    """The terminal table: cohorts worst first, then the bottom-vs-rest gap."""
    def pct(value):
        return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"

    attributes = sorted({a for c in result["cohorts"] for a in c["make_up"]})
    header = f"{'rank':>4}  {'cohort':<7}{'speakers':>9}{'targets':>9}{'EER %':>8}  {'95% CI':<16}"
    lines = [f"{result['n_speakers']} speakers in {result['clusters']} cohorts (k-means on mean speaker "
             f"embeddings, seed {result['seed']}); overall EER {pct(result['overall']['eer'])} %", "",
             header + "".join(f"  {a}" for a in attributes)]
    for c in result["cohorts"]:
        ci = (c.get("ci") or {}).get("eer")
        band = f"[{pct(ci[0])}, {pct(ci[1])}]" if ci else ""
        mark = "*" if c["bottom"] else " "
        make = "".join("  " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in list(c["make_up"][a].items())[:3])
                       for a in attributes)
        lines.append(f"{c['rank']:>4}{mark} {c['cohort']:<7}{c['n_speakers']:>9}{c['n_targets']:>9}"
                     f"{pct(c['eer']):>8}  {band:<16}{make}")
    b = result["bottom"]
    ci = b.get("ci") or {}

    def band(key, scale, unit):
        return f" [{scale * ci[key][0]:.2f}, {scale * ci[key][1]:.2f}]{unit}" if ci.get(key) else ""

    relative = "n/a" if not math.isfinite(b["gap_rel"]) else f"{100 * b['gap_rel']:+.0f} %"
    lines += ["", f"bottom cohorts (*) {', '.join(b['cohorts'])}: {b['n_speakers']} speakers "
                  f"({100 * b['share']:.0f} %), EER {pct(b['eer'])} % vs rest {pct(b['rest_eer'])} %",
              f"gap: {pct(b['gap_abs'])} pp{band('gap_abs', 100, ' pp')}, relative {relative}"
              f"{band('gap_rel', 100, ' %')}"]
    null = b.get("random_cohorts")
    if null:
        lines.append(f"random cohorts of the same sizes ({null['rounds']} draws): gap {pct(null['gap_abs_mean'])} pp "
                     f"on average, 95th percentile {pct(null['gap_abs_p95'])} pp; "
                     f"{100 * null['share_at_least_observed']:.0f} % of draws reach the observed gap")
    return "\n".join(lines)
