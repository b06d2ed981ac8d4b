"""Label-free selection: the split, the signals, the pseudo-group trials and the rule, on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from arwsv.errors import InputError
from arwsv.selection.pseudo_groups import DevTrials, pseudo_groups
from arwsv.selection.rule import evaluate_candidates, select
from arwsv.selection.signals import cluster_difficulty, speaker_factors
from arwsv.selection.split import development_rows, split_speakers
from arwsv.training.reweighting import crowding_factors


def test_split_is_disjoint_deterministic_and_sized():
    speakers = [f"s{i:03d}" for i in range(200)] * 3  # one row per utterance
    train, dev = split_speakers(speakers, 0.15, seed=4)
    assert len(dev) == 30 and len(train) == 170 and not set(train) & set(dev)
    assert (train, dev) == split_speakers(list(reversed(speakers)), 0.15, seed=4)  # order of rows does not matter
    assert split_speakers(speakers, 0.15, seed=5)[1] != dev
    with pytest.raises(InputError, match="too few"):
        split_speakers(["a", "b", "c"], 0.5, seed=0)


def _blobs(rng, centres, per, spread):
    """Unit vectors around each of ``centres`` (C, D): ``per`` of each, Gaussian ``spread``."""
    x = np.concatenate([c + spread[i] * rng.standard_normal((per[i], len(c))) for i, c in enumerate(centres)])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_crowding_signal_is_the_training_modules_crowding_factors():
    rng = np.random.default_rng(0)
    x = _blobs(rng, np.eye(8)[:3] * 3, [40, 25, 10], [0.3, 0.6, 0.2])
    for beta in (0.0, 7.0):
        mine = speaker_factors(x, signal="crowding", clusters=3, beta=beta, restarts=3, seed=2)
        np.testing.assert_allclose(mine, crowding_factors(x, 3, beta=beta, restarts=3, seed=2), rtol=1e-12)
    np.testing.assert_allclose(speaker_factors(x, signal="balance", clusters=3, beta=5.0, restarts=3, seed=2),
                               crowding_factors(x, 3, beta=0.0, restarts=3, seed=2), rtol=1e-12)


def test_crowding_factors_match_the_written_out_formula_on_clusters_of_known_cosine():
    """Two clusters in orthogonal subspaces whose speakers have pairwise cosine exactly rho_c: the factor of a
    speaker of cluster c must be N exp(beta rho_c) / (n_c sum_c' exp(beta rho_c'))."""
    sizes, rho, beta = [12, 5], [0.7, 0.9], 4.0
    dim = 2 + sum(sizes)
    rows, column = [], 2
    for c, (n, r) in enumerate(zip(sizes, rho)):
        for _ in range(n):  # sqrt(r) e_c + sqrt(1 - r) e_own: unit, cosine r within the cluster, 0 across
            v = np.zeros(dim)
            v[c], v[column] = np.sqrt(r), np.sqrt(1 - r)
            rows.append(v)
            column += 1
    x = np.array(rows)
    expected_cluster = np.exp(beta * np.array(rho)) / np.array(sizes)
    expected_cluster *= sum(sizes) / (np.array(sizes) * expected_cluster).sum()
    expected = np.repeat(expected_cluster, sizes)
    got = speaker_factors(x, signal="crowding", clusters=2, beta=beta, restarts=3, seed=0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(speaker_factors(x, signal="balance", clusters=2, restarts=3, seed=0),
                               np.repeat(sum(sizes) / (2 * np.array(sizes)), sizes), rtol=1e-9)


def test_balance_gives_every_separated_cluster_the_same_total():
    rng = np.random.default_rng(1)
    per = [60, 30, 10]
    x = _blobs(rng, np.eye(6)[:3] * 5, per, [0.2, 0.2, 0.2])
    f = speaker_factors(x, signal="balance", clusters=3, restarts=2)
    totals = [f[:60].sum(), f[60:90].sum(), f[90:].sum()]
    np.testing.assert_allclose(totals, [len(x) / 3] * 3, rtol=1e-9)  # N / K each, mean 1


def _dev_utterances(rng, centre, speakers, utts, within, between, prefix):
    """Development utterances: speakers spread ``between`` around ``centre``, utterances ``within`` around them."""
    rows, names = [], []
    for s in range(speakers):
        voice = centre + between * rng.standard_normal(len(centre))
        rows.append(voice + within * rng.standard_normal((utts, len(centre))))
        names += [f"{prefix}{s}"] * utts
    return np.concatenate(rows), np.array(names)


def test_difficulty_is_zero_for_a_separable_cluster_and_high_for_a_confusable_one():
    rng = np.random.default_rng(2)
    centres = np.eye(16)[:2] * 10
    easy, easy_spk = _dev_utterances(rng, centres[0], 6, 5, within=0.05, between=1.0, prefix="e")
    hard, hard_spk = _dev_utterances(rng, centres[1], 6, 5, within=1.0, between=0.05, prefix="h")
    unit = np.concatenate([easy, hard])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    eer = cluster_difficulty(centres, unit, np.concatenate([easy_spk, hard_spk]))
    assert eer[0] == 0.0 and eer[1] > 0.3  # 0.5 is chance
    train = _blobs(rng, centres, [40, 40], [1.0, 1.0])  # equal sizes: balance alone gives factor 1 to all
    f = speaker_factors(train, signal="difficulty", clusters=2, beta=4.0, restarts=2,
                        dev=unit, dev_speakers=np.concatenate([easy_spk, hard_spk]))
    np.testing.assert_allclose(f[40:].mean() / f[:40].mean(), np.exp(4.0 * (eer[1] - eer[0])), rtol=1e-6)


def test_dev_trials_are_every_pair_within_a_pseudo_group():
    ids = np.array([f"u{i}" for i in range(9)])
    speakers = np.array(["a", "a", "b", "b", "b", "c", "c", "d", "d"])
    trials = DevTrials(ids, speakers, {"a": "pg1", "b": "pg1", "c": "pg2", "d": "pg2"})
    assert len(trials) == 10 + 6  # C(5, 2) + C(4, 2)
    assert int(trials.is_target.sum()) == 1 + 3 + 1 + 1
    emb = np.random.default_rng(0).standard_normal((9, 4))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    scores = trials.scores(ids[::-1], emb[::-1])  # any order of embeddings
    np.testing.assert_allclose(scores, (unit[trials.first] * unit[trials.second]).sum(1))
    table = trials.table(scores)
    assert list(table.speakers) == ["a", "b", "c", "d"] and list(trials.speaker_groups()) == ["pg1", "pg1", "pg2", "pg2"]


def test_development_rows_spread_over_sessions_then_files_then_segments():
    def row(spk, video, utt, start=0):
        return {"id": f"{spk}/{video}/{utt}_{start}", "spk_id": spk, "wav": f"/d/{spk}/{video}/{utt}.wav",
                "start": str(start)}

    # speaker a: video v1 holds file 01 (three segments) and file 02; video v2 holds file 01
    a = [row("a", "v1", "01", 0), row("a", "v1", "01", 16000), row("a", "v1", "01", 32000), row("a", "v1", "02"),
         row("a", "v2", "01")]
    b = [row("b", "v1", "01", 0), row("b", "v1", "01", 16000)]  # one recording only
    rows = list(reversed(a + b))  # any manifest order
    assert development_rows(rows, 0) == rows  # 0: everything, untouched
    ids = lambda chosen: [r["id"] for r in chosen]  # noqa: E731
    # by hand: first each video's first file's first segment, then v1's second file, then a second segment
    assert ids(development_rows(rows, 2)) == ["a/v1/01_0", "a/v2/01_0", "b/v1/01_0", "b/v1/01_16000"]
    assert ids(development_rows(rows, 3)) == ["a/v1/01_0", "a/v1/02_0", "a/v2/01_0", "b/v1/01_0", "b/v1/01_16000"]
    four = ids(development_rows(rows, 4))
    assert [i for i in four if i.startswith("a/")] == ["a/v1/01_0", "a/v1/01_16000", "a/v1/02_0", "a/v2/01_0"]
    assert sorted(ids(development_rows(rows, 99))) == sorted(ids(rows))  # a quota above a speaker's rows: all


def test_pseudo_groups_recover_separated_clusters_numbered_by_size():
    rng = np.random.default_rng(3)
    a, a_spk = _dev_utterances(rng, np.eye(8)[0] * 5, 10, 3, 0.1, 0.3, "a")
    b, b_spk = _dev_utterances(rng, np.eye(8)[1] * 5, 4, 3, 0.1, 0.3, "b")
    groups = pseudo_groups(np.concatenate([a, b]), np.concatenate([a_spk, b_spk]), 2)
    assert {groups[f"a{i}"] for i in range(10)} == {"pg1"} and {groups[f"b{i}"] for i in range(4)} == {"pg2"}


def _planted_scores(rng, trials, shift):
    """Scores with target mean 2 and non-target mean 0, plus ``shift[group]`` added to the targets of each
    pseudo-group (a negative shift makes that group harder); speaker-level noise so groups differ."""
    groups = np.array([trials.group_of[s] for s in trials.speakers[trials.first]])
    base = np.where(trials.is_target, 2.0, 0.0) + rng.standard_normal(len(trials))
    return base + np.where(trials.is_target, np.vectorize(shift.get)(groups), 0.0)


@pytest.fixture(scope="module")
def planted():
    """40 development speakers in two pseudo-groups of 20, 6 utterances each."""
    speakers = np.repeat([f"s{i:02d}" for i in range(40)], 6)
    ids = np.array([f"u{i}" for i in range(len(speakers))])
    return DevTrials(ids, speakers, {f"s{i:02d}": "pg1" if i < 20 else "pg2" for i in range(40)})


def test_rule_picks_the_candidate_that_helps_the_worst_group_without_raising_the_eer(planted):
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(planted))  # shared by all candidates: paired comparisons cancel it
    uniform = _planted_scores(np.random.default_rng(1), planted, {"pg1": 0.0, "pg2": -1.5}) + noise
    helps = _planted_scores(np.random.default_rng(1), planted, {"pg1": 0.0, "pg2": -0.7}) + noise
    hurts = _planted_scores(np.random.default_rng(1), planted, {"pg1": -1.2, "pg2": -1.2}) + noise
    trade = _planted_scores(np.random.default_rng(1), planted, {"pg1": -2.0, "pg2": -0.5}) + noise
    scores = {"uniform": uniform, "helps": helps, "hurts": hurts, "trade": trade}
    rows = evaluate_candidates(planted, scores, bootstrap=200, seed=0)
    by = {r["candidate"]: r for r in rows}
    assert by["uniform"]["delta"]["eer"] == 0.0
    assert by["helps"]["ci"]["worst"][1] < 0 and by["helps"]["delta"]["eer"] < 0
    assert by["hurts"]["delta"]["eer"] > 0  # every group worse: not eligible
    choice = select(rows, criterion="worst")
    assert choice["selected"] == "helps"
    assert "hurts" not in choice["eligible"]
    # the same candidates without the helpful one: the rule says do not reweight
    rows = evaluate_candidates(planted, {k: v for k, v in scores.items() if k != "helps"}, bootstrap=200, seed=0)
    choice = select(rows, criterion="worst")
    assert choice["selected"] == "uniform" and choice["reason"].startswith("do not reweight")


def test_rule_without_candidates_and_without_a_reference(planted):
    scores = {"uniform": _planted_scores(np.random.default_rng(1), planted, {"pg1": 0.0, "pg2": -1.0})}
    for criterion in ("worst", "spread"):
        assert select(evaluate_candidates(planted, scores, bootstrap=50), criterion=criterion)["selected"] == "uniform"
    with pytest.raises(ValueError, match="reference"):
        evaluate_candidates(planted, {"a": scores["uniform"]}, bootstrap=50)


def test_rule_refuses_a_candidate_that_levels_down_and_takes_one_that_leaves_no_group_worse(planted):
    """A candidate that lowers the overall EER and lifts the worst group by making the other group measurably
    worse (levelling down) is not eligible; one that makes every group at least as well off and the population
    better (lower overall EER, interval below 0) helps even where the worst group's own gain is not measurable."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(planted))
    shifted = {name: _planted_scores(np.random.default_rng(1), planted, shift) + noise for name, shift in {
        "uniform": {"pg1": 0.0, "pg2": -1.5},
        "levelling": {"pg1": -0.9, "pg2": -0.2},   # worst group gains, the other loses
        "everyone": {"pg1": 0.6, "pg2": -1.5},     # the other gains, the worst one does not move
    }.items()}
    rows = evaluate_candidates(planted, shifted, bootstrap=200, seed=0)
    by = {r["candidate"]: r for r in rows}
    assert by["levelling"]["delta"]["eer"] < 0 and by["levelling"]["ci"]["worst"][1] < 0  # v1 would take it
    assert by["levelling"]["groups_ci"]["pg1"][0] > 0 and by["levelling"]["groups_delta"]["pg1"] > 0
    assert by["everyone"]["ci"]["eer"][1] < 0 and by["everyone"]["ci"]["worst"][1] >= 0
    # each pseudo-group's difference is that group's EER minus the same group's under uniform
    for name in ("levelling", "everyone"):
        for group, delta in by[name]["groups_delta"].items():
            assert delta == pytest.approx(by[name]["groups"][group] - by["uniform"]["groups"][group])
    choice = select(rows, criterion="worst")
    assert choice["levels_down"] == ["levelling"] and "levelling" not in choice["eligible"]
    assert choice["selected"] == "everyone" and choice["helps"] == ["everyone"]
    # without the candidate that leaves no group worse: do not reweight, and the reason names the pseudo-group test
    choice = select([r for r in rows if r["candidate"] != "everyone"], criterion="worst")
    assert choice["selected"] == "uniform" and "pseudo-group measurably worse" in choice["reason"]


def test_spread_criterion_takes_the_candidate_that_closes_the_groups_not_the_one_that_lifts_all(planted):
    """Two candidates lift the worst group alike (their pg2 scores are identical); one also lifts the better group
    more (the overall EER falls further, the spread does not narrow), the other leaves it as it is (the spread
    narrows). ``worst`` takes the first (tie on the worst group, lower overall EER); ``spread`` the second; with only
    the first, ``spread`` says do not reweight."""
    noise = np.random.default_rng(7).standard_normal(len(planted))
    scores = {name: _planted_scores(np.random.default_rng(1), planted, shift) + noise for name, shift in {
        "uniform": {"pg1": 0.0, "pg2": -1.5},
        "lifts_all": {"pg1": 1.0, "pg2": -0.9},
        "closes": {"pg1": 0.0, "pg2": -0.9},
    }.items()}
    rows = evaluate_candidates(planted, scores, bootstrap=200, seed=0)
    by = {r["candidate"]: r for r in rows}
    assert by["lifts_all"]["value"]["worst"] == by["closes"]["value"]["worst"] < by["uniform"]["value"]["worst"]
    assert by["lifts_all"]["value"]["eer"] < by["closes"]["value"]["eer"]
    assert by["closes"]["ci"]["std"][1] < 0 <= by["lifts_all"]["ci"]["std"][1]
    assert select(rows, criterion="worst")["selected"] == "lifts_all"
    assert select(rows)["selected"] == "closes"  # the default criterion
    choice = select(rows, criterion="spread")
    assert choice["selected"] == "closes" and choice["helps"] == ["closes"] and "std" in choice["reason"]
    choice = select([r for r in rows if r["candidate"] != "closes"], criterion="spread")
    assert choice["selected"] == "uniform" and "pseudo-group EER std" in choice["reason"]
    with pytest.raises(ValueError, match="criterion must be one of"):
        select(rows, criterion="mean")


def test_normalised_dev_scores_are_asnorm_of_the_cosine_scores():
    """AS-norm of one trial, written out: each side's mean and std of its top-k cohort cosines."""
    rng = np.random.default_rng(3)
    speakers = np.repeat(["a", "b", "c"], 2)
    trials = DevTrials(np.array([f"u{i}" for i in range(6)]), speakers, {"a": "g", "b": "g", "c": "g"})
    embeddings = rng.standard_normal((6, 4))
    cohort = rng.standard_normal((7, 4))
    normed = trials.normalised_scores(trials.ids, embeddings, cohort, top_k=3)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit_cohort = cohort / np.linalg.norm(cohort, axis=1, keepdims=True)
    for n, (i, j) in enumerate(zip(trials.first, trials.second)):
        score = unit[i] @ unit[j]
        top_i, top_j = np.sort(unit_cohort @ unit[i])[-3:], np.sort(unit_cohort @ unit[j])[-3:]
        expected = 0.5 * ((score - top_i.mean()) / top_i.std() + (score - top_j.mean()) / top_j.std())
        assert normed[n] == pytest.approx(expected, rel=1e-6)
    assert np.allclose(trials.scores(trials.ids, embeddings), [unit[i] @ unit[j] for i, j in zip(trials.first, trials.second)])


def test_levels_up_takes_only_a_gain_of_the_worst_served_group(planted):
    """pg2 is uniform's worst group. `lifts` raises pg2 alone: it helps. `best_only` raises pg1 alone (the
    already-better group): under `worst` it helps (the overall EER falls), under `levels_up` it does not."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(planted))
    uniform = _planted_scores(np.random.default_rng(1), planted, {"pg1": 0.0, "pg2": -1.5}) + noise
    lifts = _planted_scores(np.random.default_rng(1), planted, {"pg1": 0.0, "pg2": -0.5}) + noise
    best_only = _planted_scores(np.random.default_rng(1), planted, {"pg1": 1.0, "pg2": -1.5}) + noise
    rows = evaluate_candidates(planted, {"uniform": uniform, "lifts": lifts, "best_only": best_only},
                               bootstrap=200, seed=0)
    assert select(rows, criterion="levels_up")["helps"] == ["lifts"]
    assert "best_only" in select(rows, criterion="worst")["helps"]
    rows = evaluate_candidates(planted, {"uniform": uniform, "best_only": best_only}, bootstrap=200, seed=0)
    assert select(rows, criterion="levels_up")["selected"] == "uniform"
