"""Two systems scored on the same trials: paired differences with a paired speaker bootstrap.

System A and system B are evaluated on one trial list. Every metric of :mod:`arwsv.evaluation.groups`
(overall EER and minDCF, each group's EER, each attribute's gap, std, FDR, GARBE) is compared as the
difference ``B - A``. Its 95 % interval comes from a *paired* speaker bootstrap: each replicate draws
one set of speakers and measures both systems on it, so what the two systems share (which speakers
are hard) cancels in the difference, and the interval is much narrower than the two systems'
separate intervals would suggest. ``share_b_better`` is the share of replicates where B is strictly
better (lower, or higher for FDR).

Trials are matched by their (enrol, test) utterance pair, with a trailing audio extension ignored
(``id1/v/1.wav`` = ``id1/v/1``), so the two files may list them in any order and in different formats.
"""

from __future__ import annotations

import math
import re

import numpy as np

from arwsv.errors import InputError
from arwsv.evaluation.groups import _column, _dig  # the report-path lookups the bootstrap uses
from arwsv.io.scorefile import ScoreTable

__all__ = ["align_trials", "paired_comparison", "format_comparison", "tidy_comparison", "SUMMARIES"]

# the per-attribute summaries compared, and whether higher is better
SUMMARIES = {"eer_gap_abs": False, "eer_gap_rel": False, "eer_std": False, "fdr": True, "garbe": False}
# with calibration metrics (--llr, --calibrate, --calibrate-on), also compared; all lower is better
CALIBRATION_OVERALL = ("cllr", "min_cllr", "cal_loss")
CALIBRATION_GROUP = ("cllr", "cal_loss")
CALIBRATION_SUMMARIES = ("cllr_gap_abs", "cllr_std", "cal_loss_gap_abs", "cal_loss_std")
_EXTENSION = re.compile(r"\.(wav|flac|m4a|mp3|ogg|opus|sph)$", re.IGNORECASE)


_AUDIO = frozenset({"wav", "flac", "m4a", "mp3", "ogg", "opus", "sph"})


def _strip_extension(name: str) -> str:
    """``_EXTENSION.sub("", name)``: an ASCII name without the regex (the regex decides any other name,
    whose case folding it alone knows)."""
    if not name.isascii():
        return _EXTENSION.sub("", name)
    dot = name.rfind(".")
    return name[:dot] if dot >= 0 and name[dot + 1:].lower() in _AUDIO else name


def _trial_keys(table: ScoreTable, index: dict, codes=None) -> np.ndarray:
    """One int64 key per trial from the utterance pair (-1 where an utterance is not in ``index``);
    ``codes``: each utterance's entry of ``index`` when known already."""
    if codes is None:
        codes = np.array([index.get(_strip_extension(str(u)), -1) for u in table.utterances], dtype=np.int64)
    e, t = codes[table.enrol_utt], codes[table.test_utt]
    return np.where((e >= 0) & (t >= 0), e * len(index) + t, -1)


def _pair(table: ScoreTable, i: int) -> str:
    return f"{table.utterances[table.enrol_utt[i]]} {table.utterances[table.test_utt[i]]}"


def _same_trials(reference: ScoreTable, other: ScoreTable) -> bool:
    """Both files name the same utterances in the same order and list the same trials in the same order
    (one system's scoring script run on the other's list): their keys are the same."""
    return (len(reference.utterances) == len(other.utterances) and len(reference.scores) == len(other.scores)
            and np.array_equal(reference.enrol_utt, other.enrol_utt) and np.array_equal(reference.test_utt,
                                                                                          other.test_utt)
            and all(a == b for a, b in zip(reference.utterances.tolist(), other.utterances.tolist())))


def _duplicate(table: ScoreTable, keys: np.ndarray) -> None:
    """Refuse a trial listed twice (the first one, counted)."""
    listed = np.sort(keys[keys >= 0])
    if not (listed[1:] == listed[:-1]).any():
        return
    unique, first, counts = np.unique(keys[keys >= 0], return_index=True, return_counts=True)
    which = int(np.argmax(counts > 1))
    dup = int(np.flatnonzero(keys >= 0)[first[which]])
    raise InputError(f"trial {_pair(table, dup)} is listed {int(counts[which])} times; "
                     "each trial must appear once to be paired", table.path)


def align_trials(reference: ScoreTable, other: ScoreTable) -> ScoreTable:
    """``other``'s scores in ``reference``'s trial order, with ``reference``'s labels and speakers.

    Raises :class:`InputError` (naming ``other``'s file) when the trial sets differ, a trial is
    listed twice, or a trial's label differs between the files.
    """
    names = [_strip_extension(str(u)) for u in reference.utterances]
    index = {}
    for name in names:
        index.setdefault(name, len(index))
    ref_codes = np.fromiter((index[name] for name in names), dtype=np.int64, count=len(names))
    ref_keys = _trial_keys(reference, index, ref_codes)
    same = _same_trials(reference, other)
    other_keys = ref_keys if same else _trial_keys(other, index)
    _duplicate(reference, ref_keys)
    if not same:
        _duplicate(other, other_keys)
        ref_order, other_order = np.argsort(ref_keys), np.argsort(other_keys)
    if not same and (len(ref_keys) != len(other_keys) or (other_keys < 0).any() or
                     not np.array_equal(ref_keys[ref_order], other_keys[other_order])):
        missing = np.flatnonzero(~np.isin(ref_keys, other_keys))
        extra = np.flatnonzero(~np.isin(other_keys, ref_keys) | (other_keys < 0))
        parts = []
        if len(missing):
            parts.append(f"{len(missing)} trials of {reference.path} are missing here (e.g. {_pair(reference, missing[0])})")
        if len(extra):
            parts.append(f"{len(extra)} trials are not in {reference.path} (e.g. {_pair(other, extra[0])})")
        raise InputError("the two score files are not on the same trials: " + "; ".join(parts), other.path)
    if same:
        position = np.arange(len(ref_keys))
    else:
        position = np.empty(len(ref_keys), dtype=np.int64)
        position[ref_order] = other_order  # reference trial i is other's trial position[i]
    differ = np.flatnonzero(other.is_target[position] != reference.is_target)
    if len(differ):
        i = int(differ[0])
        label = "target" if reference.is_target[i] else "non-target"
        raise InputError(f"{len(differ)} trials have another label than in {reference.path} (e.g. {_pair(reference, i)} "
                         f"is a {label} trial there)", other.path)
    return ScoreTable(scores=other.scores[position], is_target=reference.is_target, enrol_spk=reference.enrol_spk,
                      test_spk=reference.test_spk, speakers=reference.speakers, path=other.path, format=other.format,
                      enrol_utt=reference.enrol_utt, test_utt=reference.test_utt, utterances=reference.utterances)


def _metric_paths(report: dict) -> list:
    """``(attribute, group, metric, report path, replicate path, higher_is_better)`` of every compared number."""
    calibrated = "cllr" in report["overall"]
    overall = [k for k in report["overall"] if k == "eer" or k.startswith("min_dcf@")]
    if calibrated:
        overall += [*CALIBRATION_OVERALL, *(k for k in report["overall"] if k.startswith("act_dcf@"))]
    paths = [("all", "all", k, ("overall", k), ("overall", k), False) for k in overall]
    summaries = {**SUMMARIES, **(dict.fromkeys(CALIBRATION_SUMMARIES, False) if calibrated else {})}
    for attribute, part in report["attributes"].items():
        for group in part["groups"]:
            for key in ("eer", *(CALIBRATION_GROUP if calibrated else ())):
                paths.append((attribute, group, key, ("attributes", attribute, "groups", group, key),
                              (attribute, "groups", group, key), False))
        for key, higher in summaries.items():
            paths.append((attribute, "(summary)", key, ("attributes", attribute, "summary", key),
                          (attribute, "summary", key), higher))
    return paths


def _finite(value) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def paired_comparison(report_a: dict, report_b: dict, replicates_a: list, replicates_b: list,
                      confidence: float = 0.95) -> list:
    """One dict per compared metric: ``attribute, group, metric, a, b, diff, rel_diff, ci, share_b_better,
    n_replicates, higher_is_better``. ``replicates_*`` come from the same speaker draws, in order."""
    if len(replicates_a) != len(replicates_b):
        raise ValueError("paired replicates must come in equal numbers")
    lo_q = (1 - confidence) / 2 * 100
    rows = []
    for attribute, group, metric, path, rep_path, higher in _metric_paths(report_a):
        a, b = _finite(_dig(report_a, path)), _finite(_dig(report_b, path))
        row = {"attribute": attribute, "group": group, "metric": metric, "a": a, "b": b, "diff": b - a,
               "rel_diff": (b - a) / a if a not in (0.0,) and math.isfinite(a) else float("nan"),
               "higher_is_better": higher, "ci": None, "share_b_better": None, "n_replicates": 0}
        if replicates_a:
            d = np.array([_finite(vb) - _finite(va) for va, vb in zip(_column(replicates_a, rep_path),
                                                                      _column(replicates_b, rep_path))])
            d = d[np.isfinite(d)]
            row["n_replicates"] = len(d)
            if len(d):
                row["ci"] = [float(np.percentile(d, lo_q)), float(np.percentile(d, 100 - lo_q))]
                row["share_b_better"] = float(np.mean(d > 0 if higher else d < 0))
        rows.append(row)
    return rows


_LABELS = {"eer": "EER (%)", "eer_gap_abs": "gap, abs. EER difference (pp)", "eer_gap_rel": "gap, relative",
           "eer_std": "std of EER (pp)", "fdr": "FDR (1 = fair)", "garbe": "GARBE (0 = fair)",
           "cllr": "Cllr (bits)", "min_cllr": "minCllr (bits)", "cal_loss": "calibration loss (bits)",
           "cllr_gap_abs": "Cllr gap (bits)", "cllr_std": "Cllr std (bits)",
           "cal_loss_gap_abs": "calibration-loss gap (bits)", "cal_loss_std": "calibration-loss std (bits)"}
_PERCENT = {"eer", "eer_gap_abs", "eer_std"}


def _label(row: dict) -> str:
    name = _LABELS.get(row["metric"], row["metric"].replace("min_dcf@", "minDCF@").replace("act_dcf@", "actDCF@"))
    if row["attribute"] == "all":
        return f"overall {name}"
    if row["group"] == "(summary)":
        return f"{row['attribute']} {name}"
    return f"{row['attribute']} {row['group']} {name}"


def format_comparison(rows: list, names: tuple, header: str) -> str:
    """The comparison as a plain-text table (rates in %, gaps in percentage points)."""
    out = [header, ""]
    table = []
    for row in rows:
        scale, digits = (100.0, 2) if row["metric"] in _PERCENT else (1.0, 4)

        def num(value, sign=False):
            if value is None or not math.isfinite(value):
                return "n/a"
            return f"{scale * value:+.{digits}f}" if sign else f"{scale * value:.{digits}f}"

        ci = row["ci"]
        table.append([_label(row), num(row["a"]), num(row["b"]), num(row["diff"], True),
                      f"{100 * row['rel_diff']:+.1f} %" if math.isfinite(row["rel_diff"]) else "n/a",
                      f"[{num(ci[0], True)}, {num(ci[1], True)}]" if ci else "",
                      f"{100 * row['share_b_better']:.1f} %" if row["share_b_better"] is not None else ""])
    head = ["metric", names[0], names[1], "B - A", "rel.", "95% CI of B - A", "B better"]
    widths = [max(len(str(r[i])) for r in table + [head]) for i in range(len(head))]
    for r in [head] + table:
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def tidy_comparison(rows: list) -> "pd.DataFrame":
    """One row per metric: attribute, group, metric, a, b, diff, rel_diff, ci_low, ci_high,
    share_b_better, n_replicates."""
    import pandas as pd

    return pd.DataFrame([{"attribute": r["attribute"], "group": r["group"], "metric": r["metric"], "a": r["a"],
                          "b": r["b"], "diff": r["diff"], "rel_diff": r["rel_diff"],
                          "ci_low": r["ci"][0] if r["ci"] else None, "ci_high": r["ci"][1] if r["ci"] else None,
                          "share_b_better": r["share_b_better"], "n_replicates": r["n_replicates"]} for r in rows])
