"""Video encoders: the frames of one TR, shaped ``(batch, frames, channels, height, width)``, to one
TR embedding ``(batch, d_model)`` — the video counterpart of :class:`~tempmodels.encoders.TemporalEncoder`.

* :class:`FrameMeanCNN` — the TR's mean frame through a 2-D CNN: the averaging baseline.
* :class:`PerFrameCNN` — a 2-D CNN on every frame, then any chapter 01–05 temporal encoder over the
  frame embeddings (pooled or position-keeping readout).
* :class:`S3D` — the report's separable 3-D CNN (§6.3), exactly as written when built with
  :meth:`S3D.report`; scaled down by ``widths`` for the benchmark; optional frame-difference channel
  and a position-keeping readout instead of the report's temporal average pool.
* :class:`FramesAsFeatures` — a temporal encoder (flat linear, mean pool, …) on the flattened frames.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..encoders.base import TemporalEncoder, batch_norm_error, check_input, shape_string


class VideoEncoder(nn.Module):
    """Base class: validates ``(batch, frames, channels, height, width)``; subclasses implement ``encode``."""

    order_sensitive: bool = True

    def __init__(self, n_frames: int, size: int, d_model: int, channels: int = 1, check_finite: bool = True):
        super().__init__()
        for name, v in (("n_frames", n_frames), ("size", size), ("d_model", d_model), ("channels", channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.n_frames, self.size, self.d_model, self.channels = n_frames, size, d_model, channels
        self.height = size  # square frames; S3D takes another height (the report's 90 x 160)
        self.check_finite = check_finite

    @property
    def dims(self) -> tuple[tuple[str, int], ...]:
        """The named sizes after the batch: frames, channels, height, width."""
        return ("frames", self.n_frames), ("channels", self.channels), ("height", self.height), ("width", self.size)

    @property
    def expected(self) -> str:
        return shape_string(self.dims)

    def validate(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` itself if it passes :func:`~tempmodels.encoders.base.check_input` for :attr:`dims`."""
        return check_input(x, self, self.dims, self.check_finite)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.validate(x)
        try:
            return self.encode(x)
        except ValueError as err:
            raise batch_norm_error(self, x, self.dims, err) or err

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"n_frames={self.n_frames}, channels={self.channels}, size={self.size}, d_model={self.d_model}"


class FrameCNN(nn.Module):
    """A 2-D CNN for one frame: three stride-2 3x3 convolutions (width, 2·width, 4·width) with GELU,
    flatten, Linear to ``out``. (N, C, S, S) -> (N, out); ``S`` must be divisible by 8."""

    def __init__(self, size: int, channels: int = 1, width: int = 16, out: int = 128):
        super().__init__()
        if size % 8:
            raise ValueError(f"FrameCNN needs a frame size divisible by 8, got {size}")
        w = (width, 2 * width, 4 * width)
        self.convs = nn.Sequential(
            nn.Conv2d(channels, w[0], 3, 2, 1), nn.GELU(), nn.Conv2d(w[0], w[1], 3, 2, 1), nn.GELU(),
            nn.Conv2d(w[1], w[2], 3, 2, 1), nn.GELU(), nn.Flatten())
        self.fc = nn.Linear(w[2] * (size // 8) ** 2, out)
        self.out_features = out

    @staticmethod
    def param_formula(size: int, channels: int = 1, width: int = 16, out: int = 128) -> int:
        w = (width, 2 * width, 4 * width)
        convs = channels * w[0] * 9 + w[0] + w[0] * w[1] * 9 + w[1] + w[1] * w[2] * 9 + w[2]
        return convs + w[2] * (size // 8) ** 2 * out + out

    def forward(self, x):
        return self.fc(self.convs(x))


class FrameMeanCNN(VideoEncoder):
    """The TR's mean frame through :class:`FrameCNN`: blind to frame order by construction."""

    order_sensitive = False

    def __init__(self, n_frames: int, size: int, d_model: int = 128, channels: int = 1, width: int = 16):
        super().__init__(n_frames, size, d_model, channels)
        self.cnn = FrameCNN(size, channels, width, d_model)

    def encode(self, x):
        return self.cnn(x.mean(1))


class PerFrameCNN(VideoEncoder):
    """:class:`FrameCNN` on every frame -> (batch, frames, frame_dim) -> ``temporal`` (a
    :class:`~tempmodels.encoders.TemporalEncoder` built by ``build_temporal(frame_dim, n_frames, d_model)``)."""

    def __init__(self, n_frames: int, size: int, d_model: int = 128, channels: int = 1, width: int = 16,
                 frame_dim: int = 64, build_temporal: Callable[[int, int, int], TemporalEncoder] | None = None):
        super().__init__(n_frames, size, d_model, channels)
        if build_temporal is None:
            raise ValueError("PerFrameCNN needs build_temporal(frame_dim, n_frames, d_model) -> TemporalEncoder")
        self.cnn = FrameCNN(size, channels, width, frame_dim)
        self.temporal = build_temporal(frame_dim, n_frames, d_model)
        if not isinstance(self.temporal, TemporalEncoder) or self.temporal.d_model != d_model:
            raise ValueError(f"build_temporal must return a TemporalEncoder with d_model={d_model}")
        self.order_sensitive = self.temporal.order_sensitive

    def encode(self, x):
        b, t = x.shape[:2]
        h = self.cnn(x.flatten(0, 1)).view(b, t, -1)
        return self.temporal(h)


class FramesAsFeatures(VideoEncoder):
    """A temporal encoder over the flattened frames: (batch, frames, C·H·W) -> ``encoder`` — flat
    linear, mean pooling, … exactly as on audio, with pixels as features."""

    def __init__(self, n_frames: int, size: int, d_model: int = 128, channels: int = 1,
                 build: Callable[[int, int, int], TemporalEncoder] | None = None):
        super().__init__(n_frames, size, d_model, channels)
        if build is None:
            raise ValueError("FramesAsFeatures needs build(n_features, n_frames, d_model) -> TemporalEncoder")
        self.inner = build(channels * size * size, n_frames, d_model)
        self.order_sensitive = self.inner.order_sensitive

    def encode(self, x):
        return self.inner(x.flatten(2))


def _temporal_out(t: int, stride: int) -> int:
    return (t + 2 - 3) // stride + 1  # kernel 3, padding 1


def s3d_block(c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Sequential:
    """The report's factorized block: Conv3d (1,3,3) spatial, BN, ReLU, Conv3d (3,1,1) temporal, BN, ReLU."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel_size=(1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1)),
        nn.BatchNorm3d(c_out), nn.ReLU(),
        nn.Conv3d(c_out, c_out, kernel_size=(3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0)),
        nn.BatchNorm3d(c_out), nn.ReLU())


REPORT_WIDTHS = (64, 128, 256, 512)
REPORT_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))


class S3D(VideoEncoder):
    """The report's S3D (§6.3): four factorized blocks, temporal average pool, spatial average pool,
    Linear to ``d_model``.

    ``frame_diff=True`` appends a frame-difference channel ``x[t] - x[t-1]`` (zero for the first frame)
    to the input; ``readout="keep_time"`` replaces the temporal average pool by flattening the
    remaining time steps (a position-keeping readout), ``"pool"`` is the report's.
    """

    def __init__(self, n_frames: int, size: int, d_model: int = 1024, channels: int = 3,
                 widths: tuple[int, ...] = REPORT_WIDTHS, strides=REPORT_STRIDES, frame_diff: bool = False,
                 readout: str = "pool", height: int | None = None):
        super().__init__(n_frames, size, d_model, channels)
        if readout not in ("pool", "keep_time"):
            raise ValueError(f"readout must be 'pool' (the report's) or 'keep_time', got {readout!r}")
        if len(widths) != len(strides):
            raise ValueError(f"one stride per block: {len(widths)} widths, {len(strides)} strides")
        self.height = height or size  # the report's input is 90 x 160: height may differ from width
        self.frame_diff, self.readout, self.widths = frame_diff, readout, tuple(widths)
        c = channels * (2 if frame_diff else 1)
        blocks, t = [], n_frames
        for w, s in zip(widths, strides):
            blocks.append(s3d_block(c, w, s))
            c, t = w, _temporal_out(t, s[0])
        self.blocks = nn.Sequential(*blocks)
        self.t_out = t
        self.fc = nn.Linear(c * (t if readout == "keep_time" else 1), d_model)

    @classmethod
    def report(cls) -> "S3D":
        """Exactly the report's configuration: 3 x 64 frames x 90 x 160 in, 1024 out."""
        return cls(n_frames=64, size=160, height=90, d_model=1024, channels=3)

    @staticmethod
    def param_formula(channels: int = 3, widths=REPORT_WIDTHS, d_model: int = 1024, frame_diff: bool = False,
                      t_out: int = 1) -> int:
        """Per block 9·in·out + out (spatial) + 3·out² + out (temporal) + 2·2·out (two BatchNorms);
        then the Linear. ``t_out`` > 1 for the keep-time readout."""
        total, c = 0, channels * (2 if frame_diff else 1)
        for w in widths:
            total += 9 * c * w + w + 3 * w * w + w + 4 * w
            c = w
        return total + c * t_out * d_model + d_model

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, frames, C, H, W) -> the last block's output (batch, C', T', H', W')."""
        x = x.transpose(1, 2)  # Conv3d layout: (batch, channels, frames, H, W)
        if self.frame_diff:
            d = torch.diff(x, dim=2, prepend=x[:, :, :1])
            x = torch.cat([x, d], 1)
        return self.blocks(x)

    def encode(self, x):
        h = self.features(x)
        if self.readout == "pool":
            h = h.mean(dim=2)  # the report's AdaptiveAvgPool3d((1, None, None)) then squeeze
            h = h.mean(dim=(2, 3))  # AdaptiveAvgPool2d((1, 1))
        else:
            h = h.mean(dim=(3, 4)).flatten(1)  # keep the T' time steps
        return self.fc(h)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", widths={self.widths}, frame_diff={self.frame_diff}, readout={self.readout!r}"
