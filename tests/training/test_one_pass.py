"""One pass through the loss head per ARW step: the adversary ascends on the learner's detached
loss terms. Checked against the two-pass computation (a second forward through the head with its
parameters frozen), for the adversary's gradient, its weights after a step, and the learner's gradient."""

from __future__ import annotations

import copy

import pytest
import torch

from arwsv.training.losses import AAMSoftmaxLoss, MetricLoss, PairwiseLogisticLoss, pair_targets
from arwsv.training.reweighting import Adversary, pairwise_weights, sample_weights


def _setup(seed=0, dim=16, speakers=6, per_speaker=3):
    torch.manual_seed(seed)
    loss = MetricLoss(PairwiseLogisticLoss(), AAMSoftmaxLoss(dim, 10), aam_weight=0.7)
    emb = torch.randn(speakers * per_speaker, dim, requires_grad=True)
    spk = torch.arange(speakers).repeat_interleave(per_speaker)
    adversary = Adversary(dim, hidden=8, regions=3)
    region = torch.randint(0, 3, (len(spk),))
    return loss, emb, spk, adversary, region


def _two_pass_objective(loss, emb, spk, lam, pair_w):
    """The objective as a second pass computes it: the head runs again on the detached embeddings,
    its parameters frozen."""
    for p in loss.parameters():
        p.requires_grad_(False)
    try:
        return loss(emb.detach(), spk, lam, pair_w)
    finally:
        for p in loss.parameters():
            p.requires_grad_(True)


def test_adversary_gradient_and_weights_match_two_passes():
    loss, emb, spk, adversary, region = _setup()
    rows, cols, _ = pair_targets(spk)
    x = emb.detach()
    twin = copy.deepcopy(adversary)
    opt_one = torch.optim.Adam(adversary.parameters(), lr=0.1)
    opt_two = torch.optim.Adam(twin.parameters(), lr=0.1)
    terms = loss(emb, spk, terms=True)  # the learner's one pass, with its graph

    for _ in range(3):  # a few ascent steps: the optimisers' states must follow too
        lam = sample_weights(adversary(x, region))
        one = -loss.reduce(terms.detach(), lam, pairwise_weights(lam, rows, cols))
        opt_one.zero_grad()
        one.backward()
        lam2 = sample_weights(twin(x, region))
        two = -_two_pass_objective(loss, emb, spk, lam2, pairwise_weights(lam2, rows, cols))
        opt_two.zero_grad()
        two.backward()
        assert one.item() == pytest.approx(two.item(), rel=1e-6)
        for a, b in zip(adversary.parameters(), twin.parameters()):
            assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7)
        opt_one.step()
        opt_two.step()
    assert torch.allclose(sample_weights(adversary(x, region)), sample_weights(twin(x, region)), rtol=1e-5)
    assert all(p.grad is None for p in loss.parameters())  # the adversary's passes never touch the head
    assert emb.grad is None


def test_learner_gradient_matches_the_plain_loss():
    loss, emb, spk, adversary, region = _setup(seed=1)
    rows, cols, _ = pair_targets(spk)
    with torch.no_grad():
        lam = sample_weights(adversary(emb, region))
    pair_w = pairwise_weights(lam, rows, cols)
    twin_loss, twin_emb = copy.deepcopy(loss), emb.detach().clone().requires_grad_(True)
    loss.reduce(loss(emb, spk, terms=True), lam, pair_w).backward()
    twin_loss(twin_emb, spk, lam, pair_w).backward()
    assert torch.equal(emb.grad, twin_emb.grad)
    for a, b in zip(loss.parameters(), twin_loss.parameters()):
        assert torch.equal(a.grad, b.grad)
    # and without weights (the baseline): the plain mean of every term
    plain = loss(emb, spk)
    assert plain.item() == pytest.approx(loss.reduce(loss(emb, spk, terms=True)).item(), rel=0, abs=0)
