"""The windowed bootstrap curve gives exactly the full weighted DET curve's answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arwsv.evaluation.bootstrap import WindowedTrials
from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
from arwsv.evaluation.metrics import SortedTrials
from arwsv.io.scorefile import ScoreTable
from conftest import speaker_of


def _trials(rng, n_spk=30, n=2000, ties=False, shift=2.0):
    enrol = rng.integers(0, n_spk, n)
    target = rng.random(n) < 0.3
    test = np.where(target, enrol, (enrol + rng.integers(1, n_spk, n)) % n_spk)
    scores = rng.normal(size=n) + shift * target
    if ties:
        scores = np.round(scores, 1)
    return scores, target, enrol, test


def _reference(scores, target, enrol, test, multiplicity):
    """The weighted curve from the definition: c_a for a target trial, c_a * c_b for a non-target."""
    order = np.argsort(scores, kind="stable")
    weights = np.where(target, multiplicity[enrol], multiplicity[enrol] * multiplicity[test])
    return SortedTrials(scores[order], target[order], assume_sorted=True).det(weights[order])


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("window", [0.0, 0.02, 0.3, 1.0])
@pytest.mark.parametrize("ties", [False, True])
def test_windowed_curve_equals_the_full_weighted_curve(window, ties):
    rng = np.random.default_rng(int(window * 100) + ties)
    scores, target, enrol, test = _trials(rng, ties=ties)
    order = np.argsort(scores, kind="stable")
    prepared = WindowedTrials(SortedTrials(scores[order], target[order], assume_sorted=True), enrol[order],
                              test[order], 30, window_fmr=window)
    for _ in range(25):
        m = np.bincount(rng.integers(0, 30, 30), minlength=30).astype(float)
        ref, fast = _reference(scores, target, enrol, test, m), prepared.curve(m)
        assert fast.n_targets == ref.n_targets and fast.n_nontargets == ref.n_nontargets
        assert fast.eer() == ref.eer()
        for p in (0.01, 0.05, 0.5, 0.9):
            assert fast.min_dcf(p, 1.0, 2.0) == ref.min_dcf(p, 1.0, 2.0)  # value and threshold
        for threshold in np.quantile(scores, [0.01, 0.5, 0.97, 0.999]).tolist() + [float("nan"), 1e9]:
            assert all(_same(a, b) for a, b in zip(fast.rates_at(threshold), ref.rates_at(threshold)))


def test_a_tie_with_a_point_below_the_window_names_the_full_curves_threshold():
    # speaker 2 drawn 0 times: the non-targets just below the window weigh nothing, so a point below
    # it costs exactly as much as the window's best; the full curve names the lower one first
    prepared = WindowedTrials(SortedTrials([1.0, 2.0, 3.0, 6.0], [False, False, False, True], assume_sorted=True),
                              np.array([0, 2, 2, 0]), np.array([1, 0, 1, 0]), 3, window_fmr=0.1)
    curve = prepared.curve(np.array([1.0, 1.0, 0.0]))
    assert curve.min_dcf(0.01) == curve.full().min_dcf(0.01) == (0.0, 2.0)


def test_undefined_and_one_sided_sets():
    rng = np.random.default_rng(5)
    scores, _, enrol, _ = _trials(rng, n=50)
    target = np.ones(50, bool)
    prepared = WindowedTrials(SortedTrials(np.sort(scores), target, assume_sorted=True), enrol, enrol, 30,
                              window_fmr=0.1)
    curve = prepared.curve(np.ones(30))
    assert not curve.defined and all(math.isnan(v) for v in curve.eer() + curve.min_dcf(0.01))
    fnmr, fmr = curve.rates_at(0.0)
    assert 0 <= fnmr <= 1 and math.isnan(fmr)
    empty = WindowedTrials(SortedTrials(np.zeros(0), np.zeros(0, bool)), np.zeros(0, int), np.zeros(0, int), 3)
    assert math.isnan(empty.curve(np.ones(3)).eer()[0])


def test_evaluation_bootstrap_equals_the_definition(simulated):
    """Every replicate of FairnessEvaluation.bootstrap equals the weighted curves built from scratch."""
    trials, meta = simulated
    enrol, test = speaker_of(trials["enrol"]), speaker_of(trials["test"])
    codes, speakers = pd.factorize(np.concatenate([enrol, test]))
    e, t = codes[:len(trials)], codes[len(trials):]
    table = ScoreTable(scores=trials["score"].to_numpy(float), is_target=trials["label"].to_numpy(bool),
                       enrol_spk=e.astype(np.int32), test_spk=t.astype(np.int32),
                       speakers=np.asarray(speakers, dtype=object), path="mem", format="speechbrain")
    gender = meta.set_index("VoxCeleb1 ID").loc[list(speakers), "Gender"].to_numpy(dtype=object)
    evaluation = FairnessEvaluation(table, {"gender": gender}, EvalSettings(bootstrap=20, seed=4))
    replicates = evaluation.bootstrap(progress=False)
    rng = np.random.default_rng(4)  # the same draws as the bootstrap
    n_spk = len(speakers)
    for replicate in replicates:
        m = np.bincount(rng.integers(0, n_spk, size=n_spk), minlength=n_spk).astype(float)
        ref = _reference(table.scores, table.is_target, e, t, m)
        eer, threshold = ref.eer()
        assert (replicate["overall"]["eer"], replicate["overall"]["eer_threshold"]) == (eer, threshold)
        assert replicate["overall"]["min_dcf@0.05"] == ref.min_dcf(0.05)[0]
        for g in set(gender):
            inside = (gender[e] == g) & (gender[t] == g)
            sub = _reference(table.scores[inside], table.is_target[inside], e[inside], t[inside], m)
            got = replicate["gender"]["groups"][g]
            assert got["eer"] == sub.eer()[0] and got["min_dcf@0.01"] == sub.min_dcf(0.01)[0]
            assert (got["fnmr"], got["fmr"]) == sub.rates_at(threshold)
