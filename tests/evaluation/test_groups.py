"""Group metrics against a second, direct computation on filtered trials; pooling; bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
from arwsv.evaluation.metrics import det_curve, eer, min_dcf
from arwsv.io.scorefile import ScoreTable
from conftest import speaker_of


def _table(trials: pd.DataFrame) -> ScoreTable:
    enrol, test = speaker_of(trials["enrol"]), speaker_of(trials["test"])
    codes, speakers = pd.factorize(np.concatenate([enrol, test]))
    n = len(trials)
    return ScoreTable(scores=trials["score"].to_numpy(float), is_target=trials["label"].to_numpy(bool),
                      enrol_spk=codes[:n].astype(np.int32), test_spk=codes[n:].astype(np.int32),
                      speakers=np.asarray(speakers, dtype=object), path="mem", format="speechbrain")


def _values(table, meta, column):
    lookup = dict(zip(meta["VoxCeleb1 ID"], meta[column]))
    return np.array([lookup[s] for s in table.speakers], dtype=object)


def _direct(trials, meta, column):
    """Per-trial (enrol group, test group) by a plain pandas join: the independent path."""
    lookup = dict(zip(meta["VoxCeleb1 ID"], meta[column]))
    e = pd.Series(speaker_of(trials["enrol"])).map(lookup).to_numpy()
    t = pd.Series(speaker_of(trials["test"])).map(lookup).to_numpy()
    return e, t


def test_group_metrics_equal_direct_filtering(simulated):
    trials, meta = simulated
    table = _table(trials)
    values = {"gender": _values(table, meta, "Gender"), "nationality": _values(table, meta, "Nationality")}
    report = FairnessEvaluation(table, values, EvalSettings(p_targets=(0.01, 0.05))).run(progress=False)
    overall_eer, threshold = det_curve(trials["score"], trials["label"]).eer()
    assert report["overall"]["eer"] == pytest.approx(overall_eer)
    s, y = trials["score"].to_numpy(), trials["label"].to_numpy(bool)
    for attribute, column in (("gender", "Gender"), ("nationality", "Nationality")):
        e, t = _direct(trials, meta, column)
        part = report["attributes"][attribute]
        assert set(part["groups"]) == set(meta[column])
        for name, got in part["groups"].items():
            mask = (e == name) & (t == name)
            assert got["n_trials"] == mask.sum()
            assert got["n_targets"] == (mask & y).sum()
            assert got["eer"] == pytest.approx(eer(s[mask], y[mask]), nan_ok=True)
            assert got["min_dcf@0.05"] == pytest.approx(min_dcf(s[mask], y[mask], 0.05), nan_ok=True)
            assert got["fnmr"] == pytest.approx((s[mask & y] < threshold).mean())
            assert got["fmr"] == pytest.approx((s[mask & ~y] >= threshold).mean())
        cross = e != t
        assert part["cross_group"]["n_trials"] == cross.sum()
        assert part["cross_group"]["fmr"] == pytest.approx((s[cross & ~y] >= threshold).mean())
        eers = np.array([g["eer"] for g in part["groups"].values()])
        assert part["summary"]["eer_std"] == pytest.approx(np.nanstd(eers))
        assert part["summary"]["eer_gap_abs"] == pytest.approx(np.nanmax(eers) - np.nanmin(eers))


def test_planted_gap_is_found(simulated):
    trials, meta = simulated  # women and Indian speakers are planted harder
    table = _table(trials)
    report = FairnessEvaluation(table, {"gender": _values(table, meta, "Gender")}).run(progress=False)
    groups = report["attributes"]["gender"]["groups"]
    assert groups["f"]["eer"] > groups["m"]["eer"]


def test_pooling_into_other_and_intersection(simulated):
    trials, meta = simulated
    table = _table(trials)
    values = {"gender": _values(table, meta, "Gender"), "nationality": _values(table, meta, "Nationality")}
    e, t = _direct(trials, meta, "Nationality")
    y = trials["label"].to_numpy(bool)
    targets = pd.Series(e[(e == t) & y]).value_counts()
    min_targets = int(targets.sort_values().iloc[1]) + 1  # at least two groups fall below
    small = sorted(targets.index[targets < min_targets])
    report = FairnessEvaluation(table, values, EvalSettings(min_targets=min_targets),
                                intersect=True).run(progress=False)
    part = report["attributes"]["nationality"]
    assert part["pooled_into_other"] == small
    assert list(part["groups"])[-1] == "other"
    pooled_e, pooled_t = np.isin(e, small), np.isin(t, small)
    mask = pooled_e & pooled_t
    s = trials["score"].to_numpy()
    assert part["groups"]["other"]["n_trials"] == mask.sum()
    assert part["groups"]["other"]["eer"] == pytest.approx(eer(s[mask], y[mask]))
    cross = report["attributes"]["gender/nationality"]["groups"]
    ge, gt = _direct(trials, meta, "Gender")
    ne = np.where(pooled_e, "other", e)
    nt = np.where(pooled_t, "other", t)
    mask = (ge == "f") & (gt == "f") & (ne == "other") & (nt == "other")
    assert cross["f/other"]["n_trials"] == mask.sum()
    assert cross["f/other"]["eer"] == pytest.approx(eer(s[mask], y[mask]), nan_ok=True)


def test_unlabelled_speakers_are_left_out(simulated):
    trials, meta = simulated
    table = _table(trials)
    values = _values(table, meta, "Gender")
    values[:5] = ""  # five speakers without a label
    report = FairnessEvaluation(table, {"gender": values}).run(progress=False)
    unknown = np.isin(table.enrol_spk, range(5)) | np.isin(table.test_spk, range(5))
    assert report["attributes"]["gender"]["n_unlabelled_trials"] == unknown.sum()
    counted = sum(g["n_trials"] for g in report["attributes"]["gender"]["groups"].values())
    assert counted + report["attributes"]["gender"]["cross_group"]["n_trials"] + unknown.sum() == len(trials)


def test_speaker_weights_equal_duplicated_speakers(simulated):
    """A bootstrap replicate must equal evaluating a table where drawn speakers are copied."""
    trials, meta = simulated
    table = _table(trials)
    values = {"gender": _values(table, meta, "Gender")}
    evaluation = FairnessEvaluation(table, values)
    rng = np.random.default_rng(7)
    c = np.bincount(rng.integers(0, len(table.speakers), len(table.speakers)), minlength=len(table.speakers))
    weighted = evaluation.measure(c.astype(float))
    # explicit copies: speaker a copied c_a times; target trials once per copy, non-target per pair of copies
    rows = []
    for i in range(len(table)):
        a, b = table.enrol_spk[i], table.test_spk[i]
        copies = c[a] if table.is_target[i] else c[a] * c[b]
        rows.extend([i] * int(copies))
    rows = np.array(rows)
    copied = ScoreTable(table.scores[rows], table.is_target[rows], table.enrol_spk[rows], table.test_spk[rows],
                        table.speakers, "copied", "speechbrain")
    direct = FairnessEvaluation(copied, values).measure()
    assert weighted["overall"]["eer"] == pytest.approx(direct["overall"]["eer"], abs=1e-12)
    for name in ("f", "m"):
        got, want = weighted["gender"]["groups"][name], direct["gender"]["groups"][name]
        for key in ("eer", "fnmr", "fmr", "min_dcf@0.01"):
            assert got[key] == pytest.approx(want[key], abs=1e-12, nan_ok=True)


def test_bootstrap_is_reproducible_and_brackets(simulated):
    trials, meta = simulated
    table = _table(trials)
    values = {"gender": _values(table, meta, "Gender")}
    run = lambda seed: FairnessEvaluation(table, values, EvalSettings(bootstrap=60, seed=seed)).run(progress=False)
    first, again, other = run(1), run(1), run(2)
    ci = first["attributes"]["gender"]["groups"]["f"]["ci"]["eer"]
    assert ci == again["attributes"]["gender"]["groups"]["f"]["ci"]["eer"]
    assert ci != other["attributes"]["gender"]["groups"]["f"]["ci"]["eer"]
    assert ci[0] <= first["attributes"]["gender"]["groups"]["f"]["eer"] <= ci[1]
    assert ci[0] < ci[1]
    gap_ci = first["attributes"]["gender"]["summary"]["ci"]["eer_gap_abs"]
    assert gap_ci[0] < gap_ci[1]


def test_group_without_targets_is_nan_not_crash():
    trials = pd.DataFrame({"enrol": ["id1/v/1", "id1/v/2", "id2/v/1", "id3/v/1"],
                           "test": ["id1/v/3", "id2/v/2", "id3/v/2", "id2/v/3"],
                           "label": [1, 0, 0, 0], "score": [0.9, 0.2, 0.4, 0.3]})
    table = _table(trials)
    values = {"gender": np.array(["m", "f", "f"], dtype=object)}  # id1 m, id2 f, id3 f
    report = FairnessEvaluation(table, values).run(progress=False)
    female = report["attributes"]["gender"]["groups"]["f"]
    assert female["n_targets"] == 0 and np.isnan(female["eer"]) and np.isnan(female["fnmr"])
    male = report["attributes"]["gender"]["groups"]["m"]
    assert male["n_nontargets"] == 0 and np.isnan(male["eer"])
