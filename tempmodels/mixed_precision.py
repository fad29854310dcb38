"""Mixed precision (appendix A1): where this machine runs it in hardware, and the verdict that says
for which encoders it could become the default.

The trainer's option itself is ``TrainConfig(precision=...)`` (:mod:`tempmodels.training`); the
comparison against the seeds is :func:`tempmodels.results.within_seed_spread`.
"""
from __future__ import annotations

import pandas as pd
import torch

from .results import BETTER, WORSE
from .training import PRECISIONS


def native_precision(precision: str, device: str = "cpu") -> bool:
    """Does this machine run ``precision``'s matrix products and convolutions in hardware kernels?

    fp32: always. CUDA: fp16 always, bf16 where ``torch.cuda.is_bf16_supported()``. CPU: bf16 where
    oneDNN has bf16 kernels (AVX-512 BW/VL/DQ or newer: ``torch.ops.mkldnn._is_mkldnn_bf16_supported``),
    fp16 never (the trainer refuses it). Elsewhere autocast still computes bf16 results, but with slow
    fallback kernels: measured on an AVX2-only AMD EPYC (torch 2.11), a training step of chapters
    01-03's autoencoders took 11-22x its fp32 time, where an AVX-512 machine ran it about 2x faster."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return True
    if str(device).startswith("cuda"):
        return precision == "fp16" or bool(torch.cuda.is_bf16_supported())
    return precision == "bf16" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def verdict(spread: pd.DataFrame, encoders, precision: str, n_seeds: int) -> tuple[str, list[str]]:
    """Appendix A1's verdict from :func:`~tempmodels.results.within_seed_spread`: per encoder, whether
    every metric stayed within its seed spread and whether any paired CI excludes zero; then the
    encoders for which ``precision`` could be the default (both hold). Returns the Markdown and that list."""
    ok = spread.groupby("encoder", sort=False)["within seed spread"].apply(lambda s: bool(s.fillna(True).all()))
    moved = spread[spread["within seed spread"] == False].groupby("encoder", sort=False).metric.apply(list)  # noqa: E712
    differs = {n: [f"{m} ({v})" for m, v in zip(d.metric, d.verdict)]
               for n, d in spread[spread.verdict.isin([BETTER, WORSE])].groupby("encoder", sort=False)}
    lines = [f"* **Results**, {n_seeds} seeds per encoder and precision:"]
    for n in encoders:
        lines.append(f"  * {n}: " + ("every metric within its seed spread" if ok[n] else f"beyond its seed spread on {', '.join(moved[n])}")
                     + ("; the paired CI excludes zero on " + ", ".join(differs[n]) if n in differs else
                        "; no paired difference detected on any metric at this budget") + ".")
    good = [n for n in encoders if ok[n] and n not in differs]
    lines.append(f"* **Where {precision} could be the default**: {', '.join(good) if good else 'none of these encoders'} "
                 f"({len(good)} of {len(encoders)}) — no metric moved by more than its seed spread and no paired CI excludes zero. "
                 + ("With 2 seeds a seed sd is itself uncertain: the published (cpu) profile's 3 seeds decide." if n_seeds < 3 else ""))
    return "\n".join(lines), good
