"""Temporal positional encodings — the three the report discusses — as input transforms.

Each maps frames ``(batch, T, F)`` to ``(batch, T, out_features(F))`` and composes with any
encoder through :class:`~tempmodels.encoders.frame_pool.FramePool` or the multi-scale encoder:

* :class:`ConcatTime` — the report's ``[x, t, sin 2πt, cos 2πt]`` with ``t = i / T`` (concatenated, +3 features);
* :class:`Sinusoidal` — Vaswani et al.'s fixed sinusoids, **added** to the features (+0 features);
* :class:`Time2Vec` — Kazemi et al.'s learned ``[ω₀t + φ₀, sin(ωₖt + φₖ)]`` (concatenated, +k features).

Note the arithmetic the report skipped: after :class:`ConcatTime` a 128-mel input has 131
channels, so every layer after it must be built for ``out_features(128) == 131``.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    kind: str = "none"

    def out_features(self, n_features: int) -> int:
        return n_features

    @staticmethod
    def param_formula(**_) -> int:
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ConcatTime(PositionalEncoding):
    """Concatenate ``[t, sin 2πt, cos 2πt]`` to every frame, ``t = i / T`` in [0, 1)."""

    kind = "concat"

    def out_features(self, n_features: int) -> int:
        return n_features + 3

    def forward(self, x):
        b, t, _ = x.shape
        pos = torch.arange(t, device=x.device, dtype=x.dtype) / t
        feats = torch.stack([pos, torch.sin(2 * math.pi * pos), torch.cos(2 * math.pi * pos)], dim=-1)
        return torch.cat([x, feats.expand(b, t, 3)], dim=-1)


class Sinusoidal(PositionalEncoding):
    """Vaswani sinusoids added to the (normalised) features: PE(i, 2j) = sin(i / 10000^(2j/F))."""

    kind = "sinusoidal"

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    @staticmethod
    def table(t: int, f: int, device=None, dtype=None) -> torch.Tensor:
        pos = torch.arange(t, device=device, dtype=torch.float64)[:, None]
        j = torch.arange(0, f, 2, device=device, dtype=torch.float64)
        freq = torch.exp(-math.log(10000.0) * j / f)
        pe = torch.zeros(t, f, device=device, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : f // 2]
        return pe.to(dtype or torch.get_default_dtype())

    def forward(self, x):
        return x + self.scale * self.table(x.shape[1], x.shape[2], x.device, x.dtype)


class Time2Vec(PositionalEncoding):
    """Learned time features of ``t = i / T``: one linear, ``k - 1`` periodic (sine) components."""

    kind = "time2vec"

    def __init__(self, k: int = 8):
        super().__init__()
        if k < 2:
            raise ValueError(f"Time2Vec needs k >= 2 (one linear + periodic terms), got {k}")
        self.k = k
        self.omega = nn.Parameter(torch.randn(k) * 2 * math.pi)
        self.phi = nn.Parameter(torch.zeros(k))

    def out_features(self, n_features):
        return n_features + self.k

    @staticmethod
    def param_formula(k: int = 8, **_) -> int:
        return 2 * k

    def forward(self, x):
        b, t, _ = x.shape
        pos = (torch.arange(t, device=x.device, dtype=x.dtype) / t)[:, None]
        z = pos * self.omega + self.phi
        feats = torch.cat([z[:, :1], torch.sin(z[:, 1:])], dim=-1)
        return torch.cat([x, feats.expand(b, t, self.k)], dim=-1)


ENCODINGS = {"none": PositionalEncoding, "concat": ConcatTime, "sinusoidal": Sinusoidal, "time2vec": Time2Vec}


def make_positional(kind: str, **kwargs) -> PositionalEncoding:
    if kind not in ENCODINGS:
        raise ValueError(f"unknown positional encoding {kind!r}; choose from {sorted(ENCODINGS)}")
    return ENCODINGS[kind](**kwargs)
