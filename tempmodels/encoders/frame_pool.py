"""Per-frame MLP, then pooling: the minimal encoder in which a positional encoding can matter.

Positional features concatenated to frames and then *averaged* become constants — the mean of
``t`` over a TR is the same for every TR — so ``MeanPool`` + positional encoding is exactly as
order-blind as ``MeanPool``. A non-linear function applied to each frame *before* pooling lets
the embedding depend on which frame carried which spectrum.

``pool`` picks the readout (:mod:`~tempmodels.encoders.readouts`): ``"mean"`` and ``"attention"``
pool over time; ``"strided"`` and ``"queries"`` keep position, with or without an encoding.
"""
from __future__ import annotations

from torch import nn

from .base import TemporalEncoder
from .positional import PositionalEncoding, make_positional
from .readouts import POSITION_KEEPING, make_readout, readout_flop_formula, readout_param_formula


class FramePool(TemporalEncoder):
    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 128, hidden: int = 256,
                 positional: str | PositionalEncoding = "none", pool: str = "mean", pool_hidden: int = 64,
                 steps: int = 8, n_queries: int = 8, attn_dim: int = 64):
        super().__init__(n_features, n_frames, d_model)
        self.pos = make_positional(positional) if isinstance(positional, str) else positional
        # attention pooling weighs frames by their content only: still permutation-invariant
        self.order_sensitive = self.pos.kind != "none" or pool in POSITION_KEEPING
        f_in = self.pos.out_features(n_features)
        self.frame_mlp = nn.Sequential(nn.Linear(f_in, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.pool = make_readout(pool, d_model, n_frames, d_model, pool_hidden=pool_hidden, steps=steps,
                                 n_queries=n_queries, attn_dim=attn_dim)
        self.readout = pool

    @staticmethod
    def param_formula(n_features=128, d_model=128, hidden=256, pos_extra=0, pos_params=0, pool="mean",
                      pool_hidden=64, n_frames=64, steps=8, n_queries=8, attn_dim=64, **_) -> int:
        f_in = n_features + pos_extra
        return (f_in * hidden + hidden) + (hidden * d_model + d_model) + pos_params + \
            readout_param_formula(pool, d_model, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)

    @staticmethod
    def flop_formula(n_features=128, n_frames=64, d_model=128, hidden=256, pos_extra=0, pool="mean", pool_hidden=64,
                     steps=8, n_queries=8, attn_dim=64, **_) -> int:
        """Forward FLOPs per TR: the per-frame MLP ``2T[(F+e)h + hd]`` plus the readout's."""
        return 2 * n_frames * ((n_features + pos_extra) * hidden + hidden * d_model) + \
            readout_flop_formula(pool, d_model, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)

    def encode(self, x):
        return self.pool(self.frame_mlp(self.pos(x)))
