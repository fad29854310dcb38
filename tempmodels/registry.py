"""Encoders by name, so command lines and notebooks can say ``--encoder multiscale``."""
from __future__ import annotations

from typing import Callable

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
