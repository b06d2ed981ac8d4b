"""The selection study's tables, rebuilt from run files: pairing, pooling and verdicts (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from arwsv.cli import main
from arwsv.experiments.bench_study import record_run
from arwsv.experiments.select_study import summarize, verdict
from arwsv.io.scorefile import read_trials


def test_summary_pairs_each_system_with_the_same_seeds_uniform(corpus, tmp_path, monkeypatch):
    import arwsv.experiments.select_study as study

    monkeypatch.setattr(study, "CORPORA", ("tiny",))
    monkeypatch.setattr(study, "PLAN", {"tiny": 2})
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "tiny").symlink_to(corpus)
    labels = read_trials(corpus / "trials" / "H.txt")["label"].to_numpy()
    runs = tmp_path / "out" / "tiny" / "runs"
    eers = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        noisy = labels * 0.5 + rng.standard_normal(len(labels))
        eers.append(record_run("uniform", seed, corpus, runs, noisy, bootstrap=30, device="cpu",
                               wall_s=0.0)["metrics"]["eer"]["value"])
        record_run("selected", seed, corpus, runs, labels * 10.0, bootstrap=30, device="cpu", wall_s=0.0,
                   extra={"candidate": "perfect"})
        record_run("perfect", seed, corpus, runs, labels * 10.0, bootstrap=30, device="cpu", wall_s=0.0)
    record_run("arw_pw", 0, corpus, runs, labels * 10.0, bootstrap=30, device="cpu", wall_s=0.0)  # one seed only
    overview = summarize(tmp_path / "out", data_root, bootstrap=50)
    row = overview["tiny"]["summary"]["selected"]["eer"]
    # perfect scores have EER 0: the paired difference is minus the uniform EER, averaged over seeds
    assert row["diff_mean"] == pytest.approx(-np.mean(eers)) and row["paired_seeds"] == 2
    assert verdict(row) == "helps" and overview["tiny"]["selected"] == {0: "perfect", 1: "perfect"}
    table = (tmp_path / "out" / "README.md").read_text()
    assert "| tiny | 2 of 2 | perfect |" in table and "helps" in table
    assert table.count("of 2 seeds)") == 1 and "(1 of 2 seeds)" in table  # ARW-PW's cell says it pools one seed
    assert "| perfect | 0, 1 |" in (tmp_path / "out" / "tiny" / "README.md").read_text()
    assert (tmp_path / "out" / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the same table, drawn


def test_a_corpus_without_its_data_keeps_its_committed_table(corpus, tmp_path, monkeypatch, capsys):
    """A machine that has only one corpus's data (a fresh one running one corpus-seed) rebuilds that corpus's table
    and keeps the others' rows and READMEs exactly as committed."""
    import arwsv.experiments.select_study as study

    monkeypatch.setattr(study, "CORPORA", ("tiny", "other"))
    monkeypatch.setattr(study, "PLAN", {"tiny": 1, "other": 1})
    data_root = tmp_path / "data"
    data_root.mkdir()
    for name in ("tiny", "other"):
        (data_root / name).symlink_to(corpus)
    labels = read_trials(corpus / "trials" / "H.txt")["label"].to_numpy()
    noisy = labels * 0.5 + np.random.default_rng(0).standard_normal(len(labels))
    for name in ("tiny", "other"):
        runs = tmp_path / "out" / name / "runs"
        record_run("uniform", 0, corpus, runs, noisy, bootstrap=30, device="cpu", wall_s=0.0)
        record_run("selected", 0, corpus, runs, labels * 10.0, bootstrap=30, device="cpu", wall_s=0.0,
                   extra={"candidate": "perfect"})
    full = summarize(tmp_path / "out", data_root, bootstrap=30)
    other_readme = (tmp_path / "out" / "other" / "README.md").read_bytes()
    other_row = json.loads((tmp_path / "out" / "summary.json").read_text())["other"]
    cross = (tmp_path / "out" / "README.md").read_text()
    (data_root / "other").unlink()  # the machine now lacks `other`'s corpus
    (tmp_path / "out" / "tiny" / "README.md").unlink()
    again = summarize(tmp_path / "out", data_root, bootstrap=30)
    assert "other: " in capsys.readouterr().out
    assert (tmp_path / "out" / "tiny" / "README.md").is_file()  # rebuilt from its data
    assert (tmp_path / "out" / "other" / "README.md").read_bytes() == other_readme  # kept as it was
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["other"] == other_row  # written back unchanged
    assert (tmp_path / "out" / "README.md").read_text() == cross  # the cross-corpus table too
    assert again["other"]["selected"] == {0: "perfect"}
    assert again["other"]["summary"]["selected"]["eer"]["diff_mean"] == \
        pytest.approx(full["other"]["summary"]["selected"]["eer"]["diff_mean"])
    # no data and no earlier row: left out, and said so
    (tmp_path / "out" / "summary.json").unlink()
    third = summarize(tmp_path / "out", data_root, bootstrap=30)
    assert "other" not in third and "no earlier summary" in capsys.readouterr().out
    assert "| other |" not in (tmp_path / "out" / "README.md").read_text()


def test_null_becomes_nan_except_where_null_means_no_interval():
    from arwsv.experiments.select_study import _nan_for_null

    back = _nan_for_null({"eer": {"mean": None, "ci_mean": None, "share_b_better": None,
                                  "per_seed": {"0": {"diff": None, "ci": None}}}})
    assert np.isnan(back["eer"]["mean"]) and np.isnan(back["eer"]["per_seed"]["0"]["diff"])
    assert back["eer"]["ci_mean"] is None and back["eer"]["share_b_better"] is None
    assert back["eer"]["per_seed"]["0"]["ci"] is None

def test_verdicts():
    assert verdict({"ci_mean": [-0.02, -0.01]}) == "helps"
    assert verdict({"ci_mean": [0.01, 0.02]}) == "hurts"
    assert verdict({"ci_mean": [-0.01, 0.02]}) == "nothing"
    assert verdict({}) == "n/a"


@pytest.mark.parametrize("flags, message", [
    (["--corpora", "nope"], "--corpora: each once"),
    (["--corpora", "bench", "bench"], "--corpora: each once"),
    (["--jobs", "0"], "--select takes"),
    (["--bench"], "--select takes"),
])
def test_select_study_flags_are_checked(flags, message, capsys, tmp_path):
    assert main(["study", "--select", "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags", [["--corpora", "bench"], ["--only", "train"], ["--jobs", "2"]])
def test_corpora_jobs_and_only_need_select(flags, capsys):
    assert main(["study", *flags]) == 2
    assert "go with --select" in capsys.readouterr().err


def test_cluster_view_sees_pure_clusters_and_mixed_ones():
    from arwsv.experiments.select_study import cluster_view

    rng = np.random.default_rng(0)
    # two cells far apart on the sphere: cell 0 tight (30 speakers), cell 1 loose (10 speakers)
    tight = np.array([1.0, 0, 0, 0]) + 0.05 * rng.standard_normal((30, 4))
    loose = np.array([0, 0, 0, 1.0]) + 0.3 * rng.standard_normal((10, 4))
    speakers = np.vstack([tight, loose])
    cells = np.repeat([0, 1], [30, 10])
    seen, share = cluster_view(speakers, cells, 2, restarts=3, seed=0)
    unit = speakers / np.linalg.norm(speakers, axis=1, keepdims=True)
    for code, members in ((0, slice(0, 30)), (1, slice(30, 40))):
        gram = unit[members] @ unit[members].T
        n = len(gram)
        within = (gram.sum() - np.trace(gram)) / (n * (n - 1))  # mean cosine between two of its speakers
        np.testing.assert_allclose(seen[cells == code], within)
    np.testing.assert_allclose(share, 1.0)  # each k-means cluster is one cell
    # one cluster for everyone: a speaker's cluster holds its cell in the cell's proportion
    _, share = cluster_view(speakers, cells, 1, restarts=2, seed=0)
    np.testing.assert_allclose(share, np.where(cells == 0, 0.75, 0.25))


def test_selected_run_follows_the_rules_current_choice(corpus, tmp_path):
    """A kept `selected` run is a copy of the chosen system's scores; when a rerun of the rule chooses another
    system (a new rule over the same pieces) the copy is replaced, and left alone when the choice is the same."""
    from arwsv.experiments.select_study import _record_selected

    labels = read_trials(corpus / "trials" / "H.txt")["label"].to_numpy()
    runs = tmp_path / "runs"
    noisy = labels * 0.5 + np.random.default_rng(0).standard_normal(len(labels))
    record_run("uniform", 0, corpus, runs, noisy, bootstrap=30, device="cpu", wall_s=0.0)
    record_run("asnorm_train", 0, corpus, runs, labels * 10.0, bootstrap=30, device="cpu", wall_s=0.0)

    def choose(name):
        _record_selected(0, corpus, runs, {"selection": {"selected": name, "reason": "test"}}, bootstrap=30,
                         device="cpu")
        return json.loads((runs / "selected_seed0.json").read_text()), np.load(runs / "selected_seed0.npz")["scores"]

    first, scores = choose("uniform")
    assert first["candidate"] == "uniform" and np.array_equal(scores, noisy.astype(np.float32))
    stamp = (runs / "selected_seed0.json").stat().st_mtime_ns
    choose("uniform")
    assert (runs / "selected_seed0.json").stat().st_mtime_ns == stamp
    second, scores = choose("asnorm_train")
    assert second["candidate"] == "asnorm_train" and np.array_equal(scores, (labels * 10.0).astype(np.float32))
    assert second["metrics"]["eer"]["value"] == 0.0


def test_arw_pw_trains_once_on_the_benchmark_and_every_seed_elsewhere(monkeypatch, tmp_path):
    """The plan: ARW-PW beside the rule on every seed of the other corpora, on the benchmark's first seed only (its
    five seeds are in the benchmark study); the corpora's first seeds come before any second seed."""
    import arwsv.experiments.select_study as study

    calls = []
    monkeypatch.setattr(study, "run_piece", lambda corpus, seed, **kw: calls.append((corpus, seed, kw["arw"])))
    monkeypatch.setattr(study, "summarize", lambda out, data: {})
    study.run_select_study(out=tmp_path, corpora=["espeak", "bench"], seeds=[0, 1], progress=False)
    assert calls == [("bench", 0, True), ("espeak", 0, True), ("bench", 1, False), ("espeak", 1, True)]
    calls.clear()
    study.run_select_study(out=tmp_path, corpora=["bench"], progress=False)  # the plan's seeds
    assert calls == [("bench", 0, True)] + [("bench", s, False) for s in range(1, 5)]
