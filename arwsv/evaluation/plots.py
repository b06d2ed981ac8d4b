"""DET curves on normal-deviate axes, one panel per attribute (matplotlib, no display needed)."""

from __future__ import annotations

import numpy as np

from arwsv.io.files import atomic_write

__all__ = ["plot_det", "plot_group_comparison", "plot_calibration", "plot_paired_changes"]

_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6]


def _probit(p):
    from scipy.special import ndtri

    return ndtri(np.clip(p, 1e-5, 1 - 1e-5))


def _thin(x: np.ndarray, y: np.ndarray, resolution: float = 0.01):
    """Keep only points that move the curve by about ``resolution`` deviates (plots stay small)."""
    key = np.round(x / resolution) * 1e6 + np.round(y / resolution)
    keep = np.concatenate(([True], key[1:] != key[:-1]))
    keep[-1] = True
    return x[keep], y[keep]


def _save(fig, path, title: str | None, title_size=None) -> None:
    """Title, tight layout, and an atomic PNG write; the figure is closed."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def plot_det(curves: dict, path, title: str | None = None) -> None:
    """Write a PNG with one DET panel per attribute.

    Parameters
    ----------
    curves : dict attribute -> dict label -> (DetCurve, eer)
        The first label of each panel is drawn in black (the overall curve).
    path : path-like
        PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(curves))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 5.0), squeeze=False)
    ticks = _probit(np.array(_TICKS))
    labels = [f"{100 * t:g}" for t in _TICKS]
    for ax, (attribute, panel) in zip(axes[0], curves.items()):
        for i, (label, (det, eer)) in enumerate(panel.items()):
            if not det.defined:
                continue
            x, y = _thin(_probit(det.fmr), _probit(det.fnmr))
            style = {"color": "black", "linewidth": 2.2} if i == 0 else {"linewidth": 1.4}
            ax.plot(x, y, label=f"{label} (EER {100 * eer:.2f}%)", **style)
        lim = (ticks[0], ticks[-1])
        ax.plot(lim, lim, color="0.7", linewidth=0.8, linestyle=":")
        ax.set(xlim=lim, ylim=lim, xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels,
               xlabel="false match rate (%)", ylabel="false non-match rate (%)", title=attribute)
        ax.grid(True, color="0.9")
        ax.legend(fontsize=7, loc="upper right")
    _save(fig, path, title)


def plot_group_comparison(reports: dict, path, title: str | None = None) -> None:
    """Write a PNG of every group's EER for two (or more) systems, side by side with their 95 %
    speaker-bootstrap intervals; one panel per attribute, the overall EER first.

    Parameters
    ----------
    reports : dict system name -> ``arwsv eval`` report (same trials, same attributes)
    path : path-like
        PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(reports.values()))
    panels = {"overall": {"all": ("overall",)}}
    for attribute, part in first["attributes"].items():
        panels[attribute] = {g: ("attributes", attribute, "groups", g) for g in part["groups"]}
    widths = [1.2 + 0.55 * len(p) * len(reports) for p in panels.values()]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths) + 1.0, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    step = 0.8 / len(reports)
    for ax, (attribute, groups) in zip(axes[0], panels.items()):
        for j, (name, report) in enumerate(reports.items()):
            x = np.arange(len(groups)) - 0.4 + step * (j + 0.5)
            values, low, high = [], [], []
            for keys in groups.values():
                metrics = report
                for key in keys:
                    metrics = metrics[key]
                eer = metrics.get("eer")
                ci = (metrics.get("ci") or {}).get("eer") or [None, None]
                values.append(np.nan if eer is None else 100 * eer)
                low.append(np.nan if ci[0] is None else 100 * ci[0])
                high.append(np.nan if ci[1] is None else 100 * ci[1])
            values, low, high = map(np.asarray, (values, low, high))
            err = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
            ax.bar(x, values, width=step * 0.9, label=name, color=f"C{j}", alpha=0.85)
            ax.errorbar(x, values, yerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3, linewidth=1)
        ax.set_xticks(np.arange(len(groups)), list(groups), rotation=30 if len(groups) > 4 else 0, ha="right"
                      if len(groups) > 4 else "center", fontsize=8)
        ax.set(title=attribute, ylabel="EER (%)" if attribute == "overall" else None)
        ax.grid(True, axis="y", color="0.9")
    axes[0][0].legend(fontsize=8)
    _save(fig, path, title, title_size=10)


def plot_calibration(panels: dict, path, title: str | None = None) -> None:
    """Write a PNG of reliability curves, one panel per attribute: each group's claimed LLR (quantile
    bins of its trials) against the LLR its trials show (:func:`arwsv.evaluation.calibration.reliability`);
    the diagonal is perfect calibration, below it a group is over-confident.

    Parameters
    ----------
    panels : dict attribute -> dict label -> (llr (N,), is_target (N,), cllr)
        The first label of each panel is drawn in black (all trials).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arwsv.evaluation.calibration import reliability

    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 5.0), squeeze=False)
    for ax, (attribute, panel) in zip(axes[0], panels.items()):
        low, high = np.inf, -np.inf
        for i, (label, (llr, is_target, cllr)) in enumerate(panel.items()):
            claimed, observed = reliability(llr, is_target, bins=12)
            if not len(claimed):
                continue
            style = {"color": "black", "linewidth": 2.2} if i == 0 else {"linewidth": 1.4}
            ax.plot(claimed, observed, marker="o", markersize=3, label=f"{label} (Cllr {cllr:.3f})", **style)
            low, high = min(low, claimed.min(), observed.min()), max(high, claimed.max(), observed.max())
        if np.isfinite(low):
            ax.plot((low, high), (low, high), color="0.6", linewidth=0.8, linestyle=":")
        ax.axhline(0, color="0.9", linewidth=0.8)
        ax.axvline(0, color="0.9", linewidth=0.8)
        ax.set(xlabel="claimed LLR (bin mean)", ylabel="observed LLR", title=attribute)
        ax.grid(True, color="0.93")
        ax.legend(fontsize=7, loc="upper left")
    _save(fig, path, title)


def plot_paired_changes(rows: dict, metrics: dict, path, title: str | None = None, references: dict | None = None) -> None:
    """Forest plot of paired changes against a baseline: one panel per metric, one line per row.

    Parameters
    ----------
    rows : dict row label -> {metric key -> {"diff_mean": float, "ci_mean": [low, high] or None}}
        rates as fractions; drawn top to bottom in the dict's order, in pp. A point is green when its interval
        lies below 0 (helps), red when above 0 (hurts), gray otherwise.
    metrics : dict metric key -> panel label
    path : path-like
        PNG to write (atomically).
    references : dict metric key -> (x in pp, legend label), optional
        a dashed vertical line per panel (a target).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.9 + 0.34 * max(1, len(labels))),
                             sharey=True, squeeze=False)
    for ax, (key, label) in zip(axes[0], metrics.items()):
        for y, name in enumerate(labels):
            entry = rows[name].get(key) or {}
            if not np.isfinite(entry.get("diff_mean", np.nan)):
                continue
            x = 100 * entry["diff_mean"]
            ci = entry.get("ci_mean")
            err = [[x - 100 * ci[0]], [100 * ci[1] - x]] if ci else None
            color = "tab:gray" if not ci else "tab:green" if ci[1] < 0 else "tab:red" if ci[0] > 0 else "tab:gray"
            ax.errorbar(x, y, xerr=err, fmt="o", color=color, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        if references and key in references:
            where, legend = references[key]
            ax.axvline(where, color="tab:red", ls="--", lw=0.8, label=legend)
            ax.legend(loc="best", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(labels)))
    axes[0][0].set_yticklabels(labels, fontsize=8)
    axes[0][0].invert_yaxis()
    _save(fig, path, title, title_size=10)
