"""Summaries of how unequal verification errors are across demographic groups.

All functions take per-group values (one entry per group) and ignore groups whose value is
undefined (nan). :func:`gap_summary` uses the same groups for every summary: those with a defined
EER (at least one target and one non-target trial). A summary needs two such groups, else nan.

- ``eer_gap_abs``  = max_g EER_g - min_g EER_g (the paper's "gender gap" for two groups).
- ``eer_gap_rel``  = eer_gap_abs / mean_g EER_g (relative gap; symmetric, finite when a group
  has EER 0).
- ``eer_std``      = population standard deviation of the group EERs, sqrt(mean_g (EER_g - mean)^2)
  (the paper's nationality variability over US / UK / others).
- ``eer_max_min_ratio`` = max_g EER_g / min_g EER_g (nan when min is 0).
- ``eer_ratio_to_mean[g]`` = EER_g / mean_g EER_g (bt4vt's per-group bias, Hutiri & Ding 2022).
- ``fdr`` (Fairness Discrepancy Rate, de Freitas Pereira & Marcel 2021), at one threshold t:
  A = max_{i,j} |FMR_i - FMR_j|, B = max_{i,j} |FNMR_i - FNMR_j|, FDR = 1 - (alpha A + (1 - alpha) B).
  1 is perfectly fair.
- ``gini``: Gini coefficient with the small-sample correction of Howard et al. 2022,
  Gini(x) = n / (n - 1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)); 0 when all values are equal.
- :func:`spread_summary` gives any per-group metric the same two views: ``<name>_gap_abs``
  (max - min) and ``<name>_std`` (population std); used for Cllr and the calibration loss.
- ``garbe`` (Gini Aggregation Rate for Biometric Equitability, Howard et al. 2022) =
  alpha Gini(FMR_g) + (1 - alpha) Gini(FNMR_g). 0 is perfectly fair.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gini", "fdr", "garbe", "gap_summary", "gap_summary_rows", "spread_summary"]


def _defined(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def gini(values) -> float:
    """Gini coefficient (Howard et al. 2022) of the defined entries of ``values`` (shape (G,))."""
    x = _defined(values)
    n = len(x)
    if n < 2:
        return float("nan")
    mean = x.mean()
    if mean == 0:
        return 0.0  # all rates are zero: nothing is unequal
    pair_sum = np.abs(x[:, None] - x[None, :]).sum()  # G is a handful of groups
    return float(n / (n - 1) * pair_sum / (2 * n * n * mean))


def _spread(values) -> float:
    x = _defined(values)
    return float(x.max() - x.min()) if len(x) >= 2 else float("nan")


def fdr(fmr, fnmr, alpha: float = 0.5) -> float:
    """Fairness Discrepancy Rate from per-group FMR and FNMR at one threshold (shape (G,) each)."""
    a, b = _spread(fmr), _spread(fnmr)
    return float(1.0 - (alpha * a + (1.0 - alpha) * b))


def garbe(fmr, fnmr, alpha: float = 0.5) -> float:
    """GARBE from per-group FMR and FNMR at one threshold (shape (G,) each)."""
    return float(alpha * gini(fmr) + (1.0 - alpha) * gini(fnmr))


def gap_summary(eers, fmr, fnmr, *, fdr_alpha: float = 0.5, garbe_alpha: float = 0.5) -> dict:
    """All gap summaries of one attribute from per-group EER, FMR and FNMR (shape (G,) each).

    Groups whose EER is undefined are left out of every summary (FDR and Gini included).

    Returns a dict with the keys listed in the module docstring (``eer_ratio_to_mean`` is a
    list aligned with ``eers``).
    """
    eers = np.asarray(eers, dtype=np.float64)
    measured = np.isfinite(eers)  # every summary uses the same groups: those with a defined EER
    fmr = np.where(measured, np.asarray(fmr, dtype=np.float64), np.nan)
    fnmr = np.where(measured, np.asarray(fnmr, dtype=np.float64), np.nan)
    x = eers[measured]
    nan = float("nan")
    if len(x) >= 2:
        mean = x.mean()
        gap = float(x.max() - x.min())
        out = {
            "n_groups": int(len(x)),
            "eer_mean": float(mean),
            "eer_gap_abs": gap,
            "eer_gap_rel": gap / mean if mean > 0 else nan,
            "eer_std": float(x.std()),
            "eer_max_min_ratio": float(x.max() / x.min()) if x.min() > 0 else nan,
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = eers / mean if mean > 0 else np.full_like(eers, nan)
    else:
        out = dict.fromkeys(["eer_mean", "eer_gap_abs", "eer_gap_rel", "eer_std", "eer_max_min_ratio"], nan)
        out["n_groups"] = int(len(x))
        ratios = np.full_like(eers, nan)
    out["eer_ratio_to_mean"] = [float(r) for r in ratios]
    out["fdr"] = fdr(fmr, fnmr, fdr_alpha)
    out["fmr_gini"] = gini(fmr)
    out["fnmr_gini"] = gini(fnmr)
    out["garbe"] = garbe(fmr, fnmr, garbe_alpha)
    return out


def spread_summary(values, name: str) -> dict:
    """``{name}_gap_abs`` (max - min) and ``{name}_std`` (population std) of the defined entries of
    per-group ``values`` (G,); nan with fewer than two."""
    x = _defined(values)
    if len(x) < 2:
        return {f"{name}_gap_abs": float("nan"), f"{name}_std": float("nan")}
    return {f"{name}_gap_abs": float(x.max() - x.min()), f"{name}_std": float(x.std())}


def gap_summary_rows(eers, fmr, fnmr, *, fdr_alpha: float = 0.5, garbe_alpha: float = 0.5) -> list:
    """:func:`gap_summary` of every row of (R, G) arrays: ``[gap_summary(eers[r], fmr[r], fnmr[r]) ...]``,
    the same dicts and the same numbers, computed for the rows that leave the same groups out together.

    NumPy sums a C-contiguous row along ``axis=1`` exactly as it sums that row alone (the test suite checks
    it), so means, standard deviations and Gini sums are those of the one-row code to the last bit."""
    eers = np.asarray(eers, dtype=np.float64)
    measured = np.isfinite(eers)
    fmr = np.where(measured, np.asarray(fmr, dtype=np.float64), np.nan)
    fnmr = np.where(measured, np.asarray(fnmr, dtype=np.float64), np.nan)
    rows, n_cols = eers.shape
    pattern = np.concatenate((measured, np.isfinite(fmr), np.isfinite(fnmr)), axis=1)
    _, which = np.unique(np.packbits(pattern, axis=1), axis=0, return_inverse=True)
    which = which.reshape(-1)
    out: list = [None] * rows
    nan = float("nan")
    for code in range(int(which.max(initial=-1)) + 1):
        idx = np.flatnonzero(which == code)
        keep, keep_fmr, keep_fnmr = (pattern[idx[0], i * n_cols:(i + 1) * n_cols] for i in range(3))
        x = np.ascontiguousarray(eers[idx][:, keep])
        n = x.shape[1]
        if n >= 2:
            mean = x.mean(axis=1)
            top, bottom = x.max(axis=1), x.min(axis=1)
            gap = top - bottom
            std = x.std(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = top / bottom
                ratios = eers[idx] / mean[:, None]
        a = _spread_rows(fmr[idx][:, keep_fmr])
        b = _spread_rows(fnmr[idx][:, keep_fnmr])
        fmr_gini = _gini_rows(fmr[idx][:, keep_fmr])
        fnmr_gini = _gini_rows(fnmr[idx][:, keep_fnmr])
        for q, r in enumerate(idx.tolist()):
            if n >= 2:
                m = mean[q]
                g = float(gap[q])
                summary = {"n_groups": n, "eer_mean": float(m), "eer_gap_abs": g,
                           "eer_gap_rel": g / m if m > 0 else nan, "eer_std": float(std[q]),
                           "eer_max_min_ratio": float(ratio[q]) if bottom[q] > 0 else nan}
                ratio_row = ratios[q] if m > 0 else np.full(n_cols, nan)
            else:
                summary = dict.fromkeys(["eer_mean", "eer_gap_abs", "eer_gap_rel", "eer_std", "eer_max_min_ratio"],
                                        nan)
                summary["n_groups"] = n
                ratio_row = np.full(n_cols, nan)
            summary["eer_ratio_to_mean"] = [float(v) for v in ratio_row]
            summary["fdr"] = float(1.0 - (fdr_alpha * a[q] + (1.0 - fdr_alpha) * b[q]))
            summary["fmr_gini"] = fmr_gini[q]
            summary["fnmr_gini"] = fnmr_gini[q]
            summary["garbe"] = float(garbe_alpha * fmr_gini[q] + (1.0 - garbe_alpha) * fnmr_gini[q])
            out[r] = summary
    return out


def _spread_rows(x: np.ndarray) -> list:
    """:func:`_spread` of each row of (Q, n) defined values."""
    if x.shape[1] < 2:
        return [float("nan")] * len(x)
    return [float(v) for v in x.max(axis=1) - x.min(axis=1)]


def _gini_rows(x: np.ndarray) -> list:
    """:func:`gini` of each row of (Q, n) defined values."""
    rows, n = x.shape
    if n < 2:
        return [float("nan")] * rows
    x = np.ascontiguousarray(x)
    mean = x.mean(axis=1)
    pair_sum = np.abs(x[:, :, None] - x[:, None, :]).reshape(rows, n * n).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = n / (n - 1) * pair_sum / (2 * n * n * mean)
    return [0.0 if m == 0 else float(v) for m, v in zip(mean.tolist(), value.tolist())]
