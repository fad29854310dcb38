"""The one decoder every encoder shares: TR embedding (batch, d) -> log-mel (batch, 64, 128).

Linear to ``channels x frames/8``, three x2 nearest-neighbour upsamplings each followed by a
Conv1d(k=5) + GELU, and a 1x1 Conv1d to the mel bands. Same architecture, size and init seed
for every encoder, so differences in reconstruction are the encoder's.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders.base import TemporalEncoder


class MelDecoder(nn.Module):
    def __init__(self, d_model: int = 128, n_frames: int = 64, n_mels: int = 128, channels: int = 128,
                 n_upsample: int = 3):
        super().__init__()
        if n_frames % (2 ** n_upsample):
            raise ValueError(f"n_frames={n_frames} must be divisible by 2**n_upsample={2 ** n_upsample}")
        self.d_model, self.n_frames, self.n_mels, self.channels = d_model, n_frames, n_mels, channels
        self.t0 = n_frames // 2 ** n_upsample
        self.inp = nn.Linear(d_model, channels * self.t0)
        self.up = nn.Sequential(*[
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(channels, channels, 5, padding=2), nn.GELU())
            for _ in range(n_upsample)
        ])
        self.out = nn.Conv1d(channels, n_mels, 1)

    @staticmethod
    def param_formula(d_model=128, n_frames=64, n_mels=128, channels=128, n_upsample=3) -> int:
        t0 = n_frames // 2 ** n_upsample
        return (d_model * channels * t0 + channels * t0) + n_upsample * (channels * channels * 5 + channels) + \
            (channels * n_mels + n_mels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.d_model:
            raise ValueError(f"MelDecoder expects embeddings shaped (batch, {self.d_model}), got {tuple(z.shape)}")
        h = self.inp(z).view(z.shape[0], self.channels, self.t0)
        return self.out(self.up(h)).transpose(1, 2)  # (batch, frames, mels)


class Autoencoder(nn.Module):
    """encoder -> TR embedding -> shared decoder. ``embed`` gives the embedding alone."""

    def __init__(self, encoder: TemporalEncoder, decoder: MelDecoder):
        super().__init__()
        if encoder.d_model != decoder.d_model:
            raise ValueError(f"encoder d_model {encoder.d_model} != decoder d_model {decoder.d_model}")
        self.encoder, self.decoder = encoder, decoder

    def embed(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))
