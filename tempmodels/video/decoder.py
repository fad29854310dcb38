"""The one video decoder every video encoder shares: TR embedding (batch, d) -> clip
(batch, frames, channels, size, size).

A two-layer MLP, ``Linear(d -> hidden)``, GELU, ``Linear(hidden -> frames·channels·size²)``: every
frame and pixel has its own output weights, so *when* and *where* something happens is the
embedding's to say, not the decoder's to guess. (A convolutional decoder of the audio kind —
Linear, then two x2 upsamplings with 16-channel 3x3 convolutions — took 93 ms per training step on
32 TRs of 9 x 32 x 32 on a 2-core CPU, nearly all of an encoder + decoder step; this MLP with 256
hidden units takes 12 ms.) Same architecture, size and init seed for every encoder: differences in
reconstruction are the encoder's.
"""
from __future__ import annotations

import torch
from torch import nn


class VideoDecoder(nn.Module):
    def __init__(self, d_model: int = 128, n_frames: int = 9, size: int = 32, channels: int = 1, hidden: int = 512):
        super().__init__()
        for name, v in (("d_model", d_model), ("n_frames", n_frames), ("size", size), ("channels", channels),
                        ("hidden", hidden)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.d_model, self.n_frames, self.size, self.channels = d_model, n_frames, size, channels
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, n_frames * channels * size * size))

    @staticmethod
    def param_formula(d_model=128, n_frames=9, size=32, channels=1, hidden=512) -> int:
        return (d_model + 1) * hidden + (hidden + 1) * n_frames * channels * size * size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.d_model:
            raise ValueError(f"VideoDecoder expects embeddings shaped (batch, {self.d_model}), got {tuple(z.shape)}")
        return self.mlp(z).view(z.shape[0], self.n_frames, self.channels, self.size, self.size)
