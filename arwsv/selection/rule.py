"""Compare every candidate with uniform weights on the development trials, and pick one.

For each candidate, on the same development trials (:class:`arwsv.selection.pseudo_groups.DevTrials`):
the overall EER, the **worst pseudo-group's EER**, the pseudo-groups' EER spread (std) and gap
(max - min), and each one's difference from the uniform candidate with a 95 % paired speaker-bootstrap
interval (every candidate is evaluated with the same bootstrap seed on the same speakers, so replicate r
resamples the same speakers for all; the differences are taken replicate by replicate).

The rule (:func:`select`): a candidate is **eligible** when its overall EER is not higher than uniform's
(point estimate of the difference <= ``max_eer_increase``, 0 pp by default) and **helps** when the
interval of its worst-pseudo-group difference lies below 0. Among the eligible candidates that help, the
one with the lowest worst-pseudo-group EER is chosen; if none, uniform weights ("do not reweight").
"""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "evaluate_candidates", "select"]

METRICS = {"eer": "overall EER", "worst": "worst pseudo-group EER", "std": "pseudo-group EER std",
           "gap": "pseudo-group EER gap"}
ATTRIBUTE = "pseudo_group"


def _values(measured: dict) -> dict:
    groups = [g["eer"] for g in measured[ATTRIBUTE]["groups"].values()] if ATTRIBUTE in measured else \
        [g["eer"] for g in measured["attributes"][ATTRIBUTE]["groups"].values()]
    summary = measured[ATTRIBUTE]["summary"] if ATTRIBUTE in measured else measured["attributes"][ATTRIBUTE]["summary"]
    finite = [g for g in groups if np.isfinite(g)]
    return {"eer": float(measured["overall"]["eer"]), "worst": float(max(finite)) if finite else float("nan"),
            "std": float(summary["eer_std"]), "gap": float(summary["eer_gap_abs"]),
            "groups": [float(g) for g in groups]}


def evaluate_candidates(trials, scores: dict, *, bootstrap: int = 500, seed: int = 0, reference: str = "uniform",
                        progress: bool = False) -> list:
    """One row per candidate of ``scores`` (``{name: (N,) scores of trials}``, ``reference`` among them):
    its metrics (``value``), and against ``reference`` the difference (``delta``) with its 95 % paired
    interval (``ci``) and the share of replicates where the candidate is lower (``share_lower``).
    Rates are fractions (0.1 = 10 %)."""
    from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation

    if reference not in scores:
        raise ValueError(f"the reference candidate {reference!r} has no scores")
    settings = EvalSettings(bootstrap=bootstrap, seed=seed, p_targets=(0.01,))
    groups = trials.speaker_groups()
    measured = {}
    for name, values in scores.items():
        evaluation = FairnessEvaluation(trials.table(values), {ATTRIBUTE: groups}, settings)
        report = evaluation.run(progress=progress)
        replicates = [_values(r) for r in evaluation.replicates]
        measured[name] = (_values(report), {k: np.array([r[k] for r in replicates]) for k in METRICS},
                          list(report["attributes"][ATTRIBUTE]["groups"]))
    rows = []
    base_value, base_reps, _ = measured[reference]
    for name, (value, reps, group_names) in measured.items():
        row = {"candidate": name, "value": {k: value[k] for k in METRICS}, "groups": dict(zip(group_names, value["groups"])),
               "delta": {}, "ci": {}, "share_lower": {}}
        for key in METRICS:
            row["delta"][key] = value[key] - base_value[key]
            d = reps[key] - base_reps[key]
            d = d[np.isfinite(d)]
            row["ci"][key] = [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))] if len(d) else None
            row["share_lower"][key] = float(np.mean(d < 0)) if len(d) else None
        rows.append(row)
    return rows


def select(rows: list, *, reference: str = "uniform", max_eer_increase: float = 0.0) -> dict:
    """The rule of this module's docstring over :func:`evaluate_candidates`' rows.

    Returns ``{"selected": name, "reason": str, "eligible": [...], "helps": [...]}``; ``max_eer_increase``
    in EER units (0.003 = 0.3 pp)."""
    others = [r for r in rows if r["candidate"] != reference]
    eligible = [r for r in others if np.isfinite(r["delta"]["eer"]) and r["delta"]["eer"] <= max_eer_increase]
    helps = [r for r in eligible if r["ci"]["worst"] is not None and r["ci"]["worst"][1] < 0]
    if not helps:
        if not others:
            reason = "no candidate besides uniform weights"
        elif not eligible:
            reason = "every candidate raises the overall development EER"
        else:
            reason = "no candidate that keeps the overall development EER lowers the worst pseudo-group's EER " \
                     "(interval below 0)"
        return {"selected": reference, "reason": f"do not reweight: {reason}",
                "eligible": [r["candidate"] for r in eligible], "helps": []}
    best = min(helps, key=lambda r: (r["value"]["worst"], r["value"]["eer"]))
    return {"selected": best["candidate"],
            "reason": (f"lowest worst pseudo-group EER ({100 * best['value']['worst']:.2f} %, "
                       f"{100 * best['delta']['worst']:+.2f} pp against uniform) among the candidates that keep the "
                       f"overall development EER ({100 * best['delta']['eer']:+.2f} pp)"),
            "eligible": [r["candidate"] for r in eligible], "helps": [r["candidate"] for r in helps]}
