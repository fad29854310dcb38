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
    """nilearn's canonical HRF sampled every ``dt`` seconds from the event (t = 0), peak-normalised."""
    from nilearn.glm.first_level import glover_hrf, spm_hrf

    if dt <= 0:
        raise ValueError(f"dt must be positive seconds, got {dt}")
    makers = {"glover": glover_hrf, "spm": spm_hrf}
    if kind not in makers:
        raise ValueError(f"kind must be one of {sorted(makers)}, got {kind!r}")
    # nilearn samples at t_r / oversampling; ask for dt directly
    h = makers[kind](t_r=dt, oversampling=1, time_length=length_s, onset=0.0)
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
