"""Cosine scoring of trial lists, with optional adaptive s-norm (AS-norm).

AS-norm (Matejka et al. 2017, as in WeSpeaker): each side of a trial is normalised by the mean
and std of its ``top_k`` highest cosine scores against a cohort, and the two are averaged:
``s' = ((s - μ_e) / σ_e + (s - μ_t) / σ_t) / 2``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from arwsv.errors import InputError

__all__ = ["cosine_scores", "asnorm", "score_trials", "cohort_rows", "speaker_means"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cohort_rows(rows: list, utts: int = 0) -> list:
    """The manifest ``rows`` (dicts with ``id``, ``spk_id``) to embed for a cohort: each speaker's first ``utts``
    utterances by id (0: all of them), in id order. Two per speaker make a cohort of every training speaker at a
    small cost (``arwsv select`` judges AS-norm with such a cohort)."""
    ordered = sorted(rows, key=lambda r: r["id"])
    if utts <= 0:
        return ordered
    chosen, seen = [], {}
    for row in ordered:
        if seen.get(row["spk_id"], 0) < utts:
            seen[row["spk_id"]] = seen.get(row["spk_id"], 0) + 1
            chosen.append(row)
    return chosen


def speaker_means(speakers, embeddings: np.ndarray) -> tuple:
    """``(names (S,), means (S, D))``: each speaker's mean of its unit utterance embeddings (M, D), unit length;
    ``names`` sorted."""
    names, codes = np.unique(np.asarray(speakers), return_inverse=True)
    means = np.zeros((len(names), embeddings.shape[1]))
    np.add.at(means, codes, _unit(np.asarray(embeddings, dtype=np.float64)))
    return names, _unit(means)


def cosine_scores(enrol: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (N, D) and (N, D) -> (N,)."""
    return np.sum(_unit(enrol) * _unit(test), axis=1)


def asnorm(scores: np.ndarray, enrol: np.ndarray, test: np.ndarray, cohort: np.ndarray, top_k: int = 200,
           chunk: int = 4096) -> np.ndarray:
    """Adaptive s-norm of ``scores`` (N,) given trial-side embeddings (N, D) and a cohort (C, D)."""
    cohort = _unit(cohort)
    k = min(top_k, len(cohort))

    def stats(x):
        mean, std = np.empty(len(x)), np.empty(len(x))
        for i in range(0, len(x), chunk):
            top = np.partition(_unit(x[i:i + chunk]) @ cohort.T, -k, axis=1)[:, -k:]
            mean[i:i + chunk], std[i:i + chunk] = top.mean(1), top.std(1) + 1e-9
        return mean, std

    me, se = stats(enrol)
    mt, st = stats(test)
    return 0.5 * ((scores - me) / se + (scores - mt) / st)


def score_trials(trials: pd.DataFrame, ids, embeddings, cohort=None, top_k: int = 200) -> pd.DataFrame:
    """Scores of ``trials`` (label, enrol, test) as a SpeechBrain-format frame ``enrol test label score``.

    Trial utterances are matched to embedding ids with or without their extension.
    """
    index = pd.Index(ids)

    def locate(column):
        stems = trials[column].map(lambda u: os.path.splitext(u)[0])
        pos = index.get_indexer(stems)
        if (pos < 0).any():
            missing = trials[column][pos < 0]
            raise InputError(f"{int((pos < 0).sum())} trial utterances have no embedding (e.g. {missing.iloc[0]}); "
                             "embed the manifest that holds them")
        return pos

    e, t = locate("enrol"), locate("test")
    scores = cosine_scores(embeddings[e], embeddings[t])
    if cohort is not None:
        scores = asnorm(scores, embeddings[e], embeddings[t], cohort, top_k)
    return pd.DataFrame({"enrol": trials["enrol"], "test": trials["test"], "label": trials["label"],
                         "score": scores})
