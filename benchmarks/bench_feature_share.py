"""What a feature cache could save on the benchmark recipe, as shares of a training step measured in one run.

    python benchmarks/bench_feature_share.py --data data/bench [--steps 30] [--out results/benchmarks.md]

Issue 12 proposed computing the filterbanks once and caching them (memory-mapped, crops cut in frame
space). A cache removes at most two costs of a step: reading and cropping the audio, and the Fbank
(+ mean norm) of the crops; the extractor's forward and backward, the loss and the optimiser stay. This
script times the three parts on the same batches of `recipes/bench/baseline.yaml` (P x K = 16 x 2 crops
of 2 s, one process, as `arwsv study --bench` trains) and prints the upper bound of the saving,
(audio + Fbank) / (audio + step), where the step includes the Fbank.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(data: str, steps: int) -> dict:
    import torch

    from arwsv.training.recipe import load_recipe
    from arwsv.training.run import build_trainer, seed_everything

    torch.set_num_threads(os.cpu_count() or 1)
    seed_everything(0)
    with tempfile.TemporaryDirectory() as tmp:
        hparams, _ = load_recipe(ROOT / "recipes" / "bench" / "baseline.yaml", {"data_folder": data, "output_folder": tmp})
        trainer = build_trainer(hparams, progress=False)
        times = {"audio": [], "fbank": [], "step": []}
        loader = iter(trainer.dataset.loader(trainer.sampler.pending(), num_workers=0))
        for i in range(steps + 3):
            start = time.perf_counter()
            batch = next(loader)
            loaded = time.perf_counter()
            with torch.no_grad():
                trainer.features(batch.sig.data, batch.sig.lengths)
            fbank = time.perf_counter()
            trainer.train_step(batch)
            trainer.step += 1
            if i >= 3:  # the first steps warm caches up
                times["audio"].append(loaded - start)
                times["fbank"].append(fbank - loaded)
                times["step"].append(time.perf_counter() - fbank)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/bench", help="a prepared bench corpus (arwsv prepare toy --preset bench)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", help="update this markdown file's bench_feature_share section")
    args = parser.parse_args()
    if args.steps < 1:
        print(f"bench_feature_share: error: --steps must be >= 1, got {args.steps}", file=sys.stderr)
        return 2
    if not (Path(args.data) / "train.csv").is_file():
        print(f"bench_feature_share: error: {args.data}: no train.csv (arwsv prepare toy --preset bench)", file=sys.stderr)
        return 2
    t = measure(args.data, args.steps)
    share = (t["audio"] + t["fbank"]) / (t["audio"] + t["step"])
    lines = ["## What a feature cache could save (benchmark recipe)", "",
             f"Regenerate: `python benchmarks/bench_feature_share.py --data {args.data} --steps {args.steps} "
             "--out results/benchmarks.md`", "",
             f"Median over {args.steps} steps of `recipes/bench/baseline.yaml` (16 x 2 crops of 2 s, one process, "
             f"{os.cpu_count()} cores); the step includes its own Fbank. A cache would remove the audio read and the "
             "Fbank at most.", "",
             "| part | ms per step | share of audio + step |", "|---|---|---|",
             f"| audio read and crop | {1000 * t['audio']:.1f} | {t['audio'] / (t['audio'] + t['step']):.3f} |",
             f"| Fbank + mean norm (inside the step) | {1000 * t['fbank']:.1f} | {t['fbank'] / (t['audio'] + t['step']):.3f} |",
             f"| whole training step | {1000 * t['step']:.1f} | {t['step'] / (t['audio'] + t['step']):.3f} |", "",
             f"Upper bound of a feature cache's saving: **{100 * share:.1f} %** of the training time."]
    text = "\n".join(lines)
    from _sections import publish

    publish(text, args.out, "bench_feature_share")
    return 0


if __name__ == "__main__":
    sys.exit(main())
