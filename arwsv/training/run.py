"""Build a :class:`MinMaxTrainer` from a loaded recipe, run it, save the final model.

Output folder: ``hyperparams.yaml`` (the recipe with overrides and references resolved),
``train_log.jsonl``, ``checkpoints/`` (SpeechBrain layout, crash-safe), ``final/`` (the embedding
model's weights, read by ``arwsv embed`` / ``arwsv score``), ``train_report.json``, and with
``reweighting.crowding_reference`` ``crowding_reference.json`` (the reference folder and the
:func:`~arwsv.inference.embed.model_digest` of the model the factors came from).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from arwsv.errors import InputError
from arwsv.inference.embed import FINAL_WEIGHTS, model_digest  # the model folder layout is inference's contract
from arwsv.io.files import atomic_write
from arwsv.training.recipe import recipe_changes

__all__ = ["run_training", "FINAL_WEIGHTS", "REFERENCE_RECORD", "reference_changed"]

REFERENCE_RECORD = "crowding_reference.json"  # in the output folder: which reference model gave the factors
FACTORS_RECORD = "speaker_factors.json"  # in the output folder: the digest of the speaker_factors file read


def _file_digest(path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def reference_changed(hparams: dict) -> str | None:
    """Why the output folder's recorded crowding reference is not the model now in
    ``reweighting.crowding_reference`` (a line), or ``None``: no reference, no record (a run from
    before the record, or not started), or the same model (same digest)."""
    folder = hparams["reweighting"].crowding_reference
    record = Path(hparams["output_folder"]) / REFERENCE_RECORD
    if folder is None or not record.is_file():
        return None
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"its record {record} is unreadable ({type(err).__name__})"
    now = model_digest(folder)
    if now == recorded:
        return None
    return (f"the model in {folder} is not the one this run started from (sha256 {recorded[:12]}... recorded, "
            f"{'none' if now is None else now[:12] + '...'} now)")


def _embedding_size(hparams, device) -> int:
    model = hparams["embedding_model"]
    model.eval()  # a probe must not move BatchNorm statistics (ARW and baseline start alike)
    with torch.no_grad():
        size = int(model(hparams["features"](torch.zeros(1, 16000, device=device))).shape[-1])
    model.train()
    return size


def auto_workers(device: str) -> int:
    """DataLoader processes when the recipe and the command leave it open: min(8, cores) on CUDA (reading and
    augmenting a batch costs about a GPU step), 0 on CPU (the training process is the bottleneck there)."""
    if not str(device).startswith("cuda"):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    per_rank = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))  # torchrun: the node's GPUs share them
    return max(1, min(8, per_rank))


def preflight(hparams: dict) -> dict:
    """Every check that reads the training manifest, the loss head or ``init_from``, before anything is written
    (a refused run leaves no output folder): returns what :func:`build_trainer` builds from (``rows``,
    ``speaker_map``, ``init``)."""
    from arwsv.data.augment import SpeakerMap
    from arwsv.data.dataio import ManifestArrays
    from arwsv.training import distributed as ddp

    manifest = Path(hparams["train_manifest"])
    if not manifest.is_file():
        raise InputError("no such training manifest (run `arwsv prepare` first?)", manifest)
    try:
        rows = ManifestArrays.from_manifest(manifest)
    except (ValueError, KeyError) as err:
        raise InputError(f"cannot read the training manifest ({type(err).__name__}: {err})", manifest) from None
    if len(rows) == 0:
        raise InputError("the training manifest has no rows", manifest)
    augment = hparams.get("augment")
    virtual = None
    if augment is not None and augment.virtual_table:
        unknown = sorted(set(augment.virtual_table) - set(rows.speakers))
        if unknown:
            raise InputError(f"augment.virtual_speakers: speaker {unknown[0]!r} is not in the training manifest "
                             f"({len(unknown)} such)", augment.virtual_speakers)
        virtual = augment.virtual_counts(rows.speakers)
    speaker_map = SpeakerMap(rows.speakers, augment.virtual_copies if augment is not None else 1, virtual=virtual)
    aam = getattr(hparams["loss"], "aam", None)
    if aam is not None and aam.n_speakers != speaker_map.n_classes:
        copies = f" x {speaker_map.copies} (speed-perturbed virtual speakers)" if speaker_map.copies > 1 else ""
        if speaker_map.virtual is not None:
            copies = f" + {int(speaker_map.virtual.sum())} targeted virtual speakers"
        fix = f"set n_speakers: {speaker_map.n_classes}"
        if "speed_copies" in hparams:  # the VoxCeleb recipes: n_speakers x speed_copies classes
            fix = f"set n_speakers: {len(rows.speakers)} and speed_copies: {speaker_map.copies}"
        raise InputError(f"the recipe's AAM head has {aam.n_speakers} classes but the training manifest has "
                         f"{len(rows.speakers)} speakers{copies}; {fix}")
    world = ddp.world_size()
    accumulate = hparams.get("accumulate", 1)
    if not isinstance(accumulate, int) or accumulate < 1:
        raise InputError(f"accumulate must be an integer >= 1, got {accumulate!r}")
    if accumulate > 1 and hparams["reweighting"].method != "none":
        raise InputError("accumulate > 1 works without reweighting only (the adversary needs the whole batch); "
                         "use more processes (torchrun) or a smaller batch")
    if hparams["speakers_per_batch"] % (world * accumulate):
        raise InputError(f"speakers_per_batch={hparams['speakers_per_batch']} does not split into {world} "
                         f"process(es) x accumulate {accumulate}: make it a multiple of {world * accumulate}")
    if hparams["speakers_per_batch"] > len(rows.speakers):
        raise InputError(f"speakers_per_batch/utts_per_speaker: speakers_per_batch={hparams['speakers_per_batch']} "
                         f"but the manifest has only {len(rows.speakers)} speakers")
    init = _read_init(hparams, speaker_map) if hparams.get("init_from") else None
    return {"rows": rows, "speaker_map": speaker_map, "init": init}


def build_trainer(hparams: dict, device: str = "cpu", progress: bool = True, num_workers: int | None = None,
                  prepared: dict | None = None):
    from arwsv.data.dataio import CropDataset
    from arwsv.data.sampler import PKBatchSampler
    from arwsv.training import distributed as ddp
    from arwsv.training.checkpoint import SafeCheckpointer
    from arwsv.training.methods import build_reweighter
    from arwsv.training.trainer import MinMaxTrainer

    out = Path(hparams["output_folder"])
    manifest = Path(hparams["train_manifest"])
    prepared = prepared or preflight(hparams)
    rows, speaker_map = prepared["rows"], prepared["speaker_map"]
    rw, augment = hparams["reweighting"], hparams.get("augment")
    dataset = CropDataset(rows, hparams["crop_seconds"], crop_from=hparams.get("crop_from", "segment"),
                          augment=augment, speaker_map=speaker_map)
    rank, world = ddp.rank(), ddp.world_size()
    accumulate = hparams.get("accumulate", 1)
    speed = {} if augment is None or augment.speed_prob == 0 else \
        {"speed_copies": len(augment.speed_factors), "speed_prob": augment.speed_prob}
    if speaker_map.virtual is not None:
        speed = {"virtual_counts": dict(zip(speaker_map.speakers, speaker_map.virtual.tolist()))}
    try:
        sampler = PKBatchSampler(dataset.spk_ids, hparams["speakers_per_batch"], hparams["utts_per_speaker"],
                                 seed=hparams["seed"], rank=rank, world_size=world, **speed)
    except ValueError as err:
        raise InputError(f"speakers_per_batch/utts_per_speaker: {err}") from None
    for name in ("features", "embedding_model", "loss"):
        hparams[name].to(device)
    if prepared["init"] is not None:
        _apply_init(hparams, prepared["init"])
    learner = [p for n in ("features", "embedding_model", "loss") for p in hparams[n].parameters()]
    optimizer = torch.optim.Adam(learner, lr=hparams["lr"], weight_decay=hparams.get("weight_decay", 0.0))
    total = sum(len(sampler.batches(e)) for e in range(hparams["epochs"]))  # epochs differ by a batch or two
    scheduler = _lr_schedule(optimizer, hparams, total)
    reweighter = build_reweighter(rw, embedding_size=_embedding_size(hparams, device) if rw.method == "pw" else None,
                                  speakers=dataset.speakers, manifest=manifest, seed=hparams["seed"], device=device)
    scaler = torch.amp.GradScaler("cuda") if hparams.get("precision") == "fp16" else None
    recoverables = {"embedding_model": hparams["embedding_model"], "loss": hparams["loss"], "optimizer": optimizer,
                    "scheduler": scheduler, "sampler": sampler, "reweighting": reweighter}
    if scaler is not None:
        recoverables["grad_scaler"] = scaler
    checkpointer = SafeCheckpointer(out / "checkpoints", recoverables, keep=hparams.get("keep_checkpoints", 2),
                                    optional=("reweighting",),
                                    on_recover=lambda path: _load_legacy_reweighting(path, reweighter))
    if num_workers is None:
        num_workers = hparams.get("num_workers")
    if num_workers is None:
        num_workers = auto_workers(device)
    pin = hparams.get("pin_memory")
    settings = {"epochs": hparams["epochs"], "accumulate": accumulate, "ckpt_every": hparams.get("ckpt_every", 100),
                "log_every": hparams.get("log_every", 10), "num_workers": num_workers,
                "precision": hparams.get("precision", "fp32"), "margin_ramp": hparams.get("margin_ramp"),
                "pin_memory": str(device).startswith("cuda") if pin is None else pin,
                "prefetch_factor": hparams.get("prefetch_factor", 2)}
    model, loss = hparams["embedding_model"], hparams["loss"]
    if world > 1:  # PyTorch DDP averages the gradients; the checkpoint keeps the unwrapped modules
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [torch.device(device).index] if device.startswith("cuda") else None
        model = DDP(model, device_ids=ids)
        loss = DDP(loss, device_ids=ids)
        if hasattr(reweighter, "wrapped"):
            reweighter.wrapped = DDP(reweighter.adversary, device_ids=ids)
    trainer = MinMaxTrainer(features=hparams["features"], embedding_model=model, loss=loss, optimizer=optimizer,
                            scheduler=scheduler, sampler=sampler, dataset=dataset, checkpointer=checkpointer,
                            settings=settings, log_path=out / "train_log.jsonl", reweighter=reweighter, device=device,
                            loss_plain=hparams["loss"], scaler=scaler)
    recoverables["trainer"] = trainer  # step counter and RNG state travel with the checkpoint
    return trainer


def _lr_schedule(optimizer, hparams: dict, total: int):
    """Cosine decay to ``lr * lr_final_ratio`` over the run; with ``lr_warmup_steps`` W, a linear warm-up from
    lr / W first (SpeechBrain's and WeSpeaker's recipes warm up), then the cosine over the remaining steps."""
    final = hparams["lr"] * hparams.get("lr_final_ratio", 0.05)
    warm = min(hparams.get("lr_warmup_steps", 0), max(0, total - 1))
    if not warm:  # the schedule of every run made before warm-up existed
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total), eta_min=final)
    lr = torch.optim.lr_scheduler
    return lr.SequentialLR(optimizer, [lr.LinearLR(optimizer, start_factor=1.0 / warm, total_iters=warm),
                                       lr.CosineAnnealingLR(optimizer, T_max=max(1, total - warm), eta_min=final)],
                           milestones=[warm])


FINAL_LOSS = "final/loss.ckpt"  # the loss head (AAM classes, pairwise scale and bias) of a finished run
FINAL_SPEAKERS = "final/speakers.json"  # its classes: the real speakers in index order and the copies of each


def _read_init(hparams: dict, speaker_map) -> dict:
    """Check and read ``init_from`` (a finished run's folder): its embedding model, its loss head (``final/loss.ckpt``,
    else its newest checkpoint's) and its classes. One line naming the file for anything wrong."""
    folder = Path(hparams["init_from"])
    weights = folder / FINAL_WEIGHTS
    if not weights.is_file():
        raise InputError(f"init_from: no trained weights ({FINAL_WEIGHTS}) in this folder; give a finished "
                         "arwsv train run", folder)

    def load(path):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged file: pickle, zip or torch errors
            raise InputError(f"init_from: cannot read it ({type(err).__name__})", path) from None

    state = load(weights)
    model = {k: v.shape for k, v in hparams["embedding_model"].state_dict().items()}
    wrong = [k for k, v in state.items() if k not in model or tuple(v.shape) != tuple(model[k])] + \
        [k for k in model if k not in state]
    if wrong:
        key = wrong[0]
        shapes = f"{tuple(state[key].shape) if key in state else 'absent'} there, " \
                 f"{tuple(model[key]) if key in model else 'absent'} here"
        raise InputError("init_from: its embedding model does not fit this recipe's (another embedding size or "
                         f"architecture: {key} {shapes})", weights)
    head_path = folder / FINAL_LOSS
    if not head_path.is_file():
        ckpts = sorted((folder / "checkpoints").glob("CKPT+*/loss.ckpt"))
        head_path = ckpts[-1] if ckpts else None
    head = None if head_path is None else load(head_path)
    if head is None and getattr(hparams["loss"], "aam", None) is not None:
        print(f"arwsv train: init_from: {folder} has no loss head (final/loss.ckpt or a checkpoint); the AAM head "
              "starts from its initial weights")
    classes = None
    if (folder / FINAL_SPEAKERS).is_file():
        try:
            classes = json.loads((folder / FINAL_SPEAKERS).read_text(encoding="utf-8"))
            classes = (list(classes["speakers"]), int(classes["copies"]))
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"init_from: unreadable ({type(err).__name__})", folder / FINAL_SPEAKERS) from None
    return {"weights": state, "head": head, "head_path": head_path, "classes": classes,
            "speakers": speaker_map.speakers}


def _apply_init(hparams: dict, init: dict) -> None:
    """Load :func:`_read_init`'s weights. The AAM head's rows follow the speakers' names when the source recorded
    them (``final/speakers.json``): a speaker of both runs keeps its row, a new speaker or a virtual one keeps its
    initial weights; without the record, rows go by position (the real speakers come first). Other parameters of the
    head must have the same shape."""
    hparams["embedding_model"].load_state_dict(init["weights"])
    if init["head"] is None:
        return
    target = hparams["loss"].state_dict()
    n_here = len(init["speakers"])
    for key, value in init["head"].items():
        if key not in target:
            continue
        if target[key].shape == value.shape and (init["classes"] is None or value.dim() != 2 or
                                                 init["classes"][0] == init["speakers"]):
            target[key] = value
        elif value.dim() == 2 and target[key].dim() == 2 and value.shape[1] == target[key].shape[1]:
            target[key] = target[key].clone()
            if init["classes"] is not None:  # by name: the source's real-speaker rows
                index = {s: i for i, s in enumerate(init["classes"][0])}
                pairs = [(i, index[s]) for i, s in enumerate(init["speakers"]) if s in index]
                if pairs:
                    here, there = (torch.tensor(v) for v in zip(*pairs))
                    target[key][here] = value[there]
            else:
                rows = min(len(value), len(target[key]), n_here)
                target[key][:rows] = value[:rows]
        else:
            raise InputError(f"init_from: its loss head's {key} has shape {tuple(value.shape)}, this recipe's "
                             f"{tuple(target[key].shape)} (another embedding size?)", init["head_path"])
    hparams["loss"].load_state_dict(target)


def init_from_run(hparams: dict, device: str = "cpu") -> None:
    """Start the recipe's modules from ``init_from`` (see :func:`_read_init` and :func:`_apply_init`)."""
    _apply_init(hparams, _read_init(hparams, preflight(hparams)["speaker_map"]))


LEGACY_RETIRED = ("region_memory.ckpt", "holdout_sampler.ckpt")


def _load_legacy_reweighting(path, reweighter) -> None:
    """A checkpoint written before the one-interface trainers keeps the adversary, its optimiser and the
    regions as separate entries: load them into ``reweighter`` (the factors come with the trainer's entry).
    A checkpoint of a retired study variant is refused in one line."""
    path = Path(path)
    if (path / "reweighting.ckpt").is_file():
        return
    retired = [name for name in LEGACY_RETIRED if (path / name).is_file()]
    if retired:
        raise InputError(f"a checkpoint of a study variant that left the code ({retired[0]}); resume it with "
                         "commit e14f2a4, or train into a new output_folder", path)
    if (path / "adversary.ckpt").is_file():
        def load(name):
            return torch.load(path / name, map_location="cpu", weights_only=True) if (path / name).is_file() else None

        reweighter.load_state_dict({"adversary": load("adversary.ckpt"), "optimizer": load("adversary_optimizer.ckpt"),
                                    "regions": load("regions.ckpt")})


def validation(hparams: dict, trainer, device: str, progress: bool):
    """End-of-epoch check on ``valid_trials`` (over ``valid_manifest``): EER, and with ``valid_meta``
    the gender gap, through the eval module. Metadata serves this report only, never training."""
    trials_path, manifest = hparams.get("valid_trials"), hparams.get("valid_manifest")
    if not trials_path or not manifest:
        return None
    import tempfile

    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract
    from arwsv.evaluation.groups import FairnessEvaluation
    from arwsv.io.scorefile import read_scores, read_trials
    from arwsv.inference.score import score_trials

    for path in (trials_path, manifest) + ((hparams["valid_meta"],) if hparams.get("valid_meta") else ()):
        if not Path(path).is_file():
            raise InputError("validation file not found", path)
    trials = read_trials(trials_path)
    wanted = {os.path.splitext(u)[0] for u in set(trials["enrol"]) | set(trials["test"])}
    rows = [r for r in load_manifest_rows(manifest) if r["id"] in wanted]
    missing = wanted - {r["id"] for r in rows}
    if missing:  # found now, not after a whole epoch of training
        raise InputError(f"{len(missing)} utterances of valid_trials are not in valid_manifest {manifest} "
                         f"(e.g. {sorted(missing)[0]})", trials_path)

    def on_epoch_end(epoch: int) -> None:
        from arwsv.training import distributed as ddp

        features, model = hparams["features"], hparams["embedding_model"]
        features.eval(), model.eval()
        # every rank embeds its share; the waits around it are patient (a long list is not a dead peer)
        share = rows[ddp.rank()::ddp.world_size()]
        ids, emb = extract(features, model, share, device=device, progress=progress and ddp.is_main()) if share \
            else ([], None)
        parts = ddp.gather_objects_patiently((list(ids), emb))
        if not ddp.is_main():
            ddp.barrier_patiently()
            return
        import numpy as np

        ids = [u for part_ids, _ in parts for u in part_ids]
        emb = np.concatenate([e for _, e in parts if e is not None])
        with tempfile.TemporaryDirectory() as tmp:
            scores = Path(tmp) / "scores.txt"
            score_trials(trials, ids, emb).to_csv(scores, sep=" ", header=False, index=False)
            table = read_scores(scores)
        values = {}
        if hparams.get("valid_meta"):
            from arwsv.io.metadata import read_metadata

            meta = read_metadata(hparams["valid_meta"])
            values = {"gender": meta.values("gender", table.speakers)}
        report = FairnessEvaluation(table, values).run(progress=False)
        entry = {"epoch": epoch, "step": trainer.step, "valid_eer": report["overall"]["eer"]}
        if values:
            entry["valid_gender_gap"] = report["attributes"]["gender"]["summary"]["eer_gap_abs"]
        with open(trainer.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        print("validation: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
        ddp.barrier_patiently()

    return on_epoch_end


def _fingerprints(hparams: dict, trainer) -> list:
    """SHA-256 of every trainable parameter, one per rank: equal when DDP kept the ranks in step.

    (BatchNorm running statistics are left out: each rank updates them on its own slice after
    DDP's broadcast; rank 0's are the ones saved.)
    """
    import hashlib

    from arwsv.training import distributed as ddp

    digest = hashlib.sha256()
    for module in (hparams["embedding_model"], hparams["loss"], *trainer.reweighter.modules().values()):
        if module is not None:
            for _, p in sorted(module.named_parameters()):
                digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    if ddp.world_size() == 1:
        return [digest.hexdigest()]
    import torch.distributed as dist

    out = [None] * ddp.world_size()
    dist.all_gather_object(out, digest.hexdigest())
    return out


def run_training(hparams: dict, resolved_yaml: str, *, resume: bool = False, device: str = "cpu",
                 progress: bool = True, num_workers: int | None = None) -> dict:
    """Train as the recipe says; returns the report written to ``train_report.json``."""
    from arwsv.training import distributed as ddp

    out = Path(hparams["output_folder"])
    if not resume and (out / "checkpoints").exists() and any((out / "checkpoints").glob("CKPT+*")):
        raise InputError("has checkpoints from an earlier run: pass --resume to continue it, or choose another "
                         "output_folder", out)
    recorded = out / "hyperparams.yaml"
    diff = recipe_changes(recorded.read_text(encoding="utf-8"), resolved_yaml) if resume and recorded.is_file() else []
    if diff:
        raise InputError(f"--resume with another recipe than this run's ({'; '.join(diff[:2])}); resume with the "
                         "same recipe and overrides, or train into a new output_folder", recorded)
    changed = reference_changed(hparams) if resume else None
    factors = hparams["reweighting"].speaker_factors
    record = out / FACTORS_RECORD
    if resume and factors is not None and record.is_file() and \
            json.loads(record.read_text(encoding="utf-8")).get("sha256") != _file_digest(factors):
        raise InputError(f"--resume: reweighting.speaker_factors: {factors} is not the file this run started "
                         "from (its SHA-256 differs); restore it, or train into a new output_folder", out)
    if changed:  # its factors, saved in the checkpoint, would belong to a model that is gone
        raise InputError(f"--resume: reweighting.crowding_reference: {changed}; restore that model, or train "
                         "into a new output_folder", out)
    prepared = preflight(hparams)  # every check that reads the data or init_from, before anything is written
    ddp.barrier()  # every rank has looked before rank 0 writes anything
    if ddp.is_main():
        try:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_write(recorded) as handle:
                handle.write(resolved_yaml)
        except OSError as err:
            raise InputError(f"cannot write the output folder: {err.strerror}", out) from None
    ddp.barrier()
    trainer = build_trainer(hparams, device, progress, num_workers, prepared)
    _record_reference(hparams, out, resume)
    if factors is not None and ddp.is_main() and not (resume and record.is_file()):
        with atomic_write(record) as handle:
            handle.write(json.dumps({"file": str(factors), "sha256": _file_digest(factors)}, indent=1) + "\n")
    last = trainer.fit(resume=resume, progress=progress,
                       on_epoch_end=validation(hparams, trainer, device, progress))
    report = {"steps": trainer.step, "epochs": hparams["epochs"], "last_log": last,
              "bad_audio": dict(trainer.dataset.counts), "processes": ddp.world_size(),
              **({"augmented": dict(sorted(trainer.dataset.augment_counts.items()))}
                 if trainer.dataset.augment_counts else {}),
              "parameter_fingerprints": _fingerprints(hparams, trainer)}
    if not ddp.is_main():
        return report
    final = out / FINAL_WEIGHTS
    final.parent.mkdir(exist_ok=True)
    with atomic_write(final, mode="wb") as handle:
        torch.save(hparams["embedding_model"].state_dict(), handle)
    with atomic_write(out / FINAL_LOSS, mode="wb") as handle:  # for init_from (fine-tuning)
        torch.save(hparams["loss"].state_dict(), handle)
    with atomic_write(out / FINAL_SPEAKERS) as handle:  # which speaker each AAM row is (init_from maps by name)
        speaker_map = trainer.dataset.speaker_map
        record = {"speakers": trainer.dataset.speakers, "copies": speaker_map.copies}
        if speaker_map.virtual is not None:  # targeted copies: their classes follow the real speakers'
            record["virtual_classes"] = [speaker_map.label(c) for c in range(speaker_map.n_speakers,
                                                                             speaker_map.n_classes)]
        handle.write(json.dumps(record) + "\n")
    report["final_weights"] = str(final)
    with atomic_write(out / "train_report.json") as handle:
        handle.write(json.dumps(report, indent=1) + "\n")
    return report


def _record_reference(hparams: dict, out: Path, resume: bool) -> None:
    """Write which reference model this run takes its factors from (a fresh run; a resumed run keeps
    its record, and one started before records existed gets none: its reference is not known)."""
    from arwsv.training import distributed as ddp

    folder = hparams["reweighting"].crowding_reference
    if folder is None or not ddp.is_main() or (resume and (out / "checkpoints").exists()):
        return
    with atomic_write(out / REFERENCE_RECORD) as handle:
        handle.write(json.dumps({"folder": str(folder), "sha256": model_digest(folder)}, indent=1) + "\n")


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python before the recipe builds its modules (initial weights)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
