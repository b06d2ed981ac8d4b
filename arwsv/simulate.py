"""Simulated trials and scores with planted demographic gaps.

For tests, benchmarks and the sample score file shipped with the package: it produces what a
speaker-verification system would write for VoxCeleb-like speakers, where some groups are harder.

Generative model (all Gaussian, so EERs have closed forms):

- speaker s has a gender and a nationality drawn from the given shares and a separability
  ``d_s = dprime + sum of the offsets of its groups + N(0, speaker_spread^2)``;
- a target trial of speaker s scores ``N(d_s, 1)``;
- a non-target trial scores ``N(impostor_shift * [same gender] + impostor_shift * [same
  nationality], 1)``: impostors from one's own group look more alike, as in VoxCeleb1-H.

Utterance ids follow VoxCeleb: ``id1XXXX/<11-char video>/NNNNN.wav``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_trials", "VOX1_META_COLUMNS"]

VOX1_META_COLUMNS = ["VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"]
_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))


def simulate_trials(*, n_speakers: int = 200, trials_per_speaker: int = 50, target_share: float = 0.5,
                    female_share: float = 0.45, nationalities: dict | None = None, dprime: float = 3.5,
                    offsets: dict | None = None, speaker_spread: float = 0.3, impostor_shift: float = 0.3,
                    utts_per_speaker: int = 40, seed: int = 0):
    """Simulate scored trials and VoxCeleb1-format speaker metadata.

    Parameters
    ----------
    n_speakers, trials_per_speaker : int
        The file has ``n_speakers * trials_per_speaker`` trials, each speaker enrolling the same number.
    target_share : float
        Share of target trials.
    female_share : float
        Share of female speakers.
    nationalities : dict name -> share, optional
        Default ``{"USA": 0.6, "UK": 0.2, "India": 0.1, "Ireland": 0.1}``.
    dprime : float
        Mean target score of a speaker with no group offset (non-targets are N(0, 1)).
    offsets : dict group value -> float, optional
        Added to ``d_s`` of speakers in that group; default ``{"f": -0.6, "India": -0.8}``
        (women and Indian speakers are harder).
    speaker_spread, impostor_shift : float
        See the module docstring.
    utts_per_speaker : int
        Distinct utterances per speaker that trials draw from.
    seed : int

    Returns
    -------
    trials : DataFrame with columns enrol, test, label (0/1), score; shape (N, 4)
    meta : DataFrame with ``VOX1_META_COLUMNS``; shape (n_speakers, 5)
    """
    rng = np.random.default_rng(seed)
    nationalities = nationalities or {"USA": 0.6, "UK": 0.2, "India": 0.1, "Ireland": 0.1}
    offsets = {"f": -0.6, "India": -0.8} if offsets is None else offsets
    names = list(nationalities)
    shares = np.array([nationalities[n] for n in names], dtype=np.float64)
    gender = np.where(rng.random(n_speakers) < female_share, "f", "m")
    nation = np.array(names, dtype=object)[rng.choice(len(names), size=n_speakers, p=shares / shares.sum())]
    d = dprime + rng.normal(0.0, speaker_spread, n_speakers)
    for value, offset in offsets.items():
        d = d + offset * ((gender == value) | (nation == value))
    speakers = np.array([f"id{10001 + i}" for i in range(n_speakers)], dtype=object)

    # each speaker's utterances: id/video/NNNNN.wav, a few videos per speaker
    videos = ["".join(v) for v in _ALPHABET[rng.integers(0, len(_ALPHABET), size=(n_speakers * 4, 11))]]
    utt_video = rng.integers(0, 4, size=(n_speakers, utts_per_speaker))
    utterances = np.array([f"{speakers[s]}/{videos[4 * s + utt_video[s, u]]}/{u + 1:05d}.wav"
                           for s in range(n_speakers) for u in range(utts_per_speaker)], dtype=object)

    n = n_speakers * trials_per_speaker
    a = np.repeat(np.arange(n_speakers), trials_per_speaker)
    target = rng.random(n) < target_share
    other = rng.integers(0, n_speakers - 1, size=n)
    b = np.where(target, a, other + (other >= a))  # a different speaker for non-targets
    ua = rng.integers(0, utts_per_speaker, size=n)
    ub = (ua + 1 + rng.integers(0, utts_per_speaker - 1, size=n)) % utts_per_speaker  # never the same utterance
    same = impostor_shift * ((gender[a] == gender[b]).astype(float) + (nation[a] == nation[b]))
    score = rng.normal(0.0, 1.0, n) + np.where(target, d[a], same)
    trials = pd.DataFrame({"enrol": utterances[a * utts_per_speaker + ua], "test": utterances[b * utts_per_speaker + ub],
                           "label": target.astype(np.int8), "score": np.round(score, 5)})
    meta = pd.DataFrame({"VoxCeleb1 ID": speakers, "VGGFace1 ID": [f"Person_{i}" for i in range(n_speakers)],
                         "Gender": gender, "Nationality": nation,
                         "Set": np.where(np.arange(n_speakers) % 10 == 0, "test", "dev")})
    return trials, meta
