"""Per-mel-band z-scoring with statistics from the training block only."""
from __future__ import annotations

import torch


class BandNormalizer:
    def __init__(self, train: torch.Tensor):
        if train.ndim != 3:
            raise ValueError(f"expected training log-mel shaped (TR, frames, mels), got {tuple(train.shape)}")
        self.mean = train.mean(dim=(0, 1), keepdim=True)
        self.std = train.std(dim=(0, 1), keepdim=True).clamp_min(1e-6)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z.device) + self.mean.to(z.device)
