"""The min-max loop of adversarial reweighting, in one file.

Each step: the learner embeds a P x K batch and its loss head gives every sample's and every pair's loss
(one pass); from ``warmup_steps`` on, the run's :class:`~arwsv.training.methods.Reweighter` gives the batch's
weights λ (an adversarial method first takes its ascent steps on the detached losses: the *max* step), and the
learner takes one step that **minimises** the loss under λ (detached) and pair weights λ_i + λ_j (the *min*
step). Without reweighting (``method: none``) this is plain training. Every method, ARW's variants, the oracle,
crowding and a user's own, goes through the same calls (:mod:`arwsv.training.methods`).

A batch's ``spk`` is its training **class**, ``real`` the real speaker: they differ for speed-perturbed virtual
speakers (:class:`arwsv.data.augment.SpeakerMap`). The loss (AAM classes, target pairs) sees classes; the method
and the speaker weights written after each epoch see real speakers, so a copy is never a new, crowded person.
With ``precision`` bf16 / fp16 the embedding model and the loss head run under autocast; the features (Fbank)
and the loss's reductions stay in fp32, and fp16 scales the loss (GradScaler).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict

import torch

from arwsv.errors import TrainingError
from arwsv.training import distributed as ddp
from arwsv.training.losses import pair_targets
from arwsv.training.methods import BatchView, embed_speaker_crops
from arwsv.training.reweighting import pairwise_weights

__all__ = ["MinMaxTrainer", "TrainingError"]


class MinMaxTrainer:
    """Learner (features -> embedding_model -> loss) against the run's reweighting method.

    Parameters
    ----------
    features, embedding_model, loss : torch.nn.Module (``loss`` may be DDP-wrapped; ``loss_plain`` is not)
    optimizer, scheduler : the learner's (scheduler stepped every step)
    reweighter : :class:`arwsv.training.methods.Reweighter`
    sampler, dataset : PKBatchSampler and CropDataset
    checkpointer : SafeCheckpointer
    settings : dict with epochs, ckpt_every, log_every, accumulate, num_workers, and optionally precision
        (fp32 | bf16 | fp16), margin_ramp ([start, end] steps: the AAM margin rises linearly from 0 to the
        recipe's), pin_memory, prefetch_factor
    log_path : path of the JSONL training log
    scaler : torch.amp.GradScaler for fp16, else None
    """

    def __init__(self, *, features, embedding_model, loss, optimizer, scheduler, sampler, dataset, checkpointer,
                 settings, log_path, reweighter, device="cpu", loss_plain=None, scaler=None):
        self.features, self.model, self.loss, self.loss_plain = features, embedding_model, loss, loss_plain or loss
        self.optimizer, self.scheduler, self.reweighter = optimizer, scheduler, reweighter
        self.sampler, self.dataset, self.checkpointer = sampler, dataset, checkpointer
        self.s, self.log_path, self.device, self.scaler = settings, log_path, device, scaler
        self.aam = getattr(self.loss_plain, "aam", None)
        self.full_margin = None if self.aam is None else self.aam.margin.margin
        self.step, self.window = 0, defaultdict(list)
        self._regions_seen = []  # (regions (B,), λ (B,)) of the steps since the last log
        self._lam_log = []  # (speakers (B,), λ (B,)) of each step this epoch, on the device until epoch end

    # --- one step ----------------------------------------------------------------------------

    def _autocast(self):
        precision = self.s.get("precision", "fp32")
        if precision == "fp32":
            return contextlib.nullcontext()
        kind = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(kind, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def _set_margin(self) -> None:
        """The AAM margin of this step: 0 before ``margin_ramp[0]``, rising linearly to the recipe's margin at
        ``margin_ramp[1]`` (a function of the step, so a resumed run has the same margins)."""
        ramp = self.s.get("margin_ramp")
        if ramp is None or self.aam is None:
            return
        start, end = ramp
        share = 1.0 if self.step >= end else 0.0 if self.step < start else (self.step - start) / max(1, end - start)
        self.aam.set_margin(self.full_margin * share)

    def train_step(self, batch) -> float:
        """One min-max step; with ``accumulate`` N the batch is split into N slices of P/N x K whose
        gradients add up (uniform weights only), the same as N data-parallel ranks."""
        n = self.s.get("accumulate", 1)
        share = len(batch.spk) // n
        self.optimizer.zero_grad(set_to_none=True)
        self._set_margin()
        value, lam = 0.0, None
        real_of = getattr(batch, "real", batch.spk)  # the real speaker of each class (virtual speakers)
        for i in range(n):
            part = slice(i * share, (i + 1) * share)
            wavs, lengths = batch.sig.data[part].to(self.device), batch.sig.lengths[part].to(self.device)
            keep = batch.ok[part].to(self.device)  # unreadable audio is dropped from the loss
            feats = self.features(wavs[keep], lengths[keep])  # fp32: Fbank and its normalisation
            spk = batch.spk[part].to(self.device)[keep]
            real = real_of[part].to(self.device)[keep]
            with self._autocast():
                emb = self.model(feats, lengths[keep]).squeeze(1)
                terms = self.loss(emb, spk, terms=True)  # the loss head's one pass (through DDP when wrapped)
            if emb.dtype != torch.float32:  # the reductions, the method and the region bank in fp32
                emb, terms = emb.float(), _float_terms(terms)
            region = self.reweighter.assign(emb)
            pair_w = None
            if self.step >= self.reweighter.warmup_steps:
                rows, cols, _ = pair_targets(spk)

                def objective(weights, terms=terms.detach(), rows=rows, cols=cols):  # what the adversary ascends
                    return self.loss_plain.reduce(terms, weights, pairwise_weights(weights, rows, cols))

                lam = self.reweighter.weights(BatchView(emb.detach(), real, region, objective))
                pair_w = None if lam is None else pairwise_weights(lam, rows, cols)
            loss = self.loss_plain.reduce(terms, lam, pair_w)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {loss.item()} at step {self.step + 1}; stopped without saving, the "
                                    f"last good checkpoint ({self.checkpointer.latest()}) is intact")
            if self.scaler is not None:
                self.scaler.scale(loss / n).backward()
            else:
                (loss / n).backward()
            value += loss.detach().item() / n
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.reweighter.observe(emb, self.step + 1)
        self._record(value, lam, region)
        if lam is not None:  # who got weight, for reports made afterwards with labels training never saw
            self._lam_log.append((real.detach(), lam.detach()))
        return value

    def embed_speakers(self, encoder=None):
        """Unit embedding (N, D) of every training speaker (the sampler's speakers are the dataset's, both sorted)
        by ``encoder`` (features, embedding_model), by default the learner (put back in training mode after)."""
        out = embed_speaker_crops(self.dataset, self.sampler.rows_of, encoder or (self.features, self.model),
                                  getattr(self.reweighter, "utts", 2), self.device)
        if encoder is None:
            for m in (self.features, self.model):
                m.train()
        return out

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
                 **({"margin": self.aam.margin.margin} if self.s.get("margin_ramp") and self.aam is not None else {}),
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
        return {"step": self.step, "rng": torch.get_rng_state()}

    def load_state_dict(self, state) -> None:
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])
        if state.get("crowding") is not None:  # a checkpoint from before the one-interface trainers
            self.reweighter.load_state_dict({"factors": state["crowding"]})

    # --- the loop ----------------------------------------------------------------------------

    def fit(self, resume: bool = False, on_epoch_end=None, progress: bool = True) -> dict:
        from tqdm.auto import tqdm

        if resume and self.checkpointer.recover() is None:
            print("arwsv train: no checkpoint to resume from; starting from scratch")
        self.reweighter.prepare(self.embed_speakers)  # e.g. crowding's factors from its reference, once
        entry = {}
        modules = [self.features, self.model, self.loss, *self.reweighter.modules().values()]
        workers = self.s.get("num_workers", 0)
        # one loader for the whole run: persistent workers serve every epoch; each epoch it reads what is pending
        loader = self.dataset.loader(_Pending(self.sampler), num_workers=workers,
                                     pin_memory=self.s.get("pin_memory", False),
                                     prefetch_factor=self.s.get("prefetch_factor", 2), persistent_workers=workers > 0)
        while self.sampler.epoch < self.s["epochs"]:
            epoch, since, done = self.sampler.epoch, time.perf_counter(), 0
            total = len(self.sampler.batches(epoch))
            bar = tqdm(total=total, initial=self.sampler.position, desc=f"epoch {epoch + 1}/{self.s['epochs']}",
                       unit="step", disable=not (progress and ddp.is_main()) or None)
            for m in modules:
                m.train()
            # the sampler moves per *trained* batch: workers read ahead, checkpoints must not
            for batch in loader:
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
            if on_epoch_end is not None:  # on every rank: validation splits its list over them
                on_epoch_end(epoch)
            ddp.barrier()
        return entry


def _float_terms(terms):
    """Loss terms of an autocast pass, in fp32 (the weighted reductions add many small numbers)."""
    def up(t):
        return t.float() if t is not None and t.is_floating_point() else t

    return type(terms)(*(up(t) for t in terms))


class _Pending:
    """The batch sampler the run's loader iterates: at each pass, this rank's batches of the current epoch from the
    saved position (the sampler moves per *trained* batch: workers read ahead, checkpoints must not)."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        return iter(self.sampler.pending())

    def __len__(self):
        return len(self.sampler.pending())
