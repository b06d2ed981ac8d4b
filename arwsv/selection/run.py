"""``arwsv select``: choose a reweighting method and its settings without demographic labels, in pieces.

Steps, each skipped when a previous run left its output (so a killed run resumes where it stopped). The
settings that shaped the pieces (seed, split, development share, pseudo-groups, k-means restarts, reference
utterances, development utterances per speaker, warm-up, each candidate's signal, K and beta) are kept in ``OUT/pieces/settings.json``; a rerun with
other values stops with one line rather than mixing old pieces with new settings. The rule's own settings
(``bootstrap``, ``max_eer_increase``, ``criterion``, ``post_hoc``) may change between runs: only the last step reruns. The recipe
is not fingerprinted (its paths differ between machines): a changed recipe needs a new ``OUT``.

1. ``WORK/split/``: the development speakers (:func:`arwsv.selection.split.write_split`); the trials use all their
   utterances, or ``dev_utts`` each (:func:`arwsv.selection.split.development_rows`; needed on VoxCeleb, where
   every within-pseudo-group pair of all of them would be billions of trials);
2. ``WORK/candidates/uniform``: the recipe with uniform weights on the other training speakers; it is the
   reference model of every other candidate and the baseline of the comparison; from its embeddings
   (``WORK/reference.npz``) come ``OUT/pieces/factors/<name>.csv``, each candidate's per-speaker factors
   (:mod:`arwsv.selection.signals`), and ``OUT/pieces/pseudo_groups.csv``, the development speakers' pseudo-groups
   (:mod:`arwsv.selection.pseudo_groups`);
3. ``WORK/candidates/<name>``: each candidate trained with ``method: speaker_factors`` (``--jobs`` of them at
   once, as ``arwsv train`` processes; on a GPU several fit at once);
4. ``OUT/pieces/dev/<name>.npz``: each trained candidate's embeddings of the development utterances (float16,
   about 1 MB): with the factors and the pseudo-groups they are all the rule needs, so ``OUT`` alone resumes a
   run on another machine (a candidate with its piece is not trained again);
5. ``OUT/selection.md``, ``OUT/selection.json``, ``OUT/selection.png``: every candidate, and every post-hoc
   scoring of the uniform model (``post_hoc``: AS-norm with its training speakers as cohort, kept as
   ``OUT/pieces/cohort.npz``), against uniform weights on the trials within pseudo-groups, with paired
   speaker-bootstrap intervals, and the choice (:func:`arwsv.selection.rule.select`).

No step reads a gender or nationality column.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from arwsv.errors import InputError

__all__ = ["train_candidate", "candidate_overrides", "how_to_use"]


def _flatten(tree: dict, prefix: str = "") -> list:
    """``{"a": {"b": 1}}`` -> ``["--a.b=1"]`` (arwsv train's override syntax; values as JSON, which YAML reads)."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append(f"--{prefix}{key}={json.dumps(value)}")
    return out


def candidate_overrides(work: Path, name: str, block: dict, seed: int, n_speakers: int, extra: dict,
                        augment: dict | None = None) -> dict:
    """The recipe overrides that train candidate ``name`` (reweighting ``block``; ``augment``: the augment keys of a
    virtual-speaker candidate) on the split's speakers."""
    overrides = dict(extra)
    overrides.update({"train_manifest": str(work / "split" / "train.csv"), "n_speakers": n_speakers,
                      "output_folder": str(work / "candidates" / name), "seed": seed})
    if block:
        overrides["reweighting"] = dict(block)
    if augment:
        overrides["augment"] = {**(overrides.get("augment") or {}), **augment}
    return overrides


def virtual_overrides(spec, name: str, work: Path, n_speakers: int, recipe_augments: bool) -> tuple:
    """``(augment keys, n_speakers)`` of a virtual-speaker candidate: WeSpeaker's x0.9 / x1.1 copies as new
    speakers (``virtual_uniform``), or the plan ``work/virtual/<name>.csv`` (``virtual_targeted``). A recipe
    without an augment block gets no noise (prob 0)."""
    keys = {} if recipe_augments else {"prob": 0, "kinds": []}
    if spec.signal == "virtual_uniform":
        return {**keys, "speed_factors": [0.9, 1.1], "speed_prob": 0.667, "speed_labels": "new"}, 3 * n_speakers
    plan = work / "virtual" / f"{name}.csv"
    added = sum(1 for _ in open(plan, encoding="utf-8")) - 1
    return {**keys, "virtual_speakers": str(plan)}, n_speakers + added


def _plan_piece(work: Path, pieces: Path, name: str, spec, seed: int, reference_utts: int, device: str,
                progress: bool) -> None:
    """``pieces/virtual/<name>.csv`` (and ``.json``, where its copies land): the targeted plan on the uniform model."""
    from arwsv.evaluation.report import to_json
    from arwsv.io.files import atomic_write
    from arwsv.selection.virtual import VirtualPlanSettings, plan_virtual_speakers

    table, report = plan_virtual_speakers(work / "candidates" / "uniform", work / "split" / "train.csv",
                                          VirtualPlanSettings(clusters=spec.clusters, targets=spec.targets,
                                                              utts=reference_utts, seed=seed),
                                          device=device, progress=progress)
    report.pop("region_of")
    (pieces / "virtual").mkdir(parents=True, exist_ok=True)
    with atomic_write(pieces / "virtual" / f"{name}.json") as handle:
        handle.write(to_json(report))
    with atomic_write(pieces / "virtual" / f"{name}.csv") as handle:
        table.to_csv(handle, index=False, lineterminator="\n")


def _state(recipe, overrides: dict) -> str:
    """``done`` (final weights of this very recipe), ``resume`` (its checkpoints) or ``fresh``."""
    from arwsv.training.recipe import load_recipe, recipe_changes
    from arwsv.training.run import FINAL_WEIGHTS

    out = Path(overrides["output_folder"])
    _, resolved = load_recipe(recipe, overrides)
    recorded = out / "hyperparams.yaml"
    same = recorded.is_file() and not recipe_changes(recorded.read_text(encoding="utf-8"), resolved)
    if same and (out / FINAL_WEIGHTS).is_file():
        return "done"
    if not same and out.exists():
        import shutil

        shutil.rmtree(out)  # a run of other settings (or of another split) in the candidate's folder
    return "resume" if same and (out / "checkpoints").exists() else "fresh"


def train_candidate(recipe, overrides: dict, *, device: str, log: Path, quiet: bool = True, threads: int = 0):
    """Start ``arwsv train`` for one candidate; returns the process (``None`` when already trained).

    A process rather than a call: several candidates train at once on a GPU, and a crash of one leaves
    the others and this command running."""
    state = _state(recipe, overrides)
    if state == "done":
        return None
    command = [sys.executable, "-m", "arwsv", "train", str(recipe), "--device", device] + _flatten(overrides)
    if state == "resume":
        command.append("--resume")
    if quiet:
        command.append("--quiet")
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if threads > 0:  # several CPU trainings at once: split the cores rather than oversubscribe them
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log, "a", encoding="utf-8") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)


def wait_all(processes: dict) -> None:
    """Wait for ``{name: (process, log)}``; a failed one is reported by name with its log's last line."""
    failed = []
    for name, (process, log) in processes.items():
        if process is not None and process.wait() != 0:
            lines = Path(log).read_text(encoding="utf-8", errors="replace").strip().splitlines()
            failed.append(f"{name} (exit {process.returncode}: {lines[-1] if lines else 'no output'})")
    if failed:
        raise InputError(f"candidate training failed: {'; '.join(failed)}; fix it and rerun (finished candidates "
                         "are kept)")


def _embed(model: Path, rows: list, device: str, progress: bool):
    from arwsv.inference.embed import extract, load_model

    features, embedding_model, _ = load_model(model, device=device)
    return extract(features, embedding_model, rows, device=device, progress=progress)


def _reference_embeddings(work: Path, utts: int, dev_rows: list, dev_utts: int, device: str, progress: bool) -> dict:
    """Training speakers (mean of the unit embeddings of their first ``utts`` utterances) and the development
    utterances ``dev_rows`` (chosen with ``dev_utts`` per speaker), by the uniform candidate; cached in
    ``WORK/reference.npz``."""
    import numpy as np

    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import cohort_embeddings, extract, load_model
    from arwsv.io.files import atomic_write

    path = work / "reference.npz"
    model = work / "candidates" / "uniform"
    digest = _weights_digest(model)
    if path.is_file():  # a cache of these very weights and settings only (a retrained uniform model is new)
        with np.load(path, allow_pickle=False) as data:
            kept_dev_utts = int(data["dev_utts"]) if "dev_utts" in data.files else RUN_DEFAULTS["dev_utts"]
            if int(data["utts"]) == utts and kept_dev_utts == dev_utts and "weights_sha256" in data.files and \
                    str(data["weights_sha256"]) == digest:
                return {k: data[k] for k in data.files if k not in ("weights_sha256", "dev_utts")}
    features, embedding_model, _ = load_model(model, device=device)
    names, means = cohort_embeddings(features, embedding_model, load_manifest_rows(work / "split" / "train.csv"),
                                     utts=utts, device=device, progress=progress)  # as arwsv score --cohort-utts
    dev_ids, dev_emb = extract(features, embedding_model, dev_rows, device=device, progress=progress)
    out = {"train_speakers": names, "train": means, "dev_ids": dev_ids,
           "dev_speakers": np.array([r["spk_id"] for r in dev_rows]), "dev": dev_emb, "utts": np.array(utts)}
    with atomic_write(path, mode="wb") as handle:
        np.savez(handle, **out, weights_sha256=np.array(digest), dev_utts=np.array(dev_utts))
    return out


def _weights_digest(model: Path) -> str:
    import hashlib

    from arwsv.training.run import FINAL_WEIGHTS

    return hashlib.sha256((model / FINAL_WEIGHTS).read_bytes()).hexdigest()


# development trials beyond this are too many to score and bootstrap for every candidate (bench: about 0.5 M)
MAX_DEV_TRIALS = 20_000_000


def _check_dev_trials(dev_rows: list, groups: int, path: Path) -> None:
    """Before any training: the development trials need target pairs (a speaker with two utterances) and
    non-target pairs within a pseudo-group (more speakers than pseudo-groups)."""
    from collections import Counter

    per_speaker = Counter(r["spk_id"] for r in dev_rows)
    if not any(n >= 2 for n in per_speaker.values()):
        raise InputError("no development speaker has two utterances, so the development trials hold no target "
                         "pair; raise dev_share or use a manifest with several utterances per speaker", path)
    if len(per_speaker) <= groups:
        raise InputError(f"{len(per_speaker)} development speakers cannot form non-target trials within "
                         f"{groups} pseudo-groups; raise dev_share or lower pseudo_groups", path)


def _check_dev_trial_count(per_speaker: list, utts: int, groups: int, settings_path) -> None:
    """Before anything is written: every pair within a pseudo-group is a trial, at least M (M / G - 1) / 2 of them
    for M development utterances in G pseudo-groups; refuse more than :data:`MAX_DEV_TRIALS`.

    per_speaker: each development speaker's utterance count; ``utts`` as ``dev_utts``: M counts
    ``min(n, utts)`` per speaker, what :func:`arwsv.selection.split.development_rows` takes (no need to build them)."""
    counted = sum(min(n, utts) if utts > 0 else n for n in per_speaker)
    fewest = counted * (counted / groups - 1) / 2
    if fewest > MAX_DEV_TRIALS:
        speakers = len(per_speaker)
        raise InputError(f"{counted} development utterances of {speakers} speakers make at least "
                         f"{fewest / 1e6:.0f} M trials within {groups} pseudo-groups (at most "
                         f"{MAX_DEV_TRIALS / 1e6:.0f} M are scored); set dev_utts (utterances per development "
                         "speaker, e.g. 6)", settings_path)


def _write_factors(path: Path, speakers, factors) -> None:
    import io

    import pandas as pd

    from arwsv.io.files import write_if_changed

    buffer = io.StringIO()
    pd.DataFrame({"spk_id": speakers, "factor": factors}).to_csv(buffer, index=False, float_format="%.9g",
                                                                 lineterminator="\n")
    write_if_changed(path, buffer.getvalue().encode("utf-8"))


def _write_piece(path: Path, model: Path, make) -> None:
    """Write the piece ``path`` (compressed npz) from ``make()`` (a dict of arrays) with the SHA-256 of ``model``'s
    weights, unless the piece there already came from those very weights."""
    import numpy as np

    from arwsv.io.files import atomic_write

    digest = _weights_digest(model)
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            if str(data["weights_sha256"]) == digest:
                return
    arrays = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode="wb") as handle:
        np.savez_compressed(handle, **arrays, weights_sha256=np.array(digest))


def _dev_piece(work: Path, pieces: Path, name: str, dev_rows: list, device: str, progress: bool,
               embedded: tuple | None = None) -> None:
    """Write ``PIECES/dev/<name>.npz``: the trained candidate's embeddings of every development utterance (float16:
    small enough to keep with the results, so that a run resumes on another machine without the model), its
    utterance ids and speakers, and the SHA-256 of the weights they came from. ``embedded``: ``(ids, embeddings)``
    already computed by that model (the reference's), in ``dev_rows`` order."""
    import numpy as np

    model = work / "candidates" / name

    def make():
        ids, emb = embedded if embedded is not None else _embed(model, dev_rows, device, progress)  # reference: once
        return {"ids": ids, "speakers": np.array([r["spk_id"] for r in dev_rows]), "embeddings": emb.astype(np.float16)}

    _write_piece(pieces / "dev" / f"{name}.npz", model, make)


def _cohort_piece(work: Path, pieces: Path, reference: dict) -> None:
    """Write ``PIECES/cohort.npz``: the uniform model's training speakers (one mean unit embedding each, float16)
    and the SHA-256 of its weights: the AS-norm cohort of the post-hoc candidates, kept with the results."""
    import numpy as np

    _write_piece(pieces / "cohort.npz", work / "candidates" / "uniform",
                 lambda: {"speakers": reference["train_speakers"], "embeddings": reference["train"].astype(np.float16)})


def _read_dev_piece(pieces: Path, name: str) -> tuple:
    import numpy as np

    with np.load(pieces / "dev" / f"{name}.npz", allow_pickle=False) as data:
        return data["ids"], data["speakers"], data["embeddings"].astype(np.float32)


def _write_groups(path: Path, group_of: dict) -> None:
    from arwsv.io.files import write_if_changed

    text = "spk_id,pseudo_group\n" + "".join(f"{s},{g}\n" for s, g in sorted(group_of.items()))
    write_if_changed(path, text.encode("utf-8"))


def _read_groups(path: Path) -> dict:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return dict(line.split(",", 1) for line in lines if line)


def pieces_fingerprint(settings, seed: int, dev_speakers) -> dict:
    """What shaped ``OUT/pieces`` (see the module docstring): ``{"run": {...}, "candidates": {name: {...}}}``."""
    import hashlib

    run = {"seed": seed, "dev_share": settings.dev_share, "pseudo_groups": settings.pseudo_groups,
           "restarts": settings.restarts, "reference_utts": settings.reference_utts,
           "dev_utts": settings.dev_utts, "warmup_steps": settings.warmup_steps,
           "dev_speakers_sha256": hashlib.sha256("\n".join(sorted(map(str, dev_speakers))).encode()).hexdigest()}
    return {"run": run, "candidates": {n: c.record() for n, c in settings.candidates.items()}}


RUN_DEFAULTS = {"dev_utts": 0}  # settings added to the record after pieces existed, with the value those pieces had


def check_pieces(pieces: Path, fingerprint: dict) -> None:
    """Refuse (:class:`InputError`) to mix ``pieces`` made with other settings with these; record the settings.

    A candidate new to ``pieces`` is welcome (it is trained); one whose signal, K or beta changed is not, since
    its kept piece came from the old values. Pieces from before the fingerprint existed are taken as they are."""
    from arwsv.evaluation.report import to_json
    from arwsv.io.files import write_if_changed

    path = pieces / "settings.json"
    if path.is_file():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
            old_run, old_candidates = recorded["run"], recorded["candidates"]
        except (ValueError, KeyError, TypeError):
            raise InputError("not a settings record of arwsv select; delete it only if every piece beside it "
                             "matches the selection file", path) from None
        old_run = {**RUN_DEFAULTS, **old_run}  # a key added later: records from before were made with its default
        changed = sorted(k for k in set(old_run) | set(fingerprint["run"])
                         if old_run.get(k) != fingerprint["run"].get(k))
        if changed:
            what = ", ".join(f"{k} {old_run.get(k)!r} -> {fingerprint['run'].get(k)!r}" for k in changed)
            raise InputError(f"the pieces here were made with other settings ({what}); give another --out "
                             "(or --work) for these settings", path)
        for name, spec in fingerprint["candidates"].items():
            if name in old_candidates and old_candidates[name] != spec:
                raise InputError(f"candidate {name} was trained here as {old_candidates[name]}, the selection file "
                                 f"now says {spec}: give it another name, or another --out", path)
        fingerprint = {"run": fingerprint["run"], "candidates": {**old_candidates, **fingerprint["candidates"]}}
    pieces.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, to_json(fingerprint).encode("utf-8"))


def how_to_use(name: str, settings, work: Path) -> dict:
    """``{"model": folder, "scoring": how to score with it}`` for the selected candidate ``name``."""
    if name in settings.post_hoc:
        spec = settings.post_hoc[name]
        return {"model": str(work / "candidates" / "uniform"),
                "scoring": (f"arwsv score {work / 'candidates' / 'uniform'} TRIALS --norm {spec.norm} --cohort "
                            f"{work / 'split' / 'train.csv'} --cohort-utts {settings.reference_utts} "
                            f"--top-k {spec.top_k} --out SCORES")}
    return {"model": str(work / "candidates" / name),
            "scoring": f"arwsv score {work / 'candidates' / name} TRIALS --out SCORES"}


def run_selection(recipe, *, settings, work, out, overrides: dict, seed: int, device: str = "cpu", jobs: int = 1,
                  progress: bool = True, only: str | None = None, on_trained=None) -> dict:
    """Run every step of this module's docstring; returns the selection (also written to ``OUT``).

    ``settings``: a :class:`arwsv.selection.config.SelectionConfig`. ``only="train"`` stops after the
    candidates are trained (e.g. on a GPU machine, scoring later elsewhere) and returns ``{"split": counts}`` only. ``on_trained(name, model_folder)``
    is called once a candidate is trained and before its development piece is written (the study scores its test
    list then, while the model is here); a candidate whose piece was kept is not passed to it again."""
    import numpy as np

    from arwsv.data.manifest import read_manifest
    from arwsv.io.files import atomic_write
    from arwsv.selection.pseudo_groups import DevTrials, pseudo_groups
    from arwsv.selection.rule import evaluate_candidates, select
    from arwsv.selection.signals import speaker_factors
    from arwsv.selection.split import development_rows, split_speakers, write_split
    from arwsv.training.recipe import load_recipe

    work, out = Path(work), Path(out)
    base, _ = load_recipe(recipe, {**overrides, "seed": seed})
    # before anything is written: pieces of other settings in OUT stop the run
    training = read_manifest(base["train_manifest"])
    _, dev_speakers = split_speakers(training["spk_id"], settings.dev_share, seed)
    held_out = training[training["spk_id"].astype(str).isin(dev_speakers)]
    _check_dev_trial_count(held_out["spk_id"].value_counts().tolist(), settings.dev_utts, settings.pseudo_groups,
                           getattr(settings, "path", None) or "the selection file")
    check_pieces(out / "pieces", pieces_fingerprint(settings, seed, dev_speakers))
    split = write_split(base["train_manifest"], work / "split", settings.dev_share, seed, frame=training)
    n_speakers = split["train_speakers"]
    read_manifest(work / "split" / "train.csv")
    from arwsv.data.dataio import load_manifest_rows

    dev_rows = development_rows(load_manifest_rows(work / "split" / "dev.csv"), settings.dev_utts)
    _check_dev_trials(dev_rows, settings.pseudo_groups, work / "split" / "dev.csv")

    def overrides_of(name):
        spec = settings.candidates[name]
        if not spec.virtual:
            return candidate_overrides(work, name, settings.block(name, work), seed, n_speakers, overrides)
        augment, classes = virtual_overrides(spec, name, work, n_speakers, base.get("augment") is not None)
        return candidate_overrides(work, name, settings.block(name, work), seed, classes, overrides, augment)

    logs, pieces = work / "logs", out / "pieces"
    others = [n for n in settings.candidates if n != "uniform"]
    weighted = [n for n in others if not settings.candidates[n].virtual]
    targeted = [n for n in others if settings.candidates[n].signal == "virtual_targeted"]
    ready = (pieces / "dev" / "uniform.npz").is_file() and (pieces / "pseudo_groups.csv").is_file() and \
        all((pieces / "factors" / f"{n}.csv").is_file() for n in weighted) and \
        all((pieces / "virtual" / f"{n}.csv").is_file() for n in targeted) and \
        (not settings.post_hoc or (pieces / "cohort.npz").is_file())
    if not ready:  # the reference: the uniform candidate, its factors for the others and the pseudo-groups
        wait_all({"uniform": (train_candidate(recipe, overrides_of("uniform"), device=device,
                                              log=logs / "uniform.log", quiet=not progress), logs / "uniform.log")})
        reference = _reference_embeddings(work, settings.reference_utts, dev_rows, settings.dev_utts, device,
                                          progress)
        for name in targeted:  # where the uniform model is weakest, copies sized to land in their region
            _plan_piece(work, pieces, name, settings.candidates[name], seed, settings.reference_utts, device, progress)
        for name in weighted:
            spec = settings.candidates[name]
            factors = speaker_factors(reference["train"], signal=spec.signal, clusters=spec.clusters, beta=spec.beta,
                                      restarts=settings.restarts, seed=seed, dev=reference["dev"],
                                      dev_speakers=reference["dev_speakers"])
            _write_factors(pieces / "factors" / f"{name}.csv", reference["train_speakers"], factors)
        _write_groups(pieces / "pseudo_groups.csv", pseudo_groups(reference["dev"], reference["dev_speakers"],
                                                                   settings.pseudo_groups, seed))
        if on_trained is not None:  # before the piece that marks it done: a crash in it reruns it
            on_trained("uniform", work / "candidates" / "uniform")
        if settings.post_hoc:
            _cohort_piece(work, pieces, reference)
        _dev_piece(work, pieces, "uniform", dev_rows, device, progress, embedded=(reference["dev_ids"], reference["dev"]))
    import shutil

    # the factors and plans the trainings read (kept with the results, copied to the work folder)
    for folder, names in (("factors", weighted), ("virtual", targeted)):
        for name in names:
            (work / folder).mkdir(parents=True, exist_ok=True)
            if not (work / folder / f"{name}.csv").is_file() or \
                    (work / folder / f"{name}.csv").read_bytes() != (pieces / folder / f"{name}.csv").read_bytes():
                shutil.copyfile(pieces / folder / f"{name}.csv", work / folder / f"{name}.csv")
    pending = [n for n in others if not (pieces / "dev" / f"{n}.npz").is_file()]  # kept pieces: trained before
    threads = max(1, (os.cpu_count() or 1) // jobs) if device == "cpu" and jobs > 1 else 0
    while pending:  # at most `jobs` candidate trainings at once
        batch, pending = pending[:jobs], pending[jobs:]
        wait_all({n: (train_candidate(recipe, overrides_of(n), device=device, log=logs / f"{n}.log",
                                      quiet=True, threads=threads), logs / f"{n}.log") for n in batch})
        for name in batch:
            if on_trained is not None:  # before the piece that marks it done: a crash in it reruns it
                on_trained(name, work / "candidates" / name)
            _dev_piece(work, pieces, name, dev_rows, device, progress)
    if only == "train":
        return {"split": split}
    group_of = _read_groups(pieces / "pseudo_groups.csv")
    ids, speakers, uniform_emb = _read_dev_piece(pieces, "uniform")
    trials = DevTrials(ids, speakers, group_of)
    scores = {}
    for name in settings.candidates:
        piece_ids, _, emb = _read_dev_piece(pieces, name)
        scores[name] = trials.scores(piece_ids, emb)
    if settings.post_hoc:  # scorings of the uniform model: no training
        with np.load(pieces / "cohort.npz", allow_pickle=False) as data:
            cohort = data["embeddings"].astype(np.float32)
        for name, spec in settings.post_hoc.items():
            scores[name] = trials.normalised_scores(ids, uniform_emb, cohort, top_k=spec.top_k)
    rows = evaluate_candidates(trials, scores, bootstrap=settings.bootstrap, seed=seed, progress=progress)
    choice = select(rows, max_eer_increase=settings.max_eer_increase / 100, criterion=settings.criterion)
    choice.update(how_to_use(choice["selected"], settings, work))
    result = {"recipe": str(recipe), "selection_file": getattr(settings, "path", None) or "SELECTION.yaml",
              "seed": seed, "split": split, "settings": settings.as_dict(),
              "pseudo_groups": {g: int(sum(v == g for v in group_of.values())) for g in sorted(set(group_of.values()))},
              "dev_trials": {"n": len(trials), "targets": int(trials.is_target.sum())}, "candidates": rows,
              "selection": choice}
    out.mkdir(parents=True, exist_ok=True)
    from arwsv.evaluation.report import to_json
    from arwsv.selection.report import plot_selection, selection_markdown

    with atomic_write(out / "selection.json") as handle:
        handle.write(to_json(result))
    with atomic_write(out / "selection.md") as handle:
        handle.write(selection_markdown(result))
    plot_selection(result, out / "selection.png")
    return result
