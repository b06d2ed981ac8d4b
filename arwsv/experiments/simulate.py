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
                    same_group_share: float = 0.5, utts_per_speaker: int = 40, seed: int = 0):
    """Simulate scored trials and VoxCeleb1-format speaker metadata.

    Parameters
    ----------
    n_speakers, trials_per_speaker : int
        About ``n_speakers * trials_per_speaker`` trials (repeated pairs are dropped).
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
    same_group_share : float
        Share of non-target trials whose impostor has the same gender and nationality (as in
        VoxCeleb1-H), when the group has another speaker; the rest pick any other speaker.
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
    # same-group impostors: speakers sorted by group; draw another member of a's group
    group = pd.factorize(pd.Series(gender) + "/" + pd.Series(nation))[0]
    by_group = np.argsort(group, kind="stable")
    size = np.bincount(group)
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    rank = np.empty(n_speakers, dtype=np.int64)
    rank[by_group] = np.arange(n_speakers) - start[group[by_group]]  # position of a speaker in its group
    ga = group[a]
    pick = (rng.random(n) * (size[ga] - 1)).astype(np.int64)
    # (a group of one has no mate: the index is clipped and the draw is not used)
    mate = by_group[np.minimum(start[ga] + pick + (pick >= rank[a]), n_speakers - 1)]
    use_mate = ~target & (size[ga] > 1) & (rng.random(n) < same_group_share)
    b = np.where(use_mate, mate, b)
    ua = rng.integers(0, utts_per_speaker, size=n)
    ub = (ua + 1 + rng.integers(0, utts_per_speaker - 1, size=n)) % utts_per_speaker  # never the same utterance
    same = impostor_shift * ((gender[a] == gender[b]).astype(float) + (nation[a] == nation[b]))
    score = rng.normal(0.0, 1.0, n) + np.where(target, d[a], same)
    trials = pd.DataFrame({"enrol": utterances[a * utts_per_speaker + ua], "test": utterances[b * utts_per_speaker + ub],
                           "label": target.astype(np.int8), "score": np.round(score, 5)})
    # a trial list names each (enrol, test) pair once
    trials = trials.drop_duplicates(["enrol", "test"], ignore_index=True)
    meta = pd.DataFrame({"VoxCeleb1 ID": speakers, "VGGFace1 ID": [f"Person_{i}" for i in range(n_speakers)],
                         "Gender": gender, "Nationality": nation,
                         "Set": np.where(np.arange(n_speakers) % 10 == 0, "test", "dev")})
    return trials, meta


def main(argv=None) -> int:
    """``python -m arwsv.experiments.simulate --out PREFIX``: write PREFIX_scores.txt (SpeechBrain format)
    and PREFIX_meta.csv (VoxCeleb1 format)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m arwsv.experiments.simulate", description=main.__doc__)
    parser.add_argument("--out", required=True, help="output prefix")
    parser.add_argument("--speakers", type=int, default=50)
    parser.add_argument("--trials-per-speaker", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    trials, meta = simulate_trials(n_speakers=args.speakers, trials_per_speaker=args.trials_per_speaker,
                                   seed=args.seed)
    trials.to_csv(f"{args.out}_scores.txt", sep=" ", header=False, index=False)
    meta.to_csv(f"{args.out}_meta.csv", sep="\t", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
