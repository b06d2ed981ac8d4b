"""P x K batch sampler for metric learning: P speakers, K utterances each, in every batch.

One epoch:

1. every speaker's utterances are shuffled and cut into chunks of K (the last chunk is topped up
   with the speaker's other utterances; a speaker with fewer than K utterances repeats them);
2. the chunks are shuffled and dealt into batches of P chunks of **distinct** speakers (a chunk
   whose speaker is already in the batch waits for the next one);
3. a last, incomplete batch is filled with chunks of speakers not yet in it, so every batch has
   exactly P x K items and **every speaker is visited every epoch** (every utterance at least once).

The batch list of an epoch depends only on ``(seed, epoch)``, so the sampler resumes
mid-epoch from ``state_dict() = {"epoch", "position", ...}``. Each item is ``(row, crop_seed)``: the manifest
row and a seed for its random crop, so crops are reproducible too. With speed perturbation
(``speed_copies`` factors, ``speed_prob``) each of a batch's P chunks is read, with probability ``speed_prob``,
at one of the factors, drawn from a second stream of the same ``(seed, epoch)`` (the batches themselves do not
change), and its K items are ``(row, crop_seed, copy)``, copy in 1..speed_copies: a chunk keeps one identity, so
its pairs stay target pairs of one (virtual) speaker, and a batch still holds P distinct speakers. With targeted
virtual speakers (``virtual_counts``: copies per speaker, most 0), a chunk of a speaker with n copies is read as
copy 0..n uniformly, from the same second stream.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PKBatchSampler"]


class PKBatchSampler:
    """Batches of ``speakers_per_batch`` x ``utts_per_speaker`` manifest rows.

    Parameters
    ----------
    spk_ids : sequence of str, shape (N,)
        Speaker of each manifest row.
    speakers_per_batch : int
        P, at most the number of speakers.
    utts_per_speaker : int
        K, >= 1 (>= 2 for pair losses: a batch then holds P*K*(K-1)/2 target pairs).
    seed : int
    speed_copies : int, speed_prob : float
        Speed factors to draw from, and the share of chunks read at one of them (0: none).
    virtual_counts : dict spk_id -> int, optional
        Targeted virtual copies per speaker (not with ``speed_copies``).
    rank, world_size : int
        Data-parallel training: every rank yields its contiguous slice (P / world_size speakers
        x K) of the same global batch; P must divide evenly.
    """

    def __init__(self, spk_ids, speakers_per_batch: int, utts_per_speaker: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, speed_copies: int = 0, speed_prob: float = 0.0, virtual_counts=None):
        spk_ids = np.asarray(spk_ids, dtype=object)
        self.speakers, codes = np.unique(spk_ids, return_inverse=True)
        if speakers_per_batch < 1 or utts_per_speaker < 1:
            raise ValueError("speakers_per_batch and utts_per_speaker must be >= 1")
        if speakers_per_batch > len(self.speakers):
            raise ValueError(f"speakers_per_batch={speakers_per_batch} but the manifest has only "
                             f"{len(self.speakers)} speakers")
        self.rows_of = [np.flatnonzero(codes == s) for s in range(len(self.speakers))]
        if speakers_per_batch % world_size:
            raise ValueError(f"speakers_per_batch={speakers_per_batch} does not split over {world_size} ranks; "
                             "make it a multiple of the number of processes")
        self.p, self.k, self.seed = speakers_per_batch, utts_per_speaker, seed
        self.rank, self.world_size = rank, world_size
        self.speed_copies, self.speed_prob = int(speed_copies), float(speed_prob)
        self.virtual = None
        if virtual_counts:
            if self.speed_copies and self.speed_prob > 0:
                raise ValueError("virtual_counts and speed_copies exclude each other")
            self.virtual = np.array([int(virtual_counts.get(s, 0)) for s in self.speakers], dtype=np.int64)
        self.epoch, self.position = 0, 0

    # --- the plan of one epoch ---------------------------------------------------------------

    def _chunks(self, rng) -> list:
        chunks = []
        for spk, rows in enumerate(self.rows_of):
            rows = rng.permutation(rows)
            n_chunks = max(1, -(-len(rows) // self.k))
            need = n_chunks * self.k - len(rows)
            if need:  # top up from the same speaker (with repeats if it has fewer than K)
                rows = np.concatenate([rows, rng.choice(rows, size=need, replace=need > len(rows))])
            for c in range(n_chunks):
                chunks.append((spk, rows[c * self.k:(c + 1) * self.k]))
        return [chunks[i] for i in rng.permutation(len(chunks))]

    def batches(self, epoch: int) -> list:
        """All batches of ``epoch``: list of lists of ``(row, crop_seed)``, each of length P*K."""
        rng = np.random.default_rng([self.seed, epoch])
        pending, batches, current, in_batch = self._chunks(rng), [], [], set()
        while pending:
            waiting = []
            for spk, rows in pending:
                if spk in in_batch:
                    waiting.append((spk, rows))
                    continue
                current.append((spk, rows))
                in_batch.add(spk)
                if len(current) == self.p:
                    batches.append(current)
                    current, in_batch = [], set()
            if len(waiting) == len(pending):  # only same-speaker chunks left: close the batch
                if not current:
                    current, in_batch = [waiting[0]], {waiting[0][0]}
                    waiting = waiting[1:]
                batches.append(self._fill(current, in_batch, rng))
                current, in_batch = [], set()
            pending = waiting
        if current:
            batches.append(self._fill(current, in_batch, rng))
        crop_seeds = rng.integers(0, 2 ** 31 - 1, size=(len(batches), self.p * self.k))
        if self.virtual is not None:
            draw = np.random.default_rng([self.seed, epoch, 1]).random((len(batches), self.p))
            counts = np.array([[self.virtual[spk] for spk, _ in batch] for batch in batches])
            copies = np.floor(draw * (counts + 1)).astype(np.int64)  # 0..n uniformly: itself or one of its n copies
            return [[(int(r), int(s), int(c)) for r, s, c in zip(np.concatenate([rows for _, rows in batch]), seeds,
                                                                 np.repeat(chunk_copies, self.k))]
                    for batch, seeds, chunk_copies in zip(batches, crop_seeds, copies)]
        if not (self.speed_copies and self.speed_prob > 0):
            return [[(int(r), int(s)) for r, s in zip(np.concatenate([rows for _, rows in batch]), seeds)]
                    for batch, seeds in zip(batches, crop_seeds)]
        speed = np.random.default_rng([self.seed, epoch, 1])  # its own stream: the batches are as without speed
        perturbed = speed.random((len(batches), self.p)) < self.speed_prob
        copies = np.where(perturbed, speed.integers(1, self.speed_copies + 1, size=(len(batches), self.p)), 0)
        return [[(int(r), int(s), int(c)) for r, s, c in zip(np.concatenate([rows for _, rows in batch]), seeds,
                                                             np.repeat(chunk_copies, self.k))]
                for batch, seeds, chunk_copies in zip(batches, crop_seeds, copies)]

    def _fill(self, current: list, in_batch: set, rng) -> list:
        """Top an incomplete batch up to P chunks with speakers not yet in it."""
        free = [s for s in range(len(self.speakers)) if s not in in_batch]
        for spk in rng.choice(free, size=self.p - len(current), replace=False):
            rows = self.rows_of[spk]
            current.append((int(spk), rng.choice(rows, size=self.k, replace=len(rows) < self.k)))
        return current

    # --- iteration and resume ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.batches(self.epoch))

    def __iter__(self):
        """Batches of the current epoch from the saved position (this rank's slice); then the epoch advances.

        The position counts global batches, so a run resumes under another number of ranks.
        """
        plan = self.batches(self.epoch)
        share = self.p // self.world_size * self.k
        while self.position < len(plan):
            batch = plan[self.position][self.rank * share:(self.rank + 1) * share]
            self.position += 1
            yield batch
        self.epoch, self.position = self.epoch + 1, 0

    def pending(self) -> list:
        """This rank's batches from the saved position to the end of the epoch, without moving.

        For loaders that read ahead (DataLoader workers): the trainer calls :meth:`advance` per
        trained batch and :meth:`end_epoch` after the last, so a checkpoint records what was trained,
        not what was prefetched.
        """
        share = self.p // self.world_size * self.k
        return [batch[self.rank * share:(self.rank + 1) * share]
                for batch in self.batches(self.epoch)[self.position:]]

    def advance(self) -> None:
        self.position += 1

    def end_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "p": self.p, "k": self.k}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["p"], state["k"]) != (self.seed, self.p, self.k):
            raise ValueError(f"sampler state is for seed/P/K {state['seed']}/{state['p']}/{state['k']}, "
                             f"not {self.seed}/{self.p}/{self.k}")
        if state.get("groups") is not None:  # region batches, a study variant that left the code (e14f2a4)
            raise ValueError("sampler state has region-batch groups (a retired study variant): resume it with "
                             "commit e14f2a4")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
