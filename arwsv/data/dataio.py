"""Training data: fixed-length random crops of manifest audio, robust to bad files.

Rows come from a manifest (:mod:`arwsv.data.manifest`), loaded with SpeechBrain's ``load_data_csv``;
batches are collated with SpeechBrain's ``PaddedBatch``; audio is read with soundfile. A batch
holds ``id``, ``sig`` (crops, shape (B, crop_samples)), ``spk`` (speaker index) and ``ok``
(False for items whose audio was bad). **Demographic columns never enter a batch**: ARW must
work without them, so they are dropped when the manifest is loaded.

Bad audio, and what happens (counted in :attr:`CropDataset.counts`, reported by the trainer):

=================================  =====================================================
unreadable / missing file          item marked bad (``ok`` False, zeros), counted, skipped
empty (0 samples)                  item marked bad, counted
silent (peak below 1e-4)           item marked bad, counted
shorter than the crop              repeated end to end up to the crop (wrap padding, as
                                   WeSpeaker does), counted as ``padded``
other sample rate                  resampled to 16 kHz (polyphase, scipy), counted
more than one channel              averaged to mono, counted
=================================  =====================================================

A bad item never raises: a training run does not crash mid-epoch on one bad file.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np

__all__ = ["SAMPLE_RATE", "read_audio", "CropDataset", "load_manifest_rows", "first_rows_per_speaker"]

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-4


def read_audio(path: str, start: int = 0, stop: int | None = None, sample_rate: int = SAMPLE_RATE):
    """Read ``[start, stop)`` (samples at the file's rate) as mono float32 at ``sample_rate``.

    Returns ``(signal or None, notes)``: ``notes`` is a list of what happened
    (``unreadable``, ``empty``, ``silent``, ``resampled``, ``downmixed``); ``signal`` is None
    when the audio cannot be used.
    """
    import soundfile as sf

    notes = []
    try:
        wave, rate = sf.read(path, start=int(start), stop=None if stop is None else int(stop),
                             dtype="float32", always_2d=True)
    except Exception:  # soundfile raises several types (LibsndfileError, RuntimeError, OSError)
        return None, ["unreadable"]
    if wave.shape[1] > 1:
        wave = wave.mean(axis=1, keepdims=True)
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


def load_manifest_rows(path) -> list:
    """Rows of a manifest as dicts, without demographic columns (SpeechBrain's CSV loader)."""
    from speechbrain.dataio.dataio import load_data_csv

    data = load_data_csv(str(path))
    keep = ("wav", "start", "stop", "spk_id", "duration")
    return [{"id": key, **{k: row[k] for k in keep if k in row}} for key, row in data.items()]


def first_rows_per_speaker(rows: list, count: int) -> list:
    """The first ``count`` rows of every speaker (all of a speaker with fewer), in manifest order."""
    taken, kept = {}, []
    for row in rows:
        if taken.get(row["spk_id"], 0) < count:
            taken[row["spk_id"]] = taken.get(row["spk_id"], 0) + 1
            kept.append(row)
    return kept


class CropDataset:
    """Random fixed-length crops of manifest rows; index with ``(row, crop_seed)``.

    Parameters
    ----------
    rows : list of dict
        From :func:`load_manifest_rows`.
    crop_seconds : float
        Crop length; the recipe sets it.
    speakers : sequence of str, optional
        Speaker label order (default: sorted speakers of ``rows``), so ``spk`` indices are stable.
    """

    def __init__(self, rows: list, crop_seconds: float, speakers=None):
        self.rows = rows
        self.crop = int(round(crop_seconds * SAMPLE_RATE))
        self.speakers = list(speakers) if speakers is not None else sorted({r["spk_id"] for r in rows})
        self.spk_index = {s: i for i, s in enumerate(self.speakers)}
        self.spk_ids = [r["spk_id"] for r in rows]
        self.counts = Counter()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> dict:
        row, crop_seed = key if isinstance(key, tuple) else (key, 0)
        item = self.rows[row]
        wave, notes = read_audio(item["wav"], int(float(item.get("start", 0) or 0)),
                                 int(float(item["stop"])) if item.get("stop") not in (None, "") else None)
        ok = wave is not None
        if not ok:
            crop = np.zeros(self.crop, dtype=np.float32)
        elif len(wave) <= self.crop:
            if len(wave) < self.crop:
                notes = notes + ["padded"]
            crop = np.resize(wave, self.crop)  # wrap padding: the signal repeated end to end
        else:
            offset = int(np.random.default_rng(crop_seed).integers(0, len(wave) - self.crop + 1))
            crop = wave[offset:offset + self.crop]
        self.counts.update(notes)
        import torch

        # notes travel with the item too: with DataLoader workers, self.counts is the worker's copy
        return {"id": item["id"], "sig": torch.from_numpy(np.ascontiguousarray(crop)),
                "spk": self.spk_index[item["spk_id"]], "ok": ok, "notes": ",".join(notes)}

    def loader(self, batch_sampler, num_workers: int = 0):
        """Batches over ``batch_sampler`` (any iterable of index lists), collated with SpeechBrain's
        PaddedBatch; with ``num_workers`` > 0 audio is read in that many worker processes and the bad-audio
        counts of the workers are added to :attr:`counts` from the batches."""
        import torch
        from speechbrain.dataio.batch import PaddedBatch

        loader = torch.utils.data.DataLoader(self, batch_sampler=batch_sampler, collate_fn=PaddedBatch,
                                             num_workers=num_workers)
        return loader if num_workers == 0 else self._counted(loader)

    def _counted(self, loader):
        for batch in loader:
            self.counts.update(note for notes in batch.notes for note in notes.split(",") if note)
            yield batch
