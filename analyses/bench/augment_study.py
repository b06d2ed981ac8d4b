"""Does the field's augmentation help on the benchmark, and whom? Baseline vs + noise / reverberation vs + speed-
perturbed virtual speakers vs both, on the H list and on a degraded H list, per gender x country cell.

Each arm trains ``recipes/bench/baseline.yaml`` with its ``augment`` overrides (:data:`ARMS`; the noise comes from
the corpus's synthetic training set ``<data>/noise``), for each seed. The **degraded H list** is the H list with
its test side degraded by held-out noise and reverberation (``<data>/noise_heldout``, other talkers and noises than
training's; one kind per utterance: :func:`arwsv.data.augment.degrade_manifest`, written once to
``<data>/test_degraded``): enrolment clean, test degraded. Every finished run leaves ``<arm>_seed<S>.json`` / ``.npz``
in ``OUT/runs`` (clean H) and ``OUT/runs_degraded`` (degraded H), the layout of ``arwsv study --bench``, so
``analyses/bench/population.py`` and ``levelling.py`` read them too; a rerun skips finished runs and resumes a
killed one from its checkpoint. The baseline arm is the committed benchmark baseline retrained: its clean scores are
checked against ``results/bench_study/runs/baseline_seed<S>.npz``.

Summary (``OUT/README.md``, ``OUT/cells.png``): against the same seed's baseline, pooled over the seeds done, the
paired difference (95 % paired speaker bootstrap: each replicate draws one set of test speakers for every run and
averages the seeds' differences) of the overall EER on both lists, of every cell's EER on both lists, and of the H
EER in the training proportions. Labels are read here (an analysis of results), never in training.

    python analyses/bench/augment_study.py --data data/bench --work exp/augment_study --out results/augment_study \\
        --seeds 0 1 2
    python analyses/bench/augment_study.py --data data/bench --out results/augment_study --summary-only

Runs use one torch thread each (``--threads``): two processes with disjoint ``--arms`` share two cores without
OpenMP's spin-waits (``--arms baseline noise`` and ``--arms speed both``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

RECIPE = ROOT / "recipes" / "bench" / "baseline.yaml"
SPEED = ["--augment.speed_factors=[0.9,1.1]", "--augment.speed_prob=0.667", "--augment.speed_labels=new",
         "--n_speakers={classes}"]  # WeSpeaker: x0.9 / x1.0 / x1.1 uniformly (2/3 perturbed), copies new speakers:
# 3 x the corpus's training speakers (6,000 on the benchmark)
NOISE = ["--augment.noise_folder={data}/noise", "--augment.prob=0.6"]  # WeSpeaker's aug_prob; reverb/noise/music/babble
ARMS = {
    "baseline": [],
    "noise": NOISE,
    "speed": ["--augment.prob=0", "--augment.kinds=[]", *SPEED],
    "both": [*NOISE, *SPEED],
}


def degraded_test(data: Path, progress: bool) -> Path:
    """``<data>/test_degraded/manifest.csv`` (written once, from ``<data>/noise_heldout``)."""
    from arwsv.data.augment import degrade_manifest

    out = data / "test_degraded"
    if not (out / "manifest.csv").is_file():
        report = degrade_manifest(data / "test.csv", data / "noise_heldout", out, seed=0, progress=progress)
        (out / "degrade_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return out / "manifest.csv"


def _scores(model: Path, data: Path, degraded: Path, device: str, progress: bool):
    """H scores (trial order) with clean enrolment and (clean, degraded) test sides."""
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.inference.score import score_trials
    from arwsv.io.scorefile import read_trials

    features, embedding_model, _ = load_model(model, device=device)
    ids, clean = extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device,
                         progress=progress)
    ids_d, noisy = extract(features, embedding_model, load_manifest_rows(degraded), device=device, progress=progress)
    assert list(ids) == list(ids_d)
    trials = read_trials(data / "trials" / "H.txt")
    plain = score_trials(trials, ids, clean)["score"].to_numpy(np.float32)
    # the degraded side: enrolment from the clean embeddings, test from the degraded ones
    index = {u: i for i, u in enumerate(ids)}
    enrol = np.array([index[u.rsplit(".", 1)[0]] for u in trials["enrol"]])
    test = np.array([index[u.rsplit(".", 1)[0]] for u in trials["test"]])
    unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)  # noqa: E731
    degraded = np.sum(unit(clean)[enrol] * unit(noisy)[test], axis=1).astype(np.float32)
    return plain, degraded


def _speakers(data: Path) -> int:
    import pandas as pd

    return pd.read_csv(data / "train.csv", dtype={"spk_id": str})["spk_id"].nunique()


def train(model: Path, data: Path, seed: int, device: str, flags: list, *, workers: int = 1, threads: int = 1,
          progress: bool = False) -> None:
    """``arwsv train`` of the benchmark recipe into ``model`` (resumed from its checkpoints; nothing when finished)."""
    if (model / "final" / "embedding_model.ckpt").is_file():
        return
    args = [sys.executable, "-m", "arwsv", "train", str(RECIPE), f"--data_folder={data}", f"--output_folder={model}",
            "--seed", str(seed), "--device", device, "--num-workers", str(workers), *flags]
    if (model / "checkpoints").exists():
        args.append("--resume")
    if not progress:
        args.append("--quiet")
    # one thread per run: the same numbers on any machine, and no OpenMP spinning when runs share the cores
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    subprocess.run(args, check=True, cwd=ROOT, env=env)


def run_arm(arm: str, seed: int, data: Path, work: Path, out: Path, device: str, progress: bool,
            workers: int = 1, extra: tuple = (), threads: int = 1) -> None:
    from arwsv.experiments.bench_study import record_run

    if (out / "runs" / f"{arm}_seed{seed}.json").is_file() and (out / "runs_degraded" / f"{arm}_seed{seed}.json").is_file():
        return
    degraded = degraded_test(data, progress)
    model = work / f"{arm}_seed{seed}"
    start = time.perf_counter()
    train(model, data, seed, device, [a.format(data=data, classes=3 * _speakers(data)) for a in ARMS[arm]] +
          list(extra), workers=workers, threads=threads, progress=progress)
    train_s = time.perf_counter() - start
    plain, noisy = _scores(model, data, degraded, device, progress)
    report = json.loads((model / "train_report.json").read_text())
    extra = {"train_wall_s": round(train_s, 1), "augmented": report.get("augmented", {}), "arm_overrides": ARMS[arm]}
    committed = ROOT / "results" / "bench_study" / "runs" / f"baseline_seed{seed}.npz"
    if arm == "baseline" and committed.is_file():  # the same corpus (trial list) only
        import hashlib

        stored = np.load(committed)
        if str(stored["trials_sha256"]) == hashlib.sha256((data / "trials" / "H.txt").read_bytes()).hexdigest():
            extra["equals_committed_baseline"] = bool(np.array_equal(stored["scores"], plain))
    wall = time.perf_counter() - start
    record_run(arm, seed, data, out / "runs", plain, bootstrap=200, device=device, wall_s=wall, extra=extra)
    _record_degraded(arm, seed, data, out / "runs_degraded", noisy, device=device, wall_s=wall, extra=extra)


def _record_degraded(arm, seed, data, runs, scores, **kwargs) -> None:
    """As ``record_run``, for the degraded list (same trials, so the same trial SHA-256 and layout)."""
    from arwsv.experiments.bench_study import record_run

    record_run(arm, seed, data, runs, scores, bootstrap=200, **kwargs)


# --- the summary -------------------------------------------------------------------------------------------------


def _load(runs: Path, arm: str, seed: int):
    path = runs / f"{arm}_seed{seed}.npz"
    return np.load(path)["scores"] if path.is_file() else None


def pooled(runs: Path, arm: str, seeds: list, h: dict, draws: list, weights=None) -> dict:
    """Against the baseline, pooled over ``seeds``: overall and per-cell EER (baseline, arm, mean difference and its
    95 % paired bootstrap interval). ``weights`` (N,): trial weights of the overall EER (None: the list as it is)."""
    from arwsv.evaluation.metrics import eer

    cells = sorted(np.unique(h["cells"]))
    masks = {"all": np.ones(len(h["target"]), bool), **{c: h["cells"] == c for c in cells}}
    out = {}
    for name, mask in masks.items():
        w = None if weights is None or name != "all" else weights
        target, enrol, test = h["target"][mask], h["enrol"][mask], h["test"][mask]
        base_v, arm_v, reps = [], [], np.zeros(len(draws))
        for s in seeds:
            a, b = _load(runs, "baseline", s)[mask], _load(runs, arm, s)[mask]
            base_v.append(eer(a, target, weights=None if w is None else w[mask]))
            arm_v.append(eer(b, target, weights=None if w is None else w[mask]))
            for r, m in enumerate(draws):
                rw = m[enrol] * m[test] * (1.0 if w is None else w[mask])
                reps[r] += (eer(b, target, weights=rw) - eer(a, target, weights=rw)) / len(seeds)
        out[name] = (float(np.mean(base_v)), float(np.mean(arm_v)), [float(x) for x in np.percentile(reps, [2.5, 97.5])])
    return out


def _fmt(entry) -> str:
    a, b, (lo, hi) = entry
    return f"{100 * a:.2f} → {100 * b:.2f} ({100 * (b - a):+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}])"


def summary(data: Path, out: Path, bootstrap: int, command: str) -> None:
    from population import cell_weights, h_trials, speaker_draws

    h = h_trials(data)
    train_weights = cell_weights(data)[0]
    draws = speaker_draws(h["speakers"], bootstrap, 0)
    results, lines = {}, []
    for arm in [a for a in ARMS if a != "baseline"]:
        seeds = [s for s in range(100) if all(_load(out / r, x, s) is not None for r in ("runs", "runs_degraded")
                                              for x in ("baseline", arm))]
        if not seeds:
            continue
        results[arm] = {"seeds": seeds, "clean": pooled(out / "runs", arm, seeds, h, draws),
                        "degraded": pooled(out / "runs_degraded", arm, seeds, h, draws),
                        "training_proportions": pooled(out / "runs", arm, seeds, h, draws, train_weights)["all"]}
        print(arm, seeds, {k: _fmt(results[arm][k]["all"]) for k in ("clean", "degraded")}, flush=True)
    checks = []
    for path in sorted((out / "runs").glob("baseline_seed*.json")):
        run = json.loads(path.read_text())
        if "equals_committed_baseline" in run:
            checks.append(f"seed {run['seed']}: {'identical' if run['equals_committed_baseline'] else 'DIFFERENT'}")
    lines += [f"# Augmentation on the benchmark: who gains, on clean and degraded trials", "",
              f"Regenerate: `{command}`", "",
              "Arms (`recipes/bench/baseline.yaml` + overrides): " + "; ".join(
                  f"**{a}** `{' '.join(v) or '(none)'}`" for a, v in ARMS.items()) + ". The noise is the corpus's "
              "synthetic training set (`arwsv prepare toy`: `<corpus>/noise`); the degraded H list degrades the test "
              "side of every H trial with the held-out set (`<corpus>/noise_heldout`: other talkers, noises and rooms; "
              "one of reverberation, noise 0-15 dB, music 5-15 dB, babble 10-30 dB per utterance).", "",
              "Each entry: baseline → arm EER (%), mean over the seeds, and the paired difference in pp with its 95 % "
              f"paired speaker-bootstrap interval ({bootstrap} replicates, seeds pooled). Better / worse: cells whose "
              "interval lies below / above 0.", "",
              "The baseline arm retrains the committed baseline; its clean H scores against "
              "`results/bench_study/runs`: " + (", ".join(checks) or "not checked yet") + ".", ""]
    if results:
        lines += ["| arm | seeds | H EER | degraded H EER | H EER, training proportions | H cells better / worse | "
                  "degraded cells better / worse |", "|---|---|---|---|---|---|---|"]
        for arm, r in results.items():
            moved = []
            for kind in ("clean", "degraded"):
                cells = {c: v for c, v in r[kind].items() if c != "all"}
                moved.append(f"{sum(v[2][1] < 0 for v in cells.values())} / {sum(v[2][0] > 0 for v in cells.values())} "
                             f"(of {len(cells)})")
            lines.append(f"| {arm} | {len(r['seeds'])} | {_fmt(r['clean']['all'])} | {_fmt(r['degraded']['all'])} | "
                         f"{_fmt(r['training_proportions'])} | {moved[0]} | {moved[1]} |")
        lines += ["", "Every gender x country cell (baseline → arm, change [interval]):", "",
                  "| arm | list | " + " | ".join(c for c in sorted(results[next(iter(results))]["clean"]) if c != "all")
                  + " |", "|---|---|" + "---|" * (len(results[next(iter(results))]["clean"]) - 1)]
        for arm, r in results.items():
            for kind in ("clean", "degraded"):
                lines.append(f"| {arm} | {kind} | " + " | ".join(_fmt(v) for c, v in sorted(r[kind].items())
                                                                 if c != "all") + " |")
        _plot(results, out / "cells.png")
        lines += ["", "![every cell's change](cells.png)"]
    write_summary(out, lines, results)


def write_summary(out: Path, lines: list, results: dict) -> None:
    """``OUT/README.md`` (``lines``) and ``OUT/summary.json`` (``results``), each written whole or not at all."""
    from arwsv.io.files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "README.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(out / "summary.json") as handle:
        handle.write(json.dumps(results, indent=1) + "\n")


def _plot(results: dict, path: Path, kinds: tuple = ("clean", "degraded")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arwsv.io.files import atomic_write

    cells = [c for c in sorted(next(iter(results.values()))["clean"]) if c != "all"] + ["all"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.5 * len(kinds), 4.5), sharey=True, squeeze=False)
    axes = axes[0]
    width = 0.8 / len(results)
    for ax, kind in zip(axes, kinds):
        for i, (arm, r) in enumerate(results.items()):
            x = np.arange(len(cells)) + (i - (len(results) - 1) / 2) * width
            d = np.array([100 * (r[kind][c][1] - r[kind][c][0]) for c in cells])
            lo = np.array([100 * r[kind][c][2][0] for c in cells])
            hi = np.array([100 * r[kind][c][2][1] for c in cells])
            ax.bar(x, d, width, label=arm)
            ax.errorbar(x, d, yerr=[d - lo, hi - d], fmt="none", ecolor="black", capsize=2, lw=0.8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(np.arange(len(cells)), cells, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{'H' if kind == 'clean' else 'degraded H'}: EER change vs baseline (pp, 95 % CI)")
    axes[0].legend()
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--work", type=Path, default=ROOT / "exp" / "augment_study")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "augment_study")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-workers", type=int, default=1,
                        help="DataLoader workers reading and augmenting audio (results do not depend on it)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training run (the study: 1)")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="more overrides for every run (a smoke test's sizes); the study uses none")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # embedding the test sets, as the runs train
    if not args.summary_only:
        for seed in args.seeds:
            for arm in args.arms:
                run_arm(arm, seed, args.data.resolve(), args.work.resolve(), args.out, args.device, not args.quiet,
                        args.num_workers, tuple(args.train_args), args.threads)
    summary(args.data, args.out, args.bootstrap,
            f"python analyses/bench/augment_study.py --data data/bench --out {args.out} --summary-only")


if __name__ == "__main__":
    main()
