"""``arwsv score MODEL_DIR TRIALS --out SCORES``: cosine scores (optionally AS-norm) of a trial list."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="score a trial list with a trained model (cosine, optional AS-norm)",
                       description="Write SCORES in SpeechBrain format (enrol test label score), which "
                                   "arwsv eval reads.")
    p.add_argument("model_dir", help="output folder of arwsv train")
    p.add_argument("trials", help="trial list, VoxCeleb (label enrol test) or Kaldi (enrol test target) format")
    p.add_argument("--out", required=True, help="score file to write")
    p.add_argument("--manifest", help="manifest holding the trial utterances [default: the recipe's test_manifest]")
    p.add_argument("--embeddings", help="use these embeddings (from arwsv embed) instead of extracting")
    p.add_argument("--norm", choices=["none", "asnorm"], default="none")
    p.add_argument("--cohort", help="manifest of cohort speakers for --norm asnorm (e.g. train.csv)")
    p.add_argument("--top-k", type=int, default=200, help="AS-norm top-k cohort scores")
    p.add_argument("--cohort-utts", type=int, default=0,
                   help="utterances embedded per cohort speaker, its first N by id [default 0: all]; a cohort "
                        "speaker is the mean of its unit embeddings")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    import io

    import numpy as np
    import pandas as pd

    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import cohort_embeddings, extract, load_embeddings, load_model
    from arwsv.errors import InputError
    from arwsv.io.files import atomic_write, check_writable
    from arwsv.data.manifest import read_manifest
    from arwsv.io.scorefile import read_trials
    from arwsv.inference.score import score_trials

    check_writable(args.out)
    if args.norm == "asnorm" and not args.cohort:
        raise InputError("--norm asnorm needs --cohort MANIFEST")
    if args.top_k < 1:
        raise InputError("--top-k must be >= 1")
    if args.cohort_utts < 0:
        raise InputError("--cohort-utts must be >= 0 (0: every utterance)")
    trials = read_trials(args.trials)
    if args.cohort:
        read_manifest(args.cohort)  # before any extraction: a typo should not cost the embedding time
    features = model = None
    if args.embeddings:
        ids, emb = load_embeddings(args.embeddings)
    else:
        features, model, hparams = load_model(args.model_dir, args.device)
        manifest = args.manifest or hparams.get("test_manifest")
        if not manifest:
            raise InputError("the recipe has no test_manifest: pass --manifest")
        read_manifest(manifest)
        rows = load_manifest_rows(manifest)
        wanted = {u.rsplit(".", 1)[0] for u in pd.concat([trials["enrol"], trials["test"]])}
        rows = [r for r in rows if r["id"] in wanted]
        if not rows:
            raise InputError(f"none of the trial list's utterances are in {manifest}; pass the manifest that "
                             "holds them with --manifest", args.trials)
        ids, emb = extract(features, model, rows, device=args.device, progress=not args.quiet)
    cohort = None
    if args.norm == "asnorm":
        if model is None:
            features, model, _ = load_model(args.model_dir, args.device)
        _, cohort = cohort_embeddings(features, model, load_manifest_rows(args.cohort), utts=args.cohort_utts,
                                      device=args.device, progress=not args.quiet)  # one vector per speaker
    scores = score_trials(trials, ids, emb, cohort, args.top_k)
    buffer = io.StringIO()
    scores.to_csv(buffer, sep=" ", header=False, index=False, float_format="%.6f")
    with atomic_write(args.out) as handle:
        handle.write(buffer.getvalue())
    print(f"wrote {len(scores)} scores to {args.out}")
    return 0
