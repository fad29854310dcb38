"""Analytic formulas == what PyTorch counts, over grids of configurations."""
import itertools

import pytest
import torch

from tempmodels import accounting as A
from tempmodels.decoder import Autoencoder, MelDecoder
from tempmodels.encoders import FlatLinear, FlatMLP, FramePool, MeanPool, MultiScaleEncoder, Time2Vec

PE = {"none": (0, 0), "concat": (3, 0), "sinusoidal": (0, 0), "time2vec": (8, 16)}


@pytest.mark.parametrize("f,d", [(128, 128), (40, 7), (1, 1)])
def test_mean_pool(f, d):
    assert A.count_parameters(MeanPool(f, 64, d)) == MeanPool.param_formula(f, d)


READOUTS = ["mean", "attention", "strided", "queries"]


@pytest.mark.parametrize("pos,pool,hidden", list(itertools.product(PE, READOUTS, [16, 256])))
def test_frame_pool(pos, pool, hidden):
    extra, pp = PE[pos]
    kw = dict(steps=4, n_queries=3, attn_dim=10)
    m = FramePool(128, 64, 32, hidden=hidden, positional=pos, pool=pool, pool_hidden=12, **kw)
    assert A.count_parameters(m) == FramePool.param_formula(128, 32, hidden, extra, pp, pool, 12, n_frames=64, **kw)
    assert A.flops_per_tr(m) == FramePool.flop_formula(128, 64, 32, hidden, extra, pool, 12, **kw)


@pytest.mark.parametrize("f,t,d,h", [(128, 64, 128, 512), (16, 8, 3, 5)])
def test_flat_encoders(f, t, d, h):
    lin, mlp = FlatLinear(f, t, d), FlatMLP(f, t, d, hidden=h)
    assert A.count_parameters(lin) == FlatLinear.param_formula(f, t, d)
    assert A.count_parameters(mlp) == FlatMLP.param_formula(f, t, d, h)
    assert A.flops_per_tr(lin, t, f) == FlatLinear.flop_formula(f, t, d)
    assert A.flops_per_tr(mlp, t, f) == FlatMLP.flop_formula(f, t, d, h)


GRID = list(itertools.product(["none", "concat", "time2vec"], list(MultiScaleEncoder.AGGREGATIONS),
                              [(1, 3, 5, 7, 11), (3,), (1, 5, 11)], [(32, 32), (48, 16)]))


@pytest.mark.parametrize("pos,agg,kernels,hd", GRID)
def test_multiscale_params_and_flops(pos, agg, kernels, hd):
    hidden, d = hd
    extra, pp = PE[pos]
    ro = dict(steps=16, n_queries=5, attn_dim=6)
    m = MultiScaleEncoder(128, 64, d, hidden=hidden, kernels=kernels, positional=pos, aggregation=agg, pool_hidden=10,
                          **ro)
    kw = dict(n_features=128, d_model=d, hidden=hidden, kernels=kernels, pos_extra=extra, aggregation=agg, pool_hidden=10,
              **ro)
    assert A.count_parameters(m) == MultiScaleEncoder.param_formula(pos_params=pp, **kw)
    assert A.flops_per_tr(m) == MultiScaleEncoder.flop_formula(n_frames=64, **kw)


@pytest.mark.parametrize("pos,kernels,hd", [("none", (1, 3, 5, 7, 11), (32, 32)), ("concat", (3, 7), (48, 16)),
                                             ("time2vec", (1, 3, 5, 7, 11), (64, 128))])
def test_multiscale_activation_estimate(pos, kernels, hd):
    hidden, d = hd
    m = MultiScaleEncoder(128, 64, d, hidden=hidden, kernels=kernels, positional=pos)
    measured = A.activation_bytes_per_tr(m)
    est = MultiScaleEncoder.activation_formula(128, 64, d, hidden, kernels, PE[pos][0])
    assert abs(measured - est) / measured < 0.01


@pytest.mark.parametrize("d,c", [(128, 128), (32, 64)])
def test_decoder(d, c):
    dec = MelDecoder(d, channels=c)
    assert A.count_parameters(dec) == MelDecoder.param_formula(d, channels=c)
    assert dec(torch.randn(2, d)).shape == (2, 64, 128)


def test_decoder_errors():
    with pytest.raises(ValueError, match="divisible"):
        MelDecoder(n_frames=60)
    with pytest.raises(ValueError, match=r"embeddings shaped \(batch, 16\)"):
        MelDecoder(16)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="d_model"):
        Autoencoder(MeanPool(d_model=8), MelDecoder(16))


def test_flops_of_mean_pool_is_the_projection():
    assert A.flops_per_tr(MeanPool(128, 64, 32)) == 2 * 128 * 32


def test_meta_budget_allocates_nothing():
    big = A.meta_budget(lambda: MultiScaleEncoder(hidden=4096, d_model=4096), batch=1024)
    assert big["parameters"] == MultiScaleEncoder.param_formula(hidden=4096, d_model=4096)
    assert big["output_shape"] == (1024, 4096)
    assert big["weights+grads+adam_GiB"] == pytest.approx(big["parameters"] * 16 / 2**30)


def test_summary_mentions_layers():
    s = A.summary(MultiScaleEncoder(hidden=16, d_model=16))
    assert "MultiScaleConv1d" in s and "Total params" in s


def test_time2vec_formula():
    assert A.count_parameters(Time2Vec(5)) == Time2Vec.param_formula(5)


# ----------------------------------------------------------------- chapters 04-05 families
def test_report_hierarchical_config_line_by_line():
    """The report's §6.2 module: 4,033,024 in its conv/linear layers + 2,560 BatchNorm affine = 4,035,584."""
    from tempmodels.encoders import HierarchicalEncoder

    m = HierarchicalEncoder()  # the report's sizes: 128 -> 256 -> 512 -> 512, segments of 8, fused to 512
    assert A.count_parameters(m) == HierarchicalEncoder.param_formula() == 4_035_584
    bn = sum(p.numel() for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm1d) for p in mod.parameters())
    assert bn == 2_560 and A.count_parameters(m) - bn == 4_033_024
    assert A.count_parameters(m.coarse_pooling) == 512 * 512 * 8 + 512  # the report's "2.1M"


@pytest.mark.parametrize("readout,levels", list(itertools.product(["mean", "attention", "strided", "queries"],
                                                            [("fine", "mid", "coarse"), ("fine", "mid"), ("coarse",)])))
def test_hierarchical_formula_grid(readout, levels):
    from tempmodels.encoders import HierarchicalEncoder

    kw = dict(d_model=24, fine=16, mid=12, coarse=10, readout=readout, levels=levels, n_queries=3, attn_dim=5)
    assert A.count_parameters(HierarchicalEncoder(**kw)) == HierarchicalEncoder.param_formula(**kw)


def test_report_transformer_line_by_line():
    """The report's §6.4 module: 12,938,240 parameters, not "~12.3M"."""
    from tempmodels.encoders import TemporalTransformer

    m = TemporalTransformer()
    assert A.count_parameters(m) == TemporalTransformer.param_formula() == 12_938_240
    layer = TemporalTransformer.layer_param_formula(512, 2048)
    assert A.count_parameters(m.transformer.layers[0]) == sum(layer.values()) == 3_152_384
    assert A.count_parameters(m.transformer.layers[0].self_attn) == layer["self-attention (Q, K, V, output)"]
    assert A.count_parameters(m.input_projection) == 128 * 512 + 512 and A.count_parameters(m.pool) == 512 * 512 + 512


@pytest.mark.parametrize("readout,pos", list(itertools.product(["report", "cls", "mean", "attention", "strided", "queries"],
                                                          ["sinusoidal", "learned", "none"])))
def test_transformer_formula_grid(readout, pos):
    from tempmodels.encoders import TemporalTransformer

    kw = dict(d_model=24, width=16, nhead=4, layers=2, ff=32, readout=readout, positional=pos, n_queries=3, attn_dim=5)
    assert A.count_parameters(TemporalTransformer(**kw)) == TemporalTransformer.param_formula(**kw)


def test_step_time_under_mixed_precision_and_bad_precision_named():
    from tempmodels.accounting import step_time_ms
    from tempmodels.encoders import FramePool

    enc = FramePool(16, 8, 4, 8)
    x = torch.randn(4, 8, 16)
    assert step_time_ms(enc, x, repeats=1, precision="bf16") > 0
    assert all(p.grad is None for p in enc.parameters())  # cleared after the step, as in fp32
    with pytest.raises(ValueError, match="precision must be one of"):
        step_time_ms(enc, x, precision="fp8")
