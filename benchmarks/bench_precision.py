"""The paper-scale training step in bf16 (or fp16) against fp32: speed, and the same loss curve.

Two trainers of ``recipes/voxceleb/ecapa_baseline.yaml``'s model and loss head (ECAPA-TDNN 512/1536, 192-d,
AAM over 3 x 5,994 classes + pairwise loss; 128 speakers x 2 crops of 2 s of random audio) start from the same
weights and take the same ``--steps`` batches, steps interleaved (one run, one machine). Prints each precision's
median step time and the speed-up, and compares the loss curves: the largest gap between their 20-step moving
averages, relative to fp32's. Writes the curves as a PNG. Target (issue 38): bf16 >= 1.5x faster than fp32 with the
same loss curve over 200 steps. A GPU check; ``--smoke`` runs a tiny model on the CPU to test the script.

    python benchmarks/bench_precision.py --device cuda --steps 200 --out results/benchmarks.md \\
        --plot results/precision_curves.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    import torch

    from bench_voxceleb_step import _batch, _trainer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--low", default="bf16", choices=["bf16", "fp16"])
    parser.add_argument("--smoke", action="store_true", help="a tiny model on the CPU: checks the script runs")
    parser.add_argument("--out", help="markdown file whose bench_precision section is replaced")
    parser.add_argument("--plot", help="PNG of the two loss curves")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    names = ("fp32", args.low)
    trainers = {p: _trainer("none", args.device, args.smoke, precision=p)[0] for p in names}
    hparams = _trainer("none", "cpu", args.smoke)[1]
    batches = [_batch(hparams, i) for i in range(16)]

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    times, losses = {p: [] for p in names}, {p: [] for p in names}
    for i in range(args.warmup + args.steps):
        for p in names:
            sync()
            start = time.perf_counter()
            loss = trainers[p].train_step(batches[i % len(batches)])
            sync()
            if i >= args.warmup:
                times[p].append(time.perf_counter() - start)
                losses[p].append(loss)
    med = {p: statistics.median(times[p]) for p in names}
    window = min(20, args.steps)
    smooth = {p: np.convolve(losses[p], np.ones(window) / window, mode="valid") for p in names}
    gap = float(np.max(np.abs(smooth[args.low] - smooth["fp32"]) / np.abs(smooth["fp32"])))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    lines = [f"## Precision: {args.low} against fp32, paper-scale step", "",
             f"Regenerate: `python benchmarks/bench_precision.py --device {args.device} --steps {args.steps} "
             f"--out results/benchmarks.md`{' (smoke: a tiny model)' if args.smoke else ''}", "",
             f"Device: {device}, torch {torch.__version__}; {args.steps} interleaved steps after {args.warmup} warm-up "
             "steps, the same batches and initial weights; loss curves compared as 20-step moving averages. Target "
             "(issue 38): >= 1.5x faster, the same loss curve.", "",
             "| precision | median step (ms) | speed-up over fp32 | largest gap of the loss curve (relative) |",
             "|---|---|---|---|",
             f"| fp32 | {1000 * med['fp32']:.1f} | 1.00 | - |",
             f"| {args.low} | {1000 * med[args.low]:.1f} | {med['fp32'] / med[args.low]:.2f} | {gap:.3f} |"]
    from _sections import publish

    publish("\n".join(lines), args.out, "bench_precision")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for p in names:
            ax.plot(losses[p], alpha=0.3)
            ax.plot(np.arange(window - 1, args.steps), smooth[p], label=p)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
