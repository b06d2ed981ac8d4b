"""Audio reading rules for bad files, crops, and what a training batch contains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from arwsv.data.dataio import CropDataset, load_manifest_rows, read_audio
from arwsv.data.features import Features
from arwsv.data.manifest import write_manifest
from arwsv.data.sampler import PKBatchSampler


def _write(path, data, rate=16000):
    sf.write(path, data, rate, subtype="PCM_16")
    return str(path)


def test_read_audio_rules(tmp_path):
    rng = np.random.default_rng(0)
    mono = 0.1 * rng.standard_normal(16000)
    wave, notes = read_audio(_write(tmp_path / "m.wav", mono))
    assert notes == [] and len(wave) == 16000
    np.testing.assert_allclose(wave, mono, atol=1 / 2 ** 15)
    stereo = np.stack([mono, -mono * 0.5], axis=1)
    wave, notes = read_audio(_write(tmp_path / "s.wav", stereo))
    assert notes == ["downmixed"]
    np.testing.assert_allclose(wave, mono * 0.25, atol=1 / 2 ** 14)
    wave, notes = read_audio(_write(tmp_path / "r.wav", mono[:8000], rate=8000))
    assert notes == ["resampled"] and len(wave) == 16000
    assert read_audio(_write(tmp_path / "z.wav", np.zeros(16000))) == (None, ["silent"])
    assert read_audio(_write(tmp_path / "e.wav", np.zeros(0))) == (None, ["empty"])
    (tmp_path / "bad.wav").write_bytes(b"garbage")
    assert read_audio(str(tmp_path / "bad.wav")) == (None, ["unreadable"])
    assert read_audio(str(tmp_path / "missing.wav")) == (None, ["unreadable"])
    wave, _ = read_audio(_write(tmp_path / "p.wav", mono), start=1000, stop=3000)
    np.testing.assert_allclose(wave, mono[1000:3000], atol=1 / 2 ** 15)


@pytest.fixture
def manifest(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for s in range(4):
        for u in range(3):
            seconds = 0.5 if (s, u) == (0, 0) else 2.0  # one utterance shorter than the crop
            path = _write(tmp_path / f"s{s}_{u}.wav", 0.1 * rng.standard_normal(int(seconds * 16000)))
            rows.append({"ID": f"spk{s}/v/{u:05d}", "duration": seconds, "wav": path, "start": 0,
                         "stop": int(seconds * 16000), "spk_id": f"spk{s}", "gender": "fm"[s % 2],
                         "nationality": "X"})
    (tmp_path / "s3_2.wav").write_bytes(b"corrupted after preparation")
    write_manifest(tmp_path / "train.csv", pd.DataFrame(rows))
    return tmp_path / "train.csv"


def test_crops_padding_and_bad_files(manifest):
    rows = load_manifest_rows(manifest)
    assert all("gender" not in r and "nationality" not in r for r in rows)  # labels never reach training
    ds = CropDataset(rows, crop_seconds=1.0)
    short = next(i for i, r in enumerate(rows) if r["id"] == "spk0/v/00000")
    item = ds[(short, 0)]
    original, _ = read_audio(rows[short]["wav"])
    np.testing.assert_allclose(item["sig"].numpy(), np.concatenate([original, original]))  # wrap padding
    assert ds.counts["padded"] == 1
    long = next(i for i, r in enumerate(rows) if r["id"] == "spk1/v/00001")
    assert torch.equal(ds[(long, 7)]["sig"], ds[(long, 7)]["sig"])      # a crop seed fixes the crop
    assert not torch.equal(ds[(long, 7)]["sig"], ds[(long, 8)]["sig"])
    bad = next(i for i, r in enumerate(rows) if r["id"] == "spk3/v/00002")
    item = ds[(bad, 0)]
    assert item["ok"] is False and float(item["sig"].abs().sum()) == 0.0
    assert ds.counts["unreadable"] == 1


def test_an_epoch_over_a_bad_file_does_not_crash(manifest):
    rows = load_manifest_rows(manifest)
    ds = CropDataset(rows, crop_seconds=1.0)
    sampler = PKBatchSampler(ds.spk_ids, 2, 2, seed=0)
    batches = list(ds.loader(sampler))
    assert len(batches) == len(sampler.batches(0))
    for batch in batches:
        keys = {k for k in vars(batch) if not k.startswith("_")}
        assert keys == {"id", "sig", "spk", "real", "ok", "notes", "augmented"}  # no demographic label in a training batch
        assert batch.sig.data.shape == (4, 16000)
    assert ds.counts["unreadable"] >= 1
    oks = torch.cat([b.ok for b in batches])
    assert (~oks).sum() == ds.counts["unreadable"]
    feats = Features(n_mels=40)(batches[0].sig.data, batches[0].sig.lengths)
    assert feats.shape == (4, 101, 40)
    assert torch.allclose(feats.mean(dim=1), torch.zeros(4, 40), atol=1e-4)  # mean-normalised per utterance


def test_workers_give_the_same_batches_and_counts(manifest):
    """Audio read in 2 worker processes: the same crops, and the workers' bad-audio counts come back."""
    rows = load_manifest_rows(manifest)
    plain, workers = CropDataset(rows, crop_seconds=1.0), CropDataset(rows, crop_seconds=1.0)
    sampler = PKBatchSampler(plain.spk_ids, 2, 2, seed=0)
    a = list(plain.loader(sampler.pending()))
    b = list(workers.loader(sampler.pending(), num_workers=2))
    assert len(a) == len(b) == len(sampler.batches(0)) and sampler.position == 0  # pending() does not move
    for x, y in zip(a, b):
        assert torch.equal(x.sig.data, y.sig.data) and x.id == y.id
    assert workers.counts == plain.counts and plain.counts["unreadable"] >= 1


def test_first_rows_per_speaker_keeps_manifest_order():
    from arwsv.data.dataio import first_rows_per_speaker

    rows = [{"id": i, "spk_id": s} for i, s in enumerate("abacbbca")]
    assert [r["id"] for r in first_rows_per_speaker(rows, 2)] == [0, 1, 2, 3, 4, 6]
    assert [r["id"] for r in first_rows_per_speaker(rows, 1)] == [0, 1, 3]
