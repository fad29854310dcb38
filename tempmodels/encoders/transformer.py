"""The report's "Tier 2" temporal transformer (§6.4): input projection, positional encoding,
``nn.TransformerEncoder`` (batch_first; the report: 4 layers, 8 heads, width 512, feed-forward
2048), then an aggregation over time.

The report's aggregation, ``softmax(Linear(x), dim=1)`` summed against ``x``, is a **per-channel**
attention pool: each of the ``width`` channels gets its own weights over time (a ``width × width``
score matrix), not one weight per frame — and, like every pool, a weighted *sum* over time
(:class:`ReportAttentionPool`). ``readout`` selects it (``"report"``), a CLS token (``"cls"``), or
any readout of :mod:`~tempmodels.encoders.readouts` (``"mean"``, ``"attention"``, and the
position-keeping ``"strided"`` and ``"queries"``).

Self-attention runs through ``nn.MultiheadAttention``, which calls
``torch.nn.functional.scaled_dot_product_attention`` (SDPA); which SDPA kernel that picks is
reported by :func:`tempmodels.attention.sdpa_backend`.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import TemporalEncoder
from .positional import Sinusoidal
from .readouts import make_readout, readout_param_formula

READOUTS = ("report", "cls", "mean", "attention", "strided", "queries")


class ReportAttentionPool(nn.Module):
    """``Σ_t softmax_t(W h_t + b) ⊙ h_t``: one softmax over time per channel. (batch, T, C) -> (batch, C)."""

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Linear(channels, channels)
        self.out_features = channels
        self.last_weights: torch.Tensor | None = None

    def forward(self, h):
        w = torch.softmax(self.score(h), dim=1)  # (batch, T, C): normalised over time, per channel
        self.last_weights = w.detach()
        return (w * h).sum(dim=1)


class TemporalTransformer(TemporalEncoder):
    def __init__(self, n_features: int = 128, n_frames: int = 64, d_model: int = 512, width: int = 512,
                 nhead: int = 8, layers: int = 4, ff: int = 2048, dropout: float = 0.1,
                 positional: str = "sinusoidal", readout: str = "report", steps: int = 8, n_queries: int = 8,
                 attn_dim: int = 64, pool_hidden: int = 64):
        super().__init__(n_features, n_frames, d_model)
        if width % nhead:
            raise ValueError(f"width={width} must divide by nhead={nhead}")
        if positional not in ("sinusoidal", "learned", "none"):
            raise ValueError(f"positional must be 'sinusoidal', 'learned' or 'none', got {positional!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.positional, self.readout, self.width = positional, readout, width
        # without a positional encoding self-attention is permutation-equivariant and a pool is then blind
        self.order_sensitive = positional != "none" or readout in ("strided", "queries")
        self.input_projection = nn.Linear(n_features, width)
        self.pos = nn.Parameter(torch.randn(n_frames, width) * 0.02) if positional == "learned" else None
        layer = nn.TransformerEncoderLayer(width, nhead, ff, dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        if readout == "report":
            self.pool = ReportAttentionPool(width)
        elif readout == "cls":
            self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
            self.pool = None
        else:
            self.pool = make_readout(readout, width, n_frames, d_model, pool_hidden=pool_hidden, steps=steps,
                                     n_queries=n_queries, attn_dim=attn_dim)
        out = width if self.pool is None else self.pool.out_features
        self.proj = nn.Identity() if out == d_model else nn.Linear(out, d_model)

    @staticmethod
    def layer_param_formula(width: int = 512, ff: int = 2048) -> dict[str, int]:
        """One ``nn.TransformerEncoderLayer``, line by line."""
        return {"self-attention (Q, K, V, output)": 4 * width * width + 4 * width,
                "feed-forward": 2 * width * ff + ff + width,
                "2 LayerNorms": 4 * width}

    @staticmethod
    def param_formula(n_features=128, n_frames=64, d_model=512, width=512, layers=4, ff=2048, positional="sinusoidal",
                      readout="report", steps=8, n_queries=8, attn_dim=64, pool_hidden=64, **_) -> int:
        p = n_features * width + width
        p += n_frames * width if positional == "learned" else 0
        p += layers * sum(TemporalTransformer.layer_param_formula(width, ff).values())
        if readout == "report":
            out, p = width, p + width * width + width
        elif readout == "cls":
            out, p = width, p + width
        else:
            p += readout_param_formula(readout, width, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)
            out = width if readout in ("mean", "attention") else d_model
        return p + (0 if out == d_model else out * d_model + d_model)

    def _tokens(self, x):
        """Projected frames + positional encoding (+ a leading CLS token): the transformer's input."""
        h = self.input_projection(x)
        if self.positional == "sinusoidal":
            h = h + Sinusoidal.table(h.shape[1], h.shape[2], h.device, h.dtype)
        elif self.pos is not None:
            h = h + self.pos
        if self.readout == "cls":
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)
        return h

    def encode(self, x):
        h = self.transformer(self._tokens(x))
        return self.proj(h[:, 0] if self.readout == "cls" else self.pool(h))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Self-attention weights of every layer, (batch, heads, T', T') each (T' = T + 1 with a CLS
        token), recomputed layer by layer in eval mode: which frames each frame attends to."""
        x = self.validate(x)
        was = self.training
        self.eval()
        try:
            h = self._tokens(x)
            maps = []
            for layer in self.transformer.layers:
                maps.append(layer.self_attn(h, h, h, need_weights=True, average_attn_weights=False)[1])
                h = layer(h)
            return maps
        finally:
            self.train(was)
