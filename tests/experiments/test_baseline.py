"""`arwsv baseline`: the training-free reference scores every list and audits it like `arwsv eval`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from arwsv.cli import main


def test_baseline_scores_and_audits_each_list(corpus, tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["baseline", "--corpus", str(corpus), "--out", str(out), "--trials", "O,H", "--bootstrap", "0"]) == 0
    printed = capsys.readouterr().out
    assert "== trial list O" in printed and "== trial list H" in printed
    for name in ("O", "H"):
        trials = pd.read_csv(corpus / "trials" / f"{name}.txt", sep=" ", header=None, names=["label", "enrol", "test"])
        scores = pd.read_csv(out / f"scores_{name}.txt", sep=" ", header=None, names=["enrol", "test", "label", "score"])
        assert scores[["label", "enrol", "test"]].equals(trials[["label", "enrol", "test"]])
        assert np.all(np.abs(scores["score"]) <= 1 + 1e-6)  # cosine of unit vectors
        report = json.loads((out / f"eval_{name}.json").read_text())
        assert report["overall"]["n_trials"] == len(trials)
        assert set(report["attributes"]) == {"gender", "nationality"}


def test_baseline_refuses_a_folder_that_is_not_a_corpus(tmp_path, capsys):
    assert main(["baseline", "--corpus", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.csv" in err[0] and "not a prepared corpus folder" in err[0]
    assert not (tmp_path / "o").exists()
