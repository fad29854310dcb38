"""Chapter 12's arithmetic: bytes per GPU by strategy (ZeRO's own worked example), ring traffic, the
report's time chains, and the full-size stand-in measured on fake tensors against real ones."""
import pytest
import torch

from tempmodels import budget as B
from tempmodels import standin as S

MIXED = B.RECIPES["bf16 mixed + AdamW"]


@pytest.mark.parametrize("strategy, gb", [("DDP", 120.0), ("ZeRO-1", 31.4), ("ZeRO-2 (FSDP SHARD_GRAD_OP)", 16.6),
                                          ("ZeRO-3 (FSDP FULL_SHARD)", 1.9)])
def test_zero_papers_worked_example(strategy, gb):
    """Rajbhandari et al. (2020), Figure 1: 7.5 B parameters, 64 GPUs, K = 12 -> 120 / 31.4 / 16.6 / 1.9 GB."""
    assert B.state_bytes(7.5e9, 64, strategy, MIXED)["total"] / 1e9 == pytest.approx(gb, abs=0.05)


def test_one_gpu_shards_nothing_and_recipes_add_up():
    for s in B.STRATEGIES:
        assert B.state_bytes(1e6, 1, s, MIXED)["total"] == 16e6
    assert B.RECIPES["fp32 + AdamW"].total == 16 and MIXED.optimizer == 12
    assert B.RECIPES["bf16 mixed + 8-bit AdamW"].states == pytest.approx(2 + 8 / 2048)
    with pytest.raises(ValueError, match="strategy must be one of"):
        B.state_bytes(1e6, 8, "DDP2", MIXED)


def test_ring_traffic():
    assert B.ring_bytes(100, 4, "all_reduce") == 150  # 2 (N-1)/N
    assert B.comm_bytes_per_step(1e9, 8, "DDP") == pytest.approx(2 * 7 / 8 * 2e9)
    assert B.comm_bytes_per_step(1e9, 8, "ZeRO-1") == B.comm_bytes_per_step(1e9, 8, "DDP")
    assert B.comm_bytes_per_step(1e9, 8, "ZeRO-3 (FSDP FULL_SHARD)") == pytest.approx(1.5 * B.comm_bytes_per_step(1e9, 8, "DDP"))
    assert B.LINKS["PCIe 4.0 x16"] == pytest.approx(31.5, abs=0.05)


def test_time_chains_find_the_reports_own_rounding():
    t = B.time_table()
    assert t.loc["Baseline", "(a) from 1.3 s/batch"] == pytest.approx(1300 / 60)
    # 28 min x 100 / 60 = 46.7 -> the printed 47 h follows from the rounded epoch, not from 22 min x 1.25 (45.8)
    assert t.loc["Hierarchical Encoding", "hours follow (c)"] and not t.loc["Hierarchical Encoding", "hours follow (b)"]
    assert t.loc["Hierarchical Encoding", "(b) h"] == pytest.approx(45.83, abs=0.01)
    assert B.follows_rounding(42, 41.53) and not B.follows_rounding(47, 45.8)


def test_stand_in_formulas_match_pytorch():
    cfg = dict(enc_layers=2, dec_layers=3, enc_width=64, dec_width=32, heads=4, ff_mult=4, n_in=16)
    m = S.StandIn(**cfg)
    assert m.part_parameters() == S.StandIn.param_formula(**cfg)
    b, t = 3, 10
    assert S.fake_saved_bytes(lambda: S.StandIn(**cfg), (b, t, 16))["activations"] == S.stand_in_activation_formula(m.config, b, t)
    assert S.fake_step_flops(lambda: S.StandIn(**cfg), (b, t, 16))["forward"] == S.stand_in_forward_flops(m.config, b, t)


def test_fake_tensors_save_what_real_ones_do():
    """FakeTensorMode's count equals the same count taken on real CPU tensors (same kernels' shapes)."""
    build = lambda: S.Block(64, 4, 256)
    x = torch.randn(2, 16, 64)
    m = build()
    exclude = {p.untyped_storage()._cdata for p in m.parameters()} | {x.untyped_storage()._cdata}
    seen = {}

    def pack(t):
        if t.untyped_storage()._cdata not in exclude:
            seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    assert S.fake_saved_bytes(build, (2, 16, 64))["activations"] == sum(seen.values())
    assert S.activation_formula(1, 2, 16, 64, 256, 4) == sum(seen.values()) + 2 * 16 * 64 * 4  # + the block input


def test_autocast_weight_copies_are_told_apart_from_activations():
    build = lambda: S.StandIn(1, 1, 64, 32, 4, 4, 16)
    fp32 = S.fake_saved_bytes(build, (2, 8, 16))
    bf16 = S.fake_saved_bytes(build, (2, 8, 16), torch.bfloat16)
    linear_weights = sum(p.numel() for n, p in build().named_parameters() if n.endswith("weight") and p.ndim == 2)
    assert fp32["weight_casts"] == 0
    # one bf16 copy of every Linear weight that backward multiplies by, so all but the first Linear's
    # (its input needs no gradient); biases are never saved
    assert bf16["weight_casts"] == 2 * (linear_weights - 16 * 64)


def test_report_stand_in_is_within_one_percent_of_the_report_and_its_activations_follow_the_formula():
    enc, dec = S.report_layers()
    counts = S.StandIn.param_formula(enc, dec)
    assert counts["encoder"] == pytest.approx(S.REPORT_ENCODER_PARAMS, rel=0.01)
    assert counts["decoder"] == pytest.approx(S.REPORT_DECODER_PARAMS, rel=0.01)
    saved = S.fake_saved_bytes(S.report_stand_in, (1, 8, 128))  # fake tensors: 8 GB of weights never allocated
    assert saved["activations"] == S.stand_in_activation_formula(S.report_config(), 1, 8)
    assert S.report_config()["enc_layers"] == enc


def test_pytorch_amp_ddp_is_22_bytes_per_parameter():
    b = B.torch_amp_ddp_bytes(1e9)
    assert b["total"] == 22e9 and b["weight casts"] == 2e9
