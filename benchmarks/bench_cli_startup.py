"""Start-up time of the ``arwsv`` command line: ``arwsv --help`` and each subcommand's ``--help``.

Target (issue 25): <= 0.15 s each on 2 cores. Prints the median of ``--repeats`` runs per command, with the
time of a bare ``python -c pass`` measured in the same run (the interpreter's own start-up, which no change
to arwsv can remove) and the ratio of each command to it.

    python benchmarks/bench_cli_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = ["", "eval", "compare", "audit", "prepare", "train", "select", "embed", "score", "baseline", "demo", "study"]


def timed(argv: list, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target", type=float, default=0.15)
    parser.add_argument("--out", help="also write the section into this markdown file (results/benchmarks.md)")
    args = parser.parse_args()
    bare = timed([sys.executable, "-c", "pass"], args.repeats)
    lines = ["## arwsv start-up", "",
             f"Regenerate: `python benchmarks/bench_cli_startup.py --repeats {args.repeats} --out results/benchmarks.md`",
             "", f"{os.cpu_count()} cores; measure on an idle machine (other load inflates every row alike). "
             f"`python -c pass`: {bare:.3f} s (median of {args.repeats}).", "",
             "| command | median (s) | / bare python | target |", "|---|---|---|---|"]
    worst = 0.0
    for name in COMMANDS:
        argv = [sys.executable, "-m", "arwsv", *([name] if name else []), "--help"]
        t = timed(argv, args.repeats)
        worst = max(worst, t)
        lines.append(f"| arwsv {name + ' ' if name else ''}--help | {t:.3f} | {t / bare:.2f} | "
                     f"{'met' if t <= args.target else 'MISSED'} |")
    lines += ["", f"Slowest: {worst:.3f} s against the {args.target} s target."]
    from _sections import publish

    publish("\n".join(lines), args.out, "bench_cli_startup")


if __name__ == "__main__":
    main()
