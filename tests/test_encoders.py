"""The encoder interface contract, for every encoder and positional encoding."""
import pytest
import torch

from tempmodels.encoders import (ConcatTime, FlatLinear, FlatMLP, FramePool, HierarchicalEncoder, MeanPool,
                                 MultiScaleConv1d, TemporalTransformer,
                                 MultiScaleEncoder, QueryReadout, Sinusoidal, StridedReadout, Time2Vec,
                                 collapse_to_single_conv, count_parameters, make_positional, make_readout)

F, T, D = 128, 64, 32

ENCODERS = {
    "mean": lambda: MeanPool(F, T, D),
    "frame": lambda: FramePool(F, T, D, hidden=48),
    "frame+concat": lambda: FramePool(F, T, D, hidden=48, positional="concat"),
    "frame+sinusoidal": lambda: FramePool(F, T, D, hidden=48, positional="sinusoidal"),
    "frame+time2vec": lambda: FramePool(F, T, D, hidden=48, positional="time2vec"),
    "frame+attention": lambda: FramePool(F, T, D, hidden=48, pool="attention"),
    "multiscale": lambda: MultiScaleEncoder(F, T, D, hidden=24),
    "multiscale+concat+attention": lambda: MultiScaleEncoder(F, T, D, hidden=24, positional="concat",
                                                             aggregation="conv_attention"),
    "multiscale+gelu": lambda: MultiScaleEncoder(F, T, D, hidden=24, activation="gelu", kernels=(3, 5)),
    "frame+strided": lambda: FramePool(F, T, D, hidden=48, pool="strided", steps=4),
    "frame+queries": lambda: FramePool(F, T, D, hidden=48, pool="queries", n_queries=4, attn_dim=16),
    "multiscale+strided": lambda: MultiScaleEncoder(F, T, D, hidden=24, aggregation="conv_strided"),
    "multiscale+queries": lambda: MultiScaleEncoder(F, T, D, hidden=24, aggregation="conv_queries", n_queries=3),
    "flat linear": lambda: FlatLinear(F, T, D),
    "flat mlp": lambda: FlatMLP(F, T, D, hidden=40),
    "hierarchical (report)": lambda: HierarchicalEncoder(F, T, D, fine=16, mid=24, coarse=20),
    "hierarchical fine+mid": lambda: HierarchicalEncoder(F, T, D, fine=16, mid=24, levels=("fine", "mid")),
    "hierarchical+queries": lambda: HierarchicalEncoder(F, T, D, fine=16, mid=24, coarse=8, readout="queries",
                                                        n_queries=2, attn_dim=4),
    "transformer (report)": lambda: TemporalTransformer(F, T, D, width=16, nhead=4, layers=1, ff=32),
    "transformer no position": lambda: TemporalTransformer(F, T, D, width=16, nhead=4, layers=1, ff=32,
                                                           positional="none"),
    "transformer+cls": lambda: TemporalTransformer(F, T, D, width=16, nhead=2, layers=1, ff=32, readout="cls"),
    "transformer+strided": lambda: TemporalTransformer(F, T, D, width=16, nhead=2, layers=1, ff=32,
                                                       readout="strided", positional="none"),
    "transformer linear attention": lambda: TemporalTransformer(F, T, D, width=16, nhead=2, layers=1, ff=32,
                                                                readout="strided", attention="linear"),
    "transformer GLA": lambda: TemporalTransformer(F, T, D, width=16, nhead=2, layers=1, ff=32, attention="gla"),
    "multiscale separable": lambda: MultiScaleEncoder(F, T, D, hidden=24, separable=True,
                                                      aggregation="conv_strided"),
    "hierarchical separable": lambda: HierarchicalEncoder(F, T, D, fine=16, mid=24, coarse=20, separable=True),
}
# attention pooling alone is permutation-invariant; so is self-attention without a positional encoding
ORDER_BLIND = {"mean", "frame", "frame+attention", "transformer no position"}


@pytest.fixture(params=sorted(ENCODERS))
def named(request):
    torch.manual_seed(0)
    return request.param, ENCODERS[request.param]().eval()


def test_shape(named):
    _, enc = named
    assert enc(torch.randn(5, T, F)).shape == (5, D)


def test_gradients_reach_every_parameter(named):
    _, enc = named
    enc.train()
    enc(torch.randn(4, T, F)).pow(2).sum().backward()
    missing = [n for n, p in enc.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert any(p.grad.abs().sum() > 0 for p in enc.parameters())


def test_order_sensitivity(named):
    name, enc = named
    x = torch.randn(3, T, F)
    perm = torch.randperm(T, generator=torch.Generator().manual_seed(1))
    same = torch.allclose(enc(x), enc(x[:, perm]), atol=1e-5)
    assert enc.order_sensitive == (name not in ORDER_BLIND)
    if name in ORDER_BLIND:
        assert same, f"{name} must be blind to frame order"
    else:
        assert not same, f"{name} must depend on frame order"


def test_wrong_rank(named):
    _, enc = named
    with pytest.raises(ValueError, match=r"3-D tensor shaped \(batch, frames=64, features=128\)"):
        enc(torch.randn(T, F))


def test_swapped_axes_hint(named):
    _, enc = named
    with pytest.raises(ValueError, match="frames and features swapped"):
        enc(torch.randn(2, F, T))


def test_wrong_feature_count(named):
    _, enc = named
    with pytest.raises(ValueError, match="expects 128 features"):
        enc(torch.randn(2, T, 131))


def test_wrong_frame_count(named):
    _, enc = named
    with pytest.raises(ValueError, match="expects 64 frames in dim 1"):
        enc(torch.randn(2, 60, F))


def test_non_finite(named):
    _, enc = named
    x = torch.randn(2, T, F)
    x[1, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        enc(x)


def test_integer_input(named):
    _, enc = named
    with pytest.raises(TypeError, match="floating-point"):
        enc(torch.zeros(2, T, F, dtype=torch.long))


def test_not_a_tensor(named):
    _, enc = named
    with pytest.raises(TypeError, match="torch.Tensor"):
        enc([[0.0]])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        MeanPool(F, T, 0)
    with pytest.raises(ValueError, match="odd positive"):
        MultiScaleConv1d(F, 8, kernels=(2, 3))
    with pytest.raises(ValueError, match="aggregation"):
        MultiScaleEncoder(aggregation="max")
    with pytest.raises(ValueError, match="unknown positional encoding"):
        make_positional("rotary")
    with pytest.raises(ValueError, match="k >= 2"):
        Time2Vec(1)
    with pytest.raises(ValueError, match="unknown readout 'max'"):
        FramePool(pool="max")
    with pytest.raises(ValueError, match="steps must divide the 64 frames"):
        FramePool(pool="strided", steps=5)


# ----------------------------------------------------------------- readouts
def test_pools_are_blind_to_order_and_readouts_are_not():
    """Chapter 03's claim at the level of the readout: pools sum over time, readouts keep position."""
    torch.manual_seed(0)
    h = torch.randn(4, T, 16)
    perm = torch.randperm(T, generator=torch.Generator().manual_seed(2))
    for kind in ("mean", "attention", "strided", "queries"):
        r = make_readout(kind, 16, T, 8)
        same = torch.allclose(r(h), r(h[:, perm]), atol=1e-5)
        assert same == (kind in ("mean", "attention")), kind


def test_strided_readout_keeps_block_order():
    """Swapping two blocks of frames changes a strided readout (each block has its own weights)."""
    torch.manual_seed(0)
    r = StridedReadout(6, T, 5, steps=4)
    h = torch.randn(2, T, 6)
    swapped = torch.cat([h[:, 16:32], h[:, :16], h[:, 32:]], dim=1)
    assert not torch.allclose(r(h), r(swapped), atol=1e-4)


def test_query_readout_starts_tiled_over_the_tr():
    r = QueryReadout(8, T, 4, n_queries=4)
    r(torch.zeros(1, T, 8))
    peaks = r.last_weights[0].argmax(-1)  # with no content, each query looks at its own quarter
    assert [int(p) // 16 for p in peaks] == [0, 1, 2, 3]
    assert torch.allclose(r.last_weights.sum(-1), torch.ones(1, 4))


# ----------------------------------------------------------------- positional encodings
def test_concat_time_is_the_reports_features():
    x = torch.zeros(1, T, F)
    out = ConcatTime()(x)
    assert out.shape == (1, T, F + 3)
    t = torch.arange(T) / T
    assert torch.allclose(out[0, :, F], t)
    assert torch.allclose(out[0, :, F + 1], torch.sin(2 * torch.pi * t), atol=1e-6)
    assert torch.allclose(out[0, :, F + 2], torch.cos(2 * torch.pi * t), atol=1e-6)


def test_sinusoidal_matches_vaswani():
    pe = Sinusoidal.table(T, F)
    pos, i = 5, 3
    assert pe[pos, 2 * i] == pytest.approx(torch.sin(torch.tensor(pos / 10000 ** (2 * i / F))).item(), abs=1e-6)
    assert pe[pos, 2 * i + 1] == pytest.approx(torch.cos(torch.tensor(pos / 10000 ** (2 * i / F))).item(), abs=1e-6)
    x = torch.randn(2, T, F)
    assert torch.allclose(Sinusoidal()(x) - x, pe, atol=1e-6)


def test_time2vec_linear_and_periodic():
    t2v = Time2Vec(4)
    out = t2v(torch.zeros(1, T, F))[0, :, F:]
    t = torch.arange(T) / T
    assert torch.allclose(out[:, 0], t * t2v.omega[0] + t2v.phi[0])
    assert torch.allclose(out[:, 1:], torch.sin(t[:, None] * t2v.omega[1:] + t2v.phi[1:]), atol=1e-6)


def test_mean_pool_with_positional_features_is_still_order_blind():
    """The arithmetic behind chapter 01: averaged positional features are constants."""
    x = torch.randn(2, T, F)
    perm = torch.randperm(T)
    pe = ConcatTime()
    shuffled = pe(x[:, perm])
    assert torch.allclose(pe(x).mean(1), shuffled.mean(1), atol=1e-6)
    # ... and identical for every TR, so they add nothing a bias could not
    assert torch.allclose(pe(x)[0, :, F:].mean(0), pe(torch.randn(1, T, F))[0, :, F:].mean(0))


# ----------------------------------------------------------------- multi-scale specifics
def test_report_block_collapses_to_one_convolution():
    torch.manual_seed(0)
    block = MultiScaleConv1d(16, 8)
    single = collapse_to_single_conv(block)
    assert single.kernel_size == (11,)
    x = torch.randn(3, 16, T)
    assert torch.allclose(block(x), single(x), atol=1e-5)


def test_nonlinear_block_does_not_collapse():
    with pytest.raises(ValueError, match="non-linearity"):
        collapse_to_single_conv(MultiScaleConv1d(16, 8, activation="gelu"))


def test_report_config_true_parameter_count():
    report = MultiScaleEncoder(n_features=128, d_model=256, hidden=256)
    assert count_parameters(report) == 1_411_328  # the report claims "~720K"
    assert count_parameters(MultiScaleEncoder(n_features=128, d_model=256, hidden=256, positional="concat")) == 1_432_064


def test_positional_input_is_131_channels():
    enc = MultiScaleEncoder(positional="concat", hidden=16, d_model=16)
    assert all(b.in_channels == 131 for b in enc.block.branches)
