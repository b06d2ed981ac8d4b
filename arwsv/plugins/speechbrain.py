"""ARW as a drop-in for SpeechBrain speaker recipes.

Two pieces, used from a SpeechBrain hparams file and train script
(``recipes/speechbrain/`` has both, and the YAML diff against SpeechBrain's own ECAPA recipe):

- :class:`WeightedAAMCost`: where a speaker recipe declares ``compute_cost`` (in place of
  ``LogSoftmaxWrapper(AdditiveAngularMargin)``). Called as SpeechBrain calls it,
  ``compute_cost(predictions, targets, lengths)``, plus optional ``sample_weights``; without
  weights it equals SpeechBrain's loss.
- :class:`ARWBrain`: subclass it instead of ``sb.Brain``. It adds the adversary (its own
  optimiser in ``optimizers_dict``, so ``freeze_optimizers`` applies; frozen during the
  warm-up), the min-max step inside ``fit_batch`` (one forward and one pass through the cost:
  each sample's loss, weighed by detached weights for the learner and, itself detached, by the
  weights for the adversary, so one backward updates each side in its own direction, under
  SpeechBrain's AMP scaler and gradient accumulation; ``compute_cost`` needs ``per_sample``, and
  training does not call ``compute_objectives``, which validation still uses), k-means region
  priors, and checkpointing of the adversary, its optimiser and the ARW state through the
  recipe's ``Checkpointer``. In a classification recipe there are no pairs: ARW weighs samples
  (λ_i) in the AAM-softmax.

hparams it reads: ``compute_cost`` (a WeightedAAMCost), ``adversary`` (an
:class:`arwsv.training.reweighting.Adversary`, also listed in ``modules``), ``adversary_opt_class``, and
``arw: {warmup_steps, regions, region_refit_every, memory_bank}``.
"""

from __future__ import annotations

import speechbrain as sb
import torch
import torch.nn.functional as F

from arwsv.training.checkpoint import load_state, save_state
from arwsv.training.distributed import refit_regions
from arwsv.training.losses import AAMSoftmaxLoss
from arwsv.training.reweighting import RegionPriors, sample_weights

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
    """What ARW adds to a checkpoint besides modules and optimisers: step count and regions."""

    def __init__(self, regions: RegionPriors | None):
        self.steps, self.regions = 0, regions

    def state_dict(self) -> dict:
        return {"steps": self.steps, "regions": None if self.regions is None else self.regions.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        if self.regions is not None and state["regions"] is not None:
            self.regions.load_state_dict(state["regions"])


class ARWBrain(sb.Brain):
    """``sb.Brain`` with adversarial reweighting (see module docstring).

    ``compute_forward`` follows SpeechBrain's speaker recipe (Fbank, mean_var_norm,
    embedding_model, classifier) and also returns the embeddings: override it to change the
    front end, keeping the ``(predictions, embeddings, lengths)`` return value.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.hparams.compute_cost, "per_sample"):
            raise TypeError("ARWBrain's compute_cost needs per_sample(predictions, targets) -> (B,) losses "
                            "(arwsv.plugins.speechbrain.WeightedAAMCost has it): fit_batch weighs each sample's "
                            "loss once for the learner and once, detached, for the adversary")
        arw = self.hparams.arw
        regions = RegionPriors(arw["regions"], arw["memory_bank"], arw["region_refit_every"]) \
            if arw.get("regions", 0) > 0 else None
        self.arw_state = ARWState(regions)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("arw_state", self.arw_state, custom_save_hook=save_state,
                                              custom_load_hook=load_state)
        self._weights = None

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

    def init_optimizers(self):
        adversary = {id(p) for p in self.modules.adversary.parameters()}
        learner = [p for p in self.modules.parameters() if id(p) not in adversary]
        self.optimizer = self.opt_class(learner)
        self.adversary_optimizer = self.hparams.adversary_opt_class(self.modules.adversary.parameters())
        self.optimizers_dict = {"opt_class": self.optimizer, "adversary": self.adversary_optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)
            self.checkpointer.add_recoverable("adversary_optimizer", self.adversary_optimizer)

    def freeze_optimizers(self, optimizers):
        optimizers = super().freeze_optimizers(optimizers)
        if not self.arw_active:  # warm-up: uniform weights, the adversary waits
            optimizers = {k: v for k, v in optimizers.items() if k != "adversary"}
        return optimizers

    @property
    def arw_active(self) -> bool:
        return self.arw_state.steps >= self.hparams.arw.get("warmup_steps", 0)

    def fit_batch(self, batch):
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        regions = self.arw_state.regions
        with self.no_sync(not should_step):
            with self.training_ctx:
                outputs = self.compute_forward(batch, sb.Stage.TRAIN)
                predictions, embeddings, lens = outputs
                region = regions.assign(embeddings) if regions is not None else None
                # the adversary sees the detached embedding and region; the learner sees detached weights.
                # One pass through the cost: each sample's loss, weighed by detached λ for the learner
                # and, detached itself, by λ for the adversary
                lam = sample_weights(self.modules.adversary(embeddings.detach(), region).float())
                spkid = batch.spk_id_encoded.data.to(self.device)
                terms = self.hparams.compute_cost.per_sample(predictions, spkid)
                adversary_loss = -AAMSoftmaxLoss.reduce(terms.detach(), lam)
                self._weights = lam.detach() if self.arw_active else None
                loss = AAMSoftmaxLoss.reduce(terms, self._weights)
            total = loss + adversary_loss if self.arw_active else loss
            scaled = self.scaler.scale(total / self.grad_accumulation_factor)
            self.check_loss_isfinite(scaled)
            scaled.backward()
        if should_step:
            self.optimizers_step()
            self.arw_state.steps += 1
            if regions is not None:
                regions.update(embeddings)
                refit_regions(regions, self.arw_state.steps)
        self.on_fit_batch_end(batch, outputs, loss, should_step)
        return loss.detach().cpu()

