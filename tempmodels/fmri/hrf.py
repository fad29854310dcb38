"""The haemodynamic response and what an encoding model does about it.

The BOLD signal follows neural activity through the haemodynamic response function (HRF), which
peaks 4–6 s after an event (nilearn's Glover and SPM HRFs). A stimulus feature must therefore
be *delayed* to predict the response: shifted, convolved with a causal HRF, or given as several
delayed copies (FIR). Convolving with a *centred* kernel (``np.convolve(..., mode="same")``) moves
the response before its cause; :func:`convolve_centred` reproduces that mistake so the impulse test
can show it failing.
"""
from __future__ import annotations

import numpy as np


def canonical_hrf(dt: float, kind: str = "glover", length_s: float = 32.0) -> np.ndarray:
    """nilearn's canonical HRF as the response to a brief event at t = 0, sampled at exact multiples
    of ``dt`` seconds (``t = 0, dt, 2·dt, …``), peak-normalised.

    It is nilearn's ``compute_regressor`` of that event on a frame grid of step ``dt``, oversampled to
    at most 10 ms. (``glover_hrf(t_r=dt, oversampling=1)`` is not: its grid is
    ``linspace(0, 32, round(32 / dt))`` — a 1.6-s step at dt = 1.5 s — and its gamma is shifted by one
    ``dt``, so at a TR of 1.5 s it peaked at 6.0 s, one TR after the continuous HRF's 4.5-s sample.)
    """
    from nilearn.glm.first_level import compute_regressor

    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be positive seconds, got {dt}")
    if kind not in ("glover", "spm"):
        raise ValueError(f"kind must be one of ['glover', 'spm'], got {kind!r}")
    n = int(np.ceil(length_s / dt))
    oversampling = max(1, int(np.ceil(dt / 0.01)))
    event = np.array([[0.0], [0.0], [1.0]])  # onset 0 s, brief, amplitude 1
    h = compute_regressor(event, kind, np.arange(n) * dt, oversampling=oversampling)[0][:, 0]
    return (h / np.abs(h).max()).astype(np.float64)


def _as_2d(x: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be (time,) or (time, channels), got shape {x.shape}")
    return (x[:, None], True) if x.ndim == 1 else (x, False)


def convolve_causal(x: np.ndarray, hrf: np.ndarray) -> np.ndarray:
    """Each channel of ``x`` (time[, channels]) convolved with ``hrf``; output[t] uses x[≤ t] only."""
    x2, flat = _as_2d(x, "x")
    out = np.stack([np.convolve(x2[:, j], hrf)[: len(x2)] for j in range(x2.shape[1])], axis=1)
    return out[:, 0] if flat else out


def convolve_centred(x: np.ndarray, hrf: np.ndarray) -> np.ndarray:
    """The acausal version: ``np.convolve(x, hrf, mode="same")`` centres the kernel, shifting the
    response ``len(hrf) // 2`` samples *earlier* — before the event that causes it."""
    x2, flat = _as_2d(x, "x")
    out = np.stack([np.convolve(x2[:, j], hrf, mode="same") for j in range(x2.shape[1])], axis=1)
    return out[:, 0] if flat else out


def lagged(x: np.ndarray, lags) -> np.ndarray:
    """Delayed copies (FIR): for each lag ℓ the features of ℓ TRs *earlier* (zeros before the start);
    a negative ℓ takes future TRs — which leaks, and exists only to show it. (time, d) -> (time, d·len(lags))."""
    x2, _ = _as_2d(x, "x")
    lags = [int(lag) for lag in lags]
    if not lags:
        raise ValueError("lags must name at least one delay (in TRs)")
    n = len(x2)
    cols = []
    for lag in lags:
        shifted = np.zeros_like(x2)
        if lag >= 0:
            shifted[lag:] = x2[: n - lag] if lag < n else 0
        else:
            shifted[: n + lag] = x2[-lag:]
        cols.append(shifted)
    return np.concatenate(cols, axis=1)


def peak_latency_s(response: np.ndarray, event_index: int, dt: float) -> float:
    """Seconds from the event to the peak of ``response`` (negative: the peak precedes the event)."""
    return (int(np.argmax(np.asarray(response))) - int(event_index)) * dt
