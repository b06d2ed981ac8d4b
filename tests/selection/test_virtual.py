"""Targeted virtual speakers: the plan's arithmetic, its choice rule, and the CSV it writes driving arwsv train."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arwsv.cli import main
from arwsv.selection.virtual import VirtualPlanSettings, region_nn_distances
from conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]


def test_nearest_neighbour_distances_match_brute_force():
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((30, 8))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    expected = [min(1 - unit[i] @ unit[j] for j in range(30) if j != i) for i in range(30)]
    np.testing.assert_allclose(region_nn_distances(unit), expected, rtol=1e-12)


def test_copies_alternate_around_the_speaker():
    assert VirtualPlanSettings(copies=4).factors(0.02) == pytest.approx([0.98, 1.02, 0.96, 1.04])
    assert VirtualPlanSettings(copies=1).factors(0.03) == pytest.approx([0.97])


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={out}", *TINY_MODEL, "--epochs=1", "--quiet"]) == 0
    return out


def test_plan_targets_regions_and_picks_the_copy_that_lands_nearest_a_new_member(corpus, reference, tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["virtual-speakers", str(reference), "--manifest", str(corpus / "train.csv"), "--out", str(out),
                 "--clusters", "3", "--targets", "2", "--magnitudes", "0.03,0.1", "--probe-speakers", "2",
                 "--utts", "1", "--quiet"]) == 0
    report = json.loads((out / "landing.json").read_text())
    table = pd.read_csv(out / "virtual_speakers.csv", dtype={"spk_id": str})
    assert list(table.columns) == ["spk_id", "copy", "transform", "factor"]
    assert len(report["targets"]) == 2 and (out / "landing.png").stat().st_size > 0
    regions = pd.read_csv(out / "regions.csv", dtype={"spk_id": str})
    sizes = regions["region"].value_counts().to_dict()
    assert len(regions) == 8 and all(sizes[r["region"]] == r["speakers"] for r in report["targets"])
    # the two targets are the two most crowded regions
    crowding = sorted((r["crowding"] for r in report["regions_all"] if r["speakers"] >= 2), reverse=True)
    assert [r["crowding"] for r in report["targets"]] == pytest.approx(crowding[:2])
    for region in report["targets"]:
        ratios = [c["landing_ratio"] for c in region["candidates"]]
        assert len(ratios) == 4  # 2 transforms x 2 magnitudes
        best = region["candidates"][int(np.argmin(np.abs(np.log(ratios))))]
        assert region["chosen"] == best
    assert len(table) == report["added_identities"] == 2 * sum(r["speakers"] for r in report["targets"])
    assert (table.groupby("spk_id")["copy"].apply(sorted).map(tuple) == (1, 2)).all()
    chosen = {(r["chosen"]["transform"], r["chosen"]["magnitude"]) for r in report["targets"]}
    for _, rows in table.groupby("spk_id"):
        transform, (f1, f2) = rows["transform"].iloc[0], rows.sort_values("copy")["factor"]
        assert (transform, round(1 - f1, 6)) in chosen and f2 == pytest.approx(2 - f1)
    classes = 8 + len(table)
    assert f"set n_speakers: {classes}" in capsys.readouterr().out
    # the plan drives a training run as it is
    run = tmp_path / "a3"
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={run}", *TINY_MODEL, "--epochs=1", "--quiet", f"--n_speakers={classes}",
                 f"--augment.virtual_speakers={out / 'virtual_speakers.csv'}", "--augment.prob=0",
                 "--augment.kinds=[]"]) == 0
    assert len(json.loads((run / "final" / "speakers.json").read_text())["virtual_classes"]) == len(table)


@pytest.mark.parametrize("flags,message", [(["--targets", "40"], "--targets must be in [1, clusters]"),
                                           (["--transforms", "speed,warp"], "--transforms must be drawn from"),
                                           (["--magnitudes", "0.02,x"], "--magnitudes: expected comma-separated"),
                                           (["--magnitudes", "0.7"], "--magnitudes must be in (0, 0.5)")])
def test_bad_plan_settings_are_one_line(corpus, tmp_path, capsys, flags, message):
    out = tmp_path / "plan"
    assert main(["virtual-speakers", str(tmp_path), "--manifest", str(corpus / "train.csv"), "--out", str(out),
                 *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_the_commands_defaults_are_the_planners():
    from dataclasses import asdict

    from arwsv.commands.virtual import PLAN_DEFAULTS

    planner = asdict(VirtualPlanSettings())
    planner.pop("seed")
    assert vars(PLAN_DEFAULTS) == planner
