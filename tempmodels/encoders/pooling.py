"""Aggregating a sequence of frame features to one TR vector: mean, or learned attention pooling."""
from __future__ import annotations

import torch
from torch import nn


class MeanOverTime(nn.Module):
    """(batch, T, C) -> (batch, C)."""

    @staticmethod
    def param_formula(channels: int = 0, **_) -> int:
        return 0

    def forward(self, h):
        return h.mean(dim=1)


class AttentionPool(nn.Module):
    """Learned weights over time: ``softmax_t(w · tanh(W h_t))`` weighted sum of ``h_t``.

    (batch, T, C) -> (batch, C). The weights are kept in ``last_weights`` for plotting.
    """

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(channels, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.last_weights: torch.Tensor | None = None

    @staticmethod
    def param_formula(channels: int, hidden: int = 64, **_) -> int:
        return channels * hidden + hidden + hidden + 1

    def forward(self, h):
        w = torch.softmax(self.score(h).squeeze(-1), dim=1)  # (batch, T)
        self.last_weights = w.detach()
        return torch.einsum("bt,btc->bc", w, h)
