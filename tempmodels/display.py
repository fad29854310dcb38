"""Figures and players for the book: spectrograms with TR boundaries, playable audio, tables."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch


def plot_spectrograms(panels: dict[str, torch.Tensor], frames_per_tr: int = 64, hop_seconds: float = 375 / 16000,
                      vmin: float | None = None, vmax: float | None = None, title: str | None = None):
    """One row per labelled log-mel (frames, mels), on a shared colour scale, TR boundaries dashed."""
    arrays = {k: torch.as_tensor(v).reshape(-1, torch.as_tensor(v).shape[-1]).numpy() for k, v in panels.items()}
    lo = min(a.min() for a in arrays.values()) if vmin is None else vmin
    hi = max(a.max() for a in arrays.values()) if vmax is None else vmax
    fig, axes = plt.subplots(len(arrays), 1, figsize=(10, 1.9 * len(arrays)), sharex=True, squeeze=False)
    for ax, (label, a) in zip(axes[:, 0], arrays.items()):
        t_end = a.shape[0] * hop_seconds
        im = ax.imshow(a.T, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma",
                       extent=(0, t_end, 0, a.shape[1]))
        for b in range(frames_per_tr, a.shape[0], frames_per_tr):
            ax.axvline(b * hop_seconds, color="white", lw=0.8, ls="--")
        ax.set_ylabel("mel band")
        ax.set_title(label, loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("time (s); dashed lines = TR boundaries (1.5 s)")
    fig.colorbar(im, ax=axes[:, 0].tolist(), label="log power", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def audio_player(wave: np.ndarray, sample_rate: int = 16_000):
    """An embedded HTML audio player (works in Jupyter and in the built book)."""
    from IPython.display import Audio

    wave = np.asarray(wave, dtype=np.float32)
    return Audio(wave, rate=sample_rate, normalize=True)


def audio_table(clips: dict[str, np.ndarray], sample_rate: int = 16_000):
    """Several labelled players in one HTML table."""
    from IPython.display import HTML

    rows = "".join(
        f"<tr><td style='padding-right:1em'><b>{label}</b></td><td>{audio_player(w, sample_rate)._repr_html_()}</td></tr>"
        for label, w in clips.items()
    )
    return HTML(f"<table>{rows}</table>")


def metric_table(df: pd.DataFrame, index: str, columns: str = "metric", values: str = "value",
                 digits: int = 3) -> pd.DataFrame:
    """Long (tidy) results -> wide table rounded for display (what nbval checks)."""
    return df.pivot_table(index=index, columns=columns, values=values, sort=False).round(digits)
