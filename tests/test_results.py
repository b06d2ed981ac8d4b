"""Every results file says how to regenerate it, and that command exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from arwsv.cli import COMMANDS
from conftest import markdown_row, shown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted(p for p in (ROOT / "results").rglob("*.md"))


def _commands(text: str) -> list:
    """Commands after 'Regenerate': inline `...` or an indented block."""
    match = re.search(r"Regenerate:?\s*(.*?)(\n\n[^ \n]|\Z)", text, re.S)
    assert match, "no 'Regenerate:' line"
    block = match.group(1)
    inline = re.findall(r"`([^`]+)`", block)
    block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
    indented = [line.strip() for line in block.splitlines() if line.startswith("    ") and line.strip()]
    return inline + indented


def _subcommands() -> set:
    """The CLI's subcommand names (a module of ``COMMANDS`` may name its command otherwise: virtual-speakers)."""
    import argparse

    from arwsv.cli import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    names = set(actions[0].choices)
    assert set(COMMANDS) - {"virtual"} <= names
    return names


def _exists(command: str) -> bool:
    words = shlex.split(command.replace("\\", " "))
    if words[:1] == ["arwsv"]:
        return len(words) > 1 and words[1] in _subcommands()
    if words[:1] == ["make"]:
        return re.search(rf"^{words[1]}:", (ROOT / "Makefile").read_text(), re.M) is not None
    if words[:2] == ["python", "-m"]:
        return (ROOT / (words[2].replace(".", "/") + ".py")).is_file()
    if words[:1] == ["python"]:
        return (ROOT / words[1]).is_file()
    return False


@pytest.mark.parametrize("path", RESULTS, ids=[str(p.relative_to(ROOT)) for p in RESULTS])
def test_results_start_with_an_existing_command(path):
    text = path.read_text()
    head = "\n".join(text.splitlines()[:6])
    assert "Regenerate" in head or path.name == "benchmarks.md", "the command must come first"
    commands = _commands(text)
    assert commands
    for command in commands:
        assert _exists(command), command


def test_committed_demo_table_matches_its_json():
    import json

    folder = ROOT / "results" / "demo"
    if not (folder / "demo.json").exists():
        pytest.skip("no committed demo results")
    result = json.loads((folder / "demo.json").read_text())
    table = (folder / "README.md").read_text()
    for label, values in result["table"].items():
        cells = markdown_row(table, label)
        scale = 100 if "(%)" in label or "(pp)" in label else 1
        for cell, key in zip(cells[1:3], ("baseline", "arw")):
            assert cell.split(" [")[0] == shown(values[key], scale, 2 if scale == 100 else 3), (label, key)


def test_committed_study_tables_match_their_json():
    import json

    from arwsv.experiments.study import METRICS

    if not (ROOT / "results" / "toy_study.json").exists():
        pytest.skip("no committed study")
    result = json.loads((ROOT / "results" / "toy_study.json").read_text())
    table = (ROOT / "results" / "toy_study.md").read_text()
    assert f"Regenerate: `{result['command']}`" in table
    for name, row in result["summary"].items():
        cells = markdown_row(table, name)
        for cell, key in zip(cells[1:], METRICS):
            assert cell.split(" ± ")[0] == shown(row[key]["mean"]), (name, key)
        for seed, run in result["runs"][name].items():
            cells = markdown_row(table, name, seed)
            for cell, key in zip(cells[2:], METRICS):
                assert cell.split(" [")[0] == shown(run[key]["value"]), (name, seed, key)
    for knob, points in result["grid"].items():
        for point in points:
            cells = markdown_row(table, knob, f"{point['value']:g}")
            assert cells[2:] == [shown(point[key]["value"]) for key in METRICS]


def _analysis(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "analyses" / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scorecard_module():
    return _analysis("scorecard")


def test_scorecard_verdicts_follow_the_intervals():
    card = _scorecard_module()
    row = {"eer": {"ci_mean": [-0.01, 0.002], "per_seed": {"0": {"ci": [-0.01, 0.01]}, "1": {"ci": [0.001, 0.02]}}},
           "gender_gap": {"ci_mean": [-0.03, -0.01], "per_seed": {}},
           "country_std": {"ci_mean": [0.001, 0.01], "per_seed": {}}}
    # EER across 0 (no harm pooled, but seed 1's own interval above 0); gender gap below 0; country std above 0
    assert card.verdicts(row) == {"harm": ["country_std"], "narrows": ["gender_gap"], "seeds_with_harm": [1]}
    row["country_std"]["ci_mean"] = None  # no interval: neither harm nor narrowing
    assert card.verdicts(row)["harm"] == []


def test_committed_scorecard_matches_the_committed_summary(tmp_path, monkeypatch):
    """results/select_study/scorecard.md is what scorecard.py makes of the committed summary.json."""
    import sys

    committed = ROOT / "results" / "select_study" / "scorecard.md"
    card = _scorecard_module()
    out = tmp_path / "scorecard.md"
    monkeypatch.setattr(sys, "argv", ["scorecard.py", "--summary", "results/select_study/summary.json",
                                      "--out", str(out)])
    monkeypatch.chdir(ROOT)
    card.main()
    fresh, kept = out.read_text().splitlines(), committed.read_text().splitlines()
    # all but the regenerate line (which names the output path)
    assert fresh[4:] == kept[4:], "summary.json changed: rerun analyses/bench/scorecard.py (after_select.sh does)"


def test_rule_vs_harm_verdicts_follow_each_seeds_intervals():
    """A seed's own intervals decide the H verdict (the pooled ones do not); the rule's verdict reads selection.json."""
    module = _analysis("rule_vs_harm")
    row = {"eer": {"ci_mean": [0.01, 0.02], "per_seed": {"0": {"ci": [-0.01, 0.01]}, "1": {"ci": [0.001, 0.02]}}},
           "gender_gap": {"per_seed": {"0": {"ci": [-0.03, -0.01]}, "1": {"ci": [-0.03, -0.01]}}},
           "country_std": {"per_seed": {"0": {"ci": [-0.01, 0.01]}, "1": {"ci": [-0.01, 0.01]}}}}
    assert module.h_verdict(row, 0) == "meets"  # no interval above 0, the gender gap's below 0
    assert module.h_verdict(row, 1) == "harm"  # seed 1's EER interval lies above 0
    assert module.h_verdict(row, 2) == "n/a"
    row["gender_gap"]["per_seed"]["0"]["ci"] = [-0.03, 0.01]
    assert module.h_verdict(row, 0) == "neutral"
    selection = {"selection": {"selected": "a", "eligible": ["a", "b"]}}
    assert [module.rule_verdict(selection, n) for n in "abc"] == ["chosen", "eligible", "refused"]
    table = [{"candidate": "a", "h": "harm", "rule": "chosen"}, {"candidate": "b", "h": "harm", "rule": "refused"},
             {"candidate": "c", "h": "meets", "rule": "refused"}, {"candidate": "d", "h": "n/a", "rule": "chosen"}]
    assert module.counts(table) == {"judged": 3, "harm": 2, "harm_refused": 1, "harm_chosen": 1, "meets": 1,
                                    "meets_refused": 1, "meets_chosen": 0}


def test_committed_rule_vs_harm_matches_the_committed_study(tmp_path, monkeypatch):
    """results/select_study/rule_vs_harm.md is what rule_vs_harm.py makes of the committed selections and summary,
    and every corpus-seed with a selection.json is in it."""
    import sys

    module = _analysis("rule_vs_harm")
    out = tmp_path / "rule_vs_harm.md"
    monkeypatch.setattr(sys, "argv", ["rule_vs_harm.py", "--study", "results/select_study", "--out", str(out)])
    monkeypatch.chdir(ROOT)
    module.main()
    committed = (ROOT / "results" / "select_study" / "rule_vs_harm.md").read_text().splitlines()
    assert out.read_text().splitlines()[4:] == committed[4:], "rerun analyses/bench/rule_vs_harm.py (after_select.sh does)"
    finished = {(p.parents[1].name, int(p.parent.name[4:]))
                for p in (ROOT / "results" / "select_study").glob("*/seed*/selection.json")}
    assert {(r["corpus"], r["seed"]) for r in module.rows(*module.load(ROOT / "results" / "select_study"))} == finished
