"""Nested training subsets and learning-curve fits (tempmodels.scaling, chapter 11's groundwork)."""
import numpy as np
import pandas as pd
import pytest
import torch

from tempmodels import scaling

from .conftest import needs_espeak


def test_sizes_double_up_to_the_whole_block():
    assert scaling.nested_sizes(100, 10) == [10, 20, 40, 80, 100]
    assert scaling.nested_sizes(80, 10) == [10, 20, 40, 80]
    with pytest.raises(ValueError, match="smallest"):
        scaling.nested_sizes(5, 10)
    with pytest.raises(ValueError, match="factor"):
        scaling.nested_sizes(100, 10, factor=1)


def test_subsets_are_nested_and_share_validation_test_and_normaliser(small_bench):
    n_train = len(small_bench.splits["train"])
    sizes = [n_train // 4, n_train // 2, n_train]
    subs = scaling.nested_subsets(small_bench, sizes)
    assert list(subs) == sizes
    first = subs[sizes[0]]
    for n, d in subs.items():
        assert len(d.train) == n and d.bench.splits["train"].tolist() == small_bench.splits["train"][:n].tolist()
        assert d.norm is first.norm  # one unit along the curve
        assert torch.equal(d.val, first.val) and torch.equal(d.test, first.test)
        assert d.bench.splits["test"] is small_bench.splits["test"]
    for a, b in zip(sizes, sizes[1:]):
        assert torch.equal(subs[b].train[:a], subs[a].train)  # each size contains the smaller ones
    # the normaliser reads the smallest subset only
    torch.testing.assert_close(first.norm.mean, small_bench.mel[small_bench.splits["train"][: sizes[0]]]
                               .mean(dim=(0, 1), keepdim=True))
    assert small_bench.splits["train"].size == n_train  # the benchmark itself is untouched


def test_subsets_refuse_sizes_that_do_not_fit(small_bench):
    n_train = len(small_bench.splits["train"])
    with pytest.raises(ValueError, match="exceeds the benchmark's training block"):
        scaling.nested_subsets(small_bench, [10, n_train + 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        scaling.nested_subsets(small_bench, [20, 10])
    with pytest.raises(ValueError, match="empty"):
        scaling.nested_subsets(small_bench, [])


def test_power_law_recovers_its_parameters():
    n = np.array([300, 600, 1200, 2400, 4800, 9600.0])
    y = 0.15 + 2.0 * n ** -0.5
    f = scaling.fit_power_law(n, y)
    assert f.a == pytest.approx(2.0, rel=1e-4) and f.b == pytest.approx(0.5, rel=1e-4)
    assert f.c == pytest.approx(0.15, abs=1e-6)
    np.testing.assert_allclose(f(n), y, rtol=1e-6)
    with pytest.raises(ValueError, match="three"):
        scaling.fit_power_law([1, 2, 2], [1, 2, 3])


def test_the_asymptote_stays_where_the_metric_can_be():
    n = np.array([90, 180, 358.0])
    y = 0.9 - 0.1 * np.log(n / 50)  # three points on a line in log n: unbounded, b -> 0 and c runs off
    free = scaling.fit_power_law(n, y)
    assert free.b < 0.01 and free.c < -1  # the degenerate fit the bound exists for
    mse = scaling.fit_power_law(n, y, scaling.metric_range("test_mse"))
    assert 0.0 <= mse.c <= y.min() and mse.b > 0.05
    r = scaling.fit_power_law(n, 1 - y, scaling.metric_range("temporal_detail_r"))
    assert r.c <= 1.0
    assert scaling.metric_range("reversed_detail_r") == (-1.0, 1.0)
    with pytest.raises(KeyError, match="METRIC_RANGE"):
        scaling.metric_range("loudness")
    with pytest.raises(ValueError, match="low < high"):
        scaling.fit_power_law(n, y, (1.0, 0.0))


def test_crossing_is_where_the_curves_meet_and_none_when_they_do_not():
    flat = scaling.PowerLaw(a=0.0, b=0.0, c=0.2, n_min=1, n_max=1)
    falling = scaling.PowerLaw(a=2.0, b=0.5, c=0.1, n_min=1, n_max=1)  # equals 0.2 at n = 400
    assert scaling.crossing(falling, flat, 100, 10_000) == pytest.approx(400, rel=1e-6)
    assert scaling.crossing(falling, flat, 500, 10_000) is None
    higher = scaling.PowerLaw(a=0.0, b=0.0, c=0.3, n_min=1, n_max=1)
    assert scaling.crossing(higher, flat, 1, 1e6) is None
    assert scaling.hours(2400) == pytest.approx(1.0)


# ------------------------------------------------------------------ budgets, controls and the curve runner
def test_fixed_step_config_gives_the_same_steps_at_every_size():
    from tempmodels.training import TrainConfig

    cfg = TrainConfig(epochs=30, batch_size=32, patience=6, warmup_epochs=3)
    for n, epochs in [(320, 30), (640, 15), (1280, 8), (96, 100)]:  # 300 steps: 10, 20, 40, 3 per epoch
        c = scaling.fixed_step_config(cfg, n, 300)
        assert c.epochs == epochs and c.patience == c.epochs  # no early stopping under a fixed budget
        assert abs(c.epochs * (n // 32) - 300) <= n // 32  # to within one epoch
        assert c.warmup_epochs == max(1, round(3 * epochs / 30))
    assert scaling.fixed_step_config(cfg, 10_000, 5).epochs == 1
    with pytest.raises(ValueError, match="fewer than batch_size"):
        scaling.fixed_step_config(cfg, 20, 300)
    with pytest.raises(ValueError, match="steps"):
        scaling.fixed_step_config(cfg, 320, 0)


def test_pca_encoder_is_the_frozen_pca_code():
    from tempmodels.decoder_controls import PCAEncoder
    from tempmodels.pca_code import PCACode

    train = torch.randn(40, 6, 5)
    pca = PCACode(train, 8)
    enc = PCAEncoder(pca, 8)
    assert sum(p.numel() for p in enc.parameters()) == 0 == PCAEncoder.param_formula()
    x = torch.randn(7, 6, 5)
    torch.testing.assert_close(enc(x), pca.encode(x).float(), rtol=1e-5, atol=1e-5)
    capped = PCAEncoder(PCACode(train[:4], 8), 8)  # rank 3 after centring: the other 5 columns are zero
    assert capped.d_effective == 3 and torch.equal(capped(x)[:, 3:], torch.zeros(7, 5))
    with pytest.raises(ValueError, match="more than d_model"):
        PCAEncoder(pca, 4)


def test_linear_decoder_counts_and_refuses_wrong_codes():
    from tempmodels.decoder_controls import LinearDecoder

    dec = LinearDecoder(16, 6, 5)
    assert sum(p.numel() for p in dec.parameters()) == LinearDecoder.param_formula(16, 6, 5) == 16 * 30 + 30
    assert dec(torch.randn(3, 16)).shape == (3, 6, 5)
    with pytest.raises(ValueError, match=r"\(batch, 16\)"):
        dec(torch.randn(3, 8))
    with pytest.raises(ValueError, match="decoder must be one of"):
        scaling.CurveCode(lambda data: None, "conv")


def test_size_for_target_inverts_the_law_and_says_when_it_never_gets_there():
    law = scaling.PowerLaw(a=2.0, b=0.5, c=0.1, n_min=100, n_max=1000)  # 0.2 at n = 400
    assert scaling.size_for_target(law, 0.2, higher_better=False) == pytest.approx(400)
    assert scaling.size_for_target(law, 0.05, higher_better=False) is None  # below the asymptote
    assert scaling.size_for_target(law, 0.5, higher_better=False) == 100  # reached at the smallest size
    rising = scaling.PowerLaw(a=-2.0, b=0.5, c=0.9, n_min=100, n_max=1000)  # 0.8 at n = 400
    assert scaling.size_for_target(rising, 0.8, higher_better=True) == pytest.approx(400)
    assert scaling.size_for_target(rising, 0.95, higher_better=True) is None
    falling = scaling.PowerLaw(a=2.0, b=0.5, c=0.1, n_min=100, n_max=1000)  # 0.3 at 100, moving away from 0.5
    assert scaling.size_for_target(falling, 0.5, higher_better=True) is None


@needs_espeak
def test_learning_curves_end_to_end_and_served_from_the_cache(small_bench, tmp_path, monkeypatch):
    from tempmodels.audio.melspec import GriffinLimVocoder
    from tempmodels.encoders import FlatLinear, MeanPool
    from tempmodels.experiment import PCA_ROW
    from tempmodels.training import TrainConfig

    monkeypatch.setenv("TEMPMODELS_RUN_CACHE", str(tmp_path / "runs"))
    n_train = len(small_bench.splits["train"])
    subsets = scaling.nested_subsets(small_bench, [8, 16, n_train])
    codes = {"mean": scaling.learned(lambda: MeanPool(128, 64, 8)), "PCA-d + MelDecoder": scaling.frozen_pca(8),
             "flat + linear": scaling.learned(lambda: FlatLinear(128, 64, 8), "linear")}
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, patience=5)

    def curves():
        return scaling.learning_curves(codes, subsets, cfg, [0, 1], GriffinLimVocoder(n_iter=2), None, 8,
                                       fixed_steps=4, fixed_codes=["mean"], asr=False, progress=False)

    seen = {}
    real = scaling.run_encoder

    def spy(name, build_encoder, *a, **k):
        seen[name] = type(k["build_model"](build_encoder, 8)().decoder).__name__
        return real(name, build_encoder, *a, **k)

    monkeypatch.setattr(scaling, "run_encoder", spy)
    c = curves()
    assert seen == {"mean": "MelDecoder", "PCA-d + MelDecoder": "MelDecoder", "flat + linear": "LinearDecoder"}
    assert c.sizes == [8, 16, n_train]
    per = c.results.groupby(["condition", "encoder"]).apply(lambda g: sorted(set(zip(g.n_train, g.seed))))
    assert all(v == [(n, s) for n in c.sizes for s in (0, 1)] for v in per)
    assert set(c.results.condition) == {scaling.CONVERGED, scaling.FIXED}
    assert set(c.results[c.results.condition == scaling.FIXED].encoder) == {"mean"}
    fixed = c.budget[c.budget.condition == scaling.FIXED].set_index("n_train")
    assert fixed.loc[8, "epochs"] == 4 and fixed.loc[16, "epochs"] == 2  # 4 steps at 1 and 2 steps per epoch
    # the test block is scored the same at every size: the reference oracle is one number along the curve
    oracle = c.reference[c.reference.encoder == "oracle"].groupby("metric").value.nunique()
    assert len(oracle) >= 3 and (oracle == 1).all()
    pts = scaling.curve_points(c, "test_mse")
    assert {PCA_ROW, scaling.FLOOR, "mean"} <= set(pts.encoder) and (pts[pts.encoder == "mean"].seeds == 2).all()
    d = scaling.paired_by_size(c, PCA_ROW, "test_mse")
    assert len(d) == 3 * len(codes) and d.verdict.notna().all()
    assert (d.ci_low <= d.difference).all() and (d.difference <= d.ci_high).all()
    assert scaling.crossing_table(c, "test_mse", extrapolate_to=1e5).index.tolist() == list(codes)
    lines = scaling.verdict_lines(c, ["test_mse"], controls={"decoder": ("PCA-d + MelDecoder", PCA_ROW)})
    big = d[d.n_train == n_train].set_index("encoder").verdict
    assert lines[0].startswith("* **The answer") and all(f"{w}: " in lines[0] for w in set(big))
    assert len(lines) == 1 + len(codes) + 1 and "PCA-d + MelDecoder − PCA-d" in lines[-1]
    assert set(c.models) == {(cond, n, e) for cond, n, e in c.budget[["condition", "n_train", "encoder"]].itertuples(index=False)}
    assert type(c.models[scaling.CONVERGED, 8, "flat + linear"].decoder).__name__ == "LinearDecoder"
    conv = scaling.convergence_by_size(c)
    assert set(conv.index.get_level_values("n_train")) == set(c.sizes) and "still improving" in conv

    import tempmodels.experiment as E

    monkeypatch.setattr(E, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained again")))
    again = curves()
    pd.testing.assert_frame_equal(c.results, again.results)


def test_candidates_by_family_and_a_clear_error_for_unknown_names():
    fam = scaling.candidates(["frame MLP"], ["frame+queries", "frame+strided"], 16, frame_hidden=8)
    assert list(fam) == [scaling.POOLED, scaling.KEEPING] and list(fam[scaling.KEEPING]) == ["frame+queries", "frame+strided"]
    enc = fam[scaling.KEEPING]["frame+queries"]()
    assert enc.order_sensitive and enc(torch.randn(2, 64, 128)).shape == (2, 16)
    assert not fam[scaling.POOLED]["frame MLP"]().order_sensitive
    with pytest.raises(ValueError, match="position-keeping candidates must be"):
        scaling.candidates(["frame MLP"], ["transformer"], 16)
    with pytest.raises(ValueError, match="pooled candidates must be a non-empty"):
        scaling.candidates([], ["frame+queries"], 16)
