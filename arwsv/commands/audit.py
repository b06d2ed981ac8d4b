"""``arwsv audit SCORES --embeddings EMB``: discover the speaker cohorts a system serves worst."""

from __future__ import annotations

import os
import sys

from arwsv.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit", help="find the worst-served speaker cohorts by clustering speaker embeddings (no labels needed)",
        description="Cluster the scored speakers by their mean embedding (k-means), rank the clusters (cohorts) by "
                    "EER on their own trials, and report the gap between the worst cohorts holding "
                    "--bottom-share of the speakers and the rest, with speaker-bootstrap intervals. EMB is the "
                    ".npz of `arwsv embed` (ids = utterance ids as in the score file, without or with .wav; "
                    "embeddings = float32 N x D).")
    p.add_argument("scores", help="score file (any format `arwsv eval` reads)")
    p.add_argument("--embeddings", required=True, metavar="EMB", help=".npz from `arwsv embed` of the scored utterances")
    p.add_argument("--clusters", type=int, metavar="K", help="number of cohorts (default: clip(round(sqrt(S/2)), 2, 20))")
    p.add_argument("--bottom-share", type=float, default=0.1, help="share of speakers in the bottom cohorts (0.1)")
    p.add_argument("--meta", help="speaker metadata (as for `arwsv eval`): describe each cohort's make-up")
    p.add_argument("--format", default="auto", help="score file format (as for `arwsv eval`)")
    p.add_argument("--trials", help="trial list for Kaldi-style score files")
    p.add_argument("--spk-regex", help="speaker id = first capture group of this pattern (scores and embeddings)")
    p.add_argument("--allow-extra", action="store_true", help="ignore embeddings of speakers without trials")
    p.add_argument("--allow-unknown", action="store_true", help="with --meta: allow scored speakers without a row")
    p.add_argument("--null-rounds", type=int, default=100,
                   help="random cohorts of the same sizes, for the gap selection alone gives (0: none)")
    p.add_argument("--bootstrap", type=int, default=200, help="speaker-bootstrap replicates (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of k-means, the bootstrap and the projection")
    p.add_argument("--projection", choices=["pca", "tsne"], default="pca", help="2-D projection of the plot")
    p.add_argument("--json", metavar="OUT", help="write the audit as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="2-D map of speakers coloured by cohort EER")
    p.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from arwsv.evaluation.cohorts import CohortAudit, format_audit, speaker_embeddings
    from arwsv.inference.embed import load_embeddings
    from arwsv.io.files import check_writable
    from arwsv.evaluation.report import write_json
    from arwsv.io.scorefile import read_scores, speaker_rule

    if args.bootstrap < 0 or args.seed < 0 or args.null_rounds < 0:
        raise InputError("--bootstrap, --seed and --null-rounds must be >= 0")
    inputs = {os.path.realpath(p) for p in (args.scores, args.embeddings, args.meta, args.trials) if p}
    for flag in ("json", "plot"):
        out = getattr(args, flag)
        if out:
            if os.path.realpath(out) in inputs:
                raise InputError(f"--{flag} would overwrite an input file", out)
            check_writable(out)
    table = read_scores(args.scores, fmt=args.format, trials=args.trials, spk_regex=args.spk_regex)
    ids, emb = load_embeddings(args.embeddings)
    speaker_emb = speaker_embeddings(ids, emb, table.speakers, speaker_rule(args.spk_regex), source=args.embeddings,
                                     allow_extra=args.allow_extra)
    meta_values = {}
    if args.meta:
        from arwsv.io.metadata import read_metadata

        meta = read_metadata(args.meta)
        known = meta.has(table.speakers)
        if not known.all() and not args.allow_unknown:
            examples = ", ".join(str(s) for s in table.speakers[~known][:3])
            raise InputError(f"{int((~known).sum())} of {len(table.speakers)} speakers in {args.scores} have no row "
                             f"here (e.g. {examples}); pass --allow-unknown to describe cohorts by the others",
                             meta.path)
        meta_values = {a: meta.values(a, table.speakers) for a in ("gender", "nationality") if meta.find(a) is not None}
        if not meta_values:
            raise InputError(f"no gender or nationality column (columns: {', '.join(meta.columns)})", meta.path)
    audit = CohortAudit(table, speaker_emb, clusters=args.clusters, bottom_share=args.bottom_share,
                        bootstrap=args.bootstrap, seed=args.seed, meta_values=meta_values,
                        null_rounds=args.null_rounds)
    result = audit.run(progress=not args.quiet)
    result["inputs"] = {"scores": args.scores, "embeddings": args.embeddings, "meta": args.meta}
    if args.plot:  # the plot can still refuse (t-SNE on too few speakers): before any other output
        audit.plot(result, args.plot, projection=args.projection)
    if args.json:
        write_json(result, args.json)
    if not args.quiet:
        print(format_audit(result), file=sys.stdout)
    return 0
