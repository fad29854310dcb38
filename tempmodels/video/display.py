"""Clips you can watch in the book: animated GIFs (embedded as data URIs, so the page works offline)
in labelled tables, and filmstrips for print."""
from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import torch


def gif_bytes(clip, fps: float = 6.0, scale: int = 4, loops: int = 0) -> bytes:
    """One TR's clip (frames, channels, H, W), values 0–1, as an animated grey GIF upscaled ``scale``×."""
    from PIL import Image

    a = torch.as_tensor(clip).detach().cpu().float().numpy()
    if a.ndim != 4:
        raise ValueError(f"expected one clip shaped (frames, channels, height, width), got {a.shape}")
    a = (np.clip(a[:, 0], 0, 1) * 255).round().astype(np.uint8)
    a = a.repeat(scale, axis=1).repeat(scale, axis=2)
    frames = [Image.fromarray(f, mode="L") for f in a]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=loops)
    return buf.getvalue()


def gif_html(clip, fps: float = 6.0, scale: int = 4, title: str = "") -> str:
    """An ``<img>`` of :func:`gif_bytes` with its size fixed, so tables never squeeze it."""
    data = base64.b64encode(gif_bytes(clip, fps, scale)).decode()
    h, w = (int(v) * scale for v in torch.as_tensor(clip).shape[-2:])
    return (f"<img src='data:image/gif;base64,{data}' alt='{title}' title='{title}' width='{w}' height='{h}' "
            f"style='image-rendering:pixelated;width:{w}px;height:{h}px;max-width:none'>")


def clip_table(rows: dict[str, dict[str, torch.Tensor]], fps: float = 6.0, scale: int = 4):
    """An HTML table of looping GIFs: one row per label (e.g. a TR), one column per version of it
    (original, TR mean, reconstructions)."""
    from IPython.display import HTML

    cols = list(next(iter(rows.values())))
    head = "<tr><th></th>" + "".join(f"<th style='text-align:center'>{c}</th>" for c in cols) + "</tr>"
    body = "".join(
        f"<tr><td style='padding-right:1em'><b>{r}</b></td>"
        + "".join(f"<td>{gif_html(clips[c], fps, scale, f'{r}: {c}')}</td>" for c in cols) + "</tr>"
        for r, clips in rows.items())
    return HTML(f"<table>{head}{body}</table>")


def filmstrip(panels: dict[str, torch.Tensor], title: str | None = None):
    """One row per labelled clip (frames, channels, H, W), one column per frame, shared grey scale."""
    panels = {k: torch.as_tensor(v).detach().cpu() for k, v in panels.items()}
    n_frames = max(v.shape[0] for v in panels.values())
    fig, axes = plt.subplots(len(panels), n_frames, figsize=(1.0 * n_frames, 1.1 * len(panels)), squeeze=False)
    for r, (label, clip) in enumerate(panels.items()):
        for f in range(n_frames):
            ax = axes[r, f]
            if f < clip.shape[0]:
                ax.imshow(clip[f, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {f}", fontsize=8)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
