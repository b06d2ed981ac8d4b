"""Noise and RIR manifests (``arwsv prepare noise``) and the synthetic noise set of the toy corpus.

Fixtures are tiny wav files (a few hundred ms) in MUSAN's and RIRS_NOISES's real layouts; the expected
manifests are built from what the fixtures wrote, not from the code under test.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf

from arwsv.cli import main
from arwsv.data.noise import (CATEGORIES, MANIFEST_HEADER, _render_synthetic, prepare_noise, read_noise_manifest,
                              write_synthetic_noise)
from arwsv.errors import InputError

RATE = 16000
SMALL_SET = dict(n_noise_files=10, n_music_files=3, n_speech_files=6, n_rirs=4)


def _wav(path, frames, rate=RATE, channels=1, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = np.random.default_rng(seed).uniform(-0.5, 0.5, size=(frames, channels) if channels > 1 else frames)
    sf.write(path, wave, rate, subtype="PCM_16")
    return path


@pytest.fixture
def musan(tmp_path):
    """MUSAN as distributed (noise/free-sound, noise/sound-bible, music/fma, music/jamendo, speech/librivox, with
    its README / ANNOTATIONS / LICENSE text files and a macOS ``._`` file); returns (root, expected rows)."""
    root = tmp_path / "musan"
    expected = {}
    files = [("noise", "noise/free-sound/noise-free-sound-0000", 4000),
             ("noise", "noise/free-sound/noise-free-sound-0001", 3200),
             ("noise", "noise/sound-bible/noise-sound-bible-0000", 2400), ("music", "music/fma/music-fma-0000", 4800),
             ("music", "music/jamendo/music-jamendo-0003", 5600),
             ("speech", "speech/librivox/speech-librivox-0000", 6400)]
    for i, (category, rel, frames) in enumerate(files):
        path = _wav(root / f"{rel}.wav", frames, seed=i)
        expected[f"{category}/{rel}"] = (frames / RATE, str(path))
    (root / "README").write_text("MUSAN\n")
    (root / "noise" / "free-sound" / "ANNOTATIONS").write_text("noise-free-sound-0000 ...\n")
    (root / "music" / "fma" / "LICENSE").write_text("CC\n")
    (root / "noise" / "free-sound" / "._noise-free-sound-0000.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    return root, expected


@pytest.fixture
def rirs(tmp_path):
    """RIRS_NOISES as distributed: simulated_rirs/<size>room/RoomNNN/, real_rirs_isotropic_noises/ (isotropic
    noises named *noise*, one 2-channel RIR), pointsource_noises/ (not read), Kaldi's list files."""
    root = tmp_path / "RIRS_NOISES"
    expected = {}
    for i, rel in enumerate(["simulated_rirs/smallroom/Room001/Room001-00001",
                             "simulated_rirs/smallroom/Room001/Room001-00002",
                             "simulated_rirs/largeroom/Room012/Room012-00001"]):
        path = _wav(root / f"{rel}.wav", 1600 + 160 * i, seed=10 + i)
        expected[f"rirs/{rel}"] = (len(sf.read(path)[0]) / RATE, str(path))
    real = "real_rirs_isotropic_noises"
    path = _wav(root / real / "air_type1_air_binaural_aula_carolina_1_1_3_0_1.wav", 2000, seed=20)
    expected[f"rirs/{real}/air_type1_air_binaural_aula_carolina_1_1_3_0_1"] = (2000 / RATE, str(path))
    path = _wav(root / real / "RVB2014_type1_noise_largeroom1_1.wav", 4800, seed=21)
    expected[f"noise/{real}/RVB2014_type1_noise_largeroom1_1"] = (4800 / RATE, str(path))
    _wav(root / real / "RVB2014_type1_rir_largeroom1_far_angla.wav", 2400, channels=2, seed=22)  # converted
    expected[f"rirs/{real}/RVB2014_type1_rir_largeroom1_far_angla"] = (2400 / RATE, "converted")
    _wav(root / "pointsource_noises" / "noise-free-sound-0001.wav", 800, seed=23)
    (root / real / "rir_list").write_text("--rir-id ...\n")
    (root / "simulated_rirs" / "smallroom" / "rir_list").write_text("--rir-id ...\n")
    return root, expected


def _read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else None


# ---- manifests of MUSAN and RIRS_NOISES -------------------------------------------------------------

def test_manifests_hold_every_file_with_its_duration(musan, rirs, tmp_path):
    (musan_root, musan_rows), (rirs_root, rirs_rows) = musan, rirs
    out = tmp_path / "out"
    report = prepare_noise(musan_root, rirs_root, out=out)
    expected = {**musan_rows, **rirs_rows}
    seen = {}
    for category in CATEGORIES:
        lines = (out / f"{category}.csv").read_text().splitlines()
        assert lines[0] == "ID,duration,wav,wav_format,wav_opts"
        rows = _read(out / f"{category}.csv")[1:]
        ids = [r[0] for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for (file_id, duration, wav, wav_format, wav_opts), line in zip(rows, lines[1:]):
            assert file_id.startswith(f"{category}/")
            assert line == f"{file_id},{duration},{wav},wav,"  # no quoting, empty options
            assert wav_format == "wav" and wav_opts == "" and os.path.isabs(wav) and os.path.exists(wav)
            seen[file_id] = (float(duration), wav)
        assert report["categories"][category]["files"] == len(rows)
        assert report["categories"][category]["seconds"] == pytest.approx(sum(float(r[1]) for r in rows), abs=1e-3)
    assert set(seen) == set(expected)  # pointsource_noises, text files and the ._ file are not read
    for file_id, (seconds, wav) in expected.items():
        assert seen[file_id][0] == pytest.approx(seconds, abs=1e-6), file_id
        if wav != "converted":
            assert seen[file_id][1] == wav
    # the 2-channel RIR: a mono copy of its first channel
    copy = seen["rirs/real_rirs_isotropic_noises/RVB2014_type1_rir_largeroom1_far_angla"][1]
    name = "real_rirs_isotropic_noises/RVB2014_type1_rir_largeroom1_far_angla.wav"
    assert copy == str(out / "converted" / "rirs" / name)
    original = sf.read(rirs_root / "real_rirs_isotropic_noises" / "RVB2014_type1_rir_largeroom1_far_angla.wav")[0]
    np.testing.assert_allclose(sf.read(copy)[0], original[:, 0], atol=1e-6)
    assert report["converted"] == {"folder": "converted", "files": 1, "multichannel": 1, "resampled": 0}
    assert report["empty"] == []
    assert report["categories"]["noise"]["from"] == ["musan/noise", "rirs/real_rirs_isotropic_noises"]
    saved = json.loads((out / "noise_report.json").read_text())
    assert saved["sources"] == {"musan": str(musan_root), "rirs": str(rirs_root)}
    assert saved["categories"] == report["categories"]
    first = read_noise_manifest(out / "noise.csv")[0]
    assert first["duration"] == seen[first["ID"]][0] and first["wav_opts"] == ""


def test_rerun_same_bytes_nothing_rewritten(musan, rirs, tmp_path):
    out = tmp_path / "out"
    prepare_noise(musan[0], rirs[0], out=out)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert prepare_noise(musan[0], rirs[0], out=out)["changed_files"] == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before


def test_only_the_given_layouts_categories_are_written(musan, rirs, tmp_path):
    out = tmp_path / "rirs_only"
    report = prepare_noise(rirs=rirs[0], out=out)
    assert sorted(p.name for p in out.glob("*.csv")) == ["noise.csv", "rirs.csv"]
    assert set(report["categories"]) == {"noise", "rirs"}
    # a MUSAN holding noise/ only: music and speech written header-only and reported empty
    partial = tmp_path / "partial_musan"
    _wav(partial / "noise" / "free-sound" / "noise-free-sound-0000.wav", 800)
    out = tmp_path / "musan_only"
    report = prepare_noise(musan=partial, out=out)
    assert sorted(p.name for p in out.glob("*.csv")) == ["music.csv", "noise.csv", "speech.csv"]
    assert report["empty"] == ["music", "speech"]
    assert (out / "music.csv").read_text() == ",".join(MANIFEST_HEADER) + "\n"


def test_other_sample_rate_gets_a_resampled_copy(tmp_path):
    root = tmp_path / "musan"
    _wav(root / "music" / "fma" / "music-fma-0000.wav", 4000, rate=8000)
    out = tmp_path / "out"
    report = prepare_noise(musan=root, out=out)
    (row,) = _read(out / "music.csv")[1:]
    wave, rate = sf.read(row[2])
    assert rate == RATE and len(wave) == 8000 and float(row[1]) == pytest.approx(0.5)
    assert report["converted"]["resampled"] == 1


def test_speechbrain_add_noise_and_add_reverb_read_the_manifests(musan, rirs, tmp_path):
    """SpeechBrain's own augmenters (speechbrain 1.1.2 pinned in requirements/cpu.txt) run on the written
    manifests: the prepared MUSAN/RIRS fixtures and the synthetic set with its short noise files."""
    torch = pytest.importorskip("torch")
    from speechbrain.augment.time_domain import AddNoise, AddReverb

    prepare_noise(musan[0], rirs[0], out=tmp_path / "real")
    write_synthetic_noise(tmp_path / "synthetic", 0, **SMALL_SET)
    torch.manual_seed(0)
    clean = 0.1 * torch.randn(3, 2 * RATE)
    lengths = torch.ones(3)
    for folder in ("real", "synthetic"):
        for category in ("noise", "music", "speech"):
            noisy = AddNoise(csv_file=str(tmp_path / folder / f"{category}.csv"), snr_low=0, snr_high=15,
                             pad_noise=True)(clean, lengths)
            assert noisy.shape == clean.shape and torch.isfinite(noisy).all()
            assert not torch.allclose(noisy, clean)
        reverberant = AddReverb(csv_file=str(tmp_path / folder / "rirs.csv"))(clean)
        assert reverberant.shape == clean.shape and torch.isfinite(reverberant).all()
        assert not torch.allclose(reverberant, clean)


# ---- bad input: one line naming the file, exit 2, nothing written -------------------------------------

def _bad_wav(root):
    path = root / "music" / "fma" / "music-fma-0001.wav"
    path.write_bytes(b"RIFF not really a wave file")
    return path


def _empty_wav(root):
    path = root / "speech" / "librivox" / "speech-librivox-0001.wav"
    sf.write(path, np.zeros(0), RATE, subtype="PCM_16")
    return path


def _dollar(root):
    path = _wav(root / "noise" / "free-sound" / "cost$5.wav", 800)
    return path


@pytest.mark.parametrize("case", ["no_flags", "missing", "not_a_folder", "empty_folder_musan", "rirs_given_as_musan",
                                  "empty_folder_rirs", "unreadable", "no_samples", "dollar", "bad_in_rirs",
                                  "out_is_a_file", "sample_rate"])
def test_bad_input_one_line_exit_2_nothing_written(musan, rirs, tmp_path, capsys, case):
    musan_root, rirs_root = musan[0], rirs[0]
    out = tmp_path / "out"
    args = ["--musan", str(musan_root), "--rirs", str(rirs_root)]
    named, needle = None, None
    if case == "no_flags":
        args, needle = [], "give --musan DIR, --rirs DIR or both"
    elif case == "missing":
        named, needle = tmp_path / "nowhere", "no such folder (given with --musan)"
        args = ["--musan", str(named)]
    elif case == "not_a_folder":
        named, needle = musan_root / "README", "not a folder (given with --rirs)"
        args = ["--musan", str(musan_root), "--rirs", str(named)]
    elif case == "empty_folder_musan":
        named, needle = tmp_path / "empty", "no MUSAN layout here"
        named.mkdir()
        args = ["--musan", str(named), "--rirs", str(rirs_root)]
    elif case == "rirs_given_as_musan":
        named, needle = rirs_root, "it looks like RIRS_NOISES: pass it with --rirs"
        args = ["--musan", str(named)]
    elif case == "empty_folder_rirs":
        named, needle = musan_root / "noise", "no RIRS_NOISES layout here"
        args = ["--musan", str(musan_root), "--rirs", str(named)]
    elif case == "unreadable":
        named, needle = _bad_wav(musan_root), "cannot read as audio"
    elif case == "no_samples":
        named, needle = _empty_wav(musan_root), "holds no samples"
    elif case == "dollar":
        named, needle = _dollar(musan_root), "holds '$'"
    elif case == "bad_in_rirs":  # MUSAN is fine and scanned first: still nothing written
        named = rirs_root / "simulated_rirs" / "smallroom" / "Room001" / "Room001-00003.wav"
        named.write_bytes(b"")
        needle = "cannot read as audio"
    elif case == "out_is_a_file":
        out = tmp_path / "out.txt"
        out.write_text("keep me\n")
        named, needle = out, "--out is not a folder"
    elif case == "sample_rate":
        args, needle = args + ["--sample-rate", "0"], "--sample-rate must be > 0"
    before_out = _snapshot(out) if out.is_dir() else None
    assert main(["prepare", "noise", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("arwsv prepare: error: ") and needle in lines[0], lines[0]
    if named is not None:
        assert f"{named}: " in lines[0], lines[0]
    if case == "out_is_a_file":
        assert out.read_text() == "keep me\n"
    else:
        assert _snapshot(out) == before_out  # nothing written (the folder not even created)
    assert not (tmp_path / "out").exists()


def test_refusal_keeps_previous_outputs(musan, rirs, tmp_path, capsys):
    out = tmp_path / "out"
    prepare_noise(musan[0], rirs[0], out=out)
    before = _snapshot(out)
    bad = _bad_wav(musan[0])
    assert main(["prepare", "noise", "--musan", str(musan[0]), "--rirs", str(rirs[0]), "--out", str(out)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert _snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_cli_prints_the_report(musan, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prepare", "noise", "--musan", str(musan[0]), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert '"noise.csv"' in stdout and f"wrote {out}" in stdout
    with pytest.raises(InputError, match="give --musan"):
        prepare_noise(out=out)


# ---- the synthetic set ---------------------------------------------------------------------------------

def _bytes(folder):
    """Every file's bytes, the folder's absolute path replaced (manifests hold absolute paths)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes().replace(str(folder.resolve()).encode(), b"R")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synthetic_set_same_seed_same_bytes(tmp_path):
    first = write_synthetic_noise(tmp_path / "a", 5, **SMALL_SET)
    _render_synthetic.cache_clear()  # render again, not from the cache
    write_synthetic_noise(tmp_path / "b", 5, **SMALL_SET)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert first["changed_files"] == 10 + 3 + 6 + 4 + 5
    other_seed = _bytes(_write(tmp_path / "c", 6))
    held_out = _bytes(_write(tmp_path / "d", 5, stream=1))
    ours = _bytes(tmp_path / "a")
    speech = [k for k in ours if k.startswith("musan/speech/")]
    for other in (other_seed, held_out):  # other talkers, other noises
        assert len(speech) == 6 and all(ours[k] != other[k] for k in speech)
        assert all(ours[k] != other.get(k) for k in ours if k.endswith(".wav"))


def _write(folder, seed, **kwargs):
    write_synthetic_noise(folder, seed, **{**SMALL_SET, **kwargs})
    return folder


def test_synthetic_set_content(tmp_path):
    out = tmp_path / "set"
    report = write_synthetic_noise(out, 0, **SMALL_SET)
    rows = {c: read_noise_manifest(out / f"{c}.csv") for c in CATEGORIES}
    assert {c: len(r) for c, r in rows.items()} == {"noise": 10, "music": 3, "speech": 6, "rirs": 4}
    for category, manifest in rows.items():
        for row in manifest:
            wave, rate = sf.read(row["wav"])
            info = sf.info(row["wav"])
            assert rate == RATE and wave.ndim == 1 and info.subtype == "PCM_16"
            assert row["duration"] == pytest.approx(len(wave) / RATE, abs=1e-6)
            assert np.abs(wave).max() > 0.1
    noise = [r["duration"] for r in rows["noise"]]
    assert sum(d < 2.0 for d in noise) == 2 and max(noise) > 5.0  # short files: wrap padding downstream
    assert sum("/babble/" in r["ID"] for r in rows["noise"]) == 2
    assert all(3.0 <= r["duration"] <= 6.0 for r in rows["speech"])
    assert all(5.0 <= r["duration"] <= 10.0 for r in rows["music"])
    for row in rows["rirs"]:  # a direct-path impulse first, then a decaying tail
        wave = sf.read(row["wav"])[0]
        direct = int(np.argmax(np.abs(wave)))
        assert direct < 48 and 0.2 <= row["duration"] <= 0.6
        head, tail = np.abs(wave[direct + 1:direct + 1601]).mean(), np.abs(wave[-1600:]).mean()
        assert tail < head / 3
    assert 0.2 <= report["synthetic"]["rt60_seconds"][0] <= report["synthetic"]["rt60_seconds"][1] <= 0.9
    assert report["synthetic"]["short_noise_files"] == 2
    # `arwsv prepare noise` on the set's own layouts writes the same manifests, byte for byte
    again = tmp_path / "again"
    prepare_noise(out / "musan", out / "RIRS_NOISES", out=again)
    for category in CATEGORIES:
        assert (again / f"{category}.csv").read_bytes() == (out / f"{category}.csv").read_bytes()
