"""Training and embedding speed against the issue-4 targets, as ratios measured in one run.

    python benchmarks/bench_train.py --corpus data/toy [--out results/benchmarks.md] [--skip-pipeline]

1. ARW step (adversary step + learner step + weights, k-means refits at the recipe's rate) over
   the baseline step, same extractor and batches, interleaved step by step (target <= 1.10).
2. Embedding extraction speed of the toy model, as a real-time factor (target >= 50).
3. The toy pipeline: baseline + ARW training with the toy recipes, scoring and eval of the
   O/E/H lists, wall time (target <= 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _trainer(recipe: str, corpus: str, out: str, extra: dict):
    from arwsv.training.recipe import load_recipe
    from arwsv.training.run import build_trainer, seed_everything

    seed_everything(0)
    hparams, _ = load_recipe(ROOT / "recipes" / "toy" / recipe,
                             {"data_folder": corpus, "output_folder": out, **extra})
    return build_trainer(hparams, progress=False)


def step_ratio(corpus: str, steps: int) -> tuple:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        base = _trainer("baseline.yaml", corpus, f"{tmp}/b", {})
        arw = _trainer("arw.yaml", corpus, f"{tmp}/a", {"reweighting": {"warmup_steps": 0}})
        batches = []
        for batch in base.dataset.loader(base.sampler):
            batches.append(batch)
            if len(batches) == steps + 3:
                break
        times = {"baseline": [], "arw": []}
        for i, batch in enumerate(batches):
            for name, trainer in (("baseline", base), ("arw", arw)):
                start = time.perf_counter()
                trainer.train_step(batch)
                trainer.step += 1
                if i >= 3:  # the first steps warm caches up
                    times[name].append(time.perf_counter() - start)
    return sum(times["arw"]) / sum(times["baseline"]), statistics.median(times["baseline"]), \
        statistics.median(times["arw"]), len(times["arw"]), arw.regions.fits


def embedding_rtf(corpus: str, model_dir: str) -> tuple:
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model

    rows = load_manifest_rows(Path(corpus) / "test.csv")
    features, model, _ = load_model(model_dir)
    start = time.perf_counter()
    extract(features, model, rows, progress=False)
    wall = time.perf_counter() - start
    audio = sum(float(r["duration"]) for r in rows)
    return audio / wall, audio, wall


def pipeline(corpus: str, out: str) -> float:
    start = time.perf_counter()
    for recipe in ("baseline", "arw"):
        model = f"{out}/{recipe}"
        run = [sys.executable, "-m", "arwsv"]
        subprocess.run([*run, "train", f"recipes/toy/{recipe}.yaml", f"--data_folder={corpus}",
                        f"--output_folder={model}", "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run([*run, "embed", model, f"{corpus}/test.csv", "--out", f"{model}/test.npz", "--quiet"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        for trials in ("O", "E", "H"):
            scores = f"{model}/scores_{trials}.txt"
            subprocess.run([*run, "score", model, f"{corpus}/trials/{trials}.txt", "--embeddings",
                            f"{model}/test.npz", "--out", scores], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            subprocess.run([*run, "eval", scores, "--meta", f"{corpus}/meta.csv", "--quiet", "--json",
                            f"{model}/eval_{trials}.json"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="a toy corpus from `arwsv prepare toy` (defaults)")
    parser.add_argument("--out", help="update this markdown file's bench_train section")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    ratio, base, arw, n, fits = step_ratio(args.corpus, args.steps)
    lines = ["## arwsv train / embed", "",
             f"Regenerate: `python benchmarks/bench_train.py --corpus data/toy --out results/benchmarks.md` "
             f"({os.cpu_count()} cores, toy recipes, CPU)", "",
             "| measure | value | target | ratio to target |", "|---|---|---|---|",
             f"| ARW step / baseline step ({n} interleaved steps, {fits} k-means fits; median "
             f"{1000 * base:.0f} ms vs {1000 * arw:.0f} ms) | {ratio:.3f} | <= 1.10 | {ratio / 1.10:.2f} |"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_pipeline:
            wall = pipeline(args.corpus, tmp)
            lines.append(f"| toy pipeline: baseline + ARW training, embed, score and eval of O/E/H (s) | "
                         f"{wall:.0f} | <= 300 | {wall / 300:.2f} |")
            rtf, audio, emb_wall = embedding_rtf(args.corpus, f"{tmp}/arw")
            lines.append(f"| embedding real-time factor ({audio:.0f} s of audio in {emb_wall:.1f} s) | "
                         f"{rtf:.0f}x | >= 50x | {rtf / 50:.2f} |")
            print("\n".join(lines[-2:]))
    if args.out:
        sys.path.insert(0, str(Path(__file__).parent))
        from _sections import update_section

        update_section(args.out, "bench_train", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
