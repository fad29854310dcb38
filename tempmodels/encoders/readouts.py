"""Readouts: how a sequence of frame features (batch, T, C) becomes one TR vector.

Two kinds, the distinction chapter 03 is about:

* **pools** — :class:`~tempmodels.encoders.pooling.MeanOverTime` and
  :class:`~tempmodels.encoders.pooling.AttentionPool` — return a weighted *sum over time*, so a
  per-frame feature map followed by a pool is blind to frame order (and a shift-equivariant
  convolution followed by a pool keeps order only within its receptive field);
* **position-keeping readouts** — :class:`StridedReadout` and :class:`QueryReadout` — give each
  part of the TR its own weights, so where something happened changes the embedding.

Every readout maps (batch, T, C) -> (batch, ``out_features``) and has a parameter and FLOP formula.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .pooling import AttentionPool, MeanOverTime

POOLS = ("mean", "attention")
POSITION_KEEPING = ("strided", "queries")
READOUTS = POOLS + POSITION_KEEPING


class StridedReadout(nn.Module):
    """Strided ``Conv1d(C, C, k=s, stride=s)`` down to ``steps = T / s`` steps, flatten, ``Linear``.

    The strided convolution is a learned linear map of each block of ``s`` consecutive frames
    (order inside the block kept); flattening keeps the order of the blocks.
    (batch, T, C) -> (batch, out).
    """

    def __init__(self, channels: int, n_frames: int, out: int, steps: int = 8):
        super().__init__()
        if steps < 1 or n_frames % steps:
            raise ValueError(f"steps must divide the {n_frames} frames of a TR, got steps={steps}")
        self.channels, self.n_frames, self.steps, self.out_features = channels, n_frames, steps, out
        stride = n_frames // steps
        self.down = nn.Conv1d(channels, channels, kernel_size=stride, stride=stride)
        self.proj = nn.Linear(channels * steps, out)

    @staticmethod
    def param_formula(channels: int, n_frames: int, out: int, steps: int = 8, **_) -> int:
        s = n_frames // steps
        return channels * channels * s + channels + channels * steps * out + out

    @staticmethod
    def flop_formula(channels: int, n_frames: int, out: int, steps: int = 8, **_) -> int:
        # the strided conv touches every frame once: T * C * C multiply-adds; then the projection
        return 2 * n_frames * channels * channels + 2 * channels * steps * out

    def forward(self, h):
        z = self.down(h.transpose(1, 2))  # (batch, C, steps)
        return self.proj(z.transpose(1, 2).flatten(1))  # step-major: block 0's channels first


class QueryReadout(nn.Module):
    """``n_queries`` learned queries, each attending over the T frames with position-aware keys.

    ``score[q, t] = q · (W_k h_t + p_t) / √a`` with a learned position embedding ``p_t`` (without
    it the scores depend on content only, and the readout would be a permutation-invariant pool);
    each query returns ``Σ_t softmax_t(score[q]) h_t``; the ``n_queries`` vectors are concatenated and
    projected to ``out``. The weights of the last forward are kept in ``last_weights``
    (batch, queries, T) for plotting.

    Initialisation tiles the TR: query ``i`` starts attending around the centre of the ``i``-th of
    ``n_queries`` equal parts (a circular bump ``β cos 2π(t/T − c_i)`` in the first two key
    dimensions, ``β = init_sharpness``); with random queries and positions all queries start
    near-uniform — a mean pool — and, on the benchmark, train to a worse code (chapter 03).
    """

    def __init__(self, channels: int, n_frames: int, out: int, n_queries: int = 8, attn_dim: int = 64,
                 init_sharpness: float = 10.0):
        super().__init__()
        if n_queries < 1 or attn_dim < 2:
            raise ValueError(f"n_queries must be >= 1 and attn_dim >= 2, got {n_queries}, {attn_dim}")
        self.channels, self.n_frames, self.n_queries, self.out_features = channels, n_frames, n_queries, out
        self.key = nn.Linear(channels, attn_dim)
        self.pos = nn.Parameter(torch.randn(n_frames, attn_dim) * 0.1)
        self.queries = nn.Parameter(torch.randn(n_queries, attn_dim) * 0.1)
        self.proj = nn.Linear(n_queries * channels, out)
        self.scale = 1.0 / math.sqrt(attn_dim)
        self.last_weights: torch.Tensor | None = None
        with torch.no_grad():  # tile the TR: query i looks around the centre of part i
            amp = math.sqrt(init_sharpness / self.scale)
            t = 2 * math.pi * torch.arange(n_frames) / n_frames
            c = 2 * math.pi * (torch.arange(n_queries) + 0.5) / n_queries
            self.pos[:, 0], self.pos[:, 1] = amp * torch.cos(t), amp * torch.sin(t)
            self.queries[:, 0], self.queries[:, 1] = amp * torch.cos(c), amp * torch.sin(c)

    @staticmethod
    def param_formula(channels: int, n_frames: int, out: int, n_queries: int = 8, attn_dim: int = 64, **_) -> int:
        return (channels * attn_dim + attn_dim) + n_frames * attn_dim + n_queries * attn_dim + \
            (n_queries * channels * out + out)

    @staticmethod
    def flop_formula(channels: int, n_frames: int, out: int, n_queries: int = 8, attn_dim: int = 64, **_) -> int:
        t = n_frames
        return 2 * t * channels * attn_dim + 2 * n_queries * t * attn_dim + 2 * n_queries * t * channels + \
            2 * n_queries * channels * out

    def forward(self, h):
        keys = self.key(h) + self.pos  # (batch, T, a)
        w = torch.softmax(torch.einsum("qa,bta->bqt", self.queries, keys) * self.scale, dim=-1)
        self.last_weights = w.detach()
        z = torch.einsum("bqt,btc->bqc", w, h)  # (batch, queries, C)
        return self.proj(z.flatten(1))


def make_readout(kind: str, channels: int, n_frames: int, out: int, pool_hidden: int = 64, steps: int = 8,
                 n_queries: int = 8, attn_dim: int = 64) -> nn.Module:
    """A readout by name. Pools return ``channels`` features, position-keeping readouts ``out``;
    each module's ``out_features`` says which."""
    if kind == "mean":
        m = MeanOverTime()
    elif kind == "attention":
        m = AttentionPool(channels, pool_hidden)
    elif kind == "strided":
        return StridedReadout(channels, n_frames, out, steps)
    elif kind == "queries":
        return QueryReadout(channels, n_frames, out, n_queries, attn_dim)
    else:
        raise ValueError(f"unknown readout {kind!r}; choose from {list(READOUTS)}")
    m.out_features = channels
    return m


def readout_param_formula(kind: str, channels: int, n_frames: int, out: int, pool_hidden: int = 64, steps: int = 8,
                          n_queries: int = 8, attn_dim: int = 64) -> int:
    if kind == "mean":
        return 0
    if kind == "attention":
        return AttentionPool.param_formula(channels, pool_hidden)
    if kind == "strided":
        return StridedReadout.param_formula(channels, n_frames, out, steps)
    if kind == "queries":
        return QueryReadout.param_formula(channels, n_frames, out, n_queries, attn_dim)
    raise ValueError(f"unknown readout {kind!r}; choose from {list(READOUTS)}")


def readout_flop_formula(kind: str, channels: int, n_frames: int, out: int, pool_hidden: int = 64, steps: int = 8,
                         n_queries: int = 8, attn_dim: int = 64) -> int:
    """Matmul/conv FLOPs as ``torch.utils.flop_counter`` counts them (element-wise ops excluded)."""
    t = n_frames
    if kind == "mean":
        return 0
    if kind == "attention":
        return 2 * t * (channels * pool_hidden + pool_hidden) + 2 * t * channels
    if kind == "strided":
        return StridedReadout.flop_formula(channels, n_frames, out, steps)
    if kind == "queries":
        return QueryReadout.flop_formula(channels, n_frames, out, n_queries, attn_dim)
    raise ValueError(f"unknown readout {kind!r}; choose from {list(READOUTS)}")
