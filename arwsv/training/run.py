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


def build_trainer(hparams: dict, device: str = "cpu", progress: bool = True, num_workers: int = 0):
    from arwsv.data.dataio import CropDataset, load_manifest_rows
    from arwsv.data.manifest import read_manifest
    from arwsv.data.sampler import PKBatchSampler
    from arwsv.training import distributed as ddp
    from arwsv.training.checkpoint import SafeCheckpointer
    from arwsv.training.methods import build_reweighter
    from arwsv.training.trainer import MinMaxTrainer

    out = Path(hparams["output_folder"])
    manifest = Path(hparams["train_manifest"])
    if not manifest.is_file():
        raise InputError("no such training manifest (run `arwsv prepare` first?)", manifest)
    if read_manifest(manifest).empty:
        raise InputError("the training manifest has no rows", manifest)
    rw = hparams["reweighting"]
    dataset = CropDataset(load_manifest_rows(manifest), hparams["crop_seconds"])
    aam = getattr(hparams["loss"], "aam", None)
    if aam is not None and aam.n_speakers != len(dataset.speakers):
        raise InputError(f"the recipe's AAM head has {aam.n_speakers} speakers but the training manifest "
                         f"{len(dataset.speakers)}; set n_speakers: {len(dataset.speakers)}")
    rank, world = ddp.rank(), ddp.world_size()
    accumulate = hparams.get("accumulate", 1)
    if not isinstance(accumulate, int) or accumulate < 1:
        raise InputError(f"accumulate must be an integer >= 1, got {accumulate!r}")
    if accumulate > 1 and rw.method != "none":
        raise InputError("accumulate > 1 works without reweighting only (the adversary needs the whole batch); "
                         "use more processes (torchrun) or a smaller batch")
    if hparams["speakers_per_batch"] % (world * accumulate):
        raise InputError(f"speakers_per_batch={hparams['speakers_per_batch']} does not split into {world} "
                         f"process(es) x accumulate {accumulate}: make it a multiple of {world * accumulate}")
    try:
        sampler = PKBatchSampler(dataset.spk_ids, hparams["speakers_per_batch"], hparams["utts_per_speaker"],
                                 seed=hparams["seed"], rank=rank, world_size=world)
    except ValueError as err:
        raise InputError(f"speakers_per_batch/utts_per_speaker: {err}") from None
    for name in ("features", "embedding_model", "loss"):
        hparams[name].to(device)
    learner = [p for n in ("features", "embedding_model", "loss") for p in hparams[n].parameters()]
    optimizer = torch.optim.Adam(learner, lr=hparams["lr"], weight_decay=hparams.get("weight_decay", 0.0))
    total = sum(len(sampler.batches(e)) for e in range(hparams["epochs"]))  # epochs differ by a batch or two
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total),
                                                           eta_min=hparams["lr"] * hparams.get("lr_final_ratio", 0.05))
    reweighter = build_reweighter(rw, embedding_size=_embedding_size(hparams, device) if rw.method == "pw" else None,
                                  speakers=dataset.speakers, manifest=manifest, seed=hparams["seed"], device=device)
    recoverables = {"embedding_model": hparams["embedding_model"], "loss": hparams["loss"], "optimizer": optimizer,
                    "scheduler": scheduler, "sampler": sampler, "reweighting": reweighter}
    checkpointer = SafeCheckpointer(out / "checkpoints", recoverables, keep=hparams.get("keep_checkpoints", 2),
                                    optional=("reweighting",),
                                    on_recover=lambda path: _load_legacy_reweighting(path, reweighter))
    settings = {"epochs": hparams["epochs"], "accumulate": accumulate, "ckpt_every": hparams.get("ckpt_every", 100),
                "log_every": hparams.get("log_every", 10), "num_workers": num_workers}
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
                            loss_plain=hparams["loss"])
    recoverables["trainer"] = trainer  # step counter and RNG state travel with the checkpoint
    return trainer


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
        features, model = hparams["features"], hparams["embedding_model"]
        features.eval(), model.eval()
        ids, emb = extract(features, model, rows, device=device, progress=progress)
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
                 progress: bool = True, num_workers: int = 0) -> dict:
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
    ddp.barrier()  # every rank has looked before rank 0 writes anything
    if ddp.is_main():
        try:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_write(recorded) as handle:
                handle.write(resolved_yaml)
        except OSError as err:
            raise InputError(f"cannot write the output folder: {err.strerror}", out) from None
    ddp.barrier()
    trainer = build_trainer(hparams, device, progress, num_workers)
    _record_reference(hparams, out, resume)
    if factors is not None and ddp.is_main() and not (resume and record.is_file()):
        with atomic_write(record) as handle:
            handle.write(json.dumps({"file": str(factors), "sha256": _file_digest(factors)}, indent=1) + "\n")
    last = trainer.fit(resume=resume, progress=progress,
                       on_epoch_end=validation(hparams, trainer, device, progress))
    report = {"steps": trainer.step, "epochs": hparams["epochs"], "last_log": last,
              "bad_audio": dict(trainer.dataset.counts), "processes": ddp.world_size(),
              "parameter_fingerprints": _fingerprints(hparams, trainer)}
    if not ddp.is_main():
        return report
    final = out / FINAL_WEIGHTS
    final.parent.mkdir(exist_ok=True)
    with atomic_write(final, mode="wb") as handle:
        torch.save(hparams["embedding_model"].state_dict(), handle)
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
