"""Softmax attention measured, not assumed: naive (materialises the N × N matrix) versus PyTorch's
``scaled_dot_product_attention`` (SDPA, fused kernels), their agreement, which SDPA kernel runs,
and the activation memory and wall time of a training step against the number of frames N.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from . import linear_attention as la


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(Q Kᵀ / √d) V`` with the (…, N, N) weight matrix built explicitly."""
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def _linear(q, k, v):
    return la.linear_attention(q, k, v)


def _linear_causal(q, k, v):
    return la.linear_attention(q, k, v, causal=True)


def _gla(q, k, v):
    """GLA with the layer's gate form, here computed from K (log α = logsigmoid(k) / 16)."""
    return la.gla_chunked(q * q.shape[-1] ** -0.5, k, v, F.logsigmoid(k) / 16)


IMPLEMENTATIONS = {"naive": naive_attention, "SDPA": sdpa_attention, "linear": _linear,
                   "linear (causal)": _linear_causal, "GLA": _gla}


def flop_formula(impl: str, n: int, head_dim: int = 64, heads: int = 8, batch: int = 1) -> int:
    """Forward matmul FLOPs of ``impl`` (:mod:`tempmodels.linear_attention` derives each)."""
    if impl in ("naive", "SDPA"):
        return la.softmax_attention_flops(n, head_dim, heads, batch)
    if impl == "GLA":
        return la.gla_flops(n, head_dim, heads, batch)
    if impl in ("linear", "linear (causal)"):
        return la.linear_attention_flops(n, head_dim, heads, batch, causal=impl != "linear")
    raise ValueError(f"impl must be one of {sorted(IMPLEMENTATIONS)}, got {impl!r}")


def counted_flops(impl: str, n: int, head_dim: int = 64, heads: int = 8, batch: int = 1) -> int:
    """Forward FLOPs as ``torch.utils.flop_counter`` counts them. Its CPU SDPA kernel is not
    registered with the counter (it counts 0), so softmax attention is counted in its naive form —
    the same products."""
    from torch.utils.flop_counter import FlopCounterMode

    fn = IMPLEMENTATIONS["naive" if impl == "SDPA" else impl]
    q, k, v = (torch.randn(batch, heads, n, head_dim) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        fn(q, k, v)
    return counter.get_total_flops()


def sdpa_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
    """The SDPA kernel PyTorch picks for these inputs (e.g. FLASH_ATTENTION on CPU and recent GPUs)."""
    choice = torch._fused_sdp_choice(q, k, v)
    try:
        return torch.nn.attention.SDPBackend(choice).name
    except (ValueError, AttributeError):  # pragma: no cover - enum layout differs across releases
        return str(choice)


def naive_activation_formula(n: int, head_dim: int, heads: int, batch: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes naive attention saves for backward beyond its inputs: the softmax output, B·h·N²
    (saved once, by the softmax and by the product with V)."""
    return batch * heads * n * n * bytes_per_value


def sdpa_flash_activation_formula(n: int, head_dim: int, heads: int, batch: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes a flash-attention kernel saves beyond its inputs: the output (B·h·N·d) and one
    log-sum-exp per query (B·h·N) — linear in N."""
    return batch * heads * n * (head_dim + 1) * bytes_per_value


def attention_step(impl: str, n: int, head_dim: int = 64, heads: int = 8, batch: int = 1, device: str = "cpu",
                   repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """One forward + backward of ``impl`` on (batch, heads, n, head_dim) inputs.

    Returns the bytes autograd saved for backward beyond the inputs (saved-tensor hooks), the best
    wall time of ``repeats`` steps, and on CUDA the peak allocated memory of a step.
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {sorted(IMPLEMENTATIONS)}, got {impl!r}")
    fn = IMPLEMENTATIONS[impl]
    g = torch.Generator(device="cpu").manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, n, head_dim, generator=g).to(device).requires_grad_(True) for _ in range(3))
    inputs = {t.untyped_storage().data_ptr() for t in (q, k, v)}
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in inputs:
            saved[ptr] = max(saved.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(q, k, v)
    out.sum().backward()
    best = float("inf")
    peak = float("nan")
    for _ in range(repeats):
        for t in (q, k, v):
            t.grad = None
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        fn(q, k, v).sum().backward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
        best = min(best, time.perf_counter() - t0)
    return {"impl": impl, "N": n, "saved_MiB": sum(saved.values()) / 2**20, "step_ms": 1000 * best,
            "cuda_peak_MiB": peak}
