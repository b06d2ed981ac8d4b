"""Cllr, minCllr (PAV), actual DCF and affine calibration against independent expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arwsv.evaluation.calibration import (AffineCalibration, act_dcf, bayes_threshold, cllr, cross_validated_llr,
                                          min_cllr, pav_llr, speaker_folds)
from arwsv.evaluation.metrics import min_dcf


def _calibrated_gaussian(mu, n, seed=0):
    """LLRs of a calibrated Gaussian system: N(mu, 2 mu) for targets, N(-mu, 2 mu) for non-targets
    (for these the density ratio at s is exactly e^s)."""
    rng = np.random.default_rng(seed)
    sd = math.sqrt(2 * mu)
    return np.concatenate([rng.normal(mu, sd, n), rng.normal(-mu, sd, n)]), np.repeat([True, False], n)


def _expected_cllr(mu):
    """Cllr of the calibrated Gaussian system by quadrature (both classes give the same term)."""
    sd = math.sqrt(2 * mu)
    x = np.linspace(mu - 12 * sd, mu + 12 * sd, 200_001)
    density = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    return float(np.sum(np.log2(1 + np.exp(-x)) * density) * (x[1] - x[0]))


@pytest.mark.parametrize("mu", [0.5, 2.0, 6.0])
def test_cllr_of_calibrated_gaussian_llrs(mu):
    llr, tgt = _calibrated_gaussian(mu, 200_000)
    assert cllr(llr, tgt) == pytest.approx(_expected_cllr(mu), abs=0.004)
    # calibrated already: the optimal recalibration gains (almost) nothing, and never more than Cllr
    assert 0 <= cllr(llr, tgt) - min_cllr(llr, tgt) < 0.004


def test_constant_scores_know_nothing():
    tgt = np.array([True] * 30 + [False] * 70)
    assert cllr(np.zeros(100), tgt) == pytest.approx(1.0, abs=1e-15)
    assert min_cllr(np.full(100, 3.7), tgt) == pytest.approx(1.0, abs=1e-12)  # one block: posterior = prior
    assert math.isnan(cllr(np.zeros(5), np.ones(5, bool))) and math.isnan(min_cllr(np.zeros(5), np.zeros(5, bool)))


def test_min_cllr_bounds_and_invariance():
    rng = np.random.default_rng(1)
    llr, tgt = _calibrated_gaussian(3.0, 5_000, seed=1)
    for miscalibrated in (3 * llr, llr / 4, llr + 2.5, llr - 4):
        assert min_cllr(miscalibrated, tgt) <= cllr(miscalibrated, tgt)
        assert cllr(miscalibrated, tgt) > cllr(llr, tgt)
    base = min_cllr(llr, tgt)
    for monotone in (np.exp(llr / 3), llr ** 3, 7 * llr - 100, np.arctan(llr)):
        assert min_cllr(monotone, tgt) == pytest.approx(base, abs=1e-12)
    noise = rng.normal(size=len(llr))
    assert min_cllr(llr + 3 * noise, tgt) > base  # a worse discriminator


def _pav_loop(y, w):
    """Pool-adjacent-violators written plainly: blocks of [sum w y, sum w, count] merged while the
    previous block's mean is not below the new one's."""
    blocks = []
    for yi, wi in zip(y, w):
        blocks.append([yi * wi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            a = blocks.pop()
            blocks[-1] = [blocks[-1][0] + a[0], blocks[-1][1] + a[1], blocks[-1][2] + a[2]]
    return np.concatenate([np.full(c, s / w) for s, w, c in blocks])


def test_pav_against_a_plain_loop_with_ties_and_weights():
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=400), 1)  # many ties
    tgt = rng.random(400) < 1 / (1 + np.exp(-2 * scores))
    weights = rng.integers(1, 4, size=400).astype(float)
    order = np.lexsort((~tgt, scores))
    # the loop sees each run of tied scores as one point of weight sum and mean label
    s_sorted = scores[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    w_run = np.add.reduceat(weights[order], starts)
    y_run = np.add.reduceat((weights * tgt)[order], starts) / w_run
    posterior = _pav_loop(y_run, w_run)
    prior = (weights * tgt).sum() / weights.sum()
    with np.errstate(divide="ignore"):
        expected_run = np.log(posterior / (1 - posterior)) - math.log(prior / (1 - prior))
    expected = np.empty(400)
    expected[order] = np.repeat(expected_run, np.diff(np.r_[starts, 400]))
    got = pav_llr(scores, tgt, weights)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(got), finite) and np.array_equal(np.sign(got[~finite]), np.sign(expected[~finite]))
    assert got[finite] == pytest.approx(expected[finite], abs=1e-9)
    assert min_cllr(scores, tgt, weights) == pytest.approx(cllr(np.clip(got, -700, 700), tgt, weights), abs=1e-12)


def test_integer_weights_count_as_copies():
    rng = np.random.default_rng(3)
    llr, tgt = _calibrated_gaussian(2.0, 300, seed=3)
    weights = rng.integers(0, 4, size=len(llr))
    copies = np.repeat(np.arange(len(llr)), weights)
    assert cllr(llr, tgt, weights) == pytest.approx(cllr(llr[copies], tgt[copies]), rel=1e-12)
    assert min_cllr(llr, tgt, weights) == pytest.approx(min_cllr(llr[copies], tgt[copies]), rel=1e-12)
    assert act_dcf(llr, tgt, 0.05, weights=weights) == pytest.approx(act_dcf(llr[copies], tgt[copies], 0.05), rel=1e-12)


def test_act_dcf_counts_bayes_decisions():
    # P_tar 0.2, unit costs: θ = log(0.8 / 0.2) = log 4; accepted are llr >= log 4
    llr = np.array([3.0, 1.0, 0.0, 2.0, -1.0, 1.2])
    tgt = np.array([True, True, True, False, False, False])
    assert bayes_threshold(0.2) == pytest.approx(math.log(4))
    # misses: 1.0 and 0.0 (2 of 3); false alarms: 2.0 (1 of 3); cost 0.2 * 2/3 + 0.8 * 1/3, normalised by 0.2
    assert act_dcf(llr, tgt, 0.2) == pytest.approx((0.2 * 2 / 3 + 0.8 / 3) / 0.2)
    # actual never beats minimum on LLRs (minDCF picks the best of the same thresholds)
    sys_llr, sys_tgt = _calibrated_gaussian(2.0, 2_000, seed=4)
    for scaled in (sys_llr, 3 * sys_llr + 1):
        for p in (0.01, 0.05, 0.5):
            assert act_dcf(scaled, sys_tgt, p) >= min_dcf(scaled, sys_tgt, p) - 1e-12
    # a calibrated system's actual cost is close to its minimum; a shifted one's is not
    assert act_dcf(sys_llr, sys_tgt, 0.05) - min_dcf(sys_llr, sys_tgt, 0.05) < 0.05
    assert act_dcf(sys_llr + 4, sys_tgt, 0.05) - min_dcf(sys_llr, sys_tgt, 0.05) > 0.3


def test_affine_calibration_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    tgt = rng.random(6_000) < 0.1
    raw = np.where(tgt, rng.normal(0.6, 0.15, 6_000), rng.normal(0.1, 0.2, 6_000))  # cosine-like scores
    prior = 0.3
    ours = AffineCalibration(prior=prior).fit(raw, tgt)
    # the same objective in scikit-learn: class weights π / N_t and (1 - π) / N_n, no penalty; its
    # intercept is then the LLR offset plus logit(π)
    weight = np.where(tgt, prior / tgt.sum(), (1 - prior) / (~tgt).sum()) * len(tgt)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(raw[:, None], tgt, sample_weight=weight)
    assert ours.slope_ == pytest.approx(ref.coef_[0, 0], rel=1e-4)
    assert ours.offset_ == pytest.approx(ref.intercept_[0] - math.log(prior / (1 - prior)), abs=1e-4)
    # calibrating a calibrated system changes (almost) nothing
    llr, t = _calibrated_gaussian(2.0, 20_000, seed=6)
    again = AffineCalibration().fit(llr, t)
    assert again.slope_ == pytest.approx(1.0, abs=0.03) and again.offset_ == pytest.approx(0.0, abs=0.05)
    with pytest.raises(ValueError, match="target and non-target"):
        AffineCalibration().fit(raw[tgt], tgt[tgt])


def _trials(n_spk=30, per_pair=1, seed=7):
    rng = np.random.default_rng(seed)
    e, t = np.meshgrid(np.arange(n_spk), np.arange(n_spk), indexing="ij")
    e, t = np.repeat(e.ravel(), per_pair), np.repeat(t.ravel(), per_pair)
    tgt = e == t
    scores = np.where(tgt, rng.normal(0.7, 0.1, len(e)), rng.normal(0.2, 0.15, len(e)))
    return scores, tgt, e, t, n_spk


def test_cross_validation_never_sees_a_trials_own_speakers():
    scores, tgt, e, t, n_spk = _trials(per_pair=3)
    llr, model = cross_validated_llr(scores, tgt, e, t, n_spk, folds=4, seed=0)
    fold = speaker_folds(n_spk, 4, seed=0)
    assert np.bincount(fold).tolist() == [8, 8, 7, 7]  # every speaker in one fold, folds balanced
    rng = np.random.default_rng(0)
    for i in rng.choice(len(scores), size=6, replace=False):
        # whatever the other trials of this trial's speakers score, its LLR does not move
        touched = ((e == e[i]) | (t == e[i]) | (e == t[i]) | (t == t[i])) & (np.arange(len(e)) != i)
        changed = scores.copy()
        changed[touched] = rng.normal(size=touched.sum())
        assert cross_validated_llr(changed, tgt, e, t, n_spk, folds=4, seed=0)[0][i] == llr[i]
        # and every model it used was fitted without its speakers' folds
        f, g = divmod(int(model[i]), 4)
        assert {fold[e[i]], fold[t[i]]} == {f, g}
    # an affine map with a positive slope per fold pair: within one model, order is kept
    for key in np.unique(model):
        use = model == key
        assert np.all(np.diff(llr[use][np.argsort(scores[use])]) >= 0)


def test_cross_validation_refuses_too_few_speakers():
    scores, tgt, e, t, n_spk = _trials(n_spk=3)  # fold pair (f, g) leaves one speaker: targets only
    with pytest.raises(ValueError, match="too few speakers"):
        cross_validated_llr(scores, tgt, e, t, n_spk, folds=3)
    with pytest.raises(ValueError, match="at least 3 folds"):
        cross_validated_llr(scores, tgt, e, t, n_spk, folds=2)


def test_bootstrap_terms_equal_the_weighted_metrics():
    from arwsv.evaluation.calibration import CalibrationTerms

    scores, tgt, e, t, n_spk = _trials(n_spk=25, per_pair=2, seed=8)
    llr = 8 * scores - 3
    terms = CalibrationTerms(llr, tgt, e, t, n_spk, p_targets=(0.01, 0.2))
    point = terms.measure()
    assert point["cllr"] == cllr(llr, tgt) and point["min_cllr"] == min_cllr(llr, tgt)
    assert point["cal_loss"] == pytest.approx(point["cllr"] - point["min_cllr"]) and point["cal_loss"] >= 0
    rng = np.random.default_rng(9)
    for _ in range(5):
        c = np.bincount(rng.integers(0, n_spk, n_spk), minlength=n_spk).astype(float)
        weights = np.where(tgt, c[e], c[e] * c[t])  # the speaker bootstrap's trial weights
        got = terms.measure(c)
        assert got["cllr"] == pytest.approx(cllr(llr, tgt, weights), rel=1e-12)
        assert got["min_cllr"] == pytest.approx(min_cllr(llr, tgt, weights), rel=1e-12)
        for p in (0.01, 0.2):
            assert got[f"act_dcf@{p:g}"] == pytest.approx(act_dcf(llr, tgt, p, weights=weights), rel=1e-12)
    assert all(math.isnan(v) for v in terms.measure(np.zeros(n_spk)).values())


@pytest.mark.parametrize("k", [1_000, 100_000])
def test_affine_fit_of_near_separable_binary_scores(k):
    """Scores 0/1 with one error per class: the optimal LLR is ±log k at the two scores, i.e. slope
    2 log k and offset -log k (a start that saturates every trial must not stall the fit)."""
    fit = AffineCalibration().fit_classes(np.r_[np.ones(k), 0.0], np.r_[np.zeros(k), 1.0])
    assert fit.slope_ == pytest.approx(2 * math.log(k), rel=1e-6)
    assert fit.offset_ == pytest.approx(-math.log(k), rel=1e-6)


def test_pav_llr_of_one_class_is_undefined():
    assert np.isnan(pav_llr([1.0, 2.0, 3.0], [True, True, True])).all()
