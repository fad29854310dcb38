"""Temporal encoders: (batch, frames, features) -> (batch, d_model). One family per module."""
from .base import TemporalEncoder, count_parameters
from .frame_pool import FramePool
from .mean_pool import MeanPool
from .multiscale import MultiScaleConv1d, MultiScaleEncoder, collapse_to_single_conv
from .pooling import AttentionPool, MeanOverTime
from .positional import ConcatTime, PositionalEncoding, Sinusoidal, Time2Vec, make_positional

__all__ = [
    "TemporalEncoder", "count_parameters", "MeanPool", "FramePool", "MultiScaleConv1d", "MultiScaleEncoder",
    "collapse_to_single_conv", "AttentionPool", "MeanOverTime", "PositionalEncoding", "ConcatTime",
    "Sinusoidal", "Time2Vec", "make_positional",
]
