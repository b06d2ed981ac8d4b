"""``arwsv compare``: two systems' score files on the same trials, with a paired speaker bootstrap.

Example::

    arwsv compare baseline/scores.txt arw/scores.txt --meta vox1_meta.csv --bootstrap 1000 --plot groups.png
"""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="B - A of every metric and gap, with paired speaker-bootstrap intervals",
        description="Compare two score files of the same trials (system A, system B): overall EER and minDCF, "
                    "every group's EER and each attribute's gap, std, FDR and GARBE, as differences B - A with "
                    "95 % intervals from a paired speaker bootstrap (the same resampled speakers for both), and "
                    "the share of replicates where B is better.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scores_a", metavar="A", help="score file of system A (the reference)")
    p.add_argument("scores_b", metavar="B", help="score file of system B, on the same trials in any order")
    p.add_argument("--names", nargs=2, metavar=("NAME_A", "NAME_B"),
                   help="names of the systems in the table and plot [default: the file names]")
    from arwsv.commands.eval import add_evaluation_arguments

    add_evaluation_arguments(p, bootstrap=1000,
                             csv_help="write a tidy CSV (attribute, group, metric, a, b, diff, rel_diff, "
                                      "ci_low, ci_high, share_b_better, n_replicates)",
                             plot_help="write each group's EER of both systems with 95%% intervals")
    p.set_defaults(run=run)


def _names(args) -> tuple:
    if args.names:
        return tuple(args.names)
    a, b = os.path.basename(args.scores_a), os.path.basename(args.scores_b)
    return (a, b) if a != b else ("A", "B")


def _read_both(args, read_table) -> tuple:
    """Both score files, B read in a second thread while A is read (the readers work mostly outside the
    interpreter lock); A's error, then B's, and each file's warnings in that order, as if read in turn."""
    from concurrent.futures import ThreadPoolExecutor

    from arwsv.commands.eval import warn

    notes_a, notes_b = [], []
    with ThreadPoolExecutor(1) as pool:
        future_b = pool.submit(read_table, args, args.scores_b, "compare", notes_b)
        try:
            table_a = read_table(args, args.scores_a, "compare", notes_a)
        finally:
            for note in notes_a:
                warn(note, "compare")
        table_b = future_b.result()
    for note in notes_b:
        warn(note, "compare")
    return table_a, table_b


def run(args) -> int:
    from arwsv import __version__
    from arwsv.commands.eval import check_args, evaluate, read_table
    from arwsv.errors import InputError
    from arwsv.evaluation.compare import align_trials, format_comparison, paired_comparison, tidy_comparison
    from arwsv.evaluation.report import to_json
    from arwsv.io.files import atomic_write

    check_args(args, [args.scores_a, args.scores_b])
    if args.calibrate_on:  # one development file holds one system's scores, not both
        raise InputError("--calibrate-on takes one system's development scores; compare two systems with "
                         "--calibrate (each calibrated on its own trials, speaker-disjoint) or --llr")
    if os.path.realpath(args.scores_a) == os.path.realpath(args.scores_b):
        raise InputError("A and B are the same file; compare two systems' score files", args.scores_b)
    names = _names(args)
    if names[0] == names[1]:
        raise InputError(f"--names: both systems are called {names[0]!r}")
    table_a, table_b = _read_both(args, read_table)
    table_b = align_trials(table_a, table_b)
    # the same seed and the same speakers: both bootstraps draw the same speakers, replicate by replicate
    report_a, evaluation_a = evaluate(args, table_a, args.scores_a, "compare")
    report_b, evaluation_b = evaluate(args, table_b, args.scores_b, "compare")
    rows = paired_comparison(report_a, report_b, evaluation_a.replicates, evaluation_b.replicates)
    header = (f"A = {names[0]}, B = {names[1]}: {report_a['overall']['n_trials']:,} trials, "
              f"{report_a['overall']['n_speakers']:,} speakers; "
              + (f"{args.bootstrap} paired speaker-bootstrap replicates (seed {args.seed})" if args.bootstrap
                 else "no bootstrap (--bootstrap 0): differences without intervals"))
    result = {"arwsv_version": __version__, "names": {"a": names[0], "b": names[1]},
              "inputs": {"a": report_a["inputs"], "b": report_b["inputs"]}, "settings": report_a["settings"],
              "n_trials": report_a["overall"]["n_trials"], "n_speakers": report_a["overall"]["n_speakers"],
              "comparison": rows, "a": report_a, "b": report_b}
    if args.json:
        with atomic_write(args.json, encoding="utf-8") as handle:
            handle.write(to_json(result))
    if args.csv:
        with atomic_write(args.csv, encoding="utf-8", newline="") as handle:
            tidy_comparison(rows).to_csv(handle, index=False, float_format="%.6g")
    if args.plot:
        from arwsv.evaluation.plots import plot_group_comparison

        plot_group_comparison({names[0]: report_a, names[1]: report_b}, args.plot,
                              title=f"EER per group, 95 % speaker-bootstrap intervals: {names[0]} vs {names[1]}")
    if not args.quiet:
        print(format_comparison(rows, names, header))
    return 0
