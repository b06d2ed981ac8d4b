"""``arwsv study --select``: the label-free selection on the benchmark and on corpora no choice was tuned on.

For each corpus (:data:`CORPORA`: the benchmark and the presets ``reseeded``, ``shares``, ``uncrowded``,
``crowded``, ``espeak`` of :mod:`arwsv.data.toy.config`, fixed before any run on them) and seed (:data:`PLAN`):

1. ``arwsv select recipes/bench/baseline.yaml recipes/bench/select.yaml`` (:mod:`arwsv.selection`): the split,
   every candidate, the choice; its table and its pieces (factors, pseudo-groups, development embeddings) go to
   ``OUT/<corpus>/seed<S>/``;
2. as soon as each system is trained, labels joined only then, for the report: its H-list scores evaluated per
   gender and country (:func:`arwsv.experiments.bench_study.record_run`) into ``OUT/<corpus>/runs/``: ``uniform``
   (the baseline) and post-hoc AS-norm of its scores (no retraining; cohort: one mean embedding per speaker, top
   200) with the training speakers as cohort (``asnorm_train``, speakers the model memorised) and with the
   development speakers (``asnorm_unseen``, speakers it never trained on), and every candidate; then ``selected``
   (the rule's choice, a copy of that candidate's scores);
3. ARW-PW (``recipes/bench/arw.yaml``) on the same training speakers, the same seed, scored as above (the seeds of
   :data:`ARW_PLAN`: the benchmark's first only).

Every finished piece is kept and skipped on rerun (the candidates by ``arwsv select``, each scored system by its
JSON), so the study finishes across sessions. The tables are rebuilt from ``OUT/*/runs`` alone:
``OUT/<corpus>/README.md`` (every system against the same seed's ``uniform``, paired speaker bootstrap pooled over
seeds as in the benchmark study) and ``OUT/README.md`` (one row per corpus: where each method helps, does
nothing or hurts, and what the rule chose).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["CORPORA", "PLAN", "run_select_study", "verdict"]

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "bench" / "baseline.yaml"
ARW_RECIPE = ROOT / "recipes" / "bench" / "arw.yaml"
SELECTION = ROOT / "recipes" / "bench" / "select.yaml"
CORPORA = ("bench", "uncrowded", "shares", "crowded", "espeak", "reseeded")
PLAN = {"bench": 5, "uncrowded": 2, "shares": 2, "crowded": 2, "espeak": 2, "reseeded": 2}
# ARW-PW trains for the seeds below ARW_PLAN[corpus]: on the benchmark one seed gives its row in the cross-corpus
# table, and its five seeds on all training speakers are in the benchmark study (results/bench_study/), so seeds 1-4
# spend their ~25 min per seed on the rule's candidates instead
ARW_PLAN = {**PLAN, "bench": 1}
POST_HOC = ("asnorm_train", "asnorm_unseen")
ASNORM_TOP_K = 200  # cohort scores kept by the post-hoc AS-norm runs
BENCH_STUDY = ROOT / "results" / "bench_study" / "summary.json"


def corpus_data(name: str, root: Path, progress: bool) -> Path:
    """The corpus of preset ``name`` under ``root/name`` (generated once; same preset, same bytes)."""
    from arwsv.data.toy.config import PRESETS, ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    config = ToyConfig(**PRESETS[name])
    data = root / name
    described = data / "corpus.json"
    if not (described.is_file() and json.loads(described.read_text())["config"] == config.describe()):
        if config.backend == "espeak":
            from arwsv.data.toy.espeak import check_available

            check_available()
        generate_corpus(config, data, jobs=os.cpu_count() or 1, progress=progress)
    return data


def _test_embeddings(model: Path, data: Path, device: str, progress: bool):
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model

    features, embedding_model, _ = load_model(model, device=device)
    return extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device, progress=progress)


def _score_model(name: str, model: Path, seed: int, data: Path, work: Path, runs: Path, *, bootstrap: int,
                 device: str, progress: bool) -> None:
    """One trained system's H-list run (labels joined here only), right after its training: the model need not
    outlive the session. For ``uniform``, also post-hoc AS-norm of its scores with the two cohorts."""
    from arwsv.experiments.bench_study import record_run
    from arwsv.inference.score import score_trials
    from arwsv.io.scorefile import read_trials

    missing = [n for n in ((name, *POST_HOC) if name == "uniform" else (name,))
               if not (runs / f"{n}_seed{seed}.json").is_file()]
    if not missing:
        return
    start = time.perf_counter()
    trials = read_trials(data / "trials" / "H.txt")
    ids, emb = _test_embeddings(model, data, device, progress)
    if name in missing:
        record_run(name, seed, data, runs, score_trials(trials, ids, emb)["score"].to_numpy(),
                   bootstrap=bootstrap, device=device, wall_s=time.perf_counter() - start)
    if name == "uniform":  # post-hoc score normalisation of the baseline: no retraining
        with np.load(work / "reference.npz", allow_pickle=False) as ref:
            dev_speakers, dev = ref["dev_speakers"], ref["dev"].astype(np.float64)
            cohorts = {"asnorm_train": ref["train"],
                       "asnorm_unseen": np.stack([dev[dev_speakers == s].mean(0) for s in np.unique(dev_speakers)])}
        for post, cohort in cohorts.items():
            if post in missing:
                record_run(post, seed, data, runs, score_trials(trials, ids, emb, cohort, ASNORM_TOP_K)["score"].to_numpy(),
                           bootstrap=bootstrap, device=device, wall_s=time.perf_counter() - start,
                           extra={"cohort_speakers": len(cohort)})


def _record_selected(seed: int, data: Path, runs: Path, selection: dict, *, bootstrap: int, device: str) -> None:
    from arwsv.experiments.bench_study import record_run

    chosen = selection["selection"]["selected"]
    recorded = runs / f"selected_seed{seed}.json"
    if not recorded.is_file() or json.loads(recorded.read_text())["candidate"] != chosen:  # new run, or a new rule
        with np.load(runs / f"{chosen}_seed{seed}.npz") as saved:
            scores = saved["scores"]
        record_run("selected", seed, data, runs, scores, bootstrap=bootstrap, device=device, wall_s=0.0,
                   extra={"candidate": chosen, "reason": selection["selection"]["reason"]})


def _cell_eers(data: Path, scores: Path) -> dict:
    """H-list EER of every gender x country cell (``"f/Arcadia"``) of a run's saved scores."""
    from arwsv.evaluation.groups import FairnessEvaluation
    from arwsv.experiments.bench_study import _table
    from arwsv.io.metadata import read_metadata

    with np.load(scores) as saved:
        table = _table(data, saved["scores"])
    meta = read_metadata(data / "meta.csv")
    values = {a: meta.values(a, table.speakers) for a in ("gender", "nationality")}
    report = FairnessEvaluation(table, values, intersect=True).run(progress=False)
    short = {"female": "f", "male": "m"}  # the metadata's genders, as the manifests write them
    return {"/".join([short.get(g.split("/")[0], g.split("/")[0]), g.split("/", 1)[1]]): v["eer"]
            for g, v in report["attributes"]["gender/nationality"]["groups"].items()}


def cluster_view(unit: np.ndarray, cells: np.ndarray, clusters: int, *, restarts: int, seed: int):
    """What a crowding candidate sees of each true cell: speaker embeddings (N, D) and cell codes (N,) ->
    per speaker (N,) the crowding of its k-means cluster and the share of that cluster in the speaker's own cell,
    each averaged over the candidate's restarts (the clusterings of
    :func:`arwsv.training.reweighting.cluster_factors`: :func:`~arwsv.training.reweighting.restart_clusterings`)."""
    from arwsv.training.reweighting import restart_clusterings

    crowding_seen, own_share = np.zeros(len(unit)), np.zeros(len(unit))
    for kmeans, sizes, crowding in restart_clusterings(unit, clusters, restarts=restarts, seed=seed):
        labels = kmeans.labels_
        crowding_seen += np.where(np.isnan(crowding), np.nanmean(crowding), crowding)[labels] / restarts
        together = np.zeros((len(sizes), cells.max() + 1))
        np.add.at(together, (labels, cells), 1)
        own_share += (together[labels, cells] / together[labels].sum(axis=1)) / restarts
    return crowding_seen, own_share


def factors_by_cell(work: Path, data: Path, runs: Path, seed: int) -> str:
    """Who got weight, with the labels joined afterwards: per true gender x country cell of the training speakers,
    its count, its crowding by the uniform model (mean cosine between two of its speakers), its H-list EER under
    uniform weights, each candidate's mean factor (mean 1 over the training speakers), and for each crowding K
    what the candidate sees of the cell (:func:`cluster_view`: its speakers' clusters' crowding and the share of
    those clusters in the cell). Markdown."""
    import pandas as pd

    from arwsv.selection.config import load_selection_config
    from arwsv.training.reweighting import cluster_crowding

    frame = pd.read_csv(work / "split" / "train.csv", keep_default_na=False).groupby("spk_id").first()
    pieces = runs.parent / f"seed{seed}" / "pieces"
    cell_of = frame["gender"] + "/" + frame["nationality"]
    with np.load(work / "reference.npz", allow_pickle=False) as ref:
        speakers, unit = ref["train_speakers"], ref["train"]
    cells = cell_of.reindex(speakers).to_numpy()
    names, codes = np.unique(cells, return_inverse=True)
    sizes, crowding = cluster_crowding(unit, codes, len(names))
    table = pd.DataFrame({"cell": names, "training speakers": sizes.astype(int), "crowding": crowding})
    table["uniform H EER (%)"] = [100 * _cell_eers(data, runs / f"uniform_seed{seed}.npz").get(c, float("nan"))
                                  for c in names]
    for path in sorted((pieces / "factors").glob("*.csv")):
        factors = pd.read_csv(path, dtype={"spk_id": str}).set_index("spk_id")["factor"].reindex(speakers).to_numpy()
        table[path.stem] = [factors[codes == i].mean() for i in range(len(names))]
    settings = load_selection_config(SELECTION)
    for clusters in sorted({c.clusters for c in settings.candidates.values() if c.signal == "crowding"}):
        seen, share = cluster_view(unit, codes, clusters, restarts=settings.restarts, seed=seed)
        table[f"K{clusters} cluster crowding"] = [seen[codes == i].mean() for i in range(len(names))]
        table[f"K{clusters} own-cell share"] = [share[codes == i].mean() for i in range(len(names))]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_factors_by_cell(corpus: str, seed: int, work: Path, data: Path, out: Path) -> None:
    """``OUT/<corpus>/seed<S>/factors_by_cell.md``: :func:`factors_by_cell` with its heading (after the uniform
    model trained; rerun by hand from the kept work folder when the table gains a column)."""
    from arwsv.io.files import atomic_write

    runs, folder = out / corpus / "runs", out / corpus / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "factors_by_cell.md") as handle:
        handle.write(f"# Who gets weight: corpus `{corpus}`, seed {seed}\n\nRegenerate: `arwsv study --select`"
                     "\n\nWritten after the uniform model trained, with the labels joined for this table only. Per true "
                     "cell of the training speakers: its crowding by the uniform model (mean cosine between "
                     "two of its speakers), its H-list EER under uniform weights, each candidate's mean "
                     "factor (mean 1 over training speakers), and what each crowding K sees of the cell: "
                     "the mean crowding of its speakers' k-means clusters (the candidate's clusterings) and "
                     "the share of those clusters in the cell.\n\n" + factors_by_cell(work, data, runs, seed))


def run_piece(corpus: str, seed: int, *, out: Path, work_root: Path, data_root: Path, bootstrap: int, device: str,
              jobs: int, progress: bool, arw: bool = True, only: str | None = None) -> None:
    """Steps 1-3 of the module docstring for one corpus and seed (each skipped where already done). Every system
    is scored on the H list as soon as it is trained, so the model need not outlive the session; ARW-PW trains
    after the selection (``arw=False``: not at all). ``only="train"``: every system trained and scored, the
    rule not applied (the selection is computed by a later run from the kept pieces)."""
    from arwsv.selection.config import load_selection_config
    from arwsv.selection.run import candidate_overrides, run_selection, train_candidate, wait_all

    data = corpus_data(corpus, data_root, progress)
    work = work_root / f"{corpus}_seed{seed}"
    runs, folder = out / corpus / "runs", out / corpus / f"seed{seed}"
    overrides = {"data_folder": str(data)}
    kw = dict(bootstrap=bootstrap, device=device, progress=progress)

    def on_trained(name, model):
        _score_model(name, model, seed, data, work, runs, **kw)
        if name == "uniform":  # who would get weight, with the labels joined for this table only
            write_factors_by_cell(corpus, seed, work, data, out)

    settings = load_selection_config(SELECTION)
    for name, spec in settings.post_hoc.items():  # the H-list run the study records for it, if it is selected
        if name != "asnorm_train" or spec.top_k != ASNORM_TOP_K:
            raise ValueError(f"{SELECTION}: post-hoc candidate {name} has no H-list run in this study "
                             f"(only asnorm_train, top_k {ASNORM_TOP_K}: the training speakers as cohort)")
    folder.mkdir(parents=True, exist_ok=True)
    selection = run_selection(RECIPE, settings=settings, work=work, out=folder,
                              overrides=overrides, seed=seed, device=device, jobs=jobs, progress=progress,
                              on_trained=on_trained, only=only)
    if only != "train":
        _record_selected(seed, data, runs, selection, bootstrap=bootstrap, device=device)
    if arw and not (runs / f"arw_pw_seed{seed}.json").is_file():
        log = work / "logs" / "arw_pw.log"
        block = candidate_overrides(work, "arw_pw", {}, seed, selection["split"]["train_speakers"], overrides)
        wait_all({"arw_pw": (train_candidate(ARW_RECIPE, block, device=device, log=log), log)})
        _score_model("arw_pw", work / "candidates" / "arw_pw", seed, data, work, runs, **kw)


def verdict(entry: dict) -> str:
    """``helps`` / ``hurts`` / ``nothing`` for a pooled paired difference (lower is better)."""
    ci = entry.get("ci_mean")
    if not ci:
        return "n/a"
    return "helps" if ci[1] < 0 else "hurts" if ci[0] > 0 else "nothing"


def _systems(runs: Path) -> list:
    names = sorted({json.loads(p.read_text())["variant"] for p in runs.glob("*_seed*.json")})
    first = ["uniform", "selected"]
    last = ["arw_pw", *POST_HOC]
    return [n for n in first if n in names] + [n for n in names if n not in first + last] + [n for n in last if n in names]


def _cell(entry: dict) -> str:
    if not math.isfinite(entry.get("mean", float("nan"))):
        return "n/a"
    text = f"{100 * entry['mean']:.2f}"
    if "diff_mean" in entry and math.isfinite(entry["diff_mean"]):
        ci = entry.get("ci_mean")
        text += f" ({100 * entry['diff_mean']:+.2f}" + (f" [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else "") + \
                f", {100 * entry['rel_diff_mean']:+.0f} %)"
    return text


# the cross-corpus table and plot: the rule's choice, the fixed settings (the label-chosen one first), ARW-PW, AS-norm
OVERVIEW_SYSTEMS = ("selected", "crowding_k48_b20", "crowding_k32_b10", "difficulty_k16_b10", "arw_pw", *POST_HOC)


def plot_overview(overview: dict, path: Path) -> None:
    """The cross-corpus table as a forest plot: per corpus and system (:data:`OVERVIEW_SYSTEMS`), the pooled
    paired change against uniform with its 95 % interval, one panel per metric."""
    from arwsv.evaluation.plots import plot_paired_changes
    from arwsv.experiments.bench_study import METRICS

    rows = {}
    for corpus, item in overview.items():
        for name in OVERVIEW_SYSTEMS:
            row = item["summary"].get(name)
            if row is not None and "diff_mean" in row["eer"]:
                chosen = f" = {'/'.join(sorted(set(item['selected'].values())))}" if name == "selected" else ""
                rows[f"{corpus}: {name}{chosen} ({len(row['seeds'])})"] = row
    plot_paired_changes(rows, {key: label.split(" (")[0] + ": change (pp)" for key, (label, _, _) in METRICS.items()},
                        path, "Label-free selection study, H list: each system against the same seed's uniform model "
                              "(seeds in brackets; green: interval below 0, red: above 0)")


NO_INTERVAL = ("ci", "ci_mean", "share_b_better")  # null in a summary when no interval exists


def _nan_for_null(tree):
    """``tree`` read back from summary.json, with the NaN numbers that ``to_json`` wrote as null restored (where
    there is no interval, ``ci``/``ci_mean``/``share_b_better`` are null in a fresh summary too, and stay so)."""
    if isinstance(tree, dict):
        return {k: (math.nan if v is None and k not in NO_INTERVAL else _nan_for_null(v)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_nan_for_null(v) for v in tree]
    return tree


def summarize(out: Path, data_root: Path, bootstrap: int = 1000) -> dict:
    """Rebuild every corpus table and the cross-corpus table from the run files."""
    from arwsv.evaluation.report import to_json
    from arwsv.experiments.bench_study import METRICS, _summary
    from arwsv.io.files import atomic_write

    overview = {}
    # a corpus whose data folder this machine lacks keeps its committed table and its row of summary.json (its runs
    # cannot be re-read without the H list), so a run of one corpus never drops the others from the tables
    previous = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    for corpus in CORPORA:
        runs = out / corpus / "runs"
        if not runs.is_dir() or not any(runs.glob("uniform_seed*.json")):
            continue
        if not (data_root / corpus / "meta.csv").is_file():
            if corpus in previous:
                kept = previous[corpus]
                overview[corpus] = {"summary": _nan_for_null(kept["summary"]),
                                    "selected": {int(s): c for s, c in kept["selected"].items()}}
                print(f"{corpus}: {data_root / corpus} missing, its table is kept as committed "
                      f"(arwsv prepare toy --preset {corpus} --out {data_root / corpus} rebuilds it)", flush=True)
            else:
                print(f"{corpus}: {data_root / corpus} missing and no earlier summary, left out of the tables "
                      f"(arwsv prepare toy --preset {corpus} --out {data_root / corpus}, then rerun)", flush=True)
            continue
        summary = _summary(data_root / corpus, runs, bootstrap, names=_systems(runs), baseline="uniform")
        chosen = {}
        for path in sorted(runs.glob("selected_seed*.json")):
            result = json.loads(path.read_text())
            chosen[result["seed"]] = result["candidate"]
        overview[corpus] = {"summary": summary, "selected": chosen}
        lines = [f"# Label-free selection study: corpus `{corpus}`", "",
                 "Regenerate: `arwsv study --select`", "",
                 f"Pieces are kept; `arwsv prepare toy --preset {corpus}` makes the corpus.", "",
                 "H list; every system against `uniform` (the baseline recipe on the same training speakers, same "
                 "seed): mean over seeds and, in brackets, the paired difference averaged over seeds with its 95 % "
                 f"interval (paired speaker bootstrap, {bootstrap} replicates) and the relative change. Rates in %. "
                 "Labels were joined for this table only.", "",
                 "Selected per seed: " + (", ".join(f"seed {s}: `{c}`" for s, c in sorted(chosen.items())) or "none yet")
                 + ".", "", "| system | seeds | overall EER | gender gap | country std |", "|---|---|---|---|---|"]
        for name, row in summary.items():
            lines.append(f"| {name} | {', '.join(map(str, row['seeds']))} | " +
                         " | ".join(_cell(row[k]) for k in METRICS) + " |")
        if corpus == "bench" and BENCH_STUDY.is_file():  # the label-chosen settings, beside the rule's choice
            earlier = json.loads(BENCH_STUDY.read_text())["summary"]
            lines += ["", "From the benchmark study (`results/bench_study/`: every model trained on all 2,000 training "
                      "speakers, against *its* baseline of the same seed; K and beta of crowding chosen with the "
                      "labels, `results/bench_crowding.md`):", "",
                      "| system | seeds | overall EER | gender gap | country std |", "|---|---|---|---|---|"]
            for name in ("baseline", "crowding_twopass", "crowding_twopass_mild", "arw", "oracle"):
                if name in earlier:
                    row = earlier[name]
                    lines.append(f"| {name} (bench study) | {', '.join(map(str, row['seeds']))} | " +
                                 " | ".join(_cell(row[k]) for k in METRICS) + " |")
        with atomic_write(out / corpus / "README.md") as handle:
            handle.write("\n".join(lines) + "\n")
    lines = ["# The label-free selection on the benchmark and on corpora no choice was tuned on", "",
             "Regenerate: `arwsv study --select`", "",
             "One row per corpus (presets in `arwsv/data/toy/config.py`, fixed "
             "before any run); each cell: the pooled paired change against the same seed's uniform baseline in pp "
             "with its 95 % interval, and the verdict (helps: interval below 0; hurts: above 0; nothing: across 0). "
             "Per-corpus tables: `<corpus>/README.md`; the rule's tables: `<corpus>/seed<S>/selection.md`.", "",
             "| corpus | seeds | rule chose | selected: EER / gender gap / country std | crowding K48 b20 (the "
             "label-chosen setting) | crowding K32 b10 | difficulty K16 b10 | ARW-PW | AS-norm, training cohort | "
             "AS-norm, unseen cohort |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def short(row, of: int):
        if row is None:
            return "not run"
        parts = []
        for key in METRICS:
            entry = row[key]
            if "diff_mean" not in entry:
                return "n/a"
            parts.append(f"{100 * entry['diff_mean']:+.2f} ({verdict(entry)})")
        paired = row[next(iter(METRICS))]["paired_seeds"]  # fewer seeds than the baseline's (ARW-PW on bench): say so
        return " / ".join(parts) + (f" ({paired} of {of} seeds)" if paired != of else "")

    for corpus, item in overview.items():
        summary = item["summary"]
        of = len(summary["uniform"]["seeds"])
        lines.append(f"| {corpus} | {of} of {PLAN[corpus]} | "
                     f"{', '.join(sorted(set(item['selected'].values()))) or 'n/a'} | "
                     + " | ".join(short(summary.get(name), of) for name in OVERVIEW_SYSTEMS) + " |")
    out.mkdir(parents=True, exist_ok=True)
    plot_overview(overview, out / "overview.png")
    lines += ["", "![every corpus, every system against uniform](overview.png)"]
    with atomic_write(out / "README.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(out / "summary.json") as handle:
        handle.write(to_json(overview))
    return overview


def run_select_study(*, out="results/select_study", work="exp/select", data="data", corpora=None, seeds=None,
                     bootstrap: int = 200, device: str = "cpu", jobs: int = 1, progress: bool = True,
                     only: str | None = None) -> dict:
    """Run the missing pieces asked for (seed by seed, so every corpus gets its first seed early), then the tables
    (``only="train"``: train and score every system, apply no rule, write no table)."""
    out, work, data = Path(out), Path(work), Path(data)
    todo = [(c, s) for c in (corpora or CORPORA) for s in (seeds if seeds is not None else range(PLAN[c]))]
    todo.sort(key=lambda job: (job[1], CORPORA.index(job[0])))
    for corpus, seed in todo:
        run_piece(corpus, seed, out=out, work_root=work, data_root=data, bootstrap=bootstrap, device=device,
                  jobs=jobs, progress=progress, arw=seed < ARW_PLAN[corpus], only=only)
        print(f"{'trained' if only == 'train' else 'done'}: {corpus} seed {seed}", flush=True)
    return {} if only == "train" else summarize(out, data)
