"""The settings of ``arwsv select``: the candidates and how they are judged, read from a YAML table.

Example (``recipes/bench/select.yaml``)::

    dev_share: 0.15          # training speakers held out as development speakers
    pseudo_groups: 8         # k-means clusters of the development speakers
    warmup_steps: 1000       # uniform weights first, as the reweighting recipes
    candidates:              # name: {signal, clusters, beta}; `uniform` (signal none) is required
      uniform: {signal: none}
      crowding_k48_b20: {signal: crowding, clusters: 48, beta: 20}
      a3_k8_t3: {signal: virtual_targeted, clusters: 8, targets: 3}   # data, not weights (issue 39)
    post_hoc:                # scorings of the uniform model, no training: name: {norm, top_k}
      asnorm_train: {norm: asnorm, top_k: 200}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from arwsv.errors import InputError
from arwsv.selection.rule import CRITERIA, DEFAULT_CRITERION

__all__ = ["Candidate", "PostHoc", "SelectionConfig", "load_selection_config"]

SIGNALS = ("none", "balance", "crowding", "difficulty")  # none: uniform weights
# data candidates (issue 39): virtual speakers instead of weights; uniform: every speaker's x0.9 / x1.1 speed copies
# as new speakers (WeSpeaker's); targeted: arwsv virtual-speakers on the uniform model (clusters, targets)
VIRTUAL = ("virtual_uniform", "virtual_targeted")
NORMS = ("asnorm",)


@dataclass(frozen=True)
class Candidate:
    """One reweighting candidate: ``signal`` (none | balance | crowding | difficulty), k-means ``clusters``
    of the training speakers and the signal's strength ``beta`` (:mod:`arwsv.selection.signals`)."""

    signal: str
    clusters: int = 0
    beta: float = 0.0
    targets: int = 0  # virtual_targeted: the regions that get copies (arwsv.selection.virtual)

    @property
    def virtual(self) -> bool:
        return self.signal in VIRTUAL

    def record(self) -> dict:
        """The settings that shaped its piece (``targets`` only where set: records from before it keep matching)."""
        out = asdict(self)
        if not self.targets:
            out.pop("targets")
        return out


@dataclass(frozen=True)
class PostHoc:
    """One post-hoc candidate: the uniform model's scores normalised with ``norm`` (asnorm: adaptive s-norm over
    the ``top_k`` closest cohort speakers; the cohort is the uniform model's training speakers, one mean embedding
    each of their first ``reference_utts`` utterances, exactly as ``arwsv score --norm asnorm --cohort TRAIN_SPLIT
    --cohort-utts REFERENCE_UTTS`` builds it). Nothing is trained."""

    norm: str = "asnorm"
    top_k: int = 200


@dataclass
class SelectionConfig:
    """Everything ``arwsv select`` needs besides the recipe (see the module docstring)."""

    candidates: dict = field(default_factory=lambda: {"uniform": Candidate("none")})
    post_hoc: dict = field(default_factory=dict)  # name: PostHoc, judged with the candidates
    dev_share: float = 0.15
    pseudo_groups: int = 8
    bootstrap: int = 500
    max_eer_increase: float = 0.0   # pp: how much higher the overall dev EER may be (point estimate)
    criterion: str = DEFAULT_CRITERION  # what a helper must lower: spread (std; default) or worst (group or overall)
    restarts: int = 8               # k-means restarts averaged per signal
    reference_utts: int = 2         # utterances per training speaker embedded by the reference model
    dev_utts: int = 0               # utterances per development speaker in the trials (0: all; split.development_rows)
    warmup_steps: int = 0           # uniform weights for the first steps of every reweighted candidate
    path: str | None = None         # the file these settings were read from (tables name it)

    def block(self, name: str, work: Path) -> dict:
        """The ``reweighting`` overrides of candidate ``name``."""
        if self.candidates[name].signal == "none" or self.candidates[name].virtual:
            return {"method": "none"}
        return {"method": "speaker_factors", "speaker_factors": str(Path(work) / "factors" / f"{name}.csv"),
                "warmup_steps": self.warmup_steps}

    def as_dict(self) -> dict:
        return {**asdict(self), "candidates": {n: c.record() for n, c in self.candidates.items()},
                "post_hoc": {n: asdict(c) for n, c in self.post_hoc.items()}}


def _number(value, kind, low, high, name, path):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if not ok or not low <= value <= high:
        raise InputError(f"{name} must be {'an integer' if kind is int else 'a number'} in [{low}, {high}], "
                         f"got {value!r}", path)
    return kind(value)


def load_selection_config(path) -> SelectionConfig:
    """Read and check a selection YAML; :class:`InputError` naming the file and the bad key."""
    import yaml

    try:
        tree = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such selection file", path) from None
    except IsADirectoryError:
        raise InputError("is a folder; give the selection YAML file", path) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", path) from None
    except OSError as err:
        raise InputError(f"cannot read it: {err.strerror}", path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(err, 'problem', None) or err}", path,
                         None if mark is None else mark.line + 1) from None
    if not isinstance(tree, dict):
        raise InputError("must be a mapping of settings with a `candidates` table", path)
    defaults = SelectionConfig()
    known = set(asdict(defaults)) - {"path"}
    unknown = sorted(str(k) for k in tree if k not in known)  # YAML keys may be numbers or booleans
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})", path)
    limits = {"dev_share": (float, 0.01, 0.5), "pseudo_groups": (int, 2, 1000), "bootstrap": (int, 50, 100000),
              "max_eer_increase": (float, 0.0, 100.0), "restarts": (int, 1, 100), "reference_utts": (int, 1, 1000),
              "dev_utts": (int, 0, 100000), "warmup_steps": (int, 0, 10 ** 9)}
    values = {k: _number(tree[k], *limits[k], k, path) for k in limits if k in tree}
    if "criterion" in tree:
        if tree["criterion"] not in CRITERIA:
            raise InputError(f"criterion must be one of {', '.join(CRITERIA)}, got {tree['criterion']!r}", path)
        values["criterion"] = tree["criterion"]
    table = tree.get("candidates")
    if not isinstance(table, dict) or not table:
        raise InputError("`candidates` must be a table name: {signal: ..., clusters: ..., beta: ...}", path)
    candidates = {}
    for name, spec in table.items():
        _check_name(name, path)
        if not isinstance(spec, dict) or set(spec) - {"signal", "clusters", "beta", "targets"}:
            raise InputError(f"candidate {name}: expected keys signal, clusters, beta (targets); got {spec!r}", path)
        signal = spec.get("signal")
        if signal not in SIGNALS + VIRTUAL:
            raise InputError(f"candidate {name}: signal must be one of {', '.join(SIGNALS + VIRTUAL)}, "
                             f"got {signal!r}", path)
        clusters = _number(spec.get("clusters", 0), int, 0 if signal in ("none", "virtual_uniform") else 2, 100000,
                           f"candidate {name}: clusters", path)
        beta = _number(spec.get("beta", 0.0), float, 0.0, 1000.0, f"candidate {name}: beta", path)
        targets = 0
        if signal == "virtual_targeted":
            targets = _number(spec.get("targets", 3), int, 1, clusters, f"candidate {name}: targets", path)
        elif "targets" in spec:
            raise InputError(f"candidate {name}: targets is a virtual_targeted candidate's key", path)
        candidates[name] = Candidate(signal, clusters, beta, targets)
    if candidates.get("uniform") != Candidate("none"):
        raise InputError("`candidates` must hold `uniform: {signal: none}` (the reference model and the baseline "
                         "every candidate is compared with)", path)
    extra_none = [n for n, c in candidates.items() if c.signal == "none" and n != "uniform"]
    if extra_none:
        raise InputError(f"candidate {extra_none[0]}: signal none is the `uniform` candidate's", path)
    post_hoc = _post_hoc({} if tree.get("post_hoc") is None else tree["post_hoc"], candidates, path)
    return SelectionConfig(candidates=candidates, post_hoc=post_hoc,
                           path=str(path), **values)


def _post_hoc(table, candidates: dict, path) -> dict:
    if not isinstance(table, dict):
        raise InputError("`post_hoc` must be a table name: {norm: asnorm, top_k: ...}", path)
    out = {}
    for name, spec in table.items():
        _check_name(name, path)
        if name in candidates:
            raise InputError(f"post-hoc candidate {name} has the name of a trained candidate", path)
        if not isinstance(spec, dict) or set(spec) - {"norm", "top_k"}:
            raise InputError(f"post-hoc candidate {name}: expected keys norm, top_k; got {spec!r}", path)
        if spec.get("norm") not in NORMS:
            raise InputError(f"post-hoc candidate {name}: norm must be one of {', '.join(NORMS)}, "
                             f"got {spec.get('norm')!r}", path)
        out[name] = PostHoc(spec["norm"], _number(spec.get("top_k", 200), int, 1, 100000,
                                                  f"post-hoc candidate {name}: top_k", path))
    return out


def _check_name(name, path) -> None:
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise InputError(f"candidate name {name!r} must be letters, digits and _ (it names a file)", path)
