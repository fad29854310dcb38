"""Softmax attention: naive and SDPA agree; saved-memory formulas equal what autograd keeps;
the transformer's attention maps are the weights its layers use."""
import pytest
import torch

from tempmodels import attention
from tempmodels.encoders import TemporalTransformer


@pytest.mark.parametrize("n,d,h", [(64, 64, 8), (100, 16, 2), (7, 8, 1)])
def test_naive_and_sdpa_agree(n, d, h):
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, h, n, d, generator=g) for _ in range(3))
    assert torch.allclose(attention.naive_attention(q, k, v), attention.sdpa_attention(q, k, v), atol=1e-5)


@pytest.mark.parametrize("n", [64, 256])
def test_saved_memory_matches_the_formulas(n):
    naive = attention.attention_step("naive", n, head_dim=32, heads=4, repeats=1)
    assert naive["saved_MiB"] * 2**20 == attention.naive_activation_formula(n, 32, 4)
    # the flash kernel is asked for, not hoped for: where it cannot run, the test says so (it was a
    # silent pass whenever the CPU picked another kernel)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            sdpa = attention.attention_step("SDPA", n, head_dim=32, heads=4, repeats=1)
    except RuntimeError as e:  # "No available kernel": reported as a skip with its reason (pytest -ra)
        pytest.skip(f"the flash SDPA kernel cannot run here: {e}")
    assert sdpa["saved_MiB"] * 2**20 == attention.sdpa_flash_activation_formula(n, 32, 4)
    assert sdpa["saved_MiB"] < naive["saved_MiB"] or n <= 32


def test_unknown_implementation():
    with pytest.raises(ValueError, match="impl must be one of"):
        attention.attention_step("flash3", 64)


def test_attention_maps_are_the_layers_weights():
    torch.manual_seed(0)
    m = TemporalTransformer(d_model=8, width=16, nhead=4, layers=2, ff=32).eval()
    x = torch.randn(3, 64, 128)
    maps = m.attention_maps(x)
    assert [t.shape for t in maps] == [(3, 4, 64, 64)] * 2
    assert torch.allclose(maps[0].sum(-1), torch.ones(3, 4, 64), atol=1e-5)
    # layer 1's output recomputed from its own weights equals what the encoder computes
    layer = m.transformer.layers[0]
    h = m._tokens(x)
    attn_out = layer.self_attn(h, h, h, need_weights=False)[0]
    heads = h @ layer.self_attn.in_proj_weight[32:].T + layer.self_attn.in_proj_bias[32:]  # V projection
    v = heads.view(3, 64, 4, 4).transpose(1, 2)
    manual = (maps[0] @ v).transpose(1, 2).reshape(3, 64, 16)
    manual = manual @ layer.self_attn.out_proj.weight.T + layer.self_attn.out_proj.bias
    assert torch.allclose(manual, attn_out, atol=1e-5)
