"""Linear attention and GLA: chunked = recurrent = quadratic reference; causal forms do not look
ahead; FLOP formulas equal torch.utils.flop_counter; the layers drop into the transformer."""
import pytest
import torch
import torch.nn.functional as F

from tempmodels import attention
from tempmodels import linear_attention as la
from tempmodels.encoders import TemporalTransformer, count_parameters


def qkv(n=37, d=8, h=3, b=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, n, d, generator=g, dtype=dtype) for _ in range(3))


def gates(shape, seed=1, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return F.logsigmoid(torch.randn(*shape, generator=g, dtype=torch.float64) * scale)


@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_causal_linear_attention_chunked_equals_recurrent_and_quadratic(chunk):
    q, k, v = qkv()
    rec = la.linear_attention_recurrent(q, k, v)
    assert torch.allclose(la.linear_attention(q, k, v, causal=True, chunk_size=chunk), rec, atol=1e-10)
    assert torch.allclose(la.linear_attention_quadratic(q, k, v, causal=True), rec, atol=1e-10)


def test_noncausal_linear_attention_equals_quadratic_and_the_last_recurrent_step():
    q, k, v = qkv()
    par = la.linear_attention(q, k, v)
    assert torch.allclose(par, la.linear_attention_quadratic(q, k, v), atol=1e-10)
    # at the last frame the causal state has seen every frame: the two coincide there
    assert torch.allclose(par[:, :, -1], la.linear_attention_recurrent(q, k, v)[:, :, -1], atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 4, 16, 40])
def test_gla_chunked_equals_recurrent(chunk):
    q, k, v = qkv()
    g = gates(k.shape)
    assert torch.allclose(la.gla_chunked(q, k, v, g, chunk), la.gla_recurrent(q, k, v, g.clamp(min=la.MIN_LOG_GATE)),
                          atol=1e-9)


def test_gla_without_decay_is_unnormalised_causal_linear_attention():
    q, k, v = qkv()
    out = la.gla_chunked(q, k, v, torch.zeros_like(k), 8)
    ref = (q @ k.transpose(-1, -2)).tril() @ v
    assert torch.allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize("fn", ["linear causal", "gla", "gla layer", "linear layer"])
def test_causal_forms_do_not_look_ahead(fn):
    torch.manual_seed(0)
    n, t0 = 40, 23
    if fn.endswith("layer"):
        layer = (la.LinearAttention(16, 2, causal=True, chunk_size=8) if fn.startswith("linear")
                 else la.GatedLinearAttention(16, 2)).double()
        x = torch.randn(2, n, 16, dtype=torch.float64)
        run = layer
    else:
        q, k, v = qkv(n=n)
        x = torch.cat([q, k, v], dim=-1)

        def run(x):
            q, k, v = x.chunk(3, dim=-1)
            if fn == "gla":
                return la.gla_chunked(q, k, v, F.logsigmoid(k), 8)
            return la.linear_attention(q, k, v, causal=True, chunk_size=8)
    base = run(x)
    x2 = x.clone()
    pos = (slice(None), t0) if fn.endswith("layer") else (slice(None), slice(None), t0)
    x2[pos] += 5.0
    moved = run(x2)
    time_axis = 1 if fn.endswith("layer") else 2
    before = base.narrow(time_axis, 0, t0)
    assert torch.allclose(moved.narrow(time_axis, 0, t0), before, atol=1e-10)
    assert not torch.allclose(moved.narrow(time_axis, t0, 1), base.narrow(time_axis, t0, 1))


def test_noncausal_linear_attention_does_look_ahead():
    q, k, v = qkv(n=20)
    k2 = k.clone()
    k2[:, :, 15] += 3.0
    assert not torch.allclose(la.linear_attention(q, k, v)[:, :, :10], la.linear_attention(q, k2, v)[:, :, :10])


@pytest.mark.parametrize("impl", ["naive", "SDPA", "linear", "linear (causal)", "GLA"])
@pytest.mark.parametrize("n", [64, 100])
def test_flop_formulas_equal_the_counter(impl, n):
    assert attention.counted_flops(impl, n, head_dim=16, heads=2) == attention.flop_formula(impl, n, 16, 2)


def test_reports_example_linear_is_8x_softmax_with_one_head_and_equal_with_8_heads():
    soft, lin = la.softmax_attention_flops(64, 512), la.linear_attention_flops(64, 512)
    assert round(lin / soft) == 8  # the report's "O(64 × 512²)" vs "O(64² × 512)"
    assert 0.95 < la.linear_attention_flops(64, 64, heads=8) / la.softmax_attention_flops(64, 64, heads=8) < 1.05


@pytest.mark.parametrize("attn", ["linear", "gla"])
def test_transformer_with_linear_attention_counts_and_trains(attn):
    torch.manual_seed(0)
    kw = dict(n_features=128, n_frames=64, d_model=16, width=16, layers=2, ff=32, readout="strided")
    m = TemporalTransformer(nhead=2, attention=attn, **kw)
    assert count_parameters(m) == TemporalTransformer.param_formula(attention=attn, nhead=2, **kw)
    x = torch.randn(3, 64, 128)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    with pytest.raises(TypeError, match="softmax"):
        m.attention_maps(x)


def test_layer_modes_agree():
    torch.manual_seed(0)
    lin = la.LinearAttention(16, 4, causal=True, chunk_size=8).double()
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    out = lin(x)
    for mode in ("recurrent", "quadratic"):
        lin.mode = mode
        assert torch.allclose(lin(x), out, atol=1e-10)
    gla = la.GatedLinearAttention(16, 4).double()
    out = gla(x)
    gla.mode = "recurrent"
    assert torch.allclose(gla(x), out, atol=1e-10)
    assert count_parameters(gla) == la.GatedLinearAttention.param_formula(16, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="divide"):
        la.LinearAttention(10, 3)
    with pytest.raises(ValueError, match="causal"):
        la.LinearAttention(16, 2, causal=False, mode="recurrent")
    with pytest.raises(ValueError, match="attention must be one of"):
        TemporalTransformer(attention="flash")
    with pytest.raises(ValueError, match=r"\(batch, heads, N, d_k\)"):
        la.linear_attention(torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    q, k, v = qkv()
    with pytest.raises(ValueError, match="log-gates"):
        la.gla_chunked(q, k, v, torch.zeros(1))


def test_multi_tr_transformer_gives_one_embedding_per_tr():
    torch.manual_seed(0)
    m = TemporalTransformer(128, 4 * 64, 16, width=16, nhead=2, layers=1, ff=32, readout="strided", attention="linear",
                            tr_frames=64).eval()
    assert m(torch.randn(2, 256, 128)).shape == (2, 4, 16)
    with pytest.raises(ValueError, match="per-TR readout"):
        TemporalTransformer(128, 256, 16, width=16, nhead=2, layers=1, ff=32, tr_frames=64)
    with pytest.raises(ValueError, match="tr_frames must divide"):
        TemporalTransformer(128, 256, 16, width=16, nhead=2, layers=1, ff=32, readout="strided", tr_frames=60)


@pytest.mark.parametrize("attn", ["softmax", "linear", "gla"])
@pytest.mark.parametrize("readout,tr_frames", [("report", None), ("cls", None), ("strided", None), ("mean", 32),
                                               ("queries", 32)])
def test_transformer_flops_per_tr_equal_the_formula(attn, readout, tr_frames):
    """The counter must see the fused paths' work (inference fast path, SDPA's flash kernel)."""
    from tempmodels.accounting import flops_per_tr
    kw = dict(n_features=128, n_frames=64, d_model=32, width=16, layers=2, ff=24, readout=readout, nhead=2,
              attention=attn, tr_frames=tr_frames)
    m = TemporalTransformer(**kw)
    assert flops_per_tr(m) == TemporalTransformer.flop_formula(**kw)
    assert torch.backends.mha.get_fastpath_enabled()  # restored
