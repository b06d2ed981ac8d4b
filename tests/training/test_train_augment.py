"""arwsv train with the field's training practice: augmentation (noise, reverberation, drops, speed-perturbed
virtual speakers) in the DataLoader workers, mixed precision, LR warm-up, margin ramp, init_from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from arwsv.cli import main
from conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]


def _args(corpus, out, *extra, recipe="arw.yaml"):
    return ["train", str(ROOT / "recipes" / "toy" / recipe), f"--data_folder={corpus}", f"--output_folder={out}",
            *TINY_MODEL, "--quiet", *extra]


def _augment(noise_folder, speed=True):
    flags = [f"--augment.noise_folder={noise_folder}", "--augment.prob=0.8", "--augment.drop_freq_prob=0.3",
             "--augment.drop_chunk_prob=0.3"]
    if speed:  # 8 speakers x 3 classes each
        flags += ["--augment.speed_factors=[0.9,1.1]", "--augment.speed_prob=0.6", "--n_speakers=24"]
    return flags


def _weights(out):
    return torch.load(Path(out) / "final" / "embedding_model.ckpt", weights_only=True)


def test_augmented_run_with_workers_resumes_bit_identical(corpus, noise_folder, tmp_path):
    """Noise, reverberation, drops and speed copies as new speakers, read by 2 workers, killed with SIGKILL and
    resumed: the weights equal a straight run in the training process; copies map back to real speakers for the
    oracle's factors and for the speaker weights written after each epoch."""
    from test_train import _assert_same_weights, _kill_at_step6_then_resume

    extra = ["--epochs=3", "--ckpt_every=2", "--reweighting.method=oracle", "--reweighting.warmup_steps=0",
             *_augment(noise_folder)]
    assert main(_args(corpus, tmp_path / "straight", *extra, "--num-workers", "0")) == 0
    out = tmp_path / "killed"
    resumed = _kill_at_step6_then_resume(_args(corpus, out, *extra, "--num-workers", "2"), out)
    _assert_same_weights(_weights(tmp_path / "straight"), resumed)
    report = json.loads((tmp_path / "straight" / "train_report.json").read_text())
    assert {"speed0.9", "speed1.1"} <= set(report["augmented"]) and report["augmented"].get("noise", 0) >= 0
    assert any(k in report["augmented"] for k in ("noise", "music", "babble", "reverb"))
    weights = pd.read_csv(tmp_path / "straight" / "speaker_weights.csv", dtype={"spk_id": str})
    real = set(pd.read_csv(corpus / "train.csv", dtype={"spk_id": str})["spk_id"])
    assert set(weights["spk_id"]) == real  # 8 people, not 24 classes


def test_augmentation_changes_the_run_and_absent_block_does_not(corpus, noise_folder, tmp_path):
    """Without an augment block the run is the committed one; with it, another."""
    assert main(_args(corpus, tmp_path / "a", "--epochs=1", recipe="baseline.yaml")) == 0
    assert main(_args(corpus, tmp_path / "b", "--epochs=1", "--augment.prob=0", "--augment.kinds=[]",
                      recipe="baseline.yaml")) == 0
    assert main(_args(corpus, tmp_path / "c", "--epochs=1", *_augment(noise_folder, speed=False),
                      recipe="baseline.yaml")) == 0
    a, b, c = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)  # a block that does nothing changes nothing
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_bf16_on_cpu_stays_finite_and_close_to_fp32(corpus, tmp_path):
    """Same seed, three epochs in bf16 and in fp32: every loss finite; the first step (same weights, same batch)
    within 1 % of fp32's (bf16 keeps 8 mantissa bits); the run's mean loss within 10 % (8-sample batches: the
    two runs drift apart step by step, as any two runs of another summation order do)."""
    logs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        assert main(_args(corpus, out, "--epochs=3", "--log_every=1", f"--precision={precision}",
                          recipe="baseline.yaml")) == 0
        logs[precision] = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    fp32, bf16 = torch.tensor(logs["fp32"]), torch.tensor(logs["bf16"])
    assert len(fp32) == len(bf16) == 12 and torch.isfinite(bf16).all()
    assert abs(bf16[0] - fp32[0]) <= 0.01 * fp32[0]
    assert abs(bf16.mean() - fp32.mean()) <= 0.10 * fp32.mean()
    assert bf16[-4:].mean() < bf16[:2].mean()  # and it learns


def test_lr_warmup_and_margin_ramp_follow_the_recipe(corpus, tmp_path):
    out = tmp_path / "ramp"
    assert main(_args(corpus, out, "--epochs=2", "--log_every=1", "--lr_warmup_steps=4", "--margin_ramp=[2,6]",
                      recipe="baseline.yaml")) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    lr = [entry["lr"] for entry in log]
    margins = [entry["margin"] for entry in log]
    assert lr[0] < lr[1] < lr[2] < lr[3] and lr[3] == pytest.approx(0.002) and lr[-1] < lr[3]  # the toy recipe: 0.002
    # the margin of step s (1-based in the log) is 0.2 * clip((s - 1 - 2) / 4, 0, 1)
    expected = [0.2 * min(1.0, max(0.0, (entry["step"] - 1 - 2) / 4)) for entry in log]
    assert margins == pytest.approx(expected)


def test_init_from_a_finished_run_with_more_classes(corpus, noise_folder, tmp_path):
    """Fine-tuning without speed copies from a run with them: the embedding model is the run's, the AAM head's
    rows are its first (real-speaker) rows; the loss head of the finished run was saved for this."""
    base = tmp_path / "base"
    assert main(_args(corpus, base, "--epochs=1", *_augment(noise_folder), recipe="baseline.yaml")) == 0
    assert (base / "final" / "loss.ckpt").is_file()
    from arwsv.training.recipe import load_recipe
    from arwsv.training.run import init_from_run

    hparams, _ = load_recipe(ROOT / "recipes" / "toy" / "baseline.yaml",
                             {"data_folder": str(corpus), "crop_seconds": 0.5, "speakers_per_batch": 4, "n_speakers": 8,
                              "emb_dim": 32, "embedding_model": {"channels": [32, 32, 32, 32, 96],
                                                                 "attention_channels": 16, "se_channels": 16},
                              "init_from": str(base)})
    init_from_run(hparams)
    source = _weights(base)
    assert all(torch.equal(v, hparams["embedding_model"].state_dict()[k]) for k, v in source.items())
    head = torch.load(base / "final" / "loss.ckpt", weights_only=True)
    key = next(k for k in head if k.endswith("classifier.weight"))
    assert head[key].shape[0] == 24 and torch.equal(hparams["loss"].state_dict()[key], head[key][:8])
    out = tmp_path / "tuned"
    assert main(_args(corpus, out, "--epochs=1", f"--init_from={base}", "--loss.aam.margin=0.5",
                      recipe="baseline.yaml")) == 0


@pytest.mark.parametrize("extra,message", [
    (["--precision=fp8"], "precision must be one of fp32, bf16, fp16"),
    (["--precision=fp16"], "precision: fp16 needs --device cuda"),
    (["--augment.noise_snr=[10,0]", "--augment.noise_folder=NOISE"], "augment.noise_snr: low 10 > high 0"),
    (["--augment.speed_factors=[-0.9]", "--augment.speed_prob=0.5", "--augment.prob=0"],
     "augment.speed_factors must be numbers > 0"),
    (["--augment.speed_prob=2", "--augment.speed_factors=[0.9]", "--augment.prob=0"],
     "augment.speed_prob must be a probability in [0, 1]"),
    (["--augment.noise_folder=MISSING"], "augment.noise_folder: no such folder"),
    (["--margin_ramp=[5,2]"], "margin_ramp must be [start, end]"),
    (["--crop_from=anywhere"], "crop_from must be one of segment, utterance"),
    (["--augment.speed_factors=[0.9]", "--augment.speed_prob=0.5", "--augment.prob=0"],
     "the recipe's AAM head has 8 classes but the training manifest has 8 speakers x 2"),
])
def test_bad_training_settings_are_one_line_and_write_nothing(corpus, noise_folder, tmp_path, capsys, extra, message):
    extra = [e.replace("NOISE", str(noise_folder)).replace("MISSING", str(tmp_path / "none")) for e in extra]
    out = tmp_path / "run"
    assert main(_args(corpus, out, "--epochs=1", *extra, recipe="baseline.yaml")) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "baseline.yaml" in err
    assert not out.exists()  # refused before anything was written


def test_init_from_refusals(corpus, tmp_path, capsys):
    def refused(folder, *extra):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        assert main(_args(corpus, out, "--epochs=1", f"--init_from={folder}", *extra, recipe="baseline.yaml")) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and not out.exists()
        return err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "init_from: no trained weights" in refused(empty)
    base = tmp_path / "base"
    assert main(_args(corpus, base, "--epochs=1", recipe="baseline.yaml")) == 0
    assert "init_from: its embedding model does not fit" in refused(base, "--emb_dim=16")
    broken = tmp_path / "broken"
    (broken / "final").mkdir(parents=True)
    (broken / "final" / "embedding_model.ckpt").write_bytes(b"not a torch file")
    err = refused(broken)
    assert "init_from: cannot read it" in err and "embedding_model.ckpt" in err


def test_init_from_maps_the_head_by_speaker_name(corpus, tmp_path):
    """A source run on other speakers: only the speakers both runs have keep their AAM rows."""
    import pandas as pd

    from arwsv.training.recipe import load_recipe
    from arwsv.training.run import init_from_run

    train = pd.read_csv(corpus / "train.csv", dtype={"spk_id": str})
    speakers = sorted(set(train["spk_id"]))
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    train[train["spk_id"] != speakers[0]].to_csv(fewer / "train.csv", index=False)  # 7 speakers: rows shift by one
    base = tmp_path / "base"
    assert main(_args(corpus, base, "--epochs=1", f"--train_manifest={fewer / 'train.csv'}", "--n_speakers=7",
                      recipe="baseline.yaml")) == 0
    hparams, _ = load_recipe(ROOT / "recipes" / "toy" / "baseline.yaml",
                             {"data_folder": str(corpus), "crop_seconds": 0.5, "speakers_per_batch": 4, "n_speakers": 8,
                              "emb_dim": 32, "embedding_model": {"channels": [32, 32, 32, 32, 96],
                                                                 "attention_channels": 16, "se_channels": 16},
                              "init_from": str(base)})
    initial = {k: v.clone() for k, v in hparams["loss"].state_dict().items()}
    init_from_run(hparams)
    head = torch.load(base / "final" / "loss.ckpt", weights_only=True)
    key = next(k for k in head if k.endswith("classifier.weight"))
    now = hparams["loss"].state_dict()[key]
    assert torch.equal(now[1:], head[key])  # speaker i here is speaker i - 1 there
    assert torch.equal(now[0], initial[key][0])  # a speaker the source never saw keeps its initial row


def test_bad_noise_manifests_are_one_line(corpus, tmp_path, capsys):
    from conftest import write_noise_folder

    cases = {"binary": lambda f: (f / "music.csv").write_bytes(b"\xff\xfe\x00garbage\x00" * 20),
             "ragged": lambda f: (f / "music.csv").write_text("ID,duration,wav,wav_format,wav_opts\nm,1,"
                                                              f"{f / 'music' / 'music0.wav'},wav,,extra,fields\n"),
             "missing audio": lambda f: (f / "music.csv").write_text("ID,duration,wav,wav_format,wav_opts\n"
                                                                     "m,1,$noise_root/m.wav,wav,\n")}
    for name, spoil in cases.items():
        folder = write_noise_folder(tmp_path / name.replace(" ", "_"))
        spoil(folder)
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        assert main(_args(corpus, out, "--epochs=1", f"--augment.noise_folder={folder}", recipe="baseline.yaml")) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and str(folder / "music.csv") in err, (name, err)
        assert not out.exists()
    assert "no such audio file '$noise_root/m.wav'" in err and "music.csv:2:" in err


def test_augment_null_turns_a_recipes_augmentation_off(tmp_path):
    """--augment=null: the VoxCeleb recipe without augmentation (no noise folder needed); its other keys stay."""
    from arwsv.training.recipe import load_recipe

    hparams, resolved = load_recipe(ROOT / "recipes" / "voxceleb" / "ecapa_baseline.yaml",
                                    {"data_folder": str(tmp_path), "augment": None, "speed_copies": 1})
    assert hparams["augment"] is None and hparams["loss"].aam.n_speakers == 5994 and hparams["precision"] == "bf16"


def _virtual_table(corpus, path):
    """Two of the corpus's training speakers get copies: the first two (speed 0.97, shift 1.03), the second one."""
    speakers = sorted(set(pd.read_csv(corpus / "train.csv", dtype={"spk_id": str})["spk_id"]))
    path.write_text("spk_id,copy,transform,factor\n"
                    f"{speakers[0]},1,speed,0.97\n{speakers[0]},2,shift,1.03\n{speakers[3]},1,speed,1.02\n")
    return speakers


def test_targeted_virtual_speakers_train_resume_and_map_back(corpus, tmp_path):
    """Three targeted copies (8 speakers -> 11 classes), read by 2 workers, killed and resumed: the weights equal a
    straight 0-worker run; the copies were read (speed and shift counted), the speaker weights name 8 people, and
    final/speakers.json names the 3 virtual classes after the real ones."""
    from test_train import _assert_same_weights, _kill_at_step6_then_resume

    table = tmp_path / "virtual.csv"
    speakers = _virtual_table(corpus, table)
    extra = ["--epochs=4", "--ckpt_every=2", "--reweighting.method=oracle", "--reweighting.warmup_steps=0",
             "--augment.prob=0", "--augment.kinds=[]", f"--augment.virtual_speakers={table}", "--n_speakers=11"]
    assert main(_args(corpus, tmp_path / "straight", *extra, "--num-workers", "0")) == 0
    out = tmp_path / "killed"
    resumed = _kill_at_step6_then_resume(_args(corpus, out, *extra, "--num-workers", "2"), out)
    _assert_same_weights(_weights(tmp_path / "straight"), resumed)
    report = json.loads((tmp_path / "straight" / "train_report.json").read_text())
    assert {"speed0.97", "shift1.03", "speed1.02"} <= set(report["augmented"])
    weights = pd.read_csv(tmp_path / "straight" / "speaker_weights.csv", dtype={"spk_id": str})
    assert set(weights["spk_id"]) == set(speakers)
    record = json.loads((tmp_path / "straight" / "final" / "speakers.json").read_text())
    assert record["virtual_classes"] == [f"{speakers[0]}#1", f"{speakers[0]}#2", f"{speakers[3]}#1"]


def test_targeted_virtual_speakers_refusals(corpus, tmp_path, capsys):
    """A head without room for the copies, and a table naming a speaker the manifest lacks: one line each, nothing
    written."""
    table = tmp_path / "virtual.csv"
    _virtual_table(corpus, table)
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("spk_id,copy,transform,factor\nnobody,1,speed,0.98\n")
    cases = [([f"--augment.virtual_speakers={table}"], "8 speakers + 3 targeted virtual speakers; set n_speakers: 11"),
             ([f"--augment.virtual_speakers={stranger}", "--n_speakers=9"], "speaker 'nobody' is not in the training")]
    for extra, message in cases:
        out = tmp_path / "run"
        assert main(_args(corpus, out, "--epochs=1", "--augment.prob=0", "--augment.kinds=[]", *extra,
                          recipe="baseline.yaml")) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
