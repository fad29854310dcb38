"""Depthwise-separable 1-D convolution: a depthwise ``Conv1d(C_in, C_in, k, groups=C_in)`` (one
length-k filter per channel, no bias) then a pointwise ``Conv1d(C_in, C_out, 1)``.

Weights, in one dimension: dense ``C_in·C_out·k``, separable ``C_in·k + C_in·C_out``. The report
(§5) wrote the 2-D count ``C_in·k² + C_in·C_out`` for 1-D convolutions: for its example (256 → 512,
k = 3) the dense layer has 393,216 weights (not 1,179,648) and the separable one 131,840 — 2.98×,
not 8.8×. The ratio is ``k·C_out / (k + C_out)``, below ``k`` whatever the widths.
"""
from __future__ import annotations

from torch import nn


class SeparableConv1d(nn.Module):
    """(batch, C_in, T) -> (batch, C_out, T'), same arguments as ``nn.Conv1d`` (kernel, stride, padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.depthwise = nn.Conv1d(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1, bias=bias)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size

    @staticmethod
    def weight_formula(in_channels: int, out_channels: int, kernel_size: int) -> int:
        return in_channels * kernel_size + in_channels * out_channels

    @staticmethod
    def param_formula(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
        return SeparableConv1d.weight_formula(in_channels, out_channels, kernel_size) + (out_channels if bias else 0)

    @staticmethod
    def flop_formula(in_channels: int, out_channels: int, kernel_size: int, out_frames: int) -> int:
        """2 × multiply-adds (what torch.utils.flop_counter counts): depthwise then pointwise."""
        return 2 * out_frames * (in_channels * kernel_size + in_channels * out_channels)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def dense_weight_formula(in_channels: int, out_channels: int, kernel_size: int) -> int:
    return in_channels * out_channels * kernel_size


def report_separable_formula(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """The report's count, ``C_in·k² + C_in·C_out``: the 2-D formula applied to a 1-D convolution."""
    return in_channels * kernel_size ** 2 + in_channels * out_channels


def conv1d(in_channels: int, out_channels: int, kernel_size: int, separable: bool = False, **kw) -> nn.Module:
    """``nn.Conv1d`` or, with ``separable``, :class:`SeparableConv1d` (1×1 kernels are already pointwise)."""
    if separable and kernel_size > 1:
        return SeparableConv1d(in_channels, out_channels, kernel_size, **kw)
    return nn.Conv1d(in_channels, out_channels, kernel_size, **kw)


def conv1d_param_formula(in_channels: int, out_channels: int, kernel_size: int, separable: bool = False) -> int:
    if separable and kernel_size > 1:
        return SeparableConv1d.param_formula(in_channels, out_channels, kernel_size)
    return in_channels * out_channels * kernel_size + out_channels
