"""``arwsv prepare voxceleb``: manifests and trial lists from VoxCeleb as distributed.

Layouts read:

- VoxCeleb1: ``<DIR>/wav/idXXXXX/<video>/NNNNN.wav`` (or ``<DIR>/idXXXXX/...``); several
  ``--vox1`` folders may be given (``vox1_dev_wav``, ``vox1_test_wav``).
- VoxCeleb2: ``<DIR>/dev/aac/idXXXXX/<video>/NNNNN.m4a`` (also ``<DIR>/aac``, ``<DIR>/dev/wav``,
  ``<DIR>/wav`` or ``<DIR>`` itself). ``.m4a`` files are converted once to 16 kHz mono wav under
  ``<OUT>/vox2_wav/`` with ffmpeg; a ``.wav`` next to an ``.m4a`` (already converted) is used as is.

Outputs in ``--out``: ``train.csv``, ``dev.csv``, ``test.csv`` (:mod:`arwsv.data.manifest`),
``trials/<name>.txt`` (each ``--trials`` list in VoxCeleb format ``label enrol test``) and
``prepare_report.json``. As in SpeechBrain's recipe, every speaker that appears in a trial list is
removed from train and dev; the utterances the trial lists use form ``test.csv``. ``dev.csv`` holds
a ``--dev-share`` of the training utterances, drawn by ``--seed``. With ``--seg-dur S``, training
utterances are cut into S-second segments (the remainder is dropped), IDs ``<utt>_<start>_<stop>``.

Files skipped, each counted with a reason: not in the ``idXXXXX/<video>/<file>`` layout, unreadable
(soundfile cannot open it), empty, or shorter than ``--min-dur``. Other sample rates and multi-channel
files are kept and counted (the loader resamples and downmixes). Silence is detected at load time
(reading every file here would double the cost). Outputs are rewritten only when their bytes change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from arwsv.errors import InputError
from arwsv.io.files import write_if_changed
from arwsv.data.manifest import MANIFEST_COLUMNS, write_manifest, write_trials

__all__ = ["scan_layout", "prepare_voxceleb"]

_SPEAKER = re.compile(r"^id\d+$")


def _layout_root(folder: Path, candidates: tuple) -> list:
    roots = [folder / c for c in candidates if (folder / c).is_dir()]
    if not roots and any(_SPEAKER.match(p.name) for p in folder.iterdir() if p.is_dir()):
        roots = [folder]
    return roots


def scan_layout(folder, extensions=(".wav",), candidates=("wav",)) -> tuple:
    """Audio files in ``idXXXXX/<video>/<file>`` layout under ``folder``.

    Returns ``(files, skipped)``: a DataFrame ``rel`` (``spk/video/utt`` without extension),
    ``path``, ``ext``, and a list of ``(path, reason)`` for what does not fit the layout.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such folder", folder)
    roots = _layout_root(folder, candidates)
    if not roots:
        raise InputError(f"no VoxCeleb layout here: expected {' or '.join(c + '/' for c in candidates)}"
                         "idXXXXX/<video>/<file> folders", folder)
    rows, skipped = [], []
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            for name in sorted(filenames):
                path = Path(dirpath) / name
                stem, ext = os.path.splitext(name)
                if ext.lower() not in extensions:
                    continue
                parts = path.relative_to(root).parts
                if len(parts) != 3 or not _SPEAKER.match(parts[0]):
                    skipped.append((str(path), "not in idXXXXX/<video>/<file> layout"))
                    continue
                rows.append({"rel": f"{parts[0]}/{parts[1]}/{stem}", "path": str(path.resolve()), "ext": ext.lower()})
    files = pd.DataFrame(rows, columns=["rel", "path", "ext"]).sort_values("rel", kind="stable", ignore_index=True)
    return files, skipped


def _convert_m4a(files: pd.DataFrame, out: Path, jobs: int, progress: bool) -> pd.DataFrame:
    """Convert .m4a rows to 16 kHz mono wav under ``out/vox2_wav`` (once); returns wav rows."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    wav_rels = set(files.loc[files["ext"] == ".wav", "rel"])
    m4a = files[(files["ext"] == ".m4a") & ~files["rel"].isin(wav_rels)]
    targets = [out / "vox2_wav" / f"{rel}.wav" for rel in m4a["rel"]]
    todo = [(src, dst) for src, dst in zip(m4a["path"], targets) if not dst.exists()]
    if todo:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise InputError(f"{len(todo)} VoxCeleb2 .m4a files need converting to wav but ffmpeg is not on PATH; "
                             "install it (apt-get install ffmpeg / conda install ffmpeg) or convert them to 16 kHz "
                             "wav next to the .m4a files", Path(todo[0][0]).parent.parent.parent)

        def convert(pair):
            src, dst = pair
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp.wav")
            proc = subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", src, "-ac", "1", "-ar",
                                   "16000", "-f", "wav", str(tmp)], capture_output=True, text=True)
            if proc.returncode == 0 and tmp.exists():
                os.replace(tmp, dst)  # a killed run leaves no half-converted wav behind
                return None
            tmp.unlink(missing_ok=True)
            return src

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            failed = [f for f in tqdm(pool.map(convert, todo), total=len(todo), desc="m4a -> wav", unit="file",
                                      disable=not progress or None) if f]
        if failed:
            print(f"arwsv prepare: warning: ffmpeg could not convert {len(failed)} files (e.g. {failed[0]}); "
                  "they are skipped")
    converted = pd.DataFrame({"rel": m4a["rel"].to_numpy(), "path": [str(t.resolve()) for t in targets], "ext": ".wav"})
    converted = converted[[Path(p).exists() for p in converted["path"]]]
    return pd.concat([files[files["ext"] == ".wav"], converted], ignore_index=True)


def _inspect(files: pd.DataFrame, min_dur: float, progress: bool):
    """Duration, rate and channels from each header; drops unreadable, empty and too-short files."""
    import soundfile as sf
    from tqdm.auto import tqdm

    info, skipped, notes = [], [], Counter()
    for path in tqdm(files["path"], desc="reading headers", unit="file", disable=not progress or None):
        try:
            meta = sf.info(path)
        except Exception:  # soundfile raises several types for broken files
            info.append(None)
            skipped.append((path, "unreadable"))
            continue
        if meta.frames == 0:
            info.append(None)
            skipped.append((path, "empty"))
            continue
        duration = meta.frames / meta.samplerate
        if duration < min_dur:
            info.append(None)
            skipped.append((path, f"shorter than --min-dur {min_dur:g} s"))
            continue
        if meta.samplerate != 16000:
            notes["other sample rate (resampled when loaded)"] += 1
        if meta.channels != 1:
            notes["more than one channel (downmixed when loaded)"] += 1
        info.append((duration, meta.frames, meta.samplerate))
    keep = np.array([i is not None for i in info], dtype=bool)
    kept = files[keep].copy()
    kept["duration"] = [i[0] for i in info if i is not None]
    kept["frames"] = [i[1] for i in info if i is not None]
    return kept, skipped, notes


def _segments(rows: pd.DataFrame, seg_dur: float | None, sample_rate_of: pd.Series) -> pd.DataFrame:
    """Manifest rows for whole utterances, or for ``seg_dur`` segments of each."""
    if not seg_dur:
        return rows.assign(ID=rows["rel"], start=0, stop=rows["frames"])
    out = []
    for rel, path, frames, rate, extra in zip(rows["rel"], rows["path"], rows["frames"], sample_rate_of,
                                              rows[["spk_id", "gender", "nationality"]].itertuples(index=False)):
        step = int(seg_dur * rate)
        for start in range(0, int(frames) - step + 1, step):
            out.append({"ID": f"{rel}_{start}_{start + step}", "path": path, "start": start, "stop": start + step,
                        "duration": seg_dur, "spk_id": extra.spk_id, "gender": extra.gender,
                        "nationality": extra.nationality})
    return pd.DataFrame(out, columns=["ID", "path", "start", "stop", "duration", "spk_id", "gender", "nationality"])


def _speaker_labels(meta_paths: list) -> pd.DataFrame:
    """gender (m/f) and nationality per speaker id from VoxCeleb metadata files."""
    from arwsv.io.metadata import read_metadata

    frames = []
    for path in meta_paths:
        meta = read_metadata(path)
        ids = meta.table.index.to_numpy()
        gender = meta.values("gender", ids) if meta.find("gender") else np.full(len(ids), "", dtype=object)
        nation = meta.values("nationality", ids) if meta.find("nationality") else np.full(len(ids), "", dtype=object)
        gender = pd.Series(gender).map({"male": "m", "female": "f"}).fillna(pd.Series(gender)).to_numpy()
        frames.append(pd.DataFrame({"spk_id": ids, "gender": gender, "nationality": nation}))
    labels = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["spk_id", "gender",
                                                                                        "nationality"])
    return labels.drop_duplicates("spk_id", keep="first").set_index("spk_id")


def prepare_voxceleb(*, vox1: list, out, vox1_meta, vox2: list = (), vox2_meta=None, trials: list = (),
                     seg_dur: float | None = None, min_dur: float = 0.0, dev_share: float = 0.02, seed: int = 0,
                     jobs: int = 1, progress: bool = True) -> dict:
    """Write manifests and trial lists (see module docstring); returns the report dict."""
    from arwsv.io.scorefile import read_trials, speaker_rule

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder: {err.strerror}", out) from None
    # metadata and trial lists first: a typo there must not wait for hours of m4a conversion
    labels = _speaker_labels([vox1_meta] + ([vox2_meta] if vox2_meta else []))
    rule = speaker_rule()
    tables, test_speakers, test_utts = {}, set(), set()
    for trial_path in trials:
        name = Path(trial_path).stem
        if name in tables:
            raise InputError(f"two trial lists are named {name!r}; their outputs would overwrite each other",
                             trial_path)
        tables[name] = read_trials(trial_path)
        utts = set(tables[name]["enrol"]) | set(tables[name]["test"])
        test_utts |= {os.path.splitext(u)[0] for u in utts}
        test_speakers |= {rule(u) for u in utts}

    skipped = []
    found = []
    for folder in vox1:
        files, bad = scan_layout(folder)
        found.append(files.assign(source="vox1"))
        skipped += bad
    for folder in vox2:
        files, bad = scan_layout(folder, extensions=(".wav", ".m4a"), candidates=("dev/aac", "aac", "dev/wav", "wav"))
        skipped += bad
        found.append(_convert_m4a(files, out, jobs, progress).assign(source="vox2"))
    files = pd.concat(found, ignore_index=True).drop_duplicates("rel", keep="first")
    if files.empty:
        raise InputError("no audio files found in the VoxCeleb layout", vox1[0])
    files["spk_id"] = files["rel"].str.split("/").str[0]
    files = files.join(labels, on="spk_id")
    files[["gender", "nationality"]] = files[["gender", "nationality"]].fillna("")

    files, bad, notes = _inspect(files, min_dur, progress)
    skipped += bad
    # trial lists keep only trials whose two utterances are usable audio here; the rest are counted
    usable = set(files["rel"])
    trial_report = {}
    for name, table in tables.items():
        ok = table["enrol"].map(lambda u: os.path.splitext(u)[0] in usable) & \
            table["test"].map(lambda u: os.path.splitext(u)[0] in usable)
        if not ok.any():
            raise InputError(f"no trial of list {name!r} has both utterances under --vox1", trials[0])
        write_trials(out / "trials" / f"{name}.txt", table[ok])
        trial_report[name] = {"trials": int(ok.sum()), "targets": int(table.loc[ok, "label"].sum()),
                              "dropped_missing_audio": int((~ok).sum())}
        if not ok.all():
            print(f"arwsv prepare: warning: {int((~ok).sum())} trials of {name} name audio that is missing or "
                  f"unusable; they are left out of trials/{name}.txt")
    for stale in (out / "trials").glob("*.txt") if (out / "trials").is_dir() else []:
        if stale.stem not in tables:  # a list from an earlier run whose speakers are back in training
            stale.unlink()
    is_test_spk = files["spk_id"].isin(test_speakers)
    test_rows = files[files["rel"].isin(test_utts)]
    missing = len(test_utts) - len(test_rows)
    if test_utts and missing == len(test_utts):
        raise InputError("none of the trial lists' utterances were found under --vox1", trials[0])
    train_rows = files[~is_test_spk].reset_index(drop=True)

    rng = np.random.default_rng(seed)
    in_dev = rng.random(len(train_rows)) < dev_share  # by utterance: segments of one file stay together
    manifests = {}
    for name, rows in (("train", train_rows[~in_dev]), ("dev", train_rows[in_dev])):
        rates = (rows["frames"] / rows["duration"]).round().astype(int)
        manifests[name] = _segments(rows, seg_dur, rates)
    manifests["test"] = test_rows.assign(ID=test_rows["rel"], start=0, stop=test_rows["frames"])
    changed = 0
    for name, rows in manifests.items():
        changed += write_manifest(out / f"{name}.csv", rows.rename(columns={"path": "wav"})[MANIFEST_COLUMNS])

    report = {"found": {"files": int(len(files) + len(bad)), "speakers": int(files["spk_id"].nunique())},
              "sets": {}, "trials": trial_report,
              "removed_trial_speakers": int(len(test_speakers & set(files["spk_id"]))),
              "trial_utterances_not_found": int(missing),
              "skipped": dict(Counter(reason for _, reason in skipped)),
              "skipped_examples": [f"{path}: {reason}" for path, reason in skipped[:5]],
              "notes": dict(notes),
              "speakers_without_metadata": int(files.loc[~files["spk_id"].isin(labels.index), "spk_id"].nunique())}
    for name, rows in manifests.items():
        spk = rows.drop_duplicates("spk_id")
        report["sets"][name] = {
            "speakers": int(len(spk)), "items": int(len(rows)), "hours": round(float(rows["duration"].sum()) / 3600, 3),
            "gender": {k or "unknown": int(v) for k, v in sorted(spk["gender"].value_counts().items())},
            "nationality": {k or "unknown": int(v) for k, v in sorted(spk["nationality"].value_counts().items())}}
    import json

    changed += write_if_changed(out / "prepare_report.json", (json.dumps(report, indent=1) + "\n").encode())
    report["changed_files"] = int(changed)
    return report
