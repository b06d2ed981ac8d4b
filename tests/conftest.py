"""Shared fixtures: small simulated score tables in VoxCeleb layout."""

from __future__ import annotations

import numpy as np
import pytest

from arwsv.experiments.simulate import simulate_trials

# a tiny ECAPA-TDNN and batch for training tests (override flags of recipes/toy/*.yaml)
TINY_MODEL = ["--crop_seconds=0.5", "--speakers_per_batch=4", "--n_speakers=8", "--emb_dim=32",
              "--embedding_model.channels=[32,32,32,32,96]", "--embedding_model.attention_channels=16",
              "--embedding_model.se_channels=16", "--log_every=2"]
TINY_ARW = ["--reweighting.warmup_steps=2", "--reweighting.region_priors=3", "--reweighting.memory_bank=64",
            "--reweighting.region_refit_every=3"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A tiny toy corpus (12 speakers x 4 utterances of 1 s, 4 test speakers), read-only for tests."""
    from arwsv.data.toy.config import ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    out = tmp_path_factory.mktemp("tiny")
    generate_corpus(ToyConfig(speakers=12, utts_per_speaker=4, seconds=1.0, test_speakers=4), out, progress=False)
    return out


@pytest.fixture(scope="session")
def simulated():
    """(trials DataFrame, vox1-format meta DataFrame) with planted gaps; 60 speakers, 6000 trials."""
    return simulate_trials(n_speakers=60, trials_per_speaker=100, seed=3)


@pytest.fixture
def sample_files(tmp_path, simulated):
    """The simulated trials as a SpeechBrain scores.txt and a vox1_meta.csv on disk."""
    trials, meta = simulated
    scores = tmp_path / "scores.txt"
    trials.to_csv(scores, sep=" ", header=False, index=False)
    meta_path = tmp_path / "vox1_meta.csv"
    meta.to_csv(meta_path, sep="\t", index=False)
    return scores, meta_path


def speaker_of(paths):
    """Speaker id of VoxCeleb-style utterance paths, computed independently of arwsv."""
    return np.array([p.split("/")[0] for p in paths], dtype=object)


def markdown_row(table: str, *first_cells: str) -> list:
    """Cells of the markdown table row whose leading cells are ``first_cells`` (stripped)."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[:len(first_cells)] == list(first_cells):
            return cells
    raise AssertionError(f"no table row starting {' | '.join(first_cells)}")


def shown(value, scale: float = 100, digits: int = 2) -> str:
    """How the results tables print a number (n/a for undefined)."""
    import math

    return "n/a" if value is None or not math.isfinite(value) else f"{scale * value:.{digits}f}"


def write_noise_folder(out, seed: int = 0, short: bool = False):
    """A tiny noise / RIR set in SpeechBrain's extended-CSV layout (noise.csv, music.csv, speech.csv, rirs.csv),
    written here independently of arwsv: white noise, a tone, summed tones for speech, and decaying RIRs.
    ``short``: every noise file shorter than a 0.5 s crop (wrap padding)."""
    from pathlib import Path

    import soundfile as sf

    out = Path(out)
    rng = np.random.default_rng(seed)
    rate = 16000
    seconds = 0.2 if short else 1.5
    t = np.arange(int(seconds * rate)) / rate
    kinds = {
        "noise": [rng.normal(0, 0.1, len(t)) for _ in range(3)],
        "music": [0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0)],
        "speech": [0.1 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t)) for f in (120, 180, 240, 300)],
        "rirs": [np.concatenate([[1.0], rng.normal(0, 1, 1600) * np.exp(-np.arange(1600) / 300.0) * 0.3])
                 for _ in range(2)],
    }
    for kind, waves in kinds.items():
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["ID,duration,wav,wav_format,wav_opts"]
        for i, wave in enumerate(waves):
            path = folder / f"{kind}{i}.wav"
            sf.write(path, wave.astype(np.float32), rate, subtype="PCM_16")
            lines.append(f"{kind}{i},{len(wave) / rate:.3f},{path},wav,")
        (out / f"{kind}.csv").write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="session")
def noise_folder(tmp_path_factory):
    return write_noise_folder(tmp_path_factory.mktemp("noise"))
