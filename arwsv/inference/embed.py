"""Extracting speaker embeddings with a trained model folder, and the embeddings file format.

A model folder is what ``arwsv train`` writes: ``hyperparams.yaml`` (which builds the features
and the embedding model) and ``final/embedding_model.ckpt`` (weights, loaded with
``weights_only=True``); or a SpeechBrain pretrained speaker model on disk (``hyperparams.yaml`` with
``compute_features``, ``mean_var_norm``, ``embedding_model``, and ``embedding_model.ckpt``).

Embeddings file (``arwsv embed --out EMB``): a NumPy ``.npz`` with ``ids`` (str, shape (N,),
manifest IDs such as ``id10270/5r0dWxy17C8/00001``) and ``embeddings`` (float32, shape (N, D)),
readable with ``np.load(EMB)`` (no pickle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arwsv.errors import InputError
from arwsv.io.files import atomic_write

__all__ = ["FINAL_WEIGHTS", "load_model", "model_digest", "extract", "cohort_embeddings", "save_embeddings",
           "load_embeddings"]

# Where a model folder keeps the trained embedding model (``arwsv train`` writes it there).
FINAL_WEIGHTS = "final/embedding_model.ckpt"


class SpeechBrainFrontEnd:
    """The front end of a SpeechBrain pretrained speaker model: ``compute_features`` then ``mean_var_norm``,
    called as :class:`arwsv.data.features.Features` is: ``(wavs (B, samples), lengths (B,) or None) -> feats``."""

    def __init__(self, compute_features, mean_var_norm=None):
        self.compute_features, self.mean_var_norm = compute_features, mean_var_norm

    def __call__(self, wavs, lengths=None):
        import torch

        feats = self.compute_features(wavs)
        if self.mean_var_norm is None:
            return feats
        return self.mean_var_norm(feats, torch.ones(len(wavs), device=wavs.device) if lengths is None else lengths)

    def to(self, device):
        for module in (self.compute_features, self.mean_var_norm):
            if module is not None:
                module.to(device)
        return self

    def eval(self):
        for module in (self.compute_features, self.mean_var_norm):
            if module is not None:
                module.eval()
        return self

    def train(self, mode: bool = True):
        return self  # a reference front end stays as loaded


def _load_speechbrain_pretrained(model_dir: Path, device: str):
    """A SpeechBrain pretrained speaker model on disk (``hyperparams.yaml`` with ``compute_features``,
    ``mean_var_norm`` and ``embedding_model``, and ``embedding_model.ckpt``, as SpeechBrain's ECAPA models ship):
    nothing is fetched (building the YAML's ``pretrainer`` downloads nothing; it is not called)."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    with open(model_dir / "hyperparams.yaml", encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    for key in ("compute_features", "embedding_model"):
        if key not in hparams:
            raise InputError(f"not a SpeechBrain speaker model: hyperparams.yaml has no {key}", model_dir)
    model = hparams["embedding_model"]
    model.load_state_dict(torch.load(model_dir / "embedding_model.ckpt", map_location="cpu", weights_only=True))
    norm = hparams.get("mean_var_norm")
    if norm is not None and (model_dir / "mean_var_norm.ckpt").is_file():
        norm._load(model_dir / "mean_var_norm.ckpt")  # SpeechBrain's own loader of its statistics
    features = SpeechBrainFrontEnd(hparams["compute_features"], norm)
    model.to(device).eval()
    features.to(device).eval()
    return features, model, hparams


def load_model(model_dir, device: str = "cpu"):
    """``(features, embedding_model, hparams)`` of a model folder, in eval mode: an ``arwsv train`` output, or a
    SpeechBrain pretrained speaker model on disk (``hyperparams.yaml`` + ``embedding_model.ckpt``)."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible")
    model_dir = Path(model_dir)
    recipe, weights = model_dir / "hyperparams.yaml", model_dir / FINAL_WEIGHTS
    if recipe.is_file() and not weights.is_file() and (model_dir / "embedding_model.ckpt").is_file():
        return _load_speechbrain_pretrained(model_dir, device)
    for path in (recipe, weights):
        if not path.is_file():
            raise InputError(f"not a trained model folder: {path.name} is missing (train it with arwsv train)",
                             model_dir)
    with open(recipe, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    model = hparams["embedding_model"]
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    features = hparams["features"]
    for module in (features, model):
        module.to(device).eval()
    return features, model, hparams


def model_digest(model_dir) -> str | None:
    """SHA-256 (hex) of a model folder's recipe and final weights, the two files :func:`load_model`
    reads; ``None`` when either is missing. Tells whether a folder still holds the model a run used."""
    import hashlib

    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    weights = model_dir / FINAL_WEIGHTS
    if not weights.is_file() and (model_dir / "embedding_model.ckpt").is_file():
        weights = model_dir / "embedding_model.ckpt"  # a SpeechBrain pretrained model
    for path in (model_dir / "hyperparams.yaml", weights):
        if not path.is_file():
            return None
        digest.update(path.read_bytes())
    return digest.hexdigest()


def extract(features, model, rows: list, *, device: str = "cpu", batch_seconds: float = 120.0,
            progress: bool = True) -> tuple:
    """Embeddings of whole utterances; ``rows`` from :func:`arwsv.data.dataio.load_manifest_rows`.

    Utterances are sorted by length and batched up to ``batch_seconds`` of padded audio.
    Returns ``(ids (N,), embeddings (N, D) float32)`` in manifest order; unreadable audio fails
    with the file named (scoring needs every trial's embedding).
    """
    import torch
    from tqdm.auto import tqdm

    from arwsv.data.dataio import read_audio

    if not rows:
        raise InputError("no utterances to embed (an empty manifest, or none of the wanted IDs in it)")
    order = sorted(range(len(rows)), key=lambda i: float(rows[i].get("duration") or 0.0))
    out = [None] * len(rows)
    bar = tqdm(total=len(rows), desc="embedding", unit="utt", disable=not progress or None)
    start = 0
    while start < len(order):
        longest = max(float(rows[order[start]].get("duration") or 1.0), 0.1)
        count = max(1, int(batch_seconds / longest))
        chunk = order[start:start + count]
        waves = []
        for i in chunk:
            stop = rows[i].get("stop")
            wave, notes = read_audio(rows[i]["wav"], int(float(rows[i].get("start") or 0)),
                                     int(float(stop)) if stop not in (None, "") else None)
            if wave is None:
                raise InputError(f"cannot embed utterance {rows[i]['id']}: audio is {notes[-1]}", rows[i]["wav"])
            waves.append(wave)
        longest = max(len(w) for w in waves)
        batch = torch.zeros(len(waves), longest)
        for j, wave in enumerate(waves):
            batch[j, :len(wave)] = torch.from_numpy(wave)
        lengths = torch.tensor([len(w) / longest for w in waves])
        with torch.no_grad():
            emb = model(features(batch.to(device), lengths.to(device)), lengths.to(device)).squeeze(1)
        for j, i in enumerate(chunk):
            out[i] = emb[j].cpu().numpy()
        bar.update(len(chunk))
        start += len(chunk)
    bar.close()
    return np.array([r["id"] for r in rows]), np.stack(out).astype(np.float32)


def cohort_embeddings(features, model, rows: list, *, utts: int = 0, device: str = "cpu",
                      progress: bool = True) -> tuple:
    """An AS-norm cohort of one vector per speaker: ``(speakers (S,) sorted, embeddings (S, D) unit length)``, each
    the mean of the unit embeddings of the speaker's first ``utts`` utterances of ``rows`` by id (0: all of them;
    :func:`arwsv.inference.score.cohort_rows`). ``arwsv score --cohort`` and ``arwsv select`` build it this way."""
    from arwsv.inference.score import cohort_rows, speaker_means

    chosen = cohort_rows(rows, utts)
    _, embeddings = extract(features, model, chosen, device=device, progress=progress)
    return speaker_means([r["spk_id"] for r in chosen], embeddings)


def save_embeddings(path, ids, embeddings) -> None:
    with atomic_write(path, mode="wb") as handle:
        np.savez(handle, ids=np.asarray(ids, dtype=str), embeddings=np.asarray(embeddings, dtype=np.float32))


def load_embeddings(path) -> tuple:
    """``(ids (N,), embeddings (N, D))`` from an embeddings file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["ids"], data["embeddings"]
    except FileNotFoundError:
        raise InputError("no such embeddings file", path) from None
    except KeyError as err:
        raise InputError(f"not an arwsv embeddings file (.npz with ids and embeddings): no array {err}", path) from None
    except (ValueError, OSError, EOFError):
        raise InputError("not an arwsv embeddings file (.npz with ids and embeddings)", path) from None
