"""Per-speaker factors from a reference model's embeddings: what each candidate of ``arwsv select`` trains with.

Every signal clusters the training speakers (k-means on unit speaker embeddings, ``clusters`` = K, several
restarts averaged in the log domain: :func:`arwsv.training.reweighting.cluster_factors`) and gives a
speaker of cluster c the log factor ``beta * s_c - log n_c``: ``n_c`` the cluster's size (every cluster then
carries the same total weight, as the oracle's true groups do) and ``s_c`` the cluster's signal:

``balance``
    none (``beta`` is ignored): cluster balance alone.
``crowding``
    the mean cosine between two of the cluster's training speakers (:func:`cluster_crowding`).
``difficulty``
    the EER of the cluster's own trials among **development speakers** (speakers the reference model
    never trained on), each assigned to its nearest centroid: every pair of their utterances, same
    speaker or not. Unlike crowding it also sees where same-speaker scores are low, and, measured on
    unseen speakers, it does not fall for a small group whose few training speakers the model memorised.

Factors are scaled to mean 1 over the training speakers. No labels are read.
"""

from __future__ import annotations

import numpy as np

from arwsv.training.reweighting import cluster_crowding, cluster_factors

__all__ = ["SIGNALS", "speaker_factors", "cluster_difficulty", "unit_rows"]

SIGNALS = ("balance", "crowding", "difficulty")


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def _pair_eer(unit: np.ndarray, speakers: np.ndarray) -> float:
    """EER of every pair of rows of ``unit`` (M, D), target when their ``speakers`` (M,) agree; NaN without
    both kinds of pair."""
    from arwsv.evaluation.metrics import eer

    i, j = np.triu_indices(len(unit), k=1)
    if not len(i):
        return float("nan")
    target = speakers[i] == speakers[j]
    if target.all() or not target.any():
        return float("nan")
    return float(eer((unit[i] * unit[j]).sum(axis=1), target))


def cluster_difficulty(centroids: np.ndarray, dev_unit: np.ndarray, dev_speakers: np.ndarray) -> np.ndarray:
    """EER (K,) of each cluster's development trials; NaN where a cluster holds fewer than two development
    speakers. ``centroids`` (K, D); ``dev_unit`` (M, D) unit utterance embeddings of the development
    speakers ``dev_speakers`` (M,); a speaker goes to the centroid nearest its mean embedding."""
    names, codes = np.unique(dev_speakers, return_inverse=True)
    means = np.zeros((len(names), dev_unit.shape[1]))
    np.add.at(means, codes, dev_unit)
    cluster_of = (unit_rows(means) @ unit_rows(centroids).T).argmax(axis=1)[codes]
    out = np.full(len(centroids), np.nan)
    for c in range(len(centroids)):
        rows = cluster_of == c
        if len(np.unique(codes[rows])) >= 2:
            out[c] = _pair_eer(dev_unit[rows], codes[rows])
    return out


def speaker_factors(train: np.ndarray, *, signal: str, clusters: int, beta: float = 0.0, restarts: int = 8,
                    seed: int = 0, dev: np.ndarray | None = None, dev_speakers: np.ndarray | None = None) -> np.ndarray:
    """Factors (N,) of the training speakers from their embeddings ``train`` (N, D), mean 1.

    ``dev`` (M, D) and ``dev_speakers`` (M,): development utterance embeddings, for ``signal="difficulty"``.
    A cluster whose signal is undefined (one speaker; no development trials) takes the mean signal."""
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    if signal == "difficulty" and (dev is None or dev_speakers is None):
        raise ValueError("signal difficulty needs development embeddings and their speakers")
    if signal == "balance":
        def value(kmeans, sizes, crowding):
            return np.zeros(len(sizes))
    elif signal == "crowding":
        def value(kmeans, sizes, crowding):
            return crowding
    else:
        def value(kmeans, sizes, crowding):
            return cluster_difficulty(kmeans.cluster_centers_, unit_rows(dev), np.asarray(dev_speakers))
    return cluster_factors(train, clusters, beta=beta, cluster_signal=value, restarts=restarts, seed=seed)
