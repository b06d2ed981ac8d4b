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
