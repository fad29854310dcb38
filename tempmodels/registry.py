"""Encoders by name, so command lines and notebooks can say ``--encoder multiscale`` (audio, on
(batch, frames, features)) or ``--video-encoder s3d`` (video, on (batch, frames, channels, H, W))."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .encoders import (FlatLinear, FlatMLP, FramePool, HierarchicalEncoder, MeanPool, MultiScaleEncoder,
                       TemporalTransformer)
from .encoders.base import TemporalEncoder

ENCODERS: dict[str, Callable[..., TemporalEncoder]] = {
    "mean": MeanPool,
    "frame": FramePool,
    "multiscale": MultiScaleEncoder,
    "flat_linear": FlatLinear,
    "flat_mlp": FlatMLP,
    "hierarchical": HierarchicalEncoder,
    "transformer": TemporalTransformer,
}


def make_encoder(name: str, **kwargs) -> TemporalEncoder:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {sorted(ENCODERS)}")
    return ENCODERS[name](**kwargs)


def _video_encoders() -> dict[str, Callable[..., nn.Module]]:
    from .video.encoders import S3D, FrameMeanCNN, FramesAsFeatures

    return {"frame_mean": FrameMeanCNN, "s3d": S3D, "flat_linear": FramesAsFeatures}


VIDEO_ENCODERS = tuple(_video_encoders())


def make_video_encoder(name: str, **kwargs) -> nn.Module:
    """A video encoder by name: ``n_frames``, ``size``, ``d_model`` (and the class's own options) as kwargs."""
    table = _video_encoders()
    if name not in table:
        raise ValueError(f"unknown video encoder {name!r}; choose from {sorted(table)}")
    return table[name](**kwargs)
