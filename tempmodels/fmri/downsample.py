"""Frame-rate features to the TR grid with an anti-aliasing (Lanczos) filter, as the Huth and Gallant
labs downsample stimulus features before an FIR encoding model — the field's standard alternative to
averaging the frames of each TR (a box-car, whose side lobes alias fast changes into the TR series).

The kernel is the Huth lab's ``lanczosfun`` (deep-fMRI-dataset, ``ridge_utils/interpdata.py``): a
sinc with its first zero at the new sampling period, windowed by a wider sinc of ``window`` lobes.
Unlike ``lanczosinterp2D`` there, each output row is a weighted *mean* (weights summing to 1), so a
constant feature stays that constant; the Huth-lab version sums, which scales every feature by about
the number of old samples per new one (a scale that z-scoring or ridge removes).
"""
from __future__ import annotations

import numpy as np


def lanczos_kernel(t: np.ndarray, cutoff: float, window: int = 3) -> np.ndarray:
    """The Lanczos function of time ``t`` (seconds) with cutoff ``cutoff`` Hz and ``window`` lobes."""
    x = np.atleast_1d(np.asarray(t, dtype=np.float64) * cutoff)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = window * np.sin(np.pi * x) * np.sin(np.pi * x / window) / (np.pi ** 2 * x ** 2)
    val[x == 0] = 1.0
    val[np.abs(x) > window] = 0.0
    return val


def lanczos_downsample(x: np.ndarray, old_times: np.ndarray, new_times: np.ndarray, window: int = 3) -> np.ndarray:
    """Resample the rows of ``x`` (samples, features) from ``old_times`` to the evenly spaced
    ``new_times`` (seconds), low-passed at the new sampling rate: (len(new_times), features).

    The filter spans ``window`` periods of the new grid on either side of each new time, so it reads
    samples up to that far *ahead* as well as behind (as the labs' version does): an FIR model on
    these features should start its delays at one TR or more."""
    x = np.asarray(x, dtype=np.float64)
    old_times, new_times = np.asarray(old_times, dtype=np.float64), np.asarray(new_times, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(old_times):
        raise ValueError(f"expected x shaped (samples, features) with one time per sample; got x {x.shape} and "
                         f"{len(old_times)} times")
    if len(new_times) < 2 or np.any(np.diff(new_times) <= 0) or np.any(np.diff(old_times) <= 0):
        raise ValueError("old and new times must be increasing, and at least two new times are needed")
    step = np.diff(new_times)
    if np.ptp(step) > 1e-6 * step.mean():
        raise ValueError("new_times must be evenly spaced (the cutoff is their sampling rate)")
    cutoff = 1.0 / step.mean()
    half = window / cutoff
    out = np.empty((len(new_times), x.shape[1]))
    lo = np.searchsorted(old_times, new_times - half, side="left")
    hi = np.searchsorted(old_times, new_times + half, side="right")
    for i, (t, a, b) in enumerate(zip(new_times, lo, hi)):
        w = lanczos_kernel(t - old_times[a:b], cutoff, window)
        if not w.sum() > 0:
            raise ValueError(f"no samples within {half:.3g} s of new time {t:.3g} s")
        out[i] = w @ x[a:b] / w.sum()
    return out


def tr_times(n_trs: int, tr_seconds: float, offset: float = 0.0) -> np.ndarray:
    """The centre of each TR, in seconds from the start of the run."""
    return offset + (np.arange(n_trs) + 0.5) * tr_seconds
