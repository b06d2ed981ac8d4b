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
as the mean difference with the mean of the per-seed interval bounds.

Writes ``OUT/README.md`` and ``OUT/summary.json``. Models go to ``WORK/<variant>_seed<S>``.
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

__all__ = ["run_bench_study", "BENCH_VARIANTS", "PLAN", "bench_corpus"]

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "bench"
BENCH_VARIANTS = {name: VARIANTS[name] for name in ("baseline", "arw", "arw_noregions", "aps", "pl", "oracle")}
# label-free changes measured on the benchmark (results/bench_first_arw: the recipe's ARW weights
# the majority, whose random in-batch negatives are hard, and hurts every group)
BENCH_VARIANTS["arw_aam"] = ("arw", {"adversary_objective": "aam"})  # adversary maximises the AAM term
# a ten times weaker adversary: at 3e-4 the weights concentrate (top 10 % of speakers hold 40-50 %)
BENCH_VARIANTS["arw_weak"] = ("arw", {"adversary_lr": 3e-5})
BENCH_VARIANTS["arw_aam_weak"] = ("arw", {"adversary_objective": "aam", "adversary_lr": 3e-5})
# results/bench_signals.md: the training losses are highest for majority-country women and lowest
# for the minority countries (whose speakers the model memorises), so a loss-maximising adversary
# cannot find the minorities in random batches; region batches make their neighbours the negatives
for name in ("baseline_regionbatches", "arw_regionbatches"):
    BENCH_VARIANTS[name] = VARIANTS[name]
# results/bench_signals_test.md: on speakers the learner has not seen, the same losses are 2-4 times
# higher for the minority countries and women; the adversary ascends on held-out speakers' pairs
BENCH_VARIANTS["arw_holdout"] = ("arw", {"adversary_holdout": 0.1, "adversary_objective": "pairs"})
# the same with PL's adversary: one logit per k-means region (the regions are nearly pure gender x
# country cells, results/bench_signals.md), so whole regions are lifted, not single hard samples
BENCH_VARIANTS["pl_holdout"] = ("arw", {"method": "pl", "adversary_lr": 0.01, "adversary_holdout": 0.1,
                                        "adversary_objective": "pairs"})
# pl_holdout still lifts the majority's regions: in random batches the majority meets its confusers
# more often, the minorities rarely (their share of the batch is small). Region batches of the held-out
# speakers make every speaker's negatives its neighbours, whatever its group's size (on unseen speakers
# their pair loss is 5 times higher for the minorities than for the majority, results/bench_signals_test.md)
BENCH_VARIANTS["pl_holdout_regions"] = ("arw", {"method": "pl", "adversary_lr": 0.01, "adversary_holdout": 0.1,
                                                "adversary_objective": "pairs", "adversary_batch_regions": 8})
PLAN = {"baseline": 5, "arw": 5, "arw_noregions": 3, "aps": 3, "pl": 3, "oracle": 3, "arw_aam": 3, "arw_weak": 3,
        "arw_aam_weak": 3, "baseline_regionbatches": 3, "arw_regionbatches": 3,
        "arw_holdout": 3, "pl_holdout": 3,
        "pl_holdout_regions": 3}
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
    from dataclasses import asdict

    from arwsv.data.toy.config import PRESETS, ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    config = ToyConfig(**(QUICK_BENCH if quick else PRESETS["bench"]))
    data = work / "corpus"
    described = data / "corpus.json"
    if not (described.is_file() and json.loads(described.read_text())["config"] == asdict(config)):
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
    from arwsv.evaluation.groups import _dig
    from arwsv.inference.embed import extract, load_model
    from arwsv.inference.score import score_trials
    from arwsv.io.files import atomic_write
    from arwsv.io.scorefile import read_trials

    start = time.perf_counter()
    model = train_variant(name, data, work, seed, quick, progress, device=device, recipes=RECIPES,
                          variants=BENCH_VARIANTS)
    features, embedding_model, _ = load_model(model, device=device)
    ids, emb = extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device,
                       progress=progress)
    scores = score_trials(read_trials(data / "trials" / "H.txt"), ids, emb)["score"].to_numpy(np.float32)
    report, _ = _evaluate(data, scores, bootstrap, seed)
    result = {"variant": name, "seed": seed, "device": device, "wall_s": round(time.perf_counter() - start, 1),
              "trials_sha256": _sha(data / "trials" / "H.txt"), "bootstrap": bootstrap,
              "metrics": {key: {"value": _dig(report, path), "ci": (_dig(report, path[:-1]).get("ci") or {}).get(path[-1])}
                          for key, (_, path, _) in METRICS.items()},
              "groups": {a: {g: v["eer"] for g, v in part["groups"].items()} for a, part in report["attributes"].items()}}
    stem = runs / f"{name}_seed{seed}"
    with atomic_write(stem.with_suffix(".npz"), mode="wb") as handle:
        np.savez_compressed(handle, scores=scores, trials_sha256=np.array(result["trials_sha256"]))
    from arwsv.evaluation.report import to_json

    with atomic_write(stem.with_suffix(".json")) as handle:  # last: its presence marks the run done
        handle.write(to_json(result))
    return result


def _paired(data: Path, runs: Path, name: str, seed: int, bootstrap: int) -> dict | None:
    """B - A against the baseline of the same seed, from the two runs' saved scores."""
    from arwsv.evaluation.compare import paired_comparison

    a, b = runs / f"baseline_seed{seed}.npz", runs / f"{name}_seed{seed}.npz"
    if not (a.is_file() and b.is_file()):
        return None
    report_a, eval_a = _evaluate(data, np.load(a)["scores"], bootstrap, seed)
    report_b, eval_b = _evaluate(data, np.load(b)["scores"], bootstrap, seed)
    rows = {(r["attribute"], r["group"], r["metric"]): r
            for r in paired_comparison(report_a, report_b, eval_a.replicates, eval_b.replicates)}
    return {key: {k: rows[row][k] for k in ("diff", "rel_diff", "ci", "share_b_better")}
            for key, (_, _, row) in METRICS.items()}


def _summary(data: Path, runs: Path, bootstrap: int) -> dict:
    done = {}
    for path in sorted(runs.glob("*_seed*.json")):
        result = json.loads(path.read_text())
        done.setdefault(result["variant"], {})[result["seed"]] = result
    summary = {}
    for name in [v for v in BENCH_VARIANTS if v in done]:
        seeds = sorted(done[name])
        row = {"seeds": seeds, "devices": sorted({done[name][s]["device"] for s in seeds})}
        paired = {s: _paired(data, runs, name, s, bootstrap) for s in seeds} if name != "baseline" else {}
        for key in METRICS:
            mean, std = _mean_std([done[name][s]["metrics"][key]["value"] for s in seeds])
            entry = {"mean": mean, "std": std}
            diffs = [p[key] for p in paired.values() if p]
            if diffs:
                entry["paired_seeds"] = len(diffs)
                entry["diff_mean"] = statistics.fmean(d["diff"] for d in diffs)
                entry["rel_diff_mean"] = statistics.fmean(d["rel_diff"] for d in diffs)
                lows = [d["ci"][0] for d in diffs if d["ci"]]
                highs = [d["ci"][1] for d in diffs if d["ci"]]
                entry["ci_mean"] = [statistics.fmean(lows), statistics.fmean(highs)] if lows else None
                entry["per_seed"] = {str(s): p[key] for s, p in paired.items() if p}
            row[key] = entry
        summary[name] = row
    return summary


def _markdown(summary: dict, command: str, bootstrap: int) -> str:
    lines = ["# The fairness study on the benchmark corpus", "", f"Regenerate: `{command}`", "",
             "H list of `arwsv prepare toy --preset bench`; `recipes/bench/` with each variant's overrides "
             "(`arwsv.experiments.bench_study.BENCH_VARIANTS`). Mean ± std over the seeds done; against the "
             "baseline of the same seed, the mean paired difference B - A and the mean of the per-seed 95 % "
             f"paired speaker-bootstrap intervals ({bootstrap} replicates). Rates and gaps in %.", "",
             "| variant | seeds done | overall EER | gender gap | country std |", "|---|---|---|---|---|"]

    def cell(entry):
        if not math.isfinite(entry["mean"]):
            return "n/a"
        text = f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f}"
        if "diff_mean" in entry and math.isfinite(entry["diff_mean"]):
            ci = entry.get("ci_mean")
            text += f" (B - A {100 * entry['diff_mean']:+.2f}" + \
                (f" [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else "") + f", {100 * entry['rel_diff_mean']:+.0f} %)"
        return text

    for name, row in summary.items():
        lines.append(f"| {name} | {len(row['seeds'])} of {PLAN.get(name, '?')} ({', '.join(row['devices'])}) | "
                     + " | ".join(cell(row[k]) for k in METRICS) + " |")
    missing = [f"{v} seeds {', '.join(str(s) for s in range(n) if s not in summary.get(v, {}).get('seeds', []))}"
               for v, n in PLAN.items() if len(summary.get(v, {}).get("seeds", [])) < n]
    lines += ["", "Not run yet: " + ("; ".join(missing) if missing else "none") + "."]
    return "\n".join(lines) + "\n"


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
    print(text)
    return summary
