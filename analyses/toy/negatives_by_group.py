"""How hard are a sample's in-batch negatives, per gender and country? (Why ARW favours the majority.)

    python analyses/toy/negatives_by_group.py --model exp/arwsv/baseline_seed0 --out results/toy_negatives.md

ARW weighs samples by their *training* loss, whose non-target pairs are the other speakers of the
random P x K batch. For every training sample of one epoch of the recipe's sampler, with the trained
model's embeddings, this measures per group (labels from the manifest, joined afterwards): the share
of its in-batch negatives from its own country, the mean cosine to all its in-batch negatives (what
the training loss sees; higher = harder) and to those of its own country (what the H list tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="exp/arwsv/baseline_seed0")
    parser.add_argument("--out", default="results/toy_negatives.md")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (the batches of that seed's epoch 0)")
    args = parser.parse_args(argv)
    import numpy as np
    import pandas as pd
    import torch
    from tqdm.auto import tqdm

    from arwsv.data.dataio import CropDataset, load_manifest_rows
    from arwsv.inference.embed import load_model
    from arwsv.io.files import atomic_write
    from arwsv.data.manifest import read_manifest
    from arwsv.data.sampler import PKBatchSampler

    features, model, hparams = load_model(args.model)
    manifest = Path(hparams["train_manifest"])
    labels = read_manifest(manifest).groupby("spk_id")[["gender", "nationality"]].first()
    dataset = CropDataset(load_manifest_rows(manifest), hparams["crop_seconds"])
    sampler = PKBatchSampler(dataset.spk_ids, hparams["speakers_per_batch"], hparams["utts_per_speaker"],
                             seed=args.seed)
    rows = []
    with torch.no_grad():
        for batch in tqdm(dataset.loader(sampler.pending()), total=len(sampler.pending()), desc="batches"):
            emb = torch.nn.functional.normalize(model(features(batch.sig.data, batch.sig.lengths)).squeeze(1), dim=-1)
            cos = (emb @ emb.T).numpy()
            spk = np.array([dataset.speakers[s] for s in batch.spk.tolist()])
            country = labels.loc[spk, "nationality"].to_numpy()
            gender = labels.loc[spk, "gender"].to_numpy()
            for i in range(len(spk)):
                neg = spk != spk[i]
                own = neg & (country == country[i])
                rows.append({"gender": gender[i], "country": country[i], "own_share": own.sum() / neg.sum(),
                             "cos_all": cos[i, neg].mean(), "cos_own": cos[i, own].mean() if own.any() else np.nan})
    frame = pd.DataFrame(rows)
    command = "python analyses/toy/negatives_by_group.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# In-batch negatives per group (what ARW's training loss sees)", "", f"Regenerate: `{command.strip()}`",
             "", f"Model `{args.model}`, one epoch of its sampler (seed {args.seed}), {len(frame)} training samples. "
             "Cosine to negatives: higher = harder negatives = higher training loss.", "",
             "| group | samples | share of negatives from own country | mean cosine to all negatives | "
             "mean cosine to own-country negatives |", "|---|---|---|---|---|"]
    for column in ("gender", "country"):
        for name, part in frame.groupby(column):
            lines.append(f"| {column} {name} | {len(part)} | {part['own_share'].mean():.3f} | "
                         f"{part['cos_all'].mean():.3f} | {part['cos_own'].mean():.3f} |")
    text = "\n".join(lines) + "\n"
    with atomic_write(args.out) as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
