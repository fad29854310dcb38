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


def training_curves(histories: pd.DataFrame, y: str = "val_loss"):
    """Validation loss per epoch, one line per encoder (band: spread over seeds)."""
    import seaborn as sns

    g = sns.relplot(data=histories, x="epoch", y=y, hue="encoder", kind="line", errorbar=("pi", 100),
                    height=3.5, aspect=1.8)
    g.set(ylabel=y.replace("_", " ") + " (MSE, normalised log-mel)")
    return g


def metric_points(results: pd.DataFrame, metrics, reference: pd.DataFrame | None = None):
    """One panel per metric: mean and seed spread per encoder; oracle/floor as dashed lines."""
    import seaborn as sns

    metrics = [m for m in metrics if m in set(results.metric)]
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    n_enc = results.encoder.nunique()
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, (0.45 * n_enc + 1.2) * nrows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    for ax, m in zip(axes.flat, metrics):
        d = results[results.metric == m]
        sns.pointplot(data=d, y="encoder", x="value", hue="encoder", errorbar="sd", ax=ax, legend=False,
                      linestyle="none", markers="o")
        sns.stripplot(data=d, y="encoder", x="value", color="0.3", size=3, ax=ax)
        if reference is not None:
            for name, ls in (("oracle", "--"), ("floor (TR mean)", ":")):
                v = reference[(reference.encoder == name) & (reference.metric == m)].value
                if len(v):
                    ax.axvline(float(v.iloc[0]), color="k", ls=ls, lw=1, label=name)
        ax.set_title(m.replace("_", " "))
        ax.set_xlabel("")
        ax.set_ylabel("")
        if list(axes.flat).index(ax) % ncols:
            ax.set_yticklabels([])
    if reference is not None:
        axes.flat[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def reconstruction_spectrograms(bench, recons: dict[str, torch.Tensor], split: str = "test", n_trs: int = 4):
    """The most speech-filled ``n_trs`` TRs of ``split``: original, floor, and each reconstruction."""
    from .metrics import tr_mean_floor

    start = bench.speechiest_window(split, n_trs)
    orig = bench.split(split)[start : start + n_trs]
    panels = {"original": orig, "floor (TR mean)": tr_mean_floor(orig)}
    panels.update({name: r[start : start + n_trs] for name, r in recons.items()})
    return plot_spectrograms(panels)


def reconstruction_players(bench, recons: dict[str, torch.Tensor], vocoder, split: str = "test", sentence: int = 0):
    """One held-out sentence through the vocoder: oracle, floor and each reconstruction, as players."""
    from IPython.display import Markdown, display

    from .audio.evaluation import utterance_mels
    from .metrics import tr_mean_floor

    orig = bench.split(split)
    s = bench.sentences(split).iloc[sentence]
    display(Markdown(f"**“{s.text}”** — voice `{s.voice}` (vocoded reconstructions)"))
    sources = {"oracle": orig, "floor": tr_mean_floor(orig), **recons}
    return audio_table({name: vocoder(utterance_mels(m, bench, split)[sentence]) for name, m in sources.items()})


def capacity_curves(results: pd.DataFrame, reference: pd.DataFrame, metrics, d_col: str = "d"):
    """One panel per metric against the embedding size d (log2 axis): each encoder's mean and seed
    spread, PCA-d as a black line, oracle and floor as horizontal lines."""
    import seaborn as sns

    metrics = [m for m in metrics if m in set(results.metric)]
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    learned = results[results.seed >= 0]
    pca = results[(results.encoder == "PCA-d")]
    for i, (ax, m) in enumerate(zip(axes.flat, metrics)):
        sns.lineplot(data=learned[learned.metric == m], x=d_col, y="value", hue="encoder", marker="o",
                     errorbar=("pi", 100), ax=ax, legend=i == 0)
        p = pca[pca.metric == m].sort_values(d_col)
        ax.plot(p[d_col], p.value, color="k", lw=2.2, marker="s", label="PCA-d")
        for name, ls in (("oracle", "--"), ("floor (TR mean)", ":")):
            v = reference[(reference.encoder == name) & (reference.metric == m)].value
            if len(v):
                ax.axhline(float(v.iloc[0]), color="0.4", ls=ls, lw=1, label=name)
        ax.set_xscale("log", base=2)
        ax.set_title(m.replace("_", " "))
        ax.set_xlabel("embedding size d (numbers per TR)")
        ax.set_ylabel("")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if axes.flat[0].get_legend() is not None:
        axes.flat[0].get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), frameon=False,
               bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(labels) // 5)))
    fig.tight_layout()
    return fig
