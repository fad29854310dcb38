"""Noise ceilings from repeated presentations.

With ``n`` repeats of the same stimulus, the explainable variance of a voxel — the share of its
single-repeat variance that the stimulus drives — is estimated as in the voxelwise-modelling
literature (Hsu et al. 2004; Schoppe et al. 2016; the voxelwise tutorials' ``explainable_variance``):
``EV = var_t(mean_r y) / mean_r var_t(y)``, with the bias correction
``EV − (1 − EV)/(n − 1)`` (the mean of n noisy repeats still holds 1/n of the noise).
"""
from __future__ import annotations

import numpy as np


def explainable_variance(data: np.ndarray, bias_correction: bool = True) -> np.ndarray:
    """``data``: (repeats, time, voxels) -> EV per voxel (about 0 for noise, 1 for a noiseless voxel)."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3 or data.shape[0] < 2:
        raise ValueError(f"explainable_variance expects (repeats ≥ 2, time, voxels), got shape {data.shape}")
    if not np.isfinite(data).all():
        bad = np.flatnonzero(~np.isfinite(data).all(axis=(0, 1)))
        raise ValueError(f"non-finite values in voxels {bad[:10].tolist()}{' …' if len(bad) > 10 else ''}")
    n = data.shape[0]
    mean_var = data.var(axis=1, ddof=1).mean(axis=0)
    var_mean = data.mean(axis=0).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = np.where(mean_var > 0, var_mean / mean_var, 0.0)
    if bias_correction:
        ev = ev - (1 - ev) / (n - 1)
    return ev


def correlation_ceiling(ev: np.ndarray, n_repeats: int) -> np.ndarray:
    """The highest correlation a perfect model can reach with the **mean of n repeats**, from the
    single-repeat explainable variance: noise/signal = (1 − EV)/EV, and the mean keeps 1/n of the
    noise, so ceiling² = n·EV / (n·EV + 1 − EV). NaN where EV ≤ 0 (no measurable signal)."""
    ev = np.asarray(ev, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c2 = n_repeats * ev / (n_repeats * ev + 1 - ev)
    return np.where(ev > 0, np.sqrt(np.clip(c2, 0, 1)), np.nan)
