"""Data-pipeline throughput with augmentation: crops per second per DataLoader worker, against the paper-scale step.

Reads 2 s crops of 8 s utterances (VoxCeleb2's mean length) from a temporary corpus of 64 files, as one worker does
(one thread, in this process), with each augmentation setting of a recipe's ``augment:`` block: none, noise /
music / babble / reverberation with p = 0.6 (WeSpeaker's), + speed x0.9 / x1.1 with p = 2/3, + DropFreq and
DropChunk (SpeechBrain's). The noise set is the synthetic one ``arwsv prepare toy`` writes. Prints crops/s and, for
the paper-scale step (256 crops per step; ``--step-ms``, by default the 62 ms measured on an H200 in fp32,
results/benchmarks.md), the workers that keep one GPU fed: ceil(256 / step / per-worker rate). Measured in one run:
settings interleaved, median of ``--repeats`` passes.

    python benchmarks/bench_augment_pipeline.py --out results/benchmarks.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SETTINGS = {
    "no augmentation": {},
    "noise / music / babble / reverb, p 0.6": {"prob": 0.6},
    "+ speed x0.9 / x1.1, p 2/3": {"prob": 0.6, "speed_factors": [0.9, 1.1], "speed_prob": 0.667},
    "+ DropFreq, DropChunk (p 1)": {"prob": 0.6, "speed_factors": [0.9, 1.1], "speed_prob": 0.667,
                                     "drop_freq_prob": 1.0, "drop_chunk_prob": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=256, help="crops per pass (one paper-scale batch)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--step-ms", type=float, default=62.0, help="the GPU step the pipeline must keep up with")
    parser.add_argument("--out", type=Path, default=None, help="results/benchmarks.md: replace this benchmark's section")
    args = parser.parse_args()
    import soundfile as sf
    import torch

    from arwsv.data.augment import AugmentSettings, SpeakerMap
    from arwsv.data.dataio import CropDataset
    from arwsv.data.noise import write_synthetic_noise

    torch.set_num_threads(1)  # one DataLoader worker's share
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        rows = []
        for i in range(64):
            path = tmp / "wav" / f"u{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, (0.1 * rng.standard_normal(8 * 16000)).astype(np.float32), 16000, subtype="PCM_16")
            rows.append({"id": f"u{i:03d}", "wav": str(path), "start": 0, "stop": 8 * 16000, "spk_id": f"s{i % 16}"})
        write_synthetic_noise(tmp / "noise", seed=0)
        datasets = {}
        for name, values in SETTINGS.items():
            settings = AugmentSettings.from_block({"noise_folder": str(tmp / "noise"), **values}) if values else None
            speakers = sorted({r["spk_id"] for r in rows})
            copies = settings.virtual_copies if settings is not None else 1
            datasets[name] = CropDataset(rows, 2.0, crop_from="utterance", augment=settings,
                                         speaker_map=SpeakerMap(speakers, copies))
        keys = [(int(rng.integers(64)), int(rng.integers(2 ** 31 - 1)), int(rng.integers(3)) if rng.random() < 0.667
                 else 0) for _ in range(args.crops)]
        times = {name: [] for name in datasets}
        for _ in range(args.repeats):  # interleaved: the machine's load falls on every setting alike
            for name, dataset in datasets.items():
                speed = bool(SETTINGS[name].get("speed_factors"))
                start = time.perf_counter()
                for row, seed, copy in keys:
                    dataset[(row, seed, copy if speed else 0)]
                times[name].append(time.perf_counter() - start)
    needed = 256 / (args.step_ms / 1000)
    lines = ["## Data pipeline with augmentation: crops/s per worker", "",
             "Regenerate: `python benchmarks/bench_augment_pipeline.py --out results/benchmarks.md`", "",
             f"2 s crops drawn anywhere in 8 s utterances, read and augmented in one thread (one DataLoader worker), "
             f"{args.crops} crops per pass, median of {args.repeats} interleaved passes, {len(SETTINGS)} settings in one "
             f"run; the synthetic noise set of `arwsv prepare toy`. A paper-scale step of {args.step_ms:g} ms "
             f"(H200, fp32, results/benchmarks.md) takes 256 crops: {needed:,.0f} crops/s to keep one GPU fed.", "",
             "| augmentation | crops/s per worker | cost / no augmentation | workers for one GPU |", "|---|---|---|---|"]
    base = statistics.median(times["no augmentation"])
    for name, values in times.items():
        t = statistics.median(values)
        rate = args.crops / t
        lines.append(f"| {name} | {rate:,.0f} | {t / base:.2f} | {math.ceil(needed / rate)} |")
    from _sections import publish

    publish("\n".join(lines), args.out, "bench_augment_pipeline")


if __name__ == "__main__":
    main()
