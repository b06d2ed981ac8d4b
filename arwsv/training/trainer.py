"""The min-max loop of adversarial reweighting, in one file.

Each step: the learner embeds a P x K batch; after ``warmup_steps`` of uniform weights, the
adversary takes ``adversary_steps`` gradient steps that **maximise** the weighted loss on the
detached embeddings, then the learner takes one step that **minimises** it under the adversary's
weights (detached). Without an adversary (``reweighting.method: none``) this is plain training.

With ``adversary_holdout`` the adversary's ascent runs on a P x K batch of held-out training
speakers instead (embedded by the current model, eval mode, no gradient), and its weights are then
applied to the learner's batch: the learner memorises its own speakers, so their losses say little
about the speakers it will meet at test time (results/bench_signals.md), held-out speakers' do.
The ARW variants (``pw``, ``aps``, ``pl``) differ only in what the adversary sees
(:func:`adversary_input`); ``oracle`` replaces the adversary by fixed group-balanced weights, and
``crowding`` by weights balanced over k-means clusters of the speakers and raised by each
cluster's crowding (label-free; recomputed every epoch with the current model, or computed once with
a trained ``reference`` model: two passes, as in Just Train Twice).
With ``adversary_memory`` (PL) the batch's per-sample losses go into a :class:`RegionLossMemory`
and the adversary ascends on every region's running mean loss instead of on the batch.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import torch

from arwsv.training import distributed as ddp
from arwsv.errors import TrainingError
from arwsv.training.losses import pair_targets
from arwsv.training.reweighting import (crowding_factors, feature_summary, oracle_weights, pairwise_weights,
                                        sample_weights, similarity_profile)

__all__ = ["MinMaxTrainer", "TrainingError", "adversary_input"]


def adversary_input(method: str, source: str, feats, emb, speakers):
    """What the adversary of each ARW variant sees, detached: PW the embedding (or a Fbank summary),
    APS the similarity profile within the batch, PL nothing (its region prior alone)."""
    if method == "aps":
        return similarity_profile(emb, speakers)
    if method == "pl":
        return None
    return (emb if source == "embedding" else feature_summary(feats)).detach()


class MinMaxTrainer:
    """Learner (features -> embedding_model -> loss) against an optional :class:`Adversary`.

    Parameters
    ----------
    features, embedding_model, loss : torch.nn.Module
    optimizer, scheduler : the learner's (scheduler stepped every step)
    adversary, adversary_optimizer : optional
    regions : RegionPriors, optional
    sampler, dataset : PKBatchSampler and CropDataset
    checkpointer : SafeCheckpointer
    settings : dict with method, epochs, warmup_steps, adversary_steps, adversary_input, pair_rule,
        ckpt_every, log_every (and for ``crowding``: regions, crowding_beta, crowding_restarts, crowding_utts)
    oracle_factors : tensor (n_speakers,), for ``method: oracle`` (each training speaker's group-balanced
        factor: the only place demographic labels reach training) and ``speaker_factors`` (read from a file)
    log_path : path of the JSONL training log
    loss_plain, adversary_plain : the unwrapped modules when ``loss``/``adversary`` are DDP-wrapped
    holdout : (CropDataset, PKBatchSampler) of the held-out speakers, optional: the adversary's batches
        (the one for step t is a function of t alone, so a resumed run sees the same ones)
    memory : RegionLossMemory, optional (PL): what the adversary ascends on
    reference : (features, embedding_model) of a trained model, optional (``crowding`` only): the factors
        come from its embeddings, once, before the first step, instead of from the current model every epoch
    """

    def __init__(self, *, features, embedding_model, loss, optimizer, scheduler, sampler, dataset, checkpointer,
                 settings, log_path, adversary=None, adversary_optimizer=None, regions=None, device="cpu",
                 loss_plain=None, adversary_plain=None, oracle_factors=None, holdout=None, memory=None,
                 reference=None):
        self.features, self.model, self.loss = features, embedding_model, loss
        self.loss_plain, self.adversary_plain = loss_plain or loss, adversary_plain or adversary
        self.optimizer, self.scheduler = optimizer, scheduler
        self.adversary, self.adversary_optimizer, self.regions = adversary, adversary_optimizer, regions
        self.sampler, self.dataset, self.checkpointer = sampler, dataset, checkpointer
        self.s, self.log_path, self.device = settings, log_path, device
        self.method = settings.get("method", "none" if adversary is None else "pw")
        self.oracle_factors = None if oracle_factors is None else oracle_factors.to(device)
        self.holdout, self._holdout_epoch = holdout, (None, None, 0)  # (epoch, its batches, batches before it)
        self.memory, self.reference = memory, reference
        self.crowding = None  # (n_speakers,) factors of method crowding, this epoch's (saved with the checkpoint)
        self.step, self.window = 0, defaultdict(list)
        self._regions_seen = []  # (regions (B,), λ (B,)) of the steps since the last log
        self._lam_log = []  # (speakers (B,), λ (B,)) of each step this epoch, on the device until epoch end

    # --- one step ----------------------------------------------------------------------------

    def _weights(self, feats, emb, region, terms):
        """λ (B,) and pair weights (M,): uniform (None, None) for the baseline and during warm-up,
        fixed for the oracle, else the adversary's after its ascent step(s) on this batch.

        The adversary ascends on ``terms`` (the learner's per-sample and per-pair losses of this
        step, detached): the loss head runs once per step, for both players."""
        if self.method == "none" or self.step < self.s["warmup_steps"]:
            return None, None
        rows, cols, _ = pair_targets(self._spk)
        if self.method in ("oracle", "crowding", "speaker_factors"):
            factors = self.crowding if self.method == "crowding" else self.oracle_factors
            if factors is None:  # crowding from the current model: no clusters before the second epoch
                return None, None
            lam = oracle_weights(factors[self._spk])
            return lam, pairwise_weights(lam, rows, cols, self.s["pair_rule"])
        x = adversary_input(self.method, self.s["adversary_input"], feats, emb, self._spk)
        # what the adversary ascends on: this batch, or a batch of held-out speakers
        on = self._holdout_view() if self.holdout is not None else (x, region, terms.detach(), rows, cols)
        if self.memory is not None:  # PL: remember the batch's losses per region, ascend on all regions
            which = self.s.get("adversary_objective", "loss")
            self.memory.update(on[1], self.loss_plain.per_sample(on[2], len(on[1]), which=which))
            self._ascend_memory()
        else:
            self._ascend(*on)
        with torch.no_grad():
            lam = sample_weights(self.adversary_plain(x, region))
        return lam, pairwise_weights(lam, rows, cols, self.s["pair_rule"])

    def _ascend(self, x, region, terms, rows, cols) -> None:
        """``adversary_steps`` gradient steps of the adversary that **maximise** its objective on
        fixed (detached) loss terms: only the adversary's weights carry gradient."""
        for _ in range(self.s["adversary_steps"]):
            lam = sample_weights(self.adversary(x, region))
            loss = -self._adversary_objective(terms, lam, pairwise_weights(lam, rows, cols, self.s["pair_rule"]))
            self.adversary_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.adversary_optimizer.step()

    def _ascend_memory(self) -> None:
        """``adversary_steps`` steps of PL's adversary maximising the memory's objective: every
        region's logit gets a gradient each step, whichever regions the batch held."""
        every = torch.arange(self.regions.regions, device=self.device)
        for _ in range(self.s["adversary_steps"]):
            loss = -self.memory.objective(self.adversary(None, every))
            self.adversary_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.adversary_optimizer.step()

    def _adversary_objective(self, terms, lam, pair_w):
        """What the adversary maximises: the learner's whole loss, or one of its terms. ``aam``
        contrasts each sample with every training speaker's prototype (its same-group confusers
        included), ``pairs`` only with the in-batch samples (random P x K: mostly other groups)."""
        return self.loss_plain.reduce(terms, lam, pair_w, which=self.s.get("adversary_objective", "loss"))

    def _holdout_batch(self):
        """The held-out batch of this step: the held-out sampler's epochs laid end to end, step t
        reading batch t (a function of the step alone: resumable without saved state)."""
        dataset, sampler = self.holdout
        epoch, batches, before = self._holdout_epoch
        if epoch is None or self.step < before:
            epoch, batches, before = 0, sampler.batches(0), 0
        while self.step >= before + len(batches):
            epoch, before = epoch + 1, before + len(batches)
            batches = sampler.batches(epoch)
        self._holdout_epoch = (epoch, batches, before)
        return next(iter(dataset.loader([batches[self.step - before]])))

    def _holdout_view(self):
        """(adversary input, regions, loss terms, pair rows, pair cols) of the held-out batch, embedded
        by the current model in eval mode (BatchNorm statistics untouched) without gradient."""
        batch = self._holdout_batch()
        keep = batch.ok.to(self.device)
        wavs, lengths = batch.sig.data.to(self.device)[keep], batch.sig.lengths.to(self.device)[keep]
        spk = batch.spk.to(self.device)[keep]
        for m in (self.features, self.model):
            m.eval()
        with torch.no_grad():
            feats = self.features(wavs, lengths)
            emb = self.model(feats, lengths).squeeze(1)
            rows, cols, _ = pair_targets(spk)
            terms = self.loss_plain(emb, spk, terms=True)
            self.window["holdout_pair_loss"].append(float(self.loss_plain.reduce(terms, which="pairs")))
        for m in (self.features, self.model):
            m.train()
        region = self.regions.assign(emb) if self.regions is not None else None
        x = adversary_input(self.method, self.s["adversary_input"], feats, emb, spk)
        return x, region, terms, rows, cols

    def train_step(self, batch) -> float:
        """One learner step; with ``accumulate`` N the batch is split into N slices of P/N x K whose
        gradients add up (no adversary then), the same as N data-parallel ranks."""
        n = self.s.get("accumulate", 1)
        share = len(batch.spk) // n
        self.optimizer.zero_grad(set_to_none=True)
        value = 0.0
        for i in range(n):
            part = slice(i * share, (i + 1) * share)
            wavs, lengths = batch.sig.data[part].to(self.device), batch.sig.lengths[part].to(self.device)
            keep = batch.ok[part].to(self.device)  # unreadable audio is dropped from the loss
            feats = self.features(wavs[keep], lengths[keep])
            emb = self.model(feats, lengths[keep]).squeeze(1)
            self._spk = batch.spk[part].to(self.device)[keep]
            region = self.regions.assign(emb) if self.regions is not None else None
            terms = self.loss(emb, self._spk, terms=True)  # the loss head's one pass (through DDP when wrapped)
            lam, pair_w = self._weights(feats, emb, region, terms)
            loss = self.loss_plain.reduce(terms, lam, pair_w)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {loss.item()} at step {self.step + 1}; stopped without saving, the "
                                    f"last good checkpoint ({self.checkpointer.latest()}) is intact")
            (loss / n).backward()
            value += loss.detach().item() / n
            if self.regions is not None:
                self.regions.update(ddp.gather_rows(emb))  # every rank keeps the same bank
        self.optimizer.step()
        self.scheduler.step()
        if self.regions is not None:
            ddp.refit_regions(self.regions, self.step + 1)
        self._record(value, lam, region)
        if lam is not None:  # who got weight, for reports made afterwards with labels training never saw
            self._lam_log.append((self._spk.detach(), lam.detach()))
        return value

    def _speaker_embeddings(self, dataset, sampler, utts: int = 1, encoder=None):
        """Unit embedding (N, D) float64 of every speaker of ``sampler``: the normalised mean of one 2 s
        crop of each of its first ``utts`` utterances, eval mode, no labels; by ``encoder`` (features,
        embedding_model), by default the current model (put back in training mode afterwards)."""
        rows = [r for s in range(len(sampler.speakers)) for r in sampler.rows_of[s][:utts].tolist()]
        counts = torch.tensor([min(len(sampler.rows_of[s]), utts) for s in range(len(sampler.speakers))])
        features, model = encoder or (self.features, self.model)
        for m in (features, model):
            m.eval()
        with torch.no_grad():
            emb = []
            for i in range(0, len(rows), 64):
                wavs = torch.stack([dataset[(r, 0)]["sig"] for r in rows[i:i + 64]]).to(self.device)
                emb.append(model(features(wavs)).squeeze(1).float().cpu())
        if encoder is None:
            for m in (features, model):
                m.train()
        emb = torch.cat(emb)
        if utts > 1:  # a speaker's rows are consecutive: add its j-th crops in turn (a fixed summation order)
            first = torch.cumsum(counts, 0) - counts
            total = emb[first].clone()
            for j in range(1, utts):
                more = counts > j
                total[more] += emb[first[more] + j]
            emb = total
        return torch.nn.functional.normalize(emb, dim=-1).numpy().astype("float64")

    def _speaker_regions(self, epoch: int, dataset=None, sampler=None, k=None) -> list:
        """k-means region of every speaker of ``sampler`` (default: the learner's; one 2 s crop of its
        first utterance, current model, eval mode): the groups of region batches. No labels;
        deterministic given the model and epoch."""
        from sklearn.cluster import KMeans

        dataset, sampler = dataset or self.dataset, sampler or self.sampler
        unit = self._speaker_embeddings(dataset, sampler)
        k = min(k or self.s["batch_regions"], len(unit))
        return KMeans(n_clusters=k, n_init=3, random_state=epoch).fit_predict(unit).tolist()

    def _crowding_factors(self, epoch: int) -> torch.Tensor:
        """Method crowding: every training speaker's factor (n_speakers,) from :func:`crowding_factors`
        on the speaker embeddings of the reference model if there is one, else of the current model;
        deterministic given the model and epoch."""
        unit = self._speaker_embeddings(self.dataset, self.sampler, self.s["crowding_utts"], self.reference)
        found = crowding_factors(unit, self.s["regions"], beta=self.s["crowding_beta"],
                                 restarts=self.s["crowding_restarts"], seed=epoch)
        factors = torch.ones(len(self.dataset.speakers), dtype=torch.float32)
        factors[[self.dataset.spk_index[s] for s in self.sampler.speakers]] = torch.from_numpy(found).float()
        return factors.to(self.device)

    # --- bookkeeping -------------------------------------------------------------------------

    def _record(self, loss, lam, region):
        """Keep this step's statistics; as tensors, so that the GPU is not waited for before the log."""
        self.window["loss"].append(loss)
        if lam is not None:
            top = torch.sort(lam, descending=True).values[: max(1, round(0.1 * len(lam)))]
            self.window["lam_min"].append(lam.min())
            self.window["lam_mean"].append(lam.mean())
            self.window["lam_max"].append(lam.max())
            self.window["top10_share"].append(top.sum() / lam.sum())
            if region is not None:
                self._regions_seen.append((region, lam))

    def _log(self, epoch, since, steps_done) -> dict:
        entry = {"step": self.step, "epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"],
                 "steps_per_s": steps_done / max(time.perf_counter() - since, 1e-9)}
        for region, lam in self._regions_seen:  # mean λ of each region present in a step
            for r in torch.unique(region).tolist():
                self.window[f"region{r}_lam"].append(lam[region == r].mean())
        self._regions_seen.clear()
        entry.update({k: sum(float(x) for x in v) / len(v) for k, v in sorted(self.window.items())})
        self.window.clear()
        if ddp.is_main():
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        return entry

    def _log_speaker_weights(self, epoch) -> None:
        """Append this epoch's mean λ per speaker to ``speaker_weights.csv`` (epoch,spk_id,mean_lambda,n)."""
        path = self.log_path.parent / "speaker_weights.csv"
        if self._lam_log and ddp.is_main():
            import numpy as np

            spk = torch.cat([s for s, _ in self._lam_log]).cpu().numpy()
            lam = torch.cat([w for _, w in self._lam_log]).cpu().numpy().astype(np.float64)
            sums, counts = np.bincount(spk, weights=lam), np.bincount(spk)  # in step order, as a running sum
            new = not path.exists()
            with open(path, "a", encoding="utf-8") as handle:
                if new:
                    handle.write("epoch,spk_id,mean_lambda,n\n")
                for s in np.flatnonzero(counts).tolist():
                    handle.write(f"{epoch},{self.dataset.speakers[s]},{sums[s] / counts[s]:.6f},{counts[s]}\n")
        self._lam_log.clear()

    def _save(self, meta, end_of_epoch=False):
        try:  # every rank takes part (SpeechBrain's Checkpointer synchronises); rank 0 writes
            self.checkpointer.save(self.step, meta, end_of_epoch)
        except OSError as err:  # e.g. a full disk: the staging folder is dropped, nothing half-written stays
            raise TrainingError(f"cannot write the checkpoint of step {self.step} ({err.strerror or err}); "
                                f"the last good checkpoint ({self.checkpointer.latest()}) is intact") from None

    def state_dict(self) -> dict:
        return {"step": self.step, "rng": torch.get_rng_state(),
                "crowding": None if self.crowding is None else self.crowding.cpu()}

    def load_state_dict(self, state) -> None:
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])
        crowding = state.get("crowding")  # checkpoints before method crowding lack it
        self.crowding = None if crowding is None else crowding.to(self.device)

    # --- the loop ----------------------------------------------------------------------------

    def fit(self, resume: bool = False, on_epoch_end=None, progress: bool = True) -> dict:
        from tqdm.auto import tqdm

        if resume and self.checkpointer.recover() is None:
            print("arwsv train: no checkpoint to resume from; starting from scratch")
        entry, modules = {}, [m for m in (self.features, self.model, self.loss, self.adversary) if m is not None]
        while self.sampler.epoch < self.s["epochs"]:
            epoch, since, done = self.sampler.epoch, time.perf_counter(), 0
            if self.s.get("batch_regions", 0) and epoch >= 1 and self.sampler.position == 0:
                # region batches: contrast speakers of one region (a resumed epoch keeps its saved groups)
                self.sampler.set_groups(self._speaker_regions(epoch))
            if self.method == "crowding" and self.reference is not None and self.crowding is None:
                # a trained reference model: its factors, once, for the whole run (a resumed run keeps the saved ones)
                self.crowding = self._crowding_factors(epoch)
            elif self.method == "crowding" and self.reference is None and epoch >= 1 and self.sampler.position == 0:
                # a resumed epoch keeps the factors saved with its checkpoint
                self.crowding = self._crowding_factors(epoch)
            if self.holdout is not None and self.s.get("adversary_batch_regions", 0) and epoch >= 1 \
                    and self.sampler.position == 0:
                # the adversary's batches too: each held-out speaker meets its neighbours, whatever its group's size
                self.holdout[1].set_groups(self._speaker_regions(epoch, *self.holdout, k=self.s["adversary_batch_regions"]))
                self._holdout_epoch = (None, None, 0)  # the held-out epochs are laid out anew with the groups
            total = len(self.sampler.batches(epoch))
            bar = tqdm(total=total, initial=self.sampler.position, desc=f"epoch {epoch + 1}/{self.s['epochs']}",
                       unit="step", disable=not (progress and ddp.is_main()) or None)
            for m in modules:
                m.train()
            # the sampler moves per *trained* batch: workers read ahead, checkpoints must not
            for batch in self.dataset.loader(self.sampler.pending(), num_workers=self.s.get("num_workers", 0)):
                self.train_step(batch)
                self.sampler.advance()
                self.step, done = self.step + 1, done + 1
                bar.update()
                if self.step % self.s["log_every"] == 0:
                    entry = self._log(epoch, since, done)
                    bar.set_postfix({k: round(v, 3) for k, v in entry.items() if k in
                                     ("loss", "lam_min", "lam_mean", "lam_max", "top10_share", "steps_per_s")})
                if self.step % self.s["ckpt_every"] == 0 and self.sampler.position < total:
                    self._save({"epoch": epoch})
            bar.close()
            self.sampler.end_epoch()
            self._log_speaker_weights(epoch)
            self._save({"epoch": self.sampler.epoch}, end_of_epoch=True)
            if on_epoch_end is not None and ddp.is_main():
                on_epoch_end(epoch)
            ddp.barrier()
        return entry
