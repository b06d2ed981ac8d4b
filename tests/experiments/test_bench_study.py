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


def test_bench_flags_are_checked(capsys):
    # a name built to miss the table: a real variant here would start a 10-minute run
    unknown = "not_" + "_".join(sorted(BENCH_VARIANTS))
    assert unknown not in BENCH_VARIANTS
    with pytest.raises(SystemExit) as stopped:  # argparse's choices: usage and one line, exit 2
        main(["study", "--bench", "--variants", unknown])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["study", "--variants", "arw_aam"]) == 2
    assert "only with --bench" in capsys.readouterr().err
    assert main(["study", "--device", "cuda"]) == 2
