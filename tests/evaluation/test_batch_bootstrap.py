"""Replicates measured a block at a time give exactly the numbers of one replicate at a time."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from arwsv.evaluation.bootstrap import BatchCurves, WindowedTrials
from arwsv.evaluation.fairness import gap_summary, gap_summary_rows
from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
from arwsv.evaluation.metrics import SortedTrials
from arwsv.evaluation.report import _text_table
from arwsv.io.scorefile import ScoreTable


def _same(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _trials(rng, n_spk, n, ties, shift, target_share):
    enrol = rng.integers(0, n_spk, n)
    target = rng.random(n) < target_share
    test = np.where(target, enrol, (enrol + rng.integers(1, n_spk, n)) % n_spk)
    scores = rng.normal(size=n) + shift * target
    if ties is not None:
        scores = np.round(scores, ties)
    return scores, target, enrol, test


@pytest.mark.parametrize("seed", range(60))
def test_block_answers_are_those_of_one_replicate(seed):
    rng = np.random.default_rng(seed)
    n_spk, n = int(rng.integers(2, 60)), int(rng.integers(1, 5000))
    scores, target, enrol, test = _trials(rng, n_spk, n, [0, 1, 2, None][seed % 4], float(rng.uniform(0, 3)),
                                          [0.3, 0.0, 1.0, 0.05, 0.5][seed % 5])
    order = np.argsort(scores, kind="stable")
    prepared = WindowedTrials(SortedTrials(scores[order], target[order], assume_sorted=True), enrol[order],
                              test[order], n_spk, window_fmr=float(rng.choice([0.0, 0.02, 0.1, 0.3, 1.0])))
    start = None if seed % 3 == 0 else int(prepared.n_nontargets * (1 - float(rng.uniform(0, 1))))
    n_points = len(prepared.tc)
    focus = [tuple(sorted(rng.integers(0, n_points, 2).tolist())) for _ in range(int(rng.integers(0, 3)))]
    batch = BatchCurves(prepared, start=start, block=int(rng.choice([1, 2, 7, 64, 256])), focus=focus)
    multiplicity = np.stack([np.bincount(rng.integers(0, n_spk, n_spk), minlength=n_spk) for _ in range(17)])
    batch.measure(multiplicity.astype(float))
    eer, threshold = batch.eer()
    dcf = {p: batch.min_dcf(p, 1.0, 2.0) for p in (0.01, 0.05, 0.5, 0.9)}
    fixed = np.quantile(scores, [0.01, 0.5, 0.97]).tolist() + [float("nan"), 1e9, -1e9]
    rates = {t: batch.rates_at(t) for t in fixed}
    per_row = batch.rates_at(threshold)
    for r in range(len(multiplicity)):
        one = prepared.curve(multiplicity[r].astype(float))
        assert all(map(_same, (eer[r], threshold[r]), one.eer())), r
        for p in dcf:
            assert _same(dcf[p][r], one.min_dcf(p, 1.0, 2.0)[0]), (r, p)
        for t in fixed:
            assert all(map(_same, (rates[t][0][r], rates[t][1][r]), one.rates_at(t))), (r, t)
        assert all(map(_same, (per_row[0][r], per_row[1][r]), one.rates_at(float(threshold[r])))), r


def test_bootstrap_equals_one_replicate_at_a_time(simulated):
    trials, meta = simulated
    speakers, spk = np.unique(np.concatenate([trials["enrol"].str.split("/").str[0], trials["test"].str.split("/")
                                              .str[0]]), return_inverse=True)
    n = len(trials)
    table = ScoreTable(trials["score"].to_numpy(float), trials["label"].to_numpy(bool), spk[:n].astype(np.int32),
                       spk[n:].astype(np.int32), speakers.astype(object), "sim", "speechbrain")
    lookup = meta.set_index("VoxCeleb1 ID")
    values = {"gender": lookup.loc[speakers, "Gender"].to_numpy(object),
              "nationality": lookup.loc[speakers, "Nationality"].to_numpy(object)}
    settings = EvalSettings(bootstrap=150, seed=4, thresholds=(1.0,))
    evaluation = FairnessEvaluation(table, values, settings, intersect=True)
    batched = evaluation.bootstrap(progress=False)
    rng = np.random.default_rng(4)
    one_by_one = []
    for _ in range(150):
        m = np.bincount(rng.integers(0, len(speakers), len(speakers)), minlength=len(speakers)).astype(np.float64)
        one_by_one.append(evaluation.measure(m))
    assert json.dumps(batched) == json.dumps(one_by_one)


def test_gap_summaries_of_rows_are_those_of_each_row():
    rng = np.random.default_rng(0)
    for trial in range(300):
        rows, groups = int(rng.integers(1, 70)), int(rng.integers(0, 30))
        eer, fmr, fnmr = rng.random((rows, groups)) * 0.3, rng.random((rows, groups)) * 0.2, rng.random((rows, groups))
        for values in (eer, fmr, fnmr):
            values[rng.random((rows, groups)) < [0.0, 0.05, 0.3, 0.9][trial % 4]] = np.nan
        if trial % 7 == 0:
            eer[:] = 0.0
        if trial % 11 == 0:
            fmr[:] = 0.0
        a, b = float(rng.random()), float(rng.random())
        got = gap_summary_rows(eer, fmr, fnmr, fdr_alpha=a, garbe_alpha=b)
        for r in range(rows):
            want = gap_summary(eer[r], fmr[r], fnmr[r], fdr_alpha=a, garbe_alpha=b)
            assert list(got[r]) == list(want) and json.dumps(got[r]) == json.dumps(want)


def test_numpy_sums_a_row_of_a_matrix_as_the_row_alone():
    """What gap_summary_rows relies on: a C-contiguous row summed along axis=1 (sum, mean, std, and a
    square's flattened sum) gives the bits of the row's own reduction."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        rows, n = int(rng.integers(1, 40)), int(rng.integers(1, 300))
        x = rng.standard_normal((rows, n)) * 10.0 ** rng.integers(-6, 6, (rows, n))
        assert np.array_equal(x.sum(axis=1), [row.sum() for row in x])
        assert np.array_equal(x.mean(axis=1), [row.mean() for row in x])
        assert np.array_equal(x.std(axis=1), [row.std() for row in x])
        m = min(n, 40)
        square = np.abs(x[:, :m, None] - x[:, None, :m]).reshape(rows, m * m).sum(axis=1)
        assert np.array_equal(square, [np.abs(row[:m, None] - row[None, :m]).sum() for row in x])


def test_the_pav_is_scikit_learns():
    from sklearn.isotonic import isotonic_regression

    from arwsv.evaluation.calibration import _isotonic_regression

    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(1, 3000))
        y, w = rng.random(n), rng.integers(1, 20, n).astype(np.float64)
        y[rng.random(n) < 0.3] = np.round(y[rng.random(n) < 0.3].mean() if n else 0.0, 1)
        assert np.array_equal(_isotonic_regression()(y, w), isotonic_regression(y, sample_weight=w, increasing=True))


def test_the_table_is_laid_out_as_pandas_does():
    rng = np.random.default_rng(3)
    words = ["all", "female", "male", "USA", "(cross-group)", "Trinidad and Tobago", "", "n/a", "-", "12.34"]
    for _ in range(300):
        n_cols, n_rows = int(rng.integers(1, 8)), int(rng.integers(1, 12))
        kinds = rng.choice(["str", "int", "mixed"], n_cols)
        names = [str(rng.choice(["EER%", "spk", "trials", "a", "group", "minDCF@0.01", "x" * int(rng.integers(1, 60))]))
                 + str(i) for i in range(n_cols)]
        rows = []
        for _ in range(n_rows):
            row = {}
            for name, kind in zip(names, kinds):
                if kind == "int" or (kind == "mixed" and rng.random() < 0.5):
                    row[name] = int(rng.integers(-5, 10 ** int(rng.integers(1, 8))))
                else:
                    row[name] = str(rng.choice(words)) * int(rng.integers(1, 3))
            rows.append(row)
        assert _text_table(rows) == pd.DataFrame(rows).to_string(index=False)
