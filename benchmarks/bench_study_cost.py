"""Cost of one benchmark model (``arwsv study --bench``) against the issue's budget, from the runs.

    python benchmarks/bench_study_cost.py [--runs results/bench_study/runs] [--out results/benchmarks.md]

Target (issue 12): one model on the benchmark corpus (train, embed the test speakers, score and
evaluate the H list) <= 15 min on 2 CPU cores. Each study run records its own wall time in
``<variant>_seed<S>.json``, so the study is the measurement: this script tabulates it per variant
and device. A run that shared the cores with other work (tests, a second run) is slower, so the
fastest run of a variant is the uncontended estimate and the slowest one is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_S = {"cpu": 15 * 60, "cuda": 2 * 60}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="results/bench_study/runs", help="the study's per-run JSON files")
    parser.add_argument("--out", help="update this markdown file's bench_study_cost section")
    args = parser.parse_args()

    walls = defaultdict(list)
    for path in sorted(Path(args.runs).glob("*_seed*.json")):
        run = json.loads(path.read_text())
        walls[(run["variant"], run["device"])].append(float(run["wall_s"]))
    if not walls:
        print(f"bench_study_cost: error: {args.runs}: no <variant>_seed<S>.json runs", file=sys.stderr)
        return 2
    lines = ["## One benchmark model (arwsv study --bench)", "",
             f"Regenerate: `python benchmarks/bench_study_cost.py --runs {args.runs} --out results/benchmarks.md`", "",
             "Wall time of each study run (train 6 epochs on 2,000 speakers, embed 400 test speakers, score and "
             "evaluate the H list with 200 bootstrap replicates), as recorded by the run. Fastest = uncontended "
             "estimate; slower runs shared the cores with other work.", "",
             "| variant | device | runs | fastest (s) | slowest (s) | fastest / target | target (s) |",
             "|---|---|---|---|---|---|---|"]
    for (variant, device), values in sorted(walls.items()):
        target = TARGET_S.get(device, TARGET_S["cpu"])
        lines.append(f"| {variant} | {device} | {len(values)} | {min(values):.0f} | {max(values):.0f} | "
                     f"{min(values) / target:.2f} | {target} |")
    text = "\n".join(lines)
    from _sections import publish

    publish(text, args.out, "bench_study_cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
