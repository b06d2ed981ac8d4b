"""`arwsv eval` / `arwsv compare` with calibration: --llr, --calibrate, --calibrate-on, --threshold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from arwsv.cli import main
from conftest import speaker_of


def _report(tmp_path, scores, meta, *extra):
    out = tmp_path / "r.json"
    assert main(["eval", str(scores), "--meta", str(meta), "--json", str(out), "--quiet", *map(str, extra)]) == 0
    return json.loads(out.read_text())


def _plain_cllr(llr, tgt):
    """Cllr written out: ½ (mean over targets of log2(1 + e^-s) + mean over non-targets of log2(1 + e^s))."""
    return 0.5 * (np.mean(np.log2(1 + np.exp(-llr[tgt]))) + np.mean(np.log2(1 + np.exp(llr[~tgt]))))


def test_llr_scores_give_cllr_per_group(tmp_path, sample_files, simulated):
    scores, meta = sample_files
    trials, meta_frame = simulated
    report = _report(tmp_path, scores, meta, "--llr")
    s, tgt = trials["score"].to_numpy(), trials["label"].to_numpy() == 1
    assert report["overall"]["cllr"] == pytest.approx(_plain_cllr(s, tgt), rel=1e-9)
    gender = dict(zip(meta_frame["VoxCeleb1 ID"], meta_frame["Gender"]))
    e, t = speaker_of(trials["enrol"]), speaker_of(trials["test"])
    groups = report["attributes"]["gender"]["groups"]
    for code, name in (("f", "female"), ("m", "male")):
        within = np.array([gender[a] == code and gender[b] == code for a, b in zip(e, t)])
        assert groups[name]["cllr"] == pytest.approx(_plain_cllr(s[within], tgt[within]), rel=1e-9)
        assert 0 <= groups[name]["min_cllr"] <= groups[name]["cllr"]
        assert groups[name]["cal_loss"] == pytest.approx(groups[name]["cllr"] - groups[name]["min_cllr"])
    summary = report["attributes"]["gender"]["summary"]
    assert summary["cllr_gap_abs"] == pytest.approx(abs(groups["female"]["cllr"] - groups["male"]["cllr"]))
    assert report["settings"]["calibration"] == {"mode": "llr"}


def test_calibrate_and_thresholds(tmp_path, sample_files, simulated):
    from arwsv.evaluation.calibration import cross_validated_llr

    scores, meta = sample_files
    trials, _ = simulated
    report = _report(tmp_path, scores, meta, "--calibrate", "--threshold", "0.5", "--threshold", "-1")
    # the same speaker-disjoint calibration, computed here from the raw columns
    e, t = speaker_of(trials["enrol"]), speaker_of(trials["test"])
    speakers, codes = np.unique(np.concatenate([e, t]), return_inverse=True)
    tgt = trials["label"].to_numpy() == 1
    llr, _ = cross_validated_llr(trials["score"].to_numpy(), tgt, codes[: len(e)], codes[len(e):], len(speakers),
                                 folds=5, seed=0)
    # the fold draw depends on the speaker codes' order: both sort the ids
    assert report["overall"]["cllr"] == pytest.approx(_plain_cllr(llr, tgt), rel=1e-9)
    assert report["settings"]["calibration"] == {"mode": "cross-validated", "folds": 5, "seed": 0}
    s = trials["score"].to_numpy()
    assert report["overall"]["fnmr@0.5"] == pytest.approx(np.mean(s[tgt] < 0.5))
    assert report["overall"]["fmr@-1"] == pytest.approx(np.mean(s[~tgt] >= -1))
    assert report["settings"]["thresholds"] == [0.5, -1.0]
    for group in report["attributes"]["nationality"]["groups"].values():
        assert {"fnmr@0.5", "fmr@0.5", "cllr", "act_dcf@0.01", "act_dcf@0.05"} <= set(group)


def test_calibrate_on_a_development_list(tmp_path, sample_files, simulated):
    from arwsv.evaluation.calibration import AffineCalibration

    scores, meta = sample_files
    trials, _ = simulated
    dev = trials.copy()
    dev["enrol"] = dev["enrol"].str.replace("/", "/dev-", n=1)  # other utterances of the same speakers
    rng = np.random.default_rng(0)
    dev["score"] = dev["score"] * 0.5 + rng.normal(0, 0.1, len(dev))
    dev_path = tmp_path / "dev.txt"
    dev.to_csv(dev_path, sep=" ", header=False, index=False)
    report = _report(tmp_path, scores, meta, "--calibrate-on", dev_path, "--bootstrap", "20")
    model = AffineCalibration().fit(dev["score"].to_numpy(), dev["label"].to_numpy() == 1)
    settings = report["settings"]["calibration"]
    assert settings["slope"] == pytest.approx(model.slope_) and settings["offset"] == pytest.approx(model.offset_)
    s, tgt = trials["score"].to_numpy(), trials["label"].to_numpy() == 1
    assert report["overall"]["cllr"] == pytest.approx(_plain_cllr(model.transform(s), tgt), rel=1e-9)
    # a global affine map keeps the order: the minimum over thresholds is at most the Bayes decision's cost
    assert report["overall"]["act_dcf@0.01"] >= report["overall"]["min_dcf@0.01"] - 1e-12
    low, high = report["overall"]["ci"]["cllr"]
    assert low <= high and np.isfinite([low, high]).all()


def test_compare_with_calibration_cancels_an_affine_copy(tmp_path, sample_files, capsys):
    scores, meta = sample_files
    frame = pd.read_csv(scores, sep=" ", header=None)
    frame[3] = 3 * frame[3] - 2  # the same system on another scale: calibration maps both to the same LLRs
    other = tmp_path / "b.txt"
    frame.to_csv(other, sep=" ", header=False, index=False)
    out = tmp_path / "c.json"
    assert main(["compare", str(scores), str(other), "--meta", str(meta), "--calibrate", "--bootstrap", "30",
                 "--json", str(out), "--quiet"]) == 0
    rows = {(r["attribute"], r["group"], r["metric"]): r for r in json.loads(out.read_text())["comparison"]}
    for key in (("all", "all", "cllr"), ("gender", "female", "cal_loss"), ("nationality", "(summary)", "cllr_std")):
        assert rows[key]["diff"] == pytest.approx(0.0, abs=1e-6)
        assert rows[key]["ci"] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert ("all", "all", "act_dcf@0.01") in rows and ("gender", "(summary)", "cal_loss_gap_abs") in rows


def _one_class(path, tgt: bool):
    path.write_text("".join(f"{int(tgt)} id10001/dev/{i}.wav id1000{2 - tgt}/x/{i}.wav {i / 10}\n" for i in range(5)))


@pytest.mark.parametrize("extra,needle", [
    (["--threshold", "abc"], "--threshold: 'abc' is not a number"),
    (["--threshold", "nan"], "is not a finite number"),
    (["--llr", "--calibrate"], "exclude each other"),
    (["--calibrate", "--calibration-folds", "2"], "--calibration-folds must be in [3, 50]"),
    (["--calibrate", "--calibration-folds", "100000000000000000000"], "--calibration-folds must be in [3, 50]"),
    (["--calibrate-on", "REVERSED"], "reverses the score order"),
    (["--calibrate-on", "SWAPPED"], "of its trials are evaluated too"),
    (["--calibration-plot", "p.png"], "--calibration-plot needs --llr, --calibrate or --calibrate-on"),
    (["--calibrate-on", "SCORES"], "names the evaluated score file"),
    (["--calibrate-on", "ONECLASS"], "only target trials"),
    (["--calibrate-on", "COPY"], "of its trials are evaluated too"),
    (["--calibrate", "--calibration-folds", "3", "THREE"], "too few speakers"),
])
def test_bad_calibration_input(tmp_path, sample_files, capsys, extra, needle):
    scores, meta = sample_files
    one = tmp_path / "one.txt"
    _one_class(one, True)
    copy = tmp_path / "copy.txt"
    copy.write_text(scores.read_text())
    three = tmp_path / "three.txt"  # 3 speakers in 3 folds: a fold pair leaves one speaker, targets only
    three.write_text("".join(f"{int(a == b)} id1000{a}/v/{k}.wav id1000{b}/w/{k}.wav {k + 3 * (a == b)}\n"
                             for a in (1, 2, 3) for b in (1, 2, 3) for k in range(2)))
    frame = pd.read_csv(scores, sep=" ", header=None, names=["enrol", "test", "label", "score"])
    reversed_ = tmp_path / "reversed.txt"  # other utterances, scores that fall for the same speaker
    frame.assign(enrol=frame["enrol"].str.replace("/", "/dev-", n=1), score=-frame["score"]).to_csv(
        reversed_, sep=" ", header=False, index=False)
    swapped = tmp_path / "swapped.txt"  # the evaluated trials as test/enrol, without the extension
    frame.assign(enrol=frame["test"].str.replace(".wav", ""), test=frame["enrol"]).to_csv(
        swapped, sep=" ", header=False, index=False)
    swap = {"SCORES": str(scores), "ONECLASS": str(one), "COPY": str(copy), "p.png": str(tmp_path / "p.png"),
            "REVERSED": str(reversed_), "SWAPPED": str(swapped)}
    out = tmp_path / "r.json"
    evaluated = str(three) if "THREE" in extra else str(scores)
    extra = [a for a in extra if a != "THREE"]
    capsys.readouterr()
    assert main(["eval", evaluated, "--meta", str(meta), "--json", str(out), *[swap.get(a, a) for a in extra]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()  # nothing written


def test_llr_refuses_non_finite_scores(tmp_path, capsys):
    scores = tmp_path / "s.txt"
    scores.write_text("1 id1/v/1.wav id1/v/2.wav 2.5\n0 id1/v/1.wav id2/v/2.wav -inf\n")
    assert main(["eval", str(scores), "--llr"]) == 2
    err = capsys.readouterr().err.strip()
    assert "s.txt:2:" in err and "score is -inf" in err


def test_compare_refuses_one_development_file_for_two_systems(tmp_path, sample_files, capsys):
    scores, meta = sample_files
    other, dev = tmp_path / "b.txt", tmp_path / "dev.txt"
    other.write_text(scores.read_text())
    dev.write_text(scores.read_text().replace("/", "/dev-"))
    assert main(["compare", str(scores), str(other), "--meta", str(meta), "--calibrate-on", str(dev)]) == 2
    assert "--calibrate-on takes one system's development scores" in capsys.readouterr().err


def test_close_thresholds_keep_their_own_keys(tmp_path, sample_files):
    scores, meta = sample_files
    report = _report(tmp_path, scores, meta, "--threshold", "0.12345671", "--threshold", "0.12345672",
                     "--threshold", "1")
    keys = [k for k in report["overall"] if k.startswith("fnmr@")]
    assert keys == ["fnmr@0.12345671", "fnmr@0.12345672", "fnmr@1"]
