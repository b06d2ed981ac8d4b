"""Who got the weight: mean λ per gender x country cell of ARW runs, joined with labels training never saw.

    python analyses/bench/weights_by_group.py exp/bench/arw_seed0 exp/bench/arw_aam_seed0 --meta data/bench/meta.csv --out results/bench_weights.md

Reads each run's ``speaker_weights.csv`` (mean λ of every training speaker per epoch, written by the
trainer) and reports, for the last epoch, the mean λ of each gender x country cell (ARW: λ >= 1, mean 2:
uniform weights give 2 everywhere), the largest λ and the share of the total weight held by the top
10 % of speakers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def table(run: Path, meta: Path) -> tuple:
    import pandas as pd

    weights = pd.read_csv(run / "speaker_weights.csv")
    labels = pd.read_csv(meta, sep="\t").rename(columns={"VoxCeleb1 ID": "spk_id"})
    last = weights[weights["epoch"] == weights["epoch"].max()].merge(labels, on="spk_id", how="left")
    cells = last.groupby(["Gender", "Nationality"])["mean_lambda"].mean().unstack()
    ranked = last["mean_lambda"].sort_values(ascending=False)
    top = ranked.iloc[: max(1, round(0.1 * len(ranked)))].sum() / ranked.sum()
    return cells, float(ranked.iloc[0]), float(top), int(weights["epoch"].max())


def by_epoch(run: Path, meta: Path):
    """Mean λ of women, men, the majority country and the minority countries in every epoch."""
    import pandas as pd

    weights = pd.read_csv(run / "speaker_weights.csv")
    labels = pd.read_csv(meta, sep="\t").rename(columns={"VoxCeleb1 ID": "spk_id"})
    frame = weights.merge(labels, on="spk_id", how="left")
    majority = labels["Nationality"].value_counts().index[0]
    return pd.DataFrame({
        "women": frame[frame["Gender"] == "f"].groupby("epoch")["mean_lambda"].mean(),
        "men": frame[frame["Gender"] == "m"].groupby("epoch")["mean_lambda"].mean(),
        majority: frame[frame["Nationality"] == majority].groupby("epoch")["mean_lambda"].mean(),
        "minority countries": frame[frame["Nationality"] != majority].groupby("epoch")["mean_lambda"].mean(),
    })


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="model folders of arwsv train / arwsv study")
    parser.add_argument("--meta", required=True, help="the corpus's meta.csv (VoxCeleb1 format)")
    parser.add_argument("--out", help="write the tables as markdown here")
    args = parser.parse_args(argv)
    lines = ["# Who got the weight: mean λ per gender x country cell (bench corpus, last epoch)", "",
             f"Regenerate: `python analyses/bench/weights_by_group.py {' '.join(args.runs)} --meta {args.meta}"
             f"{' --out ' + args.out if args.out else ''}`", "",
             "ARW (pw, aps, pl): λ >= 1 with mean 2 over a batch (uniform weights give 2 to everybody); oracle and "
             "crowding: λ proportional to fixed factors, mean 1 over a batch. f / m rows, country columns "
             "(Arcadia is the majority country).", ""]
    for run in map(Path, args.runs):
        if not (run / "speaker_weights.csv").is_file():
            print(f"weights_by_group: error: {run / 'speaker_weights.csv'}: missing (not an ARW run?)", file=sys.stderr)
            return 2
        cells, top_lambda, top_share, epoch = table(run, Path(args.meta))
        lines += [f"## {run.name}", "", f"Epoch {epoch}; largest mean λ of a speaker {top_lambda:.2f}; the top 10 % of "
                  f"speakers hold {100 * top_share:.0f} % of the weight.", "",
                  "| gender | " + " | ".join(cells.columns) + " |", "|---|" + "---|" * len(cells.columns)]
        lines += [f"| {g} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for g, row in cells.iterrows()]
        trend = by_epoch(run, Path(args.meta))
        lines += ["", "By epoch (weights start after the warm-up):", "",
                  "| epoch | " + " | ".join(trend.columns) + " |", "|---|" + "---|" * len(trend.columns)]
        lines += [f"| {e} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for e, row in trend.iterrows()]
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        from arwsv.io.files import atomic_write

        with atomic_write(args.out) as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
