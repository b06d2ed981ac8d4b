"""Every output of `arwsv eval`, `eval --calibrate` and `arwsv compare` is byte-identical to what the code
before issue 40 (commit 541bd8d) wrote: tables, JSON, CSV, plots, and compare's bootstrap replicates.

The expected files in ``unchanged/expected`` were written by that code with

    cd /tmp && PYTHONPATH=<checkout of 541bd8d> python /work/main/tests/evaluation/test_outputs_unchanged.py --write

on a small score file in the layout public toolkits write for VoxCeleb1-H (``unchanged/rl_A.csv``,
``rl_B.csv``: CSV header ``ref_file,com_file,sc,lab``, CRLF, utterance paths; written by
``benchmarks/bench_audit_real_layout.py``'s generator) and on the shipped sample score file. PNGs are
compared by sha256 when matplotlib is the version that wrote them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "unchanged"
EXPECTED = HERE / "expected"
RESOURCES = Path(__file__).resolve().parents[2] / "arwsv" / "resources"

CASES = {
    "eval_rl": ["eval", "rl_A.csv", "--meta", "rl_meta.csv", "--intersect", "--bootstrap", "100", "--seed", "3",
                "--json", "eval_rl.json", "--csv", "eval_rl.csv", "--plot", "eval_rl.png"],
    "eval_rl_plain": ["eval", "rl_A.csv", "--meta", "rl_meta.csv", "--intersect", "--threshold", "0.3"],
    "eval_rl_cal": ["eval", "rl_A.csv", "--meta", "rl_meta.csv", "--intersect", "--calibrate", "--bootstrap", "50",
                    "--threshold", "0.3", "--json", "eval_rl_cal.json", "--csv", "eval_rl_cal.csv",
                    "--calibration-plot", "eval_rl_cal.png"],
    "compare_rl": ["compare", "rl_A.csv", "rl_B.csv", "--meta", "rl_meta.csv", "--bootstrap", "200", "--json",
                   "compare_rl.json", "--csv", "compare_rl.csv", "--plot", "compare_rl.png"],
    "compare_rl_gender_cal": ["compare", "rl_A.csv", "rl_B.csv", "--meta", "rl_meta.csv", "--groups", "gender",
                              "--calibrate", "--bootstrap", "200", "--seed", "7", "--json", "compare_rl_gc.json"],
    "eval_sample": ["eval", "sample_scores.txt", "--meta", "sample_meta.csv", "--intersect", "--bootstrap", "200",
                    "--seed", "0", "--json", "eval_sample.json", "--csv", "eval_sample.csv", "--plot",
                    "eval_sample.png"],
    "eval_sample_cal": ["eval", "sample_scores.txt", "--meta", "sample_meta.csv", "--calibrate", "--min-targets",
                        "100", "--bootstrap", "50", "--json", "eval_sample_cal.json", "--calibration-plot",
                        "eval_sample_cal.png"],
    "compare_sample": ["compare", "sample_scores.txt", "sample_b.txt", "--meta", "sample_meta.csv", "--intersect",
                       "--bootstrap", "200", "--json", "compare_sample.json", "--csv", "compare_sample.csv"],
}
# the paired replicates of compare (both systems), as a digest
REPLICATES = {"compare_rl": CASES["compare_rl"], "compare_sample": CASES["compare_sample"]}


def _sample_b(text: str) -> str:
    """System B of the sample: WeSpeaker format, reversed order, '.wav' dropped, scores moved by a fixed
    pattern (no random numbers, so the file is the same on every machine)."""
    out = []
    for i, line in enumerate(text.splitlines()):
        enrol, test, label, score = line.split()
        moved = float(score) + 0.3 * (((i * 7919) % 13) - 6) / 6
        out.append(f"{enrol.removesuffix('.wav')} {test} {moved:.5f} {'target' if label == '1' else 'nontarget'}")
    return "\n".join(reversed(out)) + "\n"


def _inputs(folder: Path) -> None:
    for name in ("rl_A.csv", "rl_B.csv", "rl_meta.csv"):
        shutil.copyfile(HERE / name, folder / name)
    for name in ("sample_scores.txt", "sample_meta.csv"):
        shutil.copyfile(RESOURCES / name, folder / name)
    (folder / "sample_b.txt").write_text(_sample_b((RESOURCES / "sample_scores.txt").read_text()))


def _normalise(name: str, data: bytes) -> bytes:
    if name.endswith(".json"):  # the package version is not an output of the code under test
        return re.sub(rb'"arwsv_version": "[^"]*"', b'"arwsv_version": ""', data)
    return data


def _replicates_digest(argv: list) -> str:
    from arwsv.cli import build_parser
    from arwsv.commands.eval import evaluate, read_table
    from arwsv.evaluation.compare import align_trials

    outputs = {i + 1 for i, a in enumerate(argv) if a in ("--json", "--csv", "--plot")}
    args = build_parser().parse_args([a for i, a in enumerate(argv) if i not in outputs and i + 1 not in outputs])
    a = read_table(args, args.scores_a, "compare")
    b = align_trials(a, read_table(args, args.scores_b, "compare"))
    digest = hashlib.sha256()
    for table, path in ((a, args.scores_a), (b, args.scores_b)):
        _, evaluation = evaluate(args, table, path, "compare")
        digest.update(json.dumps(evaluation.replicates, sort_keys=True).encode())
    return digest.hexdigest()


def _run(case: str, capsys) -> dict:
    """name -> bytes of every output of one case (the table as ``<case>.txt``), run in the current folder."""
    from arwsv.cli import main

    argv = CASES[case]
    capsys.readouterr()
    assert main(argv) == 0
    outputs = {f"{case}.txt": capsys.readouterr().out.encode()}
    for i, arg in enumerate(argv[:-1]):
        if arg in ("--json", "--csv", "--plot", "--calibration-plot"):
            outputs[argv[i + 1]] = Path(argv[i + 1]).read_bytes()
    return outputs


def _matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("unchanged")
    _inputs(out)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_are_those_before_issue_40(case, folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    digests = json.loads((EXPECTED / "digests.json").read_text())
    for name, data in _run(case, capsys).items():
        if name.endswith(".png"):
            if digests["matplotlib"] == _matplotlib_version():
                assert hashlib.sha256(data).hexdigest() == digests[name], name
            continue
        assert _normalise(name, data) == _normalise(name, (EXPECTED / name).read_bytes()), name


@pytest.mark.parametrize("case", list(REPLICATES))
def test_compare_replicates_are_those_before_issue_40(case, folder, monkeypatch):
    monkeypatch.chdir(folder)
    digests = json.loads((EXPECTED / "digests.json").read_text())
    assert _replicates_digest(REPLICATES[case]) == digests[f"{case} replicates"]


def _write() -> None:
    """Write the expected outputs with the arwsv on sys.path (run from outside the repository)."""
    import os
    import tempfile

    import arwsv

    print(f"writing with {arwsv.__file__}", file=sys.stderr)
    EXPECTED.mkdir(parents=True, exist_ok=True)

    class Capture:
        def readouterr(self):
            import io

            out = sys.stdout.getvalue() if isinstance(sys.stdout, io.StringIO) else ""
            sys.stdout = io.StringIO()

            class Result:
                pass

            result = Result()
            result.out = out
            return result

    digests = {"matplotlib": _matplotlib_version()}
    real_stdout = sys.stdout
    with tempfile.TemporaryDirectory() as tmp:
        _inputs(Path(tmp))
        os.chdir(tmp)
        for case in CASES:
            capture = Capture()
            try:
                outputs = _run(case, capture)
            finally:
                sys.stdout = real_stdout
            for name, data in outputs.items():
                if name.endswith(".png"):
                    digests[name] = hashlib.sha256(data).hexdigest()
                else:
                    (EXPECTED / name).write_bytes(_normalise(name, data))
        for case, argv in REPLICATES.items():
            digests[f"{case} replicates"] = _replicates_digest(argv)
        os.chdir("/")
    (EXPECTED / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write()
