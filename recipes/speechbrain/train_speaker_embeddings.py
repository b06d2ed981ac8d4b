#!/usr/bin/env python3
"""A SpeechBrain speaker-embedding recipe with reweighting (ARW, crowding, or any method of ``arwsv train``).

It is a SpeechBrain recipe in every way (``sb.parse_arguments``, hyperpyyaml, ``DynamicItemDataset``,
``CategoricalEncoder``, ``Checkpointer``, ``EpochCounter``, DDP through ``torchrun``); the only
ARW-specific line is the Brain class, ``arwsv.plugins.speechbrain.ARWBrain``, and the YAML changes in
``README.md``. Data: the manifests of ``arwsv prepare voxceleb|toy`` (SpeechBrain's CSV format).

    python recipes/speechbrain/train_speaker_embeddings.py recipes/speechbrain/hparams/ecapa_arw.yaml \\
        --data_folder=data/toy
    torchrun --nproc_per_node=2 recipes/speechbrain/train_speaker_embeddings.py ...   # several GPUs
"""

import os
import random
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from arwsv.plugins.speechbrain import ARWBrain


class SpeakerBrain(ARWBrain):
    """ARWBrain already follows SpeechBrain's speaker recipe (its compute_forward augments with wav_augment, its
    fit_batch replicates labels and weights to the copies and steps lr_annealing every batch); epoch-end LR,
    logging and checkpoints here, as in SpeechBrain's recipe."""

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(epoch)
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(stats_meta={"epoch": epoch, "lr": old_lr},
                                                train_stats={"loss": self.train_loss},
                                                valid_stats={"loss": stage_loss})
            self.checkpointer.save_and_keep_only(meta={"loss": stage_loss}, min_keys=["loss"])


def dataio_prep(hparams):
    """Train/valid datasets from the manifests: random crops for training, label encoding."""
    crop = int(hparams["sentence_len"] * hparams["sample_rate"])
    datasets = {name: sb.dataio.dataset.DynamicItemDataset.from_csv(hparams[f"{name}_annotation"])
                for name in ("train", "valid")}
    seed, epochs = hparams["seed"], hparams["epoch_counter"]

    @sb.utils.data_pipeline.takes("id", "wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(utt, wav, start, stop):
        start, stop = int(start), int(stop)
        if stop - start > crop:  # a random chunk of sentence_len seconds, as SpeechBrain's random_chunk, drawn
            # from (seed, epoch, utterance) rather than a running stream: a run resumed mid-epoch gets the same crops
            start = random.Random(f"{seed}/{epochs.current}/{utt}").randint(start, stop - crop)
            stop = start + crop
        return sb.dataio.dataio.read_audio({"file": wav, "start": start, "stop": stop})

    encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id", "spk_id_encoded")
    def label_pipeline(spk_id):
        yield spk_id
        yield encoder.encode_sequence_torch([spk_id])

    for dataset in datasets.values():
        dataset.add_dynamic_item(audio_pipeline)
        dataset.add_dynamic_item(label_pipeline)
        dataset.set_output_keys(["id", "sig", "spk_id_encoded"])  # no demographic column
    encoder.load_or_create(path=os.path.join(hparams["save_folder"], "label_encoder.txt"),
                           from_didatasets=[datasets["train"]], output_key="spk_id")
    return datasets["train"], datasets["valid"], encoder


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(experiment_directory=hparams["output_folder"], hyperparams_to_save=hparams_file,
                                   overrides=overrides)
    train_data, valid_data, encoder = dataio_prep(hparams)
    speakers = [encoder.ind2lab[i] for i in range(len(encoder))]  # the index order of spk_id_encoded
    brain = SpeakerBrain(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                         run_opts=run_opts, checkpointer=hparams["checkpointer"], speakers=speakers)
    brain.fit(brain.hparams.epoch_counter, train_data, valid_data,
              train_loader_kwargs=hparams["dataloader_options"], valid_loader_kwargs=hparams["dataloader_options"])
