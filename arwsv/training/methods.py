"""One interface for every reweighting method, called the same way by both trainers.

:class:`MinMaxTrainer` (``arwsv train``) and :class:`arwsv.plugins.speechbrain.ARWBrain` (a SpeechBrain recipe)
hold a :class:`Reweighter` and do, every step::

    region = reweighter.assign(embeddings)                 # k-means region of each sample (or None)
    lam = reweighter.weights(BatchView(...)) if step >= warmup_steps else None   # λ (B,), or None: uniform
    loss = weighted loss with λ (and pair weights λ_i + λ_j); backward; learner step
    reweighter.observe(embeddings, step)                   # region bank and k-means refits

``weights`` is the min-max step: an adversarial method first takes ``adversary_steps`` ascent steps on the
batch's detached loss (``BatchView.objective``), then returns its λ detached. Before the first step the trainer
calls ``prepare(embed_speakers)`` (crowding embeds the training speakers with its reference model there, on rank
0, and broadcasts the factors). A method's checkpoint state is one entry, ``state_dict()``.

A method of one's own is a subclass that implements ``weights`` (a test writes one in a few lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from arwsv.training import distributed as ddp
from arwsv.training.reweighting import (Adversary, RegionPriors, oracle_weights, sample_weights,
                                        similarity_profile)

__all__ = ["BatchView", "Reweighter", "Uniform", "AdversarialReweighter", "FixedFactors", "Crowding", "build_reweighter",
           "load_reference", "read_speaker_factors", "oracle_factors", "embed_speaker_crops"]


@dataclass(frozen=True)
class BatchView:
    """What a method may read of one training batch; every tensor is detached.

    embeddings : (B, D); speakers : (B,) long, index into the training speakers; regions : (B,) long k-means
    region of each sample, or None; objective : λ (B,) -> the batch's weighted loss (the adversary ascends it).
    """

    embeddings: torch.Tensor
    speakers: torch.Tensor
    regions: torch.Tensor | None
    objective: Callable[[torch.Tensor], torch.Tensor]


class Reweighter:
    """Uniform weights, and the hooks every method may override (see the module docstring).

    ``warmup_steps``: uniform weights before this step, whatever the method (the trainer asks ``weights`` only
    from then on)."""

    def __init__(self, warmup_steps: int = 0):
        self.warmup_steps = warmup_steps

    def prepare(self, embed_speakers: Callable) -> None:
        """Called once before the first step; ``embed_speakers(encoder or None) -> (N, D)`` unit embeddings of the
        training speakers (by a given ``(features, embedding_model)``, default the learner)."""

    def assign(self, embeddings: torch.Tensor) -> torch.Tensor | None:
        """k-means region of each sample (B,), or None for a method without regions."""
        return None

    def weights(self, view: BatchView) -> torch.Tensor | None:
        """λ (B,) of this batch (any positive scale: the losses divide by Σλ), or None for uniform weights."""
        return None

    def observe(self, embeddings: torch.Tensor, step: int) -> None:
        """After the learner's step ``step`` (1-based): ``embeddings`` (B, D) of its batch."""

    def modules(self) -> dict:
        """``{name: module}`` with parameters (the trainer moves them, and wraps them for DDP)."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


Uniform = Reweighter


class AdversarialReweighter(Reweighter):
    """ARW (Lahoti et al.): an :class:`Adversary` maps each sample to a logit; λ = :func:`sample_weights`.

    ``kind``: ``pw`` (the adversary sees the embedding), ``aps`` (the sample's similarity profile within the
    batch, :func:`similarity_profile`) or ``pl`` (nothing: one logit per k-means pseudo-group). ``regions`` k-means
    regions of a bank of recent embeddings (:class:`RegionPriors`) give PW and APS their per-region priors and PL
    its pseudo-groups. The bank holds every rank's embeddings and rank 0's centroids (torchrun)."""

    def __init__(self, kind: str, adversary: Adversary, *, lr: float, steps: int, regions: RegionPriors | None,
                 warmup_steps: int = 0):
        super().__init__(warmup_steps)
        self.kind, self.adversary, self.steps, self.regions = kind, adversary, steps, regions
        self.optimizer = torch.optim.Adam(adversary.parameters(), lr=lr)
        self.wrapped = adversary  # the trainer replaces it by a DDP wrapper under torchrun

    def _input(self, view: BatchView):
        if self.kind == "aps":
            return similarity_profile(view.embeddings, view.speakers)
        return None if self.kind == "pl" else view.embeddings

    def assign(self, embeddings):
        return None if self.regions is None else self.regions.assign(embeddings)

    def weights(self, view):
        x = self._input(view)
        for _ in range(self.steps):  # ascend: only the adversary's weights carry gradient
            loss = -view.objective(sample_weights(self.wrapped(x, view.regions)))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            return sample_weights(self.adversary(x, view.regions))

    def observe(self, embeddings, step):
        if self.regions is not None:
            self.regions.update(ddp.gather_rows(embeddings))  # every rank keeps the same bank
            ddp.refit_regions(self.regions, step)

    def modules(self):
        return {"adversary": self.adversary}

    def state_dict(self):
        return {"adversary": self.adversary.state_dict(), "optimizer": self.optimizer.state_dict(),
                "regions": None if self.regions is None else self.regions.state_dict()}

    def load_state_dict(self, state):
        self.adversary.load_state_dict(state["adversary"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.regions is not None:
            self.regions.load_state_dict(state["regions"])


class FixedFactors(Reweighter):
    """Fixed per-speaker factors (N,): λ_i ∝ factor of sample i's speaker (:func:`oracle_weights`). The oracle
    (group-balanced factors from the labels) and ``speaker_factors`` (a file)."""

    def __init__(self, factors: torch.Tensor | None, warmup_steps: int = 0):
        super().__init__(warmup_steps)
        self.factors = factors

    def weights(self, view):
        return oracle_weights(self.factors[view.speakers])

    def state_dict(self):
        return {"factors": None if self.factors is None else self.factors.cpu()}

    def load_state_dict(self, state):
        if state.get("factors") is not None:
            device = self.factors.device if self.factors is not None else getattr(self, "device", "cpu")
            self.factors = state["factors"].to(device)


class Crowding(FixedFactors):
    """Label-free factors from a trained reference model (two passes): the training speakers' embeddings by
    ``reference`` are clustered (k-means, ``clusters``, ``restarts`` averaged) and every cluster gets the same
    total weight times exp(``beta`` x its crowding) (:func:`arwsv.training.reweighting.crowding_factors`).
    Computed once in ``prepare`` on rank 0 and broadcast; saved with the checkpoint (a resumed run keeps them)."""

    def __init__(self, reference, *, clusters: int, beta: float, restarts: int, utts: int = 2, seed: int = 0,
                 device="cpu", warmup_steps: int = 0):
        super().__init__(None, warmup_steps)
        self.reference, self.clusters, self.beta, self.restarts, self.seed = reference, clusters, beta, restarts, seed
        self.utts, self.device = utts, device  # utterances embedded per speaker (one 2 s crop each)

    def prepare(self, embed_speakers):
        if self.factors is not None:  # recovered from a checkpoint
            return
        from arwsv.training.reweighting import crowding_factors

        found = None
        if ddp.is_main():
            found = torch.from_numpy(crowding_factors(embed_speakers(self.reference), self.clusters, beta=self.beta,
                                                      restarts=self.restarts, seed=self.seed)).float()
        self.factors = ddp.broadcast_object(found).to(self.device)


def embed_speaker_crops(dataset, rows_of: list, encoder, utts: int, device="cpu"):
    """Unit embedding (N, D) float64 of N speakers: the normalised mean of one clean 2 s crop (crop seed 0, never
    augmented) of each of the first ``utts`` rows ``rows_of[s]`` of speaker s in ``dataset`` (a
    :class:`arwsv.data.dataio.CropDataset`), by ``encoder`` = (features, embedding_model), in eval mode, without gradient. Both trainers' crowding uses it."""
    rows = [r for s in range(len(rows_of)) for r in list(rows_of[s][:utts])]
    counts = torch.tensor([min(len(rows_of[s]), utts) for s in range(len(rows_of))])
    features, model = encoder

    def clean(row):  # a CropDataset's un-augmented crop; any other dataset is indexed with (row, crop seed)
        return dataset.item(row, 0, augment=False) if hasattr(dataset, "item") else dataset[(row, 0)]

    for m in (features, model):
        m.eval()
    with torch.no_grad():
        emb = []
        for i in range(0, len(rows), 64):
            wavs = torch.stack([clean(r)["sig"] for r in rows[i:i + 64]]).to(device)
            emb.append(model(features(wavs)).squeeze(1).float().cpu())
    emb = torch.cat(emb)
    if utts > 1:  # a speaker's rows are consecutive: add its j-th crops in turn (a fixed summation order)
        first = torch.cumsum(counts, 0) - counts
        total = emb[first].clone()
        for j in range(1, utts):
            more = counts > j
            total[more] += emb[first[more] + j]
        emb = total
    return torch.nn.functional.normalize(emb, dim=-1).numpy().astype("float64")


def build_reweighter(settings, *, embedding_size: int | None, speakers: list, manifest=None, seed: int = 0,
                     device="cpu") -> Reweighter:
    """The method ``settings`` (:class:`arwsv.training.settings.ReweightingSettings`) asks for, on ``device``.

    ``embedding_size``: the adversary's input for PW (asked only then); ``speakers``: the training speakers,
    sorted (the index in ``BatchView.speakers``); ``manifest``: the training manifest (the oracle reads its
    gender and nationality columns: the only labels that reach training); ``seed``: the k-means regions'."""
    from arwsv.training.reweighting import PROFILE_SIZE

    method, warmup = settings.method, settings.warmup_steps
    if method == "none":
        return Reweighter(warmup)
    if method in ("pw", "aps", "pl"):
        input_dim = {"pw": embedding_size, "aps": PROFILE_SIZE, "pl": 0}[method]
        adversary = Adversary(input_dim, settings.adversary_hidden, settings.regions).to(device)
        regions = RegionPriors(settings.regions, settings.memory_bank, settings.region_refit_every, seed=seed) \
            if settings.regions > 0 else None
        return AdversarialReweighter(method, adversary, lr=settings.adversary_lr, steps=settings.adversary_steps,
                                     regions=regions, warmup_steps=warmup)
    if method == "oracle":
        return FixedFactors(oracle_factors(manifest, speakers).to(device), warmup)
    if method == "speaker_factors":
        return FixedFactors(read_speaker_factors(settings.speaker_factors, speakers).to(device), warmup)
    return Crowding(load_reference(settings.crowding_reference, device), clusters=settings.crowding_clusters,
                    beta=settings.crowding_beta, restarts=settings.crowding_restarts, utts=settings.crowding_utts,
                    device=device, warmup_steps=warmup)


def load_reference(folder, device="cpu"):
    """``(features, embedding_model)`` of a reference model folder, in eval mode: an ``arwsv train`` output or
    a pretrained SpeechBrain model on disk (:func:`arwsv.inference.embed.load_model`); no network access."""
    from arwsv.errors import InputError
    from arwsv.inference.embed import load_model

    try:
        with torch.random.fork_rng(devices=[]):  # building its modules must not move the learner's RNG stream
            return load_model(folder, device=device)[:2]
    except InputError as err:
        raise InputError(f"reweighting.crowding_reference: {err.message}", err.path) from None
    except Exception as err:  # a damaged or mismatched model: its recipe or weights do not load
        raise InputError(f"reweighting.crowding_reference: cannot load the model ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})", folder) from None


def read_speaker_factors(path, speakers: list) -> torch.Tensor:
    """Factor of each training speaker (order of ``speakers``) from a CSV with columns ``spk_id,factor``
    (one row per speaker, factors finite and > 0; extra speakers are ignored). Method ``speaker_factors``."""
    import numpy as np
    import pandas as pd

    from arwsv.errors import InputError

    try:
        frame = pd.read_csv(path, dtype={"spk_id": str}, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("reweighting.speaker_factors: no such file", path) from None
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"reweighting.speaker_factors: cannot read: {str(err).splitlines()[0]}", path) from None
    if list(frame.columns[:2]) != ["spk_id", "factor"]:
        raise InputError("reweighting.speaker_factors: the header must be spk_id,factor", path, 1)
    factor = pd.to_numeric(frame["factor"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(factor) & (factor > 0))
    if bad.any():
        row = int(bad.argmax())
        raise InputError(f"factor {frame['factor'].iloc[row]!r} of speaker {frame['spk_id'].iloc[row]!r} is not a "
                         "number > 0", path, row + 2)
    dup = frame["spk_id"].duplicated()
    if dup.any():
        raise InputError(f"speaker {frame['spk_id'][dup].iloc[0]!r} appears twice", path, int(dup.to_numpy().argmax()) + 2)
    table = dict(zip(frame["spk_id"], factor))
    missing = [s for s in speakers if s not in table]
    if missing:
        raise InputError(f"{len(missing)} training speaker(s) have no factor (e.g. {missing[0]!r})", path)
    return torch.tensor([table[s] for s in speakers], dtype=torch.float32)


def oracle_factors(manifest, speakers: list) -> torch.Tensor:
    """Group-balanced factor of each training speaker (order of ``speakers``), from the manifest's ``gender`` and
    ``nationality`` columns: the oracle's groups are their cross product, counted in utterances. Used by
    ``method: oracle`` only; no other method reads these columns."""
    from arwsv.data.manifest import read_manifest
    from arwsv.errors import InputError
    from arwsv.training.reweighting import group_balanced_factors

    frame = read_manifest(manifest)
    for column in ("gender", "nationality"):
        if column not in frame.columns or (frame[column] == "").any():
            raise InputError(f"reweighting.method: oracle needs a {column!r} value on every row of the training "
                             "manifest (the oracle reweights by the true groups)", manifest)
    groups = frame["gender"] + "/" + frame["nationality"]
    per_speaker = groups.groupby(frame["spk_id"]).nunique()
    if (per_speaker > 1).any():
        spk = per_speaker.index[(per_speaker > 1).to_numpy().argmax()]
        raise InputError(f"speaker {spk!r} has rows of different gender/nationality", manifest)
    factors = frame.assign(f=group_balanced_factors(groups)).groupby("spk_id")["f"].first()
    return torch.tensor([float(factors[s]) for s in speakers], dtype=torch.float32)
