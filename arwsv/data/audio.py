"""Reading audio: one call for every reader of the package (training crops, augmentation's noise and RIRs,
embedding), mono float32 at 16 kHz through soundfile; and :func:`one_thread`, which makes torch's audio transforms
give the same samples in a DataLoader worker as in the training process."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import numpy as np

__all__ = ["SAMPLE_RATE", "SILENCE_PEAK", "read_audio", "one_thread"]

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-4


def read_audio(path: str, start: int = 0, stop: int | None = None, sample_rate: int = SAMPLE_RATE,
               channel: int | None = None):
    """Read ``[start, stop)`` (samples at the file's rate) as mono float32 at ``sample_rate``.

    Returns ``(signal or None, notes)``: ``notes`` is a list of what happened
    (``unreadable``, ``empty``, ``silent``, ``resampled``, ``downmixed``); ``signal`` is None
    when the audio cannot be used. ``channel``: take that channel of a multi-channel file instead of the
    average (a room impulse response is one microphone's).
    """
    import soundfile as sf

    notes = []
    try:
        wave, rate = sf.read(path, start=int(start), stop=None if stop is None else int(stop),
                             dtype="float32", always_2d=True)
    except Exception:  # soundfile raises several types (LibsndfileError, RuntimeError, OSError)
        return None, ["unreadable"]
    if wave.shape[1] > 1:
        wave = wave[:, [min(channel, wave.shape[1] - 1)]] if channel is not None else wave.mean(axis=1, keepdims=True)
        notes.append("downmixed")
    wave = wave[:, 0]
    if len(wave) == 0:
        return None, notes + ["empty"]
    if rate != sample_rate:
        from scipy.signal import resample_poly

        ratio = Fraction(sample_rate, rate).limit_denominator(1000)
        wave = resample_poly(wave, ratio.numerator, ratio.denominator).astype(np.float32)
        notes.append("resampled")
    if np.abs(wave).max() < SILENCE_PEAK:
        return None, notes + ["silent"]
    return wave, notes


@contextlib.contextmanager
def one_thread():
    """Run torch's audio transforms (resampling, convolution) in one thread: their sums are ordered by the thread
    count, and a crop must be the same in a DataLoader worker (one thread) and in the training process."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
