"""The report's compute budget (§7.1 memory, §7.2 time) recomputed: bytes per GPU under DDP, ZeRO-1/2/3
and FSDP, gradient communication per step, and the time tables from their own inputs — each claim
of the report beside the computed figure, with the verdict computed.

Memory per parameter follows Rajbhandari et al. (2020, ZeRO, §3): mixed-precision Adam keeps 2-byte
weights and gradients and K = 12 bytes of fp32 master weights, momentum and variance. DDP holds all
of it on every GPU; ZeRO-1 shards the optimizer states (K) over the N GPUs, ZeRO-2 also the
gradients, ZeRO-3 (= FSDP's ``FULL_SHARD``) also the weights. Bytes are decimal GB (10⁹), as the
report writes them ("1,984M params ... ~8GB (FP32)").
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

GB = 1e9


@dataclass(frozen=True)
class Recipe:
    """Bytes per parameter held by training: working weights, gradients, fp32 master weights
    (mixed precision only) and optimizer states."""
    weights: float
    grads: float
    master: float
    states: float

    @property
    def optimizer(self) -> float:
        """What ZeRO-1 shards: master weights and optimizer states (the paper's K)."""
        return self.master + self.states

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer


#: 8-bit AdamW (Dettmers et al. 2022): one byte per state per parameter, plus one fp32 scale per block of 2048
BLOCK_8BIT = 2048
RECIPES = {
    "fp32 + AdamW": Recipe(4, 4, 0, 8),
    "bf16 mixed + AdamW": Recipe(2, 2, 4, 8),
    "bf16 mixed + 8-bit AdamW": Recipe(2, 2, 4, 2 * (1 + 4 / BLOCK_8BIT)),
}
STRATEGIES = ("DDP", "ZeRO-1", "ZeRO-2 (FSDP SHARD_GRAD_OP)", "ZeRO-3 (FSDP FULL_SHARD)")


def state_bytes(n_params: float, world: int, strategy: str, recipe: Recipe) -> dict[str, float]:
    """Bytes one of ``world`` GPUs holds for weights, gradients and optimizer (master + states)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if world < 1 or n_params < 0:
        raise ValueError(f"world must be >= 1 and n_params >= 0, got world={world}, n_params={n_params}")
    level = STRATEGIES.index(strategy)  # 0 DDP, 1 optimizer sharded, 2 + gradients, 3 + weights
    w = recipe.weights * n_params / (world if level >= 3 else 1)
    g = recipe.grads * n_params / (world if level >= 2 else 1)
    o = recipe.optimizer * n_params / (world if level >= 1 else 1)
    return {"weights": w, "gradients": g, "optimizer": o, "total": w + g + o}


def strategy_table(n_params: float, world: int, recipes=None, activations: float = 0.0) -> pd.DataFrame:
    """GB per GPU, one row per (recipe, strategy); ``activations`` (bytes) added to the total."""
    rows = []
    for name, r in (recipes or RECIPES).items():
        for s in STRATEGIES:
            b = state_bytes(n_params, world, s, r)
            rows.append({"recipe": name, "strategy": s, **{k: v / GB for k, v in b.items()},
                         "with activations": (b["total"] + activations) / GB})
    return pd.DataFrame(rows).set_index(["recipe", "strategy"])


def ring_bytes(buffer_bytes: float, world: int, collective: str) -> float:
    """Bytes each GPU sends in a ring collective over a buffer of ``buffer_bytes``: all-gather and
    reduce-scatter (N−1)/N of it, all-reduce twice that (a reduce-scatter, then an all-gather)."""
    share = (world - 1) / world
    return {"all_gather": share, "reduce_scatter": share, "all_reduce": 2 * share}[collective] * buffer_bytes


def comm_bytes_per_step(n_params: float, world: int, strategy: str, grad_bytes: float = 2,
                        weight_bytes: float = 2) -> float:
    """Bytes one GPU sends per optimizer step. DDP all-reduces the gradients. ZeRO-1/2 reduce-scatter
    them and all-gather the updated weights (the same volume as DDP when both are 2-byte). ZeRO-3 /
    FSDP all-gathers the weights for the forward and again for the backward, then reduce-scatters
    the gradients: 1.5x DDP (Rajbhandari et al. 2020, §7)."""
    if strategy == "DDP":
        return ring_bytes(n_params * grad_bytes, world, "all_reduce")
    if strategy in STRATEGIES[1:3]:
        return ring_bytes(n_params * grad_bytes, world, "reduce_scatter") + ring_bytes(
            n_params * weight_bytes, world, "all_gather")
    if strategy == STRATEGIES[3]:
        return 2 * ring_bytes(n_params * weight_bytes, world, "all_gather") + ring_bytes(
            n_params * grad_bytes, world, "reduce_scatter")
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


#: link bandwidths, GB/s per direction (the sources are in chapter 12)
LINKS = {
    "PCIe 4.0 x16": 16 * 16 * (128 / 130) / 8,  # 16 GT/s per lane, 16 lanes, 128b/130b encoding
    "NVLink bridge (A6000 pair)": 112.5 / 2,     # 112.5 GB/s bidirectional, two GPUs per bridge
}


def comm_table(n_params: float, world: int, links: dict[str, float] | None = None, grad_bytes: float = 2,
               weight_bytes: float = 2) -> pd.DataFrame:
    """GB sent per GPU per step and the least time it takes on each link (bandwidth-bound, no overlap)."""
    rows = []
    for s in STRATEGIES:
        b = comm_bytes_per_step(n_params, world, s, grad_bytes, weight_bytes)
        row = {"strategy": s, "GB sent per GPU per step": b / GB}
        for link, bw in (links or LINKS).items():
            row[f"s per step, {link}"] = b / GB / bw
        rows.append(row)
    return pd.DataFrame(rows).set_index("strategy")


def agrees(report: float, computed: float, rel: float = 0.1) -> bool:
    """The report's figure is within ``rel`` of the computed one."""
    return abs(report - computed) <= rel * abs(computed)


def follows_rounding(report: float, computed: float, decimals: int = 0) -> bool:
    """The report's figure is the computed one rounded to the report's precision (halves either way)."""
    step = 10.0 ** -decimals
    return abs(report - computed) <= step / 2 + 1e-9


# ------------------------------------------------------------------ the report's §7.2 time table
#: (approach, FLOPs increase, time increase, epoch minutes, hours for 100 epochs), as printed
REPORT_TIME = (
    ("Baseline", 0.0, 0.0, 22, 36),
    ("Multi-scale Conv", 0.20, 0.15, 25, 42),
    ("Hierarchical Encoding", 0.30, 0.25, 28, 47),
    ("S3D Video", -0.10, -0.05, 21, 35),
    ("Temporal Transformer", 0.50, 0.40, 31, 52),
    ("Tier 1 Combined", 0.40, 0.30, 29, 48),
)
REPORT_STEP_S = 0.5 + 0.8  # "Forward pass: ~500ms ... Backward pass: ~800ms ... Total: ~1.3s per batch"
REPORT_BATCHES = 1000       # "Epoch (1000 batches)"
REPORT_EPOCHS = 100


def time_table(step_s: float = REPORT_STEP_S, batches: int = REPORT_BATCHES, epochs: int = REPORT_EPOCHS) -> pd.DataFrame:
    """The report's time table recomputed along three chains from its own inputs: (a) from 1.3 s per
    batch, (b) from its rounded 22-minute epoch, (c) 100 epochs from its own rounded epoch minutes."""
    base_min = step_s * batches / 60
    rows = []
    for name, _, inc, epoch_min, hours in REPORT_TIME:
        a_min = base_min * (1 + inc)
        b_min = REPORT_TIME[0][3] * (1 + inc)  # its rounded baseline epoch
        row = {"approach": name, "time increase": inc, "report: epoch min": epoch_min,
               "(a) from 1.3 s/batch": a_min, "(b) from 22 min": b_min, "report: 100 epochs h": hours,
               "(a) h": a_min * epochs / 60, "(b) h": b_min * epochs / 60, "(c) h from its epoch": epoch_min * epochs / 60}
        row["epoch follows (a)"] = follows_rounding(epoch_min, a_min)
        row["epoch follows (b)"] = follows_rounding(epoch_min, b_min)
        row["hours follow (a)"] = follows_rounding(hours, row["(a) h"])
        row["hours follow (b)"] = follows_rounding(hours, row["(b) h"])
        row["hours follow (c)"] = follows_rounding(hours, row["(c) h from its epoch"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("approach")


def step_seconds(flops_per_step: float, peak_flops: float, utilisation: float) -> float:
    """Seconds per step at ``utilisation`` (model FLOPs utilisation, 0-1) of ``peak_flops`` per second."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")
    return flops_per_step / (peak_flops * utilisation)


def gpu_step(model, x, precision: str = "bf16", repeats: int = 3) -> dict[str, float]:
    """One training step (forward, loss, backward) of ``model`` on ``x`` on a CUDA device: best wall
    time (:func:`tempmodels.accounting.step_time_ms`) and peak memory allocated during it."""
    import torch

    from .accounting import step_time_ms

    if x.device.type != "cuda":
        raise ValueError(f"gpu_step measures a CUDA device; got x on {x.device}")
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    ms = step_time_ms(model, x, repeats=repeats, precision=precision)
    return {"step (ms)": ms, "peak memory (GiB)": torch.cuda.max_memory_allocated(x.device) / 2**30}


def torch_amp_ddp_bytes(n_params: float) -> dict[str, float]:
    """Bytes per GPU of DDP with ``torch.autocast`` (bf16) as PyTorch runs it, the way this book's
    trainer does: fp32 weights (4), the bf16 copies autocast keeps for the backward (2, measured in
    chapter 12), fp32 gradients (4), DDP's gradient buckets (4: the reducer's second copy of the
    gradients unless ``gradient_as_bucket_view=True``) and AdamW's fp32 states (8) — 22 bytes."""
    parts = {"weights": 4, "weight casts": 2, "gradients": 4, "DDP buckets": 4, "optimizer": 8}
    out = {k: v * n_params for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out
