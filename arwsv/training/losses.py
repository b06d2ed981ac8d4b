"""Weighted metric-learning losses over a P x K batch; uniform weights give the plain losses.

Every loss takes explicit weights and returns a scalar:

- :class:`PairwiseLogisticLoss` (default): every pair (i, j), i < j, of the batch is a
  verification trial. Its logit is ``scale * cos(e_i, e_j) + bias`` with a learnable scale and
  bias, its term the logistic loss against "same speaker". Why this one: it trains exactly the
  score used at test time (cosine), it is defined per pair, so the paper's pair weights
  ``w_ij`` plug in directly (angular-prototypical losses work on speaker centroids, not pairs),
  and the learnable affine map keeps it calibrated. Target and non-target pairs are balanced:
  ``L = 1/2 sum_t w ℓ / sum_t w + 1/2 sum_n w ℓ / sum_n w`` (a batch has P·K(K-1)/2 target and
  far more non-target pairs).
- :class:`AAMSoftmaxLoss`: additive angular margin softmax (SpeechBrain's ``AdditiveAngularMargin``
  on a cosine classifier) with per-sample weights, ``sum_i λ_i CE_i / sum_i λ_i``.
- :class:`MetricLoss`: the pairwise loss, the AAM loss, or their sum (a recipe switch).

Each loss also splits into its **terms** (per-sample and per-pair losses, one pass through the
loss head) and a **reduction** of the terms under weights (no parameters). The min-max loop
computes the terms once: the learner's loss reduces them under the adversary's (detached)
weights, the adversary's objective reduces the same terms detached, so ARW costs no second pass.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["PairwiseLogisticLoss", "AAMSoftmaxLoss", "MetricLoss", "LossTerms", "pair_targets"]


def pair_targets(speakers: torch.Tensor):
    """Upper-triangle pair indices (i < j) and whether each pair is a target pair.

    Shapes: ``speakers (B,)`` -> ``(rows (M,), cols (M,), same (M,) bool)``, M = B(B-1)/2.
    """
    rows, cols = torch.triu_indices(len(speakers), len(speakers), offset=1, device=speakers.device)
    return rows, cols, speakers[rows] == speakers[cols]


class PairwiseLogisticLoss(torch.nn.Module):
    """Logistic loss on scaled cosine similarity of all pairs, balanced, with pair weights.

    ``forward(embeddings (B, D), speakers (B,), pair_weights (M,) or None) -> scalar``, pairs in
    :func:`pair_targets` order; ``None`` means every pair weighs 1.
    """

    def __init__(self, init_scale: float = 10.0, init_bias: float = -5.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float(init_scale)))
        self.bias = torch.nn.Parameter(torch.tensor(float(init_bias)))

    def pair_terms(self, embeddings: torch.Tensor, speakers: torch.Tensor):
        """Per-pair losses ℓ_ij (M,) and target mask (M,)."""
        rows, cols, same = pair_targets(speakers)
        unit = F.normalize(embeddings, dim=-1)
        # all cosines by one matmul, then the upper triangle: each entry is read once, so the
        # backward pass has no index accumulation (whose CPU summation order is not fixed)
        cosine = (unit @ unit.T)[rows, cols]
        logits = self.scale * cosine + self.bias
        return F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype), reduction="none"), same

    def forward(self, embeddings, speakers, pair_weights=None):
        terms, same = self.pair_terms(embeddings, speakers)
        return self.reduce(terms, same, pair_weights, zero=embeddings.sum() * 0.0)

    @staticmethod
    def reduce(terms, same, pair_weights=None, zero=None):
        """The balanced weighted mean of per-pair losses (M,) with target mask (M,); ``zero``: the
        value (keeping the graph) when there is no pair at all."""
        weights = torch.ones_like(terms) if pair_weights is None else pair_weights
        # a batch that lost audio may lack one kind of pair: average over the kinds present
        present = [mask for mask in (same, ~same) if mask.any()]
        loss = terms.sum() * 0.0 if zero is None else zero
        for mask in present:
            w = weights[mask]
            loss = loss + (w * terms[mask]).sum() / w.sum() / len(present)
        return loss


class AAMSoftmaxLoss(torch.nn.Module):
    """Additive angular margin softmax with per-sample weights.

    ``forward(embeddings (B, D), speakers (B,), sample_weights (B,) or None) -> scalar``.
    """

    def __init__(self, embed_dim: int, n_speakers: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        from speechbrain.lobes.models.ECAPA_TDNN import Classifier
        from speechbrain.nnet.losses import AdditiveAngularMargin

        self.n_speakers = n_speakers
        self.classifier = Classifier(input_size=embed_dim, out_neurons=n_speakers)
        self.margin = AdditiveAngularMargin(margin=margin, scale=scale)

    def set_margin(self, margin: float) -> None:
        """Use ``margin`` from now on (a margin ramp; large-margin fine-tuning): SpeechBrain's margin keeps its
        cos / sin constants, so they are set with it."""
        import math

        m = self.margin
        m.margin = float(margin)
        m.cos_m, m.sin_m = math.cos(m.margin), math.sin(m.margin)
        m.th, m.mm = math.cos(math.pi - m.margin), math.sin(math.pi - m.margin) * m.margin

    def per_sample(self, embeddings, speakers):
        cosine = self.classifier(embeddings.unsqueeze(1)).squeeze(1)  # (B, n_speakers)
        logits = self.margin(cosine, F.one_hot(speakers, self.n_speakers).to(cosine.dtype))
        return F.cross_entropy(logits, speakers, reduction="none")

    def forward(self, embeddings, speakers, sample_weights=None):
        return self.reduce(self.per_sample(embeddings, speakers), sample_weights)

    @staticmethod
    def reduce(terms, sample_weights=None):
        """``sum_i λ_i CE_i / sum_i λ_i`` of per-sample losses (B,); the mean without weights."""
        if sample_weights is None:
            return terms.mean()
        return (sample_weights * terms).sum() / sample_weights.sum()


class MetricLoss(torch.nn.Module):
    """The recipe's loss: ``pairwise``, ``aam`` or both (summed, AAM scaled by ``aam_weight``).

    ``forward(embeddings (B, D), speakers (B,), sample_weights (B,) or None, pair_weights (M,) or None)``;
    ``forward(..., terms=True)`` returns the :class:`LossTerms` instead (one pass through the head,
    through a DDP wrapper too), and :meth:`reduce` turns terms and weights into the same scalar.
    """

    def __init__(self, pairwise: PairwiseLogisticLoss | None = None, aam: AAMSoftmaxLoss | None = None,
                 aam_weight: float = 1.0):
        super().__init__()
        if pairwise is None and aam is None:
            raise ValueError("MetricLoss needs a pairwise loss, an AAM loss, or both")
        self.pairwise, self.aam, self.aam_weight = pairwise, aam, aam_weight

    def forward(self, embeddings, speakers, sample_weights=None, pair_weights=None, terms: bool = False):
        pairs = same = None
        if self.pairwise is not None:
            pairs, same = self.pairwise.pair_terms(embeddings, speakers)
        sample = None if self.aam is None else self.aam.per_sample(embeddings, speakers)
        parts = LossTerms(embeddings.sum() * 0.0, pairs, same, sample)
        return parts if terms else self.reduce(parts, sample_weights, pair_weights)

    def reduce(self, terms: "LossTerms", sample_weights=None, pair_weights=None):
        """The loss from its terms under weights (what the learner minimises and an adversary maximises)."""
        loss = 0.0
        if terms.pairs is not None:
            loss = loss + PairwiseLogisticLoss.reduce(terms.pairs, terms.same, pair_weights, zero=terms.zero)
        if terms.sample is not None:
            loss = loss + self.aam_weight * AAMSoftmaxLoss.reduce(terms.sample, sample_weights)
        return loss

    def per_sample(self, terms: "LossTerms", n: int) -> torch.Tensor:
        """Each sample's share of :meth:`reduce`'s loss, (B,), no gradient: the pairwise term as the
        balanced mean of the pairs the sample is in (``1/2`` its target pairs' mean + ``1/2`` its
        non-target pairs' mean, over the kinds it has), plus ``aam_weight`` times its AAM term. ``n``: the
        batch size B (pairs in :func:`pair_targets` order)."""
        with torch.no_grad():
            out = None
            if terms.pairs is not None:
                out = _per_sample_pairs(terms.pairs.detach(), terms.same, n)
            if terms.sample is not None:
                aam = self.aam_weight * terms.sample.detach()
                out = aam if out is None else out + aam
            return out


def _per_sample_pairs(pairs, same, n: int) -> torch.Tensor:
    """(M,) pair losses of a batch of ``n`` -> (n,) per-sample balanced means, through dense (n, n)
    matrices filled by assignment (each entry written once: no index accumulation, whose CPU
    order is not fixed)."""
    rows, cols = torch.triu_indices(n, n, offset=1, device=pairs.device)
    loss = pairs.new_zeros(n, n)
    kind = torch.zeros(n, n, dtype=torch.long, device=pairs.device)  # 0 none (diagonal), 1 target, 2 non-target
    code = torch.where(same, 1, 2)
    loss[rows, cols], loss[cols, rows] = pairs, pairs
    kind[rows, cols], kind[cols, rows] = code, code
    total = kinds = 0
    for k in (1, 2):  # a sample without a pair of one kind (its partner's audio was lost) averages the other
        mask = (kind == k).to(pairs.dtype)
        count = mask.sum(dim=1)
        total = total + (loss * mask).sum(dim=1) / count.clamp(min=1)
        kinds = kinds + (count > 0).to(pairs.dtype)
    return total / kinds.clamp(min=1)


class LossTerms(NamedTuple):
    """Per-pair losses ``pairs`` (M,) with the target mask ``same`` (M,), per-sample AAM losses
    ``sample`` (B,) (None where the recipe has no such term), and ``zero``, a 0 that keeps the
    graph. A named tuple, so a DDP-wrapped loss can return it."""

    zero: torch.Tensor
    pairs: torch.Tensor | None = None
    same: torch.Tensor | None = None
    sample: torch.Tensor | None = None

    def detach(self) -> "LossTerms":
        """The same values, cut from the learner's graph (what the adversary ascends on)."""
        def cut(t):
            return None if t is None else t.detach()

        return LossTerms(cut(self.zero), cut(self.pairs), self.same, cut(self.sample))
