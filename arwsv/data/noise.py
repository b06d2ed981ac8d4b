"""Noise and room-impulse-response manifests for data augmentation (``arwsv prepare noise``), and a synthetic set.

What lives here
---------------
- :func:`prepare_noise` reads MUSAN and RIRS_NOISES as distributed and writes one manifest per category.
- :func:`write_synthetic_noise` writes a small synthetic set in the same layouts and the same manifests
  (``arwsv prepare toy`` writes two: ``noise/`` for training, ``noise_heldout/`` for degraded test lists).

Layouts read
------------
- MUSAN (``--musan DIR``): ``DIR/noise/``, ``DIR/music/``, ``DIR/speech/``, wav files in any subfolders
  (``noise/free-sound/noise-free-sound-0000.wav``). At least one of the three must exist.
- RIRS_NOISES (``--rirs DIR``): ``DIR/simulated_rirs/**.wav`` (room impulse responses) and
  ``DIR/real_rirs_isotropic_noises/*.wav``, where a file whose name contains ``noise`` is an isotropic noise
  recording (category ``noise``, as in Kaldi's ``noise_list``) and every other one an impulse response.
  ``pointsource_noises/`` is not read (WeSpeaker and SpeechBrain take their additive noise from MUSAN).
  At least one of the two folders must exist.

Only ``*.wav`` files are read (MUSAN's ANNOTATIONS/LICENSE and Kaldi's ``rir_list`` are ignored), and
hidden files and folders (``._x.wav`` from macOS archives) are skipped. Durations come from the file
headers (soundfile); audio bodies are not decoded, except for files that must be converted: a multi-channel
file or a file at another sample rate gets a mono copy (its first channel, as Kaldi's ``sox ... remix 1`` and
SpeechBrain's preparation take it) at ``sample_rate`` under ``OUT/converted/<musan|rirs>/``, because
SpeechBrain's ``AddNoise`` / ``AddReverb`` read a manifest's files as they are.

Outputs (``OUT/``)
------------------
``noise.csv``, ``music.csv``, ``speech.csv``, ``rirs.csv`` in SpeechBrain's extended CSV format::

    ID,duration,wav,wav_format,wav_opts
    noise/noise/free-sound/noise-free-sound-0000,16.250000,/data/musan/noise/free-sound/noise-free-sound-0000.wav,wav,

``ID`` is the category, ``/``, then the file's path below the ``--musan`` / ``--rirs`` folder without extension
(unique by construction); ``duration`` in seconds (6 decimals); ``wav`` an absolute path; ``wav_format`` the
extension without dot; ``wav_opts`` empty. Rows are sorted by ID, so the same input gives the same bytes.
``speechbrain.augment.time_domain.AddNoise(csv_file=...)`` and ``AddReverb(csv_file=...)`` read them as they are.
A category whose layout was given but holds no file is written header-only (listed in the report's ``empty``);
a category whose layout was not given is not written. ``noise_report.json``: files and seconds per category,
the source folders, the converted copies. Every file is written atomically and only when its bytes change.

Bad input (:class:`arwsv.errors.InputError`, raised before anything is written): neither folder given, a
folder that does not exist or is not a folder, a folder with neither layout, a ``.wav`` file soundfile cannot
read or that holds no samples, a path holding ``$`` (SpeechBrain's CSV reader takes ``$name`` for a variable),
an output folder that cannot be created.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from arwsv.errors import InputError
from arwsv.io.files import write_if_changed

__all__ = ["CATEGORIES", "MANIFEST_HEADER", "MUSAN_FOLDERS", "RIRS_FOLDERS", "check_manifest_path", "prepare_noise",
           "read_noise_manifest", "write_synthetic_noise"]

CATEGORIES = ("noise", "music", "speech", "rirs")
MANIFEST_HEADER = ("ID", "duration", "wav", "wav_format", "wav_opts")
MUSAN_FOLDERS = ("noise", "music", "speech")             # each is its own category
RIRS_FOLDERS = ("simulated_rirs", "real_rirs_isotropic_noises")
_OWNED = {"musan": ("noise", "music", "speech"), "rirs": ("noise", "rirs")}
_LAYOUT_NAMES = {"musan": "MUSAN", "rirs": "RIRS_NOISES"}
_FLAG = {"musan": "--musan", "rirs": "--rirs"}
REPORT_NAME = "noise_report.json"
CONVERTED_FOLDER = "converted"


@dataclass
class _Entry:
    """One audio file of a manifest (before conversion)."""

    category: str
    file_id: str           # the manifest ID
    source: str            # "musan" / "rirs"
    rel: str               # path below the source folder, without extension
    path: Path             # the file as found (absolute)
    frames: int
    samplerate: int
    channels: int
    converted: Path | None = None   # where its mono copy at the target rate goes


# ---- scanning and validation -------------------------------------------------------------------------

def _check_folder(folder, flag: str) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"no such folder (given with {flag})", folder)
    if not folder.is_dir():
        raise InputError(f"not a folder (given with {flag})", folder)
    return folder


def _layout_error(folder: Path, source: str) -> InputError:
    """Neither layout in ``folder``: say what was expected and what was found instead, if anything."""
    expected = MUSAN_FOLDERS if source == "musan" else RIRS_FOLDERS
    other = "rirs" if source == "musan" else "musan"
    other_folders = RIRS_FOLDERS if source == "musan" else MUSAN_FOLDERS
    hint = ""
    if any((folder / name).is_dir() for name in other_folders):
        hint = f"; it looks like {_LAYOUT_NAMES[other]}: pass it with {_FLAG[other]}"
    else:
        children = sorted(p for p in folder.iterdir() if p.is_dir()) if os.access(folder, os.R_OK | os.X_OK) else []
        for child in children:
            if any((child / name).is_dir() for name in expected):
                hint = f"; {child.name}/ inside has it: pass {child}"
                break
    return InputError(f"no {_LAYOUT_NAMES[source]} layout here: expected a subfolder "
                      f"{', '.join(n + '/' for n in expected[:-1])} or {expected[-1]}/{hint}", folder)


def _wav_files(top: Path, skip: Path | None) -> list:
    """``*.wav`` files below ``top`` (symlinked folders followed once, hidden names skipped), sorted."""
    def refuse(err: OSError):
        raise InputError(f"cannot list this folder ({err.strerror or err})", err.filename or top)

    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(top, onerror=refuse, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen or (skip is not None and Path(real) == skip):
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames
                     if not name.startswith(".") and name.lower().endswith(".wav"))
    return sorted(found)


def _audio_header(path: Path):
    """(frames, samplerate, channels) from the file header; InputError naming the file if unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, ValueError, TypeError) as err:
        reason = getattr(err, "error_string", None) or (err.strerror if isinstance(err, OSError) else None) \
            or str(err).split(": ")[-1] or type(err).__name__
        raise InputError(f"cannot read as audio ({reason.strip().rstrip('.')}); remove or replace the file", path) \
            from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise InputError("audio file holds no samples; remove or replace it", path)
    return int(info.frames), int(info.samplerate), int(info.channels)


def _scan(source: str, root: Path, out: Path, sample_rate: int) -> tuple:
    """Every manifest entry of one source folder, validated; (entries, sub-folders read)."""
    folders = MUSAN_FOLDERS if source == "musan" else RIRS_FOLDERS
    present = [name for name in folders if (root / name).is_dir()]
    if not present:
        raise _layout_error(root, source)
    root_abs = Path(os.path.abspath(root))
    skip = Path(os.path.realpath(out / CONVERTED_FOLDER))
    entries = []
    for name in present:
        for path in _wav_files(root_abs / name, skip):
            rel = path.relative_to(root_abs).with_suffix("").as_posix()
            if source == "musan":
                category = name
            elif name == "simulated_rirs":
                category = "rirs"
            else:
                category = "noise" if "noise" in path.name.lower() else "rirs"
            frames, rate, channels = _audio_header(path)
            entry = _Entry(category=category, file_id=f"{category}/{rel}", source=source, rel=rel, path=path,
                           frames=frames, samplerate=rate, channels=channels)
            if channels != 1 or rate != sample_rate:
                entry.converted = Path(os.path.abspath(out)) / CONVERTED_FOLDER / source / f"{rel}.wav"
            entries.append(entry)
    return entries, present


def _check_out(out: Path) -> None:
    """The output folder exists or can be created, and is writable."""
    if out.exists():
        if not out.is_dir():
            raise InputError("--out is not a folder", out)
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError("--out folder is not writable", out)
        return
    parent = Path(os.path.abspath(out)).parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot create the output folder: {parent} is not a writable folder", out)


def check_manifest_path(path) -> None:
    """InputError if SpeechBrain's extended-CSV reader would misread ``path`` in a manifest's ``wav`` column."""
    if "$" in os.path.abspath(path):
        raise InputError("path holds '$', which SpeechBrain's CSV reader takes for a $variable; rename or move it",
                         path)


def _check_unique(entries: list) -> None:
    seen = {}
    for entry in entries:
        if entry.file_id in seen:  # only ``x.wav`` next to ``x.WAV`` can do this
            raise InputError(f"two files give the manifest ID {entry.file_id!r} (also {seen[entry.file_id]})",
                             entry.path)
        seen[entry.file_id] = entry.path


# ---- writing -------------------------------------------------------------------------------------------

def _manifest_bytes(rows: list) -> bytes:
    """SpeechBrain extended CSV bytes of ``rows`` = [(ID, seconds, wav path)], sorted by ID."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_HEADER)
    for file_id, seconds, wav in sorted(rows):
        writer.writerow([file_id, f"{seconds:.6f}", wav, Path(wav).suffix[1:].lower(), ""])
    return buffer.getvalue().encode("utf-8")


def _convert(entry: _Entry, sample_rate: int) -> tuple:
    """(wav bytes, seconds) of the first channel of ``entry`` at ``sample_rate`` (32-bit float wav)."""
    import numpy as np
    import soundfile as sf

    wave, rate = sf.read(str(entry.path), dtype="float32", always_2d=True)
    wave = wave[:, 0]
    if rate != sample_rate:
        from scipy.signal import resample_poly

        common = math.gcd(rate, sample_rate)
        wave = resample_poly(wave, sample_rate // common, rate // common).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, subtype="FLOAT", format="WAV")
    return buffer.getvalue(), len(wave) / sample_rate


def _shown(path: Path, out: Path) -> str:
    """A folder as the report shows it: relative to ``out`` when inside it (so a moved set reads the same)."""
    path, out = Path(os.path.abspath(path)), Path(os.path.abspath(out))
    try:
        return path.relative_to(out).as_posix()
    except ValueError:
        return str(path)


def _write_outputs(rows: dict, written: tuple, out: Path, sources: dict, extra: dict, converted: dict) -> dict:
    """Write the manifests of ``written`` categories and the report; returns the report (+ changed_files)."""
    changed = 0
    categories = {}
    for category in CATEGORIES:
        if category not in written:
            continue
        changed += write_if_changed(out / f"{category}.csv", _manifest_bytes(rows[category]))
        seconds = sum(r[1] for r in rows[category])
        categories[category] = {"csv": f"{category}.csv", "files": len(rows[category]),
                                "seconds": round(seconds, 3), "from": sources.get(category, [])}
    report = {"format": "SpeechBrain extended CSV: " + ",".join(MANIFEST_HEADER),
              "sample_rate": extra.pop("sample_rate"), **extra, "categories": categories,
              "empty": [c for c in categories if not categories[c]["files"]], "converted": converted}
    changed += write_if_changed(out / REPORT_NAME, (json.dumps(report, indent=1) + "\n").encode("utf-8"))
    return {**report, "out": str(out), "changed_files": changed}


def prepare_noise(musan=None, rirs=None, *, out, sample_rate: int = 16000) -> dict:
    """Manifests of MUSAN and/or RIRS_NOISES for SpeechBrain's ``AddNoise`` / ``AddReverb``.

    Parameters
    ----------
    musan : str or Path, optional
        MUSAN folder holding ``noise/``, ``music/``, ``speech/`` (at least one).
    rirs : str or Path, optional
        RIRS_NOISES folder holding ``simulated_rirs/`` and/or ``real_rirs_isotropic_noises/``.
    out : str or Path
        Output folder (created): ``noise.csv``, ``music.csv``, ``speech.csv``, ``rirs.csv`` (those whose
        layout was given), ``noise_report.json``, and ``converted/`` for multi-channel or resampled copies.
    sample_rate : int
        The rate the manifests' audio has (files at another rate get a converted copy).

    Returns
    -------
    dict
        The report written to ``noise_report.json`` plus ``out`` and ``changed_files``: per category
        ``files`` (n_files,) and ``seconds``, the source folders, ``empty`` categories, ``converted`` copies.

    Raises
    ------
    InputError
        Any bad input (module docstring), before anything is written.
    """
    if musan is None and rirs is None:
        raise InputError("give --musan DIR, --rirs DIR or both")
    if sample_rate <= 0:
        raise InputError("--sample-rate must be > 0")
    out = Path(out)
    given = {name: _check_folder(folder, _FLAG[name]) for name, folder in (("musan", musan), ("rirs", rirs))
             if folder is not None}
    _check_out(out)
    entries, sources = [], {}
    for source, root in given.items():
        found, present = _scan(source, root, out, sample_rate)
        entries.extend(found)
        for name in present:
            if source == "musan":
                fed = [name]
            else:
                fed = ["rirs"] if name == "simulated_rirs" else ["noise", "rirs"]
            for category in fed:
                sources.setdefault(category, []).append(f"{source}/{name}")
    _check_unique(entries)
    for entry in entries:
        check_manifest_path(entry.converted or entry.path)
        if entry.converted is not None:  # decode it now, so a broken body stops us before anything is written
            _convert(entry, sample_rate)
    # validated: write
    out.mkdir(parents=True, exist_ok=True)
    changed = 0
    rows = {category: [] for category in CATEGORIES}
    converted = {"folder": CONVERTED_FOLDER, "files": 0, "multichannel": 0, "resampled": 0}
    for entry in entries:
        if entry.converted is None:
            rows[entry.category].append((entry.file_id, entry.frames / entry.samplerate, str(entry.path)))
            continue
        data, seconds = _convert(entry, sample_rate)
        changed += write_if_changed(entry.converted, data)
        rows[entry.category].append((entry.file_id, seconds, str(entry.converted)))
        converted["files"] += 1
        converted["multichannel"] += entry.channels != 1
        converted["resampled"] += entry.samplerate != sample_rate
    written = tuple(c for c in CATEGORIES if any(c in _OWNED[s] for s in given))
    shown = {source: _shown(root, out) for source, root in given.items()}
    report = _write_outputs(rows, written, out, sources, {"sample_rate": sample_rate, "sources": shown}, converted)
    report["changed_files"] += changed
    return report


def read_noise_manifest(path) -> list:
    """Rows of a manifest written here (or by hand in the same format): list of dicts with ``ID``,
    ``duration`` (float, seconds), ``wav``, ``wav_format``, ``wav_opts``; InputError if it is not one."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != MANIFEST_HEADER:
                raise InputError(f"not a noise manifest: the header must be {','.join(MANIFEST_HEADER)}", path, 1)
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    row["duration"] = float(row["duration"])
                except (TypeError, ValueError):
                    raise InputError(f"duration {row['duration']!r} is not a number", path, line) from None
                rows.append(row)
    except FileNotFoundError:
        raise InputError("no such manifest", path) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8 text", path) from None
    return rows


# ---- the synthetic set ---------------------------------------------------------------------------------

SYNTH_RATE = 16000
_STREAM = 10  # the toy corpus draws from default_rng([seed, 0..4, ...]); noise sets from [seed, 10, stream, ...]
_TALKERS, _SPEECH, _STATIONARY, _BABBLE, _MUSIC, _RIR = range(6)
_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}   # power falls as 1 / f^alpha


def _rng(seed: int, stream: int, kind: int, index: int = 0):
    import numpy as np

    return np.random.default_rng([seed, _STREAM, stream, kind, index])


def _peak_normalise(wave, rng):
    import numpy as np

    return (wave / (np.abs(wave).max() + 1e-9) * rng.uniform(0.3, 0.9)).astype(np.float32)


def _noise_seconds(index: int, rng) -> float:
    """5-10 s, but every fifth file 0.5-1.9 s (shorter than a training crop: downstream wraps it)."""
    return float(rng.uniform(0.5, 1.9) if index % 5 == 4 else rng.uniform(5.0, 10.0))


def _stationary_noise(colour: str, seconds: float, rng):
    """Coloured Gaussian noise (white / pink / brown), band-limited; shape (samples,).

    Shaped in the frequency domain: power 1 / f^alpha times the magnitude response of a 4th-order
    Butterworth band-pass with random edges (low 40-400 Hz, high 2.5-7.8 kHz), zero phase.
    """
    import numpy as np

    n = int(round(seconds * SYNTH_RATE))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SYNTH_RATE)
    low, high = float(rng.uniform(40.0, 400.0)), float(rng.uniform(2500.0, 7800.0))
    shape = np.zeros_like(freqs)
    f = freqs[1:]
    shape[1:] = f ** (-_COLOURS[colour] / 2) / np.sqrt((1 + (low / f) ** 8) * (1 + (f / high) ** 8))
    return _peak_normalise(np.fft.irfft(spectrum * shape, n), rng)


def _music(seconds: float, rng):
    """Tonal "music": a melody and a bass line of harmonic notes on a scale, in rhythm, with optional drums."""
    import numpy as np

    n = int(round(seconds * SYNTH_RATE))
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(70.0, 160.0)
    scale = np.array([0, 2, 4, 7, 9]) if rng.random() < 0.5 else np.array([0, 3, 5, 7, 10])  # pentatonic
    root = int(rng.integers(45, 60))  # MIDI
    n_harmonics = int(rng.integers(3, 10))
    tilt = rng.uniform(0.6, 1.6)
    decay = rng.uniform(1.5, 6.0)

    grid = np.arange(1025) / 1024
    phases = rng.uniform(0, 2 * np.pi, size=n_harmonics)  # the instrument's timbre

    def note(start: float, length: float, midi: float, level: float):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        begin = int(start * SYNTH_RATE)
        m = min(int(length * SYNTH_RATE), n - begin)
        if m <= 0:
            return
        k = np.arange(1, n_harmonics + 1)
        keep = k * f0 < SYNTH_RATE / 2 * 0.9  # no harmonic above Nyquist
        cycle = (np.sin(2 * np.pi * k[keep, None] * grid + phases[keep, None]) / k[keep, None] ** tilt).sum(0)
        t = np.arange(m) / SYNTH_RATE
        tone = np.interp((f0 * t) % 1.0, grid, cycle)  # one period as a wavetable
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-decay * t)
        out[begin:begin + m] += level * tone * envelope

    time = 0.0
    while time < seconds:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        if rng.random() > 0.1:  # a rest now and then
            pitch = root + 12 + scale[int(rng.integers(len(scale)))] + 12 * int(rng.integers(0, 2))
            note(time, length * 1.1, pitch, 1.0)
        time += length
    for bar in np.arange(0.0, seconds, 4 * beat):
        note(float(bar), 4 * beat, root + scale[int(rng.integers(len(scale)))] - 12 * int(rng.integers(0, 2)), 0.6)
    if rng.random() < 0.6:  # drums: noise bursts on the beats
        m = int(0.08 * SYNTH_RATE)
        burst_env = np.exp(-np.arange(m) / (0.015 * SYNTH_RATE))
        for hit in np.arange(0.0, seconds, beat):
            begin = int(hit * SYNTH_RATE)
            m_hit = min(m, n - begin)
            out[begin:begin + m_hit] += 0.5 * rng.standard_normal(m_hit) * burst_env[:m_hit]
    return _peak_normalise(out, rng)


def _rir(rng) -> tuple:
    """An impulse response: a direct-path impulse, a few early reflections, an exponentially decaying noise tail.

    Returns (wave of shape (samples,), RT60 in seconds). RT60 ~ U(0.2, 0.9) s; the response is
    min(RT60, 0.6) s long (a few hundred ms), the direct path at 0-3 ms is its largest sample.
    """
    import numpy as np

    rt60 = float(rng.uniform(0.2, 0.9))
    n = int(min(rt60, 0.6) * SYNTH_RATE)
    direct = int(rng.integers(0, 48))
    t = np.arange(n - direct) / SYNTH_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.908 * t / rt60)  # -60 dB at rt60
    tail[: int(0.002 * SYNTH_RATE)] = 0.0  # the tail starts after the direct sound
    for _ in range(int(rng.integers(3, 8))):  # early reflections within 3-40 ms
        at = int(rng.uniform(0.003, 0.04) * SYNTH_RATE)
        tail[at] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.6)
    tail *= rng.uniform(0.3, 0.7) / (np.abs(tail).max() + 1e-9)  # below the direct path
    fade = int(0.05 * n)
    tail[len(tail) - fade:] *= np.linspace(1.0, 0.0, fade)
    wave = np.zeros(n)
    wave[direct] = 1.0
    wave[direct:] += tail
    return (wave / np.abs(wave).max() * 0.9).astype(np.float32), rt60


def _wav_bytes(wave) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, SYNTH_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _talkers(seed: int, stream: int, n_talkers: int) -> list:
    """Voices, accents and clean channels of the talkers of a noise set; none is a corpus speaker
    (their own RNG stream, never the corpus's)."""
    from arwsv.data.toy import synth
    from arwsv.data.toy.voices import draw_accent, draw_voice

    rng = _rng(seed, stream, _TALKERS)
    accents = [draw_accent(rng) for _ in range(4)]
    talkers = []
    for _ in range(n_talkers):
        voice = draw_voice("f" if rng.random() < 0.5 else "m", 1.0, rng)
        channel = synth.Channel(eq_freq=float(rng.uniform(300, 4000)), eq_gain_db=float(rng.uniform(-3, 3)),
                                cutoff=float(rng.uniform(5000, 7800)), snr_db=float(rng.uniform(30, 45)), rt60=0.0)
        talkers.append((voice, accents[int(rng.integers(len(accents)))], channel))
    return talkers


def _babble(sources: list, seconds: float, rng):
    """4-7 talkers at once: speech sources (float arrays) cut at random points, wrapped to length, summed."""
    import numpy as np

    n = int(round(seconds * SYNTH_RATE))
    chosen = rng.choice(len(sources), size=min(len(sources), int(rng.integers(4, 8))), replace=False)
    mix = np.zeros(n)
    for index in chosen:
        wave = np.roll(sources[index], -int(rng.integers(len(sources[index]))))
        wave = np.resize(wave, n)
        mix += wave / (np.sqrt(np.mean(wave ** 2)) + 1e-9) * 10 ** (rng.uniform(-3, 3) / 20)
    return _peak_normalise(mix, rng)


@functools.lru_cache(maxsize=4)
def _render_synthetic(seed: int, stream: int, n_noise_files: int, n_music_files: int, n_speech_files: int,
                      n_rirs: int) -> tuple:
    """The files of a synthetic set, as ((category, rel, source, wav bytes, samples), ...), n_talkers, n_babble,
    RT60s. Pure function of its arguments; the last four sets are kept (a toy corpus writes a training and a
    held-out set, and tests regenerate corpora with one seed)."""
    import soundfile as sf

    from arwsv.data.toy import synth

    files = []  # (category, rel below musan/ or RIRS_NOISES/, layout folder, wav bytes, samples)
    n_talkers = max(1, n_speech_files // 2)
    talkers = _talkers(seed, stream, n_talkers) if n_speech_files else []
    speech = []
    for i in range(n_speech_files):
        rng = _rng(seed, stream, _SPEECH, i)
        voice, accent, channel = talkers[i % n_talkers]
        wave = synth.synthesize(float(rng.uniform(3.0, 6.0)), voice, accent, channel, rng)
        data = _wav_bytes(wave)
        rel = f"speech/synthetic/talker{i % n_talkers + 1:02d}-{i + 1:03d}"
        files.append(("speech", rel, "musan", data, len(wave)))
        speech.append(sf.read(io.BytesIO(data), dtype="float64")[0])  # babble mixes what was written
    colours = list(_COLOURS)
    n_babble = n_noise_files // 4
    for i in range(n_noise_files):
        if i % 4 == 3:  # babble spread over the set
            rng = _rng(seed, stream, _BABBLE, i)
            wave, name = _babble(speech, _noise_seconds(i, rng), rng), f"babble/babble-{i + 1:03d}"
        else:
            rng = _rng(seed, stream, _STATIONARY, i)
            colour = colours[i % len(colours)]
            wave, name = _stationary_noise(colour, _noise_seconds(i, rng), rng), f"stationary/{colour}-{i + 1:03d}"
        files.append(("noise", f"noise/{name}", "musan", _wav_bytes(wave), len(wave)))
    for i in range(n_music_files):
        rng = _rng(seed, stream, _MUSIC, i)
        wave = _music(float(rng.uniform(5.0, 10.0)), rng)
        files.append(("music", f"music/synthetic/music-{i + 1:03d}", "musan", _wav_bytes(wave), len(wave)))
    rt60s = []
    for i in range(n_rirs):
        wave, rt60 = _rir(_rng(seed, stream, _RIR, i))
        rt60s.append(rt60)
        room = "smallroom" if rt60 < 0.4 else "mediumroom" if rt60 < 0.65 else "largeroom"
        files.append(("rirs", f"simulated_rirs/{room}/rir-{i + 1:03d}", "rirs", _wav_bytes(wave), len(wave)))

    return tuple(files), n_talkers, n_babble, tuple(rt60s)


def write_synthetic_noise(out, seed: int = 0, *, stream: int = 0, n_noise_files: int = 30, n_music_files: int = 20,
                          n_speech_files: int = 40, n_rirs: int = 40) -> dict:
    """A small synthetic noise and RIR set in MUSAN's and RIRS_NOISES's layouts, with its manifests.

    Parameters
    ----------
    out : str or Path
        Output folder: audio under ``musan/`` and ``RIRS_NOISES/``, manifests and report as :func:`prepare_noise`.
    seed : int
        Seed (the toy corpus's); with ``stream`` it fixes every byte.
    stream : int
        Independent sets for one seed: 0 the training set, 1 the held-out set (other talkers, other noises).
    n_noise_files : int
        ``musan/noise/``: a quarter babble (4-7 synthetic talkers at once), the rest stationary white, pink or
        brown noise, band-limited; 5-10 s, every fifth file 0.5-1.9 s.
    n_music_files : int
        ``musan/music/``: harmonic notes on a pentatonic scale in rhythm, with a bass and maybe drums; 5-10 s.
    n_speech_files : int
        ``musan/speech/``: single talkers of 3-6 s from the toy synthesiser, two files per talker; the talkers
        are drawn from their own RNG stream, so none is a corpus speaker (babble mixes 3-7 of these downstream,
        as WeSpeaker does with MUSAN's speech).
    n_rirs : int
        ``RIRS_NOISES/simulated_rirs/{small,medium,large}room/``: RT60 ~ U(0.2, 0.9) s (:func:`_rir`).

    Returns
    -------
    dict
        The report (as :func:`prepare_noise`, plus ``synthetic``: seed, stream, counts, RT60 range).

    All wav files are 16 kHz, 16-bit, mono. Same ``seed`` and ``stream``, same bytes; rewritten only when changed.
    """
    out = Path(out)
    _check_out(out)
    check_manifest_path(out)
    for name, value in (("n_noise_files", n_noise_files), ("n_music_files", n_music_files),
                        ("n_speech_files", n_speech_files), ("n_rirs", n_rirs)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0")
    if n_noise_files >= 4 and n_speech_files < 4:
        raise ValueError("babble noise needs n_speech_files >= 4")
    root = Path(os.path.abspath(out))
    files, n_talkers, n_babble, rt60s = _render_synthetic(seed, stream, n_noise_files, n_music_files,
                                                          n_speech_files, n_rirs)

    changed = 0
    rows = {category: [] for category in CATEGORIES}
    for category, rel, source, data, samples in files:
        path = root / ("musan" if source == "musan" else "RIRS_NOISES") / f"{rel}.wav"
        changed += write_if_changed(path, data)
        rows[category].append((f"{category}/{rel}", samples / SYNTH_RATE, str(path)))
    sources = {"noise": ["musan/noise"], "music": ["musan/music"], "speech": ["musan/speech"],
               "rirs": ["rirs/simulated_rirs"]}
    extra = {"sample_rate": SYNTH_RATE, "sources": {"musan": "musan", "rirs": "RIRS_NOISES"},
             "synthetic": {"seed": seed, "stream": stream, "talkers": n_talkers, "babble_files": n_babble,
                           "short_noise_files": sum(c == "noise" and n < 2 * SYNTH_RATE for c, _, _, _, n in files),
                           "rt60_seconds": [round(min(rt60s), 3), round(max(rt60s), 3)] if rt60s else []}}
    report = _write_outputs(rows, CATEGORIES, out, sources, extra,
                            {"folder": CONVERTED_FOLDER, "files": 0, "multichannel": 0, "resampled": 0})
    report["changed_files"] += changed
    return report
