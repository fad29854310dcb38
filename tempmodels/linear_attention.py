"""Linear attention (Katharopoulos et al. 2020) and gated linear attention (GLA, Yang et al. 2023)
in plain PyTorch: each in a parallel/chunked form and a recurrent form that agree numerically.

All functions take per-head tensors shaped (batch, heads, N, d).

* **Linear attention**: ``φ(x) = elu(x) + 1``; ``o_t = φ(q_t)ᵀ S / φ(q_t)ᵀ z`` with
  ``S = Σ_s φ(k_s) v_sᵀ`` and ``z = Σ_s φ(k_s)`` over all frames (non-causal) or over ``s ≤ t``
  (causal). The normaliser is computed in the same products by appending a column of ones to V,
  so numerator and denominator come out of one matmul (``d_v = d + 1``).
* **GLA**: ``S_t = diag(α_t) S_{t-1} + k_t v_tᵀ``, ``o_t = S_tᵀ q_t`` with data-dependent decay
  gates ``α_t ∈ (0, 1]^{d_k}`` passed as ``log α`` (``g``). No normaliser (the GLA layer normalises
  its output instead). Causal by construction.

The chunked forms (chunk size C) compute each chunk's interactions as small C × C products and
carry the d × d state between chunks: ``2·N·C·(d_k + d_v) + 4·N·d_k·d_v`` FLOPs per head, against
``4·N²·d`` for softmax attention. The maths follows flash-linear-attention's naive reference
implementations (``naive_recurrent_gla``); its Triton kernels are not used (they need a GPU).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: smallest log-gate per frame: α ≥ e^-3 (5 % kept). Keeps exp(±cumulative log-gate) finite in a chunk
#: of GLA_CHUNK frames in float32; GLA's own gate, logsigmoid(z)/16, reaches it only for z < -48.
MIN_LOG_GATE = -3.0
GLA_CHUNK = 16


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """Katharopoulos et al.'s φ(x) = elu(x) + 1 (positive, so the normaliser stays positive)."""
    return F.elu(x) + 1


def _check(q, k, v, name):
    if q.ndim != 4 or k.shape[:3] != q.shape[:3] or v.shape[:3] != q.shape[:3] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"{name} expects q, k shaped (batch, heads, N, d_k) and v (batch, heads, N, d_v); got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")


def _with_ones(v):
    return torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)


def _normalise(o1, eps):
    return o1[..., :-1] / (o1[..., -1:] + eps)


def _pad_to(x, n):
    return x if x.shape[2] == n else F.pad(x, (0, 0, 0, n - x.shape[2]))


def _chunked_causal_sum(q, k, v, chunk):
    """Σ_{s≤t} (q_t·k_s) v_s for every t, chunk by chunk (no feature map, no gates)."""
    b, h, n, d = q.shape
    m = math.ceil(n / chunk) * chunk
    qc, kc, vc = (_pad_to(t, m).reshape(b, h, m // chunk, chunk, t.shape[-1]) for t in (q, k, v))
    mask = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    intra = (qc @ kc.transpose(-1, -2)).masked_fill(~mask, 0) @ vc
    kv = kc.transpose(-1, -2) @ vc               # (b, h, chunks, d_k, d_v): each chunk's contribution
    state = kv.cumsum(2) - kv                    # exclusive prefix: the state entering each chunk
    out = intra + qc @ state
    return out.reshape(b, h, m, -1)[:, :, :n]


def linear_attention(q, k, v, causal: bool = False, chunk_size: int = 64, eps: float = 1e-6) -> torch.Tensor:
    """Parallel (non-causal: ``φ(Q)(φ(K)ᵀV)``) or chunked (causal) linear attention."""
    _check(q, k, v, "linear_attention")
    fq, fk, v1 = elu_feature_map(q), elu_feature_map(k), _with_ones(v)
    if not causal:
        return _normalise(fq @ (fk.transpose(-1, -2) @ v1), eps)
    return _normalise(_chunked_causal_sum(fq, fk, v1, chunk_size), eps)


def linear_attention_quadratic(q, k, v, causal: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """The same attention written as ``(φ(Q)φ(K)ᵀ) V`` with the N × N matrix: the reference."""
    fq, fk, v1 = elu_feature_map(q), elu_feature_map(k), _with_ones(v)
    a = fq @ fk.transpose(-1, -2)
    if causal:
        a = a.tril()
    return _normalise(a @ v1, eps)


def linear_attention_recurrent(q, k, v, eps: float = 1e-6) -> torch.Tensor:
    """Causal linear attention as an RNN: one d_k × (d_v + 1) state updated frame by frame."""
    _check(q, k, v, "linear_attention_recurrent")
    fq, fk, v1 = elu_feature_map(q), elu_feature_map(k), _with_ones(v)
    s = q.new_zeros(*q.shape[:2], q.shape[-1], v1.shape[-1])
    out = []
    for t in range(q.shape[2]):
        s = s + fk[:, :, t, :, None] * v1[:, :, t, None, :]
        out.append((fq[:, :, t, :, None] * s).sum(-2))
    return _normalise(torch.stack(out, dim=2), eps)


def gla_recurrent(q, k, v, g) -> torch.Tensor:
    """GLA as an RNN (flash-linear-attention's ``naive_recurrent_gla``): ``S ← diag(e^g_t) S + k_t v_tᵀ``."""
    _check(q, k, v, "gla_recurrent")
    s = q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])
    out = []
    for t in range(q.shape[2]):
        s = s * g[:, :, t, :, None].exp() + k[:, :, t, :, None] * v[:, :, t, None, :]
        out.append((q[:, :, t, :, None] * s).sum(-2))
    return torch.stack(out, dim=2)


def gla_chunked(q, k, v, g, chunk_size: int = GLA_CHUNK) -> torch.Tensor:
    """GLA chunk by chunk: within a chunk the decays factor as ``e^{b_t - b_s} = e^{b_t} e^{-b_s}``
    (``b`` the cumulative log-gate inside the chunk); between chunks the state is carried and decayed.
    ``g`` (log α, ≤ 0) is clamped at :data:`MIN_LOG_GATE` so those factors stay finite."""
    _check(q, k, v, "gla_chunked")
    if g.shape != k.shape:
        raise ValueError(f"gla_chunked expects log-gates g shaped like k {tuple(k.shape)}, got {tuple(g.shape)}")
    b_, h, n, dk = q.shape
    c = chunk_size
    m = math.ceil(n / c) * c
    g = g.clamp(min=MIN_LOG_GATE, max=0.0)
    qc, kc, vc, gc = (_pad_to(t, m).reshape(b_, h, m // c, c, t.shape[-1]) for t in (q, k, v, g))
    b = gc.cumsum(-2)                                  # (.., chunks, C, d_k): log decay from chunk start
    qd, kd = qc * b.exp(), kc * (-b).exp()
    mask = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    intra = (qd @ kd.transpose(-1, -2)).masked_fill(~mask, 0) @ vc
    last = b[..., -1:, :]                              # (.., chunks, 1, d_k): decay over the whole chunk
    contrib = (kc * (last - b).exp()).transpose(-1, -2) @ vc   # (.., chunks, d_k, d_v)
    s = q.new_zeros(b_, h, dk, v.shape[-1])
    inter = []
    # the only sequential part: d_k × d_v per chunk (unbind once: indexing in the loop would make
    # backward allocate a full-size gradient per chunk)
    for qd_i, decay_i, contrib_i in zip(qd.unbind(2), last.exp().transpose(-1, -2).unbind(2), contrib.unbind(2)):
        inter.append(qd_i @ s)
        s = decay_i * s + contrib_i
    out = intra + torch.stack(inter, dim=2)
    return out.reshape(b_, h, m, -1)[:, :, :n]


# ---------------------------------------------------------------- FLOPs (what flop_counter counts: matmuls)
def softmax_attention_flops(n: int, d: int, heads: int = 1, batch: int = 1) -> int:
    """QKᵀ and AV: 2·N²·d each, per head."""
    return batch * heads * 4 * n * n * d


def linear_attention_flops(n: int, d: int, heads: int = 1, batch: int = 1, causal: bool = False,
                           chunk_size: int = 64) -> int:
    """Non-causal: φ(K)ᵀV′ and φ(Q)(…), 2·N·d·(d+1) each. Causal, chunked (N padded to a multiple of C):
    intra-chunk 2·N·C·d + 2·N·C·(d+1), state and readout 4·N·d·(d+1)."""
    dv = d + 1
    if not causal:
        return batch * heads * 4 * n * d * dv
    m = math.ceil(n / chunk_size) * chunk_size
    return batch * heads * (2 * m * chunk_size * (d + dv) + 4 * m * d * dv)


def gla_flops(n: int, d: int, heads: int = 1, batch: int = 1, chunk_size: int = GLA_CHUNK) -> int:
    m = math.ceil(n / chunk_size) * chunk_size
    return batch * heads * (2 * m * chunk_size * 2 * d + 4 * m * d * d)


# ---------------------------------------------------------------- layers: drop-in for self-attention
class LinearAttention(nn.Module):
    """Multi-head linear attention with Q, K, V and output projections (as ``nn.MultiheadAttention``:
    ``4w² + 4w`` parameters). (batch, N, w) -> (batch, N, w)."""

    def __init__(self, width: int, heads: int, causal: bool = False, chunk_size: int = 64, mode: str = "chunked"):
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must divide by heads={heads}")
        if mode not in ("chunked", "recurrent", "quadratic"):
            raise ValueError(f"mode must be 'chunked', 'recurrent' or 'quadratic', got {mode!r}")
        if mode == "recurrent" and not causal:
            raise ValueError("the recurrent form is causal: pass causal=True")
        self.width, self.heads, self.causal, self.chunk_size, self.mode = width, heads, causal, chunk_size, mode
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    @staticmethod
    def param_formula(width: int, heads: int = 1, **_) -> int:
        return 4 * width * width + 4 * width

    def _split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x):
        q, k, v = (self._split(t) for t in self.qkv(x).chunk(3, dim=-1))
        if self.mode == "quadratic":
            o = linear_attention_quadratic(q, k, v, self.causal)
        elif self.mode == "recurrent":
            o = linear_attention_recurrent(q, k, v)
        else:
            o = linear_attention(q, k, v, self.causal, self.chunk_size)
        return self.out(o.transpose(1, 2).reshape(x.shape))


class GatedLinearAttention(nn.Module):
    """Yang et al.'s GLA layer: Q, K, V projections; a low-rank data-dependent gate
    ``log α = logsigmoid(x W₁ W₂ + b) / τ`` (rank 16, τ = 16); the recurrence per head; a per-head
    LayerNorm; an output gate ``swish(x W_r + b_r)``; the output projection. (batch, N, w) -> (batch, N, w)."""

    def __init__(self, width: int, heads: int, gate_rank: int = 16, gate_normalizer: float = 16.0,
                 chunk_size: int = GLA_CHUNK, mode: str = "chunked"):
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must divide by heads={heads}")
        if mode not in ("chunked", "recurrent"):
            raise ValueError(f"mode must be 'chunked' or 'recurrent', got {mode!r}")
        self.width, self.heads, self.chunk_size, self.mode = width, heads, chunk_size, mode
        self.gate_normalizer = gate_normalizer
        self.qkv = nn.Linear(width, 3 * width)
        self.gate = nn.Sequential(nn.Linear(width, gate_rank, bias=False), nn.Linear(gate_rank, width))
        self.out_gate = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width // heads)
        self.out = nn.Linear(width, width)

    @staticmethod
    def param_formula(width: int, heads: int = 1, gate_rank: int = 16, **_) -> int:
        return 4 * width * width + 4 * width + (2 * width * gate_rank + width) + (width * width + width) \
            + 2 * (width // heads)

    def _split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x):
        q, k, v = (self._split(t) for t in self.qkv(x).chunk(3, dim=-1))
        q = q * q.shape[-1] ** -0.5
        g = self._split(F.logsigmoid(self.gate(x)) / self.gate_normalizer)
        o = gla_recurrent(q, k, v, g.clamp(min=MIN_LOG_GATE)) if self.mode == "recurrent" \
            else gla_chunked(q, k, v, g, self.chunk_size)
        o = self.norm(o).transpose(1, 2).reshape(x.shape)
        return self.out(o * F.silu(self.out_gate(x)))


class MixerLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` (post-norm, ReLU feed-forward) with its self-attention replaced by
    ``mixer``: ``x = LN(x + mixer(x))``, ``x = LN(x + FF(x))``."""

    def __init__(self, mixer: nn.Module, width: int, ff: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = mixer
        self.linear1, self.linear2 = nn.Linear(width, ff), nn.Linear(ff, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x):
        x = self.norm1(x + self.dropout1(self.self_attn(x)))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))


class MixerStack(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
