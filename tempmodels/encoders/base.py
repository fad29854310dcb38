"""The encoder interface every temporal encoder implements.

A temporal encoder maps the frames of one TR, shaped ``(batch, frames, features)``, to one TR
embedding shaped ``(batch, d_model)``. Inputs are validated once, here, with errors that name
the expected shape, so a transposed batch or a NaN never propagates silently.
"""
from __future__ import annotations

import torch
from torch import nn


class TemporalEncoder(nn.Module):
    """Base class: subclasses implement :meth:`encode` on validated input."""

    #: False for encoders that provably ignore frame order (mean pooling): tests check both ways.
    order_sensitive: bool = True

    def __init__(self, n_features: int, n_frames: int, d_model: int, check_finite: bool = True):
        super().__init__()
        for name, v in (("n_features", n_features), ("n_frames", n_frames), ("d_model", d_model)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.n_features, self.n_frames, self.d_model = n_features, n_frames, d_model
        self.check_finite = check_finite

    def validate(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        expected = f"(batch, frames={self.n_frames}, features={self.n_features})"
        check_float_tensor(x, name, expected)
        if x.ndim != 3:
            raise ValueError(f"{name} expects a 3-D tensor shaped {expected}, got {x.ndim}-D shape {tuple(x.shape)}")
        if x.shape[2] != self.n_features:
            hint = " (frames and features swapped?)" if x.shape[1] == self.n_features else ""
            raise ValueError(f"{name} expects {self.n_features} features in the last dim, got shape "
                             f"{tuple(x.shape)}{hint}; expected {expected}")
        if x.shape[1] != self.n_frames:
            raise ValueError(f"{name} expects {self.n_frames} frames per TR in dim 1, got shape {tuple(x.shape)}; "
                             f"expected {expected}")
        if self.check_finite:
            check_finite(x, name)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(self.validate(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_frames={self.n_frames}, d_model={self.d_model}"


def check_float_tensor(x, name: str, expected: str) -> None:
    """TypeError unless ``x`` is a floating-point tensor; ``expected`` describes the wanted shape."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor shaped {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point tensor, got dtype {x.dtype}")


def check_finite(x: torch.Tensor, name: str) -> None:
    """ValueError on NaN or inf (skipped on the ``meta`` device, which holds no values)."""
    if x.device.type != "meta" and not torch.isfinite(x).all():
        raise ValueError(f"{name} got non-finite values (NaN or inf) in its input")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
