"""Learning curves over training-set size: nested training subsets of one long benchmark track,
and the power law fitted to a curve (the groundwork of chapter 11, "How much data does time need?").

A learning curve compares sizes fairly only if nothing but the training data changes:

* every subset is a **prefix of the same training block** (the larger subsets contain the smaller
  ones), so a size's runs see all the TRs the smaller sizes saw, and more;
* the **validation and test blocks are the same TRs** at every size (the benchmark's own blocks,
  separated from training by its HRF-length gaps);
* the **normaliser is the same** at every size: band statistics of the smallest subset, which
  every size contains, so test MSE is in one unit along the curve and no size reads statistics
  of TRs it was not given.

``fit_power_law`` fits ``y = c + a · n^(-b)`` (the usual form of a learning curve: ``c`` the
asymptote, ``b`` the rate) and :func:`crossing` says where, inside a range of sizes, one fitted curve
passes another — or that it does not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, curve_fit

from .audio.benchmark import AudioBenchmark
from .experiment import AudioData
from .normalize import BandNormalizer


def nested_sizes(n_train: int, smallest: int, factor: float = 2.0) -> list[int]:
    """Training sizes ``smallest, smallest·factor, ...`` up to and including ``n_train`` (the whole
    training block is always the last size)."""
    if smallest < 1 or n_train < smallest:
        raise ValueError(f"need 1 <= smallest <= n_train, got smallest={smallest}, n_train={n_train}")
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    sizes, n = [], float(smallest)
    while round(n) < n_train:
        sizes.append(int(round(n)))
        n *= factor
    return sizes + [int(n_train)]


def nested_subsets(bench: AudioBenchmark, sizes: list[int]) -> dict[int, AudioData]:
    """One :class:`~tempmodels.experiment.AudioData` per training size: the first ``n`` TRs of the
    benchmark's training block, the same validation and test blocks, one shared normaliser (fit on
    the smallest subset). ``sizes`` must be strictly increasing and fit in the training block."""
    train = bench.splits["train"]
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise ValueError("sizes is empty: give at least one training size (in TRs)")
    if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
        raise ValueError(f"sizes must be strictly increasing positive TR counts, got {sizes}")
    if sizes[-1] > len(train):
        raise ValueError(f"the largest size ({sizes[-1]} TRs) exceeds the benchmark's training block "
                         f"({len(train)} TRs of {bench.config.n_trs}); generate a longer track (n_trs)")
    norm = BandNormalizer(bench.mel[train[: sizes[0]]])
    val, test = norm(bench.split("val")), norm(bench.split("test"))
    out = {}
    for n in sizes:
        sub = dataclasses.replace(bench, splits={**bench.splits, "train": train[:n]})
        out[n] = AudioData(sub, norm, norm(bench.mel[train[:n]]), val, test)
    return out


@dataclass(frozen=True)
class PowerLaw:
    """``y(n) = c + a · n^(-b)``, fitted on sizes ``n_min``..``n_max``."""

    a: float
    b: float
    c: float
    n_min: float
    n_max: float

    def __call__(self, n) -> np.ndarray:
        return self.c + self.a * np.asarray(n, dtype=float) ** (-self.b)


def fit_power_law(n, y) -> PowerLaw:
    """Least-squares fit of ``y = c + a · n^(-b)`` with ``b >= 0`` (scipy's ``curve_fit``).

    Needs at least three distinct sizes (three parameters); a curve that is flat gets ``a = 0``."""
    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError(f"n and y must be 1-d and the same length, got {n.shape} and {y.shape}")
    if len(np.unique(n)) < 3:
        raise ValueError(f"a power law has three parameters: need >= 3 distinct sizes, got {sorted(set(n))}")
    if not (np.isfinite(n).all() and np.isfinite(y).all()) or (n <= 0).any():
        raise ValueError("n must be positive and n, y finite")
    scale = n.min()

    def f(x, a, b, c):
        return c + a * (x / scale) ** (-b)

    span = float(y.max() - y.min()) or 1.0
    a0 = float(y[np.argmin(n)] - y[np.argmax(n)]) or span
    (a, b, c), _ = curve_fit(f, n, y, p0=(a0, 0.5, float(y[np.argmax(n)])),
                             bounds=([-np.inf, 0.0, -np.inf], [np.inf, 5.0, np.inf]), maxfev=20000)
    return PowerLaw(float(a * scale ** b), float(b), float(c), float(n.min()), float(n.max()))


def crossing(first: PowerLaw, second: PowerLaw, lo: float, hi: float, grid: int = 512) -> float | None:
    """The smallest size in ``[lo, hi]`` at which ``first(n) - second(n)`` changes sign (refined by
    bisection), or None when it keeps one sign over the whole range."""
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
    ns = np.geomspace(lo, hi, grid)
    d = first(ns) - second(ns)
    if d[0] == 0:
        return float(lo)
    change = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
    if not len(change):
        return None
    i = int(change[0])
    return float(brentq(lambda x: float(first(x) - second(x)), ns[i], ns[i + 1]))


def hours(n_trs, tr_seconds: float = 1.5) -> float:
    """Training TRs as hours of stimulus."""
    return float(n_trs) * tr_seconds / 3600.0


__all__ = ["nested_sizes", "nested_subsets", "PowerLaw", "fit_power_law", "crossing", "hours"]
