"""Controls that separate the *code* from the *decoder* (chapter 11).

A learning curve that compares a learned encoder with PCA-d mixes two things: the code (what the d
numbers hold) and the decoder that reads it (PCA-d's closed-form linear decoder against the shared,
non-linear :class:`~tempmodels.decoder.MelDecoder`). Two controls take them apart:

* :class:`PCAEncoder` — PCA-d's code, frozen (fit on the run's training TRs, no trainable weight),
  as an encoder in front of the shared ``MelDecoder``: the same decoder and budget as every learned
  code, so "PCA-d + MelDecoder" against PCA-d is the decoder's share, and a learned code against
  "PCA-d + MelDecoder" is the code's;
* :class:`LinearDecoder` — ``Linear(d → T·F)``: with :class:`~tempmodels.encoders.FlatLinear` in front it
  is a learned linear autoencoder, which can at best reach PCA-d (Eckart–Young) — how close it gets
  at each data size is what the optimiser and the budget leave of the linear optimum.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders.base import TemporalEncoder
from .pca_code import PCACode


class PCAEncoder(TemporalEncoder):
    """The PCA-d code of ``pca`` (a fitted :class:`~tempmodels.pca_code.PCACode`) as a frozen
    encoder: ``(batch, T, F) → (batch, d_model)``, no trainable parameters. Components beyond the
    rank of the training data (``pca.d_effective < d_model``) are zero columns of the code."""

    def __init__(self, pca: PCACode, d_model: int):
        n_frames, n_features = pca.shape
        super().__init__(n_features, n_frames, d_model)
        if pca.d_effective > d_model:
            raise ValueError(f"the PCA code has {pca.d_effective} components, more than d_model={d_model}")
        comps = torch.zeros(d_model, n_frames * n_features, dtype=torch.float32)
        comps[: pca.d_effective] = pca.components.float()
        self.register_buffer("mean", pca.mean.float())
        self.register_buffer("components", comps)
        self.d_effective = pca.d_effective

    @staticmethod
    def param_formula(**_) -> int:
        return 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.components.T


class LinearDecoder(nn.Module):
    """``Linear(d_model → n_frames · n_mels)``, reshaped to ``(batch, n_frames, n_mels)``."""

    def __init__(self, d_model: int = 128, n_frames: int = 64, n_mels: int = 128):
        super().__init__()
        self.d_model, self.n_frames, self.n_mels = d_model, n_frames, n_mels
        self.proj = nn.Linear(d_model, n_frames * n_mels)

    @staticmethod
    def param_formula(d_model: int = 128, n_frames: int = 64, n_mels: int = 128) -> int:
        return d_model * n_frames * n_mels + n_frames * n_mels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.d_model:
            raise ValueError(f"LinearDecoder expects embeddings shaped (batch, {self.d_model}), got {tuple(z.shape)}")
        return self.proj(z).view(len(z), self.n_frames, self.n_mels)


__all__ = ["PCAEncoder", "LinearDecoder"]
