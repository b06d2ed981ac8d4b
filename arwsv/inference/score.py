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

__all__ = ["cosine_scores", "asnorm", "score_trials"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


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
