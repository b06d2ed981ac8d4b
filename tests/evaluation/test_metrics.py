"""EER / minDCF / DET against analytic values, hand computation, brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_curve

from arwsv.evaluation.metrics import SortedTrials, det_curve, eer, min_dcf


def _gaussian(mu: float, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(mu, 1.0, n), rng.normal(0.0, 1.0, n)])
    labels = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    return scores, labels


@pytest.mark.parametrize("mu", [1.0, 2.0, 3.5])
def test_eer_matches_gaussian_closed_form(mu):
    # target N(mu, 1) vs non-target N(0, 1): the rates cross at t = mu / 2, EER = Phi(-mu / 2)
    scores, labels = _gaussian(mu, 200_000)
    det = det_curve(scores, labels)
    rate, threshold = det.eer()
    assert rate == pytest.approx(norm.cdf(-mu / 2), abs=0.003)
    assert threshold == pytest.approx(mu / 2, abs=0.02)


@pytest.mark.parametrize("p_target", [0.01, 0.05, 0.5])
def test_min_dcf_matches_gaussian_closed_form(p_target):
    mu = 3.0
    scores, labels = _gaussian(mu, 300_000, seed=1)
    t = np.linspace(-3, 8, 200_001)
    cost = p_target * norm.cdf(t - mu) + (1 - p_target) * norm.sf(t)
    expected = cost.min() / min(p_target, 1 - p_target)
    assert min_dcf(scores, labels, p_target) == pytest.approx(expected, abs=0.02)


def test_hand_computed_case():
    # sorted: .1N .3N .4T .5N .8T .85N .9T  (T = 3, N = 4)
    # reject {.1,.3,.4}: FNMR 1/3, FMR 2/4; reject also .5: FNMR 1/3, FMR 1/4
    # d = FNMR - FMR goes -1/6 -> +1/12, a = 2/3: EER = 1/3, threshold = .5 + 2/3 * (.8 - .5) = .7
    scores = [0.9, 0.8, 0.4, 0.5, 0.3, 0.1, 0.85]
    labels = [1, 1, 1, 0, 0, 0, 0]
    det = det_curve(scores, labels)
    rate, threshold = det.eer()
    assert rate == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.7)
    # minDCF(P=0.5): best point rejects {.1,.3}: (0 + 2/4) * .5 / .5 = .5
    assert det.min_dcf(0.5)[0] == pytest.approx(0.5)
    # minDCF(P=0.01): reject all but .9T: (.01 * 2/3 + .99 * 0) / .01 = 2/3
    assert det.min_dcf(0.01)[0] == pytest.approx(2 / 3)
    assert det.rates_at(0.7) == pytest.approx((1 / 3, 1 / 4))
    assert det.rates_at(-5.0) == (0.0, 1.0)
    assert det.rates_at(5.0) == (1.0, 0.0)


def _brute_force_points(scores, labels):
    """O(N^2) reference: rates at every distinct score and above the maximum."""
    scores, labels = np.asarray(scores), np.asarray(labels, bool)
    thresholds = np.append(np.unique(scores), np.inf)
    fnmr = np.array([(scores[labels] < t).mean() for t in thresholds])
    fmr = np.array([(scores[~labels] >= t).mean() for t in thresholds])
    return fnmr, fmr


def test_det_points_match_brute_force_with_ties():
    rng = np.random.default_rng(5)
    scores = np.round(rng.normal(size=400), 1)  # many ties
    labels = rng.random(400) < 0.3
    det = det_curve(scores, labels)
    fnmr, fmr = _brute_force_points(scores, labels)
    np.testing.assert_allclose(det.fnmr, fnmr, atol=1e-12)
    np.testing.assert_allclose(det.fmr, fmr, atol=1e-12)


def _eer_from_sklearn(scores, labels):
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1 - tpr
    # roc_curve goes from strict to lenient thresholds; reverse to FNMR rising
    fnr, fpr = fnr[::-1], fpr[::-1]
    d = fnr - fpr
    k = int(np.argmax(d >= 0))
    a = -d[k - 1] / (d[k] - d[k - 1])
    return fnr[k - 1] + a * (fnr[k] - fnr[k - 1])


@pytest.mark.parametrize("seed", range(5))
def test_eer_agrees_with_sklearn_roc(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    labels = rng.random(n) < 0.2
    scores = np.round(rng.normal(size=n) + 1.3 * labels, 2)
    assert eer(scores, labels) == pytest.approx(_eer_from_sklearn(scores, labels), abs=1e-12)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for p in (0.01, 0.05):
        expected = np.min(p * (1 - tpr) + (1 - p) * fpr) / min(p, 1 - p)
        assert min_dcf(scores, labels, p) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("transform", [lambda x: 3 * x - 1, lambda x: np.exp(x / 4), lambda x: x ** 3])
def test_invariant_under_monotonic_transform(transform):
    rng = np.random.default_rng(2)
    labels = rng.random(2000) < 0.4
    scores = np.round(rng.normal(size=2000) + labels, 3)
    assert eer(transform(scores), labels) == pytest.approx(eer(scores, labels), abs=1e-12)
    for p in (0.01, 0.05):
        assert min_dcf(transform(scores), labels, p) == pytest.approx(min_dcf(scores, labels, p), abs=1e-12)


def test_integer_weights_equal_repeated_trials():
    rng = np.random.default_rng(4)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.normal(size=500) + labels, 2)
    weights = rng.integers(0, 4, size=500)
    weighted = det_curve(scores, labels, weights)
    repeated = det_curve(np.repeat(scores, weights), np.repeat(labels, weights))
    assert weighted.eer() == pytest.approx(repeated.eer(), abs=1e-12)
    # (the minDCF threshold may differ: zero-weight trials add operating points of equal cost)
    assert weighted.min_dcf(0.01)[0] == pytest.approx(repeated.min_dcf(0.01)[0], abs=1e-12)
    assert weighted.rates_at(0.3) == pytest.approx(repeated.rates_at(0.3), abs=1e-12)


def test_edge_cases():
    assert np.isnan(eer([0.1, 0.2], [1, 1]))  # no non-target
    assert np.isnan(min_dcf([0.1, 0.2], [0, 0]))  # no target
    assert eer([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 0.0  # separable
    assert eer([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 1.0  # reversed
    assert eer([0.5] * 4, [0, 1, 0, 1]) == pytest.approx(0.5)  # all tied
    empty = SortedTrials([], []).det()
    assert not empty.defined and np.isnan(empty.eer()[0])
    fnmr, fmr = det_curve([0.1, 0.2], [1, 1]).rates_at(0.15)
    assert fnmr == 0.5 and np.isnan(fmr)


def test_eer_threshold_never_passes_the_next_score():
    # perfectly separated: FNMR = FMR = 0 exactly at a point (a = 1); rounding must not move the
    # threshold above the lowest target score (which gave FNMR 100 % at the threshold)
    rng = np.random.default_rng(11)
    for _ in range(2000):
        non = rng.uniform(-1, 0, size=2)
        tgt = rng.uniform(0.5, 1.5, size=2)
        det = det_curve(np.concatenate([non, tgt]), [0, 0, 1, 1])
        rate, threshold = det.eer()
        assert rate == 0.0
        assert non.max() < threshold <= tgt.min()
        assert det.rates_at(threshold) == (0.0, 0.0)


def test_extreme_and_constant_scores():
    scores, labels = np.array([-1.7e308, 1.7e308, -1e308, 1e308]), np.array([0, 1, 0, 1])
    rate, threshold = det_curve(scores, labels).eer()
    assert rate == 0.0 and np.isfinite(threshold)
    det = det_curve([1e20] * 4, [0, 1, 0, 1])
    assert det.thresholds[-1] > 1e20  # the 'reject all' point lies above the scores
    assert det.eer()[0] == pytest.approx(0.5)
    assert all(np.isnan(det.rates_at(np.nan)))
