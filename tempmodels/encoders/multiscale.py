"""Multi-scale temporal convolution: parallel Conv1d branches (k = 1, 3, 5, 7, 11), a 1x1 fusion,
then aggregation of the frames to one TR embedding.

:class:`MultiScaleConv1d` is the report's block; :class:`MultiScaleEncoder` wraps it with a
positional encoding, the aggregation (the report's conv + BatchNorm + ReLU + average, or a learned
attention pooling) and a projection to ``d_model``.

Two facts the report missed, both checked in chapter 02 and the tests:

* parameters: ``C_in·H·Σk + n_k·H`` for the branches — the kernel sizes multiply — so the
  report's configuration has 1,411,328 parameters, not "~720K";
* without a non-linearity between branches and fusion (the report has none) the whole block is
  one linear ``Conv1d`` with kernel ``max(k)``: :func:`collapse_to_single_conv` builds it.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import TemporalEncoder
from .positional import PositionalEncoding, make_positional
from .readouts import make_readout, readout_flop_formula, readout_param_formula
from .separable import conv1d, conv1d_param_formula

REPORT_KERNELS = (1, 3, 5, 7, 11)


class MultiScaleConv1d(nn.Module):
    """(batch, C_in, T) -> (batch, H, T): parallel 'same'-padded convolutions, concatenated, fused 1x1."""

    def __init__(self, in_channels: int, hidden: int, kernels=REPORT_KERNELS, activation: str = "none",
                 separable: bool = False):
        super().__init__()
        kernels = tuple(int(k) for k in kernels)
        if not kernels or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be odd positive sizes ('same' padding), got {kernels}")
        self.kernels, self.separable = kernels, separable
        self.branches = nn.ModuleList(conv1d(in_channels, hidden, k, separable, padding=k // 2) for k in kernels)
        acts = {"none": nn.Identity, "gelu": nn.GELU, "relu": nn.ReLU}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        self.activation = activation
        self.act = acts[activation]()
        self.fusion = nn.Conv1d(hidden * len(kernels), hidden, kernel_size=1)

    @staticmethod
    def param_formula(in_channels: int, hidden: int, kernels=REPORT_KERNELS, separable: bool = False) -> int:
        n = len(kernels)
        if separable:
            return sum(conv1d_param_formula(in_channels, hidden, k, True) for k in kernels) + (n * hidden) * hidden + hidden
        return in_channels * hidden * sum(kernels) + n * hidden + (n * hidden) * hidden + hidden

    @staticmethod
    def flop_formula(in_channels: int, hidden: int, frames: int, kernels=REPORT_KERNELS, separable: bool = False) -> int:
        """Multiply-adds x 2 of the convolutions (what torch.utils.flop_counter counts)."""
        if separable:
            branches = sum(in_channels * k * (k > 1) + in_channels * hidden for k in kernels)
            return 2 * frames * (branches + len(kernels) * hidden * hidden)
        return 2 * frames * hidden * (in_channels * sum(kernels) + len(kernels) * hidden)

    def forward(self, x):
        return self.fusion(self.act(torch.cat([b(x) for b in self.branches], dim=1)))


@torch.no_grad()
def collapse_to_single_conv(block: MultiScaleConv1d) -> nn.Conv1d:
    """The single Conv1d (kernel max(k)) equal to a block without activation."""
    if block.activation != "none":
        raise ValueError("only a block without a non-linearity collapses to one convolution")
    if block.separable:
        raise ValueError("collapse_to_single_conv takes a dense block (separable=False)")
    kmax = max(block.kernels)
    first = block.branches[0]
    hidden, c_in = first.out_channels, first.in_channels
    fw = block.fusion.weight[:, :, 0]  # (H, n*H)
    weight = torch.zeros(hidden, c_in, kmax, dtype=fw.dtype)
    bias = block.fusion.bias.clone()
    for i, (k, conv) in enumerate(zip(block.kernels, block.branches)):
        f_i = fw[:, i * hidden : (i + 1) * hidden]  # (H, H)
        off = (kmax - k) // 2
        weight[:, :, off : off + k] += torch.einsum("oh,hck->ock", f_i, conv.weight)
        bias += f_i @ conv.bias
    out = nn.Conv1d(c_in, hidden, kmax, padding=kmax // 2)
    out.weight.copy_(weight)
    out.bias.copy_(bias)
    return out


class MultiScaleEncoder(TemporalEncoder):
    """Positional encoding -> MultiScaleConv1d -> aggregation -> projection to ``d_model``.

    ``aggregation='conv_mean'`` is the report's Conv1d(H, H, 3) + BatchNorm + ReLU + average over
    time; ``'conv_attention'`` replaces the average by :class:`AttentionPool`; ``'conv_strided'``
    and ``'conv_queries'`` replace it by a position-keeping readout
    (:mod:`~tempmodels.encoders.readouts`), which maps straight to ``d_model``.
    With ``d_model == hidden`` a pool has no projection after it (the report's exact module).
    """

    AGGREGATIONS = ("conv_mean", "conv_attention", "conv_strided", "conv_queries")

    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 128, hidden: int = 256,
                 kernels=REPORT_KERNELS, positional: str | PositionalEncoding = "none",
                 aggregation: str = "conv_mean", activation: str = "none", pool_hidden: int = 64,
                 steps: int = 8, n_queries: int = 8, attn_dim: int = 64, separable: bool = False):
        super().__init__(n_features, n_frames, d_model)
        if aggregation not in self.AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {self.AGGREGATIONS}, got {aggregation!r}")
        self.pos = make_positional(positional) if isinstance(positional, str) else positional
        c_in = self.pos.out_features(n_features)  # 131 after ConcatTime: built for it, unlike the report
        self.separable = separable
        self.block = MultiScaleConv1d(c_in, hidden, kernels, activation, separable)
        self.agg_conv = nn.Sequential(conv1d(hidden, hidden, 3, separable, padding=1), nn.BatchNorm1d(hidden), nn.ReLU())
        self.aggregation = aggregation
        self.pool = make_readout(aggregation.removeprefix("conv_"), hidden, n_frames, d_model, pool_hidden=pool_hidden,
                                 steps=steps, n_queries=n_queries, attn_dim=attn_dim)
        self.proj = nn.Identity() if self.pool.out_features == d_model else nn.Linear(hidden, d_model)

    @staticmethod
    def param_formula(n_features=128, d_model=128, hidden=256, kernels=REPORT_KERNELS, pos_extra=0, pos_params=0,
                      aggregation="conv_mean", pool_hidden=64, n_frames=64, steps=8, n_queries=8, attn_dim=64,
                      separable=False, **_) -> int:
        c_in = n_features + pos_extra
        block = MultiScaleConv1d.param_formula(c_in, hidden, kernels, separable)
        agg = conv1d_param_formula(hidden, hidden, 3, separable) + 2 * hidden  # conv + BatchNorm (weight, bias)
        kind = aggregation.removeprefix("conv_")
        pool = readout_param_formula(kind, hidden, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)
        pooled = kind in ("mean", "attention")
        proj = hidden * d_model + d_model if pooled and d_model != hidden else 0
        return pos_params + block + agg + pool + proj

    @staticmethod
    def flop_formula(n_features=128, n_frames=64, d_model=128, hidden=256, kernels=REPORT_KERNELS, pos_extra=0,
                     aggregation="conv_mean", pool_hidden=64, steps=8, n_queries=8, attn_dim=64, separable=False,
                     **_) -> int:
        t = n_frames
        f = MultiScaleConv1d.flop_formula(n_features + pos_extra, hidden, t, kernels, separable)
        f += 2 * t * (hidden * 3 + hidden * hidden) if separable else 2 * t * hidden * hidden * 3
        kind = aggregation.removeprefix("conv_")
        f += readout_flop_formula(kind, hidden, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)
        if kind in ("mean", "attention") and d_model != hidden:
            f += 2 * hidden * d_model
        return f

    @staticmethod
    def activation_formula(n_features=128, n_frames=64, d_model=128, hidden=256, kernels=REPORT_KERNELS,
                           pos_extra=0, bytes_per_value=4, **_) -> int:
        """Bytes saved for backward per TR (aggregation 'conv_mean'): the positional-encoded input
        (saved by the branches, when it is a new tensor), the concatenated branches (saved by the
        fusion), the fusion, conv and BatchNorm outputs (saved by conv, BatchNorm and ReLU), and
        the pooled vector (saved by the projection)."""
        t = n_frames
        values = (t * (n_features + pos_extra) if pos_extra else 0) + t * len(kernels) * hidden + 3 * t * hidden
        values += hidden if d_model != hidden else 0
        return values * bytes_per_value

    def encode(self, x):
        h = self.block(self.pos(x).transpose(1, 2))  # (batch, H, T)
        h = self.agg_conv(h)
        return self.proj(self.pool(h.transpose(1, 2)))
