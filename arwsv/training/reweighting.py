"""Adversarial reweighting (ARW) for pairs: sample weights, pair weights, the adversary, region priors.

Lahoti et al. (2020) let an adversary give each training sample a logit ``a_i`` and weigh it
``λ_i = 1 + n σ(a_i) / Σ_j σ(a_j)`` (so λ ≥ 1 and mean λ = 2); the adversary maximises the
weighted loss, the learner minimises it. Jin et al. (2022) carry this to verification pairs; their
best variant, PW, weighs a pair by the **sum** of its two sample weights and tells the adversary
which **k-means region** of the embedding space a sample lies in (region priors), so it can raise
whole hard regions as well as single samples.

Variants (recipe switch ``reweighting.method``)
-----------------------------------------------
They differ **only in how the sample weights λ are produced**; pair weights (the sum of the two
sample weights), the weighted losses and the min-max loop are shared (:mod:`arwsv.training.methods`). The paper gives no
details of APS and PL; these are our readings of their names and one-line descriptions.

``pw``
    Pairwise weighting (the paper's best). Adversary input: the sample's embedding;
    logit = MLP(embedding) + prior[k-means region].
``aps``
    Accumulated pairwise similarity. The adversary sees no embedding, only the sample's
    **similarity profile within the batch** (:func:`similarity_profile`): the mean and the worst
    cosine to its same-speaker samples and the mean and the worst cosine to other speakers'
    samples, i.e. its pairwise similarities accumulated per sample. Hard samples (far from their
    own speaker, close to others) are what it can find; logit = MLP(profile) + prior[region].
``pl``
    Pseudo-labelling. The k-means regions serve as **pseudo-groups** and the adversary has one
    logit per pseudo-group and nothing else (``Adversary(input_dim=0, regions=K)``), so every
    sample of a region gets the same weight: group-level ARW (close to group DRO) with the unknown
    demographic groups approximated by clusters.
``oracle``
    Not ARW: a reference that **does** use the demographic labels (gender x nationality of the
    training manifest), with fixed group-balanced weights (:func:`group_balanced_factors`), every
    group carrying the same total weight. It shows what reweighting by the true groups does; like the
    ARW variants it keeps uniform weights for the first ``warmup_steps`` (one schedule for all).
``crowding``
    Not ARW either, but label-free: the oracle's group-balanced weights with the groups replaced
    by k-means clusters of the training speakers (pseudo-groups, as in PL), and every cluster's
    factor raised by its **crowding** (:func:`crowding_factors`), computed once from a trained
    reference model's embeddings (two passes). The bench measurements (results/bench_signals_heldout.md)
    found every loss an adversary can maximise confounded with group size: a small group's speakers
    meet few of their confusers in a batch, so they look easy. A cluster's crowding, the mean cosine
    between two of its speakers, does not grow with its count.
``speaker_factors``
    Fixed per-speaker factors read from a CSV (``spk_id,factor``), used as the oracle's are: how
    ``arwsv select`` trains its candidates (factors from a reference model's embeddings, no labels), and
    how a user brings weights of their own.
``none``
    Uniform weights (the baseline).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["sample_weights", "pairwise_weights", "Adversary", "RegionPriors", "similarity_profile",
           "group_balanced_factors", "oracle_weights", "cluster_crowding", "crowding_factors", "PROFILE_SIZE"]

PROFILE_SIZE = 4  # columns of similarity_profile


def sample_weights(logits: torch.Tensor) -> torch.Tensor:
    """λ_i = 1 + n σ(a_i) / Σ_j σ(a_j), shape (n,) -> (n,).

    Computed as ``1 + n softmax(log σ(a))``: the same value, but finite for any finite logits
    (all equal, huge or hugely negative), where the direct ratio can be 0/0.
    """
    n = logits.shape[0]
    return 1.0 + n * torch.softmax(F.logsigmoid(logits), dim=0)


def pairwise_weights(weights: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Weight of each pair (rows[m], cols[m]) from sample weights (B,): the sum λ_i + λ_j (the paper's PW); (M,).

    Built as a (B, B) matrix and read once per pair, so the adversary's backward pass has no
    index accumulation (its CPU summation order is not fixed: runs would differ)."""
    return (weights[:, None] + weights[None, :])[rows, cols]


def similarity_profile(embeddings: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
    """APS input: each sample's cosine similarities to the rest of the batch, accumulated.

    Shapes: ``embeddings (B, D), speakers (B,) -> (B, 4)`` with columns mean and minimum cosine to
    the sample's same-speaker samples, mean and maximum cosine to other speakers' samples. A sample
    with no partner of a kind (its speaker's other crops were unreadable) gets 0 there.
    """
    unit = F.normalize(embeddings.detach().float(), dim=-1)
    cosine = unit @ unit.T
    same = speakers[:, None] == speakers[None, :]
    same.fill_diagonal_(False)
    other = speakers[:, None] != speakers[None, :]

    def mean(mask):
        return (cosine * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    def extreme(mask, fill, reduce):
        value = reduce(torch.where(mask, cosine, torch.full_like(cosine, fill)), dim=1).values
        return torch.where(mask.any(dim=1), value, torch.zeros_like(value))

    return torch.stack([mean(same), extreme(same, float("inf"), torch.min),
                        mean(other), extreme(other, float("-inf"), torch.max)], dim=1).to(embeddings.dtype)


def group_balanced_factors(groups) -> np.ndarray:
    """Inverse group frequencies: ``groups`` (N,) labels -> (N,) factors ``N / (G * n_g)``.

    Every group then carries the same total weight (N / G) and the mean factor is 1.
    """
    codes, counts = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True, return_counts=True)[1:]
    return len(codes) / (len(counts) * counts[codes])


def oracle_weights(factors: torch.Tensor) -> torch.Tensor:
    """Batch weights from fixed per-sample factors (B,): ``λ_i = n f_i / Σ_j f_j`` (mean 1, (B,)).

    Proportional to the factors, so group balance is kept exactly; the losses divide by the sum of
    the weights, so their scale (mean 1 here, 2 for ARW) does not matter.
    """
    return len(factors) * factors / factors.sum()


def cluster_crowding(unit: np.ndarray, labels: np.ndarray, k: int) -> tuple:
    """Size (k,) and crowding (k,) of each of ``k`` clusters of unit rows ``unit`` (N, D) with ``labels``
    (N,) in 0..k-1: the crowding is the mean cosine between two of its members, in closed form
    ``(|Σ_i x_i|² - n) / (n (n - 1))``; NaN for a cluster of fewer than two."""
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, unit.shape[1]))
    np.add.at(sums, labels, unit)
    pairs = sizes * (sizes - 1)
    return sizes, np.divide((sums ** 2).sum(axis=1) - sizes, pairs, out=np.full(k, np.nan), where=pairs > 0)


def restart_clusterings(speakers: np.ndarray, clusters: int, *, restarts: int, seed: int):
    """The k-means clusterings behind :func:`cluster_factors`: for speaker embeddings (N, D), yields per restart
    the fitted ``KMeans`` (K = ``clusters``, at most N, on the unit rows) with its cluster sizes (K,) and
    :func:`cluster_crowding` (K,). Restart r uses ``random_state = seed * restarts + r``."""
    from sklearn.cluster import KMeans

    unit = np.asarray(speakers, dtype=np.float64)
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True).clip(min=1e-12)
    k = min(clusters, len(unit))
    for restart in range(restarts):
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed * restarts + restart).fit(unit)
        yield (kmeans, *cluster_crowding(unit, kmeans.labels_, k))


def cluster_factors(speakers: np.ndarray, clusters: int, *, beta: float, cluster_signal, restarts: int = 8,
                    seed: int = 0) -> np.ndarray:
    """Per-speaker factors (N,), mean 1, from speaker embeddings (N, D) and a per-cluster signal.

    Each of ``restarts`` k-means clusterings (K = ``clusters``, on the unit rows) gives a speaker of cluster c
    the log factor ``beta s_c - log n_c``: ``n_c`` its size (balancing the clusters, as the oracle balances the
    true groups) and ``s_c = cluster_signal(kmeans, sizes, crowding)[c]``, the signal of the fitted
    ``KMeans`` (its sizes (K,) and :func:`cluster_crowding` (K,) given); an undefined (NaN) signal takes the
    mean of the defined ones, 0 if none. The log factors are averaged over the restarts, because small clusters
    merge or split with one clustering's initialisation; the factors are then scaled to mean 1.
    """
    logs = np.zeros(len(speakers))
    for kmeans, sizes, crowding in restart_clusterings(speakers, clusters, restarts=restarts, seed=seed):
        labels = kmeans.labels_
        value = np.asarray(cluster_signal(kmeans, sizes, crowding), dtype=np.float64)
        value = np.where(np.isnan(value), np.nanmean(value) if np.isfinite(value).any() else 0.0, value)
        logs += (beta * value - np.log(sizes.clip(min=1)))[labels]
    logs /= restarts
    factors = np.exp(logs - logs.max())
    return factors / factors.mean()


def crowding_factors(speakers: np.ndarray, regions: int, *, beta: float, restarts: int = 8, seed: int = 0) -> np.ndarray:
    """Label-free stand-in for :func:`group_balanced_factors`: speaker embeddings (N, D) -> factors (N,), mean 1.

    :func:`cluster_factors` with K = ``regions`` and each cluster's **crowding** as its signal, the mean cosine
    between two of its speakers (:func:`cluster_crowding`; a cluster of one: the mean crowding).
    """
    return cluster_factors(speakers, regions, beta=beta, restarts=restarts, seed=seed,
                           cluster_signal=lambda kmeans, sizes, crowding: crowding)


class Adversary(torch.nn.Module):
    """Maps a sample's representation and k-means region to a logit a_i.

    ``logit = MLP(x) + prior[region]``: one hidden layer (as in Lahoti et al.'s reference code)
    plus a learned per-region prior that can lift a whole region at once.

    Parameters
    ----------
    input_dim : int
        Size of x: the embedding size (PW), 4 (APS, :func:`similarity_profile`) or 0: no MLP, the region
        prior alone (PL).
    hidden : int
    regions : int
        Number of k-means regions (0: no region priors).

    Shapes: ``forward(x (B, input_dim), region (B,) long or None) -> (B,)``.
    """

    def __init__(self, input_dim: int, hidden: int = 64, regions: int = 0):
        super().__init__()
        if input_dim == 0 and regions == 0:
            raise ValueError("an adversary needs an input (input_dim > 0) or regions (regions > 0)")
        self.mlp = torch.nn.Sequential(torch.nn.Linear(input_dim, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 1)) if input_dim > 0 else None
        self.region_prior = torch.nn.Embedding(regions, 1) if regions > 0 else None
        if self.region_prior is not None:
            torch.nn.init.zeros_(self.region_prior.weight)  # no region is favoured before training

    def forward(self, x: torch.Tensor | None, region: torch.Tensor | None = None) -> torch.Tensor:
        if self.mlp is not None:
            logit = self.mlp(x).squeeze(-1)
        else:  # PL: the pseudo-group's logit alone (region 0 for all before the first k-means fit)
            logit = self.region_prior.weight.new_zeros(len(region))
        if self.region_prior is not None and region is not None:
            # one-hot @ table rather than a lookup: the lookup's backward adds rows by index, in an
            # order that varies between CPU runs; a matmul sums in a fixed order (same seed, same run)
            prior = self.region_prior.weight
            logit = logit + (F.one_hot(region, prior.shape[0]).to(prior.dtype) @ prior).squeeze(-1)
        return logit


class RegionPriors:
    """k-means regions of the embedding space, from a memory bank of recent training embeddings.

    ``update(embeddings (B, D))`` adds a batch to the bank (the oldest leave first);
    ``refit(step)`` fits scikit-learn's KMeans on the bank when the schedule says so, starting
    from the previous centroids so that region numbers (and the adversary's per-region priors)
    keep referring to the same part of the space;
    ``assign(embeddings (B, D)) -> (B,)`` gives each sample its nearest centroid (cosine), or
    region 0 before the first fit. Bank, centroids and schedule are saved with the checkpoint.
    """

    def __init__(self, regions: int, bank_size: int = 2048, refit_every: int = 100, seed: int = 0):
        self.regions, self.bank_size, self.refit_every, self.seed = regions, bank_size, refit_every, seed
        self.bank: torch.Tensor | None = None
        self.centroids: torch.Tensor | None = None
        self.fits = 0
        self.last_fit_step = -1
        self._on_device = None  # (centroids, their copy on the embeddings' device)

    def update(self, embeddings: torch.Tensor) -> None:
        # the bank stays on the embeddings' device: copying each batch to the host would make the GPU
        # wait every step; it moves to the CPU only for a refit or a checkpoint
        new = F.normalize(embeddings.detach().float(), dim=-1)
        self.bank = new if self.bank is None else torch.cat([self.bank.to(new.device), new])[-self.bank_size:]

    def due(self, step: int) -> bool:
        ready = self.bank is not None and len(self.bank) >= max(self.regions, 2)
        return ready and (self.centroids is None or step - self.last_fit_step >= self.refit_every)

    def refit(self, step: int) -> bool:
        """Fit k-means if due; True when it did. Deterministic given the bank and the fit count."""
        if self.regions <= 0 or not self.due(step):
            return False
        from sklearn.cluster import KMeans

        if self.centroids is None:
            kmeans = KMeans(n_clusters=self.regions, n_init=3, random_state=self.seed)
        else:  # start from the last centroids, so region r stays region r and its learned prior keeps meaning
            kmeans = KMeans(n_clusters=self.regions, init=self.centroids.numpy().astype(np.float64), n_init=1)
        kmeans.fit(self.bank.cpu().numpy().astype(np.float64))
        self.centroids = F.normalize(torch.from_numpy(kmeans.cluster_centers_).float(), dim=-1)
        self.fits += 1
        self.last_fit_step = step
        return True

    def assign(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.centroids is None:
            return torch.zeros(len(embeddings), dtype=torch.long, device=embeddings.device)
        unit = F.normalize(embeddings.detach().float(), dim=-1)
        if self._on_device is None or self._on_device[0] is not self.centroids or self._on_device[1].device != unit.device:
            self._on_device = (self.centroids, self.centroids.to(unit.device))  # one copy per fit, not per step
        return (unit @ self._on_device[1].T).argmax(dim=-1)

    def state_dict(self) -> dict:
        return {"bank": None if self.bank is None else self.bank.cpu(), "centroids": self.centroids,
                "fits": self.fits, "last_fit_step": self.last_fit_step, "regions": self.regions}

    def load_state_dict(self, state: dict) -> None:
        if state["regions"] != self.regions:
            raise ValueError(f"checkpoint has {state['regions']} regions, the recipe {self.regions}")
        self.bank, self.centroids = state["bank"], state["centroids"]
        self.fits, self.last_fit_step = int(state["fits"]), int(state["last_fit_step"])
