"""How the toy population's voices and accents are drawn (the corpus's speakers and the noise sets' talkers).

:func:`draw_voice` draws a speaker's :class:`arwsv.data.toy.synth.Voice` around gender means (women: higher F0,
~16 % shorter vocal tract, steeper tilt, breathier), every parameter's spread scaled by ``spread``;
:func:`draw_accent` a country's :class:`arwsv.data.toy.synth.Accent`. Both draw from the ``rng`` they are given,
in a fixed order, so the same generator state gives the same voice.
"""

from __future__ import annotations

import numpy as np

from arwsv.data.toy import synth

__all__ = ["draw_accent", "draw_voice"]


def draw_accent(rng) -> synth.Accent:
    """One country's accent: vowel targets (the reference vowels scaled by N(1, 0.08) per formant), rhythm,
    syllable structure and intonation slope."""
    return synth.Accent(
        vowels=synth.BASE_VOWELS * rng.normal(1.0, 0.08, size=synth.BASE_VOWELS.shape),
        vowel_ms=float(rng.uniform(90, 140)), consonant_ms=float(rng.uniform(50, 85)),
        coda_prob=float(rng.uniform(0.1, 0.6)), f0_slope=float(rng.uniform(-4.0, 0.0)))


def draw_voice(gender: str, spread: float, rng) -> synth.Voice:
    """One speaker's voice; ``gender`` "f" or "m", ``spread`` scales every parameter's standard deviation."""
    female = gender == "f"
    return synth.Voice(
        f0=float(np.exp(rng.normal(np.log(200.0 if female else 115.0), 0.12 * spread))),
        f0_range=float(np.clip(rng.normal(3.5, 1.0 * spread), 1.0, 8.0)),
        vtl=float(rng.normal(1.16 if female else 1.0, 0.05 * spread)),
        tilt=float(np.clip(rng.normal(0.7 if female else 0.6, 0.12 * spread), 0.2, 0.92)),
        jitter=float(np.exp(rng.normal(np.log(0.01), 0.4 * spread))),
        shimmer=float(np.exp(rng.normal(np.log(0.05), 0.4 * spread))),
        breathiness=float(max(0.0, rng.normal(0.08 if female else 0.04, 0.02 * spread))),
        rate=float(rng.normal(4.5, 0.5 * spread)),
        formant_offsets=tuple(float(x) for x in rng.normal(1.0, 0.04 * spread, size=4)))
