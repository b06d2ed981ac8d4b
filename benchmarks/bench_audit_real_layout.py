"""The audit on a real-layout VoxCeleb1-H score file (issue 40): eval, eval --calibrate, compare.

    python benchmarks/bench_audit_real_layout.py [--out results/benchmarks.md] [--repeats 7]
        [--versions before after] [--before-rev REV]

Writes, into a temporary folder, two systems' score files in the layout public toolkits write for
VoxCeleb1-H: a CSV with the header ``ref_file,com_file,sc,lab``, CRLF line ends, utterance paths
(``id10001/Y8hIVOBuels/00001.wav``) as ids, 550,894 trials of 1,190 speakers (non-targets of the
same gender and nationality), and a ``vox1_meta.csv`` (tab-separated, VoxCeleb1's header) of 1,251
speakers with genders and 36 nationalities. Then times, as the median of ``--repeats`` runs each:

- ``arwsv eval A --meta vox1_meta.csv --intersect``          (target <= 1.0 s)
- the same with ``--calibrate``                              (target <= 2.0 s)
- ``arwsv compare A B --meta vox1_meta.csv --bootstrap 1000`` (every group; target <= 5 s)
- the same with ``--groups gender``                          (target <= 3 s)
- ``arwsv --help``                                           (keep <= 0.15 s)

and compare's peak resident memory (target <= 500 MB). ``before`` runs the code of ``--before-rev``
(checked out with ``git worktree`` into the temporary folder), ``after`` the working tree. Both write
every output (tables, JSON, CSV, plots, compare's bootstrap replicates) once, untimed; the section says
whether they are byte-identical. A run with one version keeps the other version's column from the
section already in ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BEFORE_REV = "541bd8d"  # main before issue 40
SECTION = "bench_audit_real_layout"

# VoxCeleb1's nationalities, roughly in its proportions (1,251 speakers); the last ones are too rare
# for the H list, which keeps (gender, nationality) cells with enough speakers
_NATIONS = {"USA": 799, "UK": 216, "Canada": 54, "Australia": 32, "India": 26, "Ireland": 18, "Germany": 13,
            "Norway": 9, "Italy": 8, "Mexico": 8, "New Zealand": 7, "Sweden": 7, "Spain": 6, "Philippines": 5,
            "Netherlands": 5, "Russia": 4, "Croatia": 4, "Denmark": 3, "France": 3, "Chile": 3, "Switzerland": 3,
            "Poland": 3, "Brazil": 2, "Israel": 2, "Pakistan": 2, "Portugal": 2, "Trinidad and Tobago": 2,
            "Austria": 1, "Singapore": 1, "South Africa": 1, "Sri Lanka": 1, "Argentina": 1, "Iran": 1,
            "China": 1, "Guyana": 1, "Sudan": 1}
_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
COMMANDS = {  # row -> (arguments after the file names, target in s)
    "eval": (["--intersect"], 1.0),
    "eval --calibrate": (["--intersect", "--calibrate"], 2.0),
    "compare --bootstrap 1000": (["--bootstrap", "1000"], 5.0),
    "compare --bootstrap 1000 --groups gender": (["--bootstrap", "1000", "--groups", "gender"], 3.0),
    "--help": ([], 0.15),
}


def write_real_layout(folder, *, prefix: str = "vox1_H_", meta_name: str = "vox1_meta.csv", n_trials: int = 550_894, n_speakers: int = 1_190, n_meta: int = 1_251,
                      utts_per_speaker: int = 116, videos_per_speaker: int = 18, seed: int = 0) -> tuple:
    """Two systems' score files (A, B) and a vox1_meta.csv in the real layout; returns their paths.

    Speakers ``id10001``... of ``n_meta`` in the metadata; the ``n_speakers`` in the trials are those of
    the commonest (gender, nationality) cells. Half the trials are targets; a non-target's test speaker
    has the enrol speaker's gender and nationality (VoxCeleb1-H). Trials are grouped by enrol utterance,
    as the published lists are. System B scores the same trials in the same order, with noise.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    nations = rng.permutation(np.repeat(list(_NATIONS), list(_NATIONS.values())))
    nations = np.resize(nations, n_meta)  # VoxCeleb1's counts at n_meta = 1,251; a random share of them below
    gender = np.where(rng.random(n_meta) < 0.45, "f", "m")
    spk_ids = np.array([f"id{10001 + i}" for i in range(n_meta)], dtype=object)
    # the H list's speakers: the largest (gender, nationality) cells first
    cell = np.char.add(np.char.add(gender.astype(str), "/"), nations.astype(str))
    cells, cell_code, cell_size = np.unique(cell, return_inverse=True, return_counts=True)
    in_list = np.zeros(n_meta, dtype=bool)
    in_list[np.lexsort((np.arange(n_meta), -cell_size[cell_code]))[:n_speakers]] = True
    speakers = np.flatnonzero(in_list)
    # utterances: id/video/NNNNN.wav, VoxCeleb's 11-character video ids
    videos = np.array(["".join(v) for v in _ALPHABET[rng.integers(0, len(_ALPHABET),
                                                                   size=(n_meta * videos_per_speaker, 11))]])
    utt_video = rng.integers(0, videos_per_speaker, size=(n_meta, utts_per_speaker))
    utt_video.sort(axis=1)

    def utt_names(spk, utt):
        video = videos[spk * videos_per_speaker + utt_video[spk, utt]]
        return np.char.add(np.char.add(np.char.add(np.char.add(spk_ids[spk].astype(str), "/"), video), "/"),
                           np.char.add(np.char.zfill((utt + 1).astype(str), 5), ".wav"))

    n = int(n_trials * 1.02) + 1000
    a = speakers[rng.integers(0, len(speakers), size=n)]
    target = rng.random(n) < 0.5
    # a non-target's impostor: another listed speaker of the same cell
    listed_cell = cell_code[speakers]
    order = np.argsort(listed_cell, kind="stable")
    by_cell = speakers[order]
    size = np.bincount(listed_cell, minlength=len(cells))
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    ca = cell_code[a]
    pick = rng.integers(0, np.maximum(size[ca], 1))
    b = np.where(target, a, by_cell[np.minimum(start[ca] + pick, len(by_cell) - 1)])
    ok = target | (b != a)
    ua = rng.integers(0, utts_per_speaker, size=n)
    ub = np.where(target, (ua + 1 + rng.integers(0, utts_per_speaker - 1, size=n)) % utts_per_speaker,
                  rng.integers(0, utts_per_speaker, size=n))
    key = (a.astype(np.int64) * utts_per_speaker + ua) * (n_meta * utts_per_speaker) + b * utts_per_speaker + ub
    _, first = np.unique(np.where(ok, key, -1), return_index=True)
    keep = np.sort(first[ok[first]])[:n_trials]
    if len(keep) < n_trials:
        raise RuntimeError("too few distinct trials drawn")
    a, b, ua, ub, target = a[keep], b[keep], ua[keep], ub[keep], target[keep]
    by_enrol = np.lexsort((ub, b, ua, a))  # the published lists go enrol utterance by enrol utterance
    a, b, ua, ub, target = a[by_enrol], b[by_enrol], ua[by_enrol], ub[by_enrol], target[by_enrol]
    # cosine-like scores; women and the smaller nationalities a little harder
    spk_d = 0.45 + rng.normal(0.0, 0.05, n_meta) - 0.05 * (gender == "f") - 0.04 * (nations != "USA")
    score_a = np.where(target, spk_d[a], 0.08) + rng.normal(0.0, 0.11, len(a))
    score_b = score_a + rng.normal(0.0, 0.03, len(a)) + 0.02 * (target & (gender[a] == "f"))
    enrol, test = utt_names(a, ua), utt_names(b, ub)
    label = target.astype(np.int8).astype(str)
    paths = []
    for name, score in (("A", score_a), ("B", score_b)):
        path = folder / f"{prefix}{name}.csv"
        lines = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(enrol, ","), test), ","),
                                        np.char.mod("%.6f", score)), np.char.add(",", label))
        with open(path, "w", newline="") as handle:
            handle.write("ref_file,com_file,sc,lab\r\n")
            handle.write("\r\n".join(lines.tolist()) + "\r\n")
        paths.append(path)
    meta = folder / meta_name
    with open(meta, "w", newline="") as handle:
        handle.write("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n")
        for i in range(n_meta):
            handle.write(f"{spk_ids[i]}\tPerson_{i}\t{gender[i]}\t{nations[i]}\t{'test' if i < 40 else 'dev'}\n")
    return paths[0], paths[1], meta


def _argv(row: str, a: Path, b: Path, meta: Path) -> list:
    """The command of a row, as the issue times it (the table printed, to /dev/null)."""
    extra, _ = COMMANDS[row]
    if row == "--help":
        return ["--help"]
    files = [str(a)] if row.startswith("eval") else [str(a), str(b)]
    return [row.split()[0], *files, "--meta", str(meta), *extra]


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}


def time_rows(tree: Path, a: Path, b: Path, meta: Path, repeats: int) -> dict:
    """row -> list of wall times (s) of ``python -m arwsv`` with the package of ``tree``."""
    walls = {row: [] for row in COMMANDS}
    for _ in range(repeats):  # interleaved, so a slow spell of the machine hits every row alike
        for row in COMMANDS:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "arwsv", *_argv(row, a, b, meta)], check=True, cwd=tree,
                           env=_env(tree), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls[row].append(time.perf_counter() - start)
    return walls


def peak_rss_mb(tree: Path, argv: list) -> float:
    """Max RSS of one CLI run, measured in a fresh parent so no other child is counted."""
    probe = ("import resource, subprocess, sys; "
             f"subprocess.run([sys.executable, '-m', 'arwsv', *{argv!r}], check=True, stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tree,
                         env=_env(tree))
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # KiB on Linux


_REPLICATES = """
import hashlib, json, sys
from arwsv.cli import build_parser
from arwsv.commands.eval import evaluate, read_table
from arwsv.evaluation.compare import align_trials
args = build_parser().parse_args(sys.argv[1:])
a = read_table(args, args.scores_a, "compare")
b = align_trials(a, read_table(args, args.scores_b, "compare"))
digest = hashlib.sha256()
for table, path in ((a, args.scores_a), (b, args.scores_b)):
    _, evaluation = evaluate(args, table, path, "compare")
    digest.update(json.dumps(evaluation.replicates, sort_keys=True).encode())
print(digest.hexdigest())
"""


def output_digests(tree: Path, a: Path, b: Path, meta: Path, out: Path) -> dict:
    """sha256 of every output of eval, eval --calibrate and compare (run from ``out``, relative names)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in (a, b, meta):
        link = out / f.name
        if not link.exists():
            link.symlink_to(f)
    runs = {
        "eval": ["eval", a.name, "--meta", meta.name, "--intersect", "--bootstrap", "100", "--json", "eval.json",
                 "--csv", "eval.csv", "--plot", "eval.png"],
        "eval-calibrate": ["eval", a.name, "--meta", meta.name, "--intersect", "--calibrate", "--bootstrap", "50",
                           "--json", "cal.json", "--csv", "cal.csv", "--calibration-plot", "cal.png"],
        "compare": ["compare", a.name, b.name, "--meta", meta.name, "--bootstrap", "1000", "--json",
                    "compare.json", "--csv", "compare.csv", "--plot", "compare.png"],
        "compare-gender": ["compare", a.name, b.name, "--meta", meta.name, "--groups", "gender", "--bootstrap",
                           "1000", "--calibrate", "--json", "compare_gender.json"],
    }
    digests = {}
    for name, argv in runs.items():
        proc = subprocess.run([sys.executable, "-m", "arwsv", *argv], cwd=out, env=_env(tree), capture_output=True,
                              check=True)
        digests[f"{name} (table)"] = hashlib.sha256(proc.stdout).hexdigest()
    for f in sorted(out.iterdir()):
        if f.suffix in (".json", ".csv", ".png") and not f.is_symlink():
            text = f.read_bytes()
            if f.suffix == ".json":  # the version string is not an output of the change
                text = re.sub(rb'"arwsv_version": "[^"]*"', b'"arwsv_version": ""', text)
            digests[f.name] = hashlib.sha256(text).hexdigest()
    proc = subprocess.run([sys.executable, "-c", _REPLICATES, "compare", a.name, b.name, "--meta", meta.name,
                           "--bootstrap", "1000"], cwd=out, env=_env(tree), capture_output=True, text=True,
                          check=True)
    digests["compare replicates"] = proc.stdout.strip()
    return digests


_STEPS = r"""
import json, statistics, subprocess, sys, time
import numpy as np
a, b, meta, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import arwsv.io.scorefile as scorefile
from arwsv.evaluation import parallel
from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
from arwsv.io.metadata import read_metadata


def timed(fn, n=repeats):
    walls = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def python(code):  # a fresh interpreter's wall time for ``code``, median
    return timed(lambda: subprocess.run([sys.executable, "-c", code], check=True))


out = {}
fast = scorefile._fast_rows
scorefile._fast_rows = lambda *args: None
out["read, pandas reader"] = timed(lambda: scorefile.read_scores(a))
scorefile._fast_rows = fast
out["read, numpy reader"] = timed(lambda: scorefile.read_scores(a))
bare = python("import numpy")
out["import pandas (beyond numpy)"] = python("import numpy, pandas") - bare
out["import scikit-learn's PAV (beyond numpy)"] = python("import numpy; from sklearn.isotonic import isotonic_regression") - bare
out["load SciPy's PAV alone (beyond numpy)"] = python(
    "import numpy; from arwsv.evaluation.calibration import _scipy_pava; _scipy_pava()") - bare
table = scorefile.read_scores(a)
m = read_metadata(meta)
values = {k: m.values(k, table.speakers) for k in ("gender", "nationality")}
out["import scipy.special (beyond numpy)"] = python("import numpy, scipy.special") - bare
out["load expit alone (beyond numpy)"] = python(
    "import numpy; from arwsv.evaluation.calibration import _expit; _expit()") - bare
n = 320
ev = FairnessEvaluation(table, values, EvalSettings(bootstrap=n, seed=0))
ev.measure()
rng = np.random.default_rng(0)
draws = [np.bincount(rng.integers(0, len(table.speakers), len(table.speakers)), minlength=len(table.speakers))
         .astype(float) for _ in range(n)]
out["bootstrap, 320 replicates one at a time (BootstrapCurve)"] = timed(lambda: [ev.measure(d) for d in draws], 1)
out["bootstrap, 320 replicates in blocks"] = timed(lambda: ev.bootstrap(False))
from arwsv.evaluation.calibration import cross_validated_llr
args = (table.scores, table.is_target, table.enrol_spk, table.test_spk, len(table.speakers))
parallel.THREADS = 1
out["cross-validated calibration (15 fits), 1 thread"] = timed(lambda: cross_validated_llr(*args))
parallel.THREADS = None
out["cross-validated calibration (15 fits), all cores"] = timed(lambda: cross_validated_llr(*args))
from arwsv.cli import build_parser
from arwsv.commands.compare import _read_both
from arwsv.commands.eval import read_table
cli = build_parser().parse_args(["compare", a, b, "--meta", meta])
out["compare reads A then B"] = timed(lambda: (read_table(cli, a, "compare"), read_table(cli, b, "compare")))
out["compare reads A and B at once"] = timed(lambda: _read_both(cli, read_table))
print(json.dumps(out))
"""


def steps(tree: Path, a: Path, b: Path, meta: Path, repeats: int) -> dict:
    """Seconds of each step's before and after, in one process of the working tree (median of ``repeats``)."""
    out = subprocess.run([sys.executable, "-c", _STEPS, str(a), str(b), str(meta), str(repeats)], cwd=tree,
                         env=_env(tree), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _previous(path) -> dict:
    """The measurements recorded in the section already in ``path`` (to keep a version not re-measured)."""
    if not path or not Path(path).exists():
        return {}
    match = re.search(rf"<!-- {SECTION} -->.*?<!-- data: (.*?) -->.*?<!-- /{SECTION} -->", Path(path).read_text(), re.S)
    return json.loads(match.group(1)) if match else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also write the section into this markdown file (results/benchmarks.md)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--versions", nargs="+", default=["before", "after"], choices=["before", "after"])
    parser.add_argument("--before-rev", default=BEFORE_REV, help="the commit timed as 'before'")
    parser.add_argument("--no-outputs", action="store_true", help="skip the byte-identity check of the outputs")
    parser.add_argument("--keep", help="write the score files here (kept) instead of a temporary folder")
    parser.add_argument("--smoke", action="store_true", help="a small file (20,000 trials), to try the script")
    parser.add_argument("--steps", action="store_true", help="also time each optimisation step in one process")
    parser.add_argument("--no-timing", action="store_true", help="keep the timings already in --out")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = Path(args.keep) if args.keep else tmp
        folder.mkdir(parents=True, exist_ok=True)
        a, b, meta = write_real_layout(folder, **(dict(n_trials=20_000, n_speakers=200, n_meta=230) if args.smoke
                                                    else {}))
        trees = {}
        if "before" in args.versions:
            trees["before"] = tmp / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(trees["before"]), args.before_rev], cwd=ROOT,
                           check=True, capture_output=True)
        if "after" in args.versions:
            trees["after"] = ROOT
        try:
            medians, walls, rss, digests = {}, {}, {}, {}
            for version, tree in trees.items():
                if not args.no_timing:
                    walls[version] = time_rows(tree, a, b, meta, args.repeats)
                    medians[version] = {row: statistics.median(w) for row, w in walls[version].items()}
                    rss[version] = peak_rss_mb(tree, _argv("compare --bootstrap 1000", a, b, meta))
                    print(version, {row: f"{m:.3f}" for row, m in medians[version].items()},
                          f"rss {rss[version]:.0f} MB", flush=True)
                if not args.no_outputs:
                    digests[version] = output_digests(tree, a, b, meta, tmp / f"outputs_{version}")
            step_times = steps(ROOT, a, b, meta, 3) if args.steps else None
        finally:
            if "before" in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees["before"])], cwd=ROOT,
                               capture_output=True)
        previous = _previous(args.out)
        n_lines = sum(1 for _ in open(a, "rb")) - 1
    data = {key: previous[key] for key in ("before", "after", "steps") if key in previous}
    for version in trees:
        old = previous.get(version, {})
        data[version] = {"walls": ({row: [round(w, 4) for w in ws] for row, ws in walls[version].items()}
                                   if version in walls else old.get("walls", {})),
                         "rss_mb": round(rss[version], 1) if version in rss else old.get("rss_mb"),
                         "digests": digests.get(version, old.get("digests", {}))}
    if step_times:
        data["steps"] = {k: round(v, 4) for k, v in step_times.items()}
    if all(data.get(v, {}).get("digests") for v in ("before", "after")):
        before, after = data["before"]["digests"], data["after"]["digests"]
        data["identical"] = [k for k in before if before[k] == after.get(k)]
        data["outputs"] = sorted(before)
    lines = ["## The audit on a real-layout VoxCeleb1-H score file (issue 40)", "",
             "Regenerate: `python benchmarks/bench_audit_real_layout.py --out results/benchmarks.md` "
             f"(before = `{args.before_rev}`, checked out with `git worktree`; `--versions after` re-times the "
             "working tree alone)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; measured "
             "with the machine quiet. Input: CSV `ref_file,com_file,sc,lab`, CRLF, utterance paths as ids, "
             f"{n_lines:,} trials, 1,190 speakers, `vox1_meta.csv` (1,251 speakers, gender, 36 nationalities); "
             f"two systems. Wall time of `python -m arwsv ...` (the table printed to /dev/null), median of "
             f"{args.repeats} runs interleaved across the rows (before and after timed in separate runs of the "
             "script, `--versions`). The issue's own figures (1.53, 3.18, 13.8, 8.7 s) came from another file of this "
             "layout; on this one the code before takes longer.", "",
             "| command | before (s) | after (s) | target (s) | after / target |", "|---|---|---|---|---|"]
    for row, (extra, target) in COMMANDS.items():
        cells = []
        for version in ("before", "after"):
            ws = data.get(version, {}).get("walls", {}).get(row)
            cells.append("-" if not ws else (f"{statistics.median(ws):.3f}" if row == "--help" else
                                            f"{statistics.median(ws):.2f}"))
        after = data.get("after", {}).get("walls", {}).get(row)
        ratio = f"{statistics.median(after) / target:.2f}" if after else "-"
        if row == "--help":
            name = "`arwsv --help`"
        else:
            files = "A B" if row.startswith("compare") else "A"
            name = f"`arwsv {row.split()[0]} {files} --meta vox1_meta.csv {' '.join(extra)}`".replace(" `", "`")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | <= {target:g} | {ratio} |")
    lines.append("")
    for version in ("before", "after"):
        if data.get(version, {}).get("rss_mb"):
            lines.append(f"- compare's peak RSS (all groups, 1,000 replicates), {version}: "
                         f"{data[version]['rss_mb']:.0f} MB (target <= 500 MB)")
    if "identical" in data:
        differ = sorted(set(data["outputs"]) - set(data["identical"]))
        lines.append(f"- outputs byte-identical before and after: {len(data['identical'])} of {len(data['outputs'])} "
                     "(tables, JSON, CSV and PNG of `eval --intersect --bootstrap 100`, `eval --intersect --calibrate "
                     "--bootstrap 50`, `compare --bootstrap 1000`, `compare --groups gender --calibrate --bootstrap "
                     "1000`, and compare's 2 x 1,000 replicates)" + (f"; DIFFER: {', '.join(differ)}" if differ else ""))
    if "steps" in data:
        st = data["steps"]
        SKLEARN, PAV = "import scikit-learn's PAV (beyond numpy)", "load SciPy's PAV alone (beyond numpy)"
        lines += ["", "What each step bought, timed in one process of the working tree (median of 3; the old way "
                  "switched back on where it still exists):", "", "| step | old way (s) | new way (s) |", "|---|---|---|",
                  f"| read the score file: pandas reader -> numpy reader on the bytes | "
                  f"{st['read, pandas reader']:.3f} | {st['read, numpy reader']:.3f} |",
                  f"| no pandas import in `eval` (metadata, table, groups without it) | "
                  f"{st['import pandas (beyond numpy)']:.3f} | 0 |",
                  f"| minCllr's PAV without importing scikit-learn (SciPy's PAV loaded alone) | "
                  f"{st[SKLEARN]:.3f} | {st[PAV]:.3f} |",
                  f"| calibration's expit without importing the rest of scipy.special | "
                  f"{st['import scipy.special (beyond numpy)']:.3f} | {st['load expit alone (beyond numpy)']:.3f} |",
                  f"| bootstrap, one system, all groups, 320 replicates: one at a time -> blocks | "
                  f"{st['bootstrap, 320 replicates one at a time (BootstrapCurve)']:.3f} | "
                  f"{st['bootstrap, 320 replicates in blocks']:.3f} |",
                  f"| cross-validated calibration: 15 fits on all cores | "
                  f"{st['cross-validated calibration (15 fits), 1 thread']:.3f} | "
                  f"{st['cross-validated calibration (15 fits), all cores']:.3f} |",
                  f"| compare: A and B read at once (two threads) | {st['compare reads A then B']:.3f} | "
                  f"{st['compare reads A and B at once']:.3f} |"]
    lines.append(f"<!-- data: {json.dumps(data)} -->")
    text = "\n".join(lines)
    print(text)
    if args.out:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _sections import update_section

        update_section(args.out, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
