"""Turning an evaluation report into what people read: a terminal table, JSON, tidy CSV.

The tidy CSV has one row per number: ``attribute, group, metric, value, ci_low, ci_high``
(``attribute`` = ``all`` for the overall row, ``group`` = ``(summary)`` for gap summaries,
``(cross-group)`` for trials between groups), so ``pandas.read_csv`` + ``pivot`` gives any view.
Rates are fractions in [0, 1] in JSON and CSV, percentages in the terminal table.
"""

from __future__ import annotations

import json
import math

from arwsv.io.files import atomic_write

# pandas is imported only for the CSV (the table is laid out here, exactly as DataFrame.to_string(index=False)
# lays out these columns, without importing it: `arwsv eval` starts faster)

__all__ = ["to_json", "tidy_rows", "format_table", "write_json", "write_csv"]


def _clean(value):
    """JSON cannot hold nan/inf: they become null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(report: dict) -> str:
    return json.dumps(_clean(report), indent=2, ensure_ascii=False) + "\n"


def write_json(report: dict, path) -> None:
    with atomic_write(path, encoding="utf-8") as handle:
        handle.write(to_json(report))


def tidy_rows(report: dict) -> "pd.DataFrame":
    """One row per metric: attribute, group, metric, value, ci_low, ci_high."""
    import pandas as pd

    rows = []

    def add(attribute, group, metrics):
        ci = metrics.get("ci") or {}
        for key, value in metrics.items():
            if key == "ci" or isinstance(value, (list, dict)):
                continue
            low, high = ci.get(key) or (None, None)
            rows.append((attribute, group, key, value, low, high))

    add("all", "all", report["overall"])
    for attribute, part in report["attributes"].items():
        for name, metrics in part["groups"].items():
            add(attribute, name, metrics)
        add(attribute, "(cross-group)", part["cross_group"])
        add(attribute, "(summary)", {**part["summary"], "n_unlabelled_trials": part["n_unlabelled_trials"]})
    return pd.DataFrame(rows, columns=["attribute", "group", "metric", "value", "ci_low", "ci_high"])


def write_csv(report: dict, path) -> None:
    with atomic_write(path, encoding="utf-8", newline="") as handle:
        tidy_rows(report).to_csv(handle, index=False, float_format="%.6g")


def _pct(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _num(value, digits: int = 4) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _text_table(rows: list) -> str:
    """``pandas.DataFrame(rows).to_string(index=False)`` for rows (dicts with the same keys) whose values are
    str or int: every column right-justified to its widest cell, one space between columns; a column of ints
    only is numeric to pandas, whose header then gets a leading space. Anything else goes to pandas."""
    columns = list(rows[0])
    if any(list(r) != columns for r in rows) or len(set(columns)) != len(columns):
        return _pandas_table(rows)
    out = []
    for name in columns:
        values = [r[name] for r in rows]
        if any(isinstance(v, bool) or not isinstance(v, (str, int)) for v in values) or not isinstance(name, str):
            return _pandas_table(rows)
        if any(isinstance(v, str) and any(c in v for c in "\t\r\n") for v in values + [name]):
            return _pandas_table(rows)
        numeric = all(isinstance(v, int) for v in values)
        if numeric and any(abs(v) >= 2**63 for v in values):
            return _pandas_table(rows)
        cells = [str(v) for v in values]
        header = " " + name if numeric else name
        width = max(len(header), *(len(c) for c in cells))
        out.append([header.rjust(width)] + [c.rjust(width) for c in cells])
    return "\n".join(" ".join(line) for line in zip(*out))


def _pandas_table(rows: list) -> str:
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False)


def _ci(metrics: dict, key: str, fmt) -> str:
    ci = (metrics.get("ci") or {}).get(key)
    return "" if not ci else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def format_table(report: dict) -> str:
    """Aligned plain-text table of every group, then one summary line per attribute."""
    dcf_keys = [k for k in report["overall"] if k.startswith("min_dcf@")]
    act_keys = [k for k in report["overall"] if k.startswith("act_dcf@")]
    at_keys = [k for k in report["overall"] if k.startswith(("fnmr@", "fmr@"))]  # deployed thresholds
    calibrated = "cllr" in report["overall"]
    has_ci = "ci" in report["overall"]
    rows = []

    def row(attribute, group, m):
        out = {"attribute": attribute, "group": group, "spk": m.get("n_speakers", ""),
               "trials": m["n_trials"], "targets": m["n_targets"], "EER%": _pct(m.get("eer"))}
        if has_ci:
            out["EER% 95% CI"] = _ci(m, "eer", _pct)
        for k in dcf_keys:
            out[k.replace("min_dcf", "minDCF")] = _num(m.get(k))
        out["FNMR%@thr"] = _pct(m.get("fnmr"))
        out["FMR%@thr"] = _pct(m.get("fmr"))
        for k in at_keys:
            out[k.replace("fnmr@", "FNMR%@").replace("fmr@", "FMR%@")] = _pct(m.get(k))
        out["EER/mean"] = _num(m.get("eer_ratio_to_mean"), 2) if "eer_ratio_to_mean" in m else ""
        if calibrated:
            out["Cllr"], out["minCllr"], out["calLoss"] = (_num(m.get(k), 3) for k in ("cllr", "min_cllr", "cal_loss"))
            if has_ci:
                out["Cllr 95% CI"] = _ci(m, "cllr", lambda v: _num(v, 3))
            for k in act_keys:
                out[k.replace("act_dcf", "actDCF")] = _num(m.get(k))
        rows.append(out)

    overall = report["overall"]
    row("all", "all", {**overall, "fnmr": None, "fmr": None})
    for attribute, part in report["attributes"].items():
        for name, m in part["groups"].items():
            row(attribute, name, m)
        cross = part["cross_group"]
        row(attribute, "(cross-group)", {**cross, "eer": None, "n_speakers": ""})
    for r in rows:
        if r["group"] == "all":
            r["FNMR%@thr"] = r["FMR%@thr"] = "-"
    for column in ("attribute", "group"):  # names read better left-aligned
        width = max(len(column), max(len(r[column]) for r in rows))
        rows = [{(k.ljust(width) if k == column else k): (v.ljust(width) if k == column else v)
                 for k, v in r.items()} for r in rows]
    lines = [_text_table(rows)]
    lines.append(f"overall EER threshold (used for FNMR/FMR@thr): {_num(overall.get('eer_threshold'), 6)}")
    if calibrated:
        mode = (report.get("settings", {}).get("calibration") or {}).get("mode", "llr")
        lines.append(f"calibration: {mode} (Cllr and minCllr in bits; calLoss = Cllr - minCllr; actDCF at the Bayes "
                     "threshold of each P_tar)")
    for attribute, part in report["attributes"].items():
        s = part["summary"]

        def item(label, key, fmt):
            return f"{label} {fmt(s.get(key))}{(' ' + _ci(s, key, fmt)) if has_ci else ''}"

        parts = [item("EER gap (pp)", "eer_gap_abs", _pct), item("rel gap", "eer_gap_rel", _num),
                 item("std (pp)", "eer_std", _pct), item("max/min", "eer_max_min_ratio", _num),
                 item("FDR", "fdr", _num), item("GARBE", "garbe", _num)]
        if "cllr_gap_abs" in s:
            parts += [item("Cllr gap", "cllr_gap_abs", _num), item("Cllr std", "cllr_std", _num),
                      item("cal-loss gap", "cal_loss_gap_abs", _num), item("cal-loss std", "cal_loss_std", _num)]
        extra = []
        if part["pooled_into_other"]:
            extra.append(f"pooled into other: {', '.join(part['pooled_into_other'])}")
        if part["n_unlabelled_trials"]:
            extra.append(f"{part['n_unlabelled_trials']} trials with an unlabelled speaker left out")
        lines.append(f"{attribute}: " + "; ".join(parts) + ("" if not extra else "  (" + "; ".join(extra) + ")"))
    return "\n".join(lines)
