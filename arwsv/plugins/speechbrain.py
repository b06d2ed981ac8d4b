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

The recipe's own augmentation and schedule, as SpeechBrain's speaker recipe has them:

- ``hparams.wav_augment`` (SpeechBrain's ``Augmenter``, e.g. ``concat_original: True`` with AddNoise, AddReverb,
  DropFreq, DropChunk in parallel): applied in ``compute_forward`` at the TRAIN stage, as SpeechBrain's recipe
  does, so a batch of B samples becomes B x (1 + copies). Every row is mapped back to its sample with
  ``wav_augment.replicate_labels`` (the recipe's own call): a copy carries its sample's speaker label **and its
  sample's weight**. A ``compute_forward`` of your own that augments with ``hparams.wav_augment`` keeps working:
  the mapping follows the number of rows it returns.
- ``hparams.lr_annealing``: a per-batch schedule is stepped every batch. SpeechBrain's ECAPA recipe
  (``CyclicLRScheduler``) calls ``lr_annealing.on_batch_end(optimizer)`` in its ``compute_objectives`` at TRAIN,
  after the forward and before the backward; ``ARWBrain`` replaces that call (its ``fit_batch`` computes the loss
  itself) and makes it at the same point. A scheduler called with the optimizer (``LinearWarmupScheduler``,
  ``NoamScheduler``, ...; ``(optimizer, optimizer_step)`` for ``TriStageLRSchedule`` and
  ``WarmCoolDecayLRSchedule``) is called after each optimiser step, where SpeechBrain's recipes call it in
  ``on_fit_batch_end``. **Rule**: ARWBrain steps it unless your subclass overrides ``on_fit_batch_end`` (then
  the subclass steps its own schedule, once, as SpeechBrain's recipes do there); ``lr_annealing_per_batch: True
  | False`` in the hparams decides instead. An epoch schedule (``LinearScheduler``, ``NewBobScheduler``,
  ``StepScheduler``, or ``CyclicLRScheduler``'s epoch call) stays in your ``on_stage_end``, as in SpeechBrain.
- Exact resumption: each training batch's random draws (the augmenter's choice, SNRs, drops, any dropout) come
  from a generator seeded by (``hparams.seed``, rank, batch count), forked from the global one, and how far
  AddNoise / AddReverb have read their shuffled CSVs is saved in the ``arw_state`` checkpoint entry and restored
  before the first batch after a recovery; so a run stopped at any (intra-epoch) checkpoint and resumed trains
  as the uninterrupted run (given a data pipeline whose crops do not depend on a running random stream, as
  ``recipes/speechbrain/train_speaker_embeddings.py``'s).

Pass ``speakers=`` (the training speakers in the label encoder's index order) for the methods that weigh
speakers (``oracle``, ``speaker_factors``, ``crowding``); ``crowding`` also reads ``train_annotation`` (the
manifest) to embed the training speakers with its reference model, once, before the first step, on rank 0.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import random
import weakref

import numpy as np
import speechbrain as sb
import torch
import torch.nn.functional as F

from arwsv.training import distributed as ddp
from arwsv.training.checkpoint import load_state, save_state
from arwsv.training.losses import AAMSoftmaxLoss
from arwsv.training.methods import BatchView, build_reweighter, embed_speaker_crops

__all__ = ["WeightedAAMCost", "ARWBrain", "ARWState"]

logger = logging.getLogger(__name__)


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
    """What the Brain adds to the recipe's checkpoint (entry ``arw_state``).

    ``steps``: learner steps (the warm-up and the region refits follow it); ``batches``: training batches (each
    batch's random draws are seeded from it); ``files``: for each augmentation that reads a CSV through its own
    DataLoader (AddNoise, AddReverb), that loader's batch size and how many batches of its current pass it has
    given, restored before the next batch after a recovery (``pending`` until then)."""

    def __init__(self, positions=None):
        self.steps = 0
        self.batches = 0
        self.pending: dict = {}
        self._positions = positions if positions is not None else dict

    def state_dict(self) -> dict:
        return {"steps": self.steps, "batches": self.batches, "files": {**self.pending, **self._positions()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.batches = int(state.get("batches", 0))
        self.pending = {name: {k: int(v) for k, v in pos.items()} for name, pos in (state.get("files") or {}).items()}


def _originals(origin: torch.Tensor, n: int):
    """For rows ``origin`` (R,) -> sample index in 0..n-1: ``(first, group)`` with ``first`` (S,) the first row of
    each sample present (in sample order) and ``group`` (R,) each row's index into ``first``."""
    rows = origin.shape[0]
    if rows == n and torch.equal(origin, torch.arange(n, device=origin.device)):
        return origin, origin
    first = torch.full((n,), rows, dtype=torch.long, device=origin.device)
    first.scatter_reduce_(0, origin, torch.arange(rows, device=origin.device), reduce="amin")
    present = first < rows
    slot = torch.cumsum(present.long(), 0) - 1
    return first[present], slot[origin]


def _optimizer_schedule(scheduler) -> str | None:
    """``"optimizer"`` for a scheduler called as ``scheduler(optimizer)``, ``"optimizer_step"`` for
    ``scheduler(optimizer, num_updates)``, None for any other (an epoch or metric schedule)."""
    try:
        params = inspect.signature(scheduler).parameters.values()
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if names in (["opt"], ["optimizer"]):
        return "optimizer"
    if len(names) == 2 and names[0] in ("opt", "optimizer") and names[1] in ("num_updates", "step", "steps"):
        return "optimizer_step"
    return None


class ARWBrain(sb.Brain):
    """``sb.Brain`` with any reweighting method, the recipe's augmentation and its per-batch LR schedule (see the
    module docstring).

    ``compute_forward`` follows SpeechBrain's speaker recipe (``wav_augment`` at TRAIN, Fbank, mean_var_norm,
    embedding_model, classifier) and also returns the embeddings: override it to change the front end, keeping the
    ``(predictions, embeddings, lengths)`` return value (one row per augmented copy, as SpeechBrain's recipe
    returns them). After each training batch, ``batch_origin`` (R,) holds each row's sample index in the batch and
    ``batch_weights`` (R,) each row's weight λ (None: uniform), for inspection.
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
        self.arw_state = ARWState(self._file_positions)
        if self.checkpointer is not None:
            for name, obj in (("arw_state", self.arw_state), ("reweighting", self.reweighter)):
                self.checkpointer.add_recoverable(name, obj, custom_save_hook=save_state, custom_load_hook=load_state)
        self.batch_origin = self.batch_weights = None
        self._augmented = False  # set when hparams.wav_augment runs (a forward hook), reset before each batch
        augment = self._wav_augment()
        if isinstance(augment, torch.nn.Module):
            brain = weakref.ref(self)

            def ran(module, args, output):
                if brain() is not None:
                    brain()._augmented = True

            augment.register_forward_hook(ran)
        self._lr_kind = None  # how lr_annealing is stepped per batch, resolved at the first batch

    def _wav_augment(self):
        return getattr(self.hparams, "wav_augment", None) if self.hparams is not None else None

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

        index = {s: i for i, s in enumerate(self.speakers)}
        rows = [row for row in load_manifest_rows(self.hparams.train_annotation) if row["spk_id"] in index]
        dataset = CropDataset(rows, 2.0, speakers=self.speakers)
        rows_of = [[] for _ in self.speakers]
        for i, row in enumerate(rows):
            rows_of[index[row["spk_id"]]].append(i)
        return embed_speaker_crops(dataset, rows_of, encoder, self.reweighter.utts, self.device)

    def on_fit_start(self):
        super().on_fit_start()  # SpeechBrain recovers the checkpoint here (a resumed run keeps its factors)
        self.reweighter.prepare(self._embed_speakers)

    # --- augmented copies ---------------------------------------------------------------------

    def copy_origin(self, n: int, rows: int) -> torch.Tensor:
        """Each of the ``rows`` rows the training forward returned for a batch of ``n`` samples -> its sample's
        index (rows,): ``wav_augment.replicate_labels`` of the sample indices when the augmenter ran in this forward
        (SpeechBrain's own label replication, whoever called it), else one row per sample."""
        augment = self._wav_augment()
        ran = self._augmented or (rows != n and augment is not None and not isinstance(augment, torch.nn.Module))
        if ran and hasattr(augment, "replicate_labels"):
            origin = augment.replicate_labels(torch.arange(n, device=self.device))
        else:
            origin = torch.arange(n, device=self.device)
        if origin.shape[0] != rows:
            how = (f"hparams.wav_augment.replicate_labels maps {n} samples to {origin.shape[0]} rows" if ran else
                   "hparams.wav_augment did not run in it")
            raise ValueError(f"ARWBrain: compute_forward returned {rows} rows for a batch of {n} samples, and {how}: "
                             "augment with hparams.wav_augment (SpeechBrain's Augmenter, as SpeechBrain's recipe "
                             "does) so that every copy maps to its sample, or return one row per sample")
        return origin

    def _file_augmentations(self) -> dict:
        """``{name: module}`` of the augmentations in ``wav_augment`` that read a CSV (AddNoise, AddReverb)."""
        table = getattr(self._wav_augment(), "augmentations", None)
        if not isinstance(table, dict):
            return {}
        return {name: m for name, m in table.items() if getattr(m, "csv_file", None) is not None}

    def _file_positions(self) -> dict:
        positions = {}
        for name, module in self._file_augmentations().items():
            loader = getattr(module, "data_loader", None)  # built by the module's first call
            if loader is not None:
                iterator = getattr(loader, "_speechbrain_iterator", None)
                positions[name] = {"batch_size": int(loader.batch_size or 1),
                                   "yielded": int(getattr(iterator, "_num_yielded", 0) or 0)}
        return positions

    def _restore_file_positions(self) -> None:
        """After a recovery: every file-reading augmentation reads on from where the saved run was (its loader
        built with the saved batch size, its shuffled pass fast-forwarded by SpeechBrain's own skip)."""
        pending, self.arw_state.pending = self.arw_state.pending, {}
        if not pending:
            return
        from speechbrain.utils.callchains import lengths_arg_exists

        modules = self._file_augmentations()
        for name, position in pending.items():
            module = modules.get(name)
            if module is None:
                logger.warning("ARWBrain: the checkpoint has a file position for augmentation %s, which "
                               "hparams.wav_augment no longer has", name)
                continue
            if getattr(module, "data_loader", None) is None:  # build it as the first call does (output discarded)
                size = position["batch_size"]
                with self._seeded(0), torch.no_grad():
                    wavs = torch.full((size, 1600), 1e-3, device=self.device)
                    if lengths_arg_exists(module.forward):
                        module(wavs, lengths=torch.ones(size, device=self.device))
                    else:
                        module(wavs)
            loader = module.data_loader
            current = getattr(loader, "_speechbrain_iterator", None)
            names = [key for key, value in vars(module).items() if current is not None and value is current]
            if not names:
                logger.warning("ARWBrain: cannot find the iterator of augmentation %s: its files will not resume "
                               "where the saved run was", name)
                continue
            loader._speechbrain_recovery_skip_to = position["yielded"] or None
            fresh = iter(loader)
            for key in names:
                setattr(module, key, fresh)

    # --- seeding and the LR schedule -----------------------------------------------------------

    @contextlib.contextmanager
    def _seeded(self, seed: int):
        """Torch (CPU and this device) and ``random`` drawn from ``seed`` inside, the global states restored after."""
        cuda = str(self.device).startswith("cuda")
        index = (torch.device(self.device).index or 0) if cuda else None
        state = random.getstate()
        with torch.random.fork_rng(devices=[index] if cuda else []):
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            random.seed(seed)
            try:
                yield
            finally:
                random.setstate(state)

    def _batch_seed(self) -> int:
        seed = abs(int(getattr(self.hparams, "seed", 0) or 0))
        return int(np.random.SeedSequence([seed, ddp.rank(), self.arw_state.batches]).generate_state(1)[0])

    def _lr_schedule(self) -> str | None:
        """How ``hparams.lr_annealing`` is stepped per batch: ``"batch"`` (``on_batch_end(optimizer)`` after each
        forward), ``"optimizer"`` / ``"optimizer_step"`` (called after each optimiser step), or None (not here)."""
        if self._lr_kind is not None:
            return self._lr_kind or None
        scheduler = getattr(self.hparams, "lr_annealing", None)
        kind = None
        if scheduler is not None:
            kind = "batch" if callable(getattr(scheduler, "on_batch_end", None)) else _optimizer_schedule(scheduler)
        switch = getattr(self.hparams, "lr_annealing_per_batch", None)
        owner = type(self).on_fit_batch_end is not sb.Brain.on_fit_batch_end
        step = (kind is not None and not owner) if switch is None else bool(switch)
        name = type(scheduler).__name__
        if step and scheduler is None:
            raise ValueError("lr_annealing_per_batch: True, but the hparams have no lr_annealing")
        if step and kind is None:
            raise ValueError(f"lr_annealing_per_batch: True, but lr_annealing ({name}) is not a per-batch schedule "
                             "(no on_batch_end(optimizer), not called with the optimizer): anneal it in on_stage_end")
        if kind is not None and not step:
            logger.info("ARWBrain: %s, so ARWBrain does not step lr_annealing (%s) per batch",
                        f"{type(self).__name__} overrides on_fit_batch_end" if switch is None else
                        "lr_annealing_per_batch: False", name)
        self._lr_kind = kind if step else ""
        return self._lr_kind or None

    # --- SpeechBrain's hooks --------------------------------------------------------------

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN and self._wav_augment() is not None:  # as SpeechBrain's recipe
            wavs, lens = self.hparams.wav_augment(wavs, lens)
        feats = self.modules.mean_var_norm(self.modules.compute_features(wavs), lens)
        embeddings = self.modules.embedding_model(feats)
        return self.modules.classifier(embeddings), embeddings.squeeze(1), lens

    def compute_objectives(self, predictions, batch, stage):
        outputs, _, lens = predictions
        spkid, _ = batch.spk_id_encoded
        weights = None
        if stage == sb.Stage.TRAIN:  # the copies' labels and weights (fit_batch computes the same loss itself)
            spkid = spkid.reshape(-1)[self.copy_origin(spkid.shape[0], outputs.shape[0]).to(spkid.device)]
            weights = self.batch_weights
        return self.hparams.compute_cost(outputs, spkid, lens, sample_weights=weights)

    def fit_batch(self, batch):
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        self._restore_file_positions()
        schedule = self._lr_schedule()
        with self._seeded(self._batch_seed()), self.no_sync(not should_step):
            self._augmented = False
            with self.training_ctx:
                outputs = self.compute_forward(batch, sb.Stage.TRAIN)
                if not (isinstance(outputs, (tuple, list)) and len(outputs) == 3):
                    raise TypeError("ARWBrain: compute_forward must return (predictions, embeddings, lengths) "
                                    "(SpeechBrain's recipe returns (predictions, lengths): return the embeddings too)")
                predictions, embeddings, _ = outputs
                labels = batch.spk_id_encoded.data.to(self.device).reshape(-1)
                origin = self.copy_origin(labels.shape[0], predictions.shape[0])
                spkid = labels[origin]  # a copy is its sample's speaker
                terms = self.hparams.compute_cost.per_sample(predictions, spkid)  # the cost's one pass
            if schedule == "batch":  # where SpeechBrain's recipe calls it (its compute_objectives at TRAIN)
                self.hparams.lr_annealing.on_batch_end(self.optimizer)
            # λ is computed once per *sample*, on its first row (the clean original under concat_original), and
            # every copy of the sample gets that λ. Computing it on all rows instead would give copies their own
            # weights: PW's adversary sees each copy's embedding, APS would count a sample's copies as its
            # same-speaker partners, the k-means regions would place copies apart; a sample the adversary finds
            # hard would be up-weighted in some copies only. Kept per sample, a copy's weight is its original's
            # (for the speaker-weighing methods it is the speaker's factor either way: a copy is the same speaker),
            # the method sees a batch of B distinct samples as without augmentation, and the objective the
            # adversary ascends still sums every copy's loss under its sample's weight.
            first, group = _originals(origin, labels.shape[0])
            embeddings = embeddings.reshape(embeddings.shape[0], -1)
            if embeddings.shape[0] != origin.shape[0]:
                raise ValueError(f"ARWBrain: compute_forward returned {predictions.shape[0]} predictions but "
                                 f"{embeddings.shape[0]} embeddings")
            originals = embeddings[first]
            region = self.reweighter.assign(originals)
            self.batch_origin, self.batch_weights = origin, None
            if self.arw_state.steps >= self.reweighter.warmup_steps:
                detached = terms.detach().float()
                view = BatchView(originals.detach().float(), spkid[first], region,
                                 lambda weights: AAMSoftmaxLoss.reduce(detached, weights[group]))
                lam = self.reweighter.weights(view)  # an adversary ascends here first: the max step
                self.batch_weights = None if lam is None else lam.detach()[group]
            loss = AAMSoftmaxLoss.reduce(terms, self.batch_weights)  # the min step
            scaled = self.scaler.scale(loss / self.grad_accumulation_factor)
            self.check_loss_isfinite(scaled)
            scaled.backward()
        if should_step:
            self.optimizers_step()
            self.arw_state.steps += 1
            self.reweighter.observe(originals.detach(), self.arw_state.steps)
            if schedule == "optimizer":  # where SpeechBrain's recipes call it (their on_fit_batch_end)
                self.hparams.lr_annealing(self.optimizer)
            elif schedule == "optimizer_step":
                self.hparams.lr_annealing(self.optimizer, self.optimizer_step)
        self.arw_state.batches += 1
        self.on_fit_batch_end(batch, outputs, loss, should_step)
        return loss.detach().cpu()
