"""A training-free reference embedding: filterbank statistics projected by LDA.

``arwsv baseline`` runs it on a corpus. Used to check that a corpus has the demographic gap it is meant to have before any network is
trained (and as a floor a trained extractor must beat). An utterance is summarised by the mean
and standard deviation over time of its 40 log-Mel filterbank energies (SpeechBrain ``Fbank``),
shape (80,); :class:`StatsLDA` fits scikit-learn's LDA on the training speakers and returns
length-normalised projections, scored by cosine similarity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["filterbank_stats", "StatsLDA", "score_trials"]


def filterbank_stats(paths, n_mels: int = 40, batch_size: int = 64) -> np.ndarray:
    """Mean and std of log-Mel energies of each file; shape (len(paths), 2 * n_mels)."""
    import torch
    from speechbrain.lobes.features import Fbank

    from arwsv.data.dataio import read_audio

    fbank = Fbank(n_mels=n_mels)
    out = []
    for i in range(0, len(paths), batch_size):
        waves = [read_audio(p)[0] for p in paths[i:i + batch_size]]
        length = max(len(w) for w in waves)
        batch = torch.stack([torch.from_numpy(np.resize(w, length)) for w in waves])
        with torch.no_grad():
            feats = fbank(batch)
        out.append(torch.cat([feats.mean(1), feats.std(1)], dim=1).numpy())
    return np.concatenate(out)


class StatsLDA:
    """LDA on filterbank statistics. ``fit(X (N, D), speakers (N,))``, ``transform(X) -> (N, d)``."""

    def __init__(self, n_components: int = 60):
        self.n_components = n_components

    def fit(self, features: np.ndarray, speakers) -> "StatsLDA":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        n = min(self.n_components, len(set(speakers)) - 1, features.shape[1])
        self.lda_ = LinearDiscriminantAnalysis(n_components=n).fit(features, speakers)
        self.mean_ = self.lda_.transform(features).mean(axis=0)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        z = self.lda_.transform(features) - self.mean_
        return z / np.linalg.norm(z, axis=1, keepdims=True)


def score_trials(corpus, trial_name: str, embeddings: dict):
    """Cosine scores of ``corpus/trials/<trial_name>.txt`` as a SpeechBrain-format DataFrame."""
    import pandas as pd

    trials = pd.read_csv(f"{corpus}/trials/{trial_name}.txt", sep=" ", header=None, names=["label", "enrol", "test"])
    trials["score"] = [float(embeddings[e[:-4]] @ embeddings[t[:-4]]) for e, t in zip(trials["enrol"], trials["test"])]
    return trials[["enrol", "test", "label", "score"]]
