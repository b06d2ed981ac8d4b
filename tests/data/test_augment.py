"""Augmentation of training crops: each transform against an analytic expectation, the settings' refusals,
the speaker map, the sampler's speed chunks, and crops drawn anywhere in the utterance."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from arwsv.data.augment import AugmentSettings, SpeakerMap, WaveAugmenter, apply_speed
from arwsv.data.dataio import CropDataset
from arwsv.data.sampler import PKBatchSampler
from arwsv.errors import InputError
from conftest import write_noise_folder

RATE = 16000


def _settings(folder, **values):
    return AugmentSettings.from_block({"noise_folder": str(folder), **values})


def _tone(seconds=0.5, freq=200.0, amp=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("kind,snr", [("noise", [0, 15]), ("music", [5, 15]), ("babble", [10, 30])])
def test_additive_noise_lands_at_the_drawn_snr(noise_folder, kind, snr):
    """out - clean is the scaled noise: its power against the clean crop's is an SNR inside the kind's range."""
    augmenter = WaveAugmenter(_settings(noise_folder, prob=1.0, kinds=[kind]))
    wave = _tone()
    for seed in range(5):
        out, notes = augmenter(wave, np.random.default_rng(seed))
        assert notes == [kind]
        added = out.astype(np.float64) - wave
        measured = 10 * np.log10(np.sum(wave.astype(np.float64) ** 2) / np.sum(added ** 2))
        assert snr[0] - 0.01 <= measured <= snr[1] + 0.01


def test_reverberation_by_a_unit_impulse_is_the_crop_itself(tmp_path):
    """A RIR that is one impulse: convolution is the identity and the peak rescaling keeps the crop."""
    folder = write_noise_folder(tmp_path / "n")
    delta = np.zeros(800, dtype=np.float32)
    delta[0] = 0.5
    sf.write(folder / "rirs" / "rirs0.wav", delta, RATE, subtype="FLOAT")
    (folder / "rirs.csv").write_text(f"ID,duration,wav,wav_format,wav_opts\nr,0.05,{folder / 'rirs' / 'rirs0.wav'},wav,\n")
    augmenter = WaveAugmenter(_settings(folder, prob=1.0, kinds=["reverb"]))
    wave = _tone()
    out, notes = augmenter(wave, np.random.default_rng(0))
    assert notes == ["reverb"]
    np.testing.assert_allclose(out, wave, atol=1e-5)


def test_a_noise_file_shorter_than_the_crop_is_wrapped(tmp_path):
    folder = write_noise_folder(tmp_path / "short", short=True)  # 0.2 s noises, 0.5 s crop
    augmenter = WaveAugmenter(_settings(folder, prob=1.0, kinds=["music"], music_snr=[5, 5]))
    wave = np.zeros(int(0.5 * RATE), dtype=np.float32)
    wave[::50] = 0.5  # a click train: the added part is what the noise contributes
    out, _ = augmenter(wave, np.random.default_rng(0))
    added = out - wave
    period = int(0.2 * RATE)
    np.testing.assert_allclose(added[period:2 * period], added[:period], atol=1e-6)  # the file repeated end to end
    assert np.abs(added[2 * period:]).max() > 0


def test_same_seed_same_crop_other_seed_other_crop(noise_folder):
    augmenter = WaveAugmenter(_settings(noise_folder, prob=1.0, drop_freq_prob=1.0, drop_chunk_prob=1.0))
    wave = _tone()
    a, _ = augmenter(wave, np.random.default_rng([7, 1]))
    b, _ = WaveAugmenter(_settings(noise_folder, prob=1.0, drop_freq_prob=1.0, drop_chunk_prob=1.0))(
        wave, np.random.default_rng([7, 1]))
    c, _ = augmenter(wave, np.random.default_rng([8, 1]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_drops_leave_torch_global_rng_alone(noise_folder):
    import torch

    augmenter = WaveAugmenter(_settings(noise_folder, prob=0.0, drop_freq_prob=1.0, drop_chunk_prob=1.0))
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    _, notes = augmenter(_tone(), np.random.default_rng(0))
    assert notes == ["drop_freq", "drop_chunk"] and torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_moves_the_pitch_by_the_factor(factor):
    """A 200 Hz tone read `factor` times faster peaks at 200 x factor Hz."""
    out = apply_speed(_tone(seconds=2.0), factor, RATE, RATE)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak = np.fft.rfftfreq(len(out), 1 / RATE)[spectrum.argmax()]
    assert len(out) == RATE and abs(peak - 200 * factor) <= 2.0


def test_speaker_map_round_trip():
    speakers = ["a", "b", "c"]
    one, three = SpeakerMap(speakers, 1), SpeakerMap(speakers, 3)
    assert one.n_classes == 3 and three.n_classes == 9
    real = np.array([0, 1, 2, 0, 1, 2])
    copy = np.array([0, 0, 0, 1, 2, 2])
    classes = three.classes(real, copy)
    assert classes.tolist() == [0, 1, 2, 3, 7, 8]  # real + n_speakers * copy: the real speakers come first
    assert three.real(classes).tolist() == real.tolist()
    assert one.classes(real, copy).tolist() == real.tolist()  # labels kept: a copy is its speaker
    assert [three.label(c) for c in (0, 4, 8)] == ["a", "b#1", "c#2"]


def test_speed_chunks_leave_the_batches_unchanged_and_share_one_copy_per_chunk():
    spk = [f"s{i}" for i in range(10) for _ in range(6)]
    plain = PKBatchSampler(spk, 4, 3, seed=5)
    speed = PKBatchSampler(spk, 4, 3, seed=5, speed_copies=2, speed_prob=0.5)
    copies = []
    for a, b in zip(plain.batches(0), speed.batches(0)):
        assert [item[:2] for item in b] == a  # same rows, same crop seeds
        chunks = [b[i:i + 3] for i in range(0, len(b), 3)]
        for chunk in chunks:
            assert len({c for _, _, c in chunk}) == 1
            copies.append(chunk[0][2])
    copies = np.array(copies)
    assert set(copies.tolist()) <= {0, 1, 2}
    assert 0.3 < np.mean(copies > 0) < 0.7 and (copies == 1).any() and (copies == 2).any()


def test_crops_from_anywhere_in_the_utterance(tmp_path):
    """A row for the first 0.5 s of a 2 s file: crop_from utterance reaches past the segment, segment does not."""
    ramp = np.linspace(0.01, 0.99, 2 * RATE).astype(np.float32)
    path = tmp_path / "u.wav"
    sf.write(path, ramp, RATE, subtype="FLOAT")
    rows = [{"id": "u_0_8000", "wav": str(path), "start": "0", "stop": "8000", "spk_id": "a"}]
    segment = CropDataset(rows, 0.25, crop_from="segment")
    utterance = CropDataset(rows, 0.25, crop_from="utterance")
    ends = [utterance[(0, seed)]["sig"].numpy()[-1] for seed in range(20)]
    assert all(segment[(0, seed)]["sig"].numpy()[-1] <= ramp[8000 - 1] + 1e-6 for seed in range(20))
    assert max(ends) > ramp[8000] and min(ends) >= ramp[4000 - 1] - 1e-6
    # and a crop is a contiguous piece of the file
    crop = utterance[(0, 3)]["sig"].numpy()
    start = int(np.argmin(np.abs(ramp - crop[0])))
    np.testing.assert_allclose(crop, ramp[start:start + len(crop)], atol=1e-6)


@pytest.mark.parametrize("block,message", [
    ({"noise_snr": [15, 0]}, "augment.noise_snr: low 15 > high 0"),
    ({"speed_factors": [0.0, 1.1], "speed_prob": 0.5}, "augment.speed_factors must be numbers > 0"),
    ({"speed_prob": 1.5, "speed_factors": [0.9]}, "augment.speed_prob must be a probability in [0, 1]"),
    ({"prob": -0.1}, "augment.prob must be a probability in [0, 1]"),
    ({"kinds": ["noise", "thunder"]}, "augment.kinds must be a list drawn from"),
    ({"wrong": 1}, "unknown augment key(s) wrong"),
])
def test_bad_settings_name_the_key(noise_folder, block, message):
    with pytest.raises(InputError, match=None) as err:
        AugmentSettings.from_block({"noise_folder": str(noise_folder), **block}, "recipe.yaml")
    assert message in str(err.value) and str(err.value).startswith("recipe.yaml: ")


def test_missing_or_empty_manifest_names_the_file(tmp_path):
    folder = write_noise_folder(tmp_path / "n")
    (folder / "music.csv").unlink()
    with pytest.raises(InputError) as err:
        AugmentSettings.from_block({"noise_folder": str(folder)})
    assert err.value.path == str(folder / "music.csv") and "missing" in err.value.message
    (folder / "music.csv").write_text("ID,duration,wav,wav_format,wav_opts\n")
    with pytest.raises(InputError) as err:
        AugmentSettings.from_block({"noise_folder": str(folder)})
    assert err.value.path == str(folder / "music.csv") and "empty" in err.value.message
    # without the music kind the folder is fine
    assert AugmentSettings.from_block({"noise_folder": str(folder), "kinds": ["noise", "reverb"]}).kinds == \
        ("noise", "reverb")


def test_targeted_speaker_map_puts_copies_after_the_real_speakers():
    """Speakers b (2 copies) and d (1): classes 4, 5 are b#1, b#2 and class 6 is d#1; every class maps back."""
    speakers = ["a", "b", "c", "d"]
    m = SpeakerMap(speakers, virtual=[0, 2, 0, 1])
    assert m.n_classes == 7
    real = np.array([0, 1, 1, 1, 2, 3, 3])
    copy = np.array([0, 0, 1, 2, 0, 0, 1])
    classes = m.classes(real, copy)
    assert classes.tolist() == [0, 1, 4, 5, 2, 3, 6]
    assert m.real(classes).tolist() == real.tolist()
    import torch

    assert m.real(torch.tensor(classes)).tolist() == real.tolist()
    assert [m.label(c) for c in range(7)] == ["a", "b", "c", "d", "b#1", "b#2", "d#1"]
    assert SpeakerMap(speakers, virtual=[0, 0, 0, 0]).virtual is None  # none listed: the plain map


def test_targeted_chunks_draw_itself_or_one_of_its_copies_uniformly():
    """Same rows and crop seeds as without copies; a speaker with n copies reads copy 0..n about equally often,
    a speaker without copies always copy 0."""
    spk = [f"s{i}" for i in range(10) for _ in range(12)]
    plain = PKBatchSampler(spk, 4, 3, seed=5)
    virtual = PKBatchSampler(spk, 4, 3, seed=5, virtual_counts={"s1": 2, "s7": 1})
    seen = {}
    for epoch in range(40):
        for a, b in zip(plain.batches(epoch), virtual.batches(epoch)):
            assert [item[:2] for item in b] == a
            for i in range(0, len(b), 3):
                chunk = b[i:i + 3]
                assert len({c for _, _, c in chunk}) == 1
                seen.setdefault(spk[chunk[0][0]], []).append(chunk[0][2])
    assert set(seen["s0"]) == {0}
    for name, n in (("s1", 2), ("s7", 1)):
        share = np.bincount(seen[name], minlength=n + 1) / len(seen[name])
        assert len(share) == n + 1 and np.all(np.abs(share - 1 / (n + 1)) < 0.12), (name, share)


def test_shift_moves_every_frequency_and_keeps_the_length():
    """A 200 Hz tone shifted by x1.05 peaks at 210 Hz, same number of samples (tempo kept)."""
    from arwsv.data.augment import apply_shift

    out = apply_shift(_tone(seconds=2.0), 1.05, RATE)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak = np.fft.rfftfreq(len(out), 1 / RATE)[spectrum.argmax()]
    assert len(out) == 2 * RATE and abs(peak - 210) <= 2.0


@pytest.mark.parametrize("text,message", [
    ("spk_id,copy,factor\na,1,0.98\n", "no column(s) transform"),
    ("spk_id,copy,transform,factor\na,1,warp,0.98\n", ":2: transform must be one of speed, shift, none"),
    ("spk_id,copy,transform,factor\na,1,none,0.98\n", ":2: transform none leaves the audio as it is"),
    ("spk_id,copy,transform,factor\na,1,speed,1.0\n", ":2: factor must be > 0 and not 1"),
    ("spk_id,copy,transform,factor\na,1,speed,-2\n", ":2: factor must be > 0"),
    ("spk_id,copy,transform,factor\na,1,speed,0.98\na,1,shift,1.02\n", ":3: speaker 'a' has copy 1 twice"),
    ("spk_id,copy,transform,factor\na,2,speed,0.98\n", "copies must be numbered 1..n"),
    ("spk_id,copy,transform,factor\n", "lists no copy"),
])
def test_bad_virtual_speaker_tables_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "virtual.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        AugmentSettings.from_block({"prob": 0, "kinds": [], "virtual_speakers": str(path)}, "recipe.yaml")
    assert message in str(err.value) and str(path) in str(err.value)


def test_virtual_speakers_exclude_uniform_speed_copies(tmp_path):
    path = tmp_path / "virtual.csv"
    path.write_text("spk_id,copy,transform,factor\na,1,speed,0.98\n")
    with pytest.raises(InputError, match="give one of the two"):
        AugmentSettings.from_block({"prob": 0, "kinds": [], "virtual_speakers": str(path),
                                    "speed_factors": [0.9], "speed_prob": 0.5}, "recipe.yaml")
    settings = AugmentSettings.from_block({"prob": 0, "kinds": [], "virtual_speakers": str(path)})
    assert settings.perturbation("a", 1) == ("speed", 0.98) and settings.perturbation("a", 0) == ("speed", 1.0)
    assert settings.virtual_counts(["a", "b"]).tolist() == [1, 0] and settings.virtual_copies == 1


def test_a_split_copy_is_the_same_audio_under_another_class(tmp_path):
    """transform none (the split control): copy 1 reads the very crop of copy 0 and trains another class; a speed
    copy reads a crop of the same length."""
    path = tmp_path / "u.wav"
    sf.write(path, _tone(seconds=1.0), RATE, subtype="FLOAT")
    table = tmp_path / "virtual.csv"
    table.write_text("spk_id,copy,transform,factor\na,1,none,1\nb,1,speed,0.97\n")
    settings = AugmentSettings.from_block({"prob": 0, "kinds": [], "virtual_speakers": str(table)})
    rows = [{"id": f"{s}_u", "wav": str(path), "start": "0", "stop": str(RATE), "spk_id": s} for s in "ab"]
    dataset = CropDataset(rows, 0.5, augment=settings,
                          speaker_map=SpeakerMap(["a", "b"], virtual=settings.virtual_counts(["a", "b"])))
    same, split = dataset[(0, 3, 0)], dataset[(0, 3, 1)]
    assert np.array_equal(same["sig"].numpy(), split["sig"].numpy())
    assert (same["spk"], split["spk"], split["real"]) == (0, 2, 0) and split["augmented"] == "none_copy"
    fast = dataset[(1, 3, 1)]
    assert (fast["spk"], fast["real"], fast["augmented"]) == (3, 1, "speed0.97") and len(fast["sig"]) == RATE // 2


def test_speed_is_torchaudios_where_its_rates_are_exact_and_small_where_they_are_not():
    """x0.9 and x1.1 give torchaudio's speed() to the bit (the runs made with it stay as they were); 0.98, whose
    product 0.98 x 16000 torchaudio truncates to 15679 (a 16,000-phase kernel), resamples 49 -> 50."""
    import torch
    from torchaudio.functional import speed

    from arwsv.data.augment import _speed_rates

    wave = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    for factor in (0.9, 1.1):
        ref = speed(torch.from_numpy(wave)[None], RATE, factor)[0][0].numpy()
        assert np.array_equal(apply_speed(wave, factor, RATE, len(ref)), ref)
    assert _speed_rates(0.98, RATE) == (49, 50) and _speed_rates(1.03, RATE) == (103, 100)
    assert max(_speed_rates(0.973421, RATE)) <= 1000
