"""The toy corpus: layout, determinism, idempotence, trial flavours and the planted gap."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arwsv.cli import main
from arwsv.data.manifest import MANIFEST_COLUMNS
from arwsv.io.metadata import read_metadata
from arwsv.data.toy.config import ToyConfig
from arwsv.data.toy.corpus import generate_corpus

SMALL = dict(speakers=24, utts_per_speaker=4, seconds=1.0, test_speakers=8)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    report = generate_corpus(ToyConfig(**SMALL), out, jobs=1, progress=False)
    return out, report


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_layout_and_manifests(small_corpus):
    out, report = small_corpus
    assert report["speakers"] == 24 and report["utterances"] == 24 * 4
    frames = {name: pd.read_csv(out / f"{name}.csv", keep_default_na=False) for name in ("train", "dev", "test")}
    for frame in frames.values():
        assert list(frame.columns) == MANIFEST_COLUMNS
    assert sum(len(f) for f in frames.values()) == 96
    test_spk = set(frames["test"]["spk_id"])
    assert len(test_spk) == 8
    assert not test_spk & (set(frames["train"]["spk_id"]) | set(frames["dev"]["spk_id"]))
    for row in frames["test"].itertuples():
        assert row.wav.endswith(f"wav/{row.ID}.wav") and os.path.exists(row.wav)
        wave, rate = sf.read(row.wav)
        assert rate == 16000 and wave.ndim == 1 and len(wave) == row.stop == 16000
        assert np.abs(wave).max() > 0.1
    meta = read_metadata(out / "meta.csv")  # VoxCeleb1 format, read unchanged
    speakers = frames["test"]["spk_id"].unique()
    genders = meta.values("gender", speakers)
    assert set(genders) <= {"male", "female"}
    by_spk = frames["test"].drop_duplicates("spk_id").set_index("spk_id")
    assert list(meta.values("nationality", speakers)) == list(by_spk.loc[speakers, "nationality"])


def test_trial_flavours(small_corpus):
    out, _ = small_corpus
    test = pd.read_csv(out / "test.csv", keep_default_na=False).set_index("ID")
    for name in ("O", "E", "H"):
        trials = pd.read_csv(out / "trials" / f"{name}.txt", sep=" ", header=None, names=["label", "enrol", "test"])
        assert set(trials["label"]) == {0, 1}
        enrol = test.loc[trials["enrol"].str[:-4]]
        other = test.loc[trials["test"].str[:-4]]
        same = enrol["spk_id"].to_numpy() == other["spk_id"].to_numpy()
        np.testing.assert_array_equal(same, trials["label"].to_numpy() == 1)
        assert not (trials["enrol"] == trials["test"]).any()
        assert not trials.duplicated(["enrol", "test"]).any()
        if name == "H":  # non-targets share gender and country, unless the speaker is alone in its cell
            cell = test["gender"] + "/" + test["nationality"]
            spk_per_cell = test.assign(cell=cell).drop_duplicates("spk_id")["cell"].value_counts()
            neg = trials["label"].to_numpy() == 0
            assert (enrol["gender"].to_numpy()[neg] == other["gender"].to_numpy()[neg]).all()
            share_country = enrol["nationality"].to_numpy()[neg] == other["nationality"].to_numpy()[neg]
            alone = (spk_per_cell.loc[cell.loc[trials["enrol"].str[:-4]]].to_numpy() == 1)[neg]
            assert (share_country | alone).all()
            assert share_country[~alone].all()


def test_same_seed_same_bytes_any_jobs(small_corpus, tmp_path):
    out, _ = small_corpus
    again = tmp_path / "again"
    generate_corpus(ToyConfig(**SMALL), again, jobs=2, progress=False)
    first, second = _files(out), _files(again)
    assert [p.relative_to(out) for p in first] == [p.relative_to(again) for p in second]
    for a, b in zip(first, second):
        data_a, data_b = a.read_bytes(), b.read_bytes()
        if a.suffix == ".csv":  # manifests hold absolute paths
            data_a, data_b = data_a.replace(str(out).encode(), b"R"), data_b.replace(str(again).encode(), b"R")
        assert data_a == data_b, a
    other = tmp_path / "other"
    generate_corpus(ToyConfig(**SMALL, seed=1), other, jobs=1, progress=False, noise=False)
    assert (other / "wav" / "toy00001").exists()
    wav = sorted((other / "wav").rglob("*.wav"))[0]
    assert wav.read_bytes() != (out / wav.relative_to(other)).read_bytes()


def test_noise_sets_leave_the_corpus_bytes_unchanged(small_corpus, tmp_path):
    """The synthetic noise sets (noise/, noise_heldout/) draw from RNG streams of their own: every corpus file
    is the same bytes as in a generation that skips them."""
    out, report = small_corpus
    bare = tmp_path / "bare"
    bare_report = generate_corpus(ToyConfig(**SMALL), bare, jobs=1, progress=False, noise=False)
    assert "noise" not in bare_report and not list(bare.glob("noise*"))
    corpus_files = [p for p in _files(out) if not p.relative_to(out).parts[0].startswith("noise")]
    assert [p.relative_to(out) for p in corpus_files] == [p.relative_to(bare) for p in _files(bare)]
    for path in corpus_files:
        data = path.read_bytes()
        if path.suffix == ".csv":
            data = data.replace(str(out).encode(), str(bare).encode())
        assert data == (bare / path.relative_to(out)).read_bytes(), path
    # the prepare report names both sets and their manifests
    assert set(report["noise"]) == {"noise", "noise_heldout"}
    for name, noise_set in report["noise"].items():
        assert noise_set["folder"] == str(out / name)
        assert set(noise_set["manifests"]) == {"noise", "music", "speech", "rirs"}
        assert all(os.path.exists(m) for m in noise_set["manifests"].values())
        assert min(noise_set["files"].values()) > 0
    train_speech = sorted((out / "noise" / "musan" / "speech").rglob("*.wav"))
    held_speech = sorted((out / "noise_heldout" / "musan" / "speech").rglob("*.wav"))
    assert train_speech and held_speech
    assert not {p.read_bytes() for p in train_speech} & {p.read_bytes() for p in held_speech}


def test_rerun_is_idempotent(small_corpus):
    out, _ = small_corpus
    before = {p: p.stat().st_mtime_ns for p in _files(out)}
    report = generate_corpus(ToyConfig(**SMALL), out, jobs=1, progress=False)
    assert report["changed_files"] == 0
    assert {p: p.stat().st_mtime_ns for p in _files(out)} == before


@pytest.mark.parametrize("flag,value,message", [("--speakers", "3", "--speakers must be >= 4"),
                                                ("--female-share", "1.5", "--female-share must be in [0, 1]"),
                                                ("--test-speakers", "200", "--test-speakers must be in"),
                                                ("--seconds", "0.1", "--seconds must be in")])
def test_bad_settings(tmp_path, capsys, flag, value, message):
    assert main(["prepare", "toy", "--out", str(tmp_path / "x"), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()


def test_baseline_embedding_shows_the_planted_gender_gap(tmp_path):
    """A plain (training-free) embedding on the default generative model: women (the minority,
    acoustically closer together) get a higher EER than men. Smaller than the default corpus
    (speakers and length) to keep the suite fast; the full-size numbers are in the issue note."""
    from arwsv.experiments.baseline import StatsLDA, filterbank_stats, score_trials
    from arwsv.evaluation.groups import FairnessEvaluation
    from arwsv.io.scorefile import read_scores

    config = ToyConfig(speakers=120, utts_per_speaker=12, seconds=2.0, test_speakers=40)
    generate_corpus(config, tmp_path, jobs=2, progress=False)
    train = pd.concat([pd.read_csv(tmp_path / f"{n}.csv") for n in ("train", "dev")])
    test = pd.read_csv(tmp_path / "test.csv")
    model = StatsLDA().fit(filterbank_stats(list(train["wav"])), train["spk_id"].to_numpy())
    emb = dict(zip(test["ID"], model.transform(filterbank_stats(list(test["wav"])))))
    scores = tmp_path / "scores.txt"
    score_trials(tmp_path, "E", emb).to_csv(scores, sep=" ", header=False, index=False)
    table = read_scores(scores)
    meta = read_metadata(tmp_path / "meta.csv")
    report = FairnessEvaluation(table, {"gender": meta.values("gender", table.speakers)}).run(progress=False)
    groups = report["attributes"]["gender"]["groups"]
    assert groups["female"]["eer"] > groups["male"]["eer"] * 1.2, groups


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_backend(tmp_path):
    config = ToyConfig(speakers=6, utts_per_speaker=2, seconds=1.5, test_speakers=2, backend="espeak")
    generate_corpus(config, tmp_path / "a", jobs=1, progress=False)
    generate_corpus(config, tmp_path / "b", jobs=2, progress=False)
    wavs = sorted((tmp_path / "a" / "wav").rglob("*.wav"))
    assert len(wavs) == 12
    for path in wavs:
        wave, rate = sf.read(path)
        assert rate == 16000 and len(wave) == 24000 and np.abs(wave).max() > 0.1
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_espeak_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["prepare", "toy", "--out", str(tmp_path / "x"), "--backend", "espeak"]) == 2
    assert "needs the espeak-ng program" in capsys.readouterr().err


def test_bench_preset_meets_its_group_sizes_before_any_audio():
    """The benchmark's speakers, drawn without rendering audio: >= 1,000 training speakers with the
    planted imbalance, >= 50 test speakers per gender x country cell, >= 2,000 O-list targets a group."""
    from collections import Counter

    from arwsv.data.toy.config import PRESETS
    from arwsv.data.toy.corpus import draw_speakers

    config = ToyConfig(**PRESETS["bench"])
    speakers, _ = draw_speakers(config)
    train = [s for s in speakers if s.split == "train"]
    test = [s for s in speakers if s.split == "test"]
    assert len(train) >= 1000 and len(test) >= 400
    cells = Counter((s.gender, s.country) for s in test)
    assert len(cells) == 2 * config.countries and min(cells.values()) >= 50
    share = Counter(s.gender for s in train)
    assert share["f"] / len(train) < 0.35  # women stay under-represented in training
    countries = Counter(s.country for s in train)
    assert countries.most_common(1)[0][1] / len(train) > 0.5  # and so do the minority countries
    # the O list has trials_per_utt targets per test utterance
    for attribute in ("gender", "country"):
        per_group = Counter(getattr(s, attribute) for s in test)
        assert min(per_group.values()) * config.utts_per_speaker * config.trials_per_utt >= 2000


def test_preset_values_and_flags_that_override_them(tmp_path):
    out = tmp_path / "b"
    assert main(["prepare", "toy", "--preset", "bench", "--out", str(out), "--speakers", "24", "--test-speakers", "8",
                 "--utts-per-speaker", "4", "--seconds", "0.5", "--jobs", "1"]) == 0
    import json

    config = json.loads((out / "corpus.json").read_text())["config"]
    assert config["speakers"] == 24 and config["trials_per_utt"] == 2 and config["seconds"] == 0.5
    trials = pd.read_csv(out / "trials" / "O.txt", sep=" ", header=None, names=["label", "enrol", "test"])
    per_enrol = trials[trials["label"] == 1].groupby("enrol").size()
    assert per_enrol.min() == 2 and len(per_enrol) == 8 * 4  # 2 targets for every test utterance


def test_spread_settings_unset_keep_the_benchmarks_speakers_and_description():
    """Corpora made before the spread settings keep their voices and corpus.json keys: unset, a speaker's spread
    is the planted crowding (minority_spread for women, again for minority countries)."""
    from arwsv.data.toy.config import PRESETS

    config = ToyConfig(**PRESETS["bench"])
    assert config.describe() == {k: v for k, v in vars(config).items()
                                 if k not in ("female_spread", "country_spreads", "voice_spread")}
    ms = config.minority_spread
    assert [config.speaker_spread(g, c) for g in "mf" for c in (0, 2)] == [1.0, ms, ms, ms * ms]


def test_spread_settings_scale_each_voice_around_its_gender_mean():
    """Same seed, other spreads: the same random draws (same order), so every speaker's deviation from the
    gender mean of the vocal-tract length scales by exactly the ratio of the two spreads."""
    from arwsv.data.toy.corpus import draw_speakers

    plain = ToyConfig(speakers=60, test_speakers=8, countries=3)
    spread = ToyConfig(speakers=60, test_speakers=8, countries=3, female_spread=0.9, country_spreads=(1.0, 0.8, 0.5),
                       voice_spread=1.2)
    a, _ = draw_speakers(plain)
    b, _ = draw_speakers(spread)
    assert [(s.spk_id, s.gender, s.country, s.split) for s in a] == [(s.spk_id, s.gender, s.country, s.split) for s in b]
    for x, y in zip(a, b):
        mean = 1.16 if x.gender == "f" else 1.0
        ratio = spread.speaker_spread(x.gender, x.accent_index) / plain.speaker_spread(x.gender, x.accent_index)
        assert y.voice.vtl - mean == pytest.approx((x.voice.vtl - mean) * ratio, rel=1e-9, abs=1e-12)
        assert y.channels == x.channels  # the channels do not depend on the voice
    assert spread.speaker_spread("f", 2) == pytest.approx(1.2 * 0.9 * 0.5)


@pytest.mark.parametrize("flag,value,message", [("--country-spreads", "1,0.5", "one value per country"),
                                                ("--country-spreads", "1,0,1,1", "values must be in (0, 2]"),
                                                ("--female-spread", "0", "--female-spread must be in (0, 2]"),
                                                ("--voice-spread", "3", "--voice-spread must be in (0, 2]")])
def test_bad_spread_settings(tmp_path, capsys, flag, value, message):
    assert main(["prepare", "toy", "--out", str(tmp_path / "x"), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()


def test_voxlike_preset_is_the_benchmark_with_milder_spreads():
    """The VoxCeleb-like preset keeps the benchmark's size, shares and test cells (50 speakers each); only the
    spreads (and the seed) differ, its crowding milder everywhere: no cell below 1.25 x 0.7 (minority-country men)."""
    from collections import Counter

    from arwsv.data.toy.config import PRESETS
    from arwsv.data.toy.corpus import draw_speakers

    vox, bench = ToyConfig(**PRESETS["voxlike"]), ToyConfig(**PRESETS["bench"])
    differ = {k for k in vars(vox) if getattr(vox, k) != getattr(bench, k)}
    assert differ == {"seed", "female_spread", "country_spreads", "voice_spread"}
    spreads = [vox.speaker_spread(g, c) for g in "mf" for c in range(vox.countries)]
    assert min(spreads) == pytest.approx(1.25 * 0.7) and vox.speaker_spread("f", 0) == pytest.approx(1.25 * 1.1)
    assert min(spreads) > max(bench.speaker_spread(g, c) for g in "mf" for c in range(1, bench.countries))
    speakers, _ = draw_speakers(vox)
    cells = Counter((s.gender, s.country) for s in speakers if s.split == "test")
    assert len(cells) == 8 and min(cells.values()) == 50
