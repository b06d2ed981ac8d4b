"""Embedding and scoring with a trained model: cosine and AS-norm against plain loops, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arwsv.cli import main
from arwsv.errors import InputError
from arwsv.inference.score import asnorm, score_trials
from conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]


def _args(recipe, corpus, out, *extra):
    return ["train", str(ROOT / "recipes" / "toy" / recipe), f"--data_folder={corpus}", f"--output_folder={out}",
            *TINY_MODEL, "--quiet", *extra]


def test_cosine_and_asnorm_match_a_plain_loop():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 5))
    cohort = rng.normal(size=(9, 5))
    ids = [f"s{i}/v/{i:05d}" for i in range(6)]
    trials = pd.DataFrame({"label": [1, 0, 1], "enrol": [ids[0] + ".wav", ids[1], ids[2] + ".wav"],
                           "test": [ids[3], ids[4] + ".wav", ids[5]]})
    plain = score_trials(trials, ids, emb)
    normed = score_trials(trials, ids, emb, cohort=cohort, top_k=4)
    for row, (e, t) in enumerate([(0, 3), (1, 4), (2, 5)]):
        a, b = emb[e], emb[t]
        cos = float(a @ b / np.sqrt((a @ a) * (b @ b)))
        assert plain["score"][row] == pytest.approx(cos)
        side = []
        for x in (a, b):
            top = sorted((float(x @ c / np.sqrt((x @ x) * (c @ c))) for c in cohort), reverse=True)[:4]
            side.append((cos - np.mean(top)) / (np.std(top) + 1e-9))
        assert normed["score"][row] == pytest.approx(0.5 * sum(side))
    assert list(plain.columns) == ["enrol", "test", "label", "score"]
    # chunking is an implementation detail: any chunk size gives the same scores
    s = plain["score"].to_numpy()
    np.testing.assert_allclose(asnorm(s, emb[[0, 1, 2]], emb[[3, 4, 5]], cohort, 4, chunk=1),
                               normed["score"].to_numpy())


def test_trial_without_an_embedding_is_named():
    trials = pd.DataFrame({"label": [1], "enrol": ["a/v/1.wav"], "test": ["b/v/2.wav"]})
    with pytest.raises(InputError, match="1 trial utterances have no embedding .e.g. b/v/2.wav"):
        score_trials(trials, ["a/v/1"], np.ones((1, 3)))


def test_embed_and_score_bad_inputs(corpus, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1")) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("ID,duration,wav,start,stop,spk_id\n")
    assert main(["embed", str(out), str(empty), "--out", str(tmp_path / "e.npz")]) == 2
    assert "no utterances to embed" in capsys.readouterr().err
    assert main(["score", str(out), str(corpus / "trials" / "O.txt"), "--manifest", str(corpus / "train.csv"),
                 "--out", str(tmp_path / "s.txt")]) == 2
    assert "none of the trial list's utterances are in" in capsys.readouterr().err
    assert main(["score", str(out), str(corpus / "trials" / "O.txt"), "--norm", "asnorm", "--cohort",
                 str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s.txt")]) == 2
    assert "no such manifest" in capsys.readouterr().err
