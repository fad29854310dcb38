"""Temporal encoders: (batch, frames, features) -> (batch, d_model). One family per module."""
from .base import TemporalEncoder, count_parameters
from .flat import FlatLinear, FlatMLP
from .frame_pool import FramePool
from .hierarchical import HierarchicalEncoder
from .mean_pool import MeanPool
from .multiscale import MultiScaleConv1d, MultiScaleEncoder, collapse_to_single_conv
from .pooling import AttentionPool, MeanOverTime
from .positional import ConcatTime, PositionalEncoding, Sinusoidal, Time2Vec, make_positional
from .readouts import QueryReadout, StridedReadout, make_readout
from .transformer import ReportAttentionPool, TemporalTransformer

__all__ = [
    "TemporalEncoder", "count_parameters", "MeanPool", "FramePool", "FlatLinear", "FlatMLP", "MultiScaleConv1d",
    "MultiScaleEncoder", "collapse_to_single_conv", "AttentionPool", "MeanOverTime", "StridedReadout",
    "QueryReadout", "make_readout", "HierarchicalEncoder", "TemporalTransformer", "ReportAttentionPool", "PositionalEncoding", "ConcatTime", "Sinusoidal", "Time2Vec", "make_positional",
]
