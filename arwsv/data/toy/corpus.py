"""The toy corpus: speakers with a planted demographic imbalance, written in VoxCeleb layout.

Generative model (defaults in :class:`ToyConfig`)
-------------------------------------------------
- ``speakers`` speakers; a share ``female_share`` (0.3) is female, the **minority gender**.
- ``countries`` countries (accents). Country 1 is the majority; the others share
  ``minority_share`` (0.4) of the speakers equally. Each country has its own vowel formant
  targets (the reference vowels scaled by N(1, 0.08) per formant), syllable structure, rhythm
  and intonation slope (:class:`arwsv.data.toy.synth.Accent`).
- A speaker's voice (:class:`arwsv.data.toy.synth.Voice`) is drawn around gender means (women:
  higher F0, ~16 % shorter vocal tract, steeper tilt, breathier). The spread of every
  parameter is multiplied by ``minority_spread`` (0.6) for women and again for minority-country
  speakers: **minority speakers are acoustically closer together**, so harder to tell apart.
- ``test_speakers`` (40) speakers are held out for evaluation, drawn as evenly as possible over
  the gender x country cells (so every group can be measured); the rest train. Training is
  therefore even more imbalanced than the corpus.
- Each speaker records ``sessions`` (4) sessions, each with its own channel (microphone EQ, band
  limit, noise at 8-30 dB SNR, a reverberant room with probability ``reverb_prob``); each of
  the ``utts_per_speaker`` utterances has its own text and prosody.

Output (``out/``)
-----------------
``wav/<spk>/<session>/<NNNNN>.wav`` (16 kHz, 16-bit), ``train.csv``/``dev.csv``/``test.csv``
manifests (:mod:`arwsv.data.manifest`), ``meta.csv`` (VoxCeleb1 format, so ``arwsv eval --meta``
reads it), ``trials/O.txt``, ``trials/E.txt``, ``trials/H.txt`` (VoxCeleb format) and
``corpus.json`` (the config and every speaker's parameters), and two synthetic augmentation sets,
``noise/`` (training) and ``noise_heldout/`` (other talkers and noises, for degraded test lists), each with
``noise.csv``, ``music.csv``, ``speech.csv``, ``rirs.csv`` in SpeechBrain's format (:mod:`arwsv.data.noise`);
they draw from RNG streams of their own, so the corpus's bytes do not depend on them.

Trial lists, over the test speakers: **O** one target and one non-target per enrolment
utterance (``trials_per_utt`` of each); **E** three times as many; **H** like E but every
non-target pair shares gender and country (as VoxCeleb1-H). Same seed, same bytes, whatever ``jobs`` is.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from arwsv.io.files import write_if_changed
from arwsv.data.manifest import write_manifest, write_trials
from arwsv.data.toy import synth
from arwsv.data.toy.config import COUNTRY_NAMES, ToyConfig
from arwsv.data.toy.voices import draw_accent, draw_voice

__all__ = ["ToyConfig", "SpeakerSpec", "draw_speakers", "generate_corpus", "COUNTRY_NAMES"]

@dataclass
class SpeakerSpec:
    """One toy speaker: labels, voice, accent and the channel of each session."""

    spk_id: str
    gender: str            # "m" / "f"
    country: str
    split: str             # "train" / "test"
    voice: synth.Voice
    accent_index: int
    channels: list = field(default_factory=list)


def _accents(config: ToyConfig, rng) -> list:
    return [draw_accent(rng) for _ in range(config.countries)]


_voice = draw_voice  # a speaker's voice (arwsv.data.toy.voices)


def _channel(config: ToyConfig, rng) -> synth.Channel:
    return synth.Channel(
        eq_freq=float(np.exp(rng.uniform(np.log(300), np.log(4000)))), eq_gain_db=float(rng.uniform(-6, 6)),
        cutoff=float(rng.uniform(3400, 7800)), snr_db=float(rng.uniform(8, 30)),
        rt60=float(rng.uniform(0.15, 0.6)) if rng.random() < config.reverb_prob else 0.0)


def _test_split(genders: np.ndarray, countries: np.ndarray, n_test: int, rng) -> np.ndarray:
    """Pick test speakers round-robin over gender x country cells (shuffled within each cell)."""
    cells = {}
    for i in rng.permutation(len(genders)):
        cells.setdefault((genders[i], countries[i]), []).append(int(i))
    chosen, order = [], sorted(cells)
    while len(chosen) < n_test:
        for key in order:
            if cells[key] and len(chosen) < n_test:
                chosen.append(cells[key].pop())
    mask = np.zeros(len(genders), dtype=bool)
    mask[chosen] = True
    return mask


def draw_speakers(config: ToyConfig):
    """The speakers and accents of a corpus; depends only on ``config`` (and its seed)."""
    config.check()
    rng = np.random.default_rng([config.seed, 0])
    accents = _accents(config, rng)
    genders = np.where(rng.random(config.speakers) < config.female_share, "f", "m")
    shares = np.array([1.0 - config.minority_share] + [config.minority_share / max(1, config.countries - 1)]
                      * (config.countries - 1)) if config.countries > 1 else np.ones(1)
    country_index = rng.choice(config.countries, size=config.speakers, p=shares / shares.sum())
    names = np.array(COUNTRY_NAMES[: config.countries], dtype=object)
    test = _test_split(genders, country_index, config.test_speakers, rng)
    speakers = []
    for i in range(config.speakers):
        voice = _voice(genders[i], config.speaker_spread(genders[i], int(country_index[i])), rng)
        channels = [_channel(config, rng) for _ in range(config.sessions)]
        speakers.append(SpeakerSpec(spk_id=f"toy{i + 1:05d}", gender=str(genders[i]), country=str(names[country_index[i]]),
                                    split="test" if test[i] else "train", voice=voice,
                                    accent_index=int(country_index[i]), channels=channels))
    return speakers, accents


def _utterance_plan(config: ToyConfig, index: int) -> list:
    """(session, utterance number) of each utterance of speaker ``index``."""
    rng = np.random.default_rng([config.seed, 1, index])
    sessions = rng.integers(0, config.sessions, size=config.utts_per_speaker)
    sessions[: min(config.sessions, config.utts_per_speaker)] = np.arange(min(config.sessions, config.utts_per_speaker))
    return [(int(s), u + 1) for u, s in enumerate(sessions)]


def _wav_bytes(wave: np.ndarray) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, synth.SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _render_speaker(job):
    """Worker: synthesise and write every utterance of one speaker; returns manifest rows."""
    config, index, spec, accent, root = job
    rows = []
    for session, number in _utterance_plan(config, index):
        rel = f"{spec.spk_id}/sess{session + 1:02d}/{number:05d}"
        rng = np.random.default_rng([config.seed, 2, index, number])
        if config.backend == "espeak":
            from arwsv.data.toy.espeak import speak

            wave = speak(config.seconds, spec, rng, channel=spec.channels[session])
        else:
            wave = synth.synthesize(config.seconds, spec.voice, accent, spec.channels[session], rng)
        path = Path(root) / "wav" / f"{rel}.wav"
        changed = write_if_changed(path, _wav_bytes(wave))
        rows.append({"changed": changed, "ID": rel, "duration": len(wave) / synth.SAMPLE_RATE, "wav": str(path.resolve()), "start": 0,
                     "stop": len(wave), "spk_id": spec.spk_id, "gender": spec.gender, "nationality": spec.country})
    return rows


def render_speakers(jobs_list: list, *, jobs: int, progress: bool, desc: str) -> list:
    """Manifest rows of every ``(config, index, spec, accent, root)`` job, rendered by ``jobs`` processes, in order."""
    from tqdm.auto import tqdm

    rows = []
    bar = tqdm(total=len(jobs_list), desc=desc, unit="spk", disable=not progress or None)
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            for result in pool.imap(_render_speaker, jobs_list, chunksize=2):
                rows.extend(result)
                bar.update()
    else:
        for job in jobs_list:
            rows.extend(_render_speaker(job))
            bar.update()
    bar.close()
    return rows


def _trials(test: pd.DataFrame, per_utt: int, hard: bool, rng) -> pd.DataFrame:
    """``per_utt`` target and ``per_utt`` non-target trials per enrolment utterance."""
    by_spk = {s: g["ID"].to_numpy() for s, g in test.groupby("spk_id", sort=True)}
    group_of = {s: (g["gender"].iloc[0], g["nationality"].iloc[0]) for s, g in test.groupby("spk_id", sort=True)}
    speakers = sorted(by_spk)
    rows = set()
    for enrol, spk in zip(test["ID"], test["spk_id"]):
        same = [u for u in by_spk[spk] if u != enrol]
        others = [s for s in speakers if s != spk and (not hard or group_of[s] == group_of[spk])]
        if not others:  # a group of one speaker: no hard negative exists
            others = [s for s in speakers if s != spk and group_of[s][0] == group_of[spk][0]] or \
                     [s for s in speakers if s != spk]
        for u in rng.choice(same, size=min(per_utt, len(same)), replace=False):
            rows.add((1, enrol, u))
        for s in rng.choice(others, size=per_utt):
            rows.add((0, enrol, rng.choice(by_spk[s])))
    frame = pd.DataFrame(sorted(rows, key=lambda r: (r[1], r[2])), columns=["label", "enrol", "test"])
    frame["enrol"] = frame["enrol"] + ".wav"
    frame["test"] = frame["test"] + ".wav"
    return frame


def generate_corpus(config: ToyConfig, out, *, jobs: int = 1, progress: bool = True, noise: bool = True) -> dict:
    """Write the toy corpus under ``out``; returns a summary (counts, hours, group splits).

    With ``noise`` (default), also the synthetic augmentation sets ``out/noise/`` (training) and
    ``out/noise_heldout/`` (degraded test lists) of :func:`arwsv.data.noise.write_synthetic_noise`, drawn
    from RNG streams of their own: the corpus's files are the same bytes with or without them.
    """
    out = Path(out)
    if noise:  # before any work: a path SpeechBrain's noise manifests could not carry
        from arwsv.data.noise import check_manifest_path

        check_manifest_path(out)
    speakers, accents = draw_speakers(config)
    jobs_list = [(config, i, spec, accents[spec.accent_index], str(out)) for i, spec in enumerate(speakers)]
    frame = pd.DataFrame(render_speakers(jobs_list, jobs=jobs, progress=progress, desc="toy corpus"))
    changed_wavs = int(frame.pop("changed").sum())
    split = {s.spk_id: s.split for s in speakers}
    is_test = frame["spk_id"].map(split) == "test"
    train_all = frame[~is_test]
    rng = np.random.default_rng([config.seed, 3])
    dev_mask = rng.random(len(train_all)) < config.dev_share
    changed = [write_manifest(out / "train.csv", train_all[~dev_mask]),
               write_manifest(out / "dev.csv", train_all[dev_mask]),
               write_manifest(out / "test.csv", frame[is_test])]
    meta = pd.DataFrame({"VoxCeleb1 ID": [s.spk_id for s in speakers],
                         "VGGFace1 ID": [f"Toy_Speaker_{i + 1}" for i in range(len(speakers))],
                         "Gender": [s.gender for s in speakers], "Nationality": [s.country for s in speakers],
                         "Set": ["test" if s.split == "test" else "dev" for s in speakers]})
    buffer = io.StringIO()
    meta.to_csv(buffer, sep="\t", index=False, lineterminator="\n")
    changed.append(write_if_changed(out / "meta.csv", buffer.getvalue().encode("utf-8")))
    test = frame[is_test].sort_values("ID")
    k = config.trials_per_utt
    for name, per_utt, hard in (("O", k, False), ("E", 3 * k, False), ("H", 3 * k, True)):
        changed.append(write_trials(out / "trials" / f"{name}.txt",
                                    _trials(test, per_utt, hard, np.random.default_rng([config.seed, 4, ord(name)]))))
    description = {"config": config.describe(),
                   "speakers": [{"spk_id": s.spk_id, "gender": s.gender, "country": s.country, "split": s.split,
                                 "voice": asdict(s.voice)} for s in speakers],
                   "accents": [{"country": COUNTRY_NAMES[i], "vowel_ms": a.vowel_ms, "consonant_ms": a.consonant_ms,
                                "coda_prob": a.coda_prob, "f0_slope": a.f0_slope,
                                "vowels_f1_f3_hz": np.round(a.vowels, 1).tolist()} for i, a in enumerate(accents)]}
    changed.append(write_if_changed(out / "corpus.json", (json.dumps(description, indent=1) + "\n").encode("utf-8")))
    report = summarize(frame, speakers, changed_files=changed_wavs + sum(changed))
    if noise:
        report["noise"] = _write_noise_sets(config, out)
        report["changed_files"] += sum(s.pop("changed_files") for s in report["noise"].values())
    return report


# the synthetic noise sets written next to a corpus: folder -> write_synthetic_noise's stream and sizes
# (the held-out set, for degraded test lists, is half the size: it only has to differ from the training one)
NOISE_SETS = {"noise": {"stream": 0},
              "noise_heldout": {"stream": 1, "n_noise_files": 20, "n_music_files": 10, "n_speech_files": 20,
                                "n_rirs": 20}}


def _write_noise_sets(config: ToyConfig, out: Path) -> dict:
    """Write ``out/noise`` and ``out/noise_heldout``; per set its folder, manifests, files and seconds."""
    from arwsv.data.noise import write_synthetic_noise

    sets = {}
    for name, settings in NOISE_SETS.items():
        report = write_synthetic_noise(out / name, config.seed, **settings)
        sets[name] = {"folder": str(out / name), "stream": settings["stream"], "changed_files": report["changed_files"],
                      "manifests": {c: str(out / name / v["csv"]) for c, v in report["categories"].items()},
                      "files": {c: v["files"] for c, v in report["categories"].items()},
                      "seconds": {c: v["seconds"] for c, v in report["categories"].items()}}
    return sets


def summarize(frame: pd.DataFrame, speakers: list, changed_files: int = 0) -> dict:
    """Counts of speakers, utterances, hours, and gender / country splits per set."""
    split = {s.spk_id: s.split for s in speakers}
    out = {"speakers": len(speakers), "utterances": len(frame), "hours": float(frame["duration"].sum() / 3600),
           "changed_files": changed_files}
    for name in ("train", "test"):
        chosen = [s for s in speakers if split[s.spk_id] == name]
        out[name] = {"speakers": len(chosen),
                     "gender": dict(sorted(pd.Series([s.gender for s in chosen]).value_counts().items())),
                     "country": dict(sorted(pd.Series([s.country for s in chosen]).value_counts().items()))}
    return out
