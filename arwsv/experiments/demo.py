"""``arwsv demo``: baseline vs ARW on the default toy corpus, side by side.

Steps (each reuses its output when a previous run with the same settings left it):
1. the default toy corpus (planted imbalance; ``arwsv/data/toy/corpus.py``) under ``WORK/toy``;
2. ``recipes/toy/baseline.yaml`` and ``recipes/toy/arw.yaml`` with the same seed and budget;
3. embeddings of the test speakers, cosine scores of the H list (negatives share gender and
   country), ``arwsv eval`` with a speaker bootstrap;
4. ``OUT/README.md`` (the table), ``OUT/demo.json``, ``OUT/det.png`` (DET curves per group, both
   models) and ``OUT/weights.png`` (mean ARW weight per gender and country over training,
   measured afterwards with the labels the trainer never saw);
5. whether this one-seed toy run moves the overall EER, the gender gap and the country std the same
   way as ARW-PW in the benchmark study (``results/bench_study/summary.json``, mean over its seeds):
   the demo is a scaled-down illustration, the study is the evidence;
6. because a training of a few CPU minutes cannot show an effect (its differences are far inside the
   intervals), ``arwsv compare`` on the committed score files of the benchmark study (:data:`COMMITTED`, real
   outputs of its models, seed 0; ``results/bench_study/trials/``: the H list and its speakers' metadata):
   the baseline against label-free crowding and against ARW-PW, with paired speaker-bootstrap intervals.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from arwsv.errors import InputError
from arwsv.evaluation.groups import _dig  # the report-path lookup the bootstrap already uses

__all__ = ["run_demo", "ROWS", "VARIANTS", "train_variant", "evaluate_model", "toy_corpus", "committed_comparison"]

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "toy"
STUDY_SUMMARY = Path(__file__).resolve().parents[2] / "results" / "bench_study" / "summary.json"
# demo table row -> the benchmark study's metric key
STUDY_METRICS = {"overall EER (%)": "eer", "gender gap, abs. EER difference (pp)": "gender_gap",
                 "country std of EER (pp)": "country_std"}
BENCH = Path(__file__).resolve().parents[2] / "results" / "bench_study"
# the committed systems the demo compares (results/bench_study/runs/<name>_seed0.npz) and how the table names them
COMMITTED = {"baseline": "baseline", "crowding_twopass": "crowding K48 beta20", "arw": "ARW-PW"}
QUICK_CORPUS = dict(speakers=24, utts_per_speaker=4, seconds=1.0, test_speakers=8)
QUICK_MODEL = {"crop_seconds": 0.5, "speakers_per_batch": 4, "n_speakers": 16, "emb_dim": 32, "epochs": 1,
               "embedding_model": {"channels": [32, 32, 32, 32, 96], "attention_channels": 16, "se_channels": 16},
               "log_every": 2}
QUICK_ARW = {"warmup_steps": 2, "region_priors": 3, "memory_bank": 64, "region_refit_every": 3}


def toy_corpus(work: Path, seed: int, quick: bool, progress: bool) -> Path:
    from arwsv.data.toy.config import ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    config = ToyConfig(seed=seed, **(QUICK_CORPUS if quick else {}))
    data = work / "toy"
    described = data / "corpus.json"
    if described.is_file() and json.loads(described.read_text())["config"] == config.describe():
        return data  # already generated with these settings
    generate_corpus(config, data, jobs=os.cpu_count() or 1, progress=progress)
    return data


VARIANTS = {  # name -> (toy recipe, reweighting overrides); the study compares them at equal budget
    "baseline": ("baseline", {}),
    "arw": ("arw", {}),                              # PW + k-means region priors (the paper's best)
    "arw_noregions": ("arw", {"region_priors": 0}),  # PW without region priors
    "aps": ("arw", {"method": "aps"}),
    # PL's adversary is K logits, which the recipe's step (3e-4) barely moves in a toy budget: 0.1,
    # chosen on the tuning corpus (results/toy_tuning_round2.md), never on the study's corpus
    "pl": ("arw", {"method": "pl", "adversary_lr": 0.1, "pseudo_groups": 4}),  # K as the toy recipe's regions
    "oracle": ("arw", {"method": "oracle"}),         # group-balanced weights from the true labels
}


def train_variant(name: str, data: Path, work: Path, seed: int, quick: bool, progress: bool,
                  reweighting: dict | None = None, folder: str | None = None, device: str = "cpu",
                  recipes: Path = RECIPES, variants: dict = VARIANTS) -> Path:
    """Train variant ``name`` (of ``variants``, recipes in ``recipes``) with extra ``reweighting``
    overrides into ``work/<folder or name_seedS>``; reuses a finished run of the same resolved recipe
    (and of the same crowding reference model, where the run recorded it)."""
    from arwsv.training.recipe import load_recipe, recipe_changes
    from arwsv.training.run import FINAL_WEIGHTS, reference_changed, run_training, seed_everything

    recipe, variant = variants[name]
    out = work / (folder or f"{name}_seed{seed}")
    overrides = {"data_folder": str(data), "output_folder": str(out), "seed": seed}
    block = dict(QUICK_ARW) if quick and recipe == "arw" else {}
    block.update(variant)
    block.update(reweighting or {})
    if quick:
        overrides.update(QUICK_MODEL)
    if block:
        overrides["reweighting"] = block
    seed_everything(seed)
    hparams, resolved = load_recipe(recipes / f"{recipe}.yaml", overrides)
    recorded = out / "hyperparams.yaml"
    same = recorded.is_file() and not recipe_changes(recorded.read_text(encoding="utf-8"), resolved)
    same = same and not reference_changed(hparams)  # two passes: a retrained reference makes it another run
    if same and (out / FINAL_WEIGHTS).is_file():
        return out  # trained before with the same recipe
    if not same and out.exists():
        import shutil

        shutil.rmtree(out)  # a run of other settings in the work folder
    resume = same and (out / "checkpoints").exists()
    run_training(hparams, resolved, resume=resume, progress=progress, device=device)
    return out


def evaluate_model(model: Path, data: Path, trials: str, bootstrap: int, seed: int, progress: bool,
                   device: str = "cpu") -> tuple:
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.evaluation.groups import EvalSettings, FairnessEvaluation
    from arwsv.io.metadata import read_metadata
    from arwsv.io.scorefile import read_scores, read_trials
    from arwsv.inference.score import score_trials

    features, embedding_model, _ = load_model(model, device=device)
    ids, emb = extract(features, embedding_model, load_manifest_rows(data / "test.csv"), device=device,
                       progress=progress)
    scores = model / f"scores_{trials}.txt"
    score_trials(read_trials(data / "trials" / f"{trials}.txt"), ids, emb).to_csv(scores, sep=" ", header=False,
                                                                                  index=False, float_format="%.6f")
    table = read_scores(scores)
    meta = read_metadata(data / "meta.csv")
    values = {a: meta.values(a, table.speakers) for a in ("gender", "nationality")}
    evaluation = FairnessEvaluation(table, values, EvalSettings(bootstrap=bootstrap, seed=seed))
    return evaluation.run(progress=progress), evaluation


ROWS = [  # (label, path into the eval report, is a rate shown in %)
    ("overall EER (%)", ("overall", "eer"), True),
    ("overall minDCF@0.01", ("overall", "min_dcf@0.01"), False),
]


def _rows(report: dict) -> list:
    rows = list(ROWS)
    for attribute in ("gender", "nationality"):
        for group in report["attributes"][attribute]["groups"]:
            rows.append((f"{attribute} {group} EER (%)", ("attributes", attribute, "groups", group, "eer"), True))
    rows += [("gender gap, abs. EER difference (pp)", ("attributes", "gender", "summary", "eer_gap_abs"), True),
             ("country std of EER (pp)", ("attributes", "nationality", "summary", "eer_std"), True),
             ("FDR gender (1 = fair)", ("attributes", "gender", "summary", "fdr"), False),
             ("FDR country (1 = fair)", ("attributes", "nationality", "summary", "fdr"), False)]
    return rows


def _ci(tree, path):
    *head, last = path
    ci = (_dig(tree, head).get("ci") or {}).get(last)
    return ci


def side_by_side(reports: dict) -> tuple:
    """Markdown table rows and the same numbers as a dict keyed like the table."""
    base, arw = reports["baseline"], reports["arw"]
    lines = ["| metric | baseline | ARW | ARW vs baseline |", "|---|---|---|---|"]
    numbers = {}
    for label, path, pct in _rows(base):
        b, a = _dig(base, path), _dig(arw, path)
        scale = 100 if pct else 1

        def show(value, report):
            if value is None or not math.isfinite(value):
                return "n/a"
            ci = _ci(report, path)
            band = f" [{scale * ci[0]:.2f}, {scale * ci[1]:.2f}]" if ci and all(map(math.isfinite, ci)) else ""
            return f"{scale * value:.{2 if pct else 3}f}{band}"

        change = (a - b) / b * 100 if b and math.isfinite(a) and math.isfinite(b) else float("nan")
        lines.append(f"| {label} | {show(b, base)} | {show(a, arw)} | "
                     f"{'n/a' if not math.isfinite(change) else f'{change:+.1f} %'} |")
        numbers[label] = {"baseline": b, "arw": a, "relative_change": change}
    return lines, numbers


def direction_vs_study(numbers: dict, summary: Path = STUDY_SUMMARY, variant: str = "arw") -> list:
    """Markdown lines: does this run's ARW change each :data:`STUDY_METRICS` row in the same direction
    as ``variant`` did in the benchmark study (its mean relative change against the same seed's
    baseline)? ``numbers`` is :func:`side_by_side`'s dict. No lines when the summary is absent
    (an installed copy without the repository's results) or holds no paired seed of ``variant``."""
    try:
        study = json.loads(Path(summary).read_text())["summary"][variant]
    except (OSError, KeyError, ValueError):
        return []
    parts, against = [], []
    for label, key in STUDY_METRICS.items():
        here, there = numbers[label]["relative_change"], study.get(key, {}).get("rel_diff_mean")
        if there is None or not math.isfinite(here):
            return []
        name = label.split(" (")[0].split(",")[0]  # "overall EER", "gender gap", "country std of EER"
        same = (here > 0) == (there > 0)
        if not same:
            against.append(name)
        parts.append(f"{name} {here:+.1f} % here, {100 * there:+.1f} % there "
                     f"({'same direction' if same else 'opposite'})")
    seeds = len(study["seeds"])
    verdict = "agrees with it in all three" if not against else f"does NOT agree with it on {', '.join(against)}"
    return [f"Against the benchmark study (`results/bench_study/README.md`: ARW-PW, {seeds} seed"
            f"{'s' if seeds != 1 else ''}, mean change against the same seed's baseline): " + "; ".join(parts)
            + f". This one-seed toy run {verdict}; the study is the evidence.", ""]


def _weights_plot(arw_dir: Path, data: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from arwsv.io.files import atomic_write

    weights = arw_dir / "speaker_weights.csv"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if weights.is_file():
        frame = pd.read_csv(weights)
        meta = pd.read_csv(data / "meta.csv", sep="\t").set_index("VoxCeleb1 ID")
        frame["gender"] = frame["spk_id"].map(meta["Gender"]).map({"m": "male", "f": "female"})
        frame["country"] = frame["spk_id"].map(meta["Nationality"])
        for ax, column in zip(axes, ("gender", "country")):
            # weight received per sample: mean λ weighted by how often the speaker was seen
            frame["total"] = frame["mean_lambda"] * frame["n"]
            grouped = frame.groupby(["epoch", column])[["total", "n"]].sum()
            table = (grouped["total"] / grouped["n"]).unstack(column)
            for name in table.columns:
                ax.plot(table.index + 1, table[name], marker="o", label=name)
            ax.axhline(2.0, color="0.6", linestyle=":", linewidth=1)
            ax.set(xlabel="epoch", ylabel="mean ARW weight λ per sample", title=f"by {column} (labels unseen in training)")
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def committed_comparison(work: Path, *, bootstrap: int, seed: int = 0, study: Path = BENCH) -> list:
    """Markdown lines: ``arwsv compare`` of the benchmark study's committed scores (seed 0 of each of
    :data:`COMMITTED`), the baseline against each other system. The scores (``runs/<name>_seed0.npz``, in H-list
    order) are written as SpeechBrain score files under ``WORK/committed/`` after checking that they belong to
    the committed list (its SHA-256). No lines when the study's files are absent (an installed copy)."""
    import gzip
    import hashlib
    import subprocess
    import sys

    import numpy as np

    from arwsv.io.files import atomic_write

    trials_gz, meta = study / "trials" / "H.txt.gz", study / "trials" / "meta.csv"
    runs = {name: study / "runs" / f"{name}_seed0.npz" for name in COMMITTED}
    if not trials_gz.is_file() or not meta.is_file() or not all(p.is_file() for p in runs.values()):
        return []
    raw = gzip.decompress(trials_gz.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    trials = [line.split() for line in raw.decode("utf-8").splitlines() if line.strip()]
    files = {}
    (work / "committed").mkdir(parents=True, exist_ok=True)
    for name, path in runs.items():
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["trials_sha256"]) != digest or len(saved["scores"]) != len(trials):
                raise InputError(f"its scores are not of {trials_gz} (SHA-256 differs): restore the committed "
                                 "files", path)
            scores = saved["scores"]
        files[name] = work / "committed" / f"{name}_seed0.txt"
        with atomic_write(files[name]) as handle:
            handle.write("".join(f"{e} {t} {label} {s:.9g}\n" for (label, e, t), s in zip(trials, scores)))
    lines = ["## The benchmark study's committed scores", "",
             "A training of a few CPU minutes cannot show an effect (the differences above are inside the intervals), "
             "so here are real outputs of the benchmark study's models (seed 0, `results/bench_study/`; crowding's K and "
             "beta were chosen there with the labels), compared with `arwsv compare` (paired speaker bootstrap, "
             f"{bootstrap} replicates). The H list weighs every gender x country cell alike; on a list in the "
             "training proportions every reweighting raises the EER (`results/bench_population.md`).", ""]
    for name in list(COMMITTED)[1:]:
        command = ["compare", str(files["baseline"]), str(files[name]), "--meta", str(meta), "--names",
                   COMMITTED["baseline"], COMMITTED[name], "--bootstrap", str(bootstrap), "--seed", str(seed)]
        # the command a user runs, as a process: experiments sit below the command line and do not import it
        run = subprocess.run([sys.executable, "-m", "arwsv", *command], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"arwsv {' '.join(command)} failed: {run.stderr.strip()}")
        shown = " ".join(["arwsv", "compare", "WORK/committed/baseline_seed0.txt",
                          f"WORK/committed/{name}_seed0.txt", "--meta", "results/bench_study/trials/meta.csv",
                          "--bootstrap", str(bootstrap)])
        lines += [f"`{shown}`", "", "```", run.stdout.rstrip(), "```", ""]
    return lines


def run_demo(*, out="results/demo", work="exp/arwsv", seed: int = 0, quick: bool = False, trials: str = "H",
             bootstrap: int = 200, progress: bool = True) -> dict:
    """Run every step; returns the JSON written to ``OUT/demo.json``."""
    from arwsv.io.files import atomic_write
    from arwsv.evaluation.plots import plot_det

    out, work = Path(out), Path(work)
    if quick:  # tiny models live apart: the full ones (an hour of CPU for the study) must never be replaced
        work = work / "quick"
    out.mkdir(parents=True, exist_ok=True)
    data = toy_corpus(work, 0, quick, progress)  # one corpus: seeds vary training, not the data
    reports, curves = {}, {}
    for name in ("baseline", "arw"):
        model = train_variant(name, data, work, seed, quick, progress)
        reports[name], evaluation = evaluate_model(model, data, trials, 0 if quick else bootstrap, seed, progress)
        for part in evaluation.partitions:
            panel = curves.setdefault(part.attribute, {})
            for group in part.groups:
                panel[f"{name} {group.name}"] = (group.trials.det(), reports[name]["attributes"][part.attribute]
                                                 ["groups"][group.name]["eer"])
    lines, numbers = side_by_side(reports)
    command = "arwsv demo" + (f" --seed {seed}" if seed else "") + (" --quick" if quick else "")
    text = "\n".join(["# arwsv demo: baseline vs ARW on the toy corpus", "", f"Regenerate: `{command}`", "",
                      f"Trials: `{trials}` list (non-targets share gender and country). EER with 95 % speaker-"
                      f"bootstrap intervals ({0 if quick else bootstrap} replicates); same seed and budget for "
                      "both models. Negative change = ARW lower.", "", *lines, "",
                      *direction_vs_study(numbers), *committed_comparison(work, bootstrap=20 if quick else bootstrap,
                                                                          seed=seed)])
    with atomic_write(out / "README.md") as handle:
        handle.write(text)
    result = {"command": command, "trials": trials, "seed": seed, "quick": quick, "table": numbers,
              "reports": reports}
    from arwsv.evaluation.report import to_json

    with atomic_write(out / "demo.json") as handle:
        handle.write(to_json(result))
    plot_det(curves, out / "det.png", title="baseline vs ARW, per group")
    _weights_plot(work / f"arw_seed{seed}", data, out / "weights.png")
    print(text)
    return result
