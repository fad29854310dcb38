"""What a video code keeps: frame correlation (the report's criterion), temporal detail (frame
correlation after removing each TR's mean frame: the TR mean scores exactly 0), and optical-flow
agreement — OpenCV's Farnebäck flow of the reconstruction against that of the original clip.

Clips are shaped (TR, frames, channels, height, width), values on the benchmark's 0–1 scale.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics as core

#: Farnebäck settings for small frames (32–64 px): 2 pyramid levels, 7-px windows
FARNEBACK = dict(pyr_scale=0.5, levels=2, winsize=7, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
MOVING_PX = 0.5  # a pixel of the original counts as moving when its flow is at least this long (px/frame)


def _check(recon, orig) -> tuple[torch.Tensor, torch.Tensor]:
    recon, orig = torch.as_tensor(recon), torch.as_tensor(orig)
    if orig.ndim != 5:
        raise ValueError(f"expected clips shaped (TR, frames, channels, height, width), got {tuple(orig.shape)}")
    if recon.shape != orig.shape:
        raise ValueError(f"reconstruction shape {tuple(recon.shape)} != original shape {tuple(orig.shape)}")
    return recon, orig


def frame_r(recon, orig) -> float:
    """Pearson r over every pixel of every frame (the report's 'video frame correlation')."""
    recon, orig = _check(recon, orig)
    return core.pearson_r(recon.double().flatten(), orig.double().flatten())


def temporal_detail_r(recon, orig) -> float:
    """Pearson r after subtracting each TR's mean frame from both clips: only within-TR change scores."""
    recon, orig = _check(recon, orig)
    return core.temporal_detail_r(recon.flatten(2), orig.flatten(2))


def _uint8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)


def farneback(clip) -> np.ndarray:
    """Dense flow between consecutive frames of one TR: (frames, C, H, W) -> (frames-1, H, W, 2) as (dx, dy),
    computed on the first channel."""
    import cv2

    clip = torch.as_tensor(clip).detach().cpu().numpy()
    if clip.ndim != 4:
        raise ValueError(f"expected one clip shaped (frames, channels, height, width), got {clip.shape}")
    g = [_uint8(f[0]) for f in clip]
    return np.stack([cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK) for a, b in zip(g[:-1], g[1:])])


def flows(clips) -> np.ndarray:
    """:func:`farneback` of every TR: (TR, frames-1, H, W, 2)."""
    return np.stack([farneback(c) for c in torch.as_tensor(clips)])


def flow_agreement(recon, orig, orig_flow: np.ndarray | None = None) -> dict[str, float]:
    """Mean cosine between the flow vectors of reconstruction and original, and the mean endpoint
    error (px/frame), over the pixels where the original moves (flow ≥ ``MOVING_PX``).

    A reconstruction with no motion (a still clip) has zero flow: cosine 0, endpoint error = the
    original's mean speed. ``orig_flow`` (from :func:`flows`) saves recomputing the original's flow.
    """
    recon, orig = _check(recon, orig)
    fo = flows(orig) if orig_flow is None else orig_flow
    fr = flows(recon)
    mag_o = np.linalg.norm(fo, axis=-1)
    moving = mag_o >= MOVING_PX
    if not moving.any():
        raise ValueError("the original clips contain no motion to compare")
    dot = (fo * fr).sum(-1)
    cos = dot / (mag_o * np.linalg.norm(fr, axis=-1) + 1e-6)
    epe = np.linalg.norm(fr - fo, axis=-1)
    return {"flow_cosine": float(cos[moving].mean()), "flow_epe": float(epe[moving].mean()),
            "moving_fraction": float(moving.mean())}


def mean_flow(clip) -> np.ndarray:
    """The median flow (dx, dy) over the moving pixels of one TR: its dominant motion, px/frame."""
    f = farneback(clip)
    mag = np.linalg.norm(f, axis=-1)
    m = mag >= MOVING_PX
    return np.median(f[m], axis=0) if m.any() else np.zeros(2)
