"""Training data: fixed-length random crops of manifest audio, robust to bad files.

Rows come from a manifest (:mod:`arwsv.data.manifest`), held as NumPy arrays (:class:`ManifestArrays`: a
VoxCeleb2-sized manifest is shared by the DataLoader workers, not copied into each); batches are collated with
SpeechBrain's ``PaddedBatch``; audio is read with soundfile (:mod:`arwsv.data.audio`) and, with a recipe's
``augment:`` block, augmented in the workers (:mod:`arwsv.data.augment`). A batch holds ``id``, ``sig`` (crops,
shape (B, crop_samples)), ``spk`` (training class), ``real`` (real speaker: they differ for speed-perturbed
virtual speakers), ``ok`` (False for items whose audio was bad), ``notes`` and ``augmented``. **Demographic
columns never enter a batch**: ARW must work without them, so they are dropped when the manifest is loaded.

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

import numpy as np

from arwsv.data.audio import SAMPLE_RATE, one_thread, read_audio  # read_audio and SAMPLE_RATE: re-exported

__all__ = ["SAMPLE_RATE", "read_audio", "CropDataset", "ManifestArrays", "load_manifest_rows", "first_rows_per_speaker"]


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


class ManifestArrays:
    """A training manifest held as NumPy arrays, not one Python dict per row.

    DataLoader workers are forked copies of the training process: a list of 2 M dicts (VoxCeleb2 in 3 s segments)
    would be copied page by page into every worker as soon as its rows are touched (reference counts are written
    on read); fixed-width byte arrays are read without writing, so the workers share one copy
    (``benchmarks/bench_manifest_memory.py`` measures it).

    Shapes (N rows): ``ids`` (N,) bytes, ``wav_index`` (N,) int32 into ``wavs`` (U,) bytes (segments of one file share
    its path), ``start`` / ``stop`` (N,) int64 (stop -1: to the end), ``spk`` (N,) int32 into ``speakers`` (sorted).
    """

    def __init__(self, ids, wavs, starts, stops, spk_ids, speakers=None):
        spk_ids = np.asarray(spk_ids, dtype=object).astype(str)
        self.speakers = list(speakers) if speakers is not None else sorted(set(spk_ids.tolist()))
        index = {s: i for i, s in enumerate(self.speakers)}
        unknown = sorted(set(spk_ids.tolist()) - set(index))
        if unknown:
            raise ValueError(f"{len(unknown)} speaker(s) of the rows are not in `speakers` (e.g. {unknown[0]!r})")
        self.spk = np.fromiter((index[s] for s in spk_ids), dtype=np.int32, count=len(spk_ids))
        unique, self.wav_index = np.unique(np.asarray(wavs, dtype=object).astype(str), return_inverse=True)
        self.wav_index = self.wav_index.astype(np.int32)
        self.wavs = np.char.encode(unique, "utf-8") if len(unique) else np.array([], dtype="S1")
        self.ids = np.char.encode(np.asarray(ids, dtype=object).astype(str), "utf-8") if len(spk_ids) else \
            np.array([], dtype="S1")
        self.start = np.asarray(starts, dtype=np.int64)
        self.stop = np.asarray(stops, dtype=np.int64)

    @classmethod
    def from_rows(cls, rows: list, speakers=None) -> "ManifestArrays":
        def number(value, empty):
            return empty if value in (None, "") else int(float(value))

        return cls([r["id"] for r in rows], [r["wav"] for r in rows],
                   [number(r.get("start"), 0) for r in rows], [number(r.get("stop"), -1) for r in rows],
                   [r["spk_id"] for r in rows], speakers)

    @classmethod
    def from_manifest(cls, path, speakers=None) -> "ManifestArrays":
        """Read a manifest (``ID,duration,wav,start,stop,spk_id,...``) with pandas; demographic columns are not
        read (the training data pipeline never carries them)."""
        import pandas as pd

        frame = pd.read_csv(path, usecols=lambda c: c in ("ID", "wav", "start", "stop", "spk_id"),
                            dtype={"ID": str, "wav": str, "spk_id": str}, keep_default_na=False)
        number = {c: pd.to_numeric(frame[c], errors="coerce") if c in frame else None for c in ("start", "stop")}
        starts = np.zeros(len(frame), np.int64) if number["start"] is None else number["start"].fillna(0).to_numpy()
        stops = np.full(len(frame), -1, np.int64) if number["stop"] is None else number["stop"].fillna(-1).to_numpy()
        return cls(frame["ID"].to_numpy(), frame["wav"].to_numpy(), starts, stops, frame["spk_id"].to_numpy(),
                   speakers)

    def __len__(self) -> int:
        return len(self.spk)

    def wav(self, row: int) -> str:
        return self.wavs[self.wav_index[row]].decode("utf-8")

    def id(self, row: int) -> str:
        return self.ids[row].decode("utf-8")

    @property
    def spk_ids(self):
        """Speaker of every row (N,) as strings (for the batch sampler)."""
        return np.asarray(self.speakers, dtype=object)[self.spk]


CROP_FROM = ("segment", "utterance")


class CropDataset:
    """Random fixed-length crops of manifest rows; index with ``(row, crop_seed)`` or ``(row, crop_seed, copy)``.

    Parameters
    ----------
    rows : list of dict (from :func:`load_manifest_rows`) or :class:`ManifestArrays`
    crop_seconds : float
        Crop length; the recipe sets it.
    speakers : sequence of str, optional
        Speaker label order (default: sorted speakers of ``rows``), so ``spk`` indices are stable.
    crop_from : ``segment`` (the row's ``[start, stop)``) or ``utterance`` (anywhere in the row's file, as
        SpeechBrain's recipe draws its random chunks: a row of a segmented manifest then counts its segment's
        turn in the epoch, not where its crop comes from)
    augment : :class:`arwsv.data.augment.AugmentSettings` or None
    speaker_map : :class:`arwsv.data.augment.SpeakerMap` or None: the class of copy c of a speaker (speed
        perturbation with new labels); items carry ``spk`` (the class) and ``real`` (the real speaker)

    An item ``(row, crop_seed, copy)`` with copy > 0 is read at speed factor ``augment.speed_factors[copy - 1]``,
    or, with targeted virtual speakers, as its speaker's copy ``copy`` (``augment.perturbation``: speed or shift).
    The crop's place depends only on ``crop_seed`` (as before augmentation existed); augmentation draws from a
    second stream of the same seed, so the crops of a run without ``augment`` are unchanged.
    """

    def __init__(self, rows, crop_seconds: float, speakers=None, *, crop_from: str = "segment", augment=None,
                 speaker_map=None):
        self.rows = rows if isinstance(rows, ManifestArrays) else ManifestArrays.from_rows(rows, speakers)
        if speakers is not None and list(speakers) != self.rows.speakers:
            self.rows = ManifestArrays(self.rows.ids.astype(str), self.rows.wavs[self.rows.wav_index].astype(str),
                                       self.rows.start, self.rows.stop, self.rows.spk_ids, speakers)
        if crop_from not in CROP_FROM:
            raise ValueError(f"crop_from must be one of {', '.join(CROP_FROM)}, got {crop_from!r}")
        self.crop = int(round(crop_seconds * SAMPLE_RATE))
        self.crop_from, self.augment, self.speaker_map = crop_from, augment, speaker_map
        self.speakers = self.rows.speakers
        self.counts, self.augment_counts = Counter(), Counter()
        self._augmenter = None

    @property
    def spk_ids(self):
        return self.rows.spk_ids

    def __len__(self) -> int:
        return len(self.rows)

    def _read(self, row: int, need: int, crop_seed: int):
        """``need`` samples of ``row`` from the place ``crop_seed`` draws: ``(wave or None, notes)``."""
        path, start, stop = self.rows.wav(row), int(self.rows.start[row]), int(self.rows.stop[row])
        if self.crop_from == "utterance":
            import soundfile as sf

            try:
                info = sf.info(path)
            except Exception:
                return None, ["unreadable"]
            span = int(np.ceil(need * info.samplerate / SAMPLE_RATE))  # in the file's samples
            if info.frames > span:
                offset = int(np.random.default_rng(crop_seed).integers(0, info.frames - span + 1))
                wave, notes = read_audio(path, offset, offset + span)
                if wave is not None and len(wave) < need:  # resampling rounded a sample away: wrap, as below
                    wave = np.resize(wave, need)
                return (None if wave is None else wave[:need]), notes
            wave, notes = read_audio(path)
        else:
            wave, notes = read_audio(path, start, stop if stop >= 0 else None)
        if wave is None:
            return None, notes
        if len(wave) <= need:
            return (np.resize(wave, need), notes + ["padded"]) if len(wave) < need else (wave, notes)
        offset = int(np.random.default_rng(crop_seed).integers(0, len(wave) - need + 1))
        return wave[offset:offset + need], notes

    def item(self, row: int, crop_seed: int = 0, copy: int = 0, augment: bool = True) -> dict:
        """One crop as a dict (``id``, ``sig`` (crop,), ``spk`` class, ``real`` speaker, ``ok``, ``notes``,
        ``augmented``); ``augment=False``: the clean crop (a reference model's view of a speaker)."""
        import torch

        transform, factor = ("speed", 1.0) if copy == 0 else \
            self.augment.perturbation(self.speakers[int(self.rows.spk[row])], copy)
        with one_thread():
            return self._item(row, crop_seed, copy, augment, factor, transform)

    def _item(self, row, crop_seed, copy, augment, factor, transform="speed"):
        import torch

        if factor != 1.0 and transform == "shift":
            from arwsv.data.augment import apply_shift

            wave, notes = self._read(row, self.crop, crop_seed)
            if wave is not None:
                wave = apply_shift(wave, factor, SAMPLE_RATE)
        elif factor != 1.0:
            from arwsv.data.augment import apply_speed, speed_read_length

            wave, notes = self._read(row, speed_read_length(self.crop, factor), crop_seed)
            if wave is not None:
                wave = apply_speed(wave, factor, SAMPLE_RATE, self.crop)
        else:
            wave, notes = self._read(row, self.crop, crop_seed)
        ok, applied = wave is not None, []
        if not ok:
            crop = np.zeros(self.crop, dtype=np.float32)
        else:
            crop = wave
            if augment and self.augment is not None and (self.augment.manifests or self.augment.drop_freq_prob
                                                         or self.augment.drop_chunk_prob):
                if self._augmenter is None:  # built where it runs (in each DataLoader worker)
                    from arwsv.data.augment import WaveAugmenter

                    self._augmenter = WaveAugmenter(self.augment, SAMPLE_RATE)
                crop, applied = self._augmenter(crop, np.random.default_rng([crop_seed, 1]))
        if factor != 1.0:
            applied = [f"{transform}{factor:g}"] + applied
        elif copy > 0:  # a split control's copy: the audio as it is, another class
            applied = [f"{transform}_copy"] + applied
        self.counts.update(notes)
        self.augment_counts.update(applied)
        real = int(self.rows.spk[row])
        spk = real if self.speaker_map is None else int(self.speaker_map.classes(real, copy))
        # notes travel with the item too: with DataLoader workers, self.counts is the worker's copy
        return {"id": self.rows.id(row), "sig": torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32)),
                "spk": spk, "real": real, "ok": ok, "notes": ",".join(notes), "augmented": ",".join(applied)}

    def __getitem__(self, key) -> dict:
        if not isinstance(key, tuple):
            return self.item(int(key))
        return self.item(*(int(k) for k in key))

    def loader(self, batch_sampler, num_workers: int = 0, pin_memory: bool = False, prefetch_factor: int = 2,
               persistent_workers: bool = False):
        """Batches over ``batch_sampler`` (any iterable of index lists), collated with SpeechBrain's
        PaddedBatch; with ``num_workers`` > 0 audio is read (and augmented) in that many worker processes and the
        counts of the workers are added to :attr:`counts` / :attr:`augment_counts` from the batches."""
        import torch
        from speechbrain.dataio.batch import PaddedBatch

        extra = {"prefetch_factor": prefetch_factor, "persistent_workers": persistent_workers} if num_workers else {}
        # a generator of its own: the loader's base seed (unused: every crop has its seed) must not draw from the
        # global torch stream, which a method of one's own may use, once per epoch or once per run by worker count
        loader = torch.utils.data.DataLoader(self, batch_sampler=batch_sampler, collate_fn=PaddedBatch,
                                             num_workers=num_workers, pin_memory=pin_memory,
                                             generator=torch.Generator().manual_seed(0), **extra)
        return loader if num_workers == 0 else _CountedLoader(loader, self)


class _CountedLoader:
    """A DataLoader whose batches also add the workers' counts to the dataset's (iterable again and again, so
    persistent workers serve every epoch)."""

    def __init__(self, loader, dataset):
        self.loader, self.dataset = loader, dataset

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.dataset.counts.update(note for notes in batch.notes for note in notes.split(",") if note)
            self.dataset.augment_counts.update(note for notes in batch.augmented for note in notes.split(",") if note)
            yield batch
