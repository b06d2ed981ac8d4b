"""Gap summaries against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arwsv.evaluation.fairness import fdr, gap_summary, garbe, gini


def test_gini_hand_values():
    assert gini([0.2, 0.2, 0.2]) == 0.0
    # [0, 1]: n/(n-1) * sum|xi - xj| / (2 n^2 mean) = 2 * 2 / (2 * 4 * 0.5) = 1
    assert gini([0.0, 1.0]) == pytest.approx(1.0)
    # [1, 2, 3]: sum over ordered pairs = 8; 3/2 * 8 / (2 * 9 * 2) = 1/3
    assert gini([1.0, 2.0, 3.0]) == pytest.approx(1 / 3)
    assert gini([0.0, 0.0]) == 0.0
    assert math.isnan(gini([0.3]))
    assert gini([1.0, np.nan, 3.0, 2.0]) == pytest.approx(1 / 3)  # undefined groups ignored


def test_fdr_and_garbe_hand_values():
    # A = 0.3 - 0.1 = 0.2, B = 0.25 - 0.2 = 0.05: FDR = 1 - (0.5 * 0.2 + 0.5 * 0.05) = 0.875
    assert fdr([0.1, 0.3], [0.2, 0.25]) == pytest.approx(0.875)
    assert fdr([0.1, 0.3], [0.2, 0.25], alpha=1.0) == pytest.approx(0.8)
    assert fdr([0.1, 0.1], [0.2, 0.2]) == 1.0
    # Gini([.1,.3]) = 2 * 0.4 / (2 * 4 * 0.2) = 0.5; Gini([.2,.25]) = 2 * 0.1 / (8 * 0.225) = 1/9
    assert garbe([0.1, 0.3], [0.2, 0.25]) == pytest.approx(0.5 * 0.5 + 0.5 / 9)


def test_gap_summary_hand_values():
    s = gap_summary([0.01, 0.02, 0.03, np.nan], [0.1, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, np.nan])
    assert s["n_groups"] == 3
    assert s["eer_gap_abs"] == pytest.approx(0.02)
    assert s["eer_gap_rel"] == pytest.approx(1.0)  # 0.02 / mean 0.02
    assert s["eer_std"] == pytest.approx(0.01 * math.sqrt(2 / 3))  # population std
    assert s["eer_max_min_ratio"] == pytest.approx(3.0)
    assert s["eer_ratio_to_mean"][:3] == pytest.approx([0.5, 1.0, 1.5])
    assert math.isnan(s["eer_ratio_to_mean"][3])
    assert s["fdr"] == pytest.approx(1 - 0.5 * 0.2)


def test_gap_summary_needs_two_groups():
    s = gap_summary([0.05], [0.1], [0.1])
    assert s["n_groups"] == 1
    assert all(math.isnan(s[k]) for k in ("eer_gap_abs", "eer_std", "fdr", "garbe"))
    assert math.isnan(gap_summary([0.0, 0.1], [0.1, 0.1], [0.1, 0.1])["eer_max_min_ratio"])
