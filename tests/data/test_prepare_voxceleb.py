"""`arwsv prepare voxceleb` on a small fixture in the exact VoxCeleb layout and formats."""

from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arwsv.cli import main
from arwsv.data.manifest import MANIFEST_COLUMNS

VOX1_META = ("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
             "id10001\tA.J._Buckley\tm\tIreland\tdev\n"
             "id10002\tA.R._Rahman\tm\tIndia\tdev\n"
             "id10003\tAamir_Khan\tm\tIndia\tdev\n"
             "id10004\tAaron_Tveit\tm\tUSA\tdev\n"
             "id10270\tLuc_Besson\tm\tFrance\ttest\n"
             "id10271\tLéa_Seydoux\tf\tFrance\ttest\n")
VOX2_META = ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n"
             "id00012 ,n000012 ,m ,dev \n"
             "id00015 ,n000015 ,f ,dev \n")


def _wav(path, seconds, rate=16000, channels=1, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = 0.1 * rng.standard_normal((int(seconds * rate), channels)) if seconds else np.zeros((0, channels))
    sf.write(path, data, rate, subtype="PCM_16")


@pytest.fixture
def vox(tmp_path):
    """vox1/wav/idXXXXX/<video>/NNNNN.wav, with bad files, metadata and a veri_test2-style list."""
    root = tmp_path / "vox1"
    seed = 0
    for spk in ("id10001", "id10002", "id10003", "id10004", "id10270", "id10271"):
        for video in ("1zcIwhmdeo4", "7w0IBEWc9Qw"):
            for utt in (1, 2, 3):
                seed += 1
                _wav(root / "wav" / spk / video / f"{utt:05d}.wav", 2.5, seed=seed)
    (root / "wav" / "id10001" / "1zcIwhmdeo4" / "00009.wav").write_bytes(b"RIFF but not really a wav")
    _wav(root / "wav" / "id10002" / "1zcIwhmdeo4" / "00009.wav", 0)          # empty
    _wav(root / "wav" / "id10003" / "1zcIwhmdeo4" / "00009.wav", 0.3)        # too short for --min-dur 1
    _wav(root / "wav" / "id10004" / "1zcIwhmdeo4" / "00009.wav", 2.0, rate=8000, channels=2)
    _wav(root / "wav" / "id10004" / "00010.wav", 2.0)                         # not in the layout
    meta = tmp_path / "vox1_meta.csv"
    meta.write_text(VOX1_META, encoding="utf-8")
    trials = tmp_path / "veri_test2.txt"
    trials.write_text("1 id10270/1zcIwhmdeo4/00001.wav id10270/7w0IBEWc9Qw/00002.wav\n"
                      "0 id10270/1zcIwhmdeo4/00001.wav id10271/1zcIwhmdeo4/00003.wav\n"
                      "1 id10271/1zcIwhmdeo4/00001.wav id10271/7w0IBEWc9Qw/00001.wav\n")
    return tmp_path, root, meta, trials


def _run(args, capsys):
    code = main(["prepare", "voxceleb", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_manifests_trials_and_report(vox, capsys):
    tmp, root, meta, trials = vox
    out = tmp / "out"
    code, stdout, _ = _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, "--out", out, "--min-dur", "1",
                            "--dev-share", "0.25", "--seed", "3"], capsys)
    assert code == 0
    train, dev, test = (pd.read_csv(out / f"{n}.csv", keep_default_na=False) for n in ("train", "dev", "test"))
    for frame in (train, dev, test):
        assert list(frame.columns) == MANIFEST_COLUMNS
    # trial speakers are removed from training, as in SpeechBrain's recipe
    assert not {"id10270", "id10271"} & (set(train["spk_id"]) | set(dev["spk_id"]))
    assert set(test["ID"]) == {"id10270/1zcIwhmdeo4/00001", "id10270/7w0IBEWc9Qw/00002", "id10271/1zcIwhmdeo4/00003",
                               "id10271/1zcIwhmdeo4/00001", "id10271/7w0IBEWc9Qw/00001"}
    assert len(train) + len(dev) == 4 * 6 + 1  # 6 good files per speaker + the 8 kHz stereo one
    row = test[test["ID"] == "id10271/1zcIwhmdeo4/00001"].iloc[0]
    assert (row["gender"], row["nationality"], row["start"], row["stop"]) == ("f", "France", 0, 40000)
    assert row["duration"] == pytest.approx(2.5)
    assert os.path.isabs(row["wav"]) and row["wav"].endswith("wav/id10271/1zcIwhmdeo4/00001.wav")
    assert (out / "trials" / "veri_test2.txt").read_text() == trials.read_text()
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["skipped"] == {"unreadable": 1, "empty": 1, "shorter than --min-dur 1 s": 1,
                                 "not in idXXXXX/<video>/<file> layout": 1}
    assert report["notes"] == {"other sample rate (resampled when loaded)": 1,
                               "more than one channel (downmixed when loaded)": 1}
    assert report["sets"]["test"]["gender"] == {"f": 1, "m": 1}
    assert report["removed_trial_speakers"] == 2
    assert '"unreadable": 1' in stdout
    # the dev split is reproducible by seed and changes with it
    again = tmp / "again"
    _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, "--out", again, "--min-dur", "1", "--dev-share",
          "0.25", "--seed", "3"], capsys)
    assert pd.read_csv(again / "dev.csv")["ID"].tolist() == dev["ID"].tolist()
    other = tmp / "other"
    _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, "--out", other, "--min-dur", "1", "--dev-share",
          "0.25", "--seed", "4"], capsys)
    assert pd.read_csv(other / "dev.csv")["ID"].tolist() != dev["ID"].tolist()


def test_rerun_rewrites_nothing(vox, capsys):
    tmp, root, meta, trials = vox
    out = tmp / "out"
    args = ["--vox1", root, "--vox1-meta", meta, "--trials", trials, "--out", out]
    assert _run(args, capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, stdout, _ = _run(args, capsys)
    assert code == 0 and "(0 files changed)" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_segments(vox, capsys):
    tmp, root, meta, _ = vox
    out = tmp / "out"
    assert _run(["--vox1", root, "--vox1-meta", meta, "--out", out, "--seg-dur", "1.0", "--dev-share", "0"],
                capsys)[0] == 0
    train = pd.read_csv(out / "train.csv")
    one = train[train["ID"].str.startswith("id10001/1zcIwhmdeo4/00001_")]
    assert one["ID"].tolist() == ["id10001/1zcIwhmdeo4/00001_0_16000", "id10001/1zcIwhmdeo4/00001_16000_32000"]
    assert (one["stop"] - one["start"] == 16000).all() and (one["duration"] == 1.0).all()


def _fake_ffmpeg(folder):
    """An 'ffmpeg' that writes one second of 16 kHz noise to its last argument."""
    script = folder / "ffmpeg"
    script.write_text(f"#!{sys.executable}\nimport sys, numpy as np, soundfile as sf\n"
                      "sf.write(sys.argv[-1], 0.1 * np.random.default_rng(0).standard_normal(16000), 16000, "
                      "format='WAV', subtype='PCM_16')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_vox2_m4a_conversion_and_missing_ffmpeg(vox, capsys, monkeypatch, tmp_path):
    tmp, root, meta, trials = vox
    vox2 = tmp / "vox2"
    for spk in ("id00012", "id00015"):
        for utt in (1, 2):
            path = vox2 / "dev" / "aac" / spk / "abcDEF12345" / f"{utt:05d}.m4a"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not decodable without ffmpeg")
    _wav(vox2 / "dev" / "aac" / "id00015" / "abcDEF12345" / "00003.wav", 2.0)  # already converted
    meta2 = tmp / "vox2_meta.csv"
    meta2.write_text(VOX2_META)
    out = tmp / "out"
    args = ["--vox1", root, "--vox2", vox2, "--vox1-meta", meta, "--vox2-meta", meta2, "--trials", trials,
            "--out", out]
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, err = _run(args, capsys)
    assert code == 2 and "ffmpeg is not on PATH" in err and len(err.strip().splitlines()) == 1
    assert not (out / "train.csv").exists()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_ffmpeg(bindir)
    monkeypatch.setenv("PATH", str(bindir))
    code, _, err = _run(args, capsys)
    assert code == 0, err
    train = pd.concat([pd.read_csv(out / f"{n}.csv", keep_default_na=False) for n in ("train", "dev")])
    vox2_rows = train[train["spk_id"].str.startswith("id000")]
    assert len(vox2_rows) == 5
    assert set(vox2_rows["nationality"]) == {""}  # VoxCeleb2 has gender only
    assert set(vox2_rows["gender"]) == {"m", "f"}
    assert (out / "vox2_wav" / "id00012" / "abcDEF12345" / "00001.wav").exists()
    already = vox2_rows[vox2_rows["ID"] == "id00015/abcDEF12345/00003"]["wav"].item()
    assert already == str((vox2 / "dev" / "aac" / "id00015" / "abcDEF12345" / "00003.wav").resolve())


@pytest.mark.parametrize("case", ["no_layout", "missing_meta", "bad_trials", "negative_seed"])
def test_bad_input(vox, capsys, case):
    tmp, root, meta, trials = vox
    args = {"no_layout": ["--vox1", tmp / "nothing-here", "--vox1-meta", meta],
            "missing_meta": ["--vox1", root, "--vox1-meta", tmp / "missing.csv"],
            "bad_trials": ["--vox1", root, "--vox1-meta", meta, "--trials", meta],
            "negative_seed": ["--vox1", root, "--vox1-meta", meta, "--seed", "-2"]}[case]
    if case == "no_layout":
        (tmp / "nothing-here").mkdir()
    code, _, err = _run([*args, "--out", tmp / "out"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arwsv prepare: error: ")


def test_trials_with_missing_audio_stale_lists_and_name_clashes(vox, capsys):
    tmp, root, meta, trials = vox
    out = tmp / "out"
    with_missing = tmp / "list_test_hard2.txt"
    with_missing.write_text(trials.read_text() + "0 id10270/1zcIwhmdeo4/00001.wav id10271/zzzzzzzzzzz/00042.wav\n")
    assert _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, with_missing, "--out", out], capsys)[0] == 0
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["trials"]["list_test_hard2"] == {"trials": 3, "targets": 2, "dropped_missing_audio": 1}
    assert (out / "trials" / "list_test_hard2.txt").read_text() == trials.read_text()
    # a later run without that list removes it (its speakers would be back in training)
    assert _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, "--out", out], capsys)[0] == 0
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["veri_test2.txt"]
    other = tmp / "elsewhere"
    other.mkdir()
    clash = other / "veri_test2.txt"
    clash.write_text(trials.read_text())
    code, _, err = _run(["--vox1", root, "--vox1-meta", meta, "--trials", trials, clash, "--out", out], capsys)
    assert code == 2 and "two trial lists are named 'veri_test2'" in err


def test_development_utterances_of_a_segmented_manifest_span_videos_and_files(vox, capsys):
    """`arwsv select`'s `dev_utts` on the real layout cut into segments: targets across videos, not segments of
    one recording (arwsv.selection.split.development_rows)."""
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.selection.split import development_rows

    tmp, root, meta, _ = vox
    out = tmp / "out"
    assert _run(["--vox1", root, "--vox1-meta", meta, "--out", out, "--seg-dur", "1.0", "--dev-share", "0"],
                capsys)[0] == 0
    rows = load_manifest_rows(out / "train.csv")
    chosen = development_rows(rows, 4)
    speakers = sorted({r["spk_id"] for r in rows})
    assert len(chosen) == 4 * len(speakers)
    for speaker in speakers:
        mine = [r for r in chosen if r["spk_id"] == speaker]
        files = [r["wav"] for r in mine]
        videos = {f.split("/")[-2] for f in files}
        assert len(set(files)) == 4 and videos == {"1zcIwhmdeo4", "7w0IBEWc9Qw"}, files  # 4 files, both videos
        assert all(int(r["start"]) == 0 for r in mine)  # each file's first segment
