"""Level up, not down (issue 39): arms that add data where the model is weakest, against the same seed's baseline,
per gender x country cell of the H list, on one corpus.

Each arm trains ``recipes/bench/baseline.yaml`` with its overrides (:data:`ARMS`) on the corpus ``--data`` (the
oracle arm on the corpus extended by ``arwsv prepare toy-extend``), for each seed, and leaves
``OUT/runs/<arm>_seed<S>.json`` / ``.npz`` (the layout of ``arwsv study --bench``: ``analyses/bench/levelling.py``
and ``population.py`` read it); a rerun skips finished runs and resumes a killed one from its checkpoint.

``--preset-check`` writes ``OUT/baseline.md``: the baseline's per-cell H EER and the VoxCeleb-likeness criteria of
issue 39 item 1 (gender ratio <= 1.4, nationality ratios in [2, 4], no cell above 4x the best, overall H EER
<= 12 %), each ratio with its 95 % speaker-bootstrap interval. Labels are read here (an analysis of results), never
in training.

    python analyses/bench/levelup_study.py --data data/voxlike --out results/levelup/voxlike --arms baseline \\
        --seeds 0 --preset-check
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
SPEED = ["--augment.prob=0", "--augment.kinds=[]", "--augment.speed_factors=[0.9,1.1]", "--augment.speed_prob=0.667"]
NOISE = ["--augment.noise_folder={data}/noise", "--augment.prob=0.6"]  # as the augmentation study's noise arm
# arm -> (what it is, overrides); {data}: the corpus, {speakers}: its training speakers; a3 / a0 / a4 get the rest
# from their step (the plan, the split table, the extended corpus)
ARMS = {
    "baseline": ("the recipe as it is", []),
    "a1": ("uniform x0.9 / x1.1 speed copies as new speakers (WeSpeaker; 3 x the classes)",
           [*SPEED, "--augment.speed_labels=new", "--n_speakers={classes3}"]),
    "a2": ("the same perturbation, labels kept (variability only)", [*SPEED, "--augment.speed_labels=keep"]),
    "a0": ("split control: every speaker 3 classes (as a1), audio unchanged", ["--augment.prob=0",
                                                                                 "--augment.kinds=[]"]),
    "a3": ("targeted virtual speakers sized to the region (arwsv virtual-speakers on the same seed's baseline)",
           ["--augment.prob=0", "--augment.kinds=[]"]),
    "a4": ("oracle data: as many real new speakers as a3 adds, in the minority-country women's cells", []),
}
ARMS.update({f"{name}_noise": (f"{what}, + noise and reverberation", [*NOISE, *(a for a in flags if a not in
                                                                                 ("--augment.prob=0",
                                                                                  "--augment.kinds=[]"))])
             for name, (what, flags) in list(ARMS.items())})
# runs the augmentation study made with the very same settings (recipe, seed, overrides, one thread, one worker)
REUSE = {"baseline": "baseline", "baseline_noise": "noise", "a1": "speed", "a1_noise": "both"}


def h_scores(model: Path, data: Path, device: str, progress: bool) -> np.ndarray:
    """The H list's scores (trial order) of the model in ``model``."""
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.inference.score import score_trials
    from arwsv.io.scorefile import read_trials

    features, embedding_model, _ = load_model(model, device=device)
    ids, embeddings = extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device,
                              progress=progress)
    return score_trials(read_trials(data / "trials" / "H.txt"), ids, embeddings)["score"].to_numpy(np.float32)


def _speakers(data: Path) -> list:
    import pandas as pd

    return sorted(pd.read_csv(data / "train.csv", dtype={"spk_id": str})["spk_id"].unique())


def _cells_to_enrich(data: Path) -> list:
    """The oracle's cells (labels read: it is the oracle): the women's cells of every country but the majority's."""
    import pandas as pd

    meta = pd.read_csv(data / "meta.csv", sep="\t")
    countries = sorted(meta["Nationality"].unique())
    majority = meta[meta["Set"] == "dev"]["Nationality"].value_counts().idxmax()
    return [f"f/{c}" for c in countries if c != majority]


def _plan(seed: int, data: Path, work: Path, out: Path, device: str, progress: bool, threads: int) -> Path:
    """A3's plan from the same seed's baseline (``OUT/plans/a3_seed<S>/``): written once."""
    plan = out / "plans" / f"a3_seed{seed}"
    if not (plan / "virtual_speakers.csv").is_file():
        reference = _model_folder("baseline", seed, work, out)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, "-m", "arwsv", "virtual-speakers", str(reference), "--manifest",
                        str(data / "train.csv"), "--out", str(plan), "--seed", str(seed), "--device", device,
                        *([] if progress else ["--quiet"])], check=True, cwd=ROOT, env=env)
    return plan / "virtual_speakers.csv"


def _split_table(data: Path, work: Path) -> Path:
    """A0's table: every training speaker, 2 copies of transform none."""
    path = work / "split_control.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "spk_id,copy,transform,factor\n" + "".join(f"{s},{c},none,1\n" for s in _speakers(data) for c in (1, 2))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def _oracle_corpus(seed: int, data: Path, out: Path, added: int, progress: bool) -> Path:
    """A4's corpus: ``data`` with ``added`` new speakers over the cells of :func:`_cells_to_enrich`."""
    cells = _cells_to_enrich(data)
    counts = [added // len(cells) + (i < added % len(cells)) for i in range(len(cells))]
    folder = data.parent / f"{data.name}_oracle_seed{seed}"
    if not (folder / "corpus.json").is_file():
        args = [sys.executable, "-m", "arwsv", "prepare", "toy-extend", "--base", str(data), "--out", str(folder),
                "--jobs", "1", *[a for c, n in zip(cells, counts) for a in ("--add", f"{c}={n}")]]
        subprocess.run(args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return folder


def _model_folder(arm: str, seed: int, work: Path, out: Path) -> Path:
    """Where the arm's model is (the augmentation study's folder for a reused run)."""
    reused = out / "runs" / f"{arm}_seed{seed}.json"
    if reused.is_file():
        source = json.loads(reused.read_text()).get("model_folder")
        if source:
            return Path(source)
    return work / f"{arm}_seed{seed}"


def _reuse(arm: str, seed: int, data: Path, out: Path) -> bool:
    """Copy the augmentation study's run of the same settings on the same corpus, if there is one."""
    import shutil

    source = ROOT / "results" / "augment_study" / "runs" / f"{REUSE.get(arm, '')}_seed{seed}"
    if arm not in REUSE or not source.with_suffix(".json").is_file():
        return False
    record = json.loads(source.with_suffix(".json").read_text())
    from arwsv.experiments.bench_study import _sha

    if record["trials_sha256"] != _sha(data / "trials" / "H.txt"):
        return False
    (out / "runs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.with_suffix(".npz"), out / "runs" / f"{arm}_seed{seed}.npz")
    record.update({"variant": arm, "reused_from": str(source.relative_to(ROOT)),
                   "model_folder": str(ROOT / "exp" / "augment_study" / f"{REUSE[arm]}_seed{seed}")})
    (out / "runs" / f"{arm}_seed{seed}.json").write_text(json.dumps(record, indent=1) + "\n")
    return True


def run_arm(arm: str, seed: int, data: Path, work: Path, out: Path, device: str, progress: bool,
            threads: int = 1, extra: tuple = ()) -> None:
    from augment_study import train

    from arwsv.experiments.bench_study import record_run

    if (out / "runs" / f"{arm}_seed{seed}.json").is_file() or _reuse(arm, seed, data, out):
        return
    speakers = len(_speakers(data))
    flags = [f"--n_speakers={speakers}", *(a.format(data=data, classes3=3 * speakers) for a in ARMS[arm][1])]
    corpus, note = data, {}
    base = arm.removesuffix("_noise")
    if base in ("a3", "a4"):
        plan = _plan(seed, data, work, out, device, progress, threads)
        added = sum(1 for _ in open(plan)) - 1
        note["added_identities"] = added
        if base == "a3":
            flags += [f"--augment.virtual_speakers={plan}", f"--n_speakers={speakers + added}"]
        else:
            corpus = _oracle_corpus(seed, data, out, added, progress)
            flags += [f"--n_speakers={speakers + added}"]
    elif base == "a0":
        flags += [f"--augment.virtual_speakers={_split_table(data, work)}", f"--n_speakers={3 * speakers}"]
    model = work / f"{arm}_seed{seed}"
    start = time.perf_counter()
    train(model, corpus, seed, device, [*flags, *extra], threads=threads, progress=progress)
    train_s = time.perf_counter() - start
    scores = h_scores(model, data, device, progress)  # the H list of the base corpus (a4's test side is the same)
    report = json.loads((model / "train_report.json").read_text())
    record_run(arm, seed, data, out / "runs", scores, bootstrap=200, device=device,
               wall_s=time.perf_counter() - start,
               extra={"train_wall_s": round(train_s, 1), "augmented": report.get("augmented", {}),
                      "arm_overrides": flags, "corpus": str(corpus), "model_folder": str(model), **note})


# --- the VoxCeleb-likeness of a corpus's baseline ------------------------------------------------------------------


def _ratio_rows(h: dict, scores: np.ndarray, weights=None) -> dict:
    """EER of the overall list, of every cell, gender and country (``weights``: trial weights, None: plain)."""
    from arwsv.evaluation.metrics import eer

    cells = h["cells"]
    gender = np.array([c.split("/")[0] for c in cells])
    country = np.array([c.split("/")[1] for c in cells])
    out = {"all": eer(scores, h["target"], weights=weights)}
    for kind, labels in (("cell", cells), ("gender", gender), ("country", country)):
        for name in np.unique(labels):
            mask = labels == name
            out[f"{kind}:{name}"] = eer(scores[mask], h["target"][mask],
                                        weights=None if weights is None else weights[mask])
    return out


def _criteria(values: dict) -> dict:
    def of(kind):
        return {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith(kind + ":")}

    gender, country, cell = of("gender"), of("country"), of("cell")
    return {"overall H EER (%)": 100 * values["all"],
            "gender ratio (worse / better)": max(gender.values()) / min(gender.values()),
            "nationality ratio (worst / best)": max(country.values()) / min(country.values()),
            "worst cell / best cell": max(cell.values()) / min(cell.values())}


TARGETS = {"overall H EER (%)": (None, 12.0), "gender ratio (worse / better)": (None, 1.4),
           "nationality ratio (worst / best)": (2.0, 4.0), "worst cell / best cell": (None, 4.0)}


def preset_check(data: Path, out: Path, seeds: list, bootstrap: int, command: str) -> dict:
    """``OUT/baseline.md`` and ``baseline.json``: the baseline's cells and the criteria, mean over ``seeds``."""
    from population import h_trials, speaker_draws

    from arwsv.io.files import atomic_write

    h = h_trials(data)
    runs = [np.load(out / "runs" / f"baseline_seed{s}.npz")["scores"] for s in seeds]
    values = [_ratio_rows(h, s) for s in runs]
    mean = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
    point = _criteria(mean)
    draws = speaker_draws(h["speakers"], bootstrap, 0)
    reps = {k: [] for k in point}
    for m in draws:
        w = (m[h["enrol"]] * m[h["test"]]).astype(float)
        rep = [_ratio_rows(h, s, w) for s in runs]
        crit = _criteria({k: float(np.mean([v[k] for v in rep])) for k in rep[0]})
        for k, v in crit.items():
            reps[k].append(v)
    result = {"seeds": seeds, "eer": mean, "criteria": {}}
    lines = [f"# The `{data.name}` corpus's baseline: is it VoxCeleb-like?", "", f"Regenerate: `{command}`", "",
             f"Baseline `recipes/bench/baseline.yaml`, seed(s) {', '.join(map(str, seeds))}; the H list "
             f"({len(h['target']):,} trials, negatives within gender and country). Intervals: 95 % speaker bootstrap "
             f"({bootstrap} replicates). Targets (issue 39 item 1), fixed before any method runs on this corpus.", "",
             "| criterion | value | 95 % interval | target | met |", "|---|---|---|---|---|"]
    for k, v in point.items():
        lo, hi = np.percentile(reps[k], [2.5, 97.5])
        low, high = TARGETS[k]
        met = (low is None or v >= low) and v <= high
        result["criteria"][k] = {"value": v, "ci": [float(lo), float(hi)], "target": [low, high], "met": bool(met)}
        target = f"<= {high:g}" if low is None else f"{low:g} to {high:g}"
        lines.append(f"| {k} | {v:.2f} | [{lo:.2f}, {hi:.2f}] | {target} | {'yes' if met else 'NO'} |")
    lines += ["", "| cell / group | H EER (%) |", "|---|---|"]
    for k, v in mean.items():
        if k != "all":
            lines.append(f"| {k.replace('cell:', '').replace('gender:', 'gender ').replace('country:', 'country ')} "
                         f"| {100 * v:.2f} |")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "baseline.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(out / "baseline.json") as handle:
        handle.write(json.dumps(result, indent=1) + "\n")
    print("\n".join(lines))
    return result


# --- the levelling table ------------------------------------------------------------------------------------------


def levels_up(cells: dict, training: tuple, worst: str) -> str:
    """Issue 39's verdict: ``up`` (the worst cell's interval below 0, no cell's above 0, the training-proportions
    EER's upper end <= +0.3 pp), ``down`` (a cell's interval above 0 while another's is below), or ``no``."""
    better = [c for c, v in cells.items() if v[2][1] < 0]
    worse = [c for c, v in cells.items() if v[2][0] > 0]
    if worst in better and not worse and training[2][1] <= 0.003:
        return "up"
    if worse and better:
        return "down"
    return "worse" if worse else "no"


def summary(data: Path, out: Path, bootstrap: int, command: str) -> dict:
    """``OUT/README.md`` / ``summary.json`` / ``cells.png``: every arm against the same seeds' baseline."""
    from augment_study import _fmt, _plot, pooled, write_summary
    from population import cell_weights, h_trials, speaker_draws

    runs = out / "runs"
    h = h_trials(data)
    train_weights = cell_weights(data)[0]
    draws = speaker_draws(h["speakers"], bootstrap, 0)
    results = {}
    for arm in [a for a in ARMS if a != "baseline"]:
        seeds = [s for s in range(100) if (runs / f"baseline_seed{s}.npz").is_file()
                 and (runs / f"{arm}_seed{s}.npz").is_file()]
        if not seeds:
            continue
        cells = pooled(runs, arm, seeds, h, draws)
        training = pooled(runs, arm, seeds, h, draws, train_weights)["all"]
        named = {c: v for c, v in cells.items() if c != "all"}
        worst = max(named, key=lambda c: named[c][0])
        best = min(named, key=lambda c: named[c][0])
        results[arm] = {"seeds": seeds, "clean": cells, "training_proportions": training, "worst_cell": worst,
                        "best_cell": best, "verdict": levels_up(named, training, worst)}
        print(arm, seeds, _fmt(cells["all"]), results[arm]["verdict"], flush=True)
    lines = [f"# Level up, not down: `{data.name}`", "", f"Regenerate: `{command}`", "",
             "Arms (`recipes/bench/baseline.yaml` + overrides): " + "; ".join(
                 f"**{a}** {what}" for a, (what, _) in ARMS.items()) + ".", "",
             "Each entry: baseline → arm H EER (%), mean over the seeds, and the paired difference in pp with its 95 % "
             f"paired speaker-bootstrap interval ({bootstrap} replicates, seeds pooled). Levels up: the worst cell's "
             "interval below 0, no cell's above 0, and the EER in the training proportions at most +0.3 pp (upper "
             "end); down: some cells better, some worse.", ""]
    if results:
        lines += ["| arm | seeds | H EER | worst cell | best cell | training proportions | cells better / worse | "
                  "verdict |", "|---|---|---|---|---|---|---|---|"]
        for arm, r in results.items():
            named = {c: v for c, v in r["clean"].items() if c != "all"}
            lines.append(f"| {arm} | {len(r['seeds'])} | {_fmt(r['clean']['all'])} | {r['worst_cell']}: "
                         f"{_fmt(named[r['worst_cell']])} | {r['best_cell']}: {_fmt(named[r['best_cell']])} | "
                         f"{_fmt(r['training_proportions'])} | {sum(v[2][1] < 0 for v in named.values())} / "
                         f"{sum(v[2][0] > 0 for v in named.values())} | {r['verdict']} |")
        first = next(iter(results.values()))["clean"]
        lines += ["", "Every gender x country cell (baseline → arm, change [interval]):", "",
                  "| arm | " + " | ".join(c for c in sorted(first) if c != "all") + " |",
                  "|---|" + "---|" * (len(first) - 1)]
        for arm, r in results.items():
            lines.append(f"| {arm} | " + " | ".join(_fmt(v) for c, v in sorted(r["clean"].items()) if c != "all") + " |")
        _plot(results, out / "cells.png", kinds=("clean",))
        lines += ["", "![every cell's change](cells.png)"]
    write_summary(out, lines, results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=None, help="[default: exp/levelup/<corpus folder name>]")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="*", default=["baseline"], choices=list(ARMS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training run (the study: 1)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--preset-check", action="store_true", help="also write OUT/baseline.md")
    parser.add_argument("--summary", action="store_true", help="also write OUT/README.md (the levelling table)")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="more overrides for every run (a smoke test's sizes); the study uses none")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = args.data.resolve()
    work = (args.work or ROOT / "exp" / "levelup" / data.name).resolve()
    for seed in args.seeds:
        for arm in args.arms:
            run_arm(arm, seed, data, work, args.out, args.device, not args.quiet, args.threads, tuple(args.train_args))
    if args.summary:
        summary(data, args.out, args.bootstrap, f"python analyses/bench/levelup_study.py --data {args.data} --out "
                f"{args.out} --arms --summary")
    if args.preset_check:
        seeds = [s for s in args.seeds if (args.out / "runs" / f"baseline_seed{s}.npz").is_file()]
        preset_check(data, args.out, seeds, args.bootstrap,
                     f"python analyses/bench/levelup_study.py --data {args.data} --out {args.out} --arms baseline "
                     f"--seeds {' '.join(map(str, seeds))} --preset-check")


if __name__ == "__main__":
    main()
