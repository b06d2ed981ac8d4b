"""Speed of the toy-corpus generator against its target, measured in one run.

    python benchmarks/bench_toy.py [--out results/benchmarks.md] [--jobs 2] [--bench]

Target (issue 3): 200 speakers x 20 utterances x 3 s generated in <= 60 s on 2 cores. With
``--bench`` the benchmark corpus (``--preset bench``, 2,400 speakers) is generated too, with its
wall time and size on disk (no target; issue 12 asks for both to be reported).
Also prints the real-time factor (seconds of audio per second of wall time) and checks that a
second run with the same seed rewrites nothing (idempotence costs only the synthesis).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arwsv.data.toy.config import ToyConfig  # noqa: E402
from arwsv.data.toy.corpus import generate_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="update this markdown file's bench_toy section")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bench", action="store_true", help="also the benchmark corpus (a few minutes)")
    args = parser.parse_args()
    config = ToyConfig(speakers=200, utts_per_speaker=20, seconds=3.0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = generate_corpus(config, tmp, jobs=args.jobs, progress=False)
        wall = time.perf_counter() - start
        start = time.perf_counter()
        again = generate_corpus(config, tmp, jobs=args.jobs, progress=False)
        rerun = time.perf_counter() - start
    audio = report["hours"] * 3600
    lines = ["## arwsv prepare toy", "", "Regenerate: `python benchmarks/bench_toy.py --out results/benchmarks.md`", "",
             f"{os.cpu_count()} cores, `--jobs {args.jobs}`, default synth backend.", "",
             "| corpus | wall (s) | wall / target 60 s | real-time factor | re-run wall (s), files rewritten |",
             "|---|---|---|---|---|",
             f"| {config.speakers} spk x {config.utts_per_speaker} utt x {config.seconds:g} s "
             f"({report['hours']:.2f} h) | {wall:.1f} | {wall / 60:.2f} | {audio / wall:.0f}x | "
             f"{rerun:.1f}, {again['changed_files']} |"]
    if args.bench:
        from arwsv.data.toy.config import PRESETS

        bench = ToyConfig(**PRESETS["bench"])
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            report = generate_corpus(bench, tmp, jobs=args.jobs, progress=False)
            wall = time.perf_counter() - start
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        lines += ["", "| `--preset bench` corpus | wall (s) | size on disk | real-time factor |", "|---|---|---|---|",
                  f"| {bench.speakers} spk x {bench.utts_per_speaker} utt x {bench.seconds:g} s ({report['hours']:.1f} h; "
                  f"{report['test']['speakers']} test speakers) | {wall:.1f} | {size / 2**30:.2f} GiB | "
                  f"{report['hours'] * 3600 / wall:.0f}x |"]
    print("\n".join(lines))
    if args.out:
        from _sections import update_section

        update_section(args.out, "bench_toy", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
