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
reported by :func:`tempmodels.attention.sdpa_backend`. ``attention="linear"`` or ``"gla"`` swaps it,
layer for layer, for linear or gated linear attention (:mod:`tempmodels.linear_attention`), with the
same feed-forward, LayerNorms and residuals.

**Several TRs at once**: with ``tr_frames`` smaller than ``n_frames`` (e.g. 4 TRs of 64 frames,
``n_frames=256, tr_frames=64``) the layers attend over all the frames and the readout is applied to
each TR's frames: the encoder then returns one embedding per TR, (batch, n_frames / tr_frames, d_model).
"""
from __future__ import annotations

import torch
from torch import nn

from ..linear_attention import GatedLinearAttention, LinearAttention, MixerLayer, MixerStack
from .base import TemporalEncoder
from .positional import Sinusoidal
from .readouts import make_readout, readout_flop_formula, readout_param_formula

READOUTS = ("report", "cls", "mean", "attention", "strided", "queries")
ATTENTIONS = ("softmax", "linear", "gla")


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
                 attn_dim: int = 64, pool_hidden: int = 64, attention: str = "softmax", causal: bool = False,
                 chunk_size: int = 64, tr_frames: int | None = None):
        super().__init__(n_features, n_frames, d_model)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        tr_frames = n_frames if tr_frames is None else tr_frames
        if tr_frames < 1 or n_frames % tr_frames:
            raise ValueError(f"tr_frames must divide n_frames={n_frames}, got {tr_frames}")
        self.attention, self.tr_frames, self.n_trs = attention, tr_frames, n_frames // tr_frames
        if width % nhead:
            raise ValueError(f"width={width} must divide by nhead={nhead}")
        if positional not in ("sinusoidal", "learned", "none"):
            raise ValueError(f"positional must be 'sinusoidal', 'learned' or 'none', got {positional!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if self.n_trs > 1 and readout in ("report", "cls"):
            raise ValueError(f"readout {readout!r} reads the whole sequence; with several TRs (tr_frames < n_frames) "
                             "use a per-TR readout: mean, attention, strided or queries")
        self.positional, self.readout, self.width = positional, readout, width
        # without a positional encoding self-attention is permutation-equivariant and a pool is then blind
        self.order_sensitive = positional != "none" or readout in ("strided", "queries")
        self.input_projection = nn.Linear(n_features, width)
        self.pos = nn.Parameter(torch.randn(n_frames, width) * 0.02) if positional == "learned" else None
        if attention == "softmax":
            layer = nn.TransformerEncoderLayer(width, nhead, ff, dropout, batch_first=True)
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        else:
            def mixer():
                return LinearAttention(width, nhead, causal, chunk_size) if attention == "linear" \
                    else GatedLinearAttention(width, nhead)
            self.transformer = MixerStack([MixerLayer(mixer(), width, ff, dropout) for _ in range(layers)])
        if readout == "report":
            self.pool = ReportAttentionPool(width)
        elif readout == "cls":
            self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
            self.pool = None
        else:
            self.pool = make_readout(readout, width, tr_frames, d_model, pool_hidden=pool_hidden, steps=steps,
                                     n_queries=n_queries, attn_dim=attn_dim)
        out = width if self.pool is None else self.pool.out_features
        self.proj = nn.Identity() if out == d_model else nn.Linear(out, d_model)

    @staticmethod
    def layer_param_formula(width: int = 512, ff: int = 2048, attention: str = "softmax", nhead: int = 8
                            ) -> dict[str, int]:
        """One ``nn.TransformerEncoderLayer``, line by line (GLA adds its gates and per-head LayerNorm)."""
        attn = GatedLinearAttention.param_formula(width, nhead) if attention == "gla" else 4 * width * width + 4 * width
        return {"self-attention (Q, K, V, output)": attn,
                "feed-forward": 2 * width * ff + ff + width,
                "2 LayerNorms": 4 * width}

    @staticmethod
    def param_formula(n_features=128, n_frames=64, d_model=512, width=512, layers=4, ff=2048, positional="sinusoidal",
                      readout="report", steps=8, n_queries=8, attn_dim=64, pool_hidden=64, attention="softmax",
                      nhead=8, tr_frames=None, **_) -> int:
        p = n_features * width + width
        p += n_frames * width if positional == "learned" else 0
        p += layers * sum(TemporalTransformer.layer_param_formula(width, ff, attention, nhead).values())
        n_frames = n_frames if tr_frames is None else tr_frames  # the readout sees one TR
        if readout == "report":
            out, p = width, p + width * width + width
        elif readout == "cls":
            out, p = width, p + width
        else:
            p += readout_param_formula(readout, width, n_frames, d_model, pool_hidden, steps, n_queries, attn_dim)
            out = width if readout in ("mean", "attention") else d_model
        return p + (0 if out == d_model else out * d_model + d_model)

    @staticmethod
    def flop_formula(n_features=128, n_frames=64, d_model=512, width=512, layers=4, ff=2048, readout="report",
                     steps=8, n_queries=8, attn_dim=64, pool_hidden=64, attention="softmax", nhead=8, tr_frames=None,
                     causal=False, chunk_size=64, **_) -> int:
        """Forward matmul FLOPs for one input sequence (what ``accounting.flops_per_tr`` counts)."""
        from ..linear_attention import GLA_CHUNK, gla_flops, linear_attention_flops, softmax_attention_flops

        n, w, hd = n_frames + (readout == "cls"), width, width // nhead
        per_layer = 2 * n * w * 3 * w + 2 * n * w * w + 2 * n * w * ff * 2   # Q, K, V; output; feed-forward
        if attention == "softmax":
            per_layer += softmax_attention_flops(n, hd, nhead)
        elif attention == "linear":
            per_layer += linear_attention_flops(n, hd, nhead, causal=causal, chunk_size=chunk_size)
        else:
            per_layer += gla_flops(n, hd, nhead, chunk_size=GLA_CHUNK) + 2 * n * (w * 16 + 16 * w) + 2 * n * w * w
        f = 2 * n_frames * n_features * w + layers * per_layer
        n_trs = 1 if tr_frames is None else n_frames // tr_frames
        t = n_frames // n_trs
        if readout == "report":
            f, out = f + 2 * t * w * w, w
        elif readout == "cls":
            out = w
        else:
            f += n_trs * readout_flop_formula(readout, w, t, d_model, pool_hidden, steps, n_queries, attn_dim)
            out = w if readout in ("mean", "attention") else d_model
        return f + (0 if out == d_model else n_trs * 2 * out * d_model)

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
        if self.n_trs > 1:  # one embedding per TR: the readout sees each TR's frames
            b = h.shape[0]
            per_tr = h.reshape(b * self.n_trs, self.tr_frames, h.shape[-1])
            return self.proj(self.pool(per_tr)).view(b, self.n_trs, -1)
        return self.proj(h[:, 0] if self.readout == "cls" else self.pool(h))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Self-attention weights of every layer, (batch, heads, T', T') each (T' = T + 1 with a CLS
        token), recomputed layer by layer in eval mode: which frames each frame attends to."""
        x = self.validate(x)
        if self.attention != "softmax":
            raise TypeError(f"attention_maps shows softmax weights; this transformer uses {self.attention!r} attention")
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
