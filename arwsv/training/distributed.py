"""Data-parallel training with PyTorch's own machinery (``torchrun`` + DDP), kept out of the loop.

``torchrun --nproc_per_node=N -m arwsv train RECIPE.yaml`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`init_from_env` then joins the process group (gloo on CPU, nccl on GPU) with
a timeout, so a rank that dies makes the others fail instead of waiting forever. The trainer
wraps the embedding model, the loss head and the adversary in ``DistributedDataParallel``; every
rank takes its slice of the same global P x K batch; k-means runs on rank 0 and its centroids
are broadcast; only rank 0 writes logs and checkpoints.

Validation splits its utterances over the ranks and waits on a second (gloo) group whose timeout is
``VALIDATION_TIMEOUT``, not the training group's ``ddp_timeout_s``: a long validation list (Vox1-E, Vox1-H) must not
look like a dead peer.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "shutdown", "rank", "world_size", "is_main", "barrier", "gather_rows", "broadcast_centroids",
           "refit_regions", "broadcast_object", "gather_objects_patiently", "barrier_patiently", "VALIDATION_TIMEOUT"]

VALIDATION_TIMEOUT = timedelta(hours=12)  # how long ranks wait for each other around validation
_patient = None  # the gloo group with that timeout, made when the process group is joined


def init_from_env(device: str = "cpu", timeout_s: float = 600.0) -> tuple:
    """Join the process group torchrun describes; ``(rank, world_size)`` ((0, 1) when not launched so)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        global _patient
        _patient = dist.new_group(backend="gloo", timeout=VALIDATION_TIMEOUT)  # every rank creates it, in step
    return rank(), world_size()


def shutdown() -> None:
    """Leave the process group (a process that exits inside one aborts)."""
    global _patient
    if dist.is_available() and dist.is_initialized():
        _patient = None
        dist.destroy_process_group()


def gather_objects_patiently(value) -> list:
    """Every rank's ``value`` (picklable), in rank order, waiting up to :data:`VALIDATION_TIMEOUT` for the others."""
    if world_size() == 1:
        return [value]
    out = [None] * world_size()
    dist.all_gather_object(out, value, group=_patient)
    return out


def barrier_patiently() -> None:
    """A barrier that waits up to :data:`VALIDATION_TIMEOUT` (rank 0 scoring a validation list)."""
    if world_size() > 1:
        dist.barrier(group=_patient)


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from every rank, in rank order (ranks may hold different row counts)."""
    if world_size() == 1:
        return x
    parts = [None] * world_size()
    dist.all_gather_object(parts, x.detach().cpu())
    return torch.cat(parts)


def broadcast_object(value):
    """Rank 0's ``value`` on every rank (any picklable object; ``value`` is ignored on the other ranks)."""
    if world_size() == 1:
        return value
    holder = [value if is_main() else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def broadcast_centroids(regions) -> None:
    """Every rank takes rank 0's k-means centroids (shape (K, D), or none yet)."""
    if world_size() == 1:
        return
    holder = [regions.centroids if is_main() else None]
    dist.broadcast_object_list(holder, src=0)
    regions.centroids = holder[0]


def refit_regions(regions, step: int) -> bool:
    """Refit k-means when due: on rank 0, with the centroids broadcast; True when it happened."""
    if not regions.due(step):
        return False
    if is_main():
        regions.refit(step)
    else:  # keep the schedule in step; the centroids come from rank 0
        regions.fits, regions.last_fit_step = regions.fits + 1, step
    broadcast_centroids(regions)
    return True
