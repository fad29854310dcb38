"""What an encoder keeps of time inside a TR: temporal-detail and modulation-spectrum correlation.

All functions take log-mel shaped (TR, frames, mels).
"""
from __future__ import annotations

import torch


def _check_pair(recon: torch.Tensor, orig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    recon, orig = torch.as_tensor(recon), torch.as_tensor(orig)
    if orig.ndim != 3:
        raise ValueError(f"expected log-mel shaped (TR, frames, mels), got {tuple(orig.shape)}")
    if recon.shape != orig.shape:
        raise ValueError(f"reconstruction shape {tuple(recon.shape)} != original shape {tuple(orig.shape)}")
    if not (torch.isfinite(recon).all() and torch.isfinite(orig).all()):
        raise ValueError("log-mel contains non-finite values")
    return recon.double(), orig.double()


def window_average(x: torch.Tensor, window: int) -> torch.Tensor:
    """Replace each run of ``window`` frames inside a TR by its mean (window = frames: the TR mean)."""
    x = torch.as_tensor(x)
    n_tr, frames, mels = x.shape
    if window < 1 or frames % window:
        raise ValueError(f"window must divide the {frames} frames of a TR, got {window}")
    blocks = x.reshape(n_tr, frames // window, window, mels).mean(dim=2, keepdim=True)
    return blocks.expand(-1, -1, window, -1).reshape(n_tr, frames, mels)


def tr_mean_floor(x: torch.Tensor) -> torch.Tensor:
    """The frame-averaging baseline: every frame of a TR replaced by the TR's mean frame."""
    return window_average(x, x.shape[1])


def pearson_r(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pooled Pearson r over all elements; 0 (not NaN) when either side is constant."""
    a = a - a.mean()
    b = b - b.mean()
    den = torch.sqrt((a * a).sum() * (b * b).sum())
    # A constant reconstruction carries no information about the target: score 0, not NaN.
    return 0.0 if den == 0 else float((a * b).sum() / den)


def temporal_detail_r(recon: torch.Tensor, orig: torch.Tensor) -> float:
    """Pearson r between reconstruction and original after removing each TR's mean frame.

    Only within-TR temporal structure is scored: the TR mean alone scores exactly 0.
    """
    recon, orig = _check_pair(recon, orig)
    return pearson_r(recon - recon.mean(1, keepdim=True), orig - orig.mean(1, keepdim=True))


def modulation_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Magnitude of the 2-D FFT of each TR's log-mel (temporal x spectral modulation), mean removed.

    Returns (TR, frames, mels // 2 + 1): the spectral axis is one-sided (the input is real).
    """
    x = torch.as_tensor(x).double()
    x = x - x.mean(dim=(1, 2), keepdim=True)
    return torch.fft.rfft2(x, dim=(1, 2)).abs()


def modulation_r(recon: torch.Tensor, orig: torch.Tensor) -> float:
    """Mean over TRs of the Pearson r between modulation spectra (Santoro et al. 2017).

    Invariant to circular shifts of frames within a TR; the TR-mean floor keeps only the
    zero-temporal-modulation row and so scores well below 1.
    """
    recon, orig = _check_pair(recon, orig)
    mr, mo = modulation_spectrum(recon), modulation_spectrum(orig)
    return float(sum(pearson_r(mr[i], mo[i]) for i in range(mr.shape[0])) / mr.shape[0])


def temporal_modulation_profile(x: torch.Tensor) -> torch.Tensor:
    """Modulation energy per temporal-modulation rate (averaged over TRs and spectral modulation).

    Index ``k`` is ``k / 1.5 s`` Hz for a 1.5 s TR; returns the one-sided half (frames // 2 + 1).
    """
    m = modulation_spectrum(x)
    return m.mean(dim=(0, 2))[: x.shape[1] // 2 + 1]


def temporal_detail_r_per_tr(recon: torch.Tensor, orig: torch.Tensor):
    """Temporal-detail r of each TR on its own, (TR,) as numpy: the paired unit behind
    :func:`temporal_detail_r` (whose pooled r weights TRs by their detail energy, so the two means
    differ). 0 where the reconstruction's detail is constant, as in :func:`pearson_r`; a TR whose
    original has no detail (digital silence) has no r, and is NaN — :func:`tempmodels.results.paired`
    drops such units for both sides."""
    recon, orig = _check_pair(recon, orig)
    a = (recon - recon.mean(1, keepdim=True)).flatten(1)
    b = (orig - orig.mean(1, keepdim=True)).flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    va, vb = (a * a).sum(1), (b * b).sum(1)
    r = (a * b).sum(1) / torch.sqrt(va * vb).clamp_min(1e-300)
    r = torch.where(va == 0, torch.zeros_like(r), r)
    r = torch.where(vb == 0, torch.full_like(r, float("nan")), r)
    return r.numpy()
