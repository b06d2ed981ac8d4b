"""Manifests and trial lists, the files every later step (train, embed, score, eval) reads.

A manifest is a CSV that SpeechBrain's ``DynamicItemDataset.from_csv`` loads directly::

    ID,duration,wav,start,stop,spk_id,gender,nationality

``ID`` is the utterance path below the corpus root without extension (``id10270/5r0dWxy17C8/00001``,
as in VoxCeleb trial lists), with ``_START_STOP`` appended for segments; ``duration`` is in seconds;
``start``/``stop`` are sample indices (SpeechBrain's convention); ``wav`` is an absolute path.
``gender`` (``m``/``f``) and ``nationality`` are empty where unknown. They are kept for evaluation
and reports only: the training data pipeline never passes them on.

A trial list uses VoxCeleb's format, ``label enrol test`` with ``.wav`` utterance paths.
"""

from __future__ import annotations

import io

import pandas as pd

from arwsv.errors import InputError
from arwsv.io.files import write_if_changed

__all__ = ["MANIFEST_COLUMNS", "write_manifest", "read_manifest", "write_trials"]

MANIFEST_COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id", "gender", "nationality"]


def write_manifest(path, rows: pd.DataFrame) -> bool:
    """Write ``rows`` (a DataFrame with ``MANIFEST_COLUMNS``) sorted by ID; True if the file changed."""
    missing = [c for c in MANIFEST_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"manifest rows lack columns {missing}")
    frame = rows[MANIFEST_COLUMNS].sort_values("ID", kind="stable")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.3f", lineterminator="\n")
    return write_if_changed(path, buffer.getvalue().encode("utf-8"))


def read_manifest(path) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (or by hand with the same columns)."""
    try:
        frame = pd.read_csv(path, dtype={"ID": str, "wav": str, "spk_id": str, "gender": str, "nationality": str},
                            keep_default_na=False)
    except FileNotFoundError:
        raise InputError("no such manifest", path) from None
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"cannot read manifest: {str(err).splitlines()[0]}", path) from None
    required = ["ID", "duration", "wav", "start", "stop", "spk_id"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"manifest lacks column(s) {', '.join(missing)} (needs {','.join(required)})", path, 1)
    dup = frame["ID"].duplicated()
    if dup.any():
        raise InputError(f"duplicate ID {frame['ID'][dup].iloc[0]!r}", path, int(dup.to_numpy().argmax()) + 2)
    return frame


def write_trials(path, trials: pd.DataFrame) -> bool:
    """Write ``label enrol test`` lines (VoxCeleb format); True if the file changed."""
    text = "".join(f"{int(l)} {e} {t}\n" for l, e, t in zip(trials["label"], trials["enrol"], trials["test"]))
    return write_if_changed(path, text.encode("utf-8"))
