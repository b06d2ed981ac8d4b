"""What limits the baseline on the benchmark corpus: EER against training steps, model size, batch,
crop length and number of training speakers.

    python analyses/bench/learning_curve.py --corpus data/bench --device cuda --jobs 8 --out results/bench_learning_curve

Every configuration of :data:`CONFIGS` (overrides of ``recipes/bench/baseline.yaml``) trains in its
own process (``--jobs`` at a time) with validation on the O list after every epoch (EER and gender
gap, logged in ``train_log.jsonl``), and stops at ``--time-limit`` seconds if it has not finished:
the epochs it validated still count. A finished run is scored on O and H and evaluated. Each run's
curve goes to ``OUT/runs/<name>.json`` (kept: a rerun skips it); ``OUT/README.md`` and
``OUT/learning_curve.png`` summarise them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MEDIUM = ["--embedding_model.channels=[256,256,256,256,768]", "--embedding_model.attention_channels=128",
          "--embedding_model.se_channels=128"]
CONFIGS = {  # name -> (overrides of recipes/bench/baseline.yaml, training speakers or None = all)
    "small": ([], None),
    "small_lr4e-3": (["--lr=0.004"], None),
    "small_batch64": (["--speakers_per_batch=32"], None),
    "small_crop3s": (["--crop_seconds=3.0"], None),
    "medium": (MEDIUM, None),
    "medium_batch64_crop3s": (MEDIUM + ["--speakers_per_batch=32", "--crop_seconds=3.0"], None),
    "small_spk500": ([], 500),
    "small_spk1000": ([], 1000),
}


def _subset(corpus: Path, work: Path, n: int) -> Path:
    """A training manifest of ``n`` speakers drawn at random (seed 0) from the corpus's training speakers."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(corpus / "train.csv")
    speakers = sorted(frame["spk_id"].unique())
    keep = set(np.random.default_rng(0).choice(speakers, size=min(n, len(speakers)), replace=False))
    path = work / f"train_{n}.csv"
    frame[frame["spk_id"].isin(keep)].to_csv(path, index=False)
    return path


def _command(name: str, corpus: Path, work: Path, args) -> list:
    overrides, speakers = CONFIGS[name]
    cmd = [sys.executable, "-m", "arwsv", "train", str(ROOT / "recipes" / "bench" / "baseline.yaml"),
           f"--data_folder={corpus}", f"--output_folder={work / name}", f"--epochs={args.epochs}",
           f"--valid_manifest={corpus / 'test.csv'}", f"--valid_trials={corpus / 'trials' / 'O.txt'}",
           f"--valid_meta={corpus / 'meta.csv'}", "--device", args.device, "--num-workers", str(args.workers),
           "--quiet", *overrides]
    manifest = _subset(corpus, work, speakers) if speakers else corpus / "train.csv"
    import pandas as pd

    n = pd.read_csv(manifest, usecols=["spk_id"])["spk_id"].nunique()  # the AAM head's size
    return cmd + [f"--train_manifest={manifest}", f"--n_speakers={n}"]


def _evaluate(name: str, corpus: Path, work: Path, device: str) -> dict:
    """O and H list metrics of a finished run (no bootstrap)."""
    model, out = work / name, {}
    emb = model / "test.npz"
    subprocess.run([sys.executable, "-m", "arwsv", "embed", str(model), str(corpus / "test.csv"), "--out", str(emb),
                    "--device", device, "--quiet"], check=True, cwd=ROOT)
    for trials in ("O", "H"):
        scores, report = model / f"scores_{trials}.txt", model / f"eval_{trials}.json"
        subprocess.run([sys.executable, "-m", "arwsv", "score", str(model), str(corpus / "trials" / f"{trials}.txt"),
                        "--embeddings", str(emb), "--out", str(scores), "--quiet"], check=True, cwd=ROOT)
        subprocess.run([sys.executable, "-m", "arwsv", "eval", str(scores), "--meta", str(corpus / "meta.csv"),
                        "--json", str(report), "--quiet"], check=True, cwd=ROOT)
        r = json.loads(report.read_text())
        out[trials] = {"eer": r["overall"]["eer"],
                       "gender_gap": r["attributes"]["gender"]["summary"]["eer_gap_abs"],
                       "country_std": r["attributes"]["nationality"]["summary"]["eer_std"],
                       "groups": {a: {g: v["eer"] for g, v in p["groups"].items()} for a, p in r["attributes"].items()}}
    return out


def _collect(name: str, work: Path, finished: bool, wall: float, corpus: Path, device: str) -> dict:
    log = work / name / "train_log.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    curve = [{k: e[k] for k in ("epoch", "step", "valid_eer", "valid_gender_gap") if k in e}
             for e in lines if "valid_eer" in e]
    speed = [e["steps_per_s"] for e in lines if "steps_per_s" in e]
    result = {"config": name, "overrides": CONFIGS[name][0], "train_speakers": CONFIGS[name][1],
              "finished": finished, "wall_s": round(wall, 1), "curve": curve,
              "steps_per_s": round(sum(speed) / len(speed), 2) if speed else None}
    if finished:
        result["final"] = _evaluate(name, corpus, work, device)
    return result


def _markdown(results: dict, command: str, device: str) -> str:
    lines = ["# Baseline learning curve on the benchmark corpus", "", f"Regenerate: `{command}`", "",
             f"Device: {device}. O-list EER (%) after each epoch of `recipes/bench/baseline.yaml` with the overrides "
             "shown; a run stopped at the time limit keeps the epochs it validated. Final O and H: the finished "
             "model scored on the whole list (gender gap in pp).", "",
             "| config | train speakers | steps/s | last step | O EER by epoch (%) | final O EER | final H EER | "
             "H gender gap | H country std |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        curve = ", ".join(f"{100 * c['valid_eer']:.1f}" for c in r["curve"]) or "none"
        final = r.get("final") or {}

        def pct(trials, key):
            value = (final.get(trials) or {}).get(key)
            return "n/a" if value is None else f"{100 * value:.2f}"

        lines.append(f"| {name} | {r['train_speakers'] or 'all'} | {r['steps_per_s']} | "
                     f"{r['curve'][-1]['step'] if r['curve'] else 0} | {curve} | {pct('O', 'eer')} | {pct('H', 'eer')} | "
                     f"{pct('H', 'gender_gap')} | {pct('H', 'country_std')} |")
    return "\n".join(lines) + "\n"


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in results.items():
        if r["curve"]:
            ax.plot([c["step"] for c in r["curve"]], [100 * c["valid_eer"] for c in r["curve"]], marker="o",
                    markersize=3, label=name)
    ax.set(xlabel="training step", ylabel="O-list EER (%)", yscale="log", title="baseline learning curves (bench)")
    ax.grid(True, which="both", color="0.9")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="the benchmark corpus (arwsv prepare toy --preset bench)")
    parser.add_argument("--work", default="exp/bench_curve")
    parser.add_argument("--out", default="results/bench_learning_curve")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers per run")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds a run may train")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    args = parser.parse_args(argv)
    corpus, work, out = Path(args.corpus).resolve(), Path(args.work).resolve(), Path(args.out)
    for path in (corpus / "train.csv", corpus / "test.csv", corpus / "trials" / "O.txt"):
        if not path.is_file():
            print(f"learning_curve: error: {path}: missing; prepare the corpus first", file=sys.stderr)
            return 2
    (out / "runs").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    todo = [n for n in args.configs if not (out / "runs" / f"{n}.json").is_file()]
    running = {}
    while todo or running:
        while todo and len(running) < args.jobs:
            name = todo.pop(0)
            log = open(work / f"{name}.log", "w")
            proc = subprocess.Popen(_command(name, corpus, work, args), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
            running[name] = (proc, time.perf_counter(), log)
        time.sleep(2)
        for name, (proc, start, log) in list(running.items()):
            wall = time.perf_counter() - start
            if proc.poll() is None and wall < args.time_limit:
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
            result = _collect(name, work, proc.returncode == 0, wall, corpus, args.device)
            (out / "runs" / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
            print(f"{name}: {'finished' if result['finished'] else 'stopped'} after {wall:.0f} s, "
                  f"{len(result['curve'])} validations", flush=True)
            del running[name]
    results = {n: json.loads((out / "runs" / f"{n}.json").read_text()) for n in CONFIGS
               if (out / "runs" / f"{n}.json").is_file()}
    command = "python analyses/bench/learning_curve.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (out / "README.md").write_text(_markdown(results, command, args.device))
    _plot(results, out / "learning_curve.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
