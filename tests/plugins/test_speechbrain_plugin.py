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
    noise = _noise_sets(tmp_path / "noise")  # the recipe's augmentation reads SpeechBrain CSVs from noise_folder
    overrides = [f"--data_folder={corpus}", f"--output_folder={out}", "--out_n_neurons=8", "--number_of_epochs=2",
                 "--batch_size=8", "--sentence_len=0.5", "--embedding_model={channels: [32, 32, 32, 32, 96]}",
                 f"--noise_folder={noise}", "--step_size=2", f"--reweighting={block}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}  # a tiny model: one thread is faster than two contended ones
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
    # SpeechBrain's cyclic LR, stepped every batch (2 epochs x 4 batches) and saved as SpeechBrain's recipe saves it
    assert torch.load(checkpoint / "lr_annealing.ckpt", weights_only=True)["clr_iterations"] == 8
    assert torch.load(checkpoint / "arw_state.ckpt", weights_only=True)["batches"] == 8
    # the augmentation ran: the noise and RIR readers' positions are in the checkpoint
    assert set(torch.load(checkpoint / "arw_state.ckpt", weights_only=True)["files"]) == {"AddNoise0", "AddReverb1"}
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


# --- ARWBrain with SpeechBrain's own augmentation and per-batch LR schedule, in process ------------------------

def _noise_sets(folder):
    """Tiny noise and RIR sets in SpeechBrain's extended CSV format (what ``arwsv prepare noise|toy`` write):
    ``noise.csv`` (20 noises of 0.2-1.2 s, some shorter than a crop) and ``rirs.csv`` (5 decaying responses)."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, count in (("noise", 20), ("rirs", 5)):
        rows = ["ID,duration,wav,wav_format,wav_opts"]
        for i in range(count):
            if name == "noise":
                wav = rng.standard_normal(int(16000 * (0.2 + 0.05 * i))) * 0.1
            else:
                t = np.arange(int(16000 * 0.05)) / 16000
                wav = rng.standard_normal(t.size) * np.exp(-t / (0.005 + 0.004 * i))
                wav[0] = 1.0
            path = folder / f"{name}-{i:02d}.wav"
            sf.write(path, wav.astype("float32"), 16000)
            rows.append(f"{name}/{i:02d},{wav.size / 16000:.6f},{path},wav,")
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")
    return folder


N_COPIES = 4  # the Augmenter below: AddNoise, AddReverb, DropFreq, DropChunk in parallel, plus the originals
BATCH = 8     # the tiny corpus: 31 training utterances of 8 speakers -> 4 batches an epoch

TINY_HPARAMS = """
seed: 7
__set_seed: !apply:speechbrain.utils.seed_everything [!ref <seed>]
save_folder: !PLACEHOLDER
noise_folder: !PLACEHOLDER
train_annotation: !PLACEHOLDER
epochs: 2
n_mels: 20
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    attention_channels: 8
    se_channels: 8
    lin_neurons: 16
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 16
    out_neurons: 8
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <epochs>
add_noise: !new:speechbrain.augment.time_domain.AddNoise
    csv_file: !ref <noise_folder>/noise.csv
    snr_low: 0
    snr_high: 15
    pad_noise: True
add_reverb: !new:speechbrain.augment.time_domain.AddReverb
    csv_file: !ref <noise_folder>/rirs.csv
drop_freq: !new:speechbrain.augment.time_domain.DropFreq
    drop_freq_low: 0
    drop_freq_high: 1
    drop_freq_count_low: 1
    drop_freq_count_high: 3
    drop_freq_width: 0.05
drop_chunk: !new:speechbrain.augment.time_domain.DropChunk
    drop_length_low: 500
    drop_length_high: 1000
    drop_count_low: 1
    drop_count_high: 3
wav_augment: !new:speechbrain.augment.augmenter.Augmenter
    parallel_augment: True
    concat_original: True
    min_augmentations: 4
    max_augmentations: 4
    augmentations: [!ref <add_noise>, !ref <add_reverb>, !ref <drop_freq>, !ref <drop_chunk>]
modules:
    compute_features: !ref <compute_features>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
    mean_var_norm: !ref <mean_var_norm>
compute_cost: !new:arwsv.plugins.speechbrain.WeightedAAMCost
    margin: 0.2
    scale: 30
opt_class: !name:torch.optim.Adam
    lr: 0.001
lr_annealing: !new:speechbrain.nnet.schedulers.CyclicLRScheduler
    base_lr: 0.0001
    max_lr: 0.001
    step_size: 3
reweighting: {method: none}
checkpointer: !new:speechbrain.utils.checkpoints.Checkpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        normalizer: !ref <mean_var_norm>
        counter: !ref <epoch_counter>
        lr_annealing: !ref <lr_annealing>
"""

METHOD_BLOCKS = {
    "none": {"method": "none"},
    "pw": {"method": "pw", "warmup_steps": 1, "region_priors": 3, "region_refit_every": 2, "memory_bank": 64},
    "oracle": {"method": "oracle", "warmup_steps": 1},
    "crowding": {"method": "crowding", "warmup_steps": 1, "crowding_clusters": 2, "crowding_restarts": 2},
}


class _Killed(Exception):
    """Stands for kill -9: raised before a batch, after the previous batch's intra-epoch checkpoint."""


def _probe_class(base):
    import speechbrain as sb

    class Probe(base):
        """Records, per training batch (0-based count), what the step trained on; ``stop_at``: dies there."""

        stop_at = None

        def compute_forward(self, batch, stage):
            out = super().compute_forward(batch, stage)
            if stage == sb.Stage.TRAIN:
                self.last_outputs = tuple(x.detach() for x in out)
            return out

        def optimizers_step(self):
            self.step_lr = self.optimizer.param_groups[0]["lr"]  # the LR this step takes
            super().optimizers_step()

        def fit_batch(self, batch):
            index = self.arw_state.batches
            if index == self.stop_at:
                raise _Killed
            loss = super().fit_batch(batch)
            labels = batch.spk_id_encoded.data.reshape(-1)
            predictions = self.last_outputs[0]
            weights = None if self.batch_weights is None else self.batch_weights.clone()
            # the loss the step took: SpeechBrain's label replication, the weights as recorded
            augment = self.hparams.wav_augment
            replicated = labels if augment is None else augment.replicate_labels(labels)
            expected = self.hparams.compute_cost(predictions, replicated, sample_weights=weights)
            self.records[index] = {"rows": predictions.shape[0], "origin": self.batch_origin.clone(),
                                   "labels": labels.clone(), "replicated": replicated, "weights": weights,
                                   "lr": self.step_lr, "loss": float(loss),
                                   "expected_loss": float(expected)}
            return loss

    return Probe


CYCLIC = """lr_annealing: !new:speechbrain.nnet.schedulers.CyclicLRScheduler
    base_lr: 0.0001
    max_lr: 0.001
    step_size: 3
"""


def _tiny_run(corpus, tmp_path, name, method="none", *, brain_class=None, stop_at=None, run_opts=None,
              lr_annealing=None, per_batch=None, **overrides):
    """A fresh tiny ARWBrain (new hparams, same seed) fitted on the tiny corpus; returns the brain (records, state).
    Runs that share ``name`` share the checkpoint folder (a resumed run recovers the killed one's).
    ``lr_annealing``: YAML text for another schedule; ``per_batch``: the hparam ``lr_annealing_per_batch``."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    from arwsv.plugins.speechbrain import ARWBrain

    block = dict(METHOD_BLOCKS[method])
    if method == "crowding":
        reference = tmp_path / "pretrained"
        if not reference.exists():
            _save_pretrained(reference)
        block["crowding_reference"] = str(reference)
    noise = tmp_path / "noise"
    if not noise.exists():
        _noise_sets(noise)
    text = TINY_HPARAMS if lr_annealing is None else TINY_HPARAMS.replace(CYCLIC, lr_annealing)
    if "LinearScheduler" in text:  # an epoch schedule has no checkpoint hooks (SpeechBrain's recipes leave it out)
        text = text.replace("        lr_annealing: !ref <lr_annealing>\n", "")
    if per_batch is not None:
        text += f"lr_annealing_per_batch: {per_batch}\n"
    hparams = load_hyperpyyaml(text, {"save_folder": str(tmp_path / name / "save"),
                                              "noise_folder": str(noise),
                                              "train_annotation": str(corpus / "train.csv"),
                                              "reweighting": block, **overrides})
    data = sb.dataio.dataset.DynamicItemDataset.from_csv(str(corpus / "train.csv"))
    encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("wav", "start")
    @sb.utils.data_pipeline.provides("sig")
    def audio(wav, start):  # a fixed 0.5 s crop: the only randomness left is the Brain's (augmentation, order)
        return sb.dataio.dataio.read_audio({"file": wav, "start": int(start), "stop": int(start) + 8000})

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id", "spk_id_encoded")
    def label(spk_id):
        yield spk_id
        yield encoder.encode_sequence_torch([spk_id])

    data.add_dynamic_item(audio)
    data.add_dynamic_item(label)
    data.set_output_keys(["id", "sig", "spk_id_encoded"])
    encoder.update_from_didataset(data, output_key="spk_id")
    speakers = [encoder.ind2lab[i] for i in range(len(encoder))]
    cls = _probe_class(brain_class or ARWBrain)
    brain = cls(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                run_opts={"device": "cpu", "noprogressbar": True, "ckpt_interval_steps": 1, **(run_opts or {})},
                checkpointer=hparams["checkpointer"], speakers=speakers)
    brain.records, brain.stop_at = {}, stop_at
    try:
        brain.fit(hparams["epoch_counter"], data, None, train_loader_kwargs={"batch_size": BATCH, "shuffle": True})
    except _Killed:
        pass
    return brain


def _state(brain):
    """Everything a resumed run must have equal to the uninterrupted one."""
    state = {f"module.{k}": v for k, v in brain.modules.state_dict().items()}
    state.update({f"reweighting.{k}": v for k, v in _flat(brain.reweighter.state_dict()).items()})
    state.update({f"optimizer.{k}": v for k, v in _flat(brain.optimizer.state_dict()).items()})
    state["lr"] = brain.optimizer.param_groups[0]["lr"]
    state["clr_iterations"] = brain.hparams.lr_annealing.clr_iterations
    state["arw"] = (brain.arw_state.steps, brain.arw_state.batches)
    return state


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        return {k2: v2 for k, v in tree.items() for k2, v2 in _flat(v, f"{prefix}{k}.").items()}
    if isinstance(tree, (list, tuple)):
        return {k2: v2 for i, v in enumerate(tree) for k2, v2 in _flat(v, f"{prefix}{i}.").items()}
    return {prefix: tree}


def _same(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


@pytest.fixture
def one_thread():
    """These tiny models run several times faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("method", ["none", "pw", "crowding", "oracle"])
def test_arwbrain_augments_replicates_labels_and_weights_steps_the_lr_and_resumes_exactly(corpus, tmp_path, method,
                                                                                          one_thread):
    """SpeechBrain's own Augmenter (concat_original, AddNoise and AddReverb over CSVs, DropFreq, DropChunk in
    parallel) and CyclicLRScheduler under ARWBrain: the batch grows to B x 5, every copy carries its sample's
    label and weight, the LR moves every batch as SpeechBrain's schedule has it, and a run killed mid-epoch and
    resumed from its intra-epoch checkpoint ends bit-identical to the uninterrupted run (ARWBrain seeds each
    batch's augmentation from the batch count and restores how far AddNoise / AddReverb had read their files)."""
    from speechbrain.nnet.schedulers import CyclicLRScheduler

    full = _tiny_run(corpus, tmp_path, "full", method)
    assert sorted(full.records) == list(range(8))
    schedule = CyclicLRScheduler(base_lr=0.0001, max_lr=0.001, step_size=3)
    weighted = 0
    for index, record in full.records.items():
        labels = record["labels"]
        size = len(labels)  # 8, 8, 8 and 7 (31 training utterances)
        assert size == (7 if index % 4 == 3 else BATCH)
        assert record["rows"] == size * (1 + N_COPIES)  # the batch grew
        assert torch.equal(record["origin"], torch.arange(size).repeat(1 + N_COPIES))
        assert torch.equal(record["replicated"], labels.repeat(1 + N_COPIES))  # SpeechBrain's replication ...
        assert torch.equal(labels[record["origin"]], record["replicated"])     # ... is the one ARWBrain used
        assert record["loss"] == pytest.approx(record["expected_loss"], rel=1e-5)
        weights = record["weights"]
        if weights is not None:
            weighted += 1
            copies = weights.reshape(1 + N_COPIES, size)
            assert torch.equal(copies, copies[:1].expand_as(copies))  # copy i's weight == its original's
            assert torch.isfinite(weights).all() and (weights > 0).all()
        # the LR moved this batch, to SpeechBrain's cyclic value for it (on_batch_end once a batch)
        assert record["lr"] == pytest.approx(schedule.clr(index + 1), rel=1e-12)
        if index:
            assert record["lr"] != full.records[index - 1]["lr"]
    assert weighted == (0 if method == "none" else 7)  # uniform during the one warm-up step
    if method in ("oracle", "crowding"):  # the speaker's factor: unequal across speakers somewhere
        originals = [r["weights"][:len(r["labels"])] for r in full.records.values() if r["weights"] is not None]
        assert any(len(set(w.tolist())) > 1 for w in originals)
    assert full.hparams.lr_annealing.clr_iterations == 8

    killed = _tiny_run(corpus, tmp_path, "resumed", method, stop_at=5)  # dies before batch 5 (epoch 2's second)
    assert sorted(killed.records) == list(range(5))
    resumed = _tiny_run(corpus, tmp_path, "resumed", method)  # recovers the checkpoint after batch 4
    assert sorted(resumed.records) == [5, 6, 7]
    for index in range(8):
        ours = (killed.records if index < 5 else resumed.records)[index]
        for key, value in full.records[index].items():
            assert _same(ours[key], value), f"{method}: batch {index}: {key} differs after resuming"
    expected, got = _state(full), _state(resumed)
    assert expected.keys() == got.keys()
    differ = [k for k in expected if not _same(expected[k], got[k])]
    assert not differ, f"{method}: the resumed run differs from the uninterrupted one in {differ[:5]}"


def _speechbrain_forward(brain_class):
    """A subclass whose compute_forward is SpeechBrain's recipe's (it augments itself), returning the embeddings."""
    import speechbrain as sb

    class Recipe(brain_class):
        def compute_forward(self, batch, stage):
            batch = batch.to(self.device)
            wavs, lens = batch.sig
            if stage == sb.Stage.TRAIN and hasattr(self.hparams, "wav_augment"):
                wavs, lens = self.hparams.wav_augment(wavs, lens)
            feats = self.modules.compute_features(wavs)
            feats = self.modules.mean_var_norm(feats, lens)
            embeddings = self.modules.embedding_model(feats)
            outputs = self.modules.classifier(embeddings)
            return outputs, embeddings, lens

    return Recipe


def test_a_recipes_own_augmenting_forward_trains_as_arwbrains(corpus, tmp_path, one_thread):
    """A compute_forward of the user's own that augments as SpeechBrain's recipe does: the copies map to their
    samples from the rows it returns, and the run is the one ARWBrain's own forward gives, bit for bit."""
    from arwsv.plugins.speechbrain import ARWBrain

    ours = _tiny_run(corpus, tmp_path, "ours", "pw", epochs=1)
    theirs = _tiny_run(corpus, tmp_path, "theirs", "pw", epochs=1, brain_class=_speechbrain_forward(ARWBrain))
    assert [r["rows"] for r in theirs.records.values()] == [40, 40, 40, 35]
    assert all(r["weights"] is not None for i, r in theirs.records.items() if i)
    for index, record in ours.records.items():
        assert all(_same(theirs.records[index][k], v) for k, v in record.items()), index
    expected, got = _state(ours), _state(theirs)
    assert all(_same(expected[k], got[k]) for k in expected)


def test_a_forward_that_grows_the_batch_without_the_augmenter_is_refused(corpus, tmp_path, one_thread):
    import speechbrain as sb

    from arwsv.plugins.speechbrain import ARWBrain

    class Doubled(ARWBrain):
        def compute_forward(self, batch, stage):
            predictions, embeddings, lens = super().compute_forward(batch, sb.Stage.VALID)  # no augmentation
            return torch.cat([predictions] * 2), torch.cat([embeddings] * 2), torch.cat([lens] * 2)

    with pytest.raises(ValueError, match=r"returned 16 rows for a batch of 8 samples.*wav_augment"):
        _tiny_run(corpus, tmp_path, "doubled", epochs=1, brain_class=Doubled)

    class SpeechBrains(ARWBrain):
        def compute_forward(self, batch, stage):
            predictions, _, lens = super().compute_forward(batch, stage)
            return predictions, lens

    with pytest.raises(TypeError, match=r"\(predictions, embeddings, lengths\)"):
        _tiny_run(corpus, tmp_path, "two", epochs=1, brain_class=SpeechBrains)


def test_the_lr_schedule_is_stepped_once_a_batch_by_whoever_owns_it(corpus, tmp_path, one_thread):
    """ARWBrain steps a per-batch lr_annealing unless the subclass overrides on_fit_batch_end (then the subclass
    does, once); ``lr_annealing_per_batch`` decides instead; an epoch schedule is left to on_stage_end."""
    from speechbrain.nnet.schedulers import CyclicLRScheduler, LinearWarmupScheduler

    from arwsv.plugins.speechbrain import ARWBrain

    def lrs(brain):
        return [r["lr"] for r in brain.records.values()]

    cyclic = [CyclicLRScheduler(base_lr=0.0001, max_lr=0.001, step_size=3).clr(t) for t in (1, 2, 3, 4)]

    class StepsItself(ARWBrain):  # SpeechBrain's recipes step a per-batch schedule in on_fit_batch_end
        def on_fit_batch_end(self, batch, outputs, loss, should_step):
            self.hparams.lr_annealing.on_batch_end(self.optimizer)

    brain = _tiny_run(corpus, tmp_path, "itself", epochs=1, brain_class=StepsItself)
    assert brain.hparams.lr_annealing.clr_iterations == 4  # not 8
    assert lrs(brain) == pytest.approx([0.001] + cyclic[:3], rel=1e-12)  # its own timing: after each step

    class LogsOnly(ARWBrain):
        def on_fit_batch_end(self, batch, outputs, loss, should_step):
            self.logged = True

    brain = _tiny_run(corpus, tmp_path, "logs", epochs=1, brain_class=LogsOnly)
    assert brain.hparams.lr_annealing.clr_iterations == 0 and set(lrs(brain)) == {0.001}  # the subclass owns it
    brain = _tiny_run(corpus, tmp_path, "switch", epochs=1, brain_class=LogsOnly, per_batch=True)
    assert brain.hparams.lr_annealing.clr_iterations == 4 and lrs(brain) == pytest.approx(cyclic, rel=1e-12)
    brain = _tiny_run(corpus, tmp_path, "off", epochs=1, per_batch=False)
    assert brain.hparams.lr_annealing.clr_iterations == 0 and set(lrs(brain)) == {0.001}

    # a scheduler called with the optimizer: after each optimiser step, as SpeechBrain's recipes do
    warmup = ("lr_annealing: !new:speechbrain.nnet.schedulers.LinearWarmupScheduler\n"
              "    initial_value: 0.001\n    num_warmup_steps: 2\n    num_training_steps: 6\n")
    brain = _tiny_run(corpus, tmp_path, "warmup", epochs=1, lr_annealing=warmup)
    schedule = brain.hparams.lr_annealing
    assert isinstance(schedule, LinearWarmupScheduler) and schedule.current_step == 4
    # the first step at the optimiser's LR, then the schedule's (SpeechBrain's timing)
    assert lrs(brain) == pytest.approx([0.001] + [schedule.calculate_lr(t) for t in (1, 2, 3)], rel=1e-12)

    # an epoch schedule is not stepped per batch, and asking for it is refused
    epoch = ("lr_annealing: !new:speechbrain.nnet.schedulers.LinearScheduler\n"
             "    initial_value: 0.001\n    final_value: 0.0001\n    epoch_count: 2\n")
    brain = _tiny_run(corpus, tmp_path, "epoch", epochs=1, lr_annealing=epoch)
    assert set(lrs(brain)) == {0.001}
    with pytest.raises(ValueError, match=r"lr_annealing_per_batch: True, but lr_annealing \(LinearScheduler\)"):
        _tiny_run(corpus, tmp_path, "epoch_switch", epochs=1, lr_annealing=epoch, per_batch=True)


def test_without_wav_augment_arwbrain_trains_on_the_originals(corpus, tmp_path, one_thread):
    """``--wav_augment=null`` (or no wav_augment key): one row per sample, nothing to replicate."""
    brain = _tiny_run(corpus, tmp_path, "plain", "oracle", epochs=1, wav_augment=None)
    assert [r["rows"] for r in brain.records.values()] == [8, 8, 8, 7]
    assert all(torch.equal(r["origin"], torch.arange(r["rows"])) for r in brain.records.values())
    assert all(r["weights"].shape == (r["rows"],) for i, r in brain.records.items() if i)
    assert brain.arw_state.state_dict()["files"] == {}
