"""A learned temporal filter over TRs — the alternative to FIR delays that the Algonauts 2025 entries
use: the frozen TR embeddings ``z`` of the last ``k`` TRs pass through a causal depthwise
convolution (``kernels`` k-tap filters per embedding dimension, delays 1..k like FIR's), and one
linear map takes the filtered embeddings to the voxels:

    y_t = W · [h_1 ⊛ z, …, h_m ⊛ z]_t + b,     (h_j ⊛ z)_t = Σ_{ℓ=1..k} h_j[ℓ] ⊙ z_{t-ℓ}

Parameters ``m·d·k + m·d·V + V`` against FIR's ``d·k·V`` (ridge over delayed copies): the
temporal shape is shared by all voxels, so a long filter costs ``m·d`` weights per extra TR
instead of ``d·V``. It is trained by gradient descent on the training block (full batch, AdamW)
and stopped where its validation correlation peaks; the test block is only scored. Features and
responses are z-scored with training-block statistics, as in :func:`.encoding.fit_voxelwise`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as fn

from .encoding import _check, _zscore_from, columnwise_r


class TRFilter(nn.Module):
    """Causal depthwise filter over the last ``k`` TRs of a (batch, TR, d) embedding sequence, then a
    linear readout to ``n_voxels``. The output at TR t never sees TR t or later (delays start at 1)."""

    def __init__(self, d: int, n_voxels: int, k: int, kernels: int = 1):
        super().__init__()
        for name, v in (("d", d), ("n_voxels", n_voxels), ("k", k), ("kernels", kernels)):
            if int(v) < 1:
                raise ValueError(f"TRFilter: {name} must be >= 1, got {v}")
        self.d, self.k, self.kernels = int(d), int(k), int(kernels)
        self.filter = nn.Conv1d(d, d * kernels, kernel_size=k, groups=d, bias=False)
        with torch.no_grad():  # start as a box over the window: every delay weighted alike
            self.filter.weight.fill_(1.0 / (k * kernels))
        self.readout = nn.Linear(d * kernels, n_voxels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 3 or z.shape[-1] != self.d:
            raise ValueError(f"TRFilter expects (batch, TR, {self.d}) embeddings, got {tuple(z.shape)}")
        x = z.transpose(1, 2)                      # (batch, d, TR)
        x = fn.pad(x, (self.k, 0))[..., :-1]       # TR t sees t-k .. t-1: causal, delays 1..k
        return self.readout(self.filter(x).transpose(1, 2))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @staticmethod
    def parameter_formula(d: int, n_voxels: int, k: int, kernels: int = 1) -> int:
        return kernels * d * k + kernels * d * n_voxels + n_voxels


@dataclass
class TRFilterResult:
    r: np.ndarray              # (voxels,) held-out r on the test block
    val_r: float               # mean validation r at the chosen step
    best_step: int             # the step with the highest mean validation r
    steps: int                 # steps run (early stopping included)
    history: np.ndarray        # (evaluations, 3): step, training MSE, mean validation r
    prediction: np.ndarray     # (test TRs, voxels)
    k: int
    l2: float
    n_parameters: int


def fit_tr_filter(features: np.ndarray, responses: np.ndarray, splits: dict, k: int, kernels: int = 1,
                  l2: float = 1.0, steps: int = 2000, lr: float = 1e-2, patience: int = 100, eval_every: int = 5,
                  seed: int = 0) -> TRFilterResult:
    """Train a :class:`TRFilter` on ``splits['train']``, stop on ``splits['val']``, score on ``splits['test']``.

    ``features`` (TR, d) and ``responses`` (TR, voxels) cover every TR of the run (gaps included, so
    a block's first TRs see the stimulus before them), exactly as :func:`.encoding.fit_voxelwise`
    takes them. Full-batch Adam on the training MSE plus ``l2`` · ‖W‖² per voxel (ridge's penalty on
    the readout); every ``eval_every`` steps the mean validation r is measured, and the weights with
    the highest are kept (``patience`` steps without a new best end the run).
    """
    x, y = _check(features, responses, splits)
    if "val" not in splits:
        raise KeyError(f"fit_tr_filter stops on a validation block: splits must hold 'val'; have {sorted(splits)}")
    if int(k) < 1:
        raise ValueError(f"k (the filter's length in TRs) must be >= 1, got {k}")
    if l2 < 0 or not np.isfinite(l2):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
    train, val, test = (torch.as_tensor(np.asarray(splits[b])) for b in ("train", "val", "test"))
    xz = torch.as_tensor(_zscore_from(x, train.numpy()), dtype=torch.float32)[None]
    yz = torch.as_tensor(_zscore_from(y, train.numpy()), dtype=torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    model = TRFilter(x.shape[1], y.shape[1], int(k), kernels)
    with torch.no_grad():
        w = model.readout.weight
        w.copy_(torch.randn(w.shape, generator=gen) * (0.01 / np.sqrt(w.shape[1])))
        model.readout.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y_val = yz[val].numpy()
    best, best_step, best_state, history = -np.inf, 0, None, []
    for step in range(1, steps + 1):
        loss = fn.mse_loss(model(xz)[0][train], yz[train])
        opt.zero_grad(set_to_none=True)
        (loss + l2 * model.readout.weight.pow(2).sum() / y.shape[1]).backward()
        opt.step()
        if step % eval_every and step != steps:
            continue
        with torch.no_grad():
            vr = float(np.mean(columnwise_r(model(xz)[0][val].numpy(), y_val)))
        history.append((step, loss.item(), vr))
        if vr > best:
            best, best_step = vr, step
            best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
        elif step - best_step >= patience:
            break
    model.load_state_dict(best_state)
    with torch.no_grad():
        pt = model(xz)[0][test].numpy()
    return TRFilterResult(columnwise_r(pt, yz[test].numpy()), best, best_step, int(history[-1][0]), np.asarray(history), pt,
                          int(k), float(l2), model.n_parameters())


def fit_tr_filter_cv(features: np.ndarray, responses: np.ndarray, splits: dict, k: int,
                     l2_grid=(0.3, 3.0, 30.0), lr_grid=(0.01, 0.03, 0.1), **kwargs) -> TRFilterResult:
    """:func:`fit_tr_filter` at every penalty of ``l2_grid`` and learning rate of ``lr_grid``; the fit
    with the highest validation r is returned. The test block plays no part in the choice (ridge's
    alphas are chosen the same way, by cross-validation inside the training block)."""
    if not len(l2_grid) or not len(lr_grid):
        raise ValueError(f"l2_grid and lr_grid must each hold at least one value, got {l2_grid!r}, {lr_grid!r}")
    fits = [fit_tr_filter(features, responses, splits, k, l2=float(a), lr=float(lr), **kwargs)
            for a in l2_grid for lr in lr_grid]
    return max(fits, key=lambda f: f.val_r)


FIR, LEARNED = "FIR ridge", "learned filter"


def filter_vs_fir(codes: dict, responses: np.ndarray, splits: dict, lengths, progress: bool = True,
                  **kwargs) -> tuple[pd.DataFrame, dict]:
    """Both ways of reading the last k TRs, on the same embeddings, voxels and blocks: FIR (ridge over
    delays 1..k, :func:`.encoding.fit_voxelwise`) and the learned filter (:func:`fit_tr_filter_cv`,
    seeded by the code's seed), for every code, seed and ``k`` in ``lengths``.

    ``codes`` maps a code's name to ``{seed: features (TR, d)}``; a deterministic code (PCA-d) passes
    the same features under each seed, and its FIR fit is computed once. Returns the tidy per-voxel
    rows (code, seed, k, model, voxel, r) and the learned fits by (code, seed, k)."""
    from tqdm.auto import tqdm

    from .encoding import fit_voxelwise

    lengths = [int(k) for k in lengths]
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be filter lengths >= 1 (TRs), got {lengths}")
    rows, fits, fir_done = [], {}, {}
    jobs = [(c, s, k) for c, by_seed in codes.items() for s in by_seed for k in lengths]
    for c, s, k in tqdm(jobs, desc="FIR vs learned filter", disable=not progress):
        x = np.asarray(codes[c][s])
        key = (c, k, x.tobytes().__hash__())
        if key not in fir_done:
            fir_done[key] = fit_voxelwise(x, responses, splits, lags=list(range(1, k + 1))).r
        lf = fit_tr_filter_cv(x, responses, splits, k, seed=s, **kwargs)
        fits[(c, s, k)] = lf
        fir_params = x.shape[1] * k * responses.shape[1] + responses.shape[1]
        for model, r, n in ((FIR, fir_done[key], fir_params), (LEARNED, lf.r, lf.n_parameters)):
            rows += [{"code": c, "seed": s, "k": k, "model": model, "voxel": v, "r": float(r[v]), "parameters": n}
                     for v in range(len(r))]
    return pd.DataFrame(rows), fits


def _voxel_rows(rows: pd.DataFrame, voxels) -> pd.DataFrame:
    voxels = np.asarray(voxels)
    return rows[rows.voxel.isin(np.flatnonzero(voxels) if voxels.dtype == bool else voxels)]


def filter_paired(rows: pd.DataFrame, voxels) -> dict:
    """(code, k) → the learned filter minus FIR on r, paired per voxel (of ``voxels``: a mask or
    indices) and seed, with its block-bootstrap CI (:func:`tempmodels.results.paired`)."""
    from ..results import paired

    out = {}
    for (c, k), g in _voxel_rows(rows, voxels).groupby(["code", "k"], sort=False):
        m = {name: g[g.model == name].pivot(index="seed", columns="voxel", values="r") for name in (FIR, LEARNED)}
        out[(c, k)] = paired(m[LEARNED].to_numpy(), m[FIR].loc[m[LEARNED].index].to_numpy(), "r")
    return out


def filter_table(rows: pd.DataFrame, fits: dict, voxels) -> pd.DataFrame:
    """(code, k) rows: mean r over ``voxels`` for FIR and the learned filter (mean ± sd over seeds), the
    learned minus FIR difference of :func:`filter_paired` with its 95 % CI and verdict, both
    parameter counts, and in how many seeds the learned filter's validation r was still at its best
    when its step budget ended."""
    sel, diff, out = _voxel_rows(rows, voxels), filter_paired(rows, voxels), {}
    for (c, k), g in sel.groupby(["code", "k"], sort=False):
        seed_means = g.groupby(["model", "seed"]).r.mean()
        fir, learned = seed_means.loc[FIR], seed_means.loc[LEARNED]
        lf = [fits[(c, s, k)] for s in learned.index]
        out[(c, k)] = {f"{FIR} r": f"{fir.mean():.3f}",
                       f"{LEARNED} r": f"{learned.mean():.3f} ± {learned.std(ddof=1):.3f}" if len(lf) > 1 else f"{learned.mean():.3f}",
                       "Δ r (learned − FIR) [95 % CI]: verdict": diff[(c, k)].text(),
                       f"{FIR} parameters": int(g[g.model == FIR].parameters.iloc[0]),
                       f"{LEARNED} parameters": int(g[g.model == LEARNED].parameters.iloc[0]),
                       "still improving (seeds)": f"{sum(f.best_step == f.steps for f in lf)} of {len(lf)}"}
    t = pd.DataFrame(out).T
    t.index.names = ["code", "k (TRs)"]
    return t
