"""The learned temporal filter over TRs (tempmodels.fmri.tr_filter) against FIR delays."""
import numpy as np
import pytest
import torch

from tempmodels.fmri.tr_filter import (FIR, LEARNED, TRFilter, filter_paired, filter_table, filter_vs_fir, fit_tr_filter,
                                       fit_tr_filter_cv)
from tempmodels.splits import time_blocks


def _lagged_world(lag=3, n=400, d=6, v=5, noise=0.3, seed=0):
    g = np.random.default_rng(seed)
    z = g.standard_normal((n, d))
    w = g.standard_normal((d, v))
    y = np.zeros((n, v))
    y[lag:] = z[:-lag] @ w
    y += noise * g.standard_normal((n, v))
    return z, y, time_blocks(n, gap_trs=4)


@pytest.mark.parametrize("d,v,k,m", [(8, 5, 4, 1), (16, 3, 1, 2), (4, 7, 12, 3)])
def test_parameter_formula_matches_pytorch(d, v, k, m):
    assert TRFilter(d, v, k, m).n_parameters() == TRFilter.parameter_formula(d, v, k, m)


def test_the_filter_is_causal_and_sees_exactly_k_delays():
    torch.manual_seed(0)
    f = TRFilter(3, 2, k=4)
    with torch.no_grad():
        f.filter.weight.normal_()
    z = torch.randn(1, 20, 3)
    t = 10
    z2 = z.clone()
    z2[:, t:] += 5.0                                  # change TR t and everything after it
    assert torch.allclose(f(z)[:, : t + 1], f(z2)[:, : t + 1])  # output at t sees t-1 … t-4 only
    z3 = z.clone()
    z3[:, t - 5] += 5.0                               # five TRs back: outside a 4-TR window
    assert torch.allclose(f(z)[:, t], f(z3)[:, t])
    z4 = z.clone()
    z4[:, t - 4] += 5.0                               # four TRs back: inside
    assert not torch.allclose(f(z)[:, t], f(z4)[:, t])


def test_a_learned_filter_finds_a_lag_inside_its_window_and_not_outside():
    z, y, splits = _lagged_world(lag=3)
    inside = fit_tr_filter(z, y, splits, k=4, l2=0.01, lr=0.03, seed=0, steps=400)
    outside = fit_tr_filter(z, y, splits, k=2, l2=0.01, lr=0.03, seed=0, steps=400)
    assert inside.r.mean() > 0.9 and outside.r.mean() < 0.3
    assert 0 < inside.best_step <= inside.steps and inside.history.shape[1] == 3


def test_selection_is_on_validation():
    z, y, splits = _lagged_world(lag=2, noise=1.0)
    grid = dict(l2_grid=(0.01, 100.0), lr_grid=(0.03,))
    best = fit_tr_filter_cv(z, y, splits, k=3, seed=1, steps=300, **grid)
    each = [fit_tr_filter(z, y, splits, k=3, l2=a, lr=0.03, seed=1, steps=300) for a in grid["l2_grid"]]
    assert best.val_r == max(f.val_r for f in each)
    assert best.l2 == each[int(np.argmax([f.val_r for f in each]))].l2


def test_bad_input_is_named():
    z, y, splits = _lagged_world()
    with pytest.raises(KeyError, match="'val'"):
        fit_tr_filter(z, y, {"train": splits["train"], "test": splits["test"]}, k=2)
    with pytest.raises(ValueError, match="k .* >= 1"):
        fit_tr_filter(z, y, splits, k=0)
    with pytest.raises(ValueError, match="l2"):
        fit_tr_filter(z, y, splits, k=2, l2=-1.0)
    with pytest.raises(ValueError, match=r"\(batch, TR, 6\)"):
        TRFilter(6, 2, 3)(torch.zeros(1, 10, 5))
    with pytest.raises(ValueError, match="lengths"):
        filter_vs_fir({"z": {0: z}}, y, splits, [0])


def test_filter_vs_fir_rows_and_table():
    z, y, splits = _lagged_world(lag=2, v=12)
    rows, fits = filter_vs_fir({"z": {0: z, 1: z}}, y, splits, [1, 3], progress=False,
                               l2_grid=(0.01,), lr_grid=(0.03,), steps=300)
    assert set(rows.model) == {FIR, LEARNED} and len(rows) == 2 * 2 * 2 * 12
    fir = rows[rows.model == FIR]
    assert (fir.groupby(["k", "voxel"]).r.nunique() == 1).all()   # one FIR fit per deterministic code
    t = filter_table(rows, fits, np.ones(12, bool))
    assert list(t.index) == [("z", 1), ("z", 3)]
    assert t.loc[("z", 3), f"{FIR} parameters"] == 6 * 3 * 12 + 12
    assert t.loc[("z", 3), f"{LEARNED} parameters"] == TRFilter.parameter_formula(6, 12, 3)
    assert "95 % CI" in t.loc[("z", 3), "Δ r (learned − FIR) [95 % CI]: verdict"]
    # with the lag outside a 1-TR window neither model can predict; with 3 TRs both can
    assert float(t.loc[("z", 3), f"{FIR} r"]) > 0.9 > 0.3 > float(t.loc[("z", 1), f"{FIR} r"])


def test_filter_paired_is_the_paired_difference_per_voxel_and_seed():
    import pandas as pd

    from tempmodels.results import paired

    g = np.random.default_rng(3)
    fir, learned = g.standard_normal((2, 8)), g.standard_normal((2, 8))
    rows = pd.DataFrame([{"code": "c", "seed": s, "k": 2, "model": m, "voxel": v, "r": a[s, v], "parameters": 1}
                         for m, a in ((FIR, fir), (LEARNED, learned)) for s in range(2) for v in range(8)])
    mask = np.arange(8) < 6
    p = filter_paired(rows, mask)[("c", 2)]
    assert p == paired(learned[:, :6], fir[:, :6], "r")
