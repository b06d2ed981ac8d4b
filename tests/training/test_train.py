"""Training end to end on a tiny toy corpus: loss goes down, resume is exact, faults are clean."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from arwsv.cli import main
from conftest import TINY_ARW, TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]


def _args(recipe, corpus, out, *extra):
    return ["train", str(ROOT / "recipes" / "toy" / recipe), f"--data_folder={corpus}", f"--output_folder={out}",
            *TINY_MODEL, *(TINY_ARW if recipe == "arw.yaml" else []), "--quiet", *extra]


def _weights(out):
    return torch.load(Path(out) / "final" / "embedding_model.ckpt", weights_only=True)


def test_arw_training_learns_and_writes_a_scoreable_model(corpus, tmp_path, capsys):
    out = tmp_path / "arw"
    assert main(_args("arw.yaml", corpus, out, "--epochs=6")) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["loss"] > log[-1]["loss"]  # 24 steps: the loss goes down
    weighted = [entry for entry in log if "lam_mean" in entry]
    assert weighted and all(abs(e["lam_mean"] - 2.0) < 1e-5 and e["lam_min"] >= 1.0 for e in weighted)
    assert any(k.startswith("region") for k in weighted[-1])
    assert (out / "hyperparams.yaml").exists() and (out / "train_report.json").exists()
    scores = tmp_path / "scores.txt"
    assert main(["score", str(out), str(corpus / "trials" / "E.txt"), "--out", str(scores), "--quiet"]) == 0
    report = tmp_path / "r.json"
    assert main(["eval", str(scores), "--meta", str(corpus / "meta.csv"), "--json", str(report), "--quiet"]) == 0
    assert 0.0 <= json.loads(report.read_text())["overall"]["eer"] <= 0.5
    emb = tmp_path / "emb.npz"
    assert main(["embed", str(out), str(corpus / "test.csv"), "--out", str(emb), "--quiet"]) == 0
    as_scores = tmp_path / "as.txt"
    assert main(["score", str(out), str(corpus / "trials" / "E.txt"), "--out", str(as_scores), "--embeddings",
                 str(emb), "--norm", "asnorm", "--cohort", str(corpus / "train.csv"), "--top-k", "5", "--quiet"]) == 0
    plain = pd.read_csv(scores, sep=" ", header=None)
    normed = pd.read_csv(as_scores, sep=" ", header=None)
    assert len(plain) == len(normed) and not plain[3].equals(normed[3])


def test_same_seed_same_weights(corpus, tmp_path):
    for name in ("a", "b"):
        assert main(_args("arw.yaml", corpus, tmp_path / name, "--epochs=2")) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert main(_args("arw.yaml", corpus, tmp_path / "c", "--epochs=2", "--seed", "1")) == 0
    c = _weights(tmp_path / "c")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _kill_at_step6_then_resume(args: list, out: Path, *resume_extra) -> dict:
    """Run ``arwsv <args>`` in a subprocess, SIGKILL it once the step-6 checkpoint (mid epoch 2 of 3,
    4 steps per epoch) exists, resume in-process, and return the final weights."""
    proc = subprocess.Popen([sys.executable, "-m", "arwsv", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    target = out / "checkpoints" / "CKPT+step00000006"
    deadline = time.time() + 120
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists(), "the run finished before it could be killed"
    assert main([*args, *resume_extra, "--resume"]) == 0
    return _weights(out)


def _assert_same_weights(a: dict, b: dict) -> None:
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6, rtol=0), key


@pytest.mark.parametrize("recipe,method,more", [("arw.yaml", "pw", []), ("baseline.yaml", "none", []),
                                                ("arw.yaml", "aps", []), ("arw.yaml", "pl", ["--reweighting.pseudo_groups=3"]),
                                                ("arw.yaml", "oracle", []),
                                                # two passes: the factors saved with the checkpoint resume
                                                ("arw.yaml", "crowding", ["--reweighting.crowding_restarts=2",
                                                                          "--reweighting.crowding_clusters=3"]),
                                                ("arw.yaml", "speaker_factors", [])])
def test_sigkill_then_resume_matches_an_uninterrupted_run(corpus, tmp_path, recipe, method, more):
    extra = ["--epochs=3", "--ckpt_every=2", f"--reweighting.method={method}", *more]
    if method == "crowding":
        assert main(_args("baseline.yaml", corpus, tmp_path / "reference", "--epochs=1")) == 0
        extra.append(f"--reweighting.crowding_reference={tmp_path / 'reference'}")
    if method == "speaker_factors":
        speakers = sorted(set(pd.read_csv(corpus / "train.csv")["spk_id"]))
        pd.DataFrame({"spk_id": speakers, "factor": [0.5 + i for i in range(len(speakers))]}).to_csv(
            tmp_path / "factors.csv", index=False)
        extra.append(f"--reweighting.speaker_factors={tmp_path / 'factors.csv'}")
    assert main(_args(recipe, corpus, tmp_path / "straight", *extra)) == 0
    out = tmp_path / "killed"
    _assert_same_weights(_weights(tmp_path / "straight"), _kill_at_step6_then_resume(_args(recipe, corpus, out, *extra), out))


def test_dataloader_workers_change_nothing_and_resume_exactly(corpus, tmp_path):
    """--num-workers 2 reads ahead; the weights equal a 0-worker run, also after a kill and --resume."""
    extra = ["--epochs=3", "--ckpt_every=2"]
    assert main(_args("arw.yaml", corpus, tmp_path / "plain", *extra)) == 0
    out = tmp_path / "workers"
    resumed = _kill_at_step6_then_resume(_args("arw.yaml", corpus, out, *extra, "--num-workers", "2"), out)
    _assert_same_weights(_weights(tmp_path / "plain"), resumed)


def test_refuses_to_overwrite_a_run_without_resume(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1")) == 0
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1")) == 2
    assert "pass --resume" in capsys.readouterr().err


@pytest.mark.parametrize("override,message", [
    ("--epoch=3", "unknown recipe key 'epoch'"),
    ("--epochs=three", "recipe key 'epochs' is int"),
    ("--reweighting.method=apx", "reweighting.method is 'apx'"),
    ("--reweighting.regionz=3", "unknown recipe key 'reweighting.regionz'"),
    ("--speakers_per_batch=99", "speakers_per_batch=99 but the manifest has only 8 speakers"),
    ("--n_speakers=7", "AAM head has 7 classes but the training manifest has 8 speakers"),
    ("--reweighting.adversary_steps=0", "reweighting.adversary_steps must be an integer >= 1"),
    ("--epochs=0", "epochs must be an integer >= 1"),
    ("--crop_seconds=-1.0", "crop_seconds must be > 0"),
])
def test_bad_recipe_values_name_the_key(corpus, tmp_path, capsys, override, message):
    assert main([*_args("arw.yaml", corpus, tmp_path / "x"), override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_missing_manifest(tmp_path, capsys):
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={tmp_path}",
                 f"--output_folder={tmp_path / 'out'}", "--quiet"]) == 2
    assert "no such training manifest" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_the_last_checkpoint(corpus, tmp_path, capsys, monkeypatch):
    from arwsv.training.losses import MetricLoss

    original = MetricLoss.reduce  # the learner's loss from its terms, once per step
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        value = original(self, *args, **kwargs)
        return value * float("nan") if calls["n"] > 12 else value

    monkeypatch.setattr(MetricLoss, "reduce", flaky)
    out = tmp_path / "nan"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=4", "--ckpt_every=2")) == 3
    err = capsys.readouterr().err
    assert "loss is nan at step 13" in err and "CKPT+step00000012" in err
    latest = out / "checkpoints" / "CKPT+step00000012"
    state = torch.load(latest / "embedding_model.ckpt", weights_only=True)
    assert all(torch.isfinite(v.float()).all() for v in state.values())


def test_interrupted_checkpoint_write_leaves_the_previous_one(corpus, tmp_path, monkeypatch, capsys):
    import arwsv.training.checkpoint as checkpoint

    saves = {"n": 0}
    original = checkpoint.save_state

    def failing(obj, path):
        saves["n"] += 1
        if "step00000004" in str(path) and saves["n"] % 3 == 0:
            raise OSError(28, "No space left on device")
        original(obj, path)

    monkeypatch.setattr(checkpoint, "save_state", failing)
    out = tmp_path / "full"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=2", "--ckpt_every=2")) == 3
    err = capsys.readouterr().err
    assert "cannot write the checkpoint of step 4 (No space left on device)" in err and "step00000002" in err
    assert not (out / "checkpoints" / ".staging").exists()
    names = sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("CKPT"))
    assert names == ["CKPT+step00000002"]
    monkeypatch.setattr(checkpoint, "save_state", original)
    assert main(_args("baseline.yaml", corpus, out, "--epochs=2", "--ckpt_every=2", "--resume")) == 0


def test_validation_each_epoch(corpus, tmp_path):
    out = tmp_path / "valid"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=2", f"--valid_manifest={corpus / 'test.csv'}",
                      f"--valid_trials={corpus / 'trials' / 'O.txt'}", f"--valid_meta={corpus / 'meta.csv'}")) == 0
    entries = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    valid = [e for e in entries if "valid_eer" in e]
    assert [e["epoch"] for e in valid] == [0, 1]
    assert all(0 <= e["valid_eer"] <= 1 and "valid_gender_gap" in e for e in valid)


@pytest.mark.parametrize("folder,pair", [("toy", ("baseline.yaml", "arw.yaml")),
                                         ("bench", ("baseline.yaml", "arw.yaml", "crowding.yaml")),
                                         ("voxceleb", ("ecapa_baseline.yaml", "ecapa_arw.yaml", "ecapa_crowding.yaml"))])
def test_recipe_pairs_differ_only_in_the_reweighting_block_and_load(folder, pair, tmp_path):
    """A recipe and its reweighted twins differ in the reweighting block and the output folder's name only."""
    from arwsv.training.recipe import load_recipe

    texts = [(ROOT / "recipes" / folder / name).read_text() for name in pair]
    heads = [[line for line in t[: t.index("\nreweighting:")].splitlines() if not line.startswith("output_folder:")]
             for t in texts]
    assert all(head == heads[0] for head in heads)
    if folder == "voxceleb":  # its augment block reads <data_folder>/noise
        from conftest import write_noise_folder

        write_noise_folder(tmp_path / "noise")
    methods = []
    for name in pair:
        hparams, resolved = load_recipe(ROOT / "recipes" / folder / name, {"data_folder": str(tmp_path)})
        methods.append(hparams["reweighting"].method)
        stem = name.removesuffix(".yaml").removeprefix("ecapa_")
        assert hparams["reweighting"].method in hparams["output_folder"] or stem in hparams["output_folder"]
    assert methods == ["none", "pw", "crowding"][: len(pair)]


def test_bench_crowding_recipe_is_the_study_variant(tmp_path):
    """recipes/bench/crowding.yaml is the study's crowding_twopass: its reference is where baseline.yaml writes
    the same seed's model."""
    from arwsv.experiments.bench_study import BENCH_VARIANTS, SAME_SEED_BASELINE
    from arwsv.training.recipe import load_recipe

    folder = ROOT / "recipes" / "bench"
    best, _ = load_recipe(folder / "crowding.yaml", {"data_folder": str(tmp_path)})
    expected = {k: v for k, v in BENCH_VARIANTS["crowding_twopass"][1].items() if v != SAME_SEED_BASELINE}
    assert {k: getattr(best["reweighting"], k) for k in expected} == expected
    for seed in (0, 3):
        base_run, _ = load_recipe(folder / "baseline.yaml", {"data_folder": str(tmp_path), "seed": seed})
        run, _ = load_recipe(folder / "crowding.yaml", {"data_folder": str(tmp_path), "seed": seed})
        assert run["reweighting"].crowding_reference == base_run["output_folder"]
    assert best["reweighting"].warmup_steps == 1000


def test_recipe_changes_ignore_comments_and_name_changed_values():
    from arwsv.training.recipe import recipe_changes

    recorded = "# a recipe\nseed: 0  # the seed\nmodel: !new:torch.nn.Linear\n    in_features: 3\n"
    assert recipe_changes(recorded, recorded.replace("# a recipe", "# a reworded recipe").replace(
        "  # the seed", "")) == []
    assert recipe_changes(recorded, recorded.replace("in_features: 3", "in_features: 4")) == \
        ["-    in_features: 3", "+    in_features: 4"]
    assert recipe_changes(recorded, recorded.replace("!new:torch.nn.Linear", "!new:torch.nn.Bilinear")) == \
        ["-model: !new:torch.nn.Linear", "+model: !new:torch.nn.Bilinear"]
    for plain, quoted in (("seed: 0", 'seed: "0"'), ("seed: 0", "seed: null"), ("seed: 0", "seed: 'null'")):
        assert recipe_changes(recorded, recorded.replace(plain, quoted)), quoted  # another value, another run
    assert recipe_changes(recorded, recorded + 'x: "unclosed\n')  # a damaged record is compared as text


def test_resume_refuses_another_recipe(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1")) == 0
    recorded = (out / "hyperparams.yaml").read_text()
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1", "--emb_dim=64", "--resume")) == 2
    err = capsys.readouterr().err
    assert "--resume with another recipe" in err and "emb_dim" in err
    assert (out / "hyperparams.yaml").read_text() == recorded  # the run's record is untouched
    (out / "hyperparams.yaml").write_text("# a comment added since\n" + recorded)
    assert main(_args("baseline.yaml", corpus, out, "--epochs=1", "--resume")) == 0  # comments aside, the same
    assert main(["embed", str(out), str(corpus / "test.csv"), "--out", str(tmp_path / "e.npz"), "--quiet"]) == 0


def test_valid_trials_outside_the_manifest_fail_before_training(corpus, tmp_path, capsys):
    out = tmp_path / "v"
    assert main(_args("baseline.yaml", corpus, out, f"--valid_manifest={corpus / 'dev.csv'}",
                      f"--valid_trials={corpus / 'trials' / 'O.txt'}")) == 2
    assert "utterances of valid_trials are not in valid_manifest" in capsys.readouterr().err
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())


def test_scientific_lr_and_a_speaker_whose_audio_is_all_bad(corpus, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    train = pd.read_csv(corpus / "train.csv", keep_default_na=False)
    victim = sorted(train["spk_id"].unique())[0]
    for row in train[train["spk_id"] == victim].itertuples():
        copy = broken / f"{row.ID.replace('/', '_')}.wav"
        copy.write_bytes(b"not audio")
        train.loc[train["ID"] == row.ID, "wav"] = str(copy)
    train.to_csv(broken / "train.csv", index=False)
    out = tmp_path / "bad_audio"
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--train_manifest={broken / 'train.csv'}", f"--output_folder={out}", *TINY_MODEL,
                 "--speakers_per_batch=2", "--lr=1e-3", "--epochs=1", "--quiet"]) == 0
    report = json.loads((out / "train_report.json").read_text())
    assert report["bad_audio"]["unreadable"] >= 1
