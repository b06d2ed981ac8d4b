"""Recipes: hyperpyyaml files (SpeechBrain's YAML dialect) plus ``--key=value`` overrides.

The YAML says *what* (model, loss, reweighting, schedule); :mod:`arwsv.training.run` says *how*.
Overrides name keys with dots for nesting (``--reweighting.regions=4``); their values are YAML
(``--epochs=3``, ``--reweighting.method=none``). An override of a key the recipe does not have,
or of the wrong type (a word where the recipe has a number), is refused naming the key.
"""

from __future__ import annotations

import io
from pathlib import Path

from arwsv.errors import InputError

__all__ = ["parse_overrides", "load_recipe", "recipe_seed", "recipe_changes", "REWEIGHTING_DEFAULTS"]

REWEIGHTING_DEFAULTS = {
    "method": "none",               # none | pw | aps | pl | oracle | crowding (arwsv.training.reweighting)
    "pair_rule": "sum",             # sum (PW) | product | max
    "adversary_input": "embedding",  # embedding | features
    "adversary_hidden": 64,
    "adversary_lr": 0.01,
    "adversary_steps": 1,           # adversary steps per learner step
    "warmup_steps": 0,
    "regions": 0,                   # k-means K; 0 = no region priors
    "region_refit_every": 100,
    "memory_bank": 2048,
    "batch_regions": 0,             # > 0: from epoch 2, batches drawn region by region (k-means of speakers)
    "adversary_objective": "loss",  # what the adversary maximises: loss (the learner's) | aam | pairs
    "adversary_holdout": 0.0,       # > 0: this share of training speakers is kept from the learner and the
                                    # adversary maximises their loss (speakers the learner has not memorised)
    "adversary_batch_regions": 0,   # > 0 (with adversary_holdout): from epoch 2, the held-out batches are drawn
                                    # region by region (k-means of the held-out speakers), negatives are neighbours
    "adversary_memory": 0.0,        # in (0, 1), method pl: the adversary ascends on every region's running mean
                                    # loss (this decay per step), not on one batch (RegionLossMemory)
    "crowding_beta": 10.0,          # method crowding: a cluster's factor is exp(beta x crowding) / size
    "crowding_restarts": 8,         # method crowding: k-means clusterings averaged (log factors)
    "crowding_utts": 2,             # method crowding: utterances per speaker embedded (one crop each)
    "crowding_reference": None,     # method crowding: a trained model folder (e.g. the baseline's): factors from
                                    # its embeddings, once, for the whole run (two passes), not every epoch
    "speaker_factors": None,        # method speaker_factors: a CSV (spk_id,factor) of fixed per-speaker factors,
                                    # e.g. written by arwsv select from a reference model (label-free)
}
_CHOICES = {"method": ("none", "pw", "aps", "pl", "oracle", "crowding", "speaker_factors"),
            "pair_rule": ("sum", "product", "max"),
            "adversary_input": ("embedding", "features"), "adversary_objective": ("loss", "aam", "pairs")}


def parse_overrides(items: list) -> dict:
    """``["--a=1", "--b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}`` (values parsed as YAML)."""
    import yaml

    out = {}
    for item in items:
        if not item.startswith("--") or "=" not in item:
            raise InputError(f"override {item!r} must look like --key=value")
        key, value = item[2:].split("=", 1)
        try:
            parsed = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as a string; it is the number users mean
            try:
                parsed = int(parsed) if parsed.lstrip("+-").isdigit() else float(parsed)
            except ValueError:
                pass
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = parsed
    return out


def _check_overrides(tree, overrides: dict, recipe, prefix: str = "") -> None:
    for key, value in overrides.items():
        name = prefix + key
        if prefix == "reweighting." and key in REWEIGHTING_DEFAULTS and key not in tree:
            continue  # a reweighting knob with a default (checked with the block in load_recipe)
        if not hasattr(tree, "keys") or key not in tree:
            known = ", ".join(sorted(str(k) for k in tree.keys())) if hasattr(tree, "keys") else "none"
            raise InputError(f"unknown recipe key {name!r} (keys here: {known})", recipe)
        current = tree[key]
        if isinstance(value, dict):
            _check_overrides(current, value, recipe, name + ".")
            continue
        tagged = getattr(current, "tag", None) is not None and str(getattr(current.tag, "value", current.tag) or "")
        if tagged or current is None:
            continue  # a !ref / !new value or an empty one: any override goes
        # ruamel's round-trip types (ScalarFloat, CommentedSeq, ...) subclass the plain ones
        expected = next(t for t in (bool, int, float, str, list, dict, object) if isinstance(current, t))
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        if expected is bool or isinstance(value, bool):
            ok = isinstance(value, bool) and expected is bool
        if not ok:
            raise InputError(f"recipe key {name!r} is {expected.__name__} ({current!r}); got {value!r}", recipe)


def recipe_seed(path, overrides: dict) -> int:
    """The seed a recipe will run with (the override, else the recipe's ``seed``), before building it."""
    import ruamel.yaml

    if "seed" in overrides:
        seed = overrides["seed"]
    else:
        try:
            seed = ruamel.yaml.YAML(typ="rt").load(Path(path).read_text(encoding="utf-8")).get("seed", 0)
        except FileNotFoundError:
            raise InputError("no such recipe", path) from None
        except Exception:  # a broken recipe is reported by load_recipe with its details
            seed = 0
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}", path)
    return seed


def recipe_changes(recorded: str, resolved: str) -> list:
    """The lines in which two resolved recipes differ, comments and layout aside (``-`` recorded, ``+``
    resolved); empty when they build the same run. A reworded comment in a recipe must neither
    refuse a ``--resume`` nor make a study train a finished run again."""
    import difflib

    import yaml

    def tokens(text):  # YAML's scanner drops comments and reads tags without building anything; a
        # scalar's quoting stays (1 and "1", null and "null" build different values)
        return [(type(t).__name__, getattr(t, "value", None), getattr(t, "plain", None), getattr(t, "style", None))
                for t in yaml.scan(text)]

    try:
        if recorded == resolved or tokens(recorded) == tokens(resolved):
            return []
    except yaml.YAMLError:  # a damaged record: compare as text
        pass
    lines = [line for line in difflib.unified_diff(recorded.splitlines(), resolved.splitlines(), lineterm="", n=0)
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return [line for line in lines if not line[1:].lstrip().startswith("#")] or lines


def load_recipe(path, overrides: dict):
    """Load a recipe with overrides; returns ``(hparams, resolved_yaml_text)``."""
    import ruamel.yaml
    from hyperpyyaml import load_hyperpyyaml, resolve_references

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such recipe", path) from None
    try:
        tree = ruamel.yaml.YAML(typ="rt").load(text)
    except ruamel.yaml.YAMLError as err:
        raise InputError(f"not valid YAML: {str(err).splitlines()[0]}", path) from None
    _check_overrides(tree, overrides, path)
    try:
        resolved = resolve_references(io.StringIO(text), overrides).getvalue()
        hparams = load_hyperpyyaml(text, overrides)
    except Exception as err:  # hyperpyyaml raises many types for a bad recipe (ImportError, TypeError, ...)
        raise InputError(f"cannot build the recipe: {type(err).__name__}: {str(err).splitlines()[0]}", path) from None
    reweighting = dict(REWEIGHTING_DEFAULTS)
    unknown = set(hparams.get("reweighting") or {}) - set(REWEIGHTING_DEFAULTS)
    if unknown:
        raise InputError(f"unknown reweighting key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(REWEIGHTING_DEFAULTS)})", path)
    reweighting.update(hparams.get("reweighting") or {})
    for key, choices in _CHOICES.items():
        if reweighting[key] not in choices:
            raise InputError(f"reweighting.{key} is {reweighting[key]!r}; expected one of {', '.join(choices)}", path)
    limits = {"adversary_hidden": 1, "adversary_steps": 1, "warmup_steps": 0, "regions": 0, "region_refit_every": 1,
              "memory_bank": 2, "batch_regions": 0, "adversary_batch_regions": 0, "crowding_restarts": 1,
              "crowding_utts": 1}
    for key, low in limits.items():
        if not isinstance(reweighting[key], int) or isinstance(reweighting[key], bool) or reweighting[key] < low:
            raise InputError(f"reweighting.{key} must be an integer >= {low}, got {reweighting[key]!r}", path)
    if not isinstance(reweighting["adversary_lr"], (int, float)) or reweighting["adversary_lr"] <= 0:
        raise InputError(f"reweighting.adversary_lr must be > 0, got {reweighting['adversary_lr']!r}", path)
    holdout = reweighting["adversary_holdout"]
    if not isinstance(holdout, (int, float)) or isinstance(holdout, bool) or not 0 <= holdout < 1:
        raise InputError(f"reweighting.adversary_holdout must be a share in [0, 1), got {holdout!r}", path)
    if holdout > 0 and reweighting["method"] not in ("pw", "aps", "pl"):
        raise InputError(f"reweighting.adversary_holdout needs an adversary (method pw, aps or pl), "
                         f"not {reweighting['method']!r}", path)
    if holdout > 0 and reweighting["adversary_objective"] != "pairs":
        raise InputError("reweighting.adversary_holdout needs adversary_objective: pairs (held-out speakers "
                         "have no trained AAM class)", path)
    memory = reweighting["adversary_memory"]
    if not isinstance(memory, (int, float)) or isinstance(memory, bool) or not 0 <= memory < 1:
        raise InputError(f"reweighting.adversary_memory must be a decay in [0, 1) (0: off), got {memory!r}", path)
    if memory > 0 and reweighting["method"] != "pl":
        raise InputError(f"reweighting.adversary_memory remembers losses per region for PL's adversary: set "
                         f"method: pl (not {reweighting['method']!r}) or adversary_memory: 0", path)
    if reweighting["adversary_batch_regions"] and not holdout:
        raise InputError("reweighting.adversary_batch_regions draws the held-out speakers' batches: set "
                         "reweighting.adversary_holdout > 0", path)
    if reweighting["method"] in ("pl", "crowding") and reweighting["regions"] < 2:
        raise InputError(f"reweighting.method: {reweighting['method']} weighs k-means pseudo-groups: set "
                         "reweighting.regions >= 2", path)
    beta = reweighting["crowding_beta"]
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0 <= beta < 1000:
        raise InputError(f"reweighting.crowding_beta must be a number in [0, 1000), got {beta!r}", path)
    reference = reweighting["crowding_reference"]
    if reference is not None and (not isinstance(reference, str) or not reference.strip()):
        raise InputError(f"reweighting.crowding_reference must be a model folder (arwsv train's output) or null, "
                         f"got {reference!r}", path)
    if reference is not None and reweighting["method"] != "crowding":
        raise InputError(f"reweighting.crowding_reference is read by method: crowding only, not "
                         f"{reweighting['method']!r}", path)
    factors = reweighting["speaker_factors"]
    if (factors is None) != (reweighting["method"] != "speaker_factors"):
        raise InputError("reweighting.method: speaker_factors and reweighting.speaker_factors (a CSV of spk_id,factor) "
                         "go together", path)
    if factors is not None and (not isinstance(factors, str) or not factors.strip()):
        raise InputError(f"reweighting.speaker_factors must be a CSV file (spk_id,factor), got {factors!r}", path)
    loss = hparams.get("loss")
    for term in ("aam", "pairwise"):
        wanted = reweighting["adversary_objective"] == ("pairs" if term == "pairwise" else term)
        if wanted and getattr(loss, term, None) is None:
            raise InputError(f"reweighting.adversary_objective: {reweighting['adversary_objective']} needs the "
                             f"{term} term in the recipe's loss", path)
    if reweighting["memory_bank"] < reweighting["regions"]:
        raise InputError("reweighting.memory_bank must hold at least `regions` embeddings", path)
    hparams["reweighting"] = reweighting
    required = ["seed", "output_folder", "train_manifest", "features", "embedding_model", "loss", "epochs",
                "crop_seconds", "speakers_per_batch", "utts_per_speaker", "lr"]
    missing = [k for k in required if k not in hparams]
    if missing:
        raise InputError(f"recipe lacks key(s) {', '.join(missing)}", path)
    for key in ("epochs", "speakers_per_batch", "utts_per_speaker"):
        if not isinstance(hparams[key], int) or hparams[key] < 1:
            raise InputError(f"{key} must be an integer >= 1, got {hparams[key]!r}", path)
    for key in ("ckpt_every", "log_every", "keep_checkpoints", "accumulate"):
        if key in hparams and (not isinstance(hparams[key], int) or hparams[key] < 1):
            raise InputError(f"{key} must be an integer >= 1, got {hparams[key]!r}", path)
    if getattr(hparams["loss"], "pairwise", None) is not None and \
            (hparams["speakers_per_batch"] < 2 or hparams["utts_per_speaker"] < 2):
        raise InputError("the pairwise loss needs speakers_per_batch >= 2 and utts_per_speaker >= 2 "
                         "(target and non-target pairs in every batch)", path)
    for key in ("crop_seconds", "lr"):
        if not isinstance(hparams[key], (int, float)) or hparams[key] <= 0:
            raise InputError(f"{key} must be > 0, got {hparams[key]!r}", path)
    if hparams["crop_seconds"] < 0.1:
        raise InputError(f"crop_seconds must be >= 0.1 (a few feature frames), got {hparams['crop_seconds']!r}", path)
    return hparams, resolved
