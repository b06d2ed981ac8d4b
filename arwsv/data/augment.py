"""Data augmentation for training crops, as SpeechBrain's and WeSpeaker's VoxCeleb recipes do it.

A recipe's ``augment:`` block (:class:`AugmentSettings`; absent: no augmentation, so every result made
without it stays reproducible) says *what*:

================  ==========================================================================================
additive noise    with probability ``prob`` a crop gets **one** of: reverberation, noise, music or babble
reverberation     (chosen uniformly among ``kinds``, as WeSpeaker's ``aug_prob`` 0.6 picks reverb or noise);
                  noise, music and babble at an SNR drawn from ``noise_snr`` (0-15 dB), ``music_snr`` (5-15)
                  and ``babble_snr`` (10-30), babble the sum of ``babble_speakers`` (3-7) speech files;
                  reverberation by a room impulse response scaled to unit energy, the output rescaled to the
                  crop's peak (WeSpeaker's practice). The files come from the manifests of ``noise_folder``
                  (``noise.csv``, ``music.csv``, ``speech.csv``, ``rirs.csv``: ``arwsv prepare noise``, or the
                  synthetic set ``arwsv prepare toy`` writes into ``<corpus>/noise``). A noise file shorter
                  than the crop is repeated end to end (wrapped), never a crash.
drop_freq         with probability ``drop_freq_prob``, SpeechBrain's ``DropFreq`` (notch filters)
drop_chunk        with probability ``drop_chunk_prob``, SpeechBrain's ``DropChunk`` (zeroed chunks)
speed             with probability ``speed_prob`` a P x K chunk of one speaker is read at one of
                  ``speed_factors`` (``torchaudio.functional.speed``: tempo and pitch, as sox's ``speed``). With
                  ``speed_labels: new`` (WeSpeaker) each factor's copies are **new speakers**, virtual ones: the
                  class of speaker s at factor f is ``s + n_speakers * (index of f + 1)``; ``keep`` keeps s.
virtual_speakers  a CSV (``spk_id,copy,transform,factor``; copies numbered 1..n per speaker) of **targeted**
                  virtual speakers: only the speakers listed get copies, each its own transform and factor
                  (``speed``: tempo and pitch; ``shift``: every frequency, tempo kept, torchaudio's
                  ``pitch_shift``; ``none``, factor 1: the audio unchanged, a control that only splits a speaker
                  into classes), each copy a new class after the real speakers. A listed speaker's P x K chunk
                  is read as itself or one of its n copies, uniformly (WeSpeaker's x0.9 / x1.0 / x1.1 draw, per
                  speaker). Not together with ``speed_factors``. ``arwsv virtual-speakers`` writes one, sized to
                  the region each copy should enrich.
================  ==========================================================================================

The Python says *how*: :class:`WaveAugmenter` is one call, ``(wave (T,), rng) -> wave (T,)``, run in the
DataLoader workers with a generator seeded per sample (the sample's crop seed), so that a run is the same with
any number of workers and ``--resume`` stays bit-identical. :class:`SpeakerMap` owns the map from a class
(virtual speaker) back to its real speaker: reweighting, speaker tables and reports ask it, so a copy is never
counted as a new person.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from arwsv.errors import InputError

__all__ = ["AugmentSettings", "SpeakerMap", "WaveAugmenter", "NOISE_MANIFESTS", "KINDS"]

# category -> manifest file in a noise folder (SpeechBrain's extended CSV: ID,duration,wav,wav_format,wav_opts)
NOISE_MANIFESTS = {"noise": "noise.csv", "music": "music.csv", "babble": "speech.csv", "reverb": "rirs.csv"}
KINDS = tuple(NOISE_MANIFESTS)
SPEED_LABELS = ("new", "keep")


def _pair(value, key, path):
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and
            all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise InputError(f"augment.{key} must be a pair [low, high], got {value!r}", path)
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise InputError(f"augment.{key}: low {low:g} > high {high:g}", path)
    return low, high


@dataclass(frozen=True)
class AugmentSettings:
    """The ``augment:`` block of a recipe (see the module docstring); defaults are WeSpeaker's VoxCeleb v2.

    noise_folder : folder holding the noise / RIR manifests, or None (then ``kinds`` must be empty)
    prob : share of crops that get one additive kind (reverb, noise, music, babble)
    kinds : the additive kinds drawn from, uniformly
    noise_snr, music_snr, babble_snr : SNR ranges in dB; babble_speakers : speech files summed, [low, high]
    drop_freq_prob, drop_chunk_prob : SpeechBrain's DropFreq / DropChunk, each with its own probability
    speed_factors : e.g. [0.9, 1.1]; speed_prob : share of P x K chunks read at one of them (uniformly);
    speed_labels : ``new`` (virtual speakers) or ``keep``
    virtual_speakers : CSV of targeted virtual speakers (``spk_id,copy,transform,factor``), or None
    """

    noise_folder: str | None = None
    prob: float = 0.6
    kinds: tuple = KINDS
    noise_snr: tuple = (0.0, 15.0)
    music_snr: tuple = (5.0, 15.0)
    babble_snr: tuple = (10.0, 30.0)
    babble_speakers: tuple = (3, 7)
    drop_freq_prob: float = 0.0
    drop_chunk_prob: float = 0.0
    speed_factors: tuple = ()
    speed_prob: float = 0.0
    speed_labels: str = "new"
    virtual_speakers: str | None = None
    manifests: dict = field(default_factory=dict, compare=False, repr=False)  # kind -> manifest path (checked)
    # spk_id -> ((transform, factor) of copy 1, of copy 2, ...), read from virtual_speakers (checked)
    virtual_table: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_block(cls, block, path=None) -> "AugmentSettings | None":
        """The settings of a recipe's ``augment:`` block (None when absent or null); every key checked, one line
        naming the recipe and the key when wrong."""
        if block is None:
            return None
        if not isinstance(block, dict):
            raise InputError("augment must be a block of keys (noise_folder, prob, ...)", path)
        known = {f.name for f in fields(cls)} - {"manifests", "virtual_table"}
        unknown = sorted(set(block) - known)
        if unknown:
            raise InputError(f"unknown augment key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})", path)
        values = dict(block)
        for key in ("prob", "drop_freq_prob", "drop_chunk_prob", "speed_prob"):
            value = values.get(key, getattr(cls, key))
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise InputError(f"augment.{key} must be a probability in [0, 1], got {value!r}", path)
            values[key] = float(value)
        for key in ("noise_snr", "music_snr", "babble_snr"):
            values[key] = _pair(values.get(key, getattr(cls, key)), key, path)
        low, high = _pair(values.get("babble_speakers", cls.babble_speakers), "babble_speakers", path)
        if low < 1 or low != int(low) or high != int(high):
            raise InputError(f"augment.babble_speakers must be integers >= 1, got {[low, high]!r}", path)
        values["babble_speakers"] = (int(low), int(high))
        kinds = values.get("kinds", cls.kinds)
        if not isinstance(kinds, (list, tuple)) or any(k not in KINDS for k in kinds):
            raise InputError(f"augment.kinds must be a list drawn from {', '.join(KINDS)}, got {kinds!r}", path)
        values["kinds"] = tuple(dict.fromkeys(kinds))
        factors = values.get("speed_factors", ())
        if not isinstance(factors, (list, tuple)) or any(
                not isinstance(f, (int, float)) or isinstance(f, bool) or not f > 0 for f in factors):
            raise InputError(f"augment.speed_factors must be numbers > 0, got {factors!r}", path)
        if any(abs(float(f) - 1.0) < 1e-9 for f in factors):
            raise InputError("augment.speed_factors: 1.0 is the unperturbed crop; list only the other factors", path)
        values["speed_factors"] = tuple(float(f) for f in factors)
        if values.get("speed_prob", 0.0) > 0 and not values["speed_factors"]:
            raise InputError("augment.speed_prob > 0 needs augment.speed_factors", path)
        if values.get("speed_labels", "new") not in SPEED_LABELS:
            raise InputError(f"augment.speed_labels must be new or keep, got {values.get('speed_labels')!r}", path)
        table = values.get("virtual_speakers")
        if table is not None:
            if values.get("speed_prob", 0.0) > 0:
                raise InputError("augment.virtual_speakers and augment.speed_factors/speed_prob: give one of the two "
                                 "(targeted copies, or every speaker's)", path)
            if not isinstance(table, str):
                raise InputError(f"augment.virtual_speakers must be a CSV path, got {table!r}", path)
            values["virtual_table"] = read_virtual_speakers(table)
        folder = values.get("noise_folder")
        if values["prob"] > 0 and values["kinds"] and folder is None:
            raise InputError("augment.noise_folder: needed for reverb / noise / music / babble (arwsv prepare noise, "
                             "or arwsv prepare toy's <corpus>/noise); or set augment.prob: 0", path)
        manifests = {}
        if values["prob"] > 0 and values["kinds"]:
            if not isinstance(folder, str) or not Path(folder).is_dir():
                raise InputError(f"augment.noise_folder: no such folder {folder!r}", path)
            for kind in values["kinds"]:
                manifests[kind] = _check_manifest(Path(folder) / NOISE_MANIFESTS[kind], kind)
        values["manifests"] = manifests
        return cls(**values)

    @property
    def virtual_copies(self) -> int:
        """Classes per real speaker: 1 + the speed factors with ``speed_labels: new`` (and ``speed_prob`` > 0)."""
        return 1 + len(self.speed_factors) if self.speed_prob > 0 and self.speed_labels == "new" else 1

    def virtual_counts(self, speakers) -> np.ndarray:
        """Targeted virtual copies of each of ``speakers`` (N,) (0 for a speaker not listed)."""
        return np.array([len(self.virtual_table.get(s, ())) for s in speakers], dtype=np.int64)

    def perturbation(self, speaker: str, copy: int) -> tuple:
        """``(transform, factor)`` of copy ``copy`` of ``speaker`` (``("speed", 1.0)`` for copy 0, the speaker)."""
        if copy == 0:
            return "speed", 1.0
        if self.virtual_table:
            return self.virtual_table[speaker][copy - 1]
        return "speed", self.speed_factors[copy - 1]

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("manifests")
        out.pop("virtual_table")
        return out


VIRTUAL_COLUMNS = ("spk_id", "copy", "transform", "factor")
TRANSFORMS = ("speed", "shift", "none")  # none: the audio unchanged (a control that only splits the speaker)


def read_virtual_speakers(path) -> dict:
    """``spk_id -> ((transform, factor), ...)`` (copy 1 first) from a targeted virtual-speaker CSV; InputError naming
    the file and line for a missing file, a missing column, an unknown transform, a factor <= 0 or = 1, or copies
    not numbered 1..n."""
    path = Path(path)
    if not path.is_file():
        raise InputError("augment.virtual_speakers: no such file (arwsv virtual-speakers writes one)", path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in VIRTUAL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"augment.virtual_speakers: no column(s) {', '.join(missing)} (needs "
                             f"{','.join(VIRTUAL_COLUMNS)})", path, 1)
        copies = {}
        for line, row in enumerate(reader, start=2):
            try:
                copy, factor = int(row["copy"]), float(row["factor"])
            except (TypeError, ValueError):
                raise InputError(f"copy must be an integer and factor a number, got {row['copy']!r}, "
                                 f"{row['factor']!r}", path, line) from None
            if row["transform"] not in TRANSFORMS:
                raise InputError(f"transform must be one of {', '.join(TRANSFORMS)}, got {row['transform']!r}",
                                 path, line)
            if row["transform"] == "none":
                if factor != 1.0:
                    raise InputError(f"transform none leaves the audio as it is: its factor must be 1, got {factor:g}",
                                     path, line)
            elif not factor > 0 or abs(factor - 1.0) < 1e-9 or not np.isfinite(factor):
                raise InputError(f"factor must be > 0 and not 1 (1 is the speaker itself), got {factor:g}", path, line)
            spk = copies.setdefault(row["spk_id"], {})
            if copy in spk:
                raise InputError(f"speaker {row['spk_id']!r} has copy {copy} twice", path, line)
            spk[copy] = (row["transform"], factor)
    if not copies:
        raise InputError("augment.virtual_speakers: the file lists no copy", path)
    table = {}
    for spk, by_copy in copies.items():
        if sorted(by_copy) != list(range(1, len(by_copy) + 1)):
            raise InputError(f"speaker {spk!r}: copies must be numbered 1..n, got {sorted(by_copy)}", path)
        table[spk] = tuple(by_copy[c] for c in range(1, len(by_copy) + 1))
    return table


def _check_manifest(path: Path, kind: str) -> Path:
    """A noise manifest that parses, has rows and whose every file exists; else one line naming it (and the row)."""
    import pandas as pd

    if not path.is_file():
        raise InputError(f"augment: the {kind} manifest is missing (augment.noise_folder; arwsv prepare noise "
                         "writes it)", path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"augment: the {kind} manifest cannot be read as a CSV "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})", path) from None
    if "wav" not in frame.columns:
        raise InputError(f"augment: the {kind} manifest has no wav column (SpeechBrain's ID,duration,wav,... "
                         "header)", path, 1)
    if frame.empty:
        raise InputError(f"augment: the {kind} manifest is empty (augment.noise_folder)", path)
    missing = [i for i, wav in enumerate(frame["wav"]) if not Path(wav).is_file()]
    if missing:  # e.g. a SpeechBrain CSV with $variables: found now, not as silently clean crops
        raise InputError(f"augment: no such audio file {frame['wav'].iloc[missing[0]]!r} ({len(missing)} of "
                         f"{len(frame)} missing)", path, missing[0] + 2)
    return path


class SpeakerMap:
    """Training classes and the real speakers they belong to.

    Speed perturbation with new labels turns every speaker into ``copies`` classes: class
    ``real + n_speakers * copy`` (copy 0 is the real, unperturbed speaker), so the first ``n_speakers`` rows of a
    loss head are the real speakers. Targeted virtual speakers (``virtual``: each speaker's number of copies, most
    0) get classes after the real speakers, speaker by speaker: copy c of speaker s is class
    ``n_speakers + (copies of the speakers before s) + c - 1``. Everything that speaks of people (reweighting
    factors, speaker tables, the speaker weights written after training, reports) goes through :meth:`real`.

    Parameters
    ----------
    speakers : list of str, the real speakers (index order of the dataset)
    copies : classes per speaker (1: no virtual speakers)
    virtual : (n_speakers,) ints, targeted virtual copies per speaker, or None (not with ``copies`` > 1)
    """

    def __init__(self, speakers, copies: int = 1, virtual=None):
        self.speakers, self.copies = list(speakers), int(copies)
        self.n_speakers = len(self.speakers)
        self.virtual = None
        if virtual is not None and int(np.sum(virtual)) > 0:
            if self.copies > 1:
                raise ValueError("targeted virtual speakers and uniform copies exclude each other")
            self.virtual = np.asarray(virtual, dtype=np.int64)
            self._offset = self.n_speakers + np.concatenate([[0], np.cumsum(self.virtual)[:-1]])
            self._real_of = np.concatenate([np.arange(self.n_speakers), np.repeat(np.arange(self.n_speakers),
                                                                                  self.virtual)])

    @property
    def n_classes(self) -> int:
        if self.virtual is not None:
            return len(self._real_of)
        return self.n_speakers * self.copies

    def classes(self, real, copy):
        """Class of real speaker ``real`` (int or array) read as copy ``copy`` (0: itself)."""
        if self.virtual is not None:
            return np.where(np.asarray(copy) > 0, self._offset[real] + np.asarray(copy) - 1, real)
        return real + self.n_speakers * (copy if self.copies > 1 else 0)

    def real(self, classes):
        """Real speaker index of each class (int, NumPy array or torch tensor)."""
        if self.virtual is not None:
            if hasattr(classes, "device"):  # a torch tensor
                import torch

                return torch.as_tensor(self._real_of, device=classes.device)[classes]
            return self._real_of[classes]
        return classes % self.n_speakers if self.copies > 1 else classes

    def label(self, cls: int) -> str:
        """A class's name: the speaker, with ``#copy`` for a virtual one."""
        if self.virtual is not None:
            spk = int(self._real_of[int(cls)])
            return self.speakers[spk] if int(cls) < self.n_speakers else \
                f"{self.speakers[spk]}#{int(cls) - int(self._offset[spk]) + 1}"
        spk, copy = divmod(int(cls), self.n_speakers)[::-1]
        return self.speakers[spk] if copy == 0 else f"{self.speakers[spk]}#{copy}"


def _read_noise_manifest(path: Path):
    """(wav paths (N,), frames or None) of a SpeechBrain extended-CSV noise manifest."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame["wav"].to_numpy(dtype=object)


class WaveAugmenter:
    """``augment(wave (T,) float32, rng) -> (wave (T,) float32, notes)`` per :class:`AugmentSettings`.

    Every random choice comes from ``rng`` (a ``numpy.random.Generator`` seeded per sample) and, for SpeechBrain's
    DropFreq / DropChunk (which draw from torch's global generator), from a torch generator forked and seeded from
    it: the same seed gives the same wave in any process. ``notes`` names what was applied (``reverb``, ``noise``,
    ...) for the run's counts.
    """

    def __init__(self, settings: AugmentSettings, sample_rate: int = 16000):
        self.settings, self.rate = settings, sample_rate
        self.sources = {kind: _read_noise_manifest(p) for kind, p in settings.manifests.items()}
        self._drop_freq = self._drop_chunk = None

    # --- reading noise -----------------------------------------------------------------------

    def _window(self, path: str, length: int, rng) -> np.ndarray:
        """``length`` samples of a noise file from a random start, wrapped when the file is shorter."""
        import soundfile as sf

        from arwsv.data.audio import read_audio

        try:
            info = sf.info(path)
            frames, span = info.frames, int(np.ceil(length * info.samplerate / self.rate))  # in the file's samples
        except Exception:
            frames = span = 0
        if frames > span:
            start = int(rng.integers(0, frames - span + 1))
            wave, _ = read_audio(path, start, start + span, self.rate)
        else:
            wave, _ = read_audio(path, 0, None, self.rate)
        if wave is None:  # an unreadable or silent noise file: the crop stays clean (counted by the caller)
            return None
        if len(wave) < length:
            wave = np.resize(wave, length)  # wrap: repeated end to end
        return wave[:length]

    @staticmethod
    def _mix(wave, noise, snr_db: float) -> np.ndarray:
        """``wave + noise`` at ``snr_db`` (torchaudio's add_noise, power over the whole crop)."""
        import torch
        from torchaudio.functional import add_noise

        noise = noise + 0.0
        out = add_noise(torch.from_numpy(wave)[None], torch.from_numpy(noise.astype(np.float32))[None],
                        torch.tensor([snr_db], dtype=torch.float32))
        return out[0].numpy()

    def _reverb(self, wave, rng):
        # scipy's FFT convolution, not torchaudio's: torchaudio transforms at the exact output length (41,599 for a
        # 2 s crop and a 0.6 s RIR), a size its CPU FFT is slow at; scipy pads to a fast length: 0.96 ms against
        # 17.9 ms per crop here (benchmarks/bench_augment_pipeline.py)
        from scipy.signal import fftconvolve

        from arwsv.data.audio import read_audio

        paths = self.sources["reverb"]
        rir, _ = read_audio(paths[int(rng.integers(len(paths)))], 0, None, self.rate, channel=0)
        if rir is None:
            return None
        rir = rir / np.sqrt(np.sum(rir.astype(np.float64) ** 2))  # unit energy: the room, not the gain
        out = fftconvolve(wave, rir.astype(np.float32))[: len(wave)].astype(np.float32)
        peak = np.abs(out).max()
        return out * (np.abs(wave).max() / peak) if peak > 0 else out  # WeSpeaker: back to the crop's peak

    def _additive(self, wave, kind, rng):
        s = self.settings
        paths = self.sources[kind]
        if kind == "babble":
            count = int(rng.integers(s.babble_speakers[0], s.babble_speakers[1] + 1))
            noise = None
            for path in rng.choice(paths, size=count, replace=count > len(paths)):
                one = self._window(path, len(wave), rng)
                if one is not None:
                    noise = one if noise is None else noise + one
        else:
            noise = self._window(paths[int(rng.integers(len(paths)))], len(wave), rng)
        if noise is None or not np.any(noise):
            return None
        low, high = {"noise": s.noise_snr, "music": s.music_snr, "babble": s.babble_snr}[kind]
        return self._mix(wave, noise, float(rng.uniform(low, high)))

    # --- the call ----------------------------------------------------------------------------

    def __call__(self, wave: np.ndarray, rng) -> tuple:
        s, notes = self.settings, []
        if s.kinds and s.prob > 0 and rng.random() < s.prob:
            kind = s.kinds[int(rng.integers(len(s.kinds)))]
            out = self._reverb(wave, rng) if kind == "reverb" else self._additive(wave, kind, rng)
            if out is None:
                notes.append(f"{kind}_unreadable")
            else:
                wave, notes = out.astype(np.float32), notes + [kind]
        drops = [(name, p) for name, p in (("drop_freq", s.drop_freq_prob), ("drop_chunk", s.drop_chunk_prob)) if p > 0]
        for name, p in drops:
            if rng.random() < p:
                wave = self._drop(name, wave, int(rng.integers(0, 2 ** 31 - 1)))
                notes.append(name)
        return wave, notes

    def _drop(self, name, wave, seed: int) -> np.ndarray:
        """SpeechBrain's DropFreq / DropChunk on one crop, their torch draws seeded by ``seed`` (the caller's RNG
        stream is left as it was)."""
        import torch
        from speechbrain.augment.time_domain import DropChunk, DropFreq

        if self._drop_freq is None:  # SpeechBrain's recipe settings (train_ecapa_tdnn.yaml)
            self._drop_freq = DropFreq(drop_freq_low=0.0, drop_freq_high=1.0, drop_freq_count_low=1,
                                       drop_freq_count_high=3, drop_freq_width=0.05)
            self._drop_chunk = DropChunk(drop_length_low=1000, drop_length_high=2000, drop_count_low=1,
                                         drop_count_high=5)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # the CPU stream only (manual_seed would reseed CUDA's too)
            batch = torch.from_numpy(np.ascontiguousarray(wave))[None]
            if name == "drop_freq":
                out = self._drop_freq(batch)
            else:
                out = self._drop_chunk(batch, torch.ones(1))
        return out[0].numpy().astype(np.float32)


def _speed_rates(factor: float, sample_rate: int) -> tuple:
    """``(orig, new)`` resampling rates that play a wave ``factor`` times faster, as small integers: torchaudio's
    ``speed`` truncates ``factor x rate`` (a product such as 15679.999... becomes 15679, coprime with 16000: a
    resampling kernel of 16,000 phases, gigabytes and minutes); rounded and reduced, 0.98 is 49 / 50, and 0.9 stays
    9 / 10 (torchaudio's own call, so every run made with it is unchanged)."""
    import math
    from fractions import Fraction

    source, target = int(round(factor * sample_rate)), int(sample_rate)
    gcd = math.gcd(source, target)
    source, target = source // gcd, target // gcd
    if max(source, target) > 1000:  # an odd factor: the nearest ratio of small integers
        ratio = Fraction(factor).limit_denominator(1000)
        source, target = ratio.numerator, ratio.denominator
    return source, target


def speed_read_length(crop: int, factor: float) -> int:
    """Samples to read so that ``factor``'s speed change gives about ``crop`` samples (trimmed or wrapped after)."""
    return int(np.ceil(crop * factor))


def _fit(out: np.ndarray, length: int) -> np.ndarray:
    return np.resize(out, length) if len(out) < length else out[:length]


def apply_speed(wave: np.ndarray, factor: float, sample_rate: int, length: int) -> np.ndarray:
    """``wave`` played ``factor`` times faster (tempo and pitch, as sox's ``speed`` and torchaudio's), cut or wrapped
    to ``length`` samples."""
    import torch
    from torchaudio.functional import resample

    source, target = _speed_rates(factor, sample_rate)
    out = resample(torch.from_numpy(np.ascontiguousarray(wave))[None], source, target)
    return _fit(out[0].numpy().astype(np.float32), length)


def apply_shift(wave: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Every frequency of ``wave`` (harmonics and formants) times ``factor``, its length and tempo kept: a phase
    vocoder stretches it ``factor`` times longer, then it is played ``factor`` times faster (torchaudio's
    ``pitch_shift``, with the resampling rates of :func:`_speed_rates`)."""
    import math

    import torch
    from torchaudio.functional import phase_vocoder, resample

    n_fft, hop = 512, 128
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None]
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * hop, spec.shape[-2])[..., None]
    stretched = phase_vocoder(spec, 1.0 / factor, advance)
    longer = torch.istft(stretched, n_fft, hop, window=window, length=int(round(len(wave) * factor)))
    source, target = _speed_rates(factor, sample_rate)
    out = resample(longer, source, target)
    return _fit(out[0].numpy().astype(np.float32), len(wave))


def degrade_manifest(manifest, noise_folder, out, *, seed: int = 0, kinds=KINDS, progress: bool = True) -> dict:
    """A degraded copy of every utterance of ``manifest``: each gets one of ``kinds`` (reverberation, noise, music,
    babble, drawn uniformly, at :class:`AugmentSettings`' SNR ranges) from ``noise_folder``, seeded by ``seed`` and
    the row's place, so the same inputs give the same bytes. Writes ``out/wav/<ID>.wav`` (16 kHz, 16-bit) and
    ``out/manifest.csv`` (the manifest's rows and IDs, ``wav`` pointing at the degraded file, ``start``/``stop``
    over the whole file): trials keep their IDs, and a model embeds the degraded side from this manifest.
    Used for the degraded test lists of robustness studies (a held-out noise set: ``<corpus>/noise_heldout``)."""
    import io

    import soundfile as sf
    from tqdm.auto import tqdm

    from arwsv.data.audio import SAMPLE_RATE, read_audio
    from arwsv.data.manifest import read_manifest, write_manifest
    from arwsv.io.files import write_if_changed

    settings = AugmentSettings.from_block({"noise_folder": str(noise_folder), "prob": 1.0, "kinds": list(kinds)})
    augmenter = WaveAugmenter(settings, SAMPLE_RATE)
    frame = read_manifest(manifest)
    out = Path(out)
    paths, stops, applied = [], [], {}
    for index, row in enumerate(tqdm(frame.itertuples(index=False), total=len(frame), desc="degrade",
                                     disable=not progress or None)):
        wave, notes = read_audio(row.wav, int(float(row.start or 0)), int(float(row.stop)) if str(row.stop) else None)
        if wave is None:
            raise InputError(f"cannot degrade utterance {row.ID}: its audio is {','.join(notes) or 'unusable'}", row.wav)
        from arwsv.data.audio import one_thread

        with one_thread():
            degraded, notes = augmenter(wave, np.random.default_rng([seed, index]))
        for note in notes:
            applied[note] = applied.get(note, 0) + 1
        peak = np.abs(degraded).max()
        if peak > 0.999:  # keep 16-bit PCM from clipping
            degraded = degraded * (0.999 / peak)
        path = out / "wav" / f"{row.ID}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        sf.write(buffer, degraded, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        write_if_changed(path, buffer.getvalue())
        paths.append(str(path.resolve()))
        stops.append(len(degraded))
    degraded_frame = frame.assign(wav=paths, start=0, stop=stops)
    write_manifest(out / "manifest.csv", degraded_frame)
    return {"utterances": len(frame), "applied": dict(sorted(applied.items())), "noise_folder": str(noise_folder),
            "seed": seed}
