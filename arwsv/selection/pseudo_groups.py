"""Pseudo-groups of the development speakers and their trials: the label-free stand-in for gender x country.

The development speakers are clustered by one model (the uniform candidate's embeddings, so every
candidate is judged on the same groups) into ``groups`` pseudo-groups. Their trials are **every pair of
their utterances within a pseudo-group**: targets (same speaker) and non-targets between neighbours, as
VoxCeleb1-H draws its negatives within a nationality and gender, so a pseudo-group's EER measures how well
a model separates voices that resemble each other.
"""

from __future__ import annotations

import numpy as np

from arwsv.io.scorefile import ScoreTable
from arwsv.selection.signals import unit_rows

__all__ = ["pseudo_groups", "DevTrials"]


def pseudo_groups(unit: np.ndarray, speakers: np.ndarray, groups: int, seed: int = 0) -> dict:
    """``{speaker: "pgN"}`` from utterance embeddings ``unit`` (M, D) of ``speakers`` (M,): k-means (10
    initialisations, ``seed``) of the speakers' mean embeddings into ``groups`` clusters, numbered by size
    (pg1 the largest)."""
    from sklearn.cluster import KMeans

    names, codes = np.unique(np.asarray(speakers), return_inverse=True)
    means = np.zeros((len(names), unit.shape[1]))
    np.add.at(means, codes, unit_rows(unit))
    k = min(groups, len(names))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(unit_rows(means))
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return {str(s): f"pg{rank[c] + 1}" for s, c in zip(names, labels)}


class DevTrials:
    """Every within-pseudo-group pair of the development utterances.

    Parameters
    ----------
    ids : (M,) utterance ids; speakers : (M,) their speakers; group_of : ``{speaker: pseudo-group}``.

    Attributes: ``first``, ``second`` (N,) row indices into ``ids``; ``is_target`` (N,) bool.
    """

    def __init__(self, ids, speakers, group_of: dict):
        self.ids, self.speakers = np.asarray(ids), np.asarray(speakers).astype(str)
        groups = np.array([group_of[s] for s in self.speakers])
        first, second = [], []
        for g in sorted(set(groups)):
            rows = np.flatnonzero(groups == g)
            i, j = np.triu_indices(len(rows), k=1)
            first.append(rows[i])
            second.append(rows[j])
        self.first, self.second = np.concatenate(first), np.concatenate(second)
        self.is_target = self.speakers[self.first] == self.speakers[self.second]
        self.group_of = dict(group_of)

    def __len__(self) -> int:
        return len(self.first)

    def _aligned(self, ids, embeddings) -> np.ndarray:
        """Unit ``embeddings`` (M', D) of utterances ``ids`` in this object's ``ids`` order."""
        index = {str(u): i for i, u in enumerate(ids)}
        missing = [u for u in self.ids if str(u) not in index]
        if missing:
            raise ValueError(f"{len(missing)} development utterances have no embedding (e.g. {missing[0]})")
        return unit_rows(np.asarray(embeddings)[[index[str(u)] for u in self.ids]])

    def scores(self, ids, embeddings) -> np.ndarray:
        """Cosine scores (N,) of the trials from one model's ``embeddings`` (M', D) of utterances ``ids``."""
        return self._cosine(self._aligned(ids, embeddings))

    def _cosine(self, unit: np.ndarray) -> np.ndarray:
        return (unit[self.first] * unit[self.second]).sum(axis=1)

    def normalised_scores(self, ids, embeddings, cohort, *, top_k: int) -> np.ndarray:
        """AS-norm (N,) of :meth:`scores` with a ``cohort`` (C, D) of the same model's speaker embeddings
        (:func:`arwsv.inference.score.asnorm`, the scoring ``arwsv score --norm asnorm`` applies)."""
        from arwsv.inference.score import asnorm

        unit = self._aligned(ids, embeddings)
        return asnorm(self._cosine(unit), unit[self.first], unit[self.second], np.asarray(cohort, dtype=np.float64), top_k=top_k)

    def table(self, scores: np.ndarray) -> ScoreTable:
        """The trials with ``scores`` (N,) as a :class:`ScoreTable` (speaker codes, utterance codes)."""
        names, codes = np.unique(self.speakers, return_inverse=True)
        return ScoreTable(scores=np.asarray(scores, dtype=np.float64), is_target=self.is_target.copy(),
                          enrol_spk=codes[self.first].astype(np.int32), test_spk=codes[self.second].astype(np.int32),
                          speakers=names, path="<development trials>", format="arwsv-select",
                          enrol_utt=self.first.astype(np.int32), test_utt=self.second.astype(np.int32),
                          utterances=self.ids.astype(str))

    def speaker_groups(self) -> np.ndarray:
        """Each speaker's pseudo-group, in the order of :meth:`table`'s ``speakers``."""
        return np.array([self.group_of[s] for s in np.unique(self.speakers)], dtype=object)
