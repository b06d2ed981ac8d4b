"""A source-filter speech synthesiser in numpy/scipy, for a toy corpus with real waveforms.

Speaker identity lives in physically meaningful parameters (:class:`Voice`):

- glottal source: mean F0 and intonation range, jitter (period perturbation), shimmer (amplitude
  perturbation), spectral tilt (how fast harmonics fall off) and breathiness (aspiration noise);
- vocal tract: a length factor that scales all formants (shorter tract = higher formants, as for
  most women and children) and small idiosyncratic per-formant offsets;
- speaking rate.

An accent (:class:`Accent`) is a country's own vowel formant targets, syllable structure, rhythm
(vowel and consonant durations) and intonation slope.

An utterance is a random syllable sequence (the "text"): voiced phones are an impulse train with
jitter and shimmer, shaped by a tilt filter and a cascade of formant resonators; fricatives and
stop bursts are band-passed noise. Each utterance gets its own prosody, and each recording session
its own channel (a random microphone EQ, band limit and noise at a random SNR, optionally a
reverberant room), so same-speaker utterances differ and verification is not trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

__all__ = ["SAMPLE_RATE", "Voice", "Accent", "Channel", "synthesize"]

SAMPLE_RATE = 16000

# reference (adult male, VTL factor 1) formants F1-F3 in Hz of seven vowels, Peterson & Barney-like
BASE_VOWELS = np.array([
    [270, 2290, 3010],  # i
    [390, 1990, 2550],  # e
    [530, 1840, 2480],  # ae
    [730, 1090, 2440],  # a
    [570, 840, 2410],   # o
    [440, 1020, 2240],  # U
    [300, 870, 2240],   # u
], dtype=np.float64)
F4 = 3500.0
BANDWIDTHS = np.array([70.0, 100.0, 130.0, 180.0])
# fricative noise bands (low, high) in Hz for the reference tract, and stop-burst centre frequencies
FRICATIVES = np.array([[3800.0, 7000.0], [2200.0, 4000.0], [1000.0, 6500.0]])  # s, sh, f
BURSTS = np.array([900.0, 3500.0, 1800.0])  # p, t, k


@dataclass(frozen=True)
class Voice:
    """One speaker's physical parameters (see module docstring)."""

    f0: float                  # mean fundamental frequency, Hz
    f0_range: float            # intonation range, semitones
    vtl: float                 # formant scale factor (1 = reference adult male tract)
    tilt: float                # source spectral tilt, pole of a one-pole low-pass in [0, 1)
    jitter: float              # relative std of glottal periods
    shimmer: float             # relative std of pulse amplitudes
    breathiness: float         # aspiration noise relative to voicing
    rate: float                # syllables per second
    formant_offsets: tuple     # multiplicative offsets of F1..F4, e.g. (1.03, 0.98, 1.0, 1.01)


@dataclass(frozen=True)
class Accent:
    """A country's way of speaking."""

    vowels: np.ndarray         # (7, 3) F1-F3 targets for the reference tract
    vowel_ms: float            # mean vowel duration
    consonant_ms: float        # mean consonant duration
    coda_prob: float           # probability that a syllable ends in a consonant
    f0_slope: float            # intonation declination over an utterance, semitones


@dataclass(frozen=True)
class Channel:
    """A recording session: microphone EQ, band limit, noise and room."""

    eq_freq: float             # centre of a peaking EQ, Hz
    eq_gain_db: float
    cutoff: float              # low-pass band limit, Hz
    snr_db: float
    rt60: float                # reverberation time, s (0 = dry)


def _resonator_cascade(formants: np.ndarray, bandwidths: np.ndarray):
    """Denominator of a cascade of two-pole resonators (unit gain at DC per section)."""
    den = np.array([1.0])
    gain = 1.0
    for f, bw in zip(formants, bandwidths):
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        a = np.array([1.0, -2 * r * np.cos(2 * np.pi * f / SAMPLE_RATE), r * r])
        den = np.convolve(den, a)
        gain *= a.sum()
    return gain, den


def _glottal_source(f0_track: np.ndarray, voice: Voice, rng) -> np.ndarray:
    """Impulse train following ``f0_track`` (Hz per sample) with jitter and shimmer, tilted."""
    n = len(f0_track)
    out = np.zeros(n)
    mean_period = SAMPLE_RATE / max(float(f0_track.mean()), 50.0)
    count = int(n / mean_period * 1.6) + 8
    jit = 1.0 + voice.jitter * rng.standard_normal(count)
    amp = np.clip(1.0 + voice.shimmer * rng.standard_normal(count), 0.2, None)
    t, k = float(rng.uniform(0, mean_period)), 0
    positions, amplitudes = [], []
    while t < n and k < count:
        positions.append(int(t))
        amplitudes.append(amp[k])
        t += SAMPLE_RATE / f0_track[int(t)] * jit[k]
        k += 1
    out[np.array(positions, dtype=np.int64)] = amplitudes
    # glottal pulse shape: two one-pole low-passes (~ -12 dB/octave) with speaker tilt
    out = signal.lfilter([1.0], [1.0, -voice.tilt], out)
    out = signal.lfilter([1.0], [1.0, -0.9], out)
    return out


def _phones(duration_s: float, voice: Voice, accent: Accent, rng):
    """Random syllables: list of (kind, index, n_samples) until ``duration_s`` is filled."""
    phones, total = [], 0
    target = int(duration_s * SAMPLE_RATE)
    scale = 4.5 / voice.rate  # faster speakers shorten every phone
    while total < target:
        if rng.random() < 0.08:
            length = int(SAMPLE_RATE * rng.uniform(0.08, 0.25))
            phones.append(("pause", 0, length))
            total += length
            continue
        syllable = []
        if rng.random() < 0.85:
            syllable.append(_consonant(rng))
        syllable.append(("vowel", int(rng.integers(len(accent.vowels))), accent.vowel_ms))
        if rng.random() < accent.coda_prob:
            syllable.append(_consonant(rng))
        for kind, index, ms in syllable:
            if kind != "vowel":
                ms = accent.consonant_ms
            length = int(SAMPLE_RATE * ms / 1000 * scale * rng.lognormal(0.0, 0.25))
            phones.append((kind, index, max(length, 160)))
            total += phones[-1][2]
    return phones


def _consonant(rng):
    kind = ("fricative", "stop", "nasal")[int(rng.choice(3, p=[0.4, 0.35, 0.25]))]
    return kind, int(rng.integers(3 if kind != "nasal" else 2)), 0.0


def _band_noise(n: int, low: float, high: float, rng) -> np.ndarray:
    high = min(high, SAMPLE_RATE / 2 * 0.95)
    sos = signal.butter(2, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def _envelope(n: int, ramp: int = 80) -> np.ndarray:
    env = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp:
        env[:ramp] = np.linspace(0, 1, ramp)
        env[-ramp:] = np.linspace(1, 0, ramp)
    return env


def synthesize(duration_s: float, voice: Voice, accent: Accent, channel: Channel, rng) -> np.ndarray:
    """One utterance of ``duration_s`` seconds at 16 kHz, float32 in [-1, 1], shape (samples,)."""
    n = int(round(duration_s * SAMPLE_RATE))
    phones = _phones(duration_s + 0.1, voice, accent, rng)
    # prosody: declination plus one pitch accent per few syllables, jitter added in the source
    t = np.linspace(0.0, 1.0, n)
    semitones = accent.f0_slope * t
    for centre in rng.uniform(0, 1, size=max(1, int(duration_s * 1.2))):
        semitones += voice.f0_range * rng.uniform(0.3, 1.0) * np.exp(-((t - centre) / 0.06) ** 2)
    f0_track = voice.f0 * rng.lognormal(0.0, 0.04) * 2 ** ((semitones - semitones.mean()) / 12)
    source = _glottal_source(f0_track, voice, rng)
    source /= np.abs(source).max() + 1e-9
    breath = rng.standard_normal(n) * voice.breathiness

    scale = voice.vtl * np.asarray(voice.formant_offsets)
    out = np.zeros(n + SAMPLE_RATE)
    pos = 0
    for kind, index, length in phones:
        if pos >= n:
            break
        seg = slice(pos, min(pos + length, n))
        m = seg.stop - seg.start
        if kind == "vowel" or kind == "nasal":
            if kind == "vowel":
                formants = np.append(accent.vowels[index], F4) * scale
                level = 1.0
            else:  # nasal murmur: low first formant, weak upper ones
                formants = np.array([250.0, 1100.0 + 900.0 * index, 2500.0, F4]) * scale
                level = 0.35
            formants = np.minimum(formants, SAMPLE_RATE / 2 * 0.9)
            gain, den = _resonator_cascade(formants, BANDWIDTHS * voice.vtl)
            excitation = source[seg] + breath[seg] * 0.3
            wave = signal.lfilter([gain], den, excitation) * level
        elif kind == "fricative":
            low, high = FRICATIVES[index] * np.sqrt(voice.vtl)
            wave = _band_noise(m, low, high, rng) * 0.25
        elif kind == "stop":
            closure = int(m * 0.6)
            wave = np.zeros(m)
            burst = m - closure
            centre = BURSTS[index] * np.sqrt(voice.vtl)
            wave[closure:] = _band_noise(burst, centre * 0.7, centre * 1.4, rng) * 0.5 * np.linspace(1, 0, burst)
        else:
            wave = np.zeros(m)
        out[seg] += wave * _envelope(m)
        pos += length
    wave = out[:n]
    wave = apply_channel(wave, channel, rng)
    peak = np.abs(wave).max()
    return (wave / (peak + 1e-9) * rng.uniform(0.3, 0.9)).astype(np.float32)


def apply_channel(wave: np.ndarray, channel: Channel, rng) -> np.ndarray:
    if channel.rt60 > 0:
        length = int(channel.rt60 * SAMPLE_RATE)
        decay = np.exp(-6.9 * np.arange(length) / length)  # -60 dB at rt60
        ir = rng.standard_normal(length) * decay
        ir[0] = 1.0 / 0.3
        wave = signal.fftconvolve(wave, ir * 0.3)[: len(wave)]
    b, a = signal.iirpeak(channel.eq_freq, Q=1.2, fs=SAMPLE_RATE)
    boost = 10 ** (channel.eq_gain_db / 20) - 1
    wave = wave + boost * signal.lfilter(b, a, wave)
    sos = signal.butter(4, min(channel.cutoff, SAMPLE_RATE / 2 * 0.95), fs=SAMPLE_RATE, output="sos")
    wave = signal.sosfilt(sos, wave)
    power = np.mean(wave ** 2) + 1e-12
    noise = rng.standard_normal(len(wave))
    noise = signal.lfilter([1.0], [1.0, -0.7], noise)  # slightly coloured, like room noise
    noise *= np.sqrt(power / (np.mean(noise ** 2) * 10 ** (channel.snr_db / 10)))
    return wave + noise
