"""The statistics behind every verdict: summaries over seeds and paired comparisons."""
import numpy as np
import pandas as pd
import pytest

from tempmodels.experiment import paired_table, paired_vs, summarize


def _results():
    rows = []
    for seed, (base, new) in enumerate([(0.50, 0.40), (0.52, 0.41), (0.48, 0.42)]):
        rows += [{"encoder": "base", "seed": seed, "metric": "test_mse", "value": base},
                 {"encoder": "new", "seed": seed, "metric": "test_mse", "value": new},
                 {"encoder": "base", "seed": seed, "metric": "temporal_detail_r", "value": 0.1 * seed},
                 {"encoder": "new", "seed": seed, "metric": "temporal_detail_r", "value": 0.1 * seed + (0.05 if seed else -0.01)}]
    rows.append({"encoder": "oracle", "seed": -1, "metric": "test_mse", "value": 0.0})
    return pd.DataFrame(rows)


def test_summarize_mean_sd():
    t = summarize(_results())
    assert t.loc["base", "test_mse"] == "0.500 ± 0.020"
    assert t.loc["oracle", "test_mse"] == "0.000"
    assert t.loc["oracle", "temporal_detail_r"] == "—"
    assert list(t.index) == ["base", "new", "oracle"]


def test_paired_lower_is_better():
    p = paired_vs(_results(), "base", "test_mse", higher_is_better=False).loc["new"]
    d = np.array([0.10, 0.11, 0.06])
    assert p.improvement == pytest.approx(d.mean())
    assert p.sd == pytest.approx(d.std(ddof=1))
    assert p["change_%"] == pytest.approx(100 * d.mean() / 0.5)
    assert p.better_in_all_seeds and p.seeds == 3


def test_paired_not_better_in_every_seed():
    p = paired_vs(_results(), "base", "temporal_detail_r").loc["new"]
    assert p.improvement == pytest.approx((0.05 + 0.05 - 0.01) / 3)
    assert not p.better_in_all_seeds


def test_paired_table_marks():
    t = paired_table(_results(), "base", metrics=("test_mse", "temporal_detail_r"))
    assert t.loc["new", "Δ test_mse"] == "+0.090 ± 0.026 ✓"
    assert not t.loc["new", "Δ temporal_detail_r"].endswith("✓")


def test_unknown_baseline():
    with pytest.raises(KeyError, match="baseline 'nope'"):
        paired_vs(_results(), "nope", "test_mse")
