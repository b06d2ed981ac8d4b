"""``arwsv eval``: audit a score file for demographic gaps.

Example::

    arwsv eval scores.txt --meta vox1_meta.csv --min-targets 500 --bootstrap 1000 --plot det.png
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from arwsv.errors import InputError

DEFAULT_GROUPS = "gender,nationality"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval", help="EER/minDCF overall and per demographic group, with gap summaries",
        description="Evaluate a speaker-verification score file overall and per demographic group "
                    "(EER, minDCF, FNMR/FMR at the overall EER threshold, gaps, FDR, GARBE).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scores", help="score file (speechbrain, wespeaker, voxceleb, kaldi or a CSV/TSV with header)")
    add_evaluation_arguments(p, bootstrap=0, csv_help="write a tidy CSV (attribute, group, metric, value, ci_low, ci_high)",
                             plot_help="write DET curves per group, one panel per attribute")
    p.add_argument("--calibration-plot", metavar="PNG",
                   help="with --llr/--calibrate/--calibrate-on: reliability curves per group (claimed vs observed LLR)")
    p.set_defaults(run=run)


def add_evaluation_arguments(p, *, bootstrap: int, csv_help: str, plot_help: str) -> None:
    """The options ``arwsv eval`` and ``arwsv compare`` share: metadata, groups, metric settings,
    outputs and the score-file format."""
    p.add_argument("--meta", help="speaker metadata (vox1_meta.csv, vox2_meta.csv or a CSV/TSV with an id column)")
    p.add_argument("--groups", default=None,
                   help=f"comma-separated metadata attributes to group by [default: {DEFAULT_GROUPS}, those present]")
    p.add_argument("--intersect", action="store_true", help="also evaluate the cross product of the attributes")
    p.add_argument("--p-target", default="0.01,0.05", help="comma-separated P_target values for minDCF")
    p.add_argument("--c-miss", type=float, default=1.0, help="minDCF cost of a miss")
    p.add_argument("--c-fa", type=float, default=1.0, help="minDCF cost of a false alarm")
    p.add_argument("--min-targets", type=int, default=0,
                   help="pool groups with fewer within-group target trials into 'other'")
    p.add_argument("--bootstrap", type=int, default=bootstrap, help="speaker-bootstrap replicates for 95%% CIs (0: none)")
    p.add_argument("--fdr-alpha", type=float, default=0.5, help="FDR weight of the FMR term")
    p.add_argument("--garbe-alpha", type=float, default=0.5, help="GARBE weight of the FMR Gini")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--csv", metavar="OUT", help=csv_help)
    p.add_argument("--plot", metavar="PNG", help=plot_help)
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    c = p.add_argument_group("calibration (Cllr, minCllr, calibration loss, actual DCF per group)")
    c.add_argument("--llr", action="store_true", help="the scores are log-likelihood ratios already")
    c.add_argument("--calibrate", action="store_true",
                   help="calibrate the scores to LLRs with one global affine map (prior-weighted logistic "
                        "regression), speaker-disjoint k-fold cross-validated")
    c.add_argument("--calibrate-on", metavar="FILE",
                   help="the same map fitted on another labelled score file (a development list; format auto-detected)")
    c.add_argument("--calibration-folds", type=int, default=5, help="--calibrate: speaker folds (>= 3)")
    c.add_argument("--threshold", action="append", default=[], metavar="T",
                   help="a deployed score threshold: per-group FNMR and FMR at T (repeatable)")
    g = p.add_argument_group("input format (auto-detected unless given)")
    g.add_argument("--format", default="auto", choices=["auto", "speechbrain", "wespeaker", "voxceleb", "kaldi", "csv"])
    g.add_argument("--trials", help="trial list with labels for kaldi-style 'enrol test score' files")
    for role in ("enrol", "test", "label", "score"):
        g.add_argument(f"--{role}-col", help=f"{role} column: header name or 1-based number")
    g.add_argument("--spk-regex", help="regex extracting the speaker id from an utterance id (first group)")
    g.add_argument("--enrol-spk-col", help="read enrol speaker ids from this column")
    g.add_argument("--test-spk-col", help="read test speaker ids from this column")
    g.add_argument("--meta-id-col", help="speaker-id column of --meta")
    g.add_argument("--allow-unknown", action="store_true",
                   help="allow speakers missing from --meta (their trials are left out of group metrics)")


def _p_targets(text: str) -> tuple:
    values = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise InputError(f"--p-target: {item!r} is not a number") from None
        if not 0.0 < value < 1.0:
            raise InputError(f"--p-target: {value:g} is not strictly between 0 and 1")
        values.append(value)
    return tuple(values)


def _thresholds(values: list) -> tuple:
    out = []
    for text in values:
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"--threshold: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"--threshold: {text!r} is not a finite number")
        out.append(value)
    return tuple(dict.fromkeys(out))


def calibration_mode(args) -> str | None:
    """``llr``, ``cross-validated``, ``file`` or None (no calibration metrics)."""
    if args.llr:
        return "llr"
    if args.calibrate:
        return "cross-validated"
    return "file" if args.calibrate_on else None


def check_args(args, scores: list) -> None:
    """Every flag, before any file is read (``scores``: the score files, which no output may overwrite)."""
    if args.min_targets < 0:
        raise InputError("--min-targets must be >= 0")
    if args.bootstrap < 0:
        raise InputError("--bootstrap must be >= 0")
    for name in ("fdr_alpha", "garbe_alpha"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise InputError(f"--{name.replace('_', '-')} must be in [0, 1]")
    if not (math.isfinite(args.c_miss) and math.isfinite(args.c_fa) and args.c_miss > 0 and args.c_fa > 0):
        raise InputError("--c-miss and --c-fa must be finite and > 0")
    if args.seed < 0:
        raise InputError("--seed must be >= 0")
    if (args.enrol_spk_col is None) != (args.test_spk_col is None):
        raise InputError("--enrol-spk-col and --test-spk-col go together")
    if args.groups is not None and not args.meta:
        raise InputError("--groups needs --meta")
    from arwsv.io.files import check_writable

    _p_targets(args.p_target)
    _thresholds(args.threshold)
    if sum(map(bool, (args.llr, args.calibrate, args.calibrate_on))) > 1:
        raise InputError("--llr, --calibrate and --calibrate-on exclude each other")
    if not 3 <= args.calibration_folds <= 50:
        raise InputError("--calibration-folds must be in [3, 50] (a trial's two speaker folds are left out of its "
                         "model; every pair of folds fits one)")
    if args.calibrate_on and os.path.realpath(args.calibrate_on) in {os.path.realpath(p) for p in scores}:
        raise InputError("--calibrate-on names the evaluated score file; use --calibrate to calibrate a list "
                         "on itself (cross-validated)", args.calibrate_on)
    inputs = {os.path.realpath(p) for p in (*scores, args.meta, args.trials, args.calibrate_on) if p}
    outputs = {}
    if getattr(args, "calibration_plot", None) and calibration_mode(args) is None:
        raise InputError("--calibration-plot needs --llr, --calibrate or --calibrate-on")
    for flag in ("json", "csv", "plot", "calibration_plot"):
        out = getattr(args, flag, None)
        if out:
            if os.path.realpath(out) in inputs:
                raise InputError(f"--{flag.replace('_', '-')} would overwrite an input file", out)
            if os.path.realpath(out) in outputs:
                raise InputError(f"--{flag.replace('_', '-')} and --{outputs[os.path.realpath(out)].replace('_', '-')} "
                                 "name the same file", out)
            outputs[os.path.realpath(out)] = flag
            check_writable(out)


def _speaker_values(args, table, path, warn) -> tuple:
    """attribute -> per-speaker values, after checking every speaker is in the metadata."""
    from arwsv.io.metadata import read_metadata

    meta = read_metadata(args.meta, id_column=args.meta_id_col)
    known = meta.has(table.speakers)
    n_unknown = int((~known).sum())
    if n_unknown and not args.allow_unknown:
        examples = ", ".join(str(s) for s in table.speakers[~known][:3])
        raise InputError(f"{n_unknown} of {len(table.speakers)} speakers in {path} have no row here "
                         f"(e.g. {examples}); check --spk-regex/--meta-id-col, or pass --allow-unknown",
                         meta.path)
    if n_unknown:
        warn(f"{n_unknown} speakers have no metadata; their trials are left out of the group metrics")
    if args.groups is None:
        wanted = [a for a in DEFAULT_GROUPS.split(",") if meta.find(a) is not None]
        if not wanted:
            raise InputError(f"no gender or nationality column (columns: {', '.join(meta.columns)}); "
                             "name attributes with --groups", meta.path)
    else:
        wanted = [a.strip() for a in args.groups.split(",") if a.strip()]
        if not wanted:
            raise InputError("--groups is empty")
    return {a: meta.values(a, table.speakers) for a in wanted}, meta.path, n_unknown


def warn(message: str, command: str = "eval") -> None:
    print(f"arwsv {command}: warning: {message}", file=sys.stderr)


def settings_of(args):
    """The :class:`EvalSettings` the flags ask for (after :func:`check_args`)."""
    from arwsv.evaluation.groups import EvalSettings

    return EvalSettings(p_targets=_p_targets(args.p_target), c_miss=args.c_miss, c_fa=args.c_fa,
                        min_targets=args.min_targets, fdr_alpha=args.fdr_alpha, garbe_alpha=args.garbe_alpha,
                        bootstrap=args.bootstrap, seed=args.seed, thresholds=_thresholds(args.threshold))


def calibrate(args, table, path, command: str = "eval") -> tuple:
    """``(llr or None, description)``: the trials' LLRs as the calibration flags ask for them."""
    from arwsv.evaluation.calibration import AffineCalibration, cross_validated_llr

    mode = calibration_mode(args)
    if mode is None:
        return None, None
    if mode == "llr":
        return table.scores.astype("float64"), {"mode": mode}
    if mode == "cross-validated":
        try:
            llr, _ = cross_validated_llr(table.scores, table.is_target, table.enrol_spk, table.test_spk,
                                         len(table.speakers), folds=args.calibration_folds, seed=args.seed)
        except ValueError as err:
            raise InputError(f"--calibrate: {err}", path) from None
        return llr, {"mode": mode, "folds": args.calibration_folds, "seed": args.seed}
    from arwsv.io.scorefile import read_scores

    dev = read_scores(args.calibrate_on)
    n_tgt = int(dev.is_target.sum())
    if n_tgt == 0 or n_tgt == len(dev.is_target):
        raise InputError(f"--calibrate-on: only {'non-target' if n_tgt == 0 else 'target'} trials; calibration "
                         "needs both", args.calibrate_on)
    shared = _shared_trials(table, dev)
    if shared:
        raise InputError(f"--calibrate-on: {shared[0]} of its trials are evaluated too (e.g. {shared[1]}); calibrate "
                         "on a separate development list, or use --calibrate", args.calibrate_on)
    model = AffineCalibration().fit(dev.scores, dev.is_target)
    if not model.slope_ > 0:
        raise InputError(f"--calibrate-on: the fitted map reverses the score order (slope {model.slope_:.3g}); "
                         "higher scores must mean 'same speaker'", args.calibrate_on)
    return model.transform(table.scores), {"mode": mode, "file": str(args.calibrate_on), "slope": model.slope_,
                                           "offset": model.offset_}


def _shared_trials(table, other) -> tuple:
    """(count, an example) of the trials two score tables share, () if none: the same pair of
    utterances in either order, a trailing audio extension ignored (as ``arwsv compare`` matches)."""
    from arwsv.evaluation.compare import _EXTENSION  # the audio extensions compare ignores too

    def pairs(t):
        names = [_EXTENSION.sub("", str(u)) for u in t.utterances]
        return {tuple(sorted((names[e], names[u]))) for e, u in zip(t.enrol_utt.tolist(), t.test_utt.tolist())}

    common = pairs(table) & pairs(other)
    return (len(common), " ".join(min(common))) if common else ()



def read_table(args, path, command: str = "eval", warnings: list | None = None):
    """The score file ``path`` read with the format flags; warns when target trials cross speakers (or adds
    the warning to ``warnings``, for the caller to print in its order)."""
    import numpy as np

    from arwsv.io.scorefile import read_scores

    columns = {"enrol": args.enrol_col, "test": args.test_col, "label": args.label_col, "score": args.score_col}
    spk_columns = (args.enrol_spk_col, args.test_spk_col) if args.enrol_spk_col else None
    table = read_scores(path, fmt=args.format, trials=args.trials, columns=columns,
                        spk_regex=args.spk_regex, spk_columns=spk_columns)
    mismatched = table.is_target & (table.enrol_spk != table.test_spk)
    if mismatched.any():
        i = int(np.flatnonzero(mismatched)[0])
        message = (f"{int(mismatched.sum())} target trials have different enrol/test speaker ids (e.g. "
                   f"{table.speakers[table.enrol_spk[i]]} vs {table.speakers[table.test_spk[i]]}); "
                   "is the speaker id rule right (--spk-regex)?")
        if warnings is None:
            warn(message, command)
        else:
            warnings.append(message)
    return table


def evaluate(args, table, path, command: str = "eval"):
    """``(report, evaluation)``: the full ``arwsv eval`` report of one score table."""
    from arwsv import __version__
    from arwsv.evaluation.groups import FairnessEvaluation

    settings = settings_of(args)
    values, meta_path, n_unknown = ({}, None, 0)
    if args.meta:
        values, meta_path, n_unknown = _speaker_values(args, table, path, lambda m: warn(m, command))
    llr, calibration = calibrate(args, table, path, command)
    evaluation = FairnessEvaluation(table, values, settings, intersect=args.intersect, llr=llr)
    report = {
        "arwsv_version": __version__,
        "inputs": {"scores": path, "format": table.format, "trials": args.trials, "meta": meta_path,
                   "n_unknown_speakers": n_unknown},
        "settings": {"p_targets": list(settings.p_targets), "c_miss": settings.c_miss, "c_fa": settings.c_fa,
                     "min_targets": settings.min_targets, "fdr_alpha": settings.fdr_alpha,
                     "garbe_alpha": settings.garbe_alpha, "bootstrap": settings.bootstrap,
                     "confidence": settings.confidence, "seed": settings.seed,
                     "thresholds": list(settings.thresholds), "calibration": calibration},
        **evaluation.run(progress=True),
    }
    return report, evaluation


def run(args) -> int:
    from arwsv.evaluation.report import format_table, write_csv, write_json

    check_args(args, [args.scores])
    table = read_table(args, args.scores)
    report, evaluation = evaluate(args, table, args.scores)
    # files first: a closed stdout (`| head`) must not cost the user the outputs they asked for
    if args.json:
        write_json(report, args.json)
    if args.csv:
        write_csv(report, args.csv)
    if args.plot:
        from arwsv.evaluation.plots import plot_det

        overall_det = evaluation.overall.trials.det()
        curves = {}
        for part in evaluation.partitions or [None]:
            panel = {"all": (overall_det, report["overall"]["eer"])}
            if part is not None:
                for g in part.groups:
                    panel[g.name] = (g.trials.det(), report["attributes"][part.attribute]["groups"][g.name]["eer"])
            curves["overall" if part is None else part.attribute] = panel
        plot_det(curves, args.plot, title=os.path.basename(args.scores))
    if args.calibration_plot:
        from arwsv.evaluation.plots import plot_calibration

        llr, tgt = evaluation.llr, table.is_target
        panels = {}
        for part in evaluation.partitions or [None]:
            panel = {"all": (llr, tgt, report["overall"]["cllr"])}
            if part is not None:
                for g in part.groups:
                    panel[g.name] = (llr[g.index], tgt[g.index],
                                     report["attributes"][part.attribute]["groups"][g.name]["cllr"])
            panels["overall" if part is None else part.attribute] = panel
        mode = report["settings"]["calibration"]["mode"]
        plot_calibration(panels, args.calibration_plot, title=f"{os.path.basename(args.scores)}: calibration ({mode})")
    if not args.quiet:
        print(format_table(report))
    return 0
