"""What a label-free adversary can see: per gender x country cell, the signals available in training.

    python analyses/bench/what_the_adversary_sees.py exp/bench/baseline_seed0 --data data/bench --out results/bench_signals.md

Embeds ``--utts`` utterances of every training speaker with a trained model (its final weights and
the loss head of its last checkpoint), then reports, joined with the labels that training never sees:

- the **training loss** per sample: the AAM term (each sample against every training speaker's
  prototype) and the pairwise term in random P x K batches (what ARW's adversary maximises);
- **crowding**: the cosine of each speaker's centroid to its nearest other training speaker, and
  the mean cosine of a sample to its 10 nearest samples of other speakers (local density);
- **k-means regions** (K = ``--regions``, cosine, on the samples): how pure they are, and the
  weight per cell that balancing the regions (each region the same total weight) would give.

A signal helps only if it is larger for the groups that are worse at test time (the minority
countries, women). Output: a markdown table per signal, mean per cell (rows gender, columns country).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained model folder (arwsv train)")
    parser.add_argument("--data", type=Path, default=Path("data/bench"))
    parser.add_argument("--manifest", default="train.csv",
                        help="speakers to look at, in DATA: train.csv, or test.csv (unseen speakers: no AAM class), or "
                             "'heldout': the training speakers the model's recipe kept from its learner "
                             "(reweighting.adversary_holdout): unseen, in the training corpus' proportions")
    parser.add_argument("--utts", type=int, default=3, help="utterances per speaker")
    parser.add_argument("--regions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from hyperpyyaml import load_hyperpyyaml
    from sklearn.cluster import KMeans

    from arwsv.data.dataio import first_rows_per_speaker, load_manifest_rows
    from arwsv.inference.embed import extract, load_model
    from arwsv.io.files import atomic_write

    torch.manual_seed(args.seed)
    features, model, hparams = load_model(args.model)
    if args.manifest == "heldout":
        from arwsv.training.run import _holdout_speakers

        rows = load_manifest_rows(args.data / "train.csv")
        share = (hparams.get("reweighting") or {}).get("adversary_holdout", 0)
        if not share:
            sys.exit(f"error: {args.model}: its recipe holds no speakers out (reweighting.adversary_holdout is 0)")
        held = _holdout_speakers(sorted({r["spk_id"] for r in rows}), share, hparams["seed"])
        rows = [r for r in rows if r["spk_id"] in held]
    else:
        rows = load_manifest_rows(args.data / args.manifest)
    speakers = sorted({r["spk_id"] for r in rows})  # CropDataset's label order: the AAM classes
    seen = args.manifest == "train.csv"  # the loss head's classes are the training speakers
    kept = first_rows_per_speaker(rows, args.utts)
    _, emb = extract(features, model, kept)
    spk = torch.tensor([speakers.index(r["spk_id"]) for r in kept])
    emb_t = torch.from_numpy(emb)

    with open(args.model / "hyperparams.yaml", encoding="utf-8") as handle:
        loss = load_hyperpyyaml(handle)["loss"]
    last = sorted((args.model / "checkpoints").glob("CKPT+*"))[-1]
    loss.load_state_dict(torch.load(last / "loss.ckpt", map_location="cpu", weights_only=True))
    loss.eval()
    signals = {}
    with torch.no_grad():
        if loss.aam is not None and seen:
            signals["AAM loss"] = loss.aam.per_sample(emb_t, spk).numpy()
        # pairwise loss in random P x K batches (16 x 2, as in the recipe): per sample, its pairs' mean
        rng = np.random.default_rng(args.seed)
        by_spk = {}
        for i, s in enumerate(spk.tolist()):
            by_spk.setdefault(s, []).append(i)

        def pairwise_per_sample(orders) -> np.ndarray:
            """Each sample's mean pairwise loss over 40 passes of 16 x 2 batches cut from ``orders()``."""
            pair_sum, pair_n = np.zeros(len(kept)), np.zeros(len(kept))
            for _ in range(40):
                for order in orders():
                    for start in range(0, len(order) - 15, 16):
                        idx = np.array([j for s in order[start:start + 16] for j in rng.choice(by_spk[s], 2, replace=False)])
                        terms, _ = loss.pairwise.pair_terms(emb_t[idx], spk[idx])
                        r, c = torch.triu_indices(len(idx), len(idx), offset=1)
                        for side in (r, c):
                            np.add.at(pair_sum, idx[side.numpy()], terms.numpy())
                            np.add.at(pair_n, idx[side.numpy()], 1)
            return pair_sum / np.maximum(pair_n, 1)

        signals["pairwise loss (random batches)"] = pairwise_per_sample(lambda: [rng.permutation(len(speakers))])
        unit = F.normalize(emb_t, dim=-1)
        centroids = F.normalize(torch.stack([unit[spk == s].mean(0) for s in range(len(speakers))]), dim=-1)
        # region batches (reweighting.batch_regions): the speakers clustered by centroid, each batch
        # drawn from one cluster, so negatives are the sample's neighbours
        speaker_regions = KMeans(n_clusters=args.regions, n_init=3, random_state=args.seed).fit_predict(
            centroids.numpy().astype("float64"))
        signals["pairwise loss (region batches)"] = pairwise_per_sample(
            lambda: [rng.permutation(np.flatnonzero(speaker_regions == r)) for r in range(args.regions)])
        if loss.aam is not None and seen:
            # the sample's target prototype against its 5 nearest other prototypes (logistic, AAM scale):
            # a loss that sees the closest confusers only, not the whole softmax
            prototypes = F.normalize(loss.aam.classifier.weight, dim=-1)
            proto_cos = unit @ prototypes.T
            target = proto_cos.gather(1, spk[:, None]).squeeze(1)
            proto_cos.scatter_(1, spk[:, None], -1.0)
            hardest = proto_cos.topk(5, dim=1).values
            signals["hard-negative loss (5 nearest prototypes)"] = F.softplus(
                loss.aam.margin.scale * (hardest - target[:, None])).mean(1).numpy()
        cc = centroids @ centroids.T
        cc.fill_diagonal_(-1)
        nearest_speaker = cc.max(1).values.numpy()
        signals["nearest other speaker (centroid cosine)"] = nearest_speaker[spk.numpy()]
        cos = unit @ unit.T
        cos[spk[:, None] == spk[None, :]] = -1
        signals["density: mean cosine to 10 nearest other-speaker samples"] = cos.topk(10, dim=1).values.mean(1).numpy()

    regions = KMeans(n_clusters=args.regions, n_init=3, random_state=args.seed).fit_predict(unit.numpy().astype("float64"))
    counts = np.bincount(regions, minlength=args.regions)
    balanced = len(regions) / (args.regions * counts[regions])  # mean 1: every region the same total weight
    signals[f"region-balanced weight (K={args.regions})"] = balanced

    labels = pd.read_csv(args.data / "meta.csv", sep="\t").rename(columns={"VoxCeleb1 ID": "spk_id"})
    table = pd.DataFrame({"spk_id": [r["spk_id"] for r in kept], "region": regions, **signals})
    table = table.merge(labels[["spk_id", "Gender", "Nationality"]], on="spk_id", how="left")
    lines = [f"# What a label-free adversary can see (bench corpus, {args.manifest} speakers)", "",
             f"Regenerate: `python analyses/bench/what_the_adversary_sees.py {args.model} --data {args.data} "
             f"--manifest {args.manifest} --utts {args.utts} --regions {args.regions} --out {args.out}`", "",
             f"Model `{args.model}`; {len(kept)} utterances of `{args.manifest}` ({args.utts} per speaker), labels joined "
             "afterwards. Mean per gender x country cell (Arcadia is the majority country); the groups worse "
             "at test time are the minority countries and women.", ""]
    countries = sorted(table["Nationality"].unique())
    for name in signals:
        cells = table.groupby(["Gender", "Nationality"])[name].mean().unstack()
        lines += [f"## {name}", "", "| gender | " + " | ".join(countries) + " | all |",
                  "|---" * (len(countries) + 2) + "|"]
        for gender in cells.index:
            mean = table.loc[table["Gender"] == gender, name].mean()
            lines.append(f"| {gender} | " + " | ".join(f"{cells.loc[gender, c]:.3f}" for c in countries)
                         + f" | {mean:.3f} |")
        per_country = table.groupby("Nationality")[name].mean()
        lines += ["| all | " + " | ".join(f"{per_country[c]:.3f}" for c in countries)
                  + f" | {table[name].mean():.3f} |", ""]
    purity = table.groupby("region").apply(
        lambda g: pd.Series({"samples": len(g), "largest cell": (g["Gender"] + "/" + g["Nationality"]).value_counts().index[0],
                             "its share": (g["Gender"] + "/" + g["Nationality"]).value_counts(normalize=True).iloc[0],
                             "women": (g["Gender"] == "f").mean(), "majority country": (g["Nationality"] == "Arcadia").mean()}),
        include_groups=False)
    lines += [f"## k-means regions (K={args.regions})", "", "| region | samples | largest cell | its share | women | Arcadia |",
              "|---|---|---|---|---|---|"]
    for region, row in purity.iterrows():
        lines.append(f"| {region} | {int(row['samples'])} | {row['largest cell']} | {row['its share']:.2f} | "
                     f"{row['women']:.2f} | {row['majority country']:.2f} |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
