"""Depthwise-separable convolutions: the 1-D counts, the report's example, and the separable encoders."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tempmodels.encoders import HierarchicalEncoder, MultiScaleEncoder, count_parameters
from tempmodels.encoders.multiscale import MultiScaleConv1d, collapse_to_single_conv
from tempmodels.encoders.separable import (SeparableConv1d, conv1d, dense_weight_formula,
                                           report_separable_formula)


def test_reports_example_in_one_dimension():
    dense = torch.nn.Conv1d(256, 512, 3, bias=False)
    sep = SeparableConv1d(256, 512, 3, bias=False)
    assert dense.weight.numel() == dense_weight_formula(256, 512, 3) == 393_216
    assert count_parameters(sep) == SeparableConv1d.weight_formula(256, 512, 3) == 131_840
    assert report_separable_formula(256, 512, 3) == 133_376  # the 2-D k² the report wrote
    assert round(393_216 / 131_840, 2) == 2.98


@pytest.mark.parametrize("cin,cout,k,stride", [(5, 7, 3, 1), (16, 8, 8, 8), (3, 3, 1, 1)])
def test_separable_counts_shapes_and_flops(cin, cout, k, stride):
    conv = conv1d(cin, cout, k, separable=True, stride=stride)
    dense = conv1d(cin, cout, k, stride=stride)
    x = torch.randn(2, cin, 32)
    assert conv(x).shape == dense(x).shape
    if k > 1:
        assert count_parameters(conv) == SeparableConv1d.param_formula(cin, cout, k)
        with FlopCounterMode(display=False) as fc:
            conv(x[:1])
        assert fc.get_total_flops() == SeparableConv1d.flop_formula(cin, cout, k, conv(x).shape[-1])


@pytest.mark.parametrize("sep", [False, True])
def test_separable_encoders_match_their_formulas(sep):
    m = MultiScaleEncoder(128, 64, 32, hidden=24, separable=sep)
    assert count_parameters(m) == MultiScaleEncoder.param_formula(128, 32, 24, separable=sep)
    with FlopCounterMode(display=False) as fc:
        m.eval()(torch.randn(1, 64, 128))
    assert fc.get_total_flops() == MultiScaleEncoder.flop_formula(128, 64, 32, 24, separable=sep)
    h = HierarchicalEncoder(128, 64, 32, fine=16, mid=24, coarse=20, separable=sep)
    assert count_parameters(h) == HierarchicalEncoder.param_formula(128, 64, 32, 16, 24, 20, separable=sep)
    assert h(torch.randn(3, 64, 128)).shape == (3, 32)


def test_separable_is_smaller_and_not_collapsible():
    assert MultiScaleConv1d.param_formula(128, 256, separable=True) < MultiScaleConv1d.param_formula(128, 256)
    with pytest.raises(ValueError, match="dense"):
        collapse_to_single_conv(MultiScaleConv1d(8, 4, separable=True))
