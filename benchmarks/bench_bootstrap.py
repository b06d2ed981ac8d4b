"""Speed of the speaker bootstrap: `arwsv compare` (paired), `arwsv eval --bootstrap`, audit draws.

    python benchmarks/bench_bootstrap.py [--out results/benchmarks.md] [--replicates 1000]

On a VoxCeleb1-H-sized simulated trial list (about 550 k trials, 1,251 speakers, gender and
nationality), measured in one run:

1. ``arwsv compare A B --bootstrap 1000`` end to end (read both files, align, 1,000 paired
   replicates, table): target <= 10 s on 2 cores.
2. One bootstrap replicate of one system: the blocks of windowed curves of ``arwsv.evaluation.bootstrap``
   against one replicate at a time on the full weighted curves (the method before them; both give the same
   numbers, checked here).
3. One random-cohort draw of ``arwsv audit`` (a new labelling of the same trials): reusing the
   score sort against sorting again.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arwsv.experiments.simulate import simulate_trials  # noqa: E402


def _inputs(folder: Path, seed: int) -> tuple:
    trials, meta = simulate_trials(n_speakers=1251, trials_per_speaker=455, seed=seed)
    a, b = folder / "a.txt", folder / "b.txt"
    trials.to_csv(a, sep=" ", header=False, index=False)
    noisy = trials.assign(score=trials["score"] + np.random.default_rng(seed).normal(0, 0.2, len(trials)))
    noisy.to_csv(b, sep=" ", header=False, index=False)
    meta_path = folder / "vox1_meta.csv"
    meta.to_csv(meta_path, sep="\t", index=False)
    return a, b, meta_path, len(trials)


def _same(a, b) -> bool:
    """Equal to the last bit, nan equal to nan (json writes floats by their exact repr)."""
    import json

    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _wall(args) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arwsv", *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _replicate_times(scores: Path, meta: Path, rounds: int) -> tuple:
    """Seconds per replicate: the bootstrap's blocks of windowed curves (``FairnessEvaluation.bootstrap``)
    against one replicate at a time on the full weighted DET curves (the method before the windows), on the
    same draws; and whether the two give the same numbers."""
    from arwsv.evaluation import groups
    from arwsv.io.metadata import read_metadata
    from arwsv.io.scorefile import read_scores

    table = read_scores(scores)
    values = {a: read_metadata(meta).values(a, table.speakers) for a in ("gender", "nationality")}
    evaluation = groups.FairnessEvaluation(table, values, groups.EvalSettings(bootstrap=rounds, seed=1))
    evaluation.bootstrap(progress=False)  # prepares the windows once (counted in the end-to-end run)
    start = time.perf_counter()
    blocks = evaluation.bootstrap(progress=False)
    t_blocks = (time.perf_counter() - start) / rounds
    # the draws bootstrap() makes, in its order (its docstring: the same replicates as measure(m) per draw)
    rng = np.random.default_rng(1)
    n_spk = len(table.speakers)
    draws = [np.bincount(rng.integers(0, n_spk, size=n_spk), minlength=n_spk).astype(float) for _ in range(rounds)]
    windowed_curve = groups.FairnessEvaluation._curve

    def full_curve(self, group, multiplicity):  # the whole weighted DET curve, as before the windows
        curve = windowed_curve(self, group, multiplicity)
        return curve.full() if multiplicity is not None else curve

    groups.FairnessEvaluation._curve = full_curve
    try:
        start = time.perf_counter()
        full = [evaluation.measure(m) for m in draws]
        t_full = (time.perf_counter() - start) / rounds
    finally:
        groups.FairnessEvaluation._curve = windowed_curve
    return t_blocks, t_full, _same(blocks, full)


def _draw_times(scores: Path, meta: Path, rounds: int) -> tuple:
    from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
    from arwsv.io.scorefile import read_scores

    table = read_scores(scores)
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 8, len(table.speakers)).astype(str).astype(object) for _ in range(rounds)]
    first = FairnessEvaluation(table, {}, EvalSettings())
    times = {}
    for name, like in (("reuse", first), ("sort", None)):
        start = time.perf_counter()
        results = [FairnessEvaluation(table, {"c": v}, EvalSettings(), sorted_like=like).run(progress=False)
                   for v in labels]
        times[name] = ((time.perf_counter() - start) / rounds, results)
    return times["reuse"][0], times["sort"][0], _same(times["reuse"][1], times["sort"][1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also write the results as markdown here")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b, meta, n = _inputs(Path(tmp), args.seed)
        compare = _wall(["compare", a, b, "--meta", meta, "--bootstrap", args.replicates, "--quiet"])
        evaluate = _wall(["eval", a, "--meta", meta, "--bootstrap", args.replicates, "--quiet"])
        plain = _wall(["eval", a, "--meta", meta, "--quiet"])
        t_win, t_full, same = _replicate_times(a, meta, 20)
        t_reuse, t_sort, same_draws = _draw_times(a, meta, 10)
    lines = [
        "## Speaker bootstrap: `arwsv compare`, `arwsv eval --bootstrap`, audit draws",
        "",
        "Regenerate: `python benchmarks/bench_bootstrap.py --out results/benchmarks.md`",
        "",
        f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}; simulated VoxCeleb1-H-sized "
        f"list: {n:,} trials, 1,251 speakers, gender + nationality (harder than a good system: EER about 10 %, "
        "so the windows are wide).",
        "",
        "| measure | value | target | ratio to target |",
        "|---|---|---|---|",
        f"| `arwsv compare A B --bootstrap {args.replicates}` end to end (s) | {compare:.2f} | <= 10 | "
        f"{compare / 10:.2f} |",
        f"| `arwsv eval --bootstrap {args.replicates}` end to end (s); without bootstrap {plain:.2f} s | "
        f"{evaluate:.2f} | (no target) | |",
        "",
        "| one replicate of one system | blocks of windowed curves (ms) | one at a time, full weighted curves (ms) | "
        "speed-up | same numbers |",
        "|---|---|---|---|---|",
        f"| 20 replicates, overall + gender + nationality | {1e3 * t_win:.2f} | {1e3 * t_full:.2f} | "
        f"{t_full / t_win:.1f}x | {'yes' if same else 'NO'} |",
        "",
        "| one `arwsv audit` random-cohort draw (8 cohorts) | score sort reused (ms) | sorted again (ms) | speed-up | "
        "same numbers |",
        "|---|---|---|---|---|",
        f"| 10 draws | {1e3 * t_reuse:.1f} | {1e3 * t_sort:.1f} | {t_sort / t_reuse:.1f}x | "
        f"{'yes' if same_draws else 'NO'} |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        sys.path.insert(0, str(Path(__file__).parent))
        from _sections import update_section

        update_section(args.out, "bench_bootstrap", text)
    return 0 if same and same_draws else 1


if __name__ == "__main__":
    raise SystemExit(main())
