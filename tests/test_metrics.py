import numpy as np
import pytest
import torch

from tempmodels import metrics


@pytest.fixture
def x():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 64, 16, generator=g)


def test_identical_scores_one(x):
    assert metrics.temporal_detail_r(x, x) == pytest.approx(1.0)
    assert metrics.modulation_r(x, x) == pytest.approx(1.0)


def test_floor_scores_exactly_zero(x):
    assert metrics.temporal_detail_r(metrics.tr_mean_floor(x), x) == 0.0


def test_per_tr_offsets_and_scale_do_not_matter(x):
    shifted = 3.0 * x + torch.randn(5, 1, 16)  # scale + a different offset per TR and band
    assert metrics.temporal_detail_r(shifted, x) == pytest.approx(1.0)


def test_negated_detail_scores_minus_one(x):
    mean = x.mean(1, keepdim=True)
    assert metrics.temporal_detail_r(2 * mean - x, x) == pytest.approx(-1.0)


def test_circular_shift_keeps_modulation_but_not_detail(x):
    rolled = x.roll(7, dims=1)
    assert metrics.modulation_r(rolled, x) == pytest.approx(1.0)
    assert metrics.temporal_detail_r(rolled, x) < 0.5


def test_floor_modulation_is_partial(x):
    r = metrics.modulation_r(metrics.tr_mean_floor(x), x)
    assert 0.0 < r < 0.9


def test_window_average_limits(x):
    assert torch.equal(metrics.window_average(x, 1), x)
    assert torch.allclose(metrics.window_average(x, 64), x.mean(1, keepdim=True).expand_as(x))
    w8 = metrics.window_average(x, 8)
    assert torch.allclose(w8[:, :8], x[:, :8].mean(1, keepdim=True).expand(-1, 8, -1))


def test_window_average_monotone_loss(x):
    rs = [metrics.temporal_detail_r(metrics.window_average(x, w), x) for w in (1, 2, 4, 8, 16, 32, 64)]
    assert all(a > b for a, b in zip(rs, rs[1:]))


@pytest.mark.parametrize("window", [0, 3, 65])
def test_bad_window(x, window):
    with pytest.raises(ValueError, match="window must divide"):
        metrics.window_average(x, window)


def test_shape_errors(x):
    with pytest.raises(ValueError, match=r"\(TR, frames, mels\)"):
        metrics.temporal_detail_r(x[0], x[0])
    with pytest.raises(ValueError, match="reconstruction shape"):
        metrics.modulation_r(x[:, :32], x)


def test_non_finite_error(x):
    y = x.clone()
    y[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        metrics.temporal_detail_r(y, x)


def test_modulation_profile_of_constant_tr_is_zero_off_dc(x):
    prof = metrics.temporal_modulation_profile(metrics.tr_mean_floor(x))
    assert prof.shape == (33,)
    assert torch.all(prof[1:] < 1e-10)


def test_per_tr_detail_r_known_answers(x):
    r = metrics.temporal_detail_r_per_tr(x, x)
    assert r.shape == (x.shape[0],) and abs(r - 1).max() < 1e-12
    assert abs(metrics.temporal_detail_r_per_tr(metrics.tr_mean_floor(x), x)).max() == 0  # constant detail: 0
    assert abs(metrics.temporal_detail_r_per_tr(-x, x) + 1).max() < 1e-12
    silent = x.clone()
    silent[1] = -11.5  # digital silence: no detail to correlate with
    r = metrics.temporal_detail_r_per_tr(x, silent)
    assert np.isnan(r[1]) and np.isfinite(np.delete(r, 1)).all()
    # the per-TR r of one TR is the pooled r of that TR alone
    assert r[0] == pytest.approx(metrics.temporal_detail_r(x[:1], silent[:1]))
