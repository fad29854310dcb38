"""The report's "Tier 1" hierarchical encoder (§6.2): fine (every frame) → mid (segments) → coarse (the TR).

* fine: ``Conv1d(F, C_f, 3) + BatchNorm + ReLU`` over the T frames;
* mid: a strided ``Conv1d(C_f, C_f, k=s, stride=s)`` to ``T/s`` segments, then
  ``Conv1d(C_f, C_m, 3) + BatchNorm + ReLU``;
* coarse: a strided ``Conv1d(C_m, C_m, k=T/s, stride=T/s)`` to one step, then ``Linear + BatchNorm + ReLU``;
* fusion: ``Linear`` of the concatenated level vectors to ``d_model``.

In the report the fine and mid levels reach the fusion through a global **average** over time,
while the coarse path's kernel spans all ``T/s`` mid steps: it is a full linear map of the mid
sequence and does not pool at all. So the report's design keeps order only through its coarse
path (8 mid steps × 512 channels → 512 numbers), and averages the two levels that carry detail.

``readout`` replaces the fine and mid averages (``"mean"``, the report's) by attention pooling or a
position-keeping readout (:mod:`~tempmodels.encoders.readouts`); ``levels`` drops levels for the
ablation. ``separable=True`` makes every convolution depthwise-separable
(:class:`~tempmodels.encoders.separable.SeparableConv1d`), the strided ones included.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import TemporalEncoder
from .readouts import POSITION_KEEPING, make_readout, readout_param_formula
from .separable import conv1d, conv1d_param_formula

LEVELS = ("fine", "mid", "coarse")


class HierarchicalEncoder(TemporalEncoder):
    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 512, fine: int = 256,
                 mid: int = 512, coarse: int = 512, segment: int = 8, readout: str = "mean",
                 levels: tuple[str, ...] = LEVELS, steps: int = 8, n_queries: int = 8, attn_dim: int = 64,
                 pool_hidden: int = 64, separable: bool = False):
        super().__init__(n_features, n_frames, d_model)
        levels = tuple(levels)
        if not levels or any(lv not in LEVELS for lv in levels) or len(set(levels)) != len(levels):
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels}")
        if segment < 1 or n_frames % segment:
            raise ValueError(f"segment must divide the {n_frames} frames of a TR, got {segment}")
        n_mid = n_frames // segment
        self.levels, self.readout, self.segment = levels, readout, segment
        # the fine convolution (zero-padded, k=3) and the strided mid pooling already depend on order
        # (locally); only the coarse path and position-keeping readouts keep the order of the whole TR
        self.order_sensitive = True
        self.keeps_global_order = "coarse" in levels or readout in POSITION_KEEPING
        self.separable = sep = separable
        self.fine_encoder = nn.Sequential(conv1d(n_features, fine, 3, sep, padding=1), nn.BatchNorm1d(fine), nn.ReLU())
        self.mid_pooling = conv1d(fine, fine, segment, sep, stride=segment)
        self.mid_encoder = nn.Sequential(conv1d(fine, mid, 3, sep, padding=1), nn.BatchNorm1d(mid), nn.ReLU())
        ro = dict(steps=min(steps, n_mid), n_queries=n_queries, attn_dim=attn_dim, pool_hidden=pool_hidden)
        self.fine_readout = make_readout(readout, fine, n_frames, fine, **{**ro, "steps": steps}) \
            if "fine" in levels else None  # (batch, T, C_f) -> C_f numbers
        self.mid_readout = make_readout(readout, mid, n_mid, mid, **ro) if "mid" in levels else None
        if "coarse" in levels:
            self.coarse_pooling = conv1d(mid, mid, n_mid, sep, stride=n_mid)
            self.coarse_encoder = nn.Sequential(nn.Linear(mid, coarse), nn.BatchNorm1d(coarse), nn.ReLU())
        widths = {"fine": fine, "mid": mid, "coarse": coarse}
        self.fusion = nn.Linear(sum(widths[lv] for lv in levels), d_model)

    @staticmethod
    def param_formula(n_features=128, n_frames=64, d_model=512, fine=256, mid=512, coarse=512, segment=8,
                      readout="mean", levels=LEVELS, steps=8, n_queries=8, attn_dim=64, pool_hidden=64, separable=False,
                      **_) -> int:
        n_mid = n_frames // segment
        conv = conv1d_param_formula
        p = conv(n_features, fine, 3, separable) + 2 * fine            # fine conv + BatchNorm
        p += conv(fine, fine, segment, separable)                     # mid pooling (strided conv)
        p += conv(fine, mid, 3, separable) + 2 * mid                  # mid conv + BatchNorm
        ro = dict(n_queries=n_queries, attn_dim=attn_dim, pool_hidden=pool_hidden)
        if "fine" in levels:
            p += readout_param_formula(readout, fine, n_frames, fine, steps=steps, **ro)
        if "mid" in levels:
            p += readout_param_formula(readout, mid, n_mid, mid, steps=min(steps, n_mid), **ro)
        if "coarse" in levels:
            p += conv(mid, mid, n_mid, separable) + mid * coarse + coarse + 2 * coarse
        widths = {"fine": fine, "mid": mid, "coarse": coarse}
        return p + sum(widths[lv] for lv in levels) * d_model + d_model

    def encode(self, x):
        fine = self.fine_encoder(x.transpose(1, 2))        # (batch, C_f, T)
        mid = self.mid_encoder(self.mid_pooling(fine))     # (batch, C_m, T/s)
        parts = []
        if self.fine_readout is not None:
            parts.append(self.fine_readout(fine.transpose(1, 2)))
        if self.mid_readout is not None:
            parts.append(self.mid_readout(mid.transpose(1, 2)))
        if "coarse" in self.levels:
            parts.append(self.coarse_encoder(self.coarse_pooling(mid).squeeze(-1)))
        return self.fusion(torch.cat(parts, dim=1))
