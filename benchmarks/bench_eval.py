"""Speed and memory of `arwsv eval`, as ratios measured in one run (these machines are noisy).

    python benchmarks/bench_eval.py [--out results/benchmarks.md] [--skip-10m]

1. Metric kernels on the same scores: arwsv EER+minDCF vs SpeechBrain's ``EER``/``minDCF``
   (O(N^2); on a subsample where they finish), scikit-learn's ``roc_curve``-based EER, and a
   bare ``np.sort`` of the scores (the floor for any sort-based method).
2. The CLI end to end on a VoxCeleb1-H-sized CSV (550k trials, gender + nationality +
   intersection): wall time of ``python -m arwsv eval`` (target <= 2 s on 2 cores), and with
   ``--calibrate`` (cross-validated calibration, per-group Cllr / minCllr / actual DCF; target <= 3 s).
3. Peak memory (max RSS of the process) of the CLI on 10 M trials (target < 2 GB).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arwsv.evaluation.metrics import det_curve  # noqa: E402
from arwsv.experiments.simulate import simulate_trials  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def arwsv_metrics(scores, labels):
    det = det_curve(scores, labels)
    return det.eer()[0], det.min_dcf(0.01)[0]


def sklearn_eer(scores, labels):
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    k = int(np.nanargmin(np.abs(fnr - fpr)))
    return (fnr[k] + fpr[k]) / 2


def speechbrain_metrics(scores, labels):
    import torch
    from speechbrain.utils.metric_stats import EER, minDCF

    pos, neg = torch.from_numpy(scores[labels]), torch.from_numpy(scores[~labels])
    eer, _ = EER(pos, neg)
    dcf, _ = minDCF(pos, neg, c_miss=1.0, c_fa=1.0, p_target=0.01)
    return float(eer), float(dcf) / 0.01  # SpeechBrain's minDCF is not normalised


def kernel_rows(n_full: int, n_small: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    labels = rng.random(n_full) < 0.5
    scores = rng.normal(size=n_full) + 2.5 * labels
    rows = []
    small_s, small_l = scores[:n_small], labels[:n_small]
    t_ours_small = best_of(lambda: arwsv_metrics(small_s, small_l))
    t_sb = best_of(lambda: speechbrain_metrics(small_s, small_l), repeat=1)
    ours, sb = arwsv_metrics(small_s, small_l), speechbrain_metrics(small_s, small_l)
    rows.append((f"SpeechBrain EER+minDCF, N={n_small:,}", t_sb, t_ours_small,
                 f"EER {100 * sb[0]:.3f}% vs ours {100 * ours[0]:.3f}%; minDCF {sb[1]:.4f} vs {ours[1]:.4f}"))
    t_ours = best_of(lambda: arwsv_metrics(scores, labels))
    t_sk = best_of(lambda: sklearn_eer(scores, labels))
    rows.append((f"scikit-learn roc_curve EER, N={n_full:,}", t_sk, t_ours,
                 f"EER {100 * sklearn_eer(scores, labels):.3f}% (nearest point) vs ours {100 * arwsv_metrics(scores, labels)[0]:.3f}% (interpolated)"))
    t_sort = best_of(lambda: np.sort(scores))
    rows.append((f"bare np.sort, N={n_full:,}", t_sort, t_ours, "floor: any exact method sorts once"))
    return rows


def write_inputs(folder: Path, n_speakers: int, trials_per_speaker: int, seed: int, repeat: int = 1,
                 sep: str = ",", header: bool = True) -> tuple:
    trials, meta = simulate_trials(n_speakers=n_speakers, trials_per_speaker=trials_per_speaker, seed=seed)
    scores = folder / f"scores_{len(trials) * repeat}.{'csv' if header else 'txt'}"
    with open(scores, "w") as handle:
        for i in range(repeat):
            trials.to_csv(handle, sep=sep, header=header and i == 0, index=False)
    meta_path = folder / "vox1_meta.csv"
    meta.to_csv(meta_path, sep="\t", index=False)
    return scores, meta_path, len(trials) * repeat


def cli_wall(scores: Path, meta: Path, repeat: int = 3, extra=()) -> list:
    cmd = [sys.executable, "-m", "arwsv", "eval", str(scores), "--meta", str(meta), "--intersect", "--quiet", *extra]
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        walls.append(time.perf_counter() - start)
    return walls


def peak_rss_mb(scores: Path, meta: Path) -> float:
    """Max RSS of one CLI run, measured in a fresh parent so no other child is counted."""
    probe = ("import resource, subprocess, sys; "
             f"subprocess.run([sys.executable, '-m', 'arwsv', 'eval', r'{scores}', '--meta', r'{meta}', "
             "'--intersect', '--quiet'], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=ROOT)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also write the results as markdown here")
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10 M-trial memory run (~2 min)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    lines = ["## arwsv eval", "", "Regenerate: `python benchmarks/bench_eval.py --out results/benchmarks.md`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; ratios measured in one run.", "",
             "### Metric kernels (EER + minDCF@0.01 on the same scores; best of 3, SpeechBrain once)", "",
             "| compared with | their time (s) | arwsv (s) | ratio (theirs / ours) | values |",
             "|---|---|---|---|---|"]
    for name, theirs, ours, note in kernel_rows(550_000, 5_000, args.seed):
        lines.append(f"| {name} | {theirs:.4f} | {ours:.4f} | {theirs / ours:.2f} | {note} |")
    print("\n".join(lines), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        scores, meta, n = write_inputs(Path(tmp), n_speakers=1251, trials_per_speaker=456, seed=args.seed)
        walls = cli_wall(scores, meta)
        boot = cli_wall(scores, meta, repeat=1, extra=("--bootstrap", "100"))[0]
        calibrated = cli_wall(scores, meta, extra=("--calibrate",))
        calibrated_boot = cli_wall(scores, meta, repeat=1, extra=("--calibrate", "--bootstrap", "100"))[0]
        sort_time = best_of(lambda: np.sort(np.random.default_rng(0).normal(size=n)))
        part = ["", "### `arwsv eval` end to end (CSV with header on disk, gender + nationality + intersection)", "",
                "| input | wall (s), 3 runs | median / target 2 s |", "|---|---|---|",
                f"| {n:,} trials, 1,251 speakers | {', '.join(f'{w:.2f}' for w in walls)} | "
                f"{statistics.median(walls) / 2.0:.2f} |",
                f"| same, `--bootstrap 100` | {boot:.2f} | (no target) |",
                f"| same, `--calibrate` (target 3 s) | {', '.join(f'{w:.2f}' for w in calibrated)} | "
                f"{statistics.median(calibrated) / 3.0:.2f} of 3 s; {statistics.median(calibrated) / statistics.median(walls):.2f}x "
                "without |",
                f"| same, `--calibrate --bootstrap 100` | {calibrated_boot:.2f} | (no target) |",
                "", f"Median CLI wall / bare np.sort of {n:,} floats in-process: "
                f"{statistics.median(walls) / sort_time:.0f}x (start-up, CSV parsing and 4 partitions included)."]
        print("\n".join(part), flush=True)
        lines += part
        if not args.skip_10m:
            big, meta, n_big = write_inputs(Path(tmp), n_speakers=5000, trials_per_speaker=204, seed=args.seed,
                                            repeat=10, sep=" ", header=False)
            size_mb = big.stat().st_size / 2 ** 20
            start = time.perf_counter()
            rss = peak_rss_mb(big, meta)
            wall = time.perf_counter() - start
            part = ["", "### Memory on 10 M trials (SpeechBrain format, 5,000 speakers)", "",
                    "| trials | file (MB) | peak RSS (MB) | peak / target 2048 MB | wall (s) |", "|---|---|---|---|---|",
                    f"| {n_big:,} | {size_mb:.0f} | {rss:.0f} | {rss / 2048:.2f} | {wall:.1f} |"]
            print("\n".join(part), flush=True)
            lines += part
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(benchmark process peak RSS {own:.0f} MB)")
    if args.out:
        from _sections import update_section

        update_section(args.out, "bench_eval", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
