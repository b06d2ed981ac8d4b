"""The SpeechBrain plug-in: the weighted cost, and the SpeechBrain-style recipe on the toy corpus."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch


ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "speechbrain"


def test_weighted_cost_equals_speechbrains_aam_without_weights():
    from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

    from arwsv.plugins.speechbrain import WeightedAAMCost

    torch.manual_seed(0)
    cosine = torch.tanh(torch.randn(12, 1, 7, dtype=torch.float64))
    targets = torch.randint(0, 7, (12, 1))
    theirs = LogSoftmaxWrapper(AdditiveAngularMargin(margin=0.2, scale=30))(cosine, targets)
    ours = WeightedAAMCost(margin=0.2, scale=30)
    assert float(ours(cosine, targets)) == pytest.approx(float(theirs), rel=1e-6)  # SpeechBrain sums in float32
    assert float(ours(cosine, targets, sample_weights=torch.ones(12, dtype=torch.float64))) == \
        pytest.approx(float(ours(cosine, targets)), rel=1e-12)
    weights = torch.ones(12, dtype=torch.float64)
    weights[0] = 5.0
    assert float(ours(cosine, targets, sample_weights=weights)) != pytest.approx(float(theirs), rel=1e-6)


def _sb_run(corpus, out, tmp_path, block: str):
    overrides = [f"--data_folder={corpus}", f"--output_folder={out}", "--out_n_neurons=8", "--number_of_epochs=2",
                 "--batch_size=8", "--sentence_len=0.5", "--embedding_model={channels: [32, 32, 32, 32, 96]}",
                 f"--reweighting={block}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(RECIPE / "train_speaker_embeddings.py"),
                           str(RECIPE / "hparams" / "ecapa_arw.yaml"), *overrides, "--device=cpu"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def test_speechbrain_recipe_trains_the_adversary_and_reloads(corpus, tmp_path):
    from hyperpyyaml import load_hyperpyyaml

    out = tmp_path / "sb"
    block = "{method: pw, warmup_steps: 1, region_priors: 3, region_refit_every: 2, memory_bank: 64}"
    proc = _sb_run(corpus, out, tmp_path, block)
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"train loss: ([-\d.e+]+)", (out / "train_log.txt").read_text())]
    assert len(losses) == 2 and all(map(lambda v: v == v and abs(v) < 1e6, losses))
    checkpoint = next((out / "save").glob("CKPT+*"))
    trained = torch.load(checkpoint / "reweighting.ckpt", weights_only=True)  # the method's one entry
    assert trained["regions"]["centroids"] is not None and trained["optimizer"]["state"]
    # the checkpoint reloads into a fresh Brain: adversary, its optimiser and the k-means state
    from arwsv.plugins.speechbrain import ARWBrain

    text = (RECIPE / "hparams" / "ecapa_arw.yaml").read_text()
    hparams = load_hyperpyyaml(text, {"data_folder": str(corpus), "output_folder": str(tmp_path / "fresh"),
                                      "out_n_neurons": 8, "embedding_model": {"channels": [32, 32, 32, 32, 96]},
                                      "reweighting": {"method": "pw", "warmup_steps": 1, "region_priors": 3,
                                                      "region_refit_every": 2, "memory_bank": 64}})
    hparams["checkpointer"].checkpoints_dir = out / "save"
    brain = ARWBrain(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                     run_opts={"device": "cpu"}, checkpointer=hparams["checkpointer"])
    initial = {k: v.clone() for k, v in brain.reweighter.adversary.state_dict().items()}
    assert hparams["checkpointer"].recover_if_possible() is not None
    reloaded = brain.reweighter.adversary.state_dict()
    assert all(torch.equal(reloaded[k], trained["adversary"][k]) for k in reloaded)
    assert any(not torch.equal(initial[k], reloaded[k]) for k in initial), "the adversary did not move"
    assert brain.arw_state.steps >= 2 and brain.reweighter.regions.centroids is not None


def test_speechbrain_recipe_runs_crowding_from_a_pretrained_model_on_disk(corpus, tmp_path):
    """Crowding in a SpeechBrain recipe: the reference is a pretrained model in SpeechBrain's layout (a folder
    with hyperparams.yaml and embedding_model.ckpt), loaded from disk; its factors weigh the speakers."""
    from arwsv.inference.embed import load_model
    from conftest import TINY_MODEL  # noqa: F401  (the tiny sizes below are the same)

    reference = tmp_path / "pretrained"
    _save_pretrained(reference)
    load_model(reference)  # it loads as a reference model
    out = tmp_path / "sb"
    block = (f"{{method: crowding, warmup_steps: 1, crowding_clusters: 2, crowding_restarts: 2, "
             f"crowding_reference: {reference}}}")
    proc = _sb_run(corpus, out, tmp_path, block)
    assert proc.returncode == 0, proc.stderr[-3000:]
    checkpoint = next((out / "save").glob("CKPT+*"))
    factors = torch.load(checkpoint / "reweighting.ckpt", weights_only=True)["factors"]
    assert factors.shape == (8,) and torch.isfinite(factors).all() and abs(float(factors.mean()) - 1) < 1e-5


def _save_pretrained(folder):
    """A small ECAPA-TDNN saved as SpeechBrain's pretrained models ship: hyperparams.yaml + embedding_model.ckpt."""
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    folder.mkdir(parents=True)
    (folder / "hyperparams.yaml").write_text(
        "n_mels: 40\n"
        "compute_features: !new:speechbrain.lobes.features.Fbank\n    n_mels: !ref <n_mels>\n"
        "mean_var_norm: !new:speechbrain.processing.features.InputNormalization\n"
        "    norm_type: sentence\n    std_norm: False\n"
        "embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN\n"
        "    input_size: !ref <n_mels>\n    channels: [32, 32, 32, 32, 96]\n    lin_neurons: 16\n")
    torch.manual_seed(0)
    model = ECAPA_TDNN(40, channels=[32, 32, 32, 32, 96], lin_neurons=16)
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
