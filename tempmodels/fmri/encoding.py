"""Voxelwise encoding: frozen TR embeddings -> delayed copies (FIR) -> ridge regression with a
regularisation chosen per voxel by cross-validation (himalaya's ``RidgeCV``) -> held-out r per voxel.

Normalisation statistics come from the training block only; the cross-validation folds are
contiguous runs of TRs (no shuffling), so neighbouring TRs, which share signal through the HRF,
do not sit on both sides of a fold. The test block is touched only to score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hrf import lagged

DEFAULT_ALPHAS = np.logspace(-2, 7, 19)


@dataclass
class EncodingResult:
    r: np.ndarray            # (voxels,) correlation of prediction and held-out response
    best_alphas: np.ndarray  # (voxels,) the regularisation chosen for each voxel
    prediction: np.ndarray   # (test TRs, voxels)
    target: np.ndarray       # (test TRs, voxels), normalised like the prediction
    lags: tuple[int, ...]
    coef: np.ndarray         # (features · lags, voxels)
    prediction_all: np.ndarray  # (TR, voxels): the model applied to every TR of the run


def _check(features: np.ndarray, responses: np.ndarray, splits: dict) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (TR, feature) — one embedding per TR — got shape {x.shape}")
    if y.ndim != 2:
        raise ValueError(f"responses must be (TR, voxels), got shape {y.shape} (average repeats first)")
    if len(x) != len(y):
        raise ValueError(f"features have {len(x)} TRs but responses have {len(y)}: they must share the TR grid")
    if not np.isfinite(x).all():
        raise ValueError(f"non-finite values in the features at TRs {np.flatnonzero(~np.isfinite(x).all(1))[:10].tolist()}")
    bad = np.flatnonzero(~np.isfinite(y).all(axis=0))
    if len(bad):
        raise ValueError(f"non-finite values (NaN or inf) in voxels {bad[:10].tolist()}{' …' if len(bad) > 10 else ''}; "
                         "mask them out before fitting")
    for name in ("train", "test"):
        if name not in splits:
            raise KeyError(f"splits must hold a {name!r} block; have {sorted(splits)}")
        idx = np.asarray(splits[name])
        if idx.min() < 0 or idx.max() >= len(x):
            raise ValueError(f"split {name!r} indexes TRs outside 0..{len(x) - 1}")
    return x, y


def _zscore_from(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    mu, sd = x[rows].mean(0), x[rows].std(0)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def columnwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))
    return np.where(den > 0, (a * b).sum(0) / np.where(den > 0, den, 1), 0.0)


def fit_voxelwise(features: np.ndarray, responses: np.ndarray, splits: dict, lags=(1, 2, 3, 4),
                  alphas=DEFAULT_ALPHAS, n_folds: int = 5, fit_blocks=("train",)) -> EncodingResult:
    """Fit on the ``fit_blocks`` TRs (default: train), score on ``splits['test']``.

    ``features`` (TR, d) are the stimulus features of every TR of the run (gaps included, so that
    delayed copies at a block's start see the stimulus before it); ``responses`` (TR, voxels) the
    BOLD of the same TRs. Lags are in TRs; positive lags look back (see :func:`~.hrf.lagged`).
    """
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV
    from sklearn.model_selection import KFold

    x, y = _check(features, responses, splits)
    fit_rows = np.concatenate([np.asarray(splits[b]) for b in fit_blocks])
    test = np.asarray(splits["test"])
    xl = lagged(_zscore_from(x, fit_rows), lags)
    yz = _zscore_from(y, fit_rows)
    cv = KFold(n_folds, shuffle=False)
    alphas = np.asarray(alphas, dtype=np.float64)
    # more features than samples: the same ridge solved in its kernel form (himalaya's advice), faster
    kernel = xl.shape[1] > len(fit_rows)
    model = KernelRidgeCV(alphas=alphas, kernel="linear", cv=cv) if kernel else RidgeCV(alphas=alphas, cv=cv)
    model.fit(xl[fit_rows], yz[fit_rows])
    pred_all = np.asarray(model.predict(xl))
    pred = pred_all[test]
    coef = xl[fit_rows].T @ np.asarray(model.dual_coef_) if kernel else np.asarray(model.coef_)
    return EncodingResult(columnwise_r(pred, yz[test]), np.asarray(model.best_alphas_), pred, yz[test], tuple(lags), coef,
                          pred_all)


def deconvolve(y: np.ndarray, hrf: np.ndarray, lam: float = 1.0) -> np.ndarray:
    """Ridge deconvolution (the report's §4.2.4): the drive s minimising ``‖H s − y‖² + λ‖s‖²`` with
    ``H`` the causal convolution by ``hrf`` (a lower-triangular Toeplitz matrix). (TR[, voxels])."""
    from scipy.linalg import toeplitz

    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    col = np.zeros(n)
    col[: min(n, len(hrf))] = hrf[:n]
    h = toeplitz(col, np.zeros(n))
    return np.linalg.solve(h.T @ h + lam * np.eye(n), h.T @ y)


HRF_METHODS = ("no lag", "3-TR shift", "FIR", "HRF-convolved features", "deconvolved responses", "FIR + future TRs")


def fit_hrf_method(method: str, features: np.ndarray, responses: np.ndarray, splits: dict, tr_seconds: float,
                   lags=(1, 2, 3, 4), future: int = 2, **kw) -> EncodingResult:
    """One way of handling the haemodynamic lag (:data:`HRF_METHODS`), scored the same way: r on the
    held-out test block of the measured BOLD.

    * ``no lag`` — features of the same TR; ``3-TR shift`` — of 3 TRs earlier (4.5 s, the Sherlock
      convention); ``FIR`` — delayed copies at ``lags``;
    * ``HRF-convolved features`` — features convolved with nilearn's Glover HRF (causal), same TR;
    * ``deconvolved responses`` — the responses deconvolved with the same HRF, fit at lag 0, and the
      prediction re-convolved before it is scored against the BOLD;
    * ``FIR + future TRs`` — ``lags`` plus ``future`` TRs ahead: acausal, only to show what it does.
    """
    from .hrf import canonical_hrf, convolve_causal

    if method not in HRF_METHODS:
        raise ValueError(f"method must be one of {HRF_METHODS}, got {method!r}")
    if method == "no lag":
        return fit_voxelwise(features, responses, splits, lags=(0,), **kw)
    if method == "3-TR shift":
        return fit_voxelwise(features, responses, splits, lags=(3,), **kw)
    if method == "FIR":
        return fit_voxelwise(features, responses, splits, lags=lags, **kw)
    if method == "FIR + future TRs":
        return fit_voxelwise(features, responses, splits, lags=tuple(range(-future, 0)) + tuple(lags), **kw)
    hrf = canonical_hrf(tr_seconds)
    if method == "HRF-convolved features":
        return fit_voxelwise(convolve_causal(np.asarray(features, dtype=np.float64), hrf), responses, splits, lags=(0,), **kw)
    x, y = _check(features, responses, splits)
    fit_rows = np.concatenate([np.asarray(splits[b]) for b in kw.get("fit_blocks", ("train",))])
    yz = _zscore_from(y, fit_rows)
    drive = np.zeros_like(yz)
    upto = int(fit_rows.max()) + 1  # deconvolve up to the end of the fitted TRs: later responses stay untouched
    drive[:upto] = deconvolve(yz[:upto], hrf)
    res = fit_voxelwise(x, drive, splits, lags=(0,), **kw)
    test = np.asarray(splits["test"])
    pred_all = convolve_causal(res.prediction_all, hrf)  # the predicted drive of every TR, re-convolved
    return EncodingResult(columnwise_r(pred_all[test], yz[test]), res.best_alphas, pred_all[test], yz[test], (0,),
                          res.coef, pred_all)


@dataclass
class BandedResult:
    """A banded ridge fit of several feature sets at once, scored on the held-out test block."""

    bands: tuple[str, ...]
    r2_joint: np.ndarray     # (voxels,) R² of the joint prediction
    r2_split: np.ndarray     # (bands, voxels) each band's share of it (himalaya's r2_score_split)
    deltas: np.ndarray       # (bands, voxels) log kernel weights chosen by cross-validation
    r2_alone: np.ndarray     # (bands, voxels) R² of each band fitted alone (same lags, folds, alphas)

    def partition(self) -> dict[str, np.ndarray]:
        """Variance partitioning of two bands A, B (per voxel, in R²): ``unique A`` = R²(A∪B) − R²(B),
        ``unique B`` = R²(A∪B) − R²(A), ``shared`` = R²(A) + R²(B) − R²(A∪B) (the set-theoretic
        partition of the voxelwise-modelling literature)."""
        if len(self.bands) != 2:
            raise ValueError(f"variance partitioning here is for two bands, got {list(self.bands)}")
        a, b = self.r2_alone
        return {f"unique {self.bands[0]}": self.r2_joint - b, f"unique {self.bands[1]}": self.r2_joint - a,
                "shared": a + b - self.r2_joint}


def _r2(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def fit_banded(bands: dict[str, np.ndarray], responses: np.ndarray, splits: dict, lags=(1, 2, 3, 4),
               alphas=DEFAULT_ALPHAS, n_iter: int = 20, n_folds: int = 5, random_state: int = 0) -> BandedResult:
    """Banded ridge (himalaya's ``MultipleKernelRidgeCV`` over one linear kernel per band, random search
    over the kernel weights and the regularisation, contiguous folds): every band delayed at ``lags``
    and z-scored on the training block, fitted jointly on the training TRs, scored on the test TRs —
    the joint R², its split into bands, and each band fitted alone for variance partitioning."""
    from himalaya.kernel_ridge import ColumnKernelizer, Kernelizer, KernelRidgeCV, MultipleKernelRidgeCV
    from himalaya.scoring import r2_score_split
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline

    if len(bands) < 2:
        raise ValueError(f"banded ridge needs at least two feature bands, got {list(bands)}")
    checked = [_check(x, responses, splits) for x in bands.values()]
    y = checked[0][1]
    fit_rows, test = np.asarray(splits["train"]), np.asarray(splits["test"])
    xs = [lagged(_zscore_from(x, fit_rows), lags) for x, _ in checked]
    yz = _zscore_from(y, fit_rows)
    edges = np.cumsum([0] + [x.shape[1] for x in xs])
    x_all = np.hstack(xs)
    cv = KFold(n_folds, shuffle=False)
    alphas = np.asarray(alphas, dtype=np.float64)
    kernelizer = ColumnKernelizer([(name, Kernelizer(kernel="linear"), slice(int(a), int(b)))
                                   for name, a, b in zip(bands, edges[:-1], edges[1:])])
    model = MultipleKernelRidgeCV(kernels="precomputed", solver="random_search", cv=cv, random_state=random_state,
                                  solver_params=dict(n_iter=n_iter, alphas=alphas, progress_bar=False))
    pipe = make_pipeline(kernelizer, model)
    pipe.fit(x_all[fit_rows], yz[fit_rows])
    y_test = yz[test] - yz[test].mean(0)  # the split of R² assumes a zero-mean target
    split_pred = np.asarray(pipe.predict(x_all[test], split=True))  # (bands, test TRs, voxels)
    r2_split = np.asarray(r2_score_split(y_test, split_pred))
    alone = []
    for x in xs:
        m = KernelRidgeCV(alphas=alphas, kernel="linear", cv=cv, warn=False).fit(x[fit_rows], yz[fit_rows])
        alone.append(_r2(np.asarray(m.predict(x[test])), y_test))
    return BandedResult(tuple(bands), _r2(split_pred.sum(0), y_test), r2_split, np.asarray(model.deltas_),
                        np.stack(alone))
