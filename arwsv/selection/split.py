"""Development speakers: a share of the training speakers that no candidate trains on, and which of their
utterances the development trials use.

Only speaker identities (and the audio paths, for recording sessions) are read. The same manifest, share and seed
give the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arwsv.errors import InputError

__all__ = ["development_rows", "split_speakers", "write_split"]


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


def development_rows(rows: list, utts: int = 0) -> list:
    """The development utterances the trials are built from.

    ``utts`` 0: every row of ``rows``, in their order. ``utts`` > 0: at most ``utts`` rows per speaker, in id
    order, taken round-robin over the speaker's recording sessions (the parent folder of ``wav``: a VoxCeleb
    video), and within a session over its files before a second segment of any file; so target trials pair
    different sessions wherever a speaker has them, as a VoxCeleb trial list does, and a manifest cut into
    segments (``arwsv prepare voxceleb --seg-dur``) does not fill the quota from one recording. Every pair of the
    development utterances within a pseudo-group is a trial, so on VoxCeleb2 (about 160 k development
    utterances) all of them would be billions of trials.

    rows: dicts with ``id``, ``spk_id``, ``wav`` and optionally ``start`` (:func:`arwsv.data.dataio.load_manifest_rows`).
    """
    if utts <= 0:
        return list(rows)
    files = {}
    for row in sorted(rows, key=lambda r: (str(r["wav"]), int(float(r.get("start", 0) or 0)), r["id"])):
        files.setdefault((row["spk_id"], str(row["wav"])), []).append(row)
    sessions = {}  # speaker -> session -> rows, each file's first segment before any file's second
    for (speaker, wav), segments in files.items():
        queue = sessions.setdefault(speaker, {}).setdefault(str(Path(wav).parent), [])
        queue.extend((rank, row["id"], row) for rank, row in enumerate(segments))
    chosen = []
    for speaker in sorted(sessions):
        queues = [[row for _, _, row in sorted(q, key=lambda t: t[:2])] for _, q in sorted(sessions[speaker].items())]
        taken, depth = [], 0
        while len(taken) < utts and any(depth < len(q) for q in queues):
            taken += [q[depth] for q in queues if depth < len(q)][: utts - len(taken)]
            depth += 1
        chosen += taken
    return sorted(chosen, key=lambda r: r["id"])
