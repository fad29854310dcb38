"""Encoders that never pool over time: the TR's frames flattened into one vector.

:class:`FlatLinear` is ``Linear(T·F → d)`` — what the origin project used, and the learned
counterpart of PCA-d (:mod:`tempmodels.pca_code`); :class:`FlatMLP` adds one hidden layer. Each
frame has its own weights, so both are order-sensitive by construction; the price is parameters
that grow with the number of frames.
"""
from __future__ import annotations

from torch import nn

from .base import TemporalEncoder


class FlatLinear(TemporalEncoder):
    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 128):
        super().__init__(n_features, n_frames, d_model)
        self.proj = nn.Linear(n_frames * n_features, d_model)

    @staticmethod
    def param_formula(n_features: int = 128, n_frames: int = 64, d_model: int = 128, **_) -> int:
        return n_frames * n_features * d_model + d_model

    @staticmethod
    def flop_formula(n_features: int = 128, n_frames: int = 64, d_model: int = 128, **_) -> int:
        return 2 * n_frames * n_features * d_model

    def encode(self, x):
        return self.proj(x.flatten(1))


class FlatMLP(TemporalEncoder):
    """``Linear(T·F → h)`` + GELU + ``Linear(h → d)``."""

    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 128, hidden: int = 512):
        super().__init__(n_features, n_frames, d_model)
        self.mlp = nn.Sequential(nn.Linear(n_frames * n_features, hidden), nn.GELU(), nn.Linear(hidden, d_model))

    @staticmethod
    def param_formula(n_features: int = 128, n_frames: int = 64, d_model: int = 128, hidden: int = 512, **_) -> int:
        return n_frames * n_features * hidden + hidden + hidden * d_model + d_model

    @staticmethod
    def flop_formula(n_features: int = 128, n_frames: int = 64, d_model: int = 128, hidden: int = 512, **_) -> int:
        return 2 * (n_frames * n_features * hidden + hidden * d_model)

    def encode(self, x):
        return self.mlp(x.flatten(1))
