"""The encoder interface every temporal encoder implements, and the one input check every encoder uses.

A temporal encoder maps the frames of one TR, shaped ``(batch, frames, features)``, to one TR
embedding shaped ``(batch, d_model)``. Inputs are validated once, by :func:`check_input` (shared with
the video encoders and the multimodal model), with errors that name the expected shape, so a
transposed batch, a float64 tensor or a NaN never propagates silently.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch._subclasses.fake_tensor import is_fake  # FakeTensorMode (chapter 12's full-size budgets)
from torch import nn

_CASTS = {torch.float32: "x.float()", torch.float64: "x.double()", torch.float16: "x.half()",
          torch.bfloat16: "x.bfloat16()"}


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

    @property
    def dims(self) -> tuple[tuple[str, int], ...]:
        """The named sizes after the batch: frames, features."""
        return ("frames", self.n_frames), ("features", self.n_features)

    def validate(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` itself if it passes :func:`check_input` for :attr:`dims`."""
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
        return f"n_features={self.n_features}, n_frames={self.n_frames}, d_model={self.d_model}"


def shape_string(dims: Sequence[tuple[str, int]]) -> str:
    """``(("frames", 64), ("features", 128))`` -> ``"(batch, frames=64, features=128)"``."""
    return "(batch, " + ", ".join(f"{n}={v}" for n, v in dims) + ")"


def check_input(x, module: nn.Module, dims: Sequence[tuple[str, int]], finite: bool = True) -> torch.Tensor:
    """The input check of every encoder: ``x`` itself, or an error naming ``module`` and the expected shape.

    ``x`` must be a tensor shaped ``(batch, *sizes)`` of ``dims`` (named sizes after the batch), with

    * a floating dtype equal to ``module``'s parameters' (any floating dtype for a module without
      parameters), or autocast's dtype while autocast is on for ``x``'s device (TypeError);
    * batch >= 1 (ValueError);
    * finite values when ``finite`` (not checked on the ``meta`` device, which holds none; ValueError).

    The cost per call is a few attribute reads and the one ``isfinite`` reduction.
    """
    name = type(module).__name__
    expected = shape_string(dims)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor shaped {expected}, got {type(x).__name__}")
    p = next(module.parameters(), None)
    want = x.dtype if p is None else p.dtype
    if not x.is_floating_point() or (x.dtype != want and not _autocast_dtype(x)):
        want = want if want.is_floating_point else torch.get_default_dtype()
        raise TypeError(f"{name} expects a floating-point tensor shaped {expected} of its parameters' dtype {want}, "
                        f"got {x.dtype}; cast with {_CASTS.get(want, f'x.to({want})')}")
    sizes = tuple(v for _, v in dims)
    if x.ndim != len(sizes) + 1:
        raise ValueError(f"{name} expects a {len(sizes) + 1}-D tensor shaped {expected}, got {x.ndim}-D shape "
                         f"{tuple(x.shape)}")
    if x.shape[1:] != sizes:
        i = next(i for i, (g, s) in enumerate(zip(x.shape[1:], sizes)) if g != s)
        raise ValueError(f"{name} expects {sizes[i]} {dims[i][0]} in dim {i + 1}, got shape {tuple(x.shape)}"
                         f"{_swap_hint(tuple(x.shape[1:]), dims)}; expected {expected}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} got an empty batch, shape {tuple(x.shape)}; expected {expected} with batch >= 1")
    if finite and x.device.type != "meta" and not is_fake(x) and not torch.isfinite(x).all():  # shapes only: no values
        raise ValueError(f"{name} got non-finite values (NaN or inf) in its input shaped {tuple(x.shape)}; "
                         f"expected finite values shaped {expected}")
    return x


def batch_norm_error(module: nn.Module, x: torch.Tensor, dims: Sequence[tuple[str, int]],
                     err: ValueError) -> ValueError | None:
    """``err`` raised by a train-mode BatchNorm that got one value per channel (torch's message names no
    encoder), restated for ``module`` and its input ``x``; None for any other error.

    Whether a batch of one fails depends on the layer (a BatchNorm over time or space still has the
    other positions), so it is caught where torch detects it rather than guessed before the forward."""
    if not str(err).startswith("Expected more than 1 value per channel when training"):
        return None
    new = ValueError(f"{type(module).__name__} has a BatchNorm layer that normalises over the batch alone: train mode "
                     f"needs batch >= 2, got shape {tuple(x.shape)}; pass {shape_string(dims)} with batch >= 2, "
                     "or call .eval()")
    new.__cause__ = err
    return new


def _autocast_dtype(x: torch.Tensor) -> bool:
    """True when autocast is on for ``x``'s device and ``x`` has its dtype (it then casts the weights)."""
    dev = x.device.type
    return torch.amp.is_autocast_available(dev) and torch.is_autocast_enabled(dev) and \
        x.dtype == torch.get_autocast_dtype(dev)


def _swap_hint(got: tuple[int, ...], dims: Sequence[tuple[str, int]]) -> str:
    """`` (frames and features swapped?)`` when exchanging two dims of ``got`` gives the expected sizes."""
    sizes = [v for _, v in dims]
    for i in range(len(sizes)):
        for j in range(i + 1, len(sizes)):
            if sizes[i] != sizes[j] and (got[i], got[j]) == (sizes[j], sizes[i]) and \
                    all(g == s for k, (g, s) in enumerate(zip(got, sizes)) if k not in (i, j)):
                return f" ({dims[i][0]} and {dims[j][0]} swapped?)"
    return ""


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
