"""`arwsv compare`: paired differences of two systems on the same trials, and every refused input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arwsv.cli import main

DATA = Path(__file__).resolve().parents[2] / "arwsv" / "resources"
SCORES, META = DATA / "sample_scores.txt", DATA / "sample_meta.csv"


def _sample():
    return pd.read_csv(SCORES, sep=" ", header=None, names=["enrol", "test", "label", "score"])


def _write_wespeaker(frame: pd.DataFrame, path: Path, seed: int = 1) -> Path:
    """Another format, another order, utterances with .wav: what a second toolkit writes."""
    out = frame.sample(frac=1, random_state=seed).assign(
        enrol=lambda f: f["enrol"].str.replace(r"\.wav$", "", regex=True) + ".wav",
        word=lambda f: np.where(f["label"] == 1, "target", "nontarget"))
    out[["enrol", "test", "score", "word"]].to_csv(path, sep=" ", header=False, index=False)
    return path


def _compare(tmp_path, b_path, *extra):
    out = tmp_path / "cmp.json"
    code = main(["compare", str(SCORES), str(b_path), "--meta", str(META), "--bootstrap", "200", "--quiet",
                 "--json", str(out), *map(str, extra)])
    return code, (json.loads(out.read_text()) if code == 0 else None)


def _rows(result):
    return {(r["attribute"], r["group"], r["metric"]): r for r in result["comparison"]}


def test_a_monotone_transform_changes_nothing_in_any_replicate(tmp_path):
    # EER, minDCF and the gaps depend on the order of the scores only: every paired replicate
    # difference is exactly 0. Unpaired bootstraps would give intervals as wide as each system's own.
    frame = _sample().assign(score=lambda f: 3.0 * f["score"] + 1.0)
    code, result = _compare(tmp_path, _write_wespeaker(frame, tmp_path / "b.txt"))
    assert code == 0
    for row in result["comparison"]:
        if np.isfinite(row["a"]):
            assert row["diff"] == 0 and row["ci"] == [0.0, 0.0] and row["share_b_better"] == 0.0, row
    female = result["a"]["attributes"]["gender"]["groups"]["female"]["ci"]["eer"]
    assert female[1] - female[0] > 0.03  # while each system's own interval is wide


def test_a_planted_improvement_for_women_is_found_and_men_are_unchanged(tmp_path):
    frame, meta = _sample(), pd.read_csv(META, sep="\t")
    women = set(meta.loc[meta["Gender"] == "f", "VoxCeleb1 ID"])
    better = frame["enrol"].str.split("/").str[0].isin(women) & (frame["label"] == 1)
    frame.loc[better, "score"] += 0.4
    code, result = _compare(tmp_path, _write_wespeaker(frame, tmp_path / "b.txt"), "--csv", tmp_path / "c.csv",
                            "--plot", tmp_path / "c.png", "--names", "base", "arw")
    assert code == 0
    rows = _rows(result)
    female, male = rows[("gender", "female", "eer")], rows[("gender", "male", "eer")]
    assert female["ci"][1] < 0 and female["share_b_better"] > 0.97
    assert male["diff"] == 0 and male["ci"] == [0.0, 0.0]
    gap = rows[("gender", "(summary)", "eer_gap_abs")]
    assert gap["ci"][1] < 0 and gap["rel_diff"] < -0.2
    assert rows[("gender", "(summary)", "fdr")]["diff"] > 0  # FDR: higher is better
    # the differences are those of the two systems' own reports
    for (attribute, group, metric), row in rows.items():
        if group not in ("all", "(summary)"):
            a = result["a"]["attributes"][attribute]["groups"][group][metric]
            b = result["b"]["attributes"][attribute]["groups"][group][metric]
            assert row["a"] == a and row["b"] == b and row["diff"] == pytest.approx(b - a)
    tidy = pd.read_csv(tmp_path / "c.csv")
    assert list(tidy.columns) == ["attribute", "group", "metric", "a", "b", "diff", "rel_diff", "ci_low", "ci_high",
                                  "share_b_better", "n_replicates"]
    assert len(tidy) == len(result["comparison"])
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert result["names"] == {"a": "base", "b": "arw"}


def test_the_table_shows_the_json(tmp_path, capsys):
    b = _write_wespeaker(_sample().assign(score=lambda f: f["score"] + np.random.default_rng(0).normal(0, 0.3, len(f))),
                         tmp_path / "b.txt")
    out = tmp_path / "r.json"
    assert main(["compare", str(SCORES), str(b), "--meta", str(META), "--bootstrap", "50", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    row = _rows(json.loads(out.read_text()))[("all", "all", "eer")]
    line = next(line for line in printed.splitlines() if line.startswith("overall EER (%)"))
    assert f"{100 * row['a']:.2f}" in line and f"{100 * row['diff']:+.2f}" in line
    assert f"[{100 * row['ci'][0]:+.2f}, {100 * row['ci'][1]:+.2f}]" in line
    assert "50 paired speaker-bootstrap replicates" in printed


@pytest.mark.parametrize("change, message", [
    (lambda f: f.iloc[1:], "trials of"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "is listed 2 times"),
    (lambda f: pd.concat([f, f.iloc[:1], f.iloc[1:2], f.iloc[1:2]]), "is listed 2 times"),  # the first one named
    (lambda f: f.assign(label=np.where(np.arange(len(f)) == 3, 1 - f["label"], f["label"])), "another label"),
    (lambda f: f.assign(test=np.where(np.arange(len(f)) == int(np.argmin(f["label"])), "id99999/x/00001.wav",
                                      f["test"])), "not in"),
])
def test_other_trials_are_refused_in_one_line(tmp_path, capsys, change, message):
    out = tmp_path / "cmp.json"
    out.write_text("keep me")
    b = _write_wespeaker(change(_sample()), tmp_path / "b.txt")
    assert main(["compare", str(SCORES), str(b), "--meta", str(META), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "b.txt" in err[0], err
    assert out.read_text() == "keep me"


def test_bad_flags(tmp_path, capsys):
    assert main(["compare", str(SCORES), str(SCORES), "--meta", str(META)]) == 2
    assert "the same file" in capsys.readouterr().err
    b = _write_wespeaker(_sample(), tmp_path / "b.txt")
    assert main(["compare", str(SCORES), str(b), "--names", "x", "x"]) == 2
    assert "both systems are called 'x'" in capsys.readouterr().err
    assert main(["compare", str(SCORES), str(b), "--bootstrap", "-1"]) == 2
    assert main(["compare", str(SCORES), str(b), "--json", str(b)]) == 2
    assert "would overwrite an input file" in capsys.readouterr().err
    assert main(["compare", str(SCORES), str(b), "--json", str(tmp_path / "x"), "--csv", str(tmp_path / "x")]) == 2
    assert "--csv and --json name the same file" in capsys.readouterr().err
