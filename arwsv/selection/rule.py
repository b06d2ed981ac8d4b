"""Compare every candidate with uniform weights on the development trials, and pick one.

For each candidate, on the same development trials (:class:`arwsv.selection.pseudo_groups.DevTrials`):
the overall EER, the **worst pseudo-group's EER**, the pseudo-groups' EER spread (std) and gap
(max - min), each pseudo-group's own EER, and each one's difference from the uniform candidate with a 95 %
paired speaker-bootstrap interval (every candidate is evaluated with the same bootstrap seed on the same
speakers, so replicate r resamples the same speakers for all; the differences are taken replicate by replicate).

The rule (:func:`select`). A candidate is **eligible** when

- its overall EER is not higher than uniform's by more than ``max_eer_increase`` (point estimate of the
  difference; 0 pp by default, i.e. not higher at all), and
- **no pseudo-group is measurably worse**: no pseudo-group's EER difference has an interval above 0. A gap
  that narrows because the best-served groups lose is levelling down; the labelled cells of the study showed
  that every reweighting which narrowed the gaps did so (``results/select_study/levelling.md``). With one
  interval per pseudo-group this test is deliberately strict: by chance alone some group's interval lies
  above 0 more often than 2.5 % of the time, and a false alarm only keeps the baseline.

What helps, and which helper wins, is the rule's ``criterion``:

- ``worst``: an eligible candidate **helps** when the interval of its worst-pseudo-group difference
  lies below 0 (the worst-served group gains) or that of its overall difference does (every group at least as
  well off and the population better); the helper with the lowest worst-pseudo-group EER is chosen (then the
  lowest overall EER, then the first in the selection file's order).
- ``spread`` (the default, :data:`DEFAULT_CRITERION`): an eligible candidate helps only when the interval of its
  pseudo-group EER std difference lies below 0 (the groups come closer, none worse); the helper with the lowest
  std wins (then the lowest overall EER). Stricter: a candidate that lifts every group alike (post-hoc AS-norm,
  mostly) no longer qualifies, since on the labelled corpora such a gain often went more to the best-served
  groups and widened the true gaps. It became the default after a test fixed before its data existed (five
  corpus-seeds no rule had seen: ``spread`` harmed on none, ``worst`` on four, and ``spread`` gave up no choice
  of ``worst`` that met the target; ``results/select_study/rule_vs_harm.md``, ``docs/study.md``). The study
  itself keeps ``worst`` (``recipes/bench/select.yaml``), the rule its numbers were made with.

- ``levels_up`` (issue 39): an eligible candidate helps only when the pseudo-group that uniform weights serve
  worst gets better (its own interval below 0), with no pseudo-group worse and the overall EER kept: a gain must
  come from raising the worst-served, not from lowering the others. The helper with the lowest worst-group EER wins.

If no candidate helps: uniform weights with cosine scoring ("do not reweight").
Candidates are trained reweightings and post-hoc scorings of the uniform model (AS-norm), judged alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CRITERIA", "DEFAULT_CRITERION", "METRICS", "evaluate_candidates", "groups_better", "groups_worse", "select"]

METRICS = {"eer": "overall EER", "worst": "worst pseudo-group EER", "std": "pseudo-group EER std",
           "gap": "pseudo-group EER gap"}
ATTRIBUTE = "pseudo_group"
# per criterion: what a helper must lower (interval below 0), and the rule in one sentence for the report's table
CRITERIA = {
    "worst": {"lowers": "the worst pseudo-group's or the overall development EER",
              "rule": "helps if the worst pseudo-group's or the overall interval lies below 0; the eligible helper "
                      "with the lowest worst-group EER wins, else uniform."},
    "spread": {"lowers": "the pseudo-group EER std",
               "rule": "helps if the pseudo-group EER std's interval lies below 0; the eligible helper with the "
                       "lowest std wins, else uniform."},
}
CRITERIA["levels_up"] = {
    "lowers": "the EER of the pseudo-group worst served by uniform weights",
    "rule": "helps if the pseudo-group that uniform weights serve worst gets better (interval below 0) with none "
            "worse; the eligible helper with the lowest worst-group EER wins, else uniform."}
# what `arwsv select` judges by when the selection file names no criterion (the module docstring says why)
DEFAULT_CRITERION = "spread"


def _values(measured: dict) -> dict:
    part = measured[ATTRIBUTE] if ATTRIBUTE in measured else measured["attributes"][ATTRIBUTE]
    groups = {name: float(g["eer"]) for name, g in part["groups"].items()}
    finite = [g for g in groups.values() if np.isfinite(g)]
    return {"eer": float(measured["overall"]["eer"]), "worst": float(max(finite)) if finite else float("nan"),
            "std": float(part["summary"]["eer_std"]), "gap": float(part["summary"]["eer_gap_abs"]), "groups": groups}


def _interval(differences: np.ndarray):
    """95 % percentile interval of the finite replicate differences, and the share below 0 (``None`` if none)."""
    d = differences[np.isfinite(differences)]
    if not len(d):
        return None, None
    return [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))], float(np.mean(d < 0))


def evaluate_candidates(trials, scores: dict, *, bootstrap: int = 500, seed: int = 0, reference: str = "uniform",
                        progress: bool = False) -> list:
    """One row per candidate of ``scores`` (``{name: (N,) scores of trials}``, ``reference`` among them):
    its metrics (``value``), and against ``reference`` the difference (``delta``) with its 95 % paired
    interval (``ci``) and the share of replicates where the candidate is lower (``share_lower``); each
    pseudo-group's EER (``groups``), its difference (``groups_delta``) and interval (``groups_ci``).
    Rates are fractions (0.1 = 10 %)."""
    from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation

    if reference not in scores:
        raise ValueError(f"the reference candidate {reference!r} has no scores")
    settings = EvalSettings(bootstrap=bootstrap, seed=seed, p_targets=(0.01,))
    groups = trials.speaker_groups()
    measured = {}
    for name, values in scores.items():
        evaluation = FairnessEvaluation(trials.table(values), {ATTRIBUTE: groups}, settings)
        value = _values(evaluation.run(progress=progress))
        replicates = [_values(r) for r in evaluation.replicates]
        reps = {k: np.array([r[k] for r in replicates]) for k in METRICS}
        reps.update({("group", g): np.array([r["groups"].get(g, np.nan) for r in replicates]) for g in value["groups"]})
        measured[name] = (value, reps)
    rows = []
    base_value, base_reps = measured[reference]
    for name, (value, reps) in measured.items():
        row = {"candidate": name, "value": {k: value[k] for k in METRICS}, "groups": dict(value["groups"]),
               "delta": {}, "ci": {}, "share_lower": {}, "groups_delta": {}, "groups_ci": {}}
        for key in METRICS:
            row["delta"][key] = value[key] - base_value[key]
            row["ci"][key], row["share_lower"][key] = _interval(reps[key] - base_reps[key])
        for group, eer in value["groups"].items():  # each pseudo-group against the same group under uniform
            row["groups_delta"][group] = eer - base_value["groups"].get(group, np.nan)
            row["groups_ci"][group], _ = _interval(reps[("group", group)] - base_reps[("group", group)])
        rows.append(row)
    return rows


def groups_worse(row: dict) -> list:
    """The pseudo-groups whose EER difference from uniform has an interval above 0."""
    return [g for g, ci in row.get("groups_ci", {}).items() if ci is not None and ci[0] > 0]


def groups_better(row: dict) -> list:
    """The pseudo-groups whose EER difference from uniform has an interval below 0."""
    return [g for g, ci in row.get("groups_ci", {}).items() if ci is not None and ci[1] < 0]


def select(rows: list, *, reference: str = "uniform", max_eer_increase: float = 0.0,
           criterion: str = DEFAULT_CRITERION) -> dict:
    """The rule of this module's docstring over :func:`evaluate_candidates`' rows.

    Returns ``{"selected": name, "reason": str, "eligible": [...], "helps": [...], "levels_down": [...]}``
    (``levels_down``: the candidates with a pseudo-group measurably worse); ``max_eer_increase`` in EER units
    (0.003 = 0.3 pp); ``criterion``: ``worst`` or ``spread`` (:data:`CRITERIA`)."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    others = [r for r in rows if r["candidate"] != reference]
    keeps_eer = [r for r in others if np.isfinite(r["delta"]["eer"]) and r["delta"]["eer"] <= max_eer_increase]
    levels_down = [r["candidate"] for r in others if groups_worse(r)]
    eligible = [r for r in keeps_eer if r["candidate"] not in levels_down]

    def below_zero(row, key):
        return row["ci"][key] is not None and row["ci"][key][1] < 0

    if criterion == "worst":
        helps = [r for r in eligible if below_zero(r, "worst") or below_zero(r, "eer")]
    elif criterion == "levels_up":
        base = next((r for r in rows if r["candidate"] == reference), None)
        finite = {g: v for g, v in (base or {}).get("groups", {}).items() if np.isfinite(v)}
        worst_group = max(finite, key=finite.get) if finite else None
        helps = [r for r in eligible if worst_group in groups_better(r)]
    else:
        helps = [r for r in eligible if below_zero(r, "std")]
    summary = {"eligible": [r["candidate"] for r in eligible], "helps": [r["candidate"] for r in helps],
               "levels_down": levels_down}
    if not helps:
        if not others:
            reason = "no candidate besides uniform weights"
        elif not keeps_eer:
            reason = "every candidate raises the overall development EER"
        elif not eligible:
            reason = "every candidate that keeps the overall development EER makes a pseudo-group measurably worse"
        else:
            reason = f"no eligible candidate lowers {CRITERIA[criterion]['lowers']} (interval below 0)"
        return {"selected": reference, "reason": f"do not reweight: {reason}", **summary}
    if criterion == "spread":
        best = min(helps, key=lambda r: (r["value"]["std"], r["value"]["eer"]))
        return {"selected": best["candidate"],
                "reason": (f"lowest pseudo-group EER std ({100 * best['value']['std']:.2f} pp, "
                           f"{100 * best['delta']['std']:+.2f} pp against uniform) among the candidates that narrow "
                           f"it (interval below 0), keep the overall development EER "
                           f"({100 * best['delta']['eer']:+.2f} pp) and make no pseudo-group measurably worse"),
                **summary}
    best = min(helps, key=lambda r: (r["value"]["worst"], r["value"]["eer"]))
    return {"selected": best["candidate"],
            "reason": (f"lowest worst pseudo-group EER ({100 * best['value']['worst']:.2f} %, "
                       f"{100 * best['delta']['worst']:+.2f} pp against uniform) among the candidates that lower the "
                       f"worst pseudo-group's or the overall development EER ({100 * best['delta']['eer']:+.2f} pp) "
                       "and make no pseudo-group measurably worse"), **summary}
