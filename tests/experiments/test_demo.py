"""`arwsv demo --quick`: every step runs, the outputs agree with each other, reruns reuse work."""

from __future__ import annotations

import json
import re

from arwsv.cli import main
from conftest import markdown_row, shown


def test_quick_demo_writes_consistent_outputs(tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    assert main(["demo", "--quick", "--out", str(out), "--work", str(work), "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "demo.json").read_text())
    table = (out / "README.md").read_text()
    assert table.splitlines()[2] == "Regenerate: `arwsv demo --quick`"
    assert printed.strip() == table.strip()
    for label, values in result["table"].items():  # every JSON number is the one the table shows
        cells = markdown_row(table, label)
        scale = 100 if "(%)" in label or "(pp)" in label else 1
        for cell, key in zip(cells[1:3], ("baseline", "arw")):
            assert cell.split(" [")[0] == shown(values[key], scale, 2 if scale == 100 else 3)
    for name in ("det.png", "weights.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (work / "quick" / "arw_seed0" / "speaker_weights.csv").is_file()
    # a second run reuses the corpus and both models (nothing retrained)
    before = (work / "quick" / "arw_seed0" / "final" / "embedding_model.ckpt").stat().st_mtime_ns
    assert main(["demo", "--quick", "--out", str(out), "--work", str(work), "--quiet"]) == 0
    assert (work / "quick" / "arw_seed0" / "final" / "embedding_model.ckpt").stat().st_mtime_ns == before
    assert re.search(r"\| overall EER \(%\) \|", table)


def test_direction_against_the_study(tmp_path):
    from arwsv.experiments.demo import STUDY_METRICS, direction_vs_study

    def numbers(eer, gap, std):  # side_by_side's dict, relative changes in %
        return {label: {"relative_change": change} for label, change in zip(STUDY_METRICS, (eer, gap, std))}

    summary = tmp_path / "summary.json"
    study = {"seeds": [0, 1], "eer": {"rel_diff_mean": 0.2}, "gender_gap": {"rel_diff_mean": -0.17},
             "country_std": {"rel_diff_mean": 0.1}}
    summary.write_text(json.dumps({"command": "x", "summary": {"arw": study}}))
    text = " ".join(direction_vs_study(numbers(1.2, -2.8, 18.5), summary))
    assert "agrees with it in all three" in text and "2 seeds" in text
    assert "+20.0 % there" in text and "-2.8 % here" in text
    text = " ".join(direction_vs_study(numbers(-1.0, -2.8, -3.0), summary))
    assert "does NOT agree with it on overall EER, country std of EER" in text
    assert text.count("(opposite)") == 2 and text.count("(same direction)") == 1
    # no study next to this copy, or no paired run of the variant: nothing is claimed
    assert direction_vs_study(numbers(1, 1, 1), tmp_path / "missing.json") == []
    assert direction_vs_study(numbers(1, 1, 1), summary, variant="pl") == []
    study["eer"] = {}
    summary.write_text(json.dumps({"command": "x", "summary": {"arw": study}}))
    assert direction_vs_study(numbers(1, 1, 1), summary) == []


def test_committed_comparison_matches_the_studys_records(tmp_path):
    """The demo's `arwsv compare` of the committed scores shows the numbers the benchmark study recorded for the
    same models when it trained them (an independent evaluation path: record_run on its own H-list file)."""
    from arwsv.experiments.demo import BENCH, COMMITTED, committed_comparison

    lines = committed_comparison(tmp_path, bootstrap=5)
    text = "\n".join(lines)
    for name, label in COMMITTED.items():
        recorded = json.loads((BENCH / "runs" / f"{name}_seed0.json").read_text())
        wanted = [f"{100 * recorded['metrics']['eer']['value']:.2f}",
                  f"{100 * recorded['groups']['gender']['female']:.2f}",
                  f"{100 * recorded['metrics']['gender_gap']['value']:.2f}",
                  f"{100 * recorded['metrics']['country_std']['value']:.2f}"]
        shown_as = label if name != "baseline" else COMMITTED["crowding_twopass"]  # the baseline is A of each table
        block = text.split(f"B = {shown_as}:")[1].split("```")[0]
        rows = [r for r in block.splitlines() if r.startswith(("overall EER", "gender female EER", "gender gap, abs",
                                                               "nationality std"))]
        column = 1 if name == "baseline" else 2
        assert [re.split(r"\s{2,}", r)[column] for r in rows] == wanted
    # scores that do not belong to the committed list are refused, not compared
    fake = tmp_path / "study"
    (fake / "runs").mkdir(parents=True)
    (fake / "trials").mkdir()
    for name in ("H.txt.gz", "meta.csv"):
        (fake / "trials" / name).write_bytes((BENCH / "trials" / name).read_bytes())
    import numpy as np
    import pytest

    for name in COMMITTED:
        np.savez(fake / "runs" / f"{name}_seed0.npz", scores=np.zeros(3), trials_sha256=np.array("0" * 64))
    from arwsv.errors import InputError

    with pytest.raises(InputError, match="not of"):
        committed_comparison(tmp_path / "w2", bootstrap=5, study=fake)
    assert committed_comparison(tmp_path / "w3", bootstrap=5, study=tmp_path / "absent") == []
