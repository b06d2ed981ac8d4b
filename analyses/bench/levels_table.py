"""Does a method level up or down? Per system against the same seeds' baseline: the worst and the best cell of the
baseline, the EER in the training proportions, and the verdict of issue 39 (up: the worst cell's interval below 0,
no cell's above 0, the training-proportions EER's upper end <= +0.3 pp; down: some cells better, some worse; worse:
cells worse, none better; no: nothing measurable). Pooled over the seeds both runs have, 95 % paired speaker
bootstrap (``augment_study.pooled``). Labels are read here (an analysis of results).

    python analyses/bench/levels_table.py --data data/bench \\
        --system results/bench_study/runs:arw:ARW-PW --system results/bench_study/runs:crowding_twopass:crowding \\
        --out results/levels.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--system", action="append", required=True, metavar="RUNS:NAME:LABEL",
                        help="a runs folder (holding baseline_seed<S>.npz), the system's run name and its label")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from augment_study import _fmt, pooled
    from levelup_study import levels_up
    from population import cell_weights, h_trials, speaker_draws

    from arwsv.io.files import atomic_write

    h = h_trials(args.data)
    weights = cell_weights(args.data)[0]
    draws = speaker_draws(h["speakers"], args.bootstrap, 0)
    lines = ["# Levels up or down? Every method against the same seeds' baseline", "",
             "Regenerate: `python analyses/bench/levels_table.py --data " + str(args.data) + " " +
             " ".join(f"--system {shlex.quote(s)}" for s in args.system) + f" --out {args.out}`", "",
             "H list of the benchmark; baseline → method EER (%), mean over the seeds, the paired change in pp with its "
             f"95 % paired speaker-bootstrap interval ({args.bootstrap} replicates, seeds pooled). Worst / best cell: "
             "the cells the baseline serves worst and best. Verdict: **up** = the worst cell's interval below 0, no "
             "cell's above 0, training-proportions EER at most +0.3 pp; **down** = some cells better, some worse; "
             "**worse** = cells worse, none better; **no** = no cell measurably moved.", "",
             "| method | seeds | worst cell | best cell | EER, training proportions | cells better / worse | verdict |",
             "|---|---|---|---|---|---|---|"]
    for spec in args.system:
        runs, name, label = spec.split(":", 2)
        runs = Path(runs)
        seeds = [s for s in range(100) if (runs / f"baseline_seed{s}.npz").is_file()
                 and (runs / f"{name}_seed{s}.npz").is_file()]
        if not seeds:
            raise SystemExit(f"{runs}: no seed with both baseline and {name}")
        cells = pooled(runs, name, seeds, h, draws)
        training = pooled(runs, name, seeds, h, draws, weights)["all"]
        named = {c: v for c, v in cells.items() if c != "all"}
        worst = max(named, key=lambda c: named[c][0])
        best = min(named, key=lambda c: named[c][0])
        verdict = levels_up(named, training, worst)
        lines.append(f"| {label} | {len(seeds)} | {worst}: {_fmt(named[worst])} | {best}: {_fmt(named[best])} | "
                     f"{_fmt(training)} | {sum(v[2][1] < 0 for v in named.values())} / "
                     f"{sum(v[2][0] > 0 for v in named.values())} | {verdict} |")
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
