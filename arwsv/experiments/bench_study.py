"""``arwsv study --bench``: the fairness study on the benchmark corpus, run in pieces.

Each variant (:data:`BENCH_VARIANTS`: the recipe pair ``recipes/bench/`` with the toy study's
variants, plus the label-free changes tried on the benchmark) is trained for each of its seeds
(:data:`PLAN`: baseline and ARW 5, the others 3), scored on the H list and evaluated with a speaker
bootstrap. Every finished run leaves two small files in ``OUT/runs/``: ``<variant>_seed<S>.json``
(the three study metrics with their intervals, the device, the wall time) and
``<variant>_seed<S>.npz`` (its H-list scores, float32, in trial-list order, with the list's SHA-256).
A rerun skips runs whose files exist, so the study can be finished across sessions and machines and
committed run by run. The summary is rebuilt from those files alone: per variant the mean ± std over
its seeds, and against the baseline of the same seed the paired difference (``arwsv compare``'s
paired speaker bootstrap) of the overall EER, the gender gap and the country std, pooled over seeds
as the mean difference over seeds, its interval from bootstrap replicates that each draw one set of
test speakers for every run and average the seeds' differences on it.

Writes ``OUT/README.md``, ``OUT/summary.json`` and ``OUT/study.png`` (:func:`plot_study`). Models go to ``WORK/<variant>_seed<S>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from arwsv.experiments.demo import QUICK_CORPUS, VARIANTS, train_variant
from arwsv.experiments.study import _mean_std

__all__ = ["run_bench_study", "BENCH_VARIANTS", "PLAN", "bench_corpus", "record_run"]

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "bench"
BENCH_VARIANTS = {name: VARIANTS[name] for name in ("baseline", "arw", "arw_noregions", "aps", "oracle")}
# PL with the bench recipe's K (its regions: 8 before the keys were split)
BENCH_VARIANTS["pl"] = ("arw", {"method": "pl", "adversary_lr": 0.1, "pseudo_groups": 8})
# a ten times weaker adversary: at 3e-4 the weights concentrate (top 10 % of speakers hold 40-50 %)
BENCH_VARIANTS["arw_weak"] = ("arw", {"adversary_lr": 3e-5})
# No loss an adversary can maximise ranks the small groups as hard on the training corpus
# (results/bench_signals_heldout.md: a small group's speakers meet few of their confusers); a cluster's crowding
# (mean cosine between two of its speakers) does not grow with its size. Two passes: the factors come from the
# trained baseline of the same seed (as in Just Train Twice). K = 48, beta = 20 came closest to the oracle's
# factors on baseline seed 0's training speakers (results/bench_crowding.md: chosen with the labels)
SAME_SEED_BASELINE = "<the baseline of the same seed>"  # resolved by _run_one (trained first if missing)
BENCH_VARIANTS["crowding_twopass"] = ("arw", {"method": "crowding", "crowding_clusters": 48,
                                              "crowding_beta": 20.0, "crowding_restarts": 8, "crowding_utts": 2,
                                              "crowding_reference": SAME_SEED_BASELINE})
# how much the two-pass effect owes to K and beta: K = 32, beta = 10
BENCH_VARIANTS["crowding_twopass_mild"] = ("arw", {**BENCH_VARIANTS["crowding_twopass"][1], "crowding_clusters": 32,
                                                   "crowding_beta": 10.0})
PLAN = {"baseline": 5, "arw": 5, "arw_noregions": 3, "aps": 3, "pl": 3, "oracle": 3, "arw_weak": 3,
        "crowding_twopass": 5, "crowding_twopass_mild": 5}
# variants the study measured whose code left (their runs stay in OUT/runs and in the tables; commit e14f2a4 runs
# them): adversary objectives, region batches, held-out adversaries, PL's loss memory, one-pass crowding
RETIRED = ("arw_aam", "arw_aam_weak", "baseline_regionbatches", "arw_regionbatches", "arw_holdout", "pl_holdout",
           "pl_holdout_regions", "pl_holdout_regions_strong", "pl_memory", "pl_memory_k16", "pl_memory_random",
           "pl_memory_soft", "crowding", "crowding_strong")
RETIRED_COMMIT = "e14f2a4"
METRICS = {  # key -> (label, report path, compare row (attribute, group, metric))
    "eer": ("overall EER (%)", ("overall", "eer"), ("all", "all", "eer")),
    "gender_gap": ("gender gap (pp)", ("attributes", "gender", "summary", "eer_gap_abs"),
                   ("gender", "(summary)", "eer_gap_abs")),
    "country_std": ("country std (pp)", ("attributes", "nationality", "summary", "eer_std"),
                    ("nationality", "(summary)", "eer_std")),
}
QUICK_BENCH = dict(QUICK_CORPUS, trials_per_utt=2)


def bench_corpus(work: Path, quick: bool, progress: bool) -> Path:
    """The benchmark corpus under ``WORK/corpus`` (generated once; same settings, same bytes)."""
    import os
    from arwsv.data.toy.config import PRESETS, ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    config = ToyConfig(**(QUICK_BENCH if quick else PRESETS["bench"]))
    data = work / "corpus"
    described = data / "corpus.json"
    if not (described.is_file() and json.loads(described.read_text())["config"] == config.describe()):
        generate_corpus(config, data, jobs=os.cpu_count() or 1, progress=progress)
    return data


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table(data: Path, scores: np.ndarray):
    """The H list with ``scores`` (trial-list order) as a :class:`ScoreTable`, via a SpeechBrain file."""
    import pandas as pd

    from arwsv.io.scorefile import read_scores, read_trials

    trials = read_trials(data / "trials" / "H.txt")
    frame = pd.DataFrame({"enrol": trials["enrol"], "test": trials["test"], "label": trials["label"],
                          "score": scores.astype(np.float64)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.txt"
        frame.to_csv(path, sep=" ", header=False, index=False, float_format="%.9g")
        return read_scores(path)


def _evaluate(data: Path, scores: np.ndarray, bootstrap: int, seed: int):
    from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
    from arwsv.io.metadata import read_metadata

    table = _table(data, scores)
    meta = read_metadata(data / "meta.csv")
    values = {a: meta.values(a, table.speakers) for a in ("gender", "nationality")}
    evaluation = FairnessEvaluation(table, values, EvalSettings(bootstrap=bootstrap, seed=seed))
    return evaluation.run(progress=False), evaluation


def _run_one(name: str, seed: int, data: Path, work: Path, runs: Path, *, quick: bool, bootstrap: int,
             device: str, progress: bool) -> dict:
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.inference.score import score_trials
    from arwsv.io.scorefile import read_trials

    start = time.perf_counter()
    extra = {}
    if BENCH_VARIANTS[name][1].get("crowding_reference") == SAME_SEED_BASELINE:  # two passes: the baseline first
        extra["crowding_reference"] = str(train_variant("baseline", data, work, seed, quick, progress, device=device,
                                                        recipes=RECIPES, variants=BENCH_VARIANTS))
    model = train_variant(name, data, work, seed, quick, progress, reweighting=extra, device=device, recipes=RECIPES,
                          variants=BENCH_VARIANTS)
    features, embedding_model, _ = load_model(model, device=device)
    ids, emb = extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device,
                       progress=progress)
    scores = score_trials(read_trials(data / "trials" / "H.txt"), ids, emb)["score"].to_numpy(np.float32)
    return record_run(name, seed, data, runs, scores, bootstrap=bootstrap, device=device,
                      wall_s=time.perf_counter() - start)


def record_run(name: str, seed: int, data: Path, runs: Path, scores, *, bootstrap: int, device: str, wall_s: float,
               extra: dict | None = None) -> dict:
    """Evaluate one run's H-list ``scores`` (trial-list order) with the labels and write
    ``runs/<name>_seed<seed>.npz`` and then ``.json`` (whose presence marks the run done)."""
    from arwsv.evaluation.groups import _dig
    from arwsv.io.files import atomic_write

    scores = np.asarray(scores, dtype=np.float32)
    report, _ = _evaluate(data, scores, bootstrap, seed)
    result = {"variant": name, "seed": seed, "device": device, "wall_s": round(wall_s, 1), **(extra or {}),
              "trials_sha256": _sha(data / "trials" / "H.txt"), "bootstrap": bootstrap,
              "metrics": {key: {"value": _dig(report, path), "ci": (_dig(report, path[:-1]).get("ci") or {}).get(path[-1])}
                          for key, (_, path, _) in METRICS.items()},
              "groups": {a: {g: v["eer"] for g, v in part["groups"].items()} for a, part in report["attributes"].items()}}
    stem = runs / f"{name}_seed{seed}"
    runs.mkdir(parents=True, exist_ok=True)
    with atomic_write(stem.with_suffix(".npz"), mode="wb") as handle:
        np.savez_compressed(handle, scores=scores, trials_sha256=np.array(result["trials_sha256"]))
    from arwsv.evaluation.report import to_json

    with atomic_write(stem.with_suffix(".json")) as handle:  # last: its presence marks the run done
        handle.write(to_json(result))
    return result


def _replicated(data: Path, runs: Path, name: str, seed: int, bootstrap: int) -> dict | None:
    """Each study metric of one run: its value and its value in every speaker-bootstrap replicate,
    ``{key: (value, (R,) array)}``. Every run draws with bootstrap seed 0: the replicates of all runs
    resample the same speakers (one trial list), so differences can be paired across variants and
    averaged across training seeds replicate by replicate."""
    from arwsv.evaluation.compare import _finite
    from arwsv.evaluation.groups import _dig

    path = runs / f"{name}_seed{seed}.npz"
    if not path.is_file():
        return None
    report, evaluation = _evaluate(data, np.load(path)["scores"], bootstrap, 0)
    values = {}
    for key, (_, where, _) in METRICS.items():
        in_replicate = where if where[0] == "overall" else where[1:]  # replicates drop the "attributes" level
        values[key] = (_finite(_dig(report, where)),
                       np.array([_finite(_dig(r, in_replicate)) for r in evaluation.replicates]))
    return values


def _interval(d: np.ndarray) -> tuple:
    """95 % percentile interval of paired differences (R,) and the share of replicates where B is lower."""
    d = d[np.isfinite(d)]
    if not len(d):
        return None, None
    return [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))], float(np.mean(d < 0))


def _summary(data: Path, runs: Path, bootstrap: int, names=None, baseline: str = "baseline") -> dict:
    """Per variant of ``names`` (default: the benchmark's) with runs in ``runs``: mean ± std over its seeds and the
    paired difference from ``baseline`` of the same seed, pooled over seeds (module docstring)."""
    done = {}
    for path in sorted(runs.glob("*_seed*.json")):
        result = json.loads(path.read_text())
        done.setdefault(result["variant"], {})[result["seed"]] = result
    baselines = {s: _replicated(data, runs, baseline, s, bootstrap) for s in done.get(baseline, {})}
    summary = {}
    for name in [v for v in (names or (*BENCH_VARIANTS, *RETIRED)) if v in done]:
        seeds = sorted(done[name])
        row = {"seeds": seeds, "devices": sorted({done[name][s]["device"] for s in seeds})}
        runs_b = {s: _replicated(data, runs, name, s, bootstrap) for s in seeds} if name != baseline else {}
        paired = {s: (baselines[s], b) for s, b in runs_b.items() if b is not None and baselines.get(s) is not None}
        for key in METRICS:
            mean, std = _mean_std([done[name][s]["metrics"][key]["value"] for s in seeds])
            entry = {"mean": mean, "std": std}
            if paired:
                per_seed, pooled = {}, []
                for s, (a, b) in paired.items():
                    d = b[key][1] - a[key][1]
                    ci, better = _interval(d)
                    diff = b[key][0] - a[key][0]
                    per_seed[str(s)] = {"diff": diff, "rel_diff": diff / a[key][0] if a[key][0] else float("nan"),
                                        "ci": ci, "share_b_better": better}
                    pooled.append(d)
                entry["paired_seeds"] = len(per_seed)
                entry["diff_mean"] = statistics.fmean(p["diff"] for p in per_seed.values())
                entry["rel_diff_mean"] = statistics.fmean(p["rel_diff"] for p in per_seed.values())
                entry["diff_std"] = _mean_std([p["diff"] for p in per_seed.values()])[1]
                # the seeds' mean difference in each replicate (the same speakers for every seed): the
                # interval of the mean B - A over seeds, from test-speaker sampling
                entry["ci_mean"], entry["share_b_better"] = _interval(np.mean(pooled, axis=0))
                entry["per_seed"] = per_seed
            row[key] = entry
        summary[name] = row
    return summary


def _markdown(summary: dict, command: str, bootstrap: int) -> str:
    lines = ["# The fairness study on the benchmark corpus", "", f"Regenerate: `{command}`", "",
             "H list of `arwsv prepare toy --preset bench`; `recipes/bench/` with each variant's overrides "
             "(`arwsv.experiments.bench_study.BENCH_VARIANTS`). Mean ± std over the seeds done; against the "
             "baseline of the same seed, the paired difference B - A averaged over seeds, with the 95 % interval "
             f"of that average from a paired speaker bootstrap ({bootstrap} replicates; each replicate draws one "
             "set of test speakers for every run and averages the seeds' differences on it) and the relative "
             "change. Rates and gaps in %.", "",
             "| variant | seeds done | overall EER | gender gap | country std |", "|---|---|---|---|---|"]

    def cell(entry, seeds):
        if not math.isfinite(entry["mean"]):
            return "n/a"
        text = f"{100 * entry['mean']:.2f}" + (f" ± {100 * entry['std']:.2f}" if seeds > 1 else "")
        if "diff_mean" in entry and math.isfinite(entry["diff_mean"]):
            ci = entry.get("ci_mean")
            text += f" (B - A {100 * entry['diff_mean']:+.2f}" + \
                (f" [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else "") + f", {100 * entry['rel_diff_mean']:+.0f} %)"
        return text

    for name, row in summary.items():
        plan = PLAN.get(name, f"{len(row['seeds'])}, retired ({RETIRED_COMMIT})")
        lines.append(f"| {name} | {len(row['seeds'])} of {plan} ({', '.join(row['devices'])}) | "
                     + " | ".join(cell(row[k], len(row["seeds"])) for k in METRICS) + " |")
    missing = [f"{v} seeds {', '.join(str(s) for s in range(n) if s not in summary.get(v, {}).get('seeds', []))}"
               for v, n in PLAN.items() if len(summary.get(v, {}).get("seeds", [])) < n]
    lines += ["", "Not run yet: " + ("; ".join(missing) if missing else "none") + "."]
    return "\n".join(lines) + "\n"


TARGETS = {"gender_gap": -0.17, "country_std": -0.10}  # the paper's relative changes (issue 12, item 6)


def plot_study(summary: dict, path: Path) -> None:
    """Forest plot: per variant and metric, the mean paired difference B - A over seeds (pp) with its
    95 % interval, 0 (no change) and the paper's target change from the baseline's mean (dashed)."""
    from arwsv.evaluation.plots import plot_paired_changes

    rows = {f"{name} ({len(row['seeds'])})": row for name, row in summary.items() if "diff_mean" in row["eer"]}
    references = {}
    for key, change in TARGETS.items():
        base = summary.get("baseline", {}).get(key, {}).get("mean")
        if base is not None and math.isfinite(base):
            references[key] = (100 * change * base, f"paper's {100 * change:+.0f} %")
    plot_paired_changes(rows, {key: label.split(" (")[0] + ": B - A (pp)" for key, (label, _, _) in METRICS.items()},
                        path, "Bench study, H list: each variant against the same seed's baseline (seeds in brackets; "
                              "green: interval below 0, red: above 0)", references=references)


def run_bench_study(*, out="results/bench_study", work="exp/bench", data=None, variants=None, seeds=None,
                    bootstrap: int = 200, quick: bool = False, device: str = "cpu", progress: bool = True) -> dict:
    """Run the missing (variant, seed) pieces asked for, then rebuild the summary from every run on disk."""
    from arwsv.errors import InputError
    from arwsv.evaluation.report import to_json
    from arwsv.io.files import atomic_write

    out, work = Path(out), Path(work)
    if quick:
        work = work / "quick"
    data = Path(data) if data else bench_corpus(work, quick, progress)
    for path in (data / "test.csv", data / "meta.csv", data / "trials" / "H.txt"):
        if not path.is_file():
            raise InputError("missing: not a prepared benchmark corpus (arwsv prepare toy --preset bench)", path)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    sha = _sha(data / "trials" / "H.txt")
    for path in runs.glob("*.json"):
        if json.loads(path.read_text()).get("trials_sha256") != sha:
            raise InputError("this run was scored on another H list than the corpus's; use the corpus it was "
                             "made with (arwsv prepare toy --preset bench) or remove it", path)
    todo = [(v, s) for v in (variants or PLAN) for s in (seeds if seeds is not None else range(PLAN.get(v, 3)))
            if not (runs / f"{v}_seed{s}.json").is_file()]
    todo.sort(key=lambda job: (job[1], job[0] != "baseline"))  # each seed's baseline first: pairs complete early
    for name, seed in todo:
        result = _run_one(name, seed, data, work, runs, quick=quick, bootstrap=bootstrap, device=device,
                          progress=progress)
        m = result["metrics"]
        print(f"{name} seed {seed}: EER {100 * m['eer']['value']:.2f} %, gender gap {100 * m['gender_gap']['value']:.2f}, "
              f"country std {100 * m['country_std']['value']:.2f} ({result['wall_s']:.0f} s, {device})", flush=True)
    summary = _summary(data, runs, 1000 if not quick else 50)
    command = "arwsv study --bench" + (" --quick" if quick else "") + (f" --device {device}" if device != "cpu" else "")
    text = _markdown(summary, command, 1000 if not quick else 50)
    with atomic_write(out / "README.md") as handle:
        handle.write(text)
    with atomic_write(out / "summary.json") as handle:
        handle.write(to_json({"command": command, "summary": summary}))
    plot_study(summary, out / "study.png")
    print(text)
    return summary
