"""Data-parallel training with torchrun (2 CPU processes, gloo) on a tiny toy corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arwsv.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--crop_seconds=0.5", "--speakers_per_batch=4", "--n_speakers=8", "--emb_dim=32",
        "--embedding_model.channels=[32,32,32,32,96]", "--embedding_model.attention_channels=16",
        "--embedding_model.se_channels=16", "--log_every=2", "--epochs=2", "--ckpt_every=2", "--quiet",
        "--ddp_timeout_s=60"]
TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")


def _torchrun(recipe, corpus, out, *extra, nproc=2):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "-m", "arwsv", "train",
           str(ROOT / "recipes" / "toy" / recipe), f"--data_folder={corpus}", f"--output_folder={out}", *TINY, *extra]
    # no retry: the Gloo teardown abort ("terminate called without an active exception") came from DDP's
    # pending work freed at interpreter exit, after the group was gone; arwsv train now frees it first
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def _params(out):
    state = torch.load(Path(out) / "final" / "embedding_model.ckpt", weights_only=True)
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


def test_arw_on_two_ranks_keeps_them_identical(corpus, tmp_path):
    out = tmp_path / "arw2"
    proc = _torchrun("arw.yaml", corpus, out, "--reweighting.warmup_steps=2", "--reweighting.region_priors=3",
                     "--reweighting.memory_bank=64", "--reweighting.region_refit_every=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["processes"] == 2
    fingerprints = report["parameter_fingerprints"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("lam_mean" in entry for entry in log)  # the adversary ran on both ranks


def test_crowding_on_two_ranks_takes_rank_0s_factors(corpus, tmp_path):
    """Crowding under torchrun: rank 0 embeds the training speakers with the reference model and broadcasts the
    factors; the ranks stay identical and the saved factors are those of a one-process run."""
    reference = tmp_path / "reference"
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={reference}", *[f for f in TINY if f != "--ddp_timeout_s=60"]]) == 0
    flags = ["--reweighting.method=crowding", "--reweighting.warmup_steps=2", "--reweighting.crowding_clusters=3",
             "--reweighting.crowding_restarts=2", f"--reweighting.crowding_reference={reference}"]
    out = tmp_path / "crowding2"
    proc = _torchrun("arw.yaml", corpus, out, *flags)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["processes"] == 2 and report["parameter_fingerprints"][0] == report["parameter_fingerprints"][1]
    one = tmp_path / "crowding1"
    assert main(["train", str(ROOT / "recipes" / "toy" / "arw.yaml"), f"--data_folder={corpus}", f"--output_folder={one}",
                 *[f for f in TINY if f != "--ddp_timeout_s=60"], *flags]) == 0
    factors = [torch.load(sorted((o / "checkpoints").glob("CKPT+*"))[-1] / "reweighting.ckpt",
                          weights_only=True)["factors"] for o in (out, one)]
    assert torch.equal(factors[0], factors[1])


def test_two_ranks_match_one_process_over_the_same_global_batch(corpus, tmp_path):
    """The 1-process run splits each global batch the way 2 ranks do (``accumulate=2``), so
    BatchNorm sees the same slices. Stated tolerance: the two models embed a fixed batch
    (BatchNorm on batch statistics) to within 1e-4 relative. Parameters are not compared one by
    one: a bias that feeds a BatchNorm has a zero gradient up to rounding, which Adam turns into
    full-size steps of either sign, so such biases differ while the function does not."""
    from arwsv.data.dataio import CropDataset, load_manifest_rows
    from arwsv.inference.embed import load_model

    two = tmp_path / "two"
    proc = _torchrun("baseline.yaml", corpus, two)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = tmp_path / "one"
    args = ["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
            f"--output_folder={one}", *TINY, "--accumulate=2"]
    assert main(args) == 0
    data = CropDataset(load_manifest_rows(corpus / "test.csv"), crop_seconds=0.5)
    wavs = torch.stack([data[(i, 0)]["sig"] for i in range(8)])
    outputs = []
    for folder in (two, one):
        features, model, _ = load_model(folder)
        model.train()  # BatchNorm on the batch's statistics
        with torch.no_grad():
            outputs.append(model(features(wavs)).squeeze(1))
    scale = outputs[1].abs().max()
    assert float((outputs[0] - outputs[1]).abs().max() / scale) < 1e-4
    assert not torch.equal(outputs[0], torch.zeros_like(outputs[0]))


def test_resume_under_another_world_size(corpus, tmp_path):
    out = tmp_path / "mixed"
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={out}", *TINY, "--keep_checkpoints=10"]) == 0
    for later in (out / "checkpoints").glob("CKPT+*"):  # back to the end of epoch 1 (step 4)
        if int(later.name[-8:]) > 4:
            shutil.rmtree(later)
    shutil.rmtree(out / "final")
    proc = _torchrun("baseline.yaml", corpus, out, "--keep_checkpoints=10", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["processes"] == 2 and report["steps"] == 8


def test_impossible_split_fails_before_training(corpus, tmp_path):
    proc = _torchrun("baseline.yaml", corpus, tmp_path / "bad", "--speakers_per_batch=3", nproc=2)
    assert proc.returncode != 0
    assert "does not split into 2 process(es)" in proc.stderr
    assert not (tmp_path / "bad" / "checkpoints").exists() or not any((tmp_path / "bad" / "checkpoints").iterdir())


def test_a_dead_rank_stops_the_run_and_keeps_the_checkpoint(corpus, tmp_path):
    import signal
    import time

    out = tmp_path / "dies"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "arwsv", "train",
           str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}", f"--output_folder={out}",
           *TINY, "--epochs=50"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 120
    while not list((out / "checkpoints").glob("CKPT+*")) and time.time() < deadline:
        time.sleep(0.1)
    workers = subprocess.run(["pgrep", "-f", f"output_folder={out}"], capture_output=True, text=True).stdout.split()
    workers = [int(p) for p in workers if int(p) != proc.pid]
    assert len(workers) >= 2, workers
    os.kill(max(workers), signal.SIGKILL)  # one rank dies
    start = time.time()
    _, stderr = proc.communicate(timeout=120)  # the others must not hang
    assert proc.returncode != 0
    assert time.time() - start < 90
    latest = max((out / "checkpoints").glob("CKPT+*"))
    state = torch.load(latest / "embedding_model.ckpt", weights_only=True)
    assert state and all(torch.isfinite(v.float()).all() for v in state.values())


SLOW_VALIDATION = '''
import sys, time
import arwsv.inference.embed as embed

original = embed.extract


def slow(*args, **kwargs):  # a validation list that takes longer than the peers' timeout (Vox1-H on a GPU)
    time.sleep(DELAY)
    return original(*args, **kwargs)


DELAY = {delay}
embed.extract = slow
from arwsv.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_a_validation_longer_than_the_peer_timeout_does_not_abort_the_run(corpus, tmp_path):
    """ddp_timeout_s 4, each rank's share of the validation list takes 8 s: the run finishes, rank 0 logs the
    validation of both epochs over the whole list (every rank embedded its share)."""
    script = tmp_path / "slow_validation.py"
    script.write_text(SLOW_VALIDATION.format(delay=8.0))
    out = tmp_path / "valid2"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", str(script), "train",
           str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}", f"--output_folder={out}",
           *[f for f in TINY if not f.startswith("--ddp_timeout_s")], "--ddp_timeout_s=4",
           f"--valid_manifest={corpus / 'test.csv'}", f"--valid_trials={corpus / 'trials' / 'O.txt'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    valid = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if "valid_eer" in line]
    assert [e["epoch"] for e in valid] == [0, 1] and all(0 <= e["valid_eer"] <= 1 for e in valid)
    # the same EER as one process validating the whole list with the same weights
    from arwsv.inference.embed import extract, load_model
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.evaluation.groups import FairnessEvaluation
    from arwsv.inference.score import score_trials
    from arwsv.io.scorefile import read_scores, read_trials

    features, model, _ = load_model(out)
    ids, emb = extract(features, model, load_manifest_rows(corpus / "test.csv"), progress=False)
    score_trials(read_trials(corpus / "trials" / "O.txt"), ids, emb).to_csv(tmp_path / "s.txt", sep=" ", header=False,
                                                                            index=False)
    expected = FairnessEvaluation(read_scores(tmp_path / "s.txt"), {}).run(progress=False)["overall"]["eer"]
    assert valid[-1]["valid_eer"] == pytest.approx(expected, abs=1e-6)
