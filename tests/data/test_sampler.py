"""P x K sampler invariants: shape, distinct speakers, coverage, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest

from arwsv.data.sampler import PKBatchSampler


def _spk_ids(seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 12, size=23)  # uneven, some speakers with fewer than K utterances
    return np.repeat([f"s{i:02d}" for i in range(len(counts))], counts)


@pytest.mark.parametrize("p,k", [(4, 2), (5, 3), (23, 1), (7, 4)])
def test_batches_are_p_by_k_and_cover_every_speaker(p, k):
    spk = _spk_ids()
    sampler = PKBatchSampler(spk, p, k, seed=1)
    for epoch in range(3):
        batches = sampler.batches(epoch)
        seen_rows, seen_spk = set(), set()
        for batch in batches:
            assert len(batch) == p * k
            rows = [r for r, _ in batch]
            groups = [spk[rows[i * k:(i + 1) * k]] for i in range(p)]
            assert all(len(set(g)) == 1 for g in groups)                # K items of one speaker
            assert len({g[0] for g in groups}) == p                      # P distinct speakers
            seen_rows.update(rows)
            seen_spk.update(spk[rows])
        assert seen_spk == set(spk)                                       # every speaker, every epoch
        assert seen_rows == set(range(len(spk)))                          # every utterance too


def test_deterministic_by_seed_and_epoch():
    spk = _spk_ids()
    a, b, c = PKBatchSampler(spk, 4, 2, seed=5), PKBatchSampler(spk, 4, 2, seed=5), PKBatchSampler(spk, 4, 2, seed=6)
    assert a.batches(0) == b.batches(0)
    assert a.batches(0) != a.batches(1)
    assert a.batches(0) != c.batches(0)


def test_resume_mid_epoch_gives_the_same_stream():
    spk = _spk_ids()
    full = PKBatchSampler(spk, 4, 2, seed=2)
    stream = list(full) + list(full)  # two epochs
    first = PKBatchSampler(spk, 4, 2, seed=2)
    it = iter(first)
    head = [next(it) for _ in range(5)]
    state = first.state_dict()
    assert state["epoch"] == 0 and state["position"] == 5
    resumed = PKBatchSampler(spk, 4, 2, seed=2)
    resumed.load_state_dict(state)
    rest = list(resumed) + list(resumed)
    assert head + rest == stream
    with pytest.raises(ValueError, match="seed/P/K"):
        PKBatchSampler(spk, 4, 3, seed=2).load_state_dict(state)


def test_impossible_settings():
    with pytest.raises(ValueError, match="only 23 speakers"):
        PKBatchSampler(_spk_ids(), 24, 2)
    with pytest.raises(ValueError, match=">= 1"):
        PKBatchSampler(_spk_ids(), 4, 0)


