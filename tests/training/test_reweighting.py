"""Sample and pair weights, the adversary's gradient ascent, region priors and their checkpoint."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from arwsv.training.losses import MetricLoss, PairwiseLogisticLoss, pair_targets
from arwsv.training.reweighting import Adversary, RegionPriors, pairwise_weights, sample_weights


@pytest.mark.parametrize("logits", [torch.randn(64), torch.zeros(32), torch.full((16,), 1e6), torch.full((16,), -1e6),
                                    torch.tensor([-1e6, 0.0, 1e6, 5.0]), torch.tensor([3.0])])
def test_sample_weight_invariants(logits):
    lam = sample_weights(logits)
    assert torch.isfinite(lam).all()
    assert (lam >= 1.0).all()
    assert float(lam.mean()) == pytest.approx(2.0, abs=1e-5)


def test_sample_weights_match_the_formula():
    logits = torch.randn(50, dtype=torch.float64) * 3
    sig = torch.sigmoid(logits)
    expected = 1 + len(logits) * sig / sig.sum()  # Lahoti et al., written directly
    assert torch.allclose(sample_weights(logits), expected, atol=1e-12)
    assert torch.allclose(sample_weights(torch.zeros(10)), torch.full((10,), 2.0))  # equal logits: uniform


def test_pair_weights_are_the_sums_of_the_sample_weights():
    lam = torch.tensor([1.0, 2.0, 4.0])
    rows, cols, _ = pair_targets(torch.tensor([0, 0, 1]))
    assert pairwise_weights(lam, rows, cols).tolist() == [3.0, 5.0, 6.0]


def _batch(seed=0, p=4, k=3, dim=16):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(p, dim, generator=g)
    spk = torch.arange(p).repeat_interleave(k)
    emb = centres[spk] + 0.8 * torch.randn(p * k, dim, generator=g)
    return emb, spk


def test_adversary_ascent_raises_and_learner_descent_lowers_the_weighted_loss():
    torch.manual_seed(0)
    emb, spk = _batch()
    loss_fn = MetricLoss(pairwise=PairwiseLogisticLoss())
    adversary = Adversary(emb.shape[1], hidden=16, regions=2)
    region = (spk % 2).long()
    rows, cols, _ = pair_targets(spk)

    def weighted(e):
        lam = sample_weights(adversary(emb.detach(), region))
        return loss_fn(e, spk, lam, pairwise_weights(lam, rows, cols))

    before = weighted(emb).item()
    opt = torch.optim.SGD(adversary.parameters(), lr=0.5)
    opt.zero_grad()
    (-weighted(emb.detach())).backward()  # the adversary maximises
    opt.step()
    after_adv = weighted(emb).item()
    assert after_adv > before
    assert adversary.region_prior.weight.grad is not None and adversary.region_prior.weight.grad.abs().sum() > 0
    learner = emb.clone().requires_grad_(True)
    with torch.no_grad():
        lam = sample_weights(adversary(emb, region))
    loss = loss_fn(learner, spk, lam, pairwise_weights(lam, rows, cols))
    loss.backward()
    with torch.no_grad():
        stepped = learner - 0.5 * learner.grad  # the learner minimises under fixed weights
    assert loss_fn(stepped, spk, lam, pairwise_weights(lam, rows, cols)).item() < loss.item()


def test_region_priors_fit_assign_and_survive_a_checkpoint():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    bank = torch.from_numpy(np.concatenate([c + rng.normal(size=(40, 8)) for c in centres])).float()
    regions = RegionPriors(regions=3, bank_size=100, refit_every=10, seed=4)
    assert regions.assign(bank[:5]).tolist() == [0] * 5  # before the first fit
    regions.update(bank[:60])
    regions.update(bank[60:])
    assert len(regions.bank) == 100  # the oldest left the bank
    assert regions.refit(step=1) and not regions.refit(step=5) and regions.refit(step=11)
    labels = regions.assign(bank[20:])
    truth = np.repeat([0, 1, 2], 40)[20:]
    # the three planted clusters come out as three regions (up to renaming)
    assert len({(int(l), int(t)) for l, t in zip(labels, truth)}) == 3
    buffer = io.BytesIO()
    torch.save(regions.state_dict(), buffer)
    buffer.seek(0)
    restored = RegionPriors(regions=3, bank_size=100, refit_every=10, seed=4)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(restored.assign(bank), regions.assign(bank))
    assert restored.refit(step=21) == regions.refit(step=21)
    assert torch.equal(restored.centroids, regions.centroids)  # same bank, same fit count: same k-means
    with pytest.raises(ValueError, match="regions"):
        RegionPriors(regions=4).load_state_dict(regions.state_dict())


def test_refits_keep_region_numbers():
    """A refit starts from the last centroids: region r still names the same cluster, so the
    adversary's learned prior for r keeps its meaning."""
    rng = np.random.default_rng(1)
    centres = np.eye(4, 8) * 10

    def batch(n=50):
        return torch.from_numpy(np.concatenate([c + rng.normal(size=(n, 8)) for c in centres])).float()

    regions = RegionPriors(regions=4, bank_size=200, refit_every=1, seed=0)
    probes = torch.from_numpy(centres).float()
    labels = []
    for step in range(1, 6):
        regions.update(batch())
        assert regions.refit(step)
        labels.append(regions.assign(probes).tolist())
    assert len(set(labels[0])) == 4
    assert all(l == labels[0] for l in labels)
