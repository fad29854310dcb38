"""The baseline: average the frames of a TR, then project to ``d_model``.

Exactly the pipeline the book questions, with a linear projection so that every encoder emits
the same embedding size. Order-blind by construction.
"""
from __future__ import annotations

from torch import nn

from .base import TemporalEncoder


class MeanPool(TemporalEncoder):
    order_sensitive = False

    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 128):
        super().__init__(n_features, n_frames, d_model)
        self.proj = nn.Linear(n_features, d_model)

    @staticmethod
    def param_formula(n_features: int = 128, d_model: int = 128, **_) -> int:
        return n_features * d_model + d_model

    def encode(self, x):
        return self.proj(x.mean(dim=1))
