"""Results and the words a verdict may use: reference-row names, convergence, gap shares, paired
differences with a block-bootstrap confidence interval.

* **Names** of the reference rows every table carries are defined here once.
* **Convergence** has one definition: a run is *still improving* when its best validation epoch is
  the last epoch it trained and it trained for the whole budget (early stopping did not end it).
* **Gap share**: ``(encoder − floor) / (PCA-d − floor)`` per seed on any metric — 0 is the TR-mean
  floor, 1 what the optimal linear code of the same size reaches.
* **Paired differences**: two encoders scored on the *same* test units (TRs or sentences) and seeds.
  The difference per unit is averaged over seeds and units; its 95 % CI comes from a block
  bootstrap over contiguous units (circular blocks of ``block`` units, at least the HRF's length for
  fMRI, so that autocorrelated neighbours are resampled together; at least four blocks must fit), the
  same blocks for every seed. A verdict
  says *better* or *worse* only when the CI excludes zero; otherwise *no difference detected at this
  budget*. "Same sign in every seed" is reported beside it, never instead of it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

ORACLE = "oracle"
FLOOR = "floor (TR mean)"
PCA = "PCA-d"
FLAT = "flat linear"
REFERENCE_ROWS = (ORACLE, FLOOR, PCA, FLAT)

#: metrics where smaller is better; every other metric is higher-is-better
LOWER_IS_BETTER = frozenset({"test_mse", "wer", "flow_epe", "best_val_loss", "teacher_gap", "audio_mse", "video_mse",
                             "fmri_mse"})

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no difference detected at this budget"


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


# ----------------------------------------------------------------------------------------- convergence
def still_improving(history: pd.DataFrame, epochs: int, patience: int | None = None) -> bool:
    """True when the run's best validation epoch is its last one and it used the whole budget of
    ``epochs``: it stopped because the budget ended, not because it had converged."""
    if history.empty:
        raise ValueError("an empty history has no best epoch")
    best = int(history.epoch[history.val_loss.idxmin()])
    last = int(history.epoch.iloc[-1])
    return last >= epochs and best == last


def convergence(histories: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per encoder × seed: best epoch, epochs trained, still improving (one definition, above)."""
    rows = []
    for (enc, seed), h in histories.groupby(["encoder", "seed"], sort=False):
        h = h.sort_values("epoch")
        rows.append({"encoder": enc, "seed": seed, "best_epoch": int(h.epoch[h.val_loss.idxmin()]),
                     "epochs_trained": int(h.epoch.iloc[-1]), "still_improving": still_improving(h, epochs)})
    return pd.DataFrame(rows, columns=["encoder", "seed", "best_epoch", "epochs_trained", "still_improving"])


def unconverged(histories: pd.DataFrame, epochs: int) -> list[str]:
    """Encoders still improving at the end of the budget in at least one seed (a ranking must name them)."""
    c = convergence(histories, epochs)
    return list(dict.fromkeys(c.encoder[c.still_improving]))


# ------------------------------------------------------------------------------------------- gap share
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
    """encoder x metric table of 'share ± sd' of the floor→PCA-d gap closed (1.00 = PCA-d); a metric
    that the results or the reference rows lack is left out, and none in common is an error."""
    shared = [m for m in metrics if m in set(reference.metric) and m in set(results.metric)]
    if not shared:
        raise KeyError(f"no metric of {list(metrics)} is in both the results ({sorted(set(results.metric))}) and "
                       f"the reference rows ({sorted(set(reference.metric))})")
    cols, idx = {}, None
    for m in shared:
        s = gap_share(results, reference, m)
        cols[f"{m}: share of gap"] = [f"{a:.2f} ± {b:.2f}" if n > 1 else f"{a:.2f}"
                                     for a, b, n in zip(s["mean"], s["sd"], s["n"])]
        idx = s.index
    return pd.DataFrame(cols, index=idx)


def position(share: float, versus_floor: Paired | None = None) -> str:
    """Words for a mean share of the floor→PCA-d gap — a description of a mean over seeds, never a
    verdict: outside [0, 1] it says "on average". Whether a code is *worse* than the floor is a
    paired comparison; pass it as ``versus_floor`` (:func:`compare` of the code against the floor) and
    its CI and verdict are quoted."""
    if share < 0:
        text = f"below the TR-mean floor on average (share {share:+.2f})"
    elif share > 1:
        text = f"past PCA-d on average (share {share:.2f})"
    else:
        text = f"closes {100 * share:.0f} % of the floor→PCA-d gap"
    if versus_floor is not None:
        text += f"; against the floor, Δ {versus_floor.metric} {versus_floor.text()}"
    return text


# ---------------------------------------------------------------------------------- paired statistics
@dataclass(frozen=True)
class Paired:
    """A paired comparison of ``a`` against ``b`` on one metric (difference = a − b, in its units)."""

    metric: str
    difference: float
    ci_low: float
    ci_high: float
    verdict: str
    same_sign_every_seed: bool
    seeds: int
    units: int
    block: int

    def text(self, digits: int | None = None) -> str:
        """'Δ [95 % CI low, high]: verdict', with :func:`interval_digits` decimals unless ``digits`` is given."""
        return f"{format_interval(self.difference, self.ci_low, self.ci_high, digits, ci=True)}: {self.verdict}"


def interval_digits(difference: float, low: float, high: float, least: int = 3, most: int = 6) -> int:
    """Decimals that show an interval honestly: at least ``least``, enough for two significant digits
    of its width, and enough that no nonzero bound prints as ±0 (a CI bound of −0.00003 printed as
    −0.000 hides which side of zero it lies on); never more than ``most``."""
    width = abs(high - low)
    d = least
    if np.isfinite(width) and width > 0:
        d = max(d, min(most, 1 - int(np.floor(np.log10(width)))))
    while d < most and any(np.isfinite(v) and v != 0 and round(v, d) == 0 for v in (difference, low, high)):
        d += 1
    return d


def format_interval(difference: float, low: float, high: float, digits: int | None = None, ci: bool = False) -> str:
    """'+Δ [low, high]' (with '95 % CI' inside the brackets when ``ci``), signed, with ``digits``
    decimals or :func:`interval_digits`."""
    d = interval_digits(difference, low, high) if digits is None else digits
    return f"{difference:+.{d}f} [{'95 % CI ' if ci else ''}{low:+.{d}f}, {high:+.{d}f}]"


MIN_BLOCKS = 4


def block_bootstrap_means(x: np.ndarray, block: int, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the mean of ``x`` (seeds × units): each replicate draws the seeds with
    replacement (a training seed is a sample too: with one seed, nothing to draw) and contiguous
    blocks of units (circular blocks, so every unit is equally likely; the same blocks for every
    seed): ``n_boot`` means. At least :data:`MIN_BLOCKS` blocks must fit in the units: with fewer,
    the replicates are too alike and the interval far too narrow."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    n = x.shape[1]
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 units, got {n}")
    if block < 1 or n < MIN_BLOCKS * block:
        raise ValueError(f"block must be between 1 and {n // MIN_BLOCKS} for {n} units (at least {MIN_BLOCKS} "
                         f"blocks), got {block}")
    rng = np.random.default_rng(seed)
    k = -(-n // block)  # blocks per replicate, cut back to n units
    starts = rng.integers(0, n, size=(n_boot, k))
    idx = ((starts[:, :, None] + np.arange(block)[None, None]) % n).reshape(n_boot, -1)[:, :n]
    s = x.shape[0]
    if s == 1:
        return x[0][idx].mean(1)
    draws = np.random.default_rng([seed, 1]).integers(0, s, size=(n_boot, s))  # its own stream: units as above
    weights = np.stack([np.bincount(d, minlength=s) for d in draws]) / s  # (n_boot, seeds)
    per_unit = weights @ x  # each replicate's seed-mean per unit
    return np.take_along_axis(per_unit, idx, axis=1).mean(1)


def verdict(ci_low: float, ci_high: float, higher_better: bool = True) -> str:
    """The word a CI allows: better / worse only when it excludes zero."""
    if ci_low > 0:
        return BETTER if higher_better else WORSE
    if ci_high < 0:
        return WORSE if higher_better else BETTER
    return NO_DIFFERENCE


def paired(a: np.ndarray, b: np.ndarray, metric: str, block: int = 1, n_boot: int = 2000, seed: int = 0,
           higher_better: bool | None = None) -> Paired:
    """Compare per-unit scores ``a`` and ``b`` (seeds × units, the same seeds and units in the same order;
    e.g. per-TR squared error of two encoders on the test block) by their paired difference.

    A unit that is NaN on either side in any seed has no score (e.g. a silent TR's detail r) and is
    left out of both; an infinite score is an error."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[None], b[None]
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same (seeds, units) shape, got {a.shape} and {b.shape}")
    if np.isinf(a).any() or np.isinf(b).any():
        raise ValueError(f"paired scores of {metric!r} hold inf")
    keep = ~(np.isnan(a).any(0) | np.isnan(b).any(0))
    if not keep.any():
        raise ValueError(f"paired scores of {metric!r} are NaN in every unit")
    a, b = a[:, keep], b[:, keep]
    hib = higher_is_better(metric) if higher_better is None else higher_better
    d = a - b
    boots = block_bootstrap_means(d, block, n_boot, seed)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    per_seed = d.mean(1)
    same = bool((per_seed > 0).all() or (per_seed < 0).all())
    return Paired(metric, float(d.mean()), float(lo), float(hi), verdict(lo, hi, hib), same, d.shape[0], d.shape[1],
                  block)


def paired_rows(comparisons: dict[str, Paired]) -> pd.DataFrame:
    """One row per named comparison, for a table."""
    return pd.DataFrame([{"comparison": k, **asdict(p)} for k, p in comparisons.items()]).set_index("comparison")


# ---------------------------------------------------------------------------------- per-unit scores
def per_tr_squared_error(recon, target) -> np.ndarray:
    """Mean squared error of each TR, (TR, ...) -> (TR,)."""
    r, t = np.asarray(recon, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if r.shape != t.shape:
        raise ValueError(f"reconstruction {r.shape} and target {t.shape} differ")
    return ((r - t) ** 2).reshape(len(r), -1).mean(1)


# ------------------------------------------------------------------ per-unit tables and comparisons
#: the unit each per-unit metric is scored on, and the bootstrap block (in units) for that kind:
#: 4 TRs (6 s) and 2 sentences cover the neighbours a sentence shares.
UNIT_KIND = {"test_mse": "TR", "temporal_detail_r": "TR", "reversed_detail_r": "TR", "wer": "sentence",
             "stoi": "sentence", "fmri_r": "voxel"}
#: voxels are resampled one by one: a bootstrap over voxels treats the test TRs as fixed (say so)
BLOCK = {"TR": 4, "sentence": 2, "voxel": 1}


def unit_kind(metric: str) -> str:
    """What ``metric``'s per-unit scores are scored on: TR (the default), sentence or voxel."""
    if metric.startswith("r: ") or metric.startswith("r/ceiling: "):
        return "voxel"
    return UNIT_KIND.get(metric, "TR")
UNIT_COLUMNS = ["encoder", "seed", "metric", "unit", "value"]


def units_frame(per_unit: dict[str, np.ndarray], encoder: str, seed: int) -> pd.DataFrame:
    """Long table (encoder, seed, metric, unit, value) of one run's per-unit scores."""
    parts = [pd.DataFrame({"encoder": encoder, "seed": int(seed), "metric": m, "unit": np.arange(len(v)),
                           "value": np.asarray(v, dtype=np.float64)}) for m, v in per_unit.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=UNIT_COLUMNS)


def unit_matrix(units: pd.DataFrame, encoder: str, metric: str) -> pd.DataFrame:
    """seeds × units of ``encoder`` on ``metric`` (a reference row has the one seed -1)."""
    u = units[(units.encoder == encoder) & (units.metric == metric)]
    if u.empty:
        have = sorted(set(units.encoder[units.metric == metric]))
        raise KeyError(f"no per-unit {metric!r} scores for {encoder!r}; have them for {have}")
    return u.pivot(index="seed", columns="unit", values="value")


def compare(units: pd.DataFrame, a: str, b: str, metric: str, block: int | None = None, n_boot: int = 2000,
            seed: int = 0) -> Paired:
    """:func:`paired` of encoder ``a`` against ``b`` on ``metric``, from a units table: over their
    common seeds, or every seed of one against a reference row (seed -1, the same in every seed).
    The default block is :data:`BLOCK` of the metric's unit kind, shortened on a test block too
    short for :data:`MIN_BLOCKS` of them (the block used is in the result)."""
    ma, mb = unit_matrix(units, a, metric), unit_matrix(units, b, metric)
    if list(ma.columns) != list(mb.columns):
        raise ValueError(f"{a!r} and {b!r} were scored on different {metric!r} units "
                         f"({ma.shape[1]} and {mb.shape[1]})")
    if list(mb.index) == [-1]:
        mb = pd.DataFrame(np.repeat(mb.to_numpy(), len(ma), 0), index=ma.index, columns=ma.columns)
    elif list(ma.index) == [-1]:
        ma = pd.DataFrame(np.repeat(ma.to_numpy(), len(mb), 0), index=mb.index, columns=mb.columns)
    common = [s for s in ma.index if s in set(mb.index)]
    if not common:
        raise ValueError(f"{a!r} (seeds {list(ma.index)}) and {b!r} (seeds {list(mb.index)}) share no seed")
    if block is None:  # the kind's block, shortened where the block would leave fewer than MIN_BLOCKS
        block = max(1, min(BLOCK[unit_kind(metric)], ma.shape[1] // MIN_BLOCKS))
    return paired(ma.loc[common].to_numpy(), mb.loc[common].to_numpy(), metric, block=block, n_boot=n_boot,
                  seed=seed)


def comparison_table(units: pd.DataFrame, baseline: str, metrics=("test_mse", "temporal_detail_r", "reversed_detail_r",
                                                                  "wer", "stoi"),
                     encoders=None, digits: int | None = None) -> pd.DataFrame:
    """encoder × metric table of paired differences against ``baseline``, each cell
    'Δ [95 % CI]: verdict' (decimals from :func:`interval_digits` unless ``digits``) (Δ = encoder − baseline in the metric's units; the verdict word knows
    whether lower is better), with the seeds and units it rests on. Metrics without per-unit scores
    are left out; none at all is an error."""
    have = set(units.metric)
    metrics = [m for m in metrics if m in have]
    if not metrics:
        raise KeyError(f"no per-unit scores for any metric asked; have {sorted(have)}")
    names = [e for e in (encoders or dict.fromkeys(units.encoder)) if e != baseline]
    rows = {}
    for e in names:
        row = {}
        for m in metrics:
            try:
                p = compare(units, e, baseline, m)
            except KeyError:
                row[m] = "—"
                continue
            row[m] = f"{format_interval(p.difference, p.ci_low, p.ci_high, digits)}: {p.verdict}"
            row["seeds"] = p.seeds
        rows[e] = row
    out = pd.DataFrame(rows).T
    out.index.name = f"vs {baseline}"
    return out[[c for c in [*metrics, "seeds"] if c in out]]


def convergence_summary(histories: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per encoder: best epoch over seeds (mean and range), and in how many seeds it was still
    improving when the budget of ``epochs`` ended (:func:`still_improving`) — the column every
    results table carries, so that a ranking says when it is a statement about the budget."""
    c = convergence(histories, epochs)
    g = c.groupby("encoder", sort=False)
    return pd.DataFrame({
        "best epoch": g.best_epoch.apply(lambda b: f"{b.mean():.1f} ({b.min()}–{b.max()})" if b.nunique() > 1
                                         else f"{b.iloc[0]}"),
        "epochs trained": g.epochs_trained.apply(lambda e: f"{e.mean():.1f}" if e.nunique() > 1 else f"{e.iloc[0]}"),
        "still improving": g.still_improving.apply(lambda s: f"{int(s.sum())} of {len(s)} seeds"),
    })


def within_seed_spread(results: pd.DataFrame, pairs: dict[str, str], metrics, units: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """Does a change of set-up (e.g. mixed precision) move a result by more than the seeds do?

    ``pairs`` maps each encoder to its variant (``{"frame MLP": "frame MLP (bf16)"}``). One row per
    encoder and metric: the mean over seeds of both, Δ = variant − encoder, the seed sd of the encoder
    (ddof 1), ``|Δ| / sd`` and whether it is below 1 (a description of the seeds, NaN with one seed),
    and, where ``units`` has the metric's per-unit scores, the paired Δ with its 95 % CI and verdict
    (:func:`compare`)."""
    have = set(units.metric) if units is not None else set()
    rows = []
    for base, variant in pairs.items():
        for m in metrics:
            a = results[(results.encoder == base) & (results.metric == m) & (results.seed >= 0)].value
            b = results[(results.encoder == variant) & (results.metric == m) & (results.seed >= 0)].value
            if a.empty or b.empty:
                raise KeyError(f"{m!r} is missing for {base!r} or {variant!r}")
            sd = float(a.std(ddof=1)) if len(a) > 1 else float("nan")
            delta = float(b.mean() - a.mean())
            row = {"encoder": base, "metric": m, "mean": float(a.mean()), "variant mean": float(b.mean()), "Δ": delta,
                   "seed sd": sd, "|Δ| / sd": abs(delta) / sd if sd > 0 else float("nan")}
            row["within seed spread"] = bool(row["|Δ| / sd"] < 1) if np.isfinite(row["|Δ| / sd"]) else None
            if m in have:
                p = compare(units, variant, base, m)
                row["paired Δ [95 % CI]: verdict"] = p.text()
                row["verdict"] = p.verdict
            rows.append(row)
    return pd.DataFrame(rows)
