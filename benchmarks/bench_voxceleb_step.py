"""Step time of the VoxCeleb recipes (paper-scale ECAPA-TDNN, 128 x 2 crops of 2 s) per variant.

    python benchmarks/bench_voxceleb_step.py [--device cuda] [--steps 30] [--out results/benchmarks.md]

Builds ``recipes/voxceleb/ecapa_arw.yaml`` exactly as ``arwsv train`` does (features, ECAPA-TDNN
512/1536, pairwise + AAM loss over 5,994 speakers, adversary, k-means region priors) and times
``MinMaxTrainer.train_step`` on random audio for each ``reweighting.method`` with the warm-up
switched off, so every timed ARW step includes the adversary's ascent step. Steps of the
variants are interleaved (baseline, pw, aps, pl, oracle, baseline, ...) so that clock drift hits
them alike; ratios are to the baseline step of the same run. Also times one k-means refit of a full
memory bank (32,768 x 192, K = 32, scikit-learn on the CPU), which the recipe runs every 1,000
steps, and turns the step times into GPU-hours for the recipe's 10 epochs over VoxCeleb2-dev.

Audio decoding is not included (random tensors): with enough DataLoader workers it overlaps the
GPU; the hours are a lower bound for the model work.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

VOX2_DEV_UTTERANCES = 1_092_009  # VoxCeleb2 dev, as published; 5,994 speakers
VOX2_DEV_HOURS = 2360.2  # VoxCeleb2 dev, as tabulated by PaddleSpeech's examples/voxceleb README (7.78 s per utterance)


def vox2_segments(seconds: float = 3.0) -> tuple:
    """Rows of ``arwsv prepare voxceleb --seg-dur S`` over VoxCeleb2-dev (whole segments, remainders dropped): the
    exact bounds from the published totals, ``(low, estimate, high)``: high = hours / S, low = high - one segment per
    utterance, estimate = high - half a segment per utterance (remainders spread evenly). Prepare's report has the
    real count."""
    high = VOX2_DEV_HOURS * 3600 / seconds
    return high - VOX2_DEV_UTTERANCES, high - VOX2_DEV_UTTERANCES / 2, high
METHODS = ("none", "pw", "aps", "pl", "oracle")
SMOKE = {"speakers_per_batch": 4, "crop_seconds": 0.5, "embedding_model": {"channels": [32, 32, 32, 32, 96]}}


def _trainer(method: str, device: str, smoke: bool = False, precision: str = "fp32"):
    import torch

    from arwsv.training.methods import FixedFactors, build_reweighter
    from arwsv.training.recipe import load_recipe
    from arwsv.training.run import _embedding_size
    from arwsv.training.trainer import MinMaxTrainer

    torch.manual_seed(0)
    hparams, _ = load_recipe(ROOT / "recipes" / "voxceleb" / "ecapa_arw.yaml",
                             {"reweighting": {"method": "none" if method == "oracle" else method, "warmup_steps": 0,
                                              **({"pseudo_groups": 32} if method == "pl" else {})},
                              "augment": None,  # random audio; the model step only (the head keeps its 3 x 5,994 classes)
                              **(SMOKE if smoke else {})})
    for name in ("features", "embedding_model", "loss"):
        hparams[name].to(device)
    params = [p for n in ("features", "embedding_model", "loss") for p in hparams[n].parameters()]
    optimizer = torch.optim.Adam(params, lr=hparams["lr"])
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    if method == "oracle":  # fixed factors of random values: the cost of weighing, not of reading labels
        reweighter = FixedFactors((torch.rand(hparams["n_speakers"]) + 0.5).to(device))
    else:
        reweighter = build_reweighter(hparams["reweighting"], embedding_size=_embedding_size(hparams, device)
                                      if method == "pw" else None, speakers=[], device=device)
    settings = {"epochs": 1, "accumulate": 1, "ckpt_every": 10 ** 9, "log_every": 10 ** 9, "precision": precision}
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    trainer = MinMaxTrainer(features=hparams["features"], embedding_model=hparams["embedding_model"],
                            loss=hparams["loss"], optimizer=optimizer, scheduler=scheduler, sampler=None,
                            dataset=None, checkpointer=None, settings=settings, log_path=None,
                            reweighter=reweighter, device=device, scaler=scaler)
    return trainer, hparams


def _batch(hparams, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    p, k = hparams["speakers_per_batch"], hparams["utts_per_speaker"]
    spk = torch.randperm(hparams["n_speakers"], generator=g)[:p].repeat_interleave(k)
    wavs = torch.randn(p * k, int(hparams["crop_seconds"] * 16000), generator=g) * 0.1
    return SimpleNamespace(sig=SimpleNamespace(data=wavs, lengths=torch.ones(p * k)), ok=torch.ones(p * k, dtype=torch.bool),
                           spk=spk)


def main(argv=None) -> int:
    import numpy as np
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--smoke", action="store_true", help="a tiny model and batch: checks the script runs")
    parser.add_argument("--out", help="markdown file whose bench_voxceleb_step section is replaced")
    args = parser.parse_args(argv)
    torch.backends.cudnn.benchmark = True
    trainers = {m: _trainer(m, args.device, args.smoke) for m in args.methods}
    hparams = trainers[args.methods[0]][1]
    batches = [_batch(hparams, i) for i in range(4)]

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    times = {m: [] for m in args.methods}
    for i in range(args.warmup + args.steps):
        for m in args.methods:
            trainer = trainers[m][0]
            sync()
            start = time.perf_counter()
            trainer.train_step(batches[i % len(batches)])
            sync()
            if i >= args.warmup:
                times[m].append(time.perf_counter() - start)
            trainer.step += 1
    from sklearn.cluster import KMeans

    bank = np.random.default_rng(0).standard_normal((32768, hparams["emb_dim"]))
    start = time.perf_counter()
    KMeans(n_clusters=32, n_init=3, random_state=0).fit(bank)
    kmeans_s = time.perf_counter() - start
    base = statistics.median(times[args.methods[0]])
    per_batch = hparams["speakers_per_batch"] * hparams["utts_per_speaker"]
    low, rows, high = vox2_segments(3.0)  # the README's prepare: --seg-dur 3; an epoch visits every segment
    steps = hparams["epochs"] * -(-int(rows) // per_batch)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({platform.machine()})"
    on_gpu = args.device.startswith("cuda")
    target = "target (issue 14): every ARW step <= 1.05 x the baseline step"
    lines = [f"## VoxCeleb recipe step time (paper-scale ECAPA-TDNN), {'GPU' if on_gpu else 'CPU'}", "",
             f"Regenerate: `python benchmarks/bench_voxceleb_step.py --device {'cuda' if on_gpu else 'cpu'} "
             f"--steps {args.steps} --warmup {args.warmup}"
             + ("" if args.methods == list(METHODS) else f" --methods {' '.join(args.methods)}")
             + f" --out results/benchmarks.md`; {target}.", "",
             f"Device: {device}, torch {torch.__version__}; batch {hparams['speakers_per_batch']} speakers x "
             f"{hparams['utts_per_speaker']} crops of {hparams['crop_seconds']:g} s, random audio; "
             f"median of {args.steps} interleaved steps after {args.warmup} warm-up steps; ratios in one run. "
             f"GPU-hours: {hparams['epochs']} epochs x about {rows / 1e6:.2f} M 3 s segments of VoxCeleb2-dev (the README's "
             f"`--seg-dur 3`; {low / 1e6:.2f}-{high / 1e6:.2f} M from its {VOX2_DEV_HOURS:,} h and {VOX2_DEV_UTTERANCES:,} "
             f"utterances) / {per_batch} per batch = {steps:,} steps, plus one k-means refit per 1,000 steps "
             f"({kmeans_s:.1f} s on the CPU for 32,768 x {hparams['emb_dim']}, K=32); audio decoding not included.", "",
             "| reweighting.method | median step (ms) | step / baseline step | GPU-hours for the recipe |",
             "|---|---|---|---|"]
    for m in args.methods:
        med = statistics.median(times[m])
        refits = steps / 1000 * kmeans_s if m in ("pw", "aps", "pl") else 0.0
        hours = f"{(steps * med + refits) / 3600:.1f}" if on_gpu else "-"  # CPU hours would mislead
        lines.append(f"| {m} | {1000 * med:.1f} | {med / base:.3f} | {hours} |")
    text = "\n".join(lines)
    from _sections import publish

    publish(text, args.out, "bench_voxceleb_step" if on_gpu else "bench_voxceleb_step_cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
