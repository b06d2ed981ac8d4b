"""Optional toy-corpus backend: espeak-ng voices (``apt-get install espeak-ng``).

A country is an espeak-ng language/accent reading English-like text (country 1 ``en-us``, then
``en-gb``, ``en-gb-scotland``, ``en-029``, ... and, beyond the English accents, other languages'
phonologies, i.e. foreign accents). A speaker is an espeak-ng voice variant of its gender
(18 of the 101 variants are female) with its own pitch (``-p``), speed (``-s``) and word gap,
plus a vocal-tract-length factor applied by resampling (it scales formants and pitch together),
all derived from the speaker's drawn :class:`arwsv.data.toy.synth.Voice` (so gender and the minority
spread act as in the built-in synthesiser).
Output (22.05 kHz) is resampled to 16 kHz and passed through the same session channel as the
built-in synthesiser (:func:`arwsv.data.toy.synth.apply_channel`).
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from fractions import Fraction

import numpy as np

from arwsv.errors import InputError
from arwsv.data.toy import synth

__all__ = ["check_available", "speak", "ACCENTS"]

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbcwmd", "hi", "es", "fr-fr", "de",
           "pt", "it"]
WORDS = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue "
         "side kind head house service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office door health person "
         "art war history party result change morning reason research girl guy moment air teacher force "
         "education foot boy age policy music market sense nation plan college interest death experience effect "
         "class control care field development role effort rate heart drug show leader light voice wife police "
         "mind price report decision son view relationship town road arm difference value building action model "
         "season society tax director position player record paper space ground form event official matter center "
         "couple site project activity star table need court oil situation cost industry figure street image phone "
         "data picture practice piece land product doctor wall patient worker news test movie north love support "
         "technology step baby computer type attention film tree source organization hair window evidence "
         "population site").split()


def check_available() -> str:
    """Path of espeak-ng, or InputError saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise InputError("--backend espeak needs the espeak-ng program: apt-get install espeak-ng "
                         "(or use the default --backend synth)")
    return path


@functools.lru_cache(maxsize=1)
def variants() -> dict:
    """espeak-ng voice variants by gender: {"m": [...], "f": [...]}."""
    listing = subprocess.run([check_available(), "--voices=variant"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
    out = {"m": [], "f": []}
    for line in listing:
        fields = line.split()
        if len(fields) >= 5 and fields[2].endswith(("/M", "/F")):
            out[fields[2][-1].lower()].append(fields[4].split("/")[-1])
    return {k: sorted(v) for k, v in out.items()}


def speak(seconds: float, spec, rng, channel: synth.Channel) -> np.ndarray:
    """One utterance of ``spec`` (a :class:`arwsv.data.toy.corpus.SpeakerSpec`) at 16 kHz, float32."""
    import soundfile as sf
    from scipy.signal import resample_poly

    # the espeak settings follow the speaker's drawn Voice, so gender means and minority spreads carry over
    voice = spec.voice
    pool = variants()[spec.gender] or variants()["m"]
    variant = pool[int(np.random.default_rng(np.float64(voice.formant_offsets).view(np.uint64)).integers(len(pool)))]
    pitch = int(np.clip(50 + 40 * np.log2(voice.f0 / 150.0), 0, 99))
    speed = int(np.clip(160 * voice.rate / 4.5, 80, 260))
    gap = int(np.clip(round(voice.f0_range - 2), 0, 5))
    vtl = voice.vtl / (1.16 if spec.gender == "f" else 1.0)
    accent = ACCENTS[spec.accent_index % len(ACCENTS)]
    text = " ".join(rng.choice(WORDS, size=int(seconds * 3.5) + 3))
    wav = subprocess.run([check_available(), "-v", f"{accent}+{variant}", "-p", str(pitch), "-s", str(speed),
                          "-g", str(gap), "--stdout", text], capture_output=True, check=True).stdout
    wave, rate = sf.read(io.BytesIO(wav), dtype="float64")
    ratio = Fraction(synth.SAMPLE_RATE, int(rate * vtl)).limit_denominator(200)  # resample = VTL scaling
    wave = resample_poly(wave, ratio.numerator, ratio.denominator)
    n = int(round(seconds * synth.SAMPLE_RATE))
    wave = np.pad(wave, (0, max(0, n - len(wave))))[:n]
    wave = synth.apply_channel(wave, channel, rng)
    return (wave / (np.abs(wave).max() + 1e-9) * rng.uniform(0.3, 0.9)).astype(np.float32)
