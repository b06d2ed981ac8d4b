"""`arwsv study --bench`: runs in pieces, kept per run, skipped on rerun, paired against the baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from arwsv.cli import main
from arwsv.experiments.bench_study import BENCH_VARIANTS


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    out = work / "results"
    args = ["study", "--bench", "--quick", "--work", str(work), "--out", str(out), "--variants", "baseline", "arw",
            "--seeds", "0", "--bootstrap", "10", "--quiet"]
    assert main(args) == 0
    return work, out, args


def test_each_run_leaves_its_scores_and_metrics(study):
    work, out, _ = study
    for name in ("baseline", "arw"):
        result = json.loads((out / "runs" / f"{name}_seed0.json").read_text())
        scores = np.load(out / "runs" / f"{name}_seed0.npz")
        trials = (work / "quick" / "corpus" / "trials" / "H.txt").read_text().splitlines()
        assert scores["scores"].dtype == np.float32 and len(scores["scores"]) == len(trials)
        assert str(scores["trials_sha256"]) == result["trials_sha256"]
        assert set(result["metrics"]) == {"eer", "gender_gap", "country_std"} and result["device"] == "cpu"


def test_summary_pairs_each_variant_with_the_baseline_of_its_seed(study):
    _, out, _ = study
    summary = json.loads((out / "summary.json").read_text())["summary"]
    base = json.loads((out / "runs" / "baseline_seed0.json").read_text())["metrics"]
    arw = json.loads((out / "runs" / "arw_seed0.json").read_text())["metrics"]
    for key in ("eer", "gender_gap"):
        entry = summary["arw"][key]
        assert entry["paired_seeds"] == 1
        assert entry["diff_mean"] == pytest.approx(arw[key]["value"] - base[key]["value"])
        assert summary["baseline"][key]["mean"] == pytest.approx(base[key]["value"])
    table = (out / "README.md").read_text()
    assert table.splitlines()[2] == "Regenerate: `arwsv study --bench --quick`"
    assert "| arw | 1 of 5 (cpu) |" in table and "Not run yet:" in table
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the forest plot of the same summary


def test_a_rerun_skips_finished_runs_and_refuses_runs_of_another_list(study, capsys):
    work, out, args = study
    stamp = (out / "runs" / "arw_seed0.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "arw seed 0:" not in capsys.readouterr().out  # nothing trained again
    assert (out / "runs" / "arw_seed0.json").stat().st_mtime_ns == stamp
    run = out / "runs" / "arw_seed0.json"
    saved = run.read_text()
    run.write_text(saved.replace(json.loads(saved)["trials_sha256"], "0" * 64))
    try:
        assert main(args) == 2
        assert "another H list" in capsys.readouterr().err
    finally:
        run.write_text(saved)


def test_pooled_interval_pairs_speakers_across_runs_and_seeds(study, tmp_path):
    """The summary's intervals: per seed, those of `arwsv compare` (paired_comparison) on the same
    speaker draws; over seeds, the replicate-wise mean, so two identical seeds give the one-seed
    interval, and a monotone copy of the baseline differs by exactly 0 in every replicate."""
    import shutil

    from arwsv.evaluation.compare import paired_comparison
    from arwsv.experiments.bench_study import METRICS, _evaluate, _summary

    work, out, _ = study
    data, runs = work / "quick" / "corpus", tmp_path / "runs"
    shutil.copytree(out / "runs", runs)
    one = _summary(data, runs, 40)
    report_a, eval_a = _evaluate(data, np.load(runs / "baseline_seed0.npz")["scores"], 40, 0)
    report_b, eval_b = _evaluate(data, np.load(runs / "arw_seed0.npz")["scores"], 40, 0)
    rows = {(r["attribute"], r["group"], r["metric"]): r
            for r in paired_comparison(report_a, report_b, eval_a.replicates, eval_b.replicates)}
    for key, (_, _, row) in METRICS.items():
        entry = one["arw"][key]
        assert entry["per_seed"]["0"]["diff"] == pytest.approx(rows[row]["diff"], nan_ok=True)
        if rows[row]["ci"] is None:  # undefined in every replicate (a tiny corpus): undefined here too
            assert entry["per_seed"]["0"]["ci"] is None and entry["ci_mean"] is None
            continue
        assert entry["per_seed"]["0"]["ci"] == pytest.approx(rows[row]["ci"])
        assert entry["ci_mean"] == pytest.approx(rows[row]["ci"])  # one seed: the pooled interval is its own

    for name in ("baseline", "arw"):  # seed 1 = seed 0: the mean over seeds changes nothing
        for ext in ("json", "npz"):
            shutil.copy(runs / f"{name}_seed0.{ext}", runs / f"{name}_seed1.{ext}")
        record = json.loads((runs / f"{name}_seed1.json").read_text())
        (runs / f"{name}_seed1.json").write_text(json.dumps({**record, "seed": 1}))
    base = np.load(runs / "baseline_seed0.npz")
    np.savez(runs / "oracle_seed0.npz", scores=2 * base["scores"] + 1, trials_sha256=base["trials_sha256"])
    record = json.loads((runs / "baseline_seed0.json").read_text())
    (runs / "oracle_seed0.json").write_text(json.dumps({**record, "variant": "oracle"}))
    two = _summary(data, runs, 40)
    for key in METRICS:
        assert two["arw"][key]["paired_seeds"] == 2
        assert two["arw"][key]["ci_mean"] == (None if one["arw"][key]["ci_mean"] is None
                                              else pytest.approx(one["arw"][key]["ci_mean"]))
        if np.isfinite(one["arw"][key]["diff_mean"]):  # (a tiny corpus can leave a gap undefined)
            assert two["arw"][key]["diff_std"] == pytest.approx(0.0)
    assert two["oracle"]["eer"]["ci_mean"] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert two["oracle"]["eer"]["diff_mean"] == pytest.approx(0.0, abs=1e-12)


def test_bench_flags_are_checked(capsys):
    # a name built to miss the table: a real variant here would start a 10-minute run
    unknown = "not_" + "_".join(sorted(BENCH_VARIANTS))
    assert unknown not in BENCH_VARIANTS
    assert main(["study", "--bench", "--variants", unknown]) == 2  # one line, exit 2, before any work
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a benchmark variant" in err[0]
    assert main(["study", "--variants", "arw_weak"]) == 2
    assert "only with --bench" in capsys.readouterr().err
    assert main(["study", "--device", "cuda"]) == 2


def test_a_two_pass_variant_takes_its_factors_from_the_baseline_of_its_seed(study):
    """crowding_twopass reads the finished baseline of the same seed (not trained again) as its reference."""
    work, out, args = study
    final = work / "quick" / "baseline_seed0" / "final" / "embedding_model.ckpt"
    stamp = final.stat().st_mtime_ns
    variants = args.index("--variants")
    assert main(args[:variants + 1] + ["crowding_twopass"] + args[variants + 3:]) == 0
    recorded = (work / "quick" / "crowding_twopass_seed0" / "hyperparams.yaml").read_text()
    assert f"crowding_reference: {work / 'quick' / 'baseline_seed0'}\n" in recorded
    assert final.stat().st_mtime_ns == stamp
    assert (out / "runs" / "crowding_twopass_seed0.json").is_file()



def test_a_two_pass_run_is_trained_again_when_its_reference_model_changed(study, monkeypatch):
    """The study reuses a finished two-pass run only while the baseline it took its factors from is unchanged.
    (Last in this file: the changed case removes the module's two-pass run folder.)"""
    import hashlib

    import arwsv.training.run
    from arwsv.experiments.bench_study import RECIPES
    from arwsv.experiments.demo import train_variant

    work, _, args = study
    variants = args.index("--variants")
    assert main(args[:variants + 1] + ["crowding_twopass"] + args[variants + 3:]) == 0
    quick, baseline = work / "quick", work / "quick" / "baseline_seed0"
    record = json.loads((quick / "crowding_twopass_seed0" / "crowding_reference.json").read_text())
    by_hand = hashlib.sha256((baseline / "hyperparams.yaml").read_bytes() +
                             (baseline / "final" / "embedding_model.ckpt").read_bytes()).hexdigest()
    assert record == {"folder": str(baseline), "sha256": by_hand}
    calls = []
    monkeypatch.setattr(arwsv.training.run, "run_training", lambda hparams, *a, **k: calls.append(k["resume"]))

    def again():  # as the study's _run_one calls it
        return train_variant("crowding_twopass", quick / "corpus", quick, 0, True, False,
                             reweighting={"crowding_reference": str(baseline)}, recipes=RECIPES,
                             variants=BENCH_VARIANTS)

    again()
    assert calls == []  # the same baseline: reused
    recipe = (baseline / "hyperparams.yaml").read_text()
    try:
        (baseline / "hyperparams.yaml").write_text(recipe + "# trained again\n")
        again()
    finally:
        (baseline / "hyperparams.yaml").write_text(recipe)
    assert calls == [False]  # from scratch: the old run's factors belong to another model
