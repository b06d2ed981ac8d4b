"""Checkpoints with SpeechBrain's Checkpointer, made crash-safe.

SpeechBrain writes a checkpoint folder's ``CKPT.yaml`` *before* its parameter files, so a run
killed mid-save leaves a folder that looks complete. Here SpeechBrain saves into a staging folder
and the finished folder is renamed into place (an atomic rename on one file system): a kill or a
full disk at any moment leaves either the new checkpoint or none, never a broken "latest". Every
object is saved as its ``state_dict()`` and loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

__all__ = ["SafeCheckpointer", "save_state", "load_state"]


def save_state(obj, path) -> None:
    from arwsv.training.distributed import is_main

    if is_main():  # under DDP every rank holds the same state; rank 0 writes it
        torch.save(obj.state_dict(), path)


def load_state(obj, path, end_of_epoch=None) -> None:
    obj.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


class SafeCheckpointer:
    """Save and recover ``recoverables`` (name -> object with state_dict/load_state_dict).

    Parameters
    ----------
    folder : path-like
        Holds ``CKPT+step<N>`` folders (SpeechBrain's layout).
    recoverables : dict
    keep : int
        How many of the newest checkpoints to keep.
    """

    def __init__(self, folder, recoverables: dict, keep: int = 2, optional=(), on_recover=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recoverables, self.keep = recoverables, keep
        self.optional, self.on_recover = tuple(optional), on_recover

    def _checkpointer(self, folder):
        # built on demand: objects may join ``recoverables`` after this class is created
        from speechbrain.utils.checkpoints import Checkpointer

        checkpointer = Checkpointer(folder, self.recoverables,
                                    custom_save_hooks={n: save_state for n in self.recoverables},
                                    custom_load_hooks={n: load_state for n in self.recoverables})
        for name in self.optional:  # entries older checkpoints lack (``on_recover`` reads what they have instead)
            checkpointer.optional_recoverables[name] = True
        return checkpointer

    def save(self, step: int, meta: dict | None = None, end_of_epoch: bool = False) -> Path:
        from arwsv.training import distributed as ddp

        staging = self.folder / ".staging"
        if ddp.is_main():
            shutil.rmtree(staging, ignore_errors=True)
        final = None
        try:
            # every rank calls SpeechBrain's save (it synchronises the ranks); rank 0 writes the files
            saved = self._checkpointer(staging).save_checkpoint(
                meta={"step": int(step), **(meta or {})}, end_of_epoch=end_of_epoch, name=f"step{step:08d}",
                verbosity=10)
            final = self.folder / f"CKPT+step{step:08d}"
            if ddp.is_main():  # (SpeechBrain returns the checkpoint on rank 0 only)
                if final.exists():  # the same step saved again (end of epoch right after a periodic save)
                    shutil.rmtree(final)
                os.replace(saved.path, final)
        finally:
            if ddp.is_main():
                shutil.rmtree(staging, ignore_errors=True)
        ddp.barrier()
        self._checkpointer(self.folder).delete_checkpoints(num_to_keep=self.keep, max_keys=["step"], verbosity=10)
        return final

    def recover(self) -> dict | None:
        """Load the checkpoint with the highest step into the recoverables; its meta, or None."""
        import warnings

        with warnings.catch_warnings():  # SpeechBrain warns about a missing optional entry: on_recover handles it
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = self._checkpointer(self.folder).recover_if_possible(max_key="step")
        if checkpoint is not None and self.on_recover is not None:
            self.on_recover(checkpoint.path)
        return None if checkpoint is None else dict(checkpoint.meta, path=str(checkpoint.path))

    def latest(self) -> str | None:
        checkpoint = self._checkpointer(self.folder).find_checkpoint(max_key="step")
        return None if checkpoint is None else str(checkpoint.path)
