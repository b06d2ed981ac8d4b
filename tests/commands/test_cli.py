"""`arwsv eval` end to end: outputs, the sample file, and every bad input (one line, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from arwsv.cli import main

DATA = Path(__file__).resolve().parents[2] / "arwsv" / "resources"


def run_cli(*args):
    """Run `python -m arwsv` in a subprocess (what users run): (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "arwsv", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return proc.returncode, proc.stdout, proc.stderr


def test_sample_end_to_end(tmp_path):
    out_json, out_csv, out_png = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "det.png"
    code, stdout, stderr = run_cli("eval", DATA / "sample_scores.txt", "--meta", DATA / "sample_meta.csv",
                                   "--intersect", "--bootstrap", "30", "--json", out_json, "--csv", out_csv,
                                   "--plot", out_png, "--seed", "3")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    report = json.loads(out_json.read_text())
    assert set(report) == {"arwsv_version", "inputs", "settings", "overall", "attributes"}
    assert set(report["attributes"]) == {"gender", "nationality", "gender/nationality"}
    assert report["inputs"]["format"] == "speechbrain"
    female = report["attributes"]["gender"]["groups"]["female"]
    assert {"eer", "min_dcf@0.01", "min_dcf@0.05", "fnmr", "fmr", "eer_ratio_to_mean", "ci"} <= set(female)
    # the terminal table shows the JSON's numbers
    assert f"{100 * female['eer']:.2f}" in stdout
    tidy = pd.read_csv(out_csv)
    row = tidy[(tidy.attribute == "gender") & (tidy.group == "female") & (tidy.metric == "eer")]
    assert row["value"].item() == pytest.approx(female["eer"], rel=1e-5)
    assert row["ci_low"].item() == pytest.approx(female["ci"]["eer"][0], rel=1e-5)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_report(tmp_path):
    args = ["eval", DATA / "sample_scores.txt", "--meta", DATA / "sample_meta.csv", "--bootstrap", "20", "--quiet"]
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert main([*map(str, args), "--seed", str(seed), "--json", str(tmp_path / f"{name}.json")]) == 0
    a, b, c = ((tmp_path / f"{n}.json").read_text() for n in "abc")
    assert a == b and a != c


def test_min_targets_pools_like_the_paper(tmp_path):
    out = tmp_path / "r.json"
    assert main(["eval", str(DATA / "sample_scores.txt"), "--meta", str(DATA / "sample_meta.csv"), "--groups",
                 "nationality", "--min-targets", "400", "--quiet", "--json", str(out)]) == 0
    part = json.loads(out.read_text())["attributes"]["nationality"]
    assert "other" in part["groups"] and part["pooled_into_other"]
    assert all(g["n_targets"] >= 400 for k, g in part["groups"].items() if k != "other")


def test_without_meta_reports_overall(capsys):
    assert main(["eval", str(DATA / "sample_scores.txt")]) == 0
    assert "all" in capsys.readouterr().out


# ---- bad input -------------------------------------------------------------------------------

GOOD = "id1/v/1.wav id1/v/2.wav 1 0.9\nid1/v/1.wav id2/v/1.wav 0 0.2\nid2/v/1.wav id2/w/2.wav 1 0.7\n"
META = "id\tgender\tnationality\nid1\tm\tUSA\nid2\tf\tUK\n"


@pytest.mark.parametrize("scores,meta,extra,needle,line", [
    (None, META, [], "no such file", None),
    ("\x00\x01\xff\xfe binary", META, [], "not valid UTF-8 text", 1),
    ("a b c d e f\ng h i j k l\n", META, [], "cannot tell the score-file format", 1),
    ("enrol,test,label\nid1/v/1,id1/v/2,1\n", META, [], "cannot find the score column", 1),
    ("enrol,test,score,Score,label\nid1/v/1,id1/v/2,0.3,0.3,1\n", META, [], "duplicate column name", 1),
    (GOOD + "id3/v/1.wav id3/v/2.wav 1 0.5\n", META, [], "1 of 3 speakers", None),
    (GOOD + "id1/v/1.wav id2/v/2.wav 0 nan\n", META, [], "score is missing", 4),
    (GOOD + "id1/v/1.wav id2/v/2.wav 0 inf\n", META, [], "score is inf", 4),
    (GOOD + "id1/v/1.wav id2/v/2.wav 0 0.1x\n", META, [], "score '0.1x' is not a number", 4),
    (GOOD + "\nid1/v/1.wav id2/v/2.wav maybe 0.1\n", META, [], "label 'maybe' is not one of", 5),
    (GOOD + "id1/v/1.wav id2/v/2.wav 0 0.1 extra\n", META, [], "wrong number of columns", 4),
    ("", META, [], "file is empty", None),
    ("\n\n", META, [], "file is empty", None),
    (GOOD, "id\tgender\nid1\tm\nid2\tf\nid1\tf\n", [], "appears twice", 4),
    (GOOD, META, ["--groups", "age"], "no column for 'age'", None),
    (GOOD, META, ["--p-target", "1.5"], "--p-target: 1.5 is not strictly between 0 and 1", None),
    (GOOD, META, ["--json", "/nonexistent/dir/r.json"], "does not exist", None),
    ("id1/v/1.wav id1/v/2.wav 0.9\n", META, [], "pass the trial list with --trials", 1),
    (GOOD, META, ["--bootstrap", "2", "--seed", "-1"], "--seed must be >= 0", None),
    (GOOD, META, ["--c-miss", "inf"], "--c-miss and --c-fa must be finite and > 0", None),
    (GOOD, META, ["--c-fa", "nan"], "--c-miss and --c-fa must be finite and > 0", None),
])
def test_bad_input_one_line_exit_2(tmp_path, scores, meta, extra, needle, line):
    scores_path, meta_path = tmp_path / "scores.txt", tmp_path / "meta.tsv"
    if scores is not None:
        if "\x00" in scores:
            scores_path.write_bytes(scores.encode("latin-1"))
        else:
            scores_path.write_text(scores)
    meta_path.write_text(meta)
    code, stdout, stderr = run_cli("eval", scores_path, "--meta", meta_path, *extra)
    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert needle in lines[0]
    assert lines[0].startswith("arwsv eval: error: ")
    if line is not None:
        assert f":{line}: " in lines[0], lines[0]


def test_unknown_speakers_allowed_with_flag(tmp_path, capsys):
    scores = tmp_path / "s.txt"
    scores.write_text(GOOD + "id3/v/1.wav id3/v/2.wav 1 0.5\nid3/v/1.wav id1/v/2.wav 0 0.4\n")
    meta = tmp_path / "m.tsv"
    meta.write_text(META)
    out = tmp_path / "r.json"
    assert main(["eval", str(scores), "--meta", str(meta), "--allow-unknown", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["inputs"]["n_unknown_speakers"] == 1
    assert report["attributes"]["gender"]["n_unlabelled_trials"] == 2
    assert "1 speakers have no metadata" in capsys.readouterr().err


def test_group_without_targets_reported_as_na(tmp_path, capsys):
    scores = tmp_path / "s.txt"
    scores.write_text("id1/v/1 id1/v/2 1 0.9\nid1/v/1 id2/v/1 0 0.2\nid2/v/1 id3/v/1 0 0.6\n")
    meta = tmp_path / "m.tsv"
    meta.write_text("id\tgender\nid1\tm\nid2\tf\nid3\tf\n")
    assert main(["eval", str(scores), "--meta", str(meta), "--json", str(tmp_path / "r.json")]) == 0
    assert "n/a" in capsys.readouterr().out
    groups = json.loads((tmp_path / "r.json").read_text())["attributes"]["gender"]["groups"]
    assert groups["female"]["eer"] is None and groups["female"]["n_targets"] == 0


def test_failed_run_keeps_previous_outputs(tmp_path):
    out = tmp_path / "r.json"
    out.write_text('{"previous": true}')
    bad = tmp_path / "bad.txt"
    bad.write_text(GOOD + "id1/v/1.wav id2/v/2.wav 0 nan\n")
    code, _, _ = run_cli("eval", bad, "--json", out)
    assert code == 2
    assert out.read_text() == '{"previous": true}'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_output_cannot_overwrite_input(tmp_path):
    scores = tmp_path / "s.txt"
    scores.write_text(GOOD)
    code, _, stderr = run_cli("eval", scores, "--csv", scores)
    assert code == 2 and "would overwrite an input file" in stderr
    assert scores.read_text() == GOOD


def test_kaldi_missing_score_names_trials_line(tmp_path):
    trials = tmp_path / "trials"
    trials.write_text("id1/v/1 id1/v/2 target\nid1/v/1 id2/v/1 nontarget\nid2/v/1 id2/w/2 target\n")
    scores = tmp_path / "scores"
    scores.write_text("id1/v/1 id1/v/2 0.9\nid2/v/1 id2/w/2 0.4\n")
    code, _, stderr = run_cli("eval", scores, "--trials", trials)
    assert code == 2 and f"{trials}:2: 1 trials have no score" in stderr
    scores.write_text("id1/v/1 id1/v/2 0.9\nid1/v/1 id2/v/1 0.1\nid2/v/1 id2/w/2 0.4\nid2/v/1 id2/w/2 0.5\n")
    code, _, stderr = run_cli("eval", scores, "--trials", trials)
    assert code == 2 and f"{scores}:4: duplicate score" in stderr


def test_groups_by_alias_and_single_trial(tmp_path):
    scores = tmp_path / "s.txt"
    scores.write_text("id1/v/1 id1/v/2 1 0.9\n")
    meta = tmp_path / "m.tsv"
    meta.write_text("id\tGender\nid1\tm\n")
    out = tmp_path / "r.json"
    assert main(["eval", str(scores), "--meta", str(meta), "--groups", "sex", "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    male = report["attributes"]["sex"]["groups"]["male"]  # m/f normalised through the alias too
    assert male["eer"] is None and male["fnmr"] is None  # no overall threshold: n/a, not 100 %


def test_building_the_parser_imports_no_heavy_module():
    """Every subcommand's parser is built by ``arwsv --help``: none may pull in torch, pandas or the experiments."""
    code = ("import sys; from arwsv.cli import build_parser; build_parser(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'speechbrain', 'pandas', 'numpy', "
            "'sklearn', 'matplotlib') or m.startswith(('arwsv.experiments', 'arwsv.training', 'arwsv.selection'))]; "
            "assert not bad, sorted(bad)[:5]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ---- the real layout (issue 40): CSV `ref_file,com_file,sc,lab`, CRLF, utterance paths --------------------

REAL_ROWS = [("id1/v/00001.wav", "id1/w/00002.wav", "0.913570", "1"), ("id1/v/00001.wav", "id2/x/00001.wav", "0.120442", "0"),
             ("id2/x/00001.wav", "id2/y/00003.wav", "0.771008", "1"), ("id2/x/00001.wav", "id1/w/00002.wav", "0.309911", "0"),
             ("id1/w/00002.wav", "id1/v/00003.wav", "0.640012", "1"), ("id2/y/00003.wav", "id1/v/00003.wav", "-0.051000", "0")]


def _real(rows=REAL_ROWS, header="ref_file,com_file,sc,lab", ends=None, last_end=True, quote=False) -> bytes:
    """A real-layout score file; ``ends``: each line's end (CRLF by default)."""
    lines = [header] + [",".join(f'"{f}"' if quote and j != 3 else f for j, f in enumerate(r)) for r in rows]
    ends = ends or ["\r\n"] * len(lines)
    text = "".join(line + end for line, end in zip(lines, ends))
    return (text if last_end else text.rstrip("\r\n")).encode()


def _eval_json(tmp_path, name: str, data: bytes, *extra):
    path = tmp_path / name
    path.write_bytes(data)
    (tmp_path / "meta.tsv").write_text(META)
    out = tmp_path / f"{name}.json"
    code, stdout, stderr = run_cli("eval", path, "--meta", tmp_path / "meta.tsv", "--quiet", "--json", out, *extra)
    return code, stderr, (json.loads(out.read_text()) if code == 0 else None)


def _numbers(report: dict) -> dict:
    return {"overall": report["overall"], "attributes": report["attributes"]}


@pytest.mark.parametrize("name,data", [
    ("mixed_line_ends.csv", _real(ends=["\r\n", "\n", "\r\n", "\n", "\n", "\r\n", "\r\n"])),
    ("old_mac_line_ends.csv", _real(ends=["\r"] * 7)),
    ("no_final_line_end.csv", _real(last_end=False)),
    ("quoted_fields.csv", _real(quote=True)),
    ("lf_only.csv", _real(ends=["\n"] * 7)),
])
def test_real_layout_variants_read_as_the_plain_file(tmp_path, name, data):
    code, stderr, plain = _eval_json(tmp_path, "plain.csv", _real())
    assert code == 0, stderr
    code, stderr, report = _eval_json(tmp_path, name, data)
    assert code == 0, stderr
    assert _numbers(report) == _numbers(plain)


def test_real_layout_header_with_other_names(tmp_path):
    data = _real(header="utt_a,utt_b,similarity_value,same_speaker")
    code, stderr, _ = _eval_json(tmp_path, "renamed.csv", data)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arwsv eval: error: ") and "renamed.csv:1: " in lines[0], stderr
    assert "cannot find the enrol and test and score columns" in lines[0] and "--score-col" in lines[0]
    code, stderr, report = _eval_json(tmp_path, "renamed.csv", data, "--enrol-col", "utt_a", "--test-col", "utt_b",
                                      "--score-col", "similarity_value")
    assert code == 0, stderr
    assert _numbers(report) == _numbers(_eval_json(tmp_path, "plain.csv", _real())[2])


@pytest.mark.parametrize("name,data,needle,line", [
    # a quote opened and never closed: the rest of the line is one field
    ("unterminated_quote.csv", _real().replace(b"\r\nid2/x/00001.wav,id2/y", b'\r\n"id2/x/00001.wav,id2/y'),
     "wrong number of columns: 1, expected 4", 4),
    # a line end inside a quoted field
    ("line_end_in_quotes.csv", _real().replace(b"\r\nid2/x/00001.wav,id2/y", b'\r\n"id2/x/\n00001.wav",id2/y'),
     "wrong number of columns: 1, expected 4", 4),
    ("late_bad_score.csv", _real(REAL_ROWS * 60 + [("id1/v/00001.wav", "id2/x/00009.wav", "0.1.2", "0")]),
     "score '0.1.2' is not a number", 362),
    ("late_extra_field.csv", _real(REAL_ROWS * 60 + [("id1/v/00001.wav", "id2/x/00009.wav", "0.1", "0", "x")]),
     "wrong number of columns", 362),
    ("late_missing_label.csv", _real(REAL_ROWS * 60 + [("id1/v/00001.wav", "id2/x/00009.wav", "0.1", "NA")]),
     "missing label", 362),
    ("late_empty_id.csv", _real(REAL_ROWS * 60 + [("", "id2/x/00009.wav", "0.1", "0")]),
     "missing enrol column value", 362),
    # a lone CR ends a line (as pandas reads it): the line before it has no score
    ("late_lone_cr.csv", _real(REAL_ROWS * 60 + [("id1/v/00001.wav", "id2/x/0\r0009.wav", "0.1", "0")]),
     "score is missing", 362),
])
def test_real_layout_bad_lines_one_line_exit_2(tmp_path, name, data, needle, line):
    code, stderr, _ = _eval_json(tmp_path, name, data)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("arwsv eval: error: ") and needle in lines[0], lines[0]
    assert f"{name}:{line}: " in lines[0], lines[0]


def test_eval_imports_neither_torch_nor_pandas_nor_scikit_learn(tmp_path):
    """A plain score file, the metadata and the table need numpy alone (torch costs seconds to import, pandas
    0.3 s, scikit-learn more); --calibrate adds SciPy's PAV, not scikit-learn; no plot, no matplotlib."""
    fixtures = Path(__file__).resolve().parents[1] / "evaluation" / "unchanged"  # 48 speakers, real layout
    code = ("import sys; from arwsv.cli import main; "
            f"assert main(['eval', r'{fixtures / 'rl_A.csv'}', '--meta', r'{fixtures / 'rl_meta.csv'}', '--intersect', "
            "'--calibrate', '--quiet']) == 0; "
            "bad = [m for m in ('pandas', 'sklearn', 'torch', 'torchaudio', 'speechbrain', 'matplotlib') "
            "if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
