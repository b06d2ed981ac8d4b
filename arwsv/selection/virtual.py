"""Targeted virtual speakers, sized to the region they should enrich (label-free).

Uniform speed perturbation (x0.9 / x1.1 as new speakers) moves a copy far from its source in a crowded region: on
the benchmark a 10 % speed change moves the formant scale by 2 to 5 between-speaker standard deviations, so the
copies land outside the region they came from, or are told apart from speakers they should resemble. Here a
reference model (a finished ``arwsv train`` run, e.g. the uniform baseline) places every training speaker in its
embedding space, and:

1. the speakers are clustered (k-means on their mean embeddings, ``clusters`` regions) and the ``targets`` weakest
   regions are chosen by a label-free signal: ``crowding`` (the mean cosine between two of a region's speakers:
   the most crowded first) or ``difficulty`` (the EER of the region's own pairs of training utterances);
2. in each target region, ``probe_speakers`` speakers are perturbed with every candidate (transform, magnitude):
   ``speed`` (tempo and pitch) or ``shift`` (every frequency, tempo kept), factors 1 - m and 1 + m; a copy's
   **landing distance** is the cosine distance from the copy's mean embedding to its source's, and its
   **landing ratio** that distance over the region's median nearest-neighbour distance between real speakers
   (1: the copy sits as far from its source as a region member from its nearest neighbour: a new member);
3. each region takes the candidate whose median landing ratio is closest to 1 (in log scale); every training
   speaker of the region gets ``copies`` virtual copies (factors 1 - m, then 1 + m, then 1 - 2m, ...).

:func:`plan_virtual_speakers` returns the table (``spk_id,copy,transform,factor``: the recipe key
``augment.virtual_speakers``) and a report with every region's signal, every candidate's landing distances and
every training speaker's region (``region_of``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VirtualPlanSettings", "plan_virtual_speakers", "embed_speakers", "region_nn_distances"]

SIGNALS = ("crowding", "difficulty")


@dataclass(frozen=True)
class VirtualPlanSettings:
    """What :func:`plan_virtual_speakers` does (see the module docstring)."""

    # 32 regions, the 12 weakest (3/8 of them) targeted: with 8 regions the benchmark's minority-country women (122
    # of 2,000 speakers) share one region with as many minority-country men, whose mixed genders make it look
    # uncrowded, and neither signal targets them (5 % covered); with 16 or 32 regions both signals cover 79-100 % of
    # them (chosen on the benchmark with its labels, seed 0: results/levelup/bench/regions_k.md; the
    # untuned corpora test it)
    clusters: int = 32
    targets: int = 12
    signal: str = "crowding"
    copies: int = 2
    transforms: tuple = ("speed", "shift")
    magnitudes: tuple = (0.01, 0.02, 0.03, 0.05, 0.1)
    probe_speakers: int = 20
    utts: int = 2
    seed: int = 0

    def check(self) -> None:
        from arwsv.data.augment import TRANSFORMS

        rules = [(self.clusters >= 2, "--clusters must be >= 2"),
                 (1 <= self.targets <= self.clusters, "--targets must be in [1, clusters]"),
                 (self.signal in SIGNALS, f"--signal must be one of {', '.join(SIGNALS)}"),
                 (1 <= self.copies <= 8, "--copies must be in [1, 8]"),
                 (bool(self.transforms) and all(t in TRANSFORMS and t != "none" for t in self.transforms),
                  f"--transforms must be drawn from {', '.join(t for t in TRANSFORMS if t != 'none')}"),
                 (bool(self.magnitudes) and all(0 < m < 0.5 for m in self.magnitudes),
                  "--magnitudes must be in (0, 0.5)"),
                 (self.probe_speakers >= 2, "--probe-speakers must be >= 2"),
                 (self.utts >= 1, "--utts must be >= 1")]
        for ok, message in rules:
            if not ok:
                raise ValueError(message)

    def factors(self, magnitude: float) -> list:
        """The copies' factors for one magnitude: 1 - m, 1 + m, 1 - 2m, 1 + 2m, ..."""
        return [1.0 + (-1) ** (c + 1) * magnitude * (c // 2 + 1) for c in range(self.copies)]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def embed_speakers(features, model, rows_of: list, *, transform: str = "speed", factor: float = 1.0,
                   device: str = "cpu") -> tuple:
    """Embeddings of speakers' utterances, each perturbed by ``transform`` at ``factor`` (1: clean).

    ``rows_of``: per speaker a list of manifest rows (dicts with ``wav``, ``start``, ``stop``). Returns
    ``(speaker means (S, D) unit, utterance embeddings (U, D) unit, speaker index of each utterance (U,))``."""
    import torch

    from arwsv.data.audio import SAMPLE_RATE, read_audio
    from arwsv.data.augment import apply_shift, apply_speed

    utterances, owner = [], []
    with torch.no_grad():
        for s, rows in enumerate(rows_of):
            for row in rows:
                stop = int(float(row["stop"])) if str(row.get("stop", "")) not in ("", "-1") else None
                wave, notes = read_audio(row["wav"], int(float(row.get("start") or 0)), stop)
                if wave is None:
                    from arwsv.errors import InputError

                    raise InputError(f"cannot read utterance {row.get('ID') or row.get('id')}: "
                                     f"{','.join(notes) or 'unusable'}", row["wav"])
                if factor != 1.0:
                    wave = apply_speed(wave, factor, SAMPLE_RATE, len(wave)) if transform == "speed" else \
                        apply_shift(wave, factor, SAMPLE_RATE)
                batch = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None].to(device)
                utterances.append(model(features(batch)).reshape(-1).float().cpu().numpy())
                owner.append(s)
    utterances, owner = _unit(np.asarray(utterances, dtype=np.float64)), np.asarray(owner)
    sums = np.zeros((len(rows_of), utterances.shape[1]))
    np.add.at(sums, owner, utterances)
    return _unit(sums), utterances, owner


def region_nn_distances(unit: np.ndarray) -> np.ndarray:
    """Each speaker's cosine distance (N,) to its nearest other speaker among the rows ``unit`` (N, D)."""
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    return 1.0 - cos.max(axis=1)


def _pair_eer(unit: np.ndarray, owner: np.ndarray) -> float:
    from arwsv.selection.signals import _pair_eer as pair_eer

    return pair_eer(unit, owner)


def plan_virtual_speakers(model_dir, manifest, settings: VirtualPlanSettings, *, device: str = "cpu",
                          progress: bool = True) -> tuple:
    """``(table, report)``: the targeted virtual speakers of the training speakers in ``manifest`` (a pandas
    DataFrame ``spk_id, copy, transform, factor``) and the report (regions, signals, landing distances)."""
    import pandas as pd
    import torch
    from sklearn.cluster import KMeans
    from tqdm.auto import tqdm

    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import load_model
    from arwsv.training.reweighting import cluster_crowding

    settings.check()
    features, model, _ = load_model(model_dir, device=device)
    rows = load_manifest_rows(manifest)
    by_speaker = {}
    for row in sorted(rows, key=lambda r: r["ID"] if "ID" in r else r["id"]):
        by_speaker.setdefault(row["spk_id"], []).append(row)
    speakers = sorted(by_speaker)
    rows_of = [by_speaker[s][: settings.utts] for s in speakers]
    torch.manual_seed(settings.seed)
    bar = tqdm(total=2, desc="reference embeddings", unit="pass", disable=not progress or None)
    means, utterances, owner = embed_speakers(features, model, rows_of, device=device)
    bar.update()
    kmeans = KMeans(n_clusters=settings.clusters, n_init=10, random_state=settings.seed).fit(means)
    labels = kmeans.labels_
    sizes, crowding = cluster_crowding(means, labels, settings.clusters)
    difficulty = np.array([_pair_eer(utterances[labels[owner] == c], owner[labels[owner] == c])
                           if sizes[c] >= 2 else np.nan for c in range(settings.clusters)])
    bar.update()
    bar.close()
    signal = crowding if settings.signal == "crowding" else difficulty
    order = [int(c) for c in np.argsort(-np.nan_to_num(signal, nan=-np.inf), kind="stable")]
    targets = [c for c in order if sizes[c] >= 2][: settings.targets]
    rng = np.random.default_rng(settings.seed)
    regions, table = [], []
    candidates = [(t, m) for t in settings.transforms for m in settings.magnitudes]
    bar = tqdm(total=len(targets) * len(candidates), desc="landing distances", unit="candidate",
               disable=not progress or None)
    for c in targets:
        members = np.flatnonzero(labels == c)
        nn = region_nn_distances(means[members])
        probe = np.sort(rng.choice(members, size=min(settings.probe_speakers, len(members)), replace=False))
        scale = float(np.median(nn))
        measured = []
        for transform, magnitude in candidates:
            landing, nearest_other = [], []
            for factor in settings.factors(magnitude)[:2]:
                copy, _, _ = embed_speakers(features, model, [rows_of[s] for s in probe], transform=transform,
                                            factor=factor, device=device)
                landing += (1.0 - np.sum(copy * means[probe], axis=1)).tolist()
                others = copy @ means[members].T
                others[np.arange(len(probe)), np.searchsorted(members, probe)] = -np.inf  # not its source
                nearest_other += (1.0 - others.max(axis=1)).tolist()
            ratio = float(np.median(landing)) / scale if scale > 0 else float("inf")
            measured.append({"transform": transform, "magnitude": magnitude, "landing_median": float(np.median(landing)),
                             "landing_ratio": ratio, "nearest_other_median": float(np.median(nearest_other))})
            bar.update()
        best = min(measured, key=lambda m: abs(np.log(max(m["landing_ratio"], 1e-12))))
        for s in members:
            for copy_index, factor in enumerate(settings.factors(best["magnitude"]), start=1):
                table.append({"spk_id": speakers[s], "copy": copy_index, "transform": best["transform"],
                              "factor": round(factor, 6)})
        regions.append({"region": c, "speakers": int(sizes[c]), "crowding": float(crowding[c]),
                        "difficulty": float(difficulty[c]), "nn_distance_median": scale,
                        "nn_distance_quartiles": [float(q) for q in np.percentile(nn, [25, 75])],
                        "probe_speakers": len(probe), "chosen": best, "candidates": measured})
    bar.close()
    report = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
              "model": str(model_dir), "manifest": str(manifest), "speakers": len(speakers),
              "added_identities": len(table),
              "regions_all": [{"region": c, "speakers": int(sizes[c]), "crowding": float(crowding[c]),
                               "difficulty": float(difficulty[c])} for c in range(settings.clusters)],
              "targets": regions, "region_of": dict(zip(speakers, (int(x) for x in labels)))}
    return pd.DataFrame(table, columns=["spk_id", "copy", "transform", "factor"]), report
