"""The capacity sweep of chapter 03: every encoder, and PCA-d, at every embedding size d.

One call trains ``specs(d)`` for each ``d`` and seed with the shared protocol
(:func:`~tempmodels.experiment.run_encoder`) and scores PCA-d at the same ``d``; the results are
the usual tidy table with a column ``d``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from .audio.asr import GridRecognizer
from .encoders.base import TemporalEncoder
from .experiment import AudioData, pca_rows, run_encoder
from .audio.melspec import GriffinLimVocoder
from .training import TrainConfig


def capacity_sweep(specs: Callable[[int], dict[str, Callable[[], TemporalEncoder]]], d_values: list[int],
                   data: AudioData, cfg: TrainConfig, seeds: list[int], vocoder: GriffinLimVocoder,
                   recognizer: GridRecognizer, asr: bool = True, checkpoint_dir: str | Path | None = None,
                   progress: bool = True):
    """Returns (results with a ``d`` column — PCA-d rows have seed -1 —, histories, {(name, d): {seed: FitResult}})."""
    from tqdm.std import tqdm  # a plain text bar: no ipywidgets in executed notebooks

    if not d_values or any(not isinstance(d, int) or d < 1 for d in d_values):
        raise ValueError(f"d_values must be positive ints, got {d_values}")
    plan = [(d, name, build) for d in d_values for name, build in specs(d).items()]
    bar = tqdm(total=len(plan) * len(seeds) + len(d_values), desc="capacity sweep", unit="run",
               disable=not progress, mininterval=2)
    results, histories, fits = [], [], {}
    for d in d_values:
        bar.set_postfix_str(f"PCA-d, d={d}")
        results.append(pca_rows(data, vocoder, recognizer, d, asr=asr).assign(d=d))
        bar.update(1)
    for d, name, build in plan:
        ckpt = Path(checkpoint_dir) / f"d{d}" if checkpoint_dir else None
        for seed in seeds:
            bar.set_postfix_str(f"{name}, d={d}, seed {seed}")
            r, h, f = run_encoder(name, build, data, cfg, [seed], vocoder, recognizer, d, asr=asr,
                                  checkpoint_dir=ckpt, progress=False)
            results.append(r.assign(d=d))
            histories.append(h.assign(d=d))
            fits.setdefault((name, d), {}).update(f)
            bar.update(1)
    bar.close()
    return pd.concat(results, ignore_index=True), pd.concat(histories, ignore_index=True), fits


def smallest_d(results: pd.DataFrame, metric: str, threshold: float, below: bool = True) -> pd.Series:
    """Per encoder, the smallest ``d`` whose mean ``metric`` over seeds is below (or above) ``threshold``;
    NaN where no ``d`` in the sweep gets there."""
    m = results[results.metric == metric].groupby(["encoder", "d"], sort=False).value.mean().reset_index()
    ok = m[m.value < threshold] if below else m[m.value > threshold]
    out = ok.groupby("encoder", sort=False).d.min()
    return out.reindex(list(dict.fromkeys(m.encoder))).astype(float)
