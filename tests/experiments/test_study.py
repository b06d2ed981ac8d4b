"""`arwsv study --quick`: every variant x seed trains and is evaluated; the tables agree with the JSON."""

from __future__ import annotations

import json
import statistics

import pytest

from arwsv.cli import main
from arwsv.experiments.study import METRICS
from conftest import markdown_row, shown


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    args = ["study", "--quick", "--seeds", "0", "1", "--variants", "baseline", "arw", "pl", "oracle",
            "--out", str(root / "out"), "--work", str(root / "work"), "--quiet"]
    assert main(args) == 0
    return root, args


def test_study_tables_match_the_json_and_the_runs(study):
    root, _ = study
    result = json.loads((root / "out" / "toy_study.json").read_text())
    table = (root / "out" / "toy_study.md").read_text()
    assert table.splitlines()[2] == ("Regenerate: `arwsv study --quick --seeds 0 1 --variants baseline arw pl "
                                     "oracle`")
    assert list(result["summary"]) == ["baseline", "arw", "pl", "oracle"]
    for name, row in result["summary"].items():
        cells = markdown_row(table, name)
        for cell, key in zip(cells[1:], METRICS):
            values = [result["runs"][name][s][key]["value"] for s in ("0", "1")]
            assert row[key]["values"] == values
            if all(v is not None for v in values):  # the mean and std are of the per-seed runs
                assert row[key]["mean"] == pytest.approx(statistics.fmean(values))
                assert row[key]["std"] == pytest.approx(statistics.pstdev(values))
                assert cell.split(" ± ")[0] == shown(row[key]["mean"])
        for seed in ("0", "1"):
            run = markdown_row(table, name, seed)
            for cell, key in zip(run[2:], METRICS):
                assert cell.split(" [")[0] == shown(result["runs"][name][seed][key]["value"])
    base = result["summary"]["baseline"]["eer"]["mean"]
    arw = result["summary"]["arw"]["eer"]
    assert arw["change_vs_baseline"] == pytest.approx((arw["mean"] - base) / base * 100)


def test_grid_varies_one_knob_around_the_recipe_and_plots(study):
    root, _ = study
    result = json.loads((root / "out" / "toy_study.json").read_text())
    grid = result["grid"]
    assert set(grid) == {"region_priors", "adversary_lr", "warmup_steps"}
    for knob, points in grid.items():
        values = [p["value"] for p in points]
        assert values == sorted(values) and len(values) == 2
    # the recipe's own value of each knob is the seed-0 ARW run of the main table
    regions3 = next(p for p in grid["region_priors"] if p["value"] == 3)
    assert regions3["eer"] == result["runs"]["arw"]["0"]["eer"]
    assert (root / "work" / "quick" / "arw_region_priors2_seed0" / "final").is_dir()
    assert (root / "out" / "toy_sensitivity.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_reuses_models_and_bad_flags(study, capsys):
    root, args = study
    final = root / "work" / "quick" / "pl_seed1" / "final" / "embedding_model.ckpt"
    before = final.stat().st_mtime_ns
    assert main(args) == 0
    assert final.stat().st_mtime_ns == before
    capsys.readouterr()
    assert main(["study", "--quick", "--seeds", "0", "0", "--out", str(root / "x"), "--quiet"]) == 2
    assert "must not repeat" in capsys.readouterr().err
    assert main(["study", "--quick", "--seeds", "-1", "--out", str(root / "x"), "--quiet"]) == 2
    assert not (root / "x" / "toy_study.md").exists()
