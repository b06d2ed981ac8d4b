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


def test_speechbrain_recipe_trains_the_adversary_and_reloads(corpus, tmp_path):
    from hyperpyyaml import load_hyperpyyaml

    out = tmp_path / "sb"
    overrides = [f"--data_folder={corpus}", f"--output_folder={out}", "--out_n_neurons=8", "--number_of_epochs=2",
                 "--batch_size=8", "--sentence_len=0.5", "--embedding_model={channels: [32, 32, 32, 32, 96]}",
                 "--arw={warmup_steps: 1, regions: 3, region_refit_every: 2, memory_bank: 64}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(RECIPE / "train_speaker_embeddings.py"),
                           str(RECIPE / "hparams" / "ecapa_arw.yaml"), *overrides, "--device=cpu"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"train loss: ([-\d.e+]+)", (out / "train_log.txt").read_text())]
    assert len(losses) == 2 and all(map(lambda v: v == v and abs(v) < 1e6, losses))
    # the same hparams build the same initial adversary (the recipe seeds torch first)
    text = (RECIPE / "hparams" / "ecapa_arw.yaml").read_text()
    yaml_overrides = {"data_folder": str(corpus), "output_folder": str(tmp_path / "fresh"), "out_n_neurons": 8,
                      "embedding_model": {"channels": [32, 32, 32, 32, 96]},
                      "arw": {"warmup_steps": 1, "regions": 3, "region_refit_every": 2, "memory_bank": 64}}
    hparams = load_hyperpyyaml(text, yaml_overrides)
    initial = {k: v.clone() for k, v in hparams["adversary"].state_dict().items()}
    checkpoint = next((out / "save").glob("CKPT+*"))
    trained = torch.load(checkpoint / "adversary.ckpt", weights_only=True)
    assert any(not torch.equal(initial[k], trained[k]) for k in initial), "the adversary did not move"
    # the checkpoint reloads into a fresh Brain: adversary, its optimiser and the k-means state
    from arwsv.plugins.speechbrain import ARWBrain

    hparams["checkpointer"].checkpoints_dir = out / "save"
    brain = ARWBrain(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                     run_opts={"device": "cpu"}, checkpointer=hparams["checkpointer"])
    brain.init_optimizers()
    assert hparams["checkpointer"].recover_if_possible() is not None
    reloaded = hparams["adversary"].state_dict()
    assert all(torch.equal(reloaded[k], trained[k]) for k in trained)
    assert brain.arw_state.steps >= 2 and brain.arw_state.regions.centroids is not None
