"""A reweighted model scored with AS-norm: the rule's view (no labels) and the H list (labels, for the report).

Exploratory (question stated in ``docs/study.md`` before its numbers existed). The second rule has one post-hoc
candidate, AS-norm of the *uniform* model. This script adds, for every reweighted candidate whose model is still in
the work folder, the same AS-norm of *that* model (cohort: its own embeddings of the training split's speakers, the
first ``reference_utts`` utterances of each, one mean each; top 200), as ``<name>+asnorm``:

1. development view, no labels: every candidate, ``asnorm_train`` and the combinations on the trials within
   pseudo-groups (:func:`arwsv.selection.rule.evaluate_candidates`), and what the second rule
   (:func:`arwsv.selection.rule.select`) would choose among them all;
2. H list, labels joined for the report only: each combination's run (as the study records ``asnorm_train``) and
   every system's paired change against the same seed's uniform model (:func:`arwsv.experiments.bench_study._summary`).

Pieces kept in ``OUT/<corpus>/seed<S>/reweight_asnorm/`` (each combination's cohort, float16, and its H-list run),
so a rerun needs the models only for combinations not yet measured.

    python analyses/bench/reweight_asnorm.py shares 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TOP_K = 200


def _cohort(model: Path, train_csv: Path, utts: int, path: Path) -> np.ndarray:
    """The model's training-speaker cohort (S, D), cached in ``path``."""
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import cohort_embeddings, load_model
    from arwsv.io.files import atomic_write

    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return data["embeddings"].astype(np.float64)
    features, embedding_model, _ = load_model(model, device="cpu")
    names, means = cohort_embeddings(features, embedding_model, load_manifest_rows(train_csv), utts=utts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode="wb") as handle:
        np.savez(handle, speakers=names, embeddings=means.astype(np.float16))
    return means.astype(np.float16).astype(np.float64)  # the cached precision, so a rerun gives the same numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("seed", type=int)
    parser.add_argument("--work", default="exp/select")
    parser.add_argument("--data", default="data")
    parser.add_argument("--out", default="results/select_study")
    parser.add_argument("--bootstrap", type=int, default=1000, help="H-list replicates (the study's)")
    args = parser.parse_args()

    from arwsv.experiments.bench_study import METRICS, _summary, record_run
    from arwsv.experiments.select_study import SELECTION, _test_embeddings
    from arwsv.inference.score import score_trials
    from arwsv.io.files import atomic_write
    from arwsv.io.scorefile import read_trials
    from arwsv.selection.config import load_selection_config
    from arwsv.selection.pseudo_groups import DevTrials
    from arwsv.selection.rule import evaluate_candidates, groups_better, groups_worse, select
    from arwsv.selection.run import _read_dev_piece, _read_groups

    settings = load_selection_config(SELECTION)
    work = Path(args.work) / f"{args.corpus}_seed{args.seed}"
    folder = Path(args.out) / args.corpus / f"seed{args.seed}"
    pieces, mine, runs = folder / "pieces", folder / "reweight_asnorm", Path(args.out) / args.corpus / "runs"
    data = Path(args.data) / args.corpus
    for needed in (pieces / "pseudo_groups.csv", pieces / "cohort.npz", runs / f"uniform_seed{args.seed}.json",
                   data / "trials" / "H.txt"):
        if not needed.is_file():
            print(f"{needed}: missing (run `arwsv study --select --corpora {args.corpus} --seeds {args.seed}` first)",
                  file=sys.stderr)
            sys.exit(2)
    reweighted = [n for n in settings.candidates if n != "uniform" and (pieces / "dev" / f"{n}.npz").is_file()]

    # 1. the development view: no labels
    group_of = _read_groups(pieces / "pseudo_groups.csv")
    ids, speakers, uniform_emb = _read_dev_piece(pieces, "uniform")
    trials = DevTrials(ids, speakers, group_of)
    dev = {name: _read_dev_piece(pieces, name) for name in reweighted}  # (ids, speakers, embeddings)
    scores = {"uniform": trials.scores(ids, uniform_emb)}
    for name, (piece_ids, _, emb) in dev.items():
        scores[name] = trials.scores(piece_ids, emb)
    with np.load(pieces / "cohort.npz", allow_pickle=False) as saved:
        scores["asnorm_train"] = trials.normalised_scores(ids, uniform_emb, saved["embeddings"].astype(np.float32),
                                                          top_k=TOP_K)
    h_trials = read_trials(data / "trials" / "H.txt")
    combined = []
    for name in reweighted:
        model, combo = work / "candidates" / name, f"{name}+asnorm"
        cached = mine / "cohorts" / f"{name}.npz"
        done = (mine / "runs" / f"{combo}_seed{args.seed}.json").is_file()
        if not (cached.is_file() and done) and not (model / "checkpoints").is_dir():
            print(f"{combo}: no model in {model} and no kept piece, skipped", flush=True)
            continue
        cohort = _cohort(model, work / "split" / "train.csv", settings.reference_utts, cached)
        piece_ids, _, emb = dev[name]
        scores[combo] = trials.normalised_scores(piece_ids, emb, cohort.astype(np.float32), top_k=TOP_K)
        if not done:  # 2. its H-list run, as the study records asnorm_train (labels joined there, for the report)
            test_ids, test_emb = _test_embeddings(model, data, "cpu", True)
            h = score_trials(h_trials, test_ids, test_emb, cohort, TOP_K)["score"].to_numpy()
            record_run(combo, args.seed, data, mine / "runs", h, bootstrap=args.bootstrap, device="cpu", wall_s=0.0,
                       extra={"cohort_speakers": len(cohort), "model": name})
        combined.append(combo)
    rows = evaluate_candidates(trials, scores, bootstrap=settings.bootstrap, seed=args.seed, progress=False)
    choice = select(rows, max_eer_increase=settings.max_eer_increase / 100)

    # 2. the H list, every system of this seed against its uniform
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["uniform", "asnorm_train", *reweighted]:
            for ext in ("json", "npz"):
                shutil.copy(runs / f"{name}_seed{args.seed}.{ext}", tmp)
        for combo in combined:
            for ext in ("json", "npz"):
                shutil.copy(mine / "runs" / f"{combo}_seed{args.seed}.{ext}", tmp)
        names = ["uniform", "asnorm_train", *reweighted, *combined]
        summary = _summary(data, Path(tmp), args.bootstrap, names=names, baseline="uniform")

    def pp(value, ci):
        return f"{100 * value:+.2f} [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" if ci else f"{100 * value:+.2f}"

    by_name = {r["candidate"]: r for r in rows}
    lines = [f"# A reweighted model scored with AS-norm: `{args.corpus}` seed {args.seed} (exploratory)", "",
             f"Regenerate: `python analyses/bench/reweight_asnorm.py {args.corpus} {args.seed}`", "",
             "Question and what would count, stated before these numbers: `docs/study.md`, \"A reweighted model scored "
             "with AS-norm?\". `<name>+asnorm`: candidate `<name>`'s model scored with AS-norm, its own embeddings "
             f"of the training split's speakers as cohort (top {TOP_K}). Development view (no labels): the second rule's "
             "metrics against uniform with 95 % paired speaker-bootstrap intervals "
             f"({settings.bootstrap} replicates), pseudo-groups measurably worse / better, and eligibility. H list "
             f"(labels joined for the report only): paired change against uniform, pp, {args.bootstrap} replicates.", "",
             f"**The second rule over all of these would choose `{choice['selected']}`**: {choice['reason']}.", "",
             "| system | dev: overall EER | dev: worst pseudo-group | dev: groups worse / better | eligible | helps "
             "| H: EER | H: gender gap | H: country std |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names[1:]:
        row, h = by_name[name], summary[name]
        dev = [pp(row["delta"][k], row["ci"][k]) for k in ("eer", "worst")]
        flags = ["yes" if name in choice[k] else "no" for k in ("eligible", "helps")]
        hcells = [pp(h[k]["diff_mean"], h[k].get("ci_mean")) for k in METRICS]
        lines.append(f"| {name} | " + " | ".join(dev) + f" | {len(groups_worse(row))} / {len(groups_better(row))} | "
                     + " | ".join(flags) + " | " + " | ".join(hcells) + " |")
    mine.mkdir(parents=True, exist_ok=True)
    with atomic_write(mine / "README.md") as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(mine / "choice.json") as handle:
        handle.write(json.dumps({"selected": choice["selected"], "eligible": choice["eligible"],
                                 "helps": choice["helps"]}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
