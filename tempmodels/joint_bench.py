"""Bring your own encoder to the joint model: :mod:`tempmodels.bench` with chapter 10's protocol.

The user's class or factory takes one side of chapter 10's multimodal autoencoder — the audio side
(``side="audio"``: the audio contract of :mod:`tempmodels.bench`, one TR of normalised log-mel
``(batch, frames, features)`` to ``(batch, d_model)``) or the video side (``side="video"``: the video
contract of :mod:`tempmodels.video.bench`, ``(batch, frames, channels, height, width)`` clips to
``(batch, d_model)``). The other side is chapter 10's temporal encoder of the other modality (the
strided transformer for audio, S3D with frame differences and a time-keeping read-out for video); the
fusion, the decoders, the fMRI head with its FIR lags, the data (audio, video and simulated voxels on
one TR grid), the optimizer, budget and seeds are chapter 10's. The user's joint model is trained
beside chapter 10's ``mean pool``, ``temporal`` and ``flat linear`` models, defined here exactly as
the chapter defines them, so their runs are the chapter's (from the run cache when it has trained them
at the same profile), and scored by chapter 10's code: reconstruction per modality, and the fMRI head's
held-out r per voxel and per voxel family against each voxel's noise ceiling.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
from torch import nn

from . import bench
from .encoders import FlatLinear
from .joint import CACHE_TAG, JointData, run_joint
from .multimodal import MultimodalAutoencoder, PackedLayout, assemble, build_multimodal
from .registry import make_encoder, make_video_encoder

#: which side of the joint model the user's encoder may take
SIDES = ("audio", "video")
#: the metrics of the paired comparisons and the verdict (those with per-voxel or per-window scores)
PAIRED_METRICS = ("fmri_r", "audio_mse", "audio_detail_r", "video_mse")
#: chapter 10's joint models in every report (:func:`book_models`)
BOOK = ("mean pool", "temporal", "flat linear")
#: chapter 10's sizes a joint model is built from (the template's parameters of the same names)
SIZE_KEYS = ("d_model", "width", "heads", "layers", "ff", "cnn_width", "s3d_widths", "decoder_hidden")


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise bench.ContractError(f"encoder_side must be one of {list(SIDES)}, got {side!r}")
    return side


def sizes(side: str, audio_shape: tuple[int, int], video_shape: tuple[int, int, int, int], d_model: int) -> dict[str, int]:
    """What the protocol passes to a factory for ``side`` whose signature takes them (``audio_shape``:
    one TR's log-mel, (frames, features); ``video_shape``: one TR's clip, (frames, channels, size, size))."""
    if _check_side(side) == "audio":
        n_frames, n_features = audio_shape
        return {"n_features": n_features, "n_frames": n_frames, "d_model": d_model}
    v_frames, channels, size, _ = video_shape
    return {"n_frames": v_frames, "size": size, "channels": channels, "d_model": d_model}


def load(spec: str, kwargs: dict | None, side: str, audio_shape: tuple[int, int],
         video_shape: tuple[int, int, int, int], d_model: int) -> Callable[[], nn.Module]:
    """:func:`tempmodels.bench.load` for one side of the joint model: the user's encoder behind the
    book's input check and output contract for that modality."""
    s = sizes(side, audio_shape, video_shape, d_model)
    if side == "audio":
        wrap = lambda inner: bench.ForeignEncoder(inner, d_model, s["n_features"], s["n_frames"])  # noqa: E731
    else:
        from .video.bench import ForeignVideoEncoder

        wrap = lambda inner: ForeignVideoEncoder(inner, s["n_frames"], s["size"], d_model, s["channels"])  # noqa: E731
    return bench.load(spec, kwargs, d_model, sizes=s, wrap=wrap)


def temporal_audio(layout: PackedLayout, p: dict) -> nn.Module:
    """Chapter 10's temporal audio encoder: the strided transformer of chapter 05."""
    n_frames, n_features = layout.audio_shape
    return make_encoder("transformer", n_features=n_features, n_frames=n_frames, d_model=p["d_model"], width=p["width"],
                        nhead=p["heads"], layers=p["layers"], ff=p["ff"], readout="strided")


def temporal_video(layout: PackedLayout, p: dict) -> nn.Module:
    """Chapter 10's temporal video encoder: S3D with frame differences and a read-out that keeps time."""
    v_frames, channels, size, _ = layout.video_shape
    return make_video_encoder("s3d", n_frames=v_frames, size=size, d_model=p["d_model"], channels=channels,
                              widths=tuple(p["s3d_widths"]), frame_diff=True, readout="keep_time")


def book_models(layout: PackedLayout, lags: tuple[int, ...], p: dict) -> dict[str, Callable[[], MultimodalAutoencoder]]:
    """Chapter 10's ``mean pool``, ``temporal`` and ``flat linear`` joint models, defined exactly as the
    chapter defines them (``p``: the template's parameters, :data:`SIZE_KEYS`)."""
    d, hidden = p["d_model"], p["decoder_hidden"]
    models = {
        "mean pool": lambda: build_multimodal(layout, "mean", "frame_mean", d, video_kwargs={"width": p["cnn_width"]},
                                              lags=lags, decoder_hidden=hidden),
        "temporal": lambda: build_multimodal(
            layout, "transformer", "s3d", d,
            audio_kwargs={"width": p["width"], "nhead": p["heads"], "layers": p["layers"], "ff": p["ff"], "readout": "strided"},
            video_kwargs={"widths": tuple(p["s3d_widths"]), "frame_diff": True, "readout": "keep_time"},
            lags=lags, decoder_hidden=hidden),
        "flat linear": lambda: build_multimodal(layout, "flat_linear", "flat_linear", d, lags=lags, decoder_hidden=hidden,
                                                video_kwargs={"build": lambda f, n, dd: FlatLinear(f, n, dd)}),
    }
    assert tuple(models) == BOOK
    return models


def user_model(build: Callable[[], nn.Module], side: str, layout: PackedLayout, lags: tuple[int, ...],
               p: dict) -> Callable[[], MultimodalAutoencoder]:
    """The joint model with the user's encoder on ``side`` and chapter 10's temporal encoder of the other
    modality, with chapter 10's fusion, decoders and fMRI head."""
    _check_side(side)

    def model() -> MultimodalAutoencoder:
        a = build() if side == "audio" else temporal_audio(layout, p)
        v = build() if side == "video" else temporal_video(layout, p)
        return assemble(layout, a, v, p["d_model"], lags=lags, decoder_hidden=p["decoder_hidden"])

    return model


def run(name: str, build: Callable[[], nn.Module], side: str, data: JointData, cfg, seeds: list[int],
        lags: tuple[int, ...], p: dict, checkpoint_dir: str | Path | None = None):
    """The user's joint model and :func:`book_models` through chapter 10's runner (:func:`run_joint`,
    i.e. the runner of every chapter): (results, histories, fits). The user's runs are cached under a
    key that includes its source file's digest."""
    bench.check_name(name, list(BOOK))
    book = book_models(data.layout, lags, p)
    parts = [run_joint({name: user_model(build, side, data.layout, lags, p)}, data, cfg, seeds,
                       checkpoint_dir=checkpoint_dir, cache_tag=f"{CACHE_TAG}|{side}|{bench.user_tag(build, name)}"),
             run_joint(book, data, cfg, seeds, checkpoint_dir=checkpoint_dir)]
    return (pd.concat([q[0] for q in parts], ignore_index=True), pd.concat([q[1] for q in parts], ignore_index=True),
            {**parts[0][2], **parts[1][2]})


def side_encoders(fits: dict, side: str, seed: int) -> dict[str, nn.Module]:
    """The trained encoder on ``side`` of every joint model (seed ``seed``), by model name."""
    return {n: getattr(f[seed].model, f"{_check_side(side)}_encoder") for n, f in fits.items()}


def paired_against(units: pd.DataFrame, name: str, others, metrics) -> pd.DataFrame:
    """metric x other: the paired Δ (``name`` − other) with its 95 % CI and verdict
    (:func:`tempmodels.results.compare`, over voxels for fMRI metrics, test windows otherwise)."""
    from . import results as R

    return pd.DataFrame({o: {m: R.compare(units, name, o, m).text() for m in metrics} for o in others})


def verdict_lines(name: str, side: str, results: pd.DataFrame, units: pd.DataFrame, histories: pd.DataFrame,
                  epochs: int, families: list[str]) -> list[str]:
    """The report's conclusion in words: where the user's joint model stands on fMRI (mean r, r / ceiling
    per family) and, every verdict from a paired CI, against each of chapter 10's models and PCA-d."""
    from . import results as R

    mine = results[results.encoder == name].groupby("metric").value.mean()
    other = "S3D + frame diff, keep time (video)" if side == "audio" else "the strided transformer (audio)"
    fam = ", ".join(f"{f} {mine[f'r/ceiling: {f}']:.2f}" for f in families if f"r/ceiling: {f}" in mine)
    lines = [f"* **{name}** on the {side} side (the other side: chapter 10's {other}): held-out fMRI r "
             f"{mine['fmri_r']:.3f} over the driven voxels (mean of {results[results.encoder == name].seed.nunique()} seeds)"
             + (f"; r / noise ceiling per family: {fam}" if fam else "") + "."]
    for o in BOOK:
        cells = [f"{m} Δ {R.compare(units, name, o, m).text()}" for m in PAIRED_METRICS]
        lines.append(f"* against **{o}**: " + "; ".join(cells) + ".")
    recon = [m for m in PAIRED_METRICS if m != "fmri_r"]
    lines.append(f"* against **{R.PCA}** (reconstruction only: it has no fMRI head): "
                 + "; ".join(f"{m} Δ {R.compare(units, name, R.PCA, m).text()}" for m in recon) + ".")
    conv = R.convergence_summary(histories, epochs)["still improving"]
    still = {e: v for e, v in conv.items() if not str(v).startswith("0 of")}
    if still:
        lines.append(f"* **The budget**: {epochs} epochs ended while the validation loss was still improving for "
                     + ", ".join(f"{e} ({v})" for e, v in still.items())
                     + ": these verdicts hold at this budget; a longer one (a larger profile, or `-p epochs=...`) may move them.")
    return lines
