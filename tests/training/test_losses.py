"""Weighted losses: uniform weights give the plain losses, checked against direct computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from arwsv.training.losses import AAMSoftmaxLoss, MetricLoss, PairwiseLogisticLoss, pair_targets


def _batch(p=5, k=3, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    spk = torch.arange(p).repeat_interleave(k)
    return torch.randn(p * k, dim, generator=g, dtype=torch.float64), spk


@torch.no_grad()
def test_pairwise_uniform_weights_equal_the_plain_balanced_loss():
    emb, spk = _batch()
    loss = PairwiseLogisticLoss(init_scale=7.0, init_bias=-3.0).double()
    # the plain loss written out: every pair i < j, balanced mean of target and non-target terms
    terms = {True: [], False: []}
    unit = F.normalize(emb, dim=1)
    for i in range(len(spk)):
        for j in range(i + 1, len(spk)):
            z = 7.0 * float(unit[i] @ unit[j]) - 3.0
            same = bool(spk[i] == spk[j])
            p = 1 / (1 + math.exp(-z))
            terms[same].append(-math.log(p) if same else -math.log(1 - p))
    plain = 0.5 * sum(terms[True]) / len(terms[True]) + 0.5 * sum(terms[False]) / len(terms[False])
    m = len(pair_targets(spk)[0])
    assert float(loss(emb, spk)) == pytest.approx(plain, rel=1e-10)
    assert float(loss(emb, spk, torch.ones(m, dtype=torch.float64))) == pytest.approx(plain, rel=1e-10)
    assert float(loss(emb, spk, torch.full((m,), 4.0, dtype=torch.float64))) == pytest.approx(plain, rel=1e-10)


@torch.no_grad()
def test_pairwise_weights_move_the_loss_toward_heavy_pairs():
    emb, spk = _batch()
    loss = PairwiseLogisticLoss().double()
    terms, same = loss.pair_terms(emb, spk)
    worst = int(torch.argmax(torch.where(same, torch.full_like(terms, -1.0), terms)))  # hardest non-target
    w = torch.ones_like(terms)
    w[worst] = 50.0
    assert float(loss(emb, spk, w)) > float(loss(emb, spk))


@torch.no_grad()
def test_aam_uniform_weights_equal_the_plain_loss_and_integer_weights_equal_copies():
    torch.manual_seed(0)
    emb, spk = _batch()
    aam = AAMSoftmaxLoss(embed_dim=12, n_speakers=5, margin=0.2, scale=30.0).double()
    # plain AAM written out: s * cos(theta_y + m) for the true class, s * cos(theta_j) otherwise
    weight = F.normalize(aam.classifier.weight, dim=1)
    cosine = F.normalize(emb, dim=1) @ weight.T
    theta = torch.acos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    logits = 30.0 * torch.where(F.one_hot(spk, 5).bool(), torch.cos(theta + 0.2), cosine)
    plain = F.cross_entropy(logits, spk)
    assert float(aam(emb, spk)) == pytest.approx(float(plain), rel=1e-6)  # acos clamp: not bit-exact
    uniform = float(aam(emb, spk, torch.ones(len(spk), dtype=torch.float64)))
    assert uniform == pytest.approx(float(aam(emb, spk)), rel=1e-12)
    counts = torch.tensor([1, 2, 0, 3, 1, 1, 2, 1, 1, 1, 3, 1, 1, 2, 1])
    copies = torch.repeat_interleave(torch.arange(len(spk)), counts)
    assert float(aam(emb, spk, counts.double())) == pytest.approx(float(aam(emb[copies], spk[copies])), rel=1e-10)


@torch.no_grad()
def test_metric_loss_is_the_sum_and_needs_a_part():
    torch.manual_seed(0)
    emb, spk = _batch()
    pair, aam = PairwiseLogisticLoss().double(), AAMSoftmaxLoss(12, 5).double()
    both = MetricLoss(pairwise=pair, aam=aam, aam_weight=0.5)
    assert float(both(emb, spk)) == pytest.approx(float(pair(emb, spk)) + 0.5 * float(aam(emb, spk)), rel=1e-10)
    with pytest.raises(ValueError):
        MetricLoss()
    # a batch that lost audio: one speaker left (targets only) or one utterance each (non-targets only)
    only_targets = pair.pair_terms(emb[:3], spk[:3])[0].mean()
    assert float(pair(emb[:3], spk[:3])) == pytest.approx(float(only_targets), rel=1e-12)
    picks = torch.tensor([0, 3, 6])
    assert float(pair(emb[picks], spk[picks])) == pytest.approx(float(pair.pair_terms(emb[picks], spk[picks])[0].mean()))
    assert float(pair(emb[:1], spk[:1])) == 0.0
