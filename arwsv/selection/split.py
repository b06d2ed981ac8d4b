"""Development speakers: a share of the training speakers that no candidate trains on.

Only speaker identities are read. The same manifest, share and seed give the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arwsv.errors import InputError

__all__ = ["split_speakers", "write_split"]


def split_speakers(speakers, share: float, seed: int) -> tuple:
    """Split the distinct ``speakers`` into (training, development) sorted lists.

    ``round(share * n)`` speakers, at least 2, are drawn uniformly with ``seed`` as development speakers
    (development trials need two speakers); at least 2 stay for training.
    """
    unique = sorted(set(str(s) for s in speakers))
    if not 0.0 < share < 1.0:
        raise InputError(f"the development share must be in (0, 1), got {share}")
    count = max(2, int(round(share * len(unique))))
    if len(unique) - count < 2:
        raise InputError(f"{len(unique)} training speakers are too few to hold {count} out as development speakers")
    chosen = np.random.default_rng([seed, 23]).choice(len(unique), size=count, replace=False)
    dev = set(unique[i] for i in chosen)
    return [s for s in unique if s not in dev], sorted(dev)


def write_split(manifest, out, share: float, seed: int, *, frame=None) -> dict:
    """Write ``out/train.csv`` and ``out/dev.csv`` (rows of ``manifest`` by speaker); returns counts.

    ``frame``: ``manifest`` already read (:func:`arwsv.data.manifest.read_manifest`), so it is not read twice.
    Rewritten only when the bytes change (:func:`arwsv.data.manifest.write_manifest`), so a rerun keeps
    the candidates' recorded recipes valid.
    """
    from arwsv.data.manifest import read_manifest, write_manifest

    frame = read_manifest(manifest) if frame is None else frame.copy()
    for column in ("gender", "nationality"):
        if column not in frame.columns:
            frame[column] = ""
    train, dev = split_speakers(frame["spk_id"], share, seed)
    out = Path(out)
    is_dev = frame["spk_id"].isin(dev)
    write_manifest(out / "train.csv", frame[~is_dev])
    write_manifest(out / "dev.csv", frame[is_dev])
    return {"train_speakers": len(train), "dev_speakers": len(dev), "train_utterances": int((~is_dev).sum()),
            "dev_utterances": int(is_dev.sum())}
