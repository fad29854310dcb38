"""Multi-TR context: an encoder sees several consecutive TRs at once and returns one embedding per TR.

The TRs of a split (one contiguous time block, :mod:`tempmodels.splits`) are cut into windows of
``k`` consecutive TRs, ``(n, T, F) -> (⌈n/k⌉, k·T, F)`` (the last window padded by repeating the
last TR). The encoder attends over all ``k·T`` frames and emits ``(batch, k, d)``; the shared
decoder turns each TR's embedding into that TR's frames. Every TR is still coded by ``d`` numbers and
scored per TR by the chapter-03 protocol (:func:`tempmodels.experiment.score_codec`); what changes
is what each TR's embedding may have looked at. Training steps see the same number of TRs as the
one-TR runs (``batch_size // k`` windows per step).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .decoder import MelDecoder
from .experiment import AudioData, run_encoder, score_codec
from .training import TrainConfig


def to_windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(n, T, F) consecutive TRs -> (⌈n/k⌉, k·T, F); the last window is padded with the last TR."""
    if x.ndim != 3:
        raise ValueError(f"to_windows expects TRs shaped (n, frames, features), got {tuple(x.shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (TRs per window) must be a positive int, got {k!r}")
    n, t, f = x.shape
    m = math.ceil(n / k) * k
    if m > n:
        x = torch.cat([x, x[-1:].expand(m - n, t, f)])
    return x.reshape(m // k, k * t, f)


def from_windows(y: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """Inverse of :func:`to_windows`: (windows, k·T, F) -> the first ``n`` TRs, (n, T, F)."""
    w, kt, f = y.shape
    return y.reshape(w * k, kt // k, f)[:n]


class ContextAutoencoder(nn.Module):
    """A multi-TR encoder (``n_frames = k·T``, one embedding per TR) + the shared per-TR decoder."""

    def __init__(self, encoder: nn.Module, decoder: MelDecoder, k: int):
        super().__init__()
        if encoder.d_model != decoder.d_model:
            raise ValueError(f"encoder d_model {encoder.d_model} != decoder d_model {decoder.d_model}")
        if encoder.n_frames != k * decoder.n_frames:
            raise ValueError(f"the encoder must see k={k} TRs of {decoder.n_frames} frames ({k * decoder.n_frames}), "
                             f"got n_frames={encoder.n_frames}")
        self.encoder, self.decoder, self.k = encoder, decoder, k

    def embed(self, x):
        z = self.encoder(x)
        return z.unsqueeze(1) if z.ndim == 2 else z  # (batch, k, d)

    def forward(self, x):
        z = self.embed(x)
        b = z.shape[0]
        return self.decoder(z.reshape(b * self.k, -1)).reshape(b, -1, x.shape[-1])


@torch.no_grad()
def _per_tr(model: ContextAutoencoder, fn, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    model.eval()
    dev = next(model.parameters()).device
    w = to_windows(x, model.k)
    return torch.cat([fn(w[i : i + batch].to(dev)).cpu() for i in range(0, len(w), batch)])


def reconstructor(model: ContextAutoencoder) -> Callable[[torch.Tensor], torch.Tensor]:
    """Normalised TRs (n, T, F) -> their reconstruction, each TR coded with its window's context."""
    return lambda x: from_windows(_per_tr(model, model, x), len(x), model.k)


def embedder(model: ContextAutoencoder) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: _per_tr(model, model.embed, x).reshape(-1, model.encoder.d_model)[: len(x)]


def run_context(name: str, build_encoder: Callable[[], nn.Module], k: int, data: AudioData, cfg: TrainConfig,
                seeds: list[int], vocoder, recognizer, d_model: int, decoder_channels: int = 128, asr: bool = True,
                checkpoint_dir: str | Path | None = None, progress: bool = True):
    """Train and score an encoder of ``k`` TRs at once through :func:`tempmodels.experiment.run_encoder`
    (and so the run cache), fitted on windows of ``k`` TRs and scored per TR: returns (results,
    histories, fits) in the same tidy form."""
    run_cfg = TrainConfig(**{**cfg.__dict__, "batch_size": max(1, cfg.batch_size // k)})

    def build_model(build_enc, d):
        def build():
            decoder = MelDecoder(d_model=d, channels=decoder_channels)  # first: same init for every encoder
            return ContextAutoencoder(build_enc(), decoder, k)
        return build

    def score_fn(model):
        return score_codec(reconstructor(model), embedder(model), data, vocoder, recognizer, asr=asr)

    return run_encoder(name, build_encoder, data, run_cfg, seeds, vocoder, recognizer, d_model, asr=asr,
                       checkpoint_dir=checkpoint_dir, progress=progress, build_model=build_model, score_fn=score_fn,
                       cache_tag=f"context k={k}", fit_data=(to_windows(data.train, k), to_windows(data.val, k)))
