"""Verdict arithmetic: where an encoder lies between the TR-mean floor and PCA-d, computed per seed.

``share = (encoder − floor) / (PCA-d − floor)`` on any metric: 0 is the floor, 1 is what the
optimal linear code of the same size reaches, negative is worse than the floor, above 1 beats PCA-d.
The same formula serves lower-is-better metrics (MSE) and higher-is-better ones (r, STOI).
"""
from __future__ import annotations

import pandas as pd

FLOOR = "floor (TR mean)"
PCA = "PCA-d"


def _reference_value(reference: pd.DataFrame, name: str, metric: str) -> float:
    v = reference[(reference.encoder == name) & (reference.metric == metric)].value
    if v.empty:
        raise KeyError(f"reference row {name!r} has no {metric!r}; have {sorted(set(reference.encoder))}")
    return float(v.iloc[0])


def gap_share(results: pd.DataFrame, reference: pd.DataFrame, metric: str = "test_mse") -> pd.DataFrame:
    """Per encoder: mean, sd and n over seeds of the share of the floor→PCA-d gap closed on ``metric``."""
    floor, pca = _reference_value(reference, FLOOR, metric), _reference_value(reference, PCA, metric)
    if pca == floor:
        raise ValueError(f"floor and PCA-d coincide on {metric!r}: no gap to measure against")
    r = results[(results.metric == metric) & (results.seed >= 0)].copy()
    r["share"] = (r.value - floor) / (pca - floor)
    g = r.groupby("encoder", sort=False).share
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.size()})


def gap_table(results: pd.DataFrame, reference: pd.DataFrame,
              metrics=("test_mse", "temporal_detail_r", "reversed_detail_r", "stoi")) -> pd.DataFrame:
    """encoder x metric table of 'share ± sd' of the floor→PCA-d gap closed (1.00 = PCA-d)."""
    cols = {}
    for m in metrics:
        if m in set(reference.metric) and m in set(results.metric):
            s = gap_share(results, reference, m)
            cols[f"{m}: share of gap"] = [f"{a:.2f} ± {b:.2f}" if n > 1 else f"{a:.2f}"
                                         for a, b, n in zip(s["mean"], s["sd"], s["n"])]
            idx = s.index
    return pd.DataFrame(cols, index=idx)


def position(share: float) -> str:
    """Words for a share of the floor→PCA-d gap."""
    if share < 0:
        return f"worse than the TR-mean floor (share {share:+.2f})"
    if share > 1:
        return f"beyond PCA-d (share {share:.2f})"
    return f"closes {100 * share:.0f} % of the floor→PCA-d gap"
