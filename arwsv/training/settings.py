"""The ``reweighting`` block of a recipe as one typed, validated structure: the single list of methods and
the single place for defaults.

``ReweightingSettings.from_block(block, recipe_path)`` reads the block (keys absent take the defaults here),
refuses unknown keys, wrong types and out-of-range values naming the key, and refuses the keys of study
variants that left the code, naming the commit that still has them (their rows stay in ``results/``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from arwsv.errors import InputError

__all__ = ["METHODS", "ADVERSARIAL", "ReweightingSettings", "RETIRED_COMMIT"]

METHODS = ("none", "pw", "aps", "pl", "oracle", "crowding", "speaker_factors")
ADVERSARIAL = ("pw", "aps", "pl")  # the methods with an adversary

# the last commit with the study variants that lost (results/bench_study/README.md keeps their rows)
RETIRED_COMMIT = "e14f2a4"
_RETIRED = {
    "batch_regions": "region batches (baseline_regionbatches, arw_regionbatches)",
    "adversary_objective": "the adversary's objectives aam and pairs (arw_aam, arw_aam_weak, arw_holdout)",
    "adversary_holdout": "the held-out adversary (arw_holdout, pl_holdout, pl_holdout_regions*)",
    "adversary_batch_regions": "held-out region batches (pl_holdout_regions*)",
    "adversary_memory": "PL's region loss memory (pl_memory*)",
    "adversary_input": "the Fbank-summary input of the adversary (toy tuning)",
    "pair_rule": "the product and max pair rules (pairs weigh the sum of their sample weights, PW)",
}
_RENAMED = {"regions": "region_priors (pw, aps: k-means regions of the adversary's priors), pseudo_groups (pl) or "
                       "crowding_clusters (crowding)"}


@dataclass(frozen=True)
class ReweightingSettings:
    """What a run reweighs with; every method reads the fields of its own group.

    method : one of :data:`METHODS`
    warmup_steps : uniform weights for the first steps, whatever the method
    adversary_hidden, adversary_lr, adversary_steps : the adversary (pw, aps, pl): one hidden layer, its Adam
        step, its ascent steps per learner step
    region_priors : pw, aps: k-means K of the adversary's per-region priors (0: none)
    pseudo_groups : pl: k-means K of the pseudo-groups, one logit each
    region_refit_every, memory_bank : the k-means of region priors and pseudo-groups: refit period (steps), bank
        of recent embeddings it is fitted on
    crowding_clusters, crowding_beta, crowding_restarts, crowding_utts, crowding_reference : crowding: k-means K
        of the training speakers, the crowding's strength, k-means restarts averaged, utterances per speaker
        embedded, and the trained model (a folder, arwsv train's output or SpeechBrain's pretrained layout) whose
        embeddings give the factors, once, before the first step (two passes)
    speaker_factors : speaker_factors: a CSV ``spk_id,factor``
    """

    method: str = "none"
    warmup_steps: int = 0
    adversary_hidden: int = 64
    adversary_lr: float = 0.01
    adversary_steps: int = 1
    region_priors: int = 0
    pseudo_groups: int = 0
    region_refit_every: int = 100
    memory_bank: int = 2048
    crowding_clusters: int = 0
    crowding_beta: float = 10.0
    crowding_restarts: int = 8
    crowding_utts: int = 2
    crowding_reference: str | None = None
    speaker_factors: str | None = None

    @property
    def regions(self) -> int:
        """k-means K of the run's regions (region priors or pseudo-groups; 0: none)."""
        return self.pseudo_groups if self.method == "pl" else self.region_priors if self.method in ADVERSARIAL else 0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_block(cls, block: dict | None, path=None) -> "ReweightingSettings":
        block = dict(block or {})
        for key in block:
            if key in _RENAMED:
                raise InputError(f"reweighting.{key} is now {_RENAMED[key]}", path)
            if key in _RETIRED:
                raise InputError(f"reweighting.{key}: {_RETIRED[key]} lost in the study and left the code; its rows "
                                 f"stay in results/ and commit {RETIRED_COMMIT} still runs it", path)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(block) - known)
        if unknown:
            raise InputError(f"unknown reweighting key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                             path)
        settings = cls(**block)
        settings._check(path)
        return settings

    def _check(self, path) -> None:
        def fail(message):
            raise InputError(message, path)

        if self.method not in METHODS:
            fail(f"reweighting.method is {self.method!r}; expected one of {', '.join(METHODS)}")
        ints = {"warmup_steps": 0, "adversary_hidden": 1, "adversary_steps": 1, "region_priors": 0,
                "pseudo_groups": 0, "region_refit_every": 1, "memory_bank": 2, "crowding_clusters": 0,
                "crowding_restarts": 1, "crowding_utts": 1}
        for key, low in ints.items():
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                fail(f"reweighting.{key} must be an integer >= {low}, got {value!r}")
        lr = self.adversary_lr
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
            fail(f"reweighting.adversary_lr must be > 0, got {lr!r}")
        beta = self.crowding_beta
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0 <= beta < 1000:
            fail(f"reweighting.crowding_beta must be a number in [0, 1000), got {beta!r}")
        if self.method == "pl" and self.pseudo_groups < 2:
            fail("reweighting.method: pl weighs k-means pseudo-groups: set reweighting.pseudo_groups >= 2")
        if self.method == "crowding" and self.crowding_clusters < 2:
            fail("reweighting.method: crowding weighs k-means clusters of the speakers: set "
                 "reweighting.crowding_clusters >= 2")
        if self.memory_bank < self.regions:
            fail("reweighting.memory_bank must hold at least region_priors / pseudo_groups embeddings")
        for key, method, what in (("crowding_reference", "crowding", "a model folder (arwsv train's output, or a "
                                   "pretrained model with hyperparams.yaml and embedding_model.ckpt)"),
                                  ("speaker_factors", "speaker_factors", "a CSV file (spk_id,factor)")):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                fail(f"reweighting.{key} must be {what}, got {value!r}")
            if (value is None) == (self.method == method):
                fail(f"reweighting.method: {method} and reweighting.{key} ({what}) go together")
