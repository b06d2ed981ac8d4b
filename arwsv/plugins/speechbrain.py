"""Reweighting as a drop-in for SpeechBrain speaker recipes: every method of ``arwsv train``.

Two pieces, used from a SpeechBrain hparams file and train script
(``recipes/speechbrain/`` has both, and the YAML diff against SpeechBrain's own ECAPA recipe):

- :class:`WeightedAAMCost`: where a speaker recipe declares ``compute_cost`` (in place of
  ``LogSoftmaxWrapper(AdditiveAngularMargin)``). Called as SpeechBrain calls it,
  ``compute_cost(predictions, targets, lengths)``, plus optional ``sample_weights``; without
  weights it equals SpeechBrain's loss.
- :class:`ARWBrain`: subclass it instead of ``sb.Brain``. Its hparams hold a ``reweighting`` block with the keys
  of ``arwsv train``'s recipes (:class:`arwsv.training.settings.ReweightingSettings`: ``method`` none | pw | aps |
  pl | oracle | crowding | speaker_factors, ``warmup_steps``, ...), and every step goes through the same
  :class:`arwsv.training.methods.Reweighter` calls as :class:`arwsv.training.trainer.MinMaxTrainer`: regions,
  then (after the warm-up) the method's weights, an adversarial method ascending first on the batch's detached
  per-sample AAM losses, then the learner's step under the detached weights, then the region bank. The method's
  state is one checkpoint entry (``reweighting``) in the recipe's ``Checkpointer``. In a classification recipe
  there are no pairs: the weights weigh the samples in the AAM-softmax.

Pass ``speakers=`` (the training speakers in the label encoder's index order) for the methods that weigh
speakers (``oracle``, ``speaker_factors``, ``crowding``); ``crowding`` also reads ``train_annotation`` (the
manifest) to embed the training speakers with its reference model, once, before the first step, on rank 0.
"""

from __future__ import annotations

import speechbrain as sb
import torch
import torch.nn.functional as F

from arwsv.training.checkpoint import load_state, save_state
from arwsv.training.losses import AAMSoftmaxLoss
from arwsv.training.methods import BatchView, build_reweighter, embed_speaker_crops

__all__ = ["WeightedAAMCost", "ARWBrain", "ARWState"]


class WeightedAAMCost(torch.nn.Module):
    """AAM-softmax on classifier cosines with optional per-sample weights.

    ``forward(predictions (B, 1, C) cosines, targets (B, 1) or (B,), lengths=None,
    sample_weights (B,) or None) -> scalar``; ``sum_i λ_i CE_i / sum_i λ_i``.
    """

    def __init__(self, margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        from speechbrain.nnet.losses import AdditiveAngularMargin

        self.margin = AdditiveAngularMargin(margin=margin, scale=scale)

    def forward(self, predictions, targets, lengths=None, sample_weights=None):
        return AAMSoftmaxLoss.reduce(self.per_sample(predictions, targets), sample_weights)

    def per_sample(self, predictions, targets):
        """Each sample's AAM cross-entropy (B,): the terms ``forward`` weighs."""
        cosine = predictions.squeeze(1)
        targets = targets.reshape(-1).long()
        logits = self.margin(cosine, F.one_hot(targets, cosine.shape[-1]).to(cosine.dtype))
        return F.cross_entropy(logits, targets, reduction="none")


class ARWState:
    """The Brain's count of learner steps (the warm-up and the region refits follow it), saved with the recipe."""

    def __init__(self):
        self.steps = 0

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])


class ARWBrain(sb.Brain):
    """``sb.Brain`` with any reweighting method (see module docstring).

    ``compute_forward`` follows SpeechBrain's speaker recipe (Fbank, mean_var_norm, embedding_model, classifier)
    and also returns the embeddings: override it to change the front end, keeping the
    ``(predictions, embeddings, lengths)`` return value.
    """

    def __init__(self, *args, speakers=None, **kwargs):
        super().__init__(*args, **kwargs)
        from arwsv.training.settings import ReweightingSettings

        if not hasattr(self.hparams.compute_cost, "per_sample"):
            raise TypeError("ARWBrain's compute_cost needs per_sample(predictions, targets) -> (B,) losses "
                            "(arwsv.plugins.speechbrain.WeightedAAMCost has it)")
        settings = ReweightingSettings.from_block(getattr(self.hparams, "reweighting", None))
        if settings.method in ("oracle", "speaker_factors", "crowding") and not speakers:
            raise ValueError(f"reweighting.method: {settings.method} weighs speakers: pass ARWBrain(..., speakers=[the "
                             "training speakers in the label encoder's order])")
        self.speakers = list(speakers or [])
        self.reweighter = build_reweighter(settings, embedding_size=self._embedding_size() if settings.method == "pw"
                                           else None, speakers=self.speakers,
                                           manifest=getattr(self.hparams, "train_annotation", None),
                                           seed=getattr(self.hparams, "seed", 0), device=self.device)
        for module in self.reweighter.modules().values():
            module.to(self.device)
        if hasattr(self.reweighter, "wrapped") and torch.distributed.is_available() and \
                torch.distributed.is_initialized():  # the adversary's gradients averaged over ranks, as the learner's
            ids = [torch.device(self.device).index] if str(self.device).startswith("cuda") else None
            self.reweighter.wrapped = torch.nn.parallel.DistributedDataParallel(self.reweighter.adversary,
                                                                                device_ids=ids)
        self.arw_state = ARWState()
        if self.checkpointer is not None:
            for name, obj in (("arw_state", self.arw_state), ("reweighting", self.reweighter)):
                self.checkpointer.add_recoverable(name, obj, custom_save_hook=save_state, custom_load_hook=load_state)
        self._weights = None

    def _embedding_size(self) -> int:
        model = self.modules.embedding_model
        model.eval()  # a probe must not move BatchNorm statistics
        with torch.no_grad():
            feats = self.modules.compute_features(torch.zeros(1, 16000, device=self.device))
            size = int(model(feats).shape[-1])
        model.train()
        return size

    def _embed_speakers(self, encoder=None):
        """Unit embeddings (N, D) of the training speakers (``speakers`` order) from the first utterances of each
        in ``train_annotation``, one 2 s crop each (as ``arwsv train``)."""
        from arwsv.data.dataio import CropDataset, load_manifest_rows

        rows = load_manifest_rows(self.hparams.train_annotation)
        dataset = CropDataset(rows, 2.0, speakers=self.speakers)
        index = {s: i for i, s in enumerate(self.speakers)}
        rows_of = [[] for _ in self.speakers]
        for i, row in enumerate(rows):
            if row["spk_id"] in index:
                rows_of[index[row["spk_id"]]].append(i)
        return embed_speaker_crops(dataset, rows_of, encoder, self.reweighter.utts, self.device)

    def on_fit_start(self):
        super().on_fit_start()  # SpeechBrain recovers the checkpoint here (a resumed run keeps its factors)
        self.reweighter.prepare(self._embed_speakers)

    # --- SpeechBrain's hooks --------------------------------------------------------------

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        feats = self.modules.mean_var_norm(self.modules.compute_features(wavs), lens)
        embeddings = self.modules.embedding_model(feats)
        return self.modules.classifier(embeddings), embeddings.squeeze(1), lens

    def compute_objectives(self, predictions, batch, stage):
        outputs, _, lens = predictions
        spkid, _ = batch.spk_id_encoded
        weights = self._weights if stage == sb.Stage.TRAIN else None
        return self.hparams.compute_cost(outputs, spkid, lens, sample_weights=weights)

    def fit_batch(self, batch):
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        with self.no_sync(not should_step):
            with self.training_ctx:
                outputs = self.compute_forward(batch, sb.Stage.TRAIN)
                predictions, embeddings, lens = outputs
                spkid = batch.spk_id_encoded.data.to(self.device).reshape(-1)
                terms = self.hparams.compute_cost.per_sample(predictions, spkid)  # the cost's one pass
            region = self.reweighter.assign(embeddings)
            self._weights = None
            if self.arw_state.steps >= self.reweighter.warmup_steps:
                detached = terms.detach().float()
                view = BatchView(embeddings.detach().float(), spkid, region,
                                 lambda weights: AAMSoftmaxLoss.reduce(detached, weights))
                lam = self.reweighter.weights(view)  # an adversary ascends here first: the max step
                self._weights = None if lam is None else lam.detach()
            loss = AAMSoftmaxLoss.reduce(terms, self._weights)  # the min step
            scaled = self.scaler.scale(loss / self.grad_accumulation_factor)
            self.check_loss_isfinite(scaled)
            scaled.backward()
        if should_step:
            self.optimizers_step()
            self.arw_state.steps += 1
            self.reweighter.observe(embeddings.detach(), self.arw_state.steps)
        self.on_fit_batch_end(batch, outputs, loss, should_step)
        return loss.detach().cpu()
