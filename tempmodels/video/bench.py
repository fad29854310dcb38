"""Bring your own *video* encoder: :mod:`tempmodels.bench` with chapter 08's protocol.

The user's class or factory may take ``n_frames``, ``size``, ``channels`` and ``d_model``; the module
it returns maps ``(batch, frames, channels=1, height=size, width=size)`` clips of normalised grey
pixels to ``(batch, d_model)``. It is trained with chapter 08's video decoder, optimizer, budget, data
and seeds, and scored by chapter 08's protocol (MSE, temporal detail, optical-flow agreement, the
motion and digit probes) beside chapter 08's reference rows and three of its encoders, whose runs come
from the run cache when the chapter has trained them at the same profile. Kept apart from
:mod:`tempmodels.bench` so that the audio report loads no video code (its stamp does not depend on it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
from torch import nn

from .. import bench
from ..encoders import FlatLinear
from ..experiment import run_all
from .encoders import S3D, FrameMeanCNN, FramesAsFeatures, VideoEncoder
from .experiment import CACHE_TAG, build_video_autoencoder, video_scorer

#: the metrics of the paired comparisons and the verdict (the ones with per-TR scores)
PAIRED_METRICS = ("test_mse", "sign_acc", "direction_acc", "speed_acc")


def sizes(n_frames: int, size: int, d_model: int) -> dict[str, int]:
    """What the protocol passes to a factory whose signature takes them: frames per TR, the square
    frame size, one grey channel, the embedding size."""
    return {"n_frames": n_frames, "size": size, "channels": 1, "d_model": d_model}


class ForeignVideoEncoder(VideoEncoder):
    """A user's module as a :class:`~tempmodels.video.encoders.VideoEncoder`: the book's input check on
    ``(batch, frames, channels, height, width)`` before it, the output contract after it
    (:meth:`tempmodels.bench.ForeignEncoder.encode`)."""

    encode = bench.ForeignEncoder.encode

    def __init__(self, inner: nn.Module, n_frames: int, size: int, d_model: int, channels: int = 1):
        super().__init__(n_frames, size, d_model, channels)
        self.inner = inner


def load(spec: str, kwargs: dict | None, n_frames: int, size: int, d_model: int) -> Callable[[], ForeignVideoEncoder]:
    """:func:`tempmodels.bench.load` for a video encoder."""
    s = sizes(n_frames, size, d_model)
    return bench.load(spec, kwargs, d_model, sizes=s,
                      wrap=lambda inner: ForeignVideoEncoder(inner, n_frames, size, d_model, s["channels"]))


def book_encoders(n_frames: int, size: int, d_model: int, cnn_width: int,
                  s3d_widths: list[int]) -> dict[str, Callable[[], VideoEncoder]]:
    """Chapter 08's averaging CNN, its best non-linear motion encoder and flat linear, defined exactly as
    the chapter defines them, so their runs are the chapter's."""
    widths = tuple(s3d_widths)
    return {
        "frame-mean CNN": lambda: FrameMeanCNN(n_frames, size, d_model, width=cnn_width),
        "S3D + frame diff, keep time": lambda: S3D(n_frames, size, d_model, channels=1, widths=widths,
                                                   frame_diff=True, readout="keep_time"),
        "flat linear": lambda: FramesAsFeatures(n_frames, size, d_model, build=lambda f, n, d: FlatLinear(f, n, d)),
    }


def run(name: str, build: Callable[[], VideoEncoder], data, cfg, seeds: list[int], d_model: int,
        book: dict[str, Callable[[], VideoEncoder]], decoder_hidden: int, checkpoint_dir: str | Path | None = None):
    """The user's encoder and ``book`` (:func:`book_encoders`) through the runner of every chapter with
    chapter 08's decoder and scorer: (results, histories, fits)."""
    bench.check_name(name, list(book))
    common = dict(checkpoint_dir=checkpoint_dir, asr=False, build_model=build_video_autoencoder(data, decoder_hidden),
                  score_fn=video_scorer(data))
    parts = [run_all({name: build}, data, cfg, seeds, None, None, d_model, cache_tag=f"{CACHE_TAG}|{bench.user_tag(build, name)}",
                     **common),
             run_all(book, data, cfg, seeds, None, None, d_model, cache_tag=CACHE_TAG, **common)]
    return (pd.concat([p[0] for p in parts], ignore_index=True), pd.concat([p[1] for p in parts], ignore_index=True),
            {**parts[0][2], **parts[1][2]})
