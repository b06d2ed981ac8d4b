"""``arwsv baseline``: score a corpus's trial lists with the training-free filterbank + LDA embedding.

Example::

    arwsv baseline --corpus data/toy --out exp/toy_baseline --bootstrap 200 --seed 0
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("baseline", help="training-free filterbank + LDA reference on a prepared corpus",
                       description="Fit LDA on filterbank statistics of the corpus's training speakers, score its "
                                   "trial lists by cosine (OUT/scores_<list>.txt) and audit each one like "
                                   "`arwsv eval` (OUT/eval_<list>.json, tables on stdout).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", required=True, help="folder written by `arwsv prepare toy` (or prepare voxceleb)")
    p.add_argument("--out", required=True, help="folder for the score files and evaluation reports")
    p.add_argument("--trials", default="O,E,H", help="comma-separated trial list names (CORPUS/trials/<name>.txt)")
    p.add_argument("--bootstrap", type=int, default=200, help="speaker-bootstrap replicates for 95%% CIs")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    import pandas as pd

    from arwsv.commands import eval as eval_command
    from arwsv.errors import InputError
    from arwsv.experiments.baseline import StatsLDA, filterbank_stats, score_trials

    corpus, out = Path(args.corpus), Path(args.out)
    names = [n for n in args.trials.split(",") if n]
    needed = [corpus / f"{n}.csv" for n in ("train", "dev", "test")] + [corpus / "meta.csv"]
    needed += [corpus / "trials" / f"{n}.txt" for n in names]
    for path in needed:
        if not path.is_file():
            raise InputError("missing: not a prepared corpus folder (run arwsv prepare first)", path)
    if args.bootstrap < 0:
        raise InputError("--bootstrap must be >= 0")
    out.mkdir(parents=True, exist_ok=True)
    train = pd.concat([pd.read_csv(corpus / f"{n}.csv") for n in ("train", "dev")])
    test = pd.read_csv(corpus / "test.csv")
    model = StatsLDA().fit(filterbank_stats(list(train["wav"])), train["spk_id"].to_numpy())
    embeddings = dict(zip(test["ID"], model.transform(filterbank_stats(list(test["wav"])))))
    # each list is audited by `arwsv eval` itself, so the reports are the ones a user would get
    parser = argparse.ArgumentParser(prog="arwsv")
    eval_command.add_parser(parser.add_subparsers())
    for name in names:
        scores = out / f"scores_{name}.txt"
        score_trials(corpus, name, embeddings).to_csv(scores, sep=" ", header=False, index=False,
                                                      float_format="%.6f")
        print(f"== trial list {name}")
        eval_args = parser.parse_args(["eval", str(scores), "--meta", str(corpus / "meta.csv"), "--bootstrap",
                                       str(args.bootstrap), "--seed", str(args.seed),
                                       "--json", str(out / f"eval_{name}.json")])
        code = eval_args.run(eval_args)
        if code:
            return code
    return 0
