"""Oracle data: new real speakers added to chosen gender x country cells of an existing toy corpus.

The upper bound of what *data* can do for a cell: speakers drawn exactly as the corpus's own speakers of that cell
were (same accent, same voice distribution and spread, same channels and utterance plan), from RNG streams no
existing speaker uses, so nothing already in the corpus changes. :func:`extend_corpus` writes a new folder::

    out/train.csv, out/dev.csv   the base's lines byte for byte, then the new speakers' lines (their IDs sort last)
    out/test.csv, out/trials/    the base's files, byte for byte (the test speakers and lists do not change)
    out/meta.csv                 the base's lines, then one line per new speaker
    out/wav/<new spk>/...        the new speakers' audio only: the base's rows keep pointing at the base's files
    out/noise*/ *.csv            the base's noise manifests (they point at the base's audio)
    out/corpus.json              the base's description, the new speakers appended, and ``extension``
                                 (base folder, cells and counts)

The base folder is only read. Same base, same cells, same bytes.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from arwsv.data.manifest import MANIFEST_COLUMNS
from arwsv.data.toy.config import COUNTRY_NAMES, ToyConfig
from arwsv.data.toy.corpus import SpeakerSpec, _channel, draw_speakers, render_speakers
from arwsv.data.toy.voices import draw_voice
from arwsv.errors import InputError
from arwsv.io.files import write_if_changed

__all__ = ["parse_cells", "read_base", "extend_corpus"]

# RNG streams of an added speaker (the corpus uses [seed, 0..4]; the noise sets draw from streams of their own)
_VOICE_STREAM = 5
_DEV_STREAM = 6


def parse_cells(specs: list, countries: list) -> dict:
    """``["f/Dorne=40", ...]`` -> ``{("f", "Dorne"): 40}``; raises InputError naming the bad one."""
    cells = {}
    for spec in specs:
        match = re.fullmatch(r"([mf])/([^=]+)=(\d+)", spec.strip())
        if not match:
            raise InputError(f"--add {spec!r}: expected GENDER/COUNTRY=COUNT, e.g. f/Dorne=40 (gender m or f)")
        gender, country, count = match.group(1), match.group(2), int(match.group(3))
        if country not in countries:
            raise InputError(f"--add {spec!r}: no country {country!r} in this corpus ({', '.join(countries)})")
        if count < 1:
            raise InputError(f"--add {spec!r}: the count must be >= 1")
        if (gender, country) in cells:
            raise InputError(f"--add {spec!r}: cell {gender}/{country} given twice")
        cells[(gender, country)] = count
    if not cells:
        raise InputError("--add: give at least one cell, e.g. --add f/Dorne=40")
    return cells


def read_base(base) -> tuple:
    """The base corpus's (config, description); InputError if it is not a toy corpus of this version."""
    base = Path(base)
    described = base / "corpus.json"
    try:
        description = json.loads(described.read_text())
        values = dict(description["config"])
    except FileNotFoundError:
        raise InputError("no corpus.json: not a toy corpus folder (arwsv prepare toy writes one)", described) from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"cannot read the corpus description: {err}", described) from None
    if "extension" in description:
        raise InputError("this corpus is itself an extension; extend its base instead", described)
    if values.get("country_spreads") is not None:
        values["country_spreads"] = tuple(values["country_spreads"])
    try:
        config = ToyConfig(**values)
        config.check()
    except (TypeError, ValueError) as err:
        raise InputError(f"unknown corpus settings: {err}", described) from None
    for name in ("train.csv", "dev.csv", "test.csv", "meta.csv"):
        if not (base / name).is_file():
            raise InputError(f"the base corpus has no {name}", base)
    return config, description


def _new_speakers(config: ToyConfig, cells: dict, first_index: int) -> list:
    """The added speakers, cell by cell in the order given; speaker ``index`` draws from [seed, 5, index]."""
    countries = COUNTRY_NAMES[: config.countries]
    speakers, index = [], first_index
    for (gender, country), count in cells.items():
        country_index = countries.index(country)
        for _ in range(count):
            rng = np.random.default_rng([config.seed, _VOICE_STREAM, index])
            voice = draw_voice(gender, config.speaker_spread(gender, country_index), rng)
            channels = [_channel(config, rng) for _ in range(config.sessions)]
            speakers.append((index, SpeakerSpec(spk_id=f"toy{index + 1:05d}", gender=gender, country=country,
                                                split="train", voice=voice, accent_index=country_index,
                                                channels=channels)))
            index += 1
    return speakers


def _rows_text(rows: pd.DataFrame) -> str:
    """Manifest lines (no header) as :func:`arwsv.data.manifest.write_manifest` writes them."""
    buffer = io.StringIO()
    rows[MANIFEST_COLUMNS].sort_values("ID", kind="stable").to_csv(
        buffer, index=False, header=False, float_format="%.3f", lineterminator="\n")
    return buffer.getvalue()


def extend_corpus(base, out, cells: dict, *, jobs: int = 1, progress: bool = True) -> dict:
    """Write ``out``: the corpus at ``base`` with ``cells`` ({(gender, country): count}) new training speakers.

    Returns a summary: the cells, the new speakers' IDs, their utterances and how many files changed.
    """
    base, out = Path(base).resolve(), Path(out).resolve()
    if out == base:
        raise InputError("--out must be a new folder: the base corpus is only read", out)
    config, description = read_base(base)
    speakers, accents = draw_speakers(config)
    if [s["spk_id"] for s in description["speakers"]] != [s.spk_id for s in speakers]:
        raise InputError("its speakers are not the ones its settings draw (made by another version?)",
                         base / "corpus.json")
    added = _new_speakers(config, cells, first_index=len(speakers))
    jobs_list = [(config, index, spec, accents[spec.accent_index], str(out)) for index, spec in added]
    frame = pd.DataFrame(render_speakers(jobs_list, jobs=jobs, progress=progress, desc="oracle speakers"))
    changed = int(frame.pop("changed").sum())
    dev_mask = np.random.default_rng([config.seed, _DEV_STREAM]).random(len(frame)) < config.dev_share
    for name, new in (("train.csv", frame[~dev_mask]), ("dev.csv", frame[dev_mask])):
        text = (base / name).read_text() + _rows_text(new)
        changed += write_if_changed(out / name, text.encode("utf-8"))
    changed += write_if_changed(out / "test.csv", (base / "test.csv").read_bytes())
    for trials in sorted((base / "trials").glob("*.txt")):
        changed += write_if_changed(out / "trials" / trials.name, trials.read_bytes())
    for folder in ("noise", "noise_heldout"):
        for manifest in sorted((base / folder).glob("*.csv")):
            changed += write_if_changed(out / folder / manifest.name, manifest.read_bytes())
    meta = "".join(f"{spec.spk_id}\tToy_Speaker_{index + 1}\t{spec.gender}\t{spec.country}\tdev\n"
                   for index, spec in added)
    changed += write_if_changed(out / "meta.csv", ((base / "meta.csv").read_text() + meta).encode("utf-8"))
    extended = dict(description)
    extended["speakers"] = description["speakers"] + [
        {"spk_id": s.spk_id, "gender": s.gender, "country": s.country, "split": s.split, "voice": asdict(s.voice)}
        for _, s in added]
    extended["extension"] = {"base": str(base), "cells": {f"{g}/{c}": n for (g, c), n in cells.items()},
                             "speakers": [s.spk_id for _, s in added], "voice_stream": _VOICE_STREAM}
    changed += write_if_changed(out / "corpus.json", (json.dumps(extended, indent=1) + "\n").encode("utf-8"))
    return {"base": str(base), "cells": extended["extension"]["cells"], "speakers": len(added),
            "utterances": len(frame), "train_utterances": int((~dev_mask).sum()), "changed_files": changed}
