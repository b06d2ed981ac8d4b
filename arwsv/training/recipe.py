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

__all__ = ["parse_overrides", "load_recipe", "recipe_seed", "recipe_changes", "OPTIONAL_KEYS", "PRECISIONS"]

# Top-level keys a recipe may leave out (their defaults below); an override may name them all the same, so that a
# committed recipe (whose record older runs compare against) need not change to try them.
OPTIONAL_KEYS = {
    "augment": "null",          # the augment: block (arwsv.data.augment.AugmentSettings); null: no augmentation
    "precision": "fp32",        # fp32 | bf16 | fp16 (fp16: CUDA only, with a GradScaler)
    "num_workers": "null",      # DataLoader processes; null: min(8, cores) on CUDA, 0 on CPU (--num-workers wins)
    "pin_memory": "null",       # null: on with CUDA
    "prefetch_factor": "2",     # batches each worker reads ahead
    "crop_from": "segment",     # segment | utterance: where a row's random crop may start
    "lr_warmup_steps": "0",     # linear LR warm-up before the cosine decay
    "margin_ramp": "null",      # [start, end] steps: the AAM margin rises from 0 to its value (WeSpeaker)
    "init_from": "null",        # a finished run's folder: start from its embedding model and loss head
}
PRECISIONS = ("fp32", "bf16", "fp16")

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


def _reweighting_keys() -> set:
    """Every key a ``reweighting`` block may name: the settings, and the old keys that get a message of their own."""
    from dataclasses import fields

    from arwsv.training.settings import _RENAMED, _RETIRED, ReweightingSettings

    return {f.name for f in fields(ReweightingSettings)} | set(_RENAMED) | set(_RETIRED)


def _augment_keys() -> set:
    from dataclasses import fields

    from arwsv.data.augment import AugmentSettings

    return {f.name for f in fields(AugmentSettings)} - {"manifests"}


def _check_overrides(tree, overrides: dict, recipe, prefix: str = "") -> None:
    for key, value in overrides.items():
        name = prefix + key
        if prefix == "reweighting." and key not in tree and key in _reweighting_keys():
            continue  # a reweighting knob the recipe leaves at its default (ReweightingSettings checks it)
        if prefix == "augment." and hasattr(tree, "keys") and key not in tree and key in _augment_keys():
            continue  # likewise for the augment block (AugmentSettings checks it)
        if not hasattr(tree, "keys") or key not in tree:
            known = ", ".join(sorted(str(k) for k in tree.keys())) if hasattr(tree, "keys") else "none"
            raise InputError(f"unknown recipe key {name!r} (keys here: {known})", recipe)
        current = tree[key]
        if name == "augment" and value is None:
            continue  # --augment=null: the recipe without augmentation
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
    absent = [key for key in OPTIONAL_KEYS if key in overrides and key not in tree]
    if absent:  # named by an override only: give it its default in the text, then override it as any other key
        text = text.rstrip("\n") + "\n" + "".join(f"{key}: {OPTIONAL_KEYS[key] if key != 'augment' else '{}'}\n"
                                                for key in absent)
        tree = ruamel.yaml.YAML(typ="rt").load(text)
    _check_overrides(tree, overrides, path)
    try:
        resolved = resolve_references(io.StringIO(text), overrides).getvalue()
        hparams = load_hyperpyyaml(text, overrides)
    except Exception as err:  # hyperpyyaml raises many types for a bad recipe (ImportError, TypeError, ...)
        raise InputError(f"cannot build the recipe: {type(err).__name__}: {str(err).splitlines()[0]}", path) from None
    from arwsv.training.settings import ReweightingSettings

    block = hparams.get("reweighting") or {}
    if not isinstance(block, dict):
        raise InputError("reweighting must be a block of keys (method, warmup_steps, ...)", path)
    reweighting = ReweightingSettings.from_block(block, path)
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
    _check_training_keys(hparams, path)
    return hparams, resolved


def _check_training_keys(hparams: dict, path) -> None:
    """The optional training keys (:data:`OPTIONAL_KEYS`): defaults filled in, each checked, one line naming the
    recipe and the key; the ``augment`` block becomes :class:`arwsv.data.augment.AugmentSettings` (or None)."""
    from arwsv.data.augment import AugmentSettings
    from arwsv.data.dataio import CROP_FROM

    def fail(message):
        raise InputError(message, path)

    def is_int(value, low):
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    hparams["augment"] = AugmentSettings.from_block(hparams.get("augment"), path)
    precision = hparams.setdefault("precision", "fp32")
    if precision not in PRECISIONS:
        fail(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    workers = hparams.setdefault("num_workers", None)
    if workers is not None and not is_int(workers, 0):
        fail(f"num_workers must be an integer >= 0 (or null: automatic), got {workers!r}")
    pin = hparams.setdefault("pin_memory", None)
    if pin is not None and not isinstance(pin, bool):
        fail(f"pin_memory must be true, false or null, got {pin!r}")
    if not is_int(hparams.setdefault("prefetch_factor", 2), 1):
        fail(f"prefetch_factor must be an integer >= 1, got {hparams['prefetch_factor']!r}")
    if hparams.setdefault("crop_from", "segment") not in CROP_FROM:
        fail(f"crop_from must be one of {', '.join(CROP_FROM)}, got {hparams['crop_from']!r}")
    if not is_int(hparams.setdefault("lr_warmup_steps", 0), 0):
        fail(f"lr_warmup_steps must be an integer >= 0, got {hparams['lr_warmup_steps']!r}")
    ramp = hparams.setdefault("margin_ramp", None)
    if ramp is not None and not (isinstance(ramp, (list, tuple)) and len(ramp) == 2 and all(is_int(v, 0) for v in ramp)
                                 and ramp[0] <= ramp[1]):
        fail(f"margin_ramp must be [start, end] steps with 0 <= start <= end, got {ramp!r}")
    init = hparams.setdefault("init_from", None)
    if init is not None and (not isinstance(init, str) or not init.strip()):
        fail(f"init_from must be a folder (a finished arwsv train run), got {init!r}")
