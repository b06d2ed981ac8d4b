"""DET curves on normal-deviate axes, one panel per attribute (matplotlib, no display needed)."""

from __future__ import annotations

import numpy as np

from arwsv.io.files import atomic_write

__all__ = ["plot_det"]

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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
