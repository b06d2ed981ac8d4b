"""`arwsv audit`: cohort discovery finds a planted hard cluster, is seeded, and refuses bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from arwsv.evaluation.cohorts import default_clusters
from arwsv.cli import main

N_CLUSTERS, PER_CLUSTER, UTTS, HARD = 4, 8, 4, 2


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """32 speakers in 4 well-separated embedding clusters; cluster 2's trials are much harder."""
    root = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(7)
    centres = np.eye(16)[:N_CLUSTERS] * 5.0
    ids, emb, meta, speakers = [], [], [], []
    for c in range(N_CLUSTERS):
        for s in range(PER_CLUSTER):
            spk = f"id{c}{s:03d}"
            speakers.append((spk, c))
            meta.append({"VoxCeleb1 ID": spk, "VGGFace1 ID": spk, "Gender": "f" if c == HARD else "m",
                         "Nationality": "Dorne" if c == HARD else "Arcadia", "Set": "test"})
            for u in range(UTTS):
                ids.append(f"{spk}/v/{u:05d}")
                emb.append(centres[c] + rng.normal(0, 0.3, 16))
    np.savez(root / "emb.npz", ids=np.array(ids), embeddings=np.array(emb, dtype=np.float32))
    rows = []
    for spk, c in speakers:
        spread = 2.0 if c == HARD else 0.3  # hard cluster: targets and non-targets overlap
        same = [s for s, cc in speakers if cc == c and s != spk]
        for u in range(UTTS - 1):
            rows.append((f"{spk}/v/{u:05d}.wav", f"{spk}/v/{u + 1:05d}.wav", 1, rng.normal(1.0, spread)))
            other = same[u % len(same)]
            rows.append((f"{spk}/v/{u:05d}.wav", f"{other}/v/00000.wav", 0, rng.normal(-1.0, spread)))
    pd.DataFrame(rows).to_csv(root / "scores.txt", sep=" ", header=False, index=False)
    pd.DataFrame(meta).to_csv(root / "meta.csv", sep="\t", index=False)
    return root


def _audit(root, *extra, out="a.json"):
    return main(["audit", str(root / "scores.txt"), "--embeddings", str(root / "emb.npz"), "--json",
                 str(root / out), "--bootstrap", "50", "--quiet", *extra])


def _eer(labels, scores):
    """EER from scikit-learn's ROC (an independent implementation), at the FNR/FPR crossing."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = np.argmin(np.abs(fnr - fpr))
    return (fnr[i] + fpr[i]) / 2


def test_audit_finds_the_planted_hard_cluster(planted):
    assert _audit(planted, "--clusters", "4", "--bottom-share", "0.2", "--meta", str(planted / "meta.csv"),
                  "--plot", str(planted / "map.png")) == 0
    result = json.loads((planted / "a.json").read_text())
    bottom = result["bottom"]
    members = {s for s, c in result["speaker_cohort"].items() if c in bottom["cohorts"]}
    assert members == {f"id{HARD}{s:03d}" for s in range(PER_CLUSTER)}
    assert bottom["share"] == pytest.approx(PER_CLUSTER / (N_CLUSTERS * PER_CLUSTER))
    assert bottom["gap_abs"] > 0.15 and bottom["ci"]["gap_abs"][0] > 0
    assert bottom["gap_abs"] == pytest.approx(bottom["eer"] - bottom["rest_eer"])
    worst = result["cohorts"][0]
    assert worst["bottom"] and worst["make_up"]["gender"] == {"female": 1.0}
    assert worst["make_up"]["nationality"] == {"Dorne": 1.0}
    # the cohort EER is the EER of its own trials, checked against scikit-learn
    scores = pd.read_csv(planted / "scores.txt", sep=" ", header=None)
    spk_of = lambda col: scores[col].str.split("/").str[0]  # noqa: E731
    inside = spk_of(0).isin(members) & spk_of(1).isin(members)
    assert worst["eer"] == pytest.approx(_eer(scores[2][inside], scores[3][inside]), abs=0.02)
    assert [c["rank"] for c in result["cohorts"]] == [1, 2, 3, 4]
    eers = [c["eer"] for c in result["cohorts"]]
    assert eers == sorted(eers, reverse=True)
    assert (planted / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_audit(planted):
    assert _audit(planted, "--seed", "3", out="s1.json") == 0
    assert _audit(planted, "--seed", "3", out="s2.json") == 0
    assert (planted / "s1.json").read_text() == (planted / "s2.json").read_text()
    result = json.loads((planted / "s1.json").read_text())
    assert result["clusters"] == default_clusters(N_CLUSTERS * PER_CLUSTER) == 4


def test_audit_prints_the_ranked_table(planted, capsys):
    assert main(["audit", str(planted / "scores.txt"), "--embeddings", str(planted / "emb.npz"), "--clusters", "4",
                 "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "32 speakers in 4 cohorts" in out and "bottom cohorts (*)" in out


def test_audit_bad_inputs(planted, tmp_path, capsys):
    def fails(*args, message):
        assert main(["audit", *map(str, args), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err

    scores, emb = planted / "scores.txt", planted / "emb.npz"
    fails(scores, "--embeddings", emb, "--clusters", "33", message="--clusters 33 is more than the 32 speakers")
    fails(scores, "--embeddings", emb, "--clusters", "1", message="--clusters must be >= 2")
    fails(scores, "--embeddings", emb, "--bottom-share", "1.5", message="--bottom-share must be in (0, 1)")
    # embeddings of speakers that have no trial
    data = np.load(emb)
    extra = tmp_path / "extra.npz"
    np.savez(extra, ids=np.append(data["ids"], "id9999/v/00000"),
             embeddings=np.vstack([data["embeddings"], data["embeddings"][:1]]))
    fails(scores, "--embeddings", extra, message="embeddings of 1 speakers that have no trial")
    assert main(["audit", str(scores), "--embeddings", str(extra), "--allow-extra", "--bootstrap", "0",
                 "--quiet"]) == 0
    # scored speakers without embeddings
    short = tmp_path / "short.npz"
    keep = ~np.char.startswith(data["ids"].astype(str), "id0000")
    np.savez(short, ids=data["ids"][keep], embeddings=data["embeddings"][keep])
    fails(scores, "--embeddings", short, message="1 of 32 scored speakers have no embedding (e.g. id0000)")
    not_npz = tmp_path / "emb.txt"
    not_npz.write_text("hello\n")
    fails(scores, "--embeddings", not_npz, message="not an arwsv embeddings file")
    json_out = tmp_path / "keep.json"
    json_out.write_text("{}")
    fails(scores, "--embeddings", emb, "--clusters", "99", "--json", json_out, message="--clusters 99")
    assert json_out.read_text() == "{}"  # nothing written before the error
    fails(scores, "--embeddings", emb, "--json", scores, message="--json would overwrite an input file")


def test_selection_bias_baseline_separates_planted_from_random(planted, tmp_path):
    """The worst of K cohorts always looks worse than the rest; random cohorts of the same sizes say how much."""
    assert _audit(planted, "--clusters", "4", "--bottom-share", "0.2", "--null-rounds", "40", out="n.json") == 0
    null = json.loads((planted / "n.json").read_text())["bottom"]["random_cohorts"]
    assert null["rounds"] == 40 and null["share_at_least_observed"] <= 0.05
    data = np.load(planted / "emb.npz")
    noise = tmp_path / "noise.npz"  # embeddings that carry no information about difficulty
    np.savez(noise, ids=data["ids"], embeddings=np.random.default_rng(0).normal(size=data["embeddings"].shape))
    assert main(["audit", str(planted / "scores.txt"), "--embeddings", str(noise), "--clusters", "4",
                 "--bottom-share", "0.2", "--null-rounds", "40", "--bootstrap", "0", "--json",
                 str(tmp_path / "r.json"), "--quiet"]) == 0
    random_result = json.loads((tmp_path / "r.json").read_text())["bottom"]
    assert random_result["random_cohorts"]["share_at_least_observed"] > 0.05


def test_audits_that_cannot_mean_anything_are_refused(planted, tmp_path, capsys):
    def fails(*args, message):
        assert main(["audit", str(planted / "scores.txt"), *map(str, args), "--bootstrap", "0", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err

    emb = planted / "emb.npz"
    fails("--embeddings", emb, "--clusters", "32", message="no cohort has both target and non-target trials")
    fails("--embeddings", emb, "--clusters", "2", "--bottom-share", "0.9", message="would hold every speaker")
    data = np.load(emb)
    flat = tmp_path / "flat.npz"
    np.savez(flat, ids=data["ids"], embeddings=np.ones_like(data["embeddings"]))
    fails("--embeddings", flat, "--clusters", "3", message="k-means found only 1 distinct cohorts")
    narrow = tmp_path / "narrow.npz"
    np.savez(narrow, ids=data["ids"], embeddings=data["embeddings"][:, :1])
    fails("--embeddings", narrow, message="D >= 2")
    meta = pd.read_csv(planted / "meta.csv", sep="\t")
    partial = tmp_path / "partial.csv"
    meta.head(4).to_csv(partial, sep="\t", index=False)
    fails("--embeddings", emb, "--meta", partial, message="28 of 32 speakers")
    assert main(["audit", str(planted / "scores.txt"), "--embeddings", str(emb), "--meta", str(partial),
                 "--allow-unknown", "--bootstrap", "0", "--quiet"]) == 0
