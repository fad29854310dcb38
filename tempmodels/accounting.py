"""What an encoder costs: parameters (formula vs count), FLOPs per TR, activation memory per TR,
a torchinfo summary, and full-size budgets on the ``meta`` device without allocating anything.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .training import PRECISIONS


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_tr(model: nn.Module, n_frames: int = 64, n_features: int = 128, input_shape: tuple | None = None) -> int:
    """Forward FLOPs for one TR as counted by ``torch.utils.flop_counter`` (2 per multiply-add;
    matmuls and convolutions only, element-wise ops are not counted). ``input_shape`` (without the
    batch) replaces ``(n_frames, n_features)`` for other inputs, e.g. video ``(frames, C, H, W)``;
    a model on the ``meta`` device is counted without allocating anything.

    Two fused paths are invisible to the counter and are switched off while counting: the
    ``nn.TransformerEncoderLayer`` inference fast path (``torch._transformer_encoder_layer_fwd``)
    and SDPA's fused kernels (the CPU flash kernel counts 0); SDPA's math backend computes the same
    products as matmuls the counter sees.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    was = model.training
    fast = torch.backends.mha.get_fastpath_enabled()
    model.eval()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            dev = next(model.parameters(), torch.empty(0)).device  # "meta" for a model built on meta
            model(torch.zeros(1, *(input_shape or (n_frames, n_features)), device=dev))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        model.train(was)
    return int(fc.get_total_flops())


def activation_bytes_per_tr(model: nn.Module, n_frames: int = 64, n_features: int = 128, batch: int = 8,
                            input_shape: tuple | None = None) -> int:
    """Bytes of tensors autograd saves for backward in one training-mode forward, per TR
    (``input_shape`` as in :func:`flops_per_tr`).

    Measured with ``torch.autograd.graph.saved_tensors_hooks``; parameters and the input are
    excluded, tensors sharing storage are counted once.
    """
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    x = torch.randn(batch, *(input_shape or (n_frames, n_features)))
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_ptrs and ptr != x.untyped_storage().data_ptr():
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    was = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x.requires_grad_(False))
    finally:
        model.train(was)
    return sum(seen.values()) // batch


def summary(model: nn.Module, n_frames: int = 64, n_features: int = 128, depth: int = 3) -> str:
    """torchinfo's layer table for one TR."""
    import torchinfo

    return str(torchinfo.summary(model, input_size=(1, n_frames, n_features), depth=depth, verbose=0,
                                 col_names=("output_size", "num_params"), device="cpu"))


def meta_budget(build: Callable[[], nn.Module], batch: int, n_frames: int = 64, n_features: int = 128,
                bytes_per_param: int = 4, optimizer_states: int = 2) -> dict[str, float]:
    """Size a model built on the ``meta`` device (no memory allocated): parameters, weights +
    gradients + AdamW states, and the output shape of a forward of ``batch`` TRs."""
    with torch.device("meta"):
        model = build()
        out = model(torch.empty(batch, n_frames, n_features))
    n = count_parameters(model)
    return {
        "parameters": n,
        "weights_GiB": n * bytes_per_param / 2**30,
        "weights+grads+adam_GiB": n * bytes_per_param * (2 + optimizer_states) / 2**30,
        "output_shape": tuple(out.shape),
    }


def cost_table(models: dict[str, nn.Module], formulas: dict[str, int] | None = None, n_frames: int = 64,
               n_features: int = 128, input_shape: tuple | None = None) -> pd.DataFrame:
    """One row per model: counted params (+ formula), FLOPs/TR, activation KiB/TR."""
    rows = []
    for name, m in models.items():
        row = {"encoder": name, "params": count_parameters(m)}
        if formulas is not None:
            row["params (formula)"] = formulas[name]
        row["MFLOPs/TR"] = flops_per_tr(m, n_frames, n_features, input_shape) / 1e6
        row["activations KiB/TR"] = activation_bytes_per_tr(m, n_frames, n_features, input_shape=input_shape) / 1024
        rows.append(row)
    return pd.DataFrame(rows).set_index("encoder")


def step_time_ms(model: nn.Module, x: torch.Tensor, repeats: int = 3, precision: str = "fp32") -> float:
    """Best wall time (ms) of ``repeats`` training steps' forward + backward of ``model`` on ``x``
    (loss: mean square of the output), after one warm-up step. Train mode; parameters' gradients
    are cleared after each step. ``precision``: as :class:`~tempmodels.training.TrainConfig`'s —
    "bf16"/"fp16" run the forward pass and loss under ``torch.autocast``, as the trainer does."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    import time

    dtype = PRECISIONS[precision]
    was = model.training
    model.train()
    best = float("inf")
    try:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
                loss = model(x).float().pow(2).mean()
            loss.backward()
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                best = min(best, time.perf_counter() - t0)
            model.zero_grad(set_to_none=True)
    finally:
        model.train(was)
    return 1000 * best
