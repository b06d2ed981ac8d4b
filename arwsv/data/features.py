"""Acoustic features for the embedding extractor: SpeechBrain Fbank + per-utterance mean norm."""

from __future__ import annotations

import torch

__all__ = ["Features"]


class Features(torch.nn.Module):
    """Log Mel filterbanks, mean (and optionally variance) normalised per utterance, as in
    SpeechBrain's ECAPA-TDNN VoxCeleb recipe (which normalises the mean only).

    Parameters
    ----------
    n_mels : int
        Number of Mel bands (80 in SpeechBrain's VoxCeleb recipe).
    std_norm : bool
        Also divide by the per-utterance standard deviation.

    Shapes: ``forward(wavs (B, samples), lengths (B,) relative in (0, 1])`` -> ``(B, frames, n_mels)``.
    """

    def __init__(self, n_mels: int = 80, std_norm: bool = False):
        super().__init__()
        from speechbrain.lobes.features import Fbank
        from speechbrain.processing.features import InputNormalization

        self.n_mels = n_mels
        self.fbank = Fbank(n_mels=n_mels)
        self.norm = InputNormalization(norm_type="sentence", std_norm=std_norm)

    def forward(self, wavs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.ones(wavs.shape[0], device=wavs.device)
        feats = self.fbank(wavs)
        return self.norm(feats, lengths)
