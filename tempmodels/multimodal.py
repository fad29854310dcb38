"""The report's multimodal autoencoder: an audio encoder and a video encoder feed one fused TR
bottleneck, decoded back into the TR's log-mel and frames, and into the brain's response through
an fMRI head with FIR delays (chapter 09's lag handling: BOLD at TR t from the bottlenecks of
TRs t − lag).

**One tensor per sample, so the one trainer trains it** (resume, early stopping, DDP through
torchrun — :func:`tempmodels.training.fit` unchanged). A sample is a window of ``context`` TRs
ending at TR t: their log-mel and frames, and the BOLD at t. :class:`PackedLayout` lays the three
out side by side in one row, each modality scaled by ``sqrt(w · D / n)`` (``D`` the row width, ``n``
the modality's scored elements), and the model returns its predictions in the same layout — the
context TRs before t copied from its input, so they score zero. The trainer's plain MSE between
output and input is then exactly ``w_audio · MSE_audio + w_video · MSE_video + w_fmri · MSE_fmri``
(tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .encoders.base import check_input


@dataclass(frozen=True)
class PackedLayout:
    audio_shape: tuple[int, ...]  # one TR's log-mel, e.g. (64, 128)
    video_shape: tuple[int, ...]  # one TR's clip, e.g. (9, 1, 32, 32)
    n_voxels: int
    context: int  # TRs per sample, the last one is TR t
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # audio, video, fMRI

    def __post_init__(self):
        if self.context < 1 or self.n_voxels < 1:
            raise ValueError(f"context and n_voxels must be >= 1, got {self.context} and {self.n_voxels}")
        if len(self.weights) != 3 or any(w < 0 for w in self.weights) or sum(self.weights) == 0:
            raise ValueError(f"weights must be three non-negative numbers (audio, video, fMRI), got {self.weights}")

    @property
    def n_audio(self) -> int:
        return math.prod(self.audio_shape)

    @property
    def n_video(self) -> int:
        return math.prod(self.video_shape)

    @property
    def width(self) -> int:
        return self.context * (self.n_audio + self.n_video) + self.n_voxels

    def scales(self) -> tuple[float, float, float]:
        d = self.width
        return tuple(math.sqrt(w * d / n) for w, n in zip(self.weights, (self.n_audio, self.n_video, self.n_voxels)))

    def pack(self, audio: torch.Tensor, video: torch.Tensor, bold: torch.Tensor) -> torch.Tensor:
        """audio (N, context, *audio_shape), video (N, context, *video_shape), bold (N, voxels) -> (N, width)."""
        want = {"audio": (self.context, *self.audio_shape), "video": (self.context, *self.video_shape),
                "bold": (self.n_voxels,)}
        for name, t in (("audio", audio), ("video", video), ("bold", bold)):
            if not isinstance(t, torch.Tensor) or tuple(t.shape[1:]) != want[name]:
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{name} must be shaped (N, {', '.join(map(str, want[name]))}), got {got}")
        if not len(audio) == len(video) == len(bold):
            raise ValueError(f"one row per sample: got {len(audio)} audio, {len(video)} video, {len(bold)} BOLD rows")
        sa, sv, sf = self.scales()
        n = len(audio)
        return torch.cat([audio.reshape(n, -1) * sa, video.reshape(n, -1) * sv, bold * sf], 1).float()

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"expected packed samples shaped (N, {self.width}), got {tuple(x.shape)}")
        sa, sv, sf = self.scales()
        na, nv = self.context * self.n_audio, self.context * self.n_video
        n = len(x)
        return (x[:, :na].reshape(n, self.context, *self.audio_shape) / sa,
                x[:, na:na + nv].reshape(n, self.context, *self.video_shape) / sv,
                x[:, na + nv:] / sf)


def windows(audio: torch.Tensor, video: torch.Tensor, bold: torch.Tensor, context: int, layout: PackedLayout,
            index=None) -> torch.Tensor:
    """Packed samples for every TR t >= context - 1 of one contiguous block (or the TRs in ``index``):
    the ``context`` TRs ending at t, and the BOLD at t."""
    n = len(audio)
    if not len(video) == len(bold) == n:
        raise ValueError(f"audio, video and BOLD must cover the same TRs: {len(audio)}, {len(video)}, {len(bold)}")
    ts = torch.arange(context - 1, n) if index is None else torch.as_tensor(index)
    if len(ts) == 0:
        raise ValueError(f"a block of {n} TRs has no window of {context} TRs")
    win = ts[:, None] - torch.arange(context - 1, -1, -1)[None, :]
    return layout.pack(audio[win], video[win], torch.as_tensor(bold)[ts].float())


class MultimodalAutoencoder(nn.Module):
    """audio encoder + video encoder -> ``Linear`` fusion to ``d_model`` -> audio decoder, video decoder,
    and an fMRI head ``Linear(len(lags) · fmri_dims -> voxels)`` over the bottlenecks of TRs t − lag.

    ``fmri_dims`` < ``d_model`` routes only the first ``fmri_dims`` bottleneck numbers to the fMRI
    head — the report's "coarse features for fMRI, fine for reconstruction" as a capacity split.
    """

    def __init__(self, layout: PackedLayout, audio_encoder: nn.Module, video_encoder: nn.Module, d_model: int,
                 audio_decoder: nn.Module, video_decoder: nn.Module, lags: tuple[int, ...] = (1, 2, 3, 4),
                 fmri_dims: int | None = None):
        super().__init__()
        if not lags or min(lags) < 0 or max(lags) >= layout.context:
            raise ValueError(f"lags must lie in 0..context-1 = 0..{layout.context - 1}, got {lags}")
        fmri_dims = d_model if fmri_dims is None else fmri_dims
        if not 1 <= fmri_dims <= d_model:
            raise ValueError(f"fmri_dims must be in 1..d_model={d_model}, got {fmri_dims}")
        for name, dec in (("audio_decoder", audio_decoder), ("video_decoder", video_decoder)):
            if getattr(dec, "d_model", d_model) != d_model:
                raise ValueError(f"{name} takes {dec.d_model} numbers, the bottleneck has d_model={d_model}")
        self.layout, self.lags, self.fmri_dims, self.d_model = layout, tuple(lags), fmri_dims, d_model
        self.audio_encoder, self.video_encoder = audio_encoder, video_encoder
        self.fuse = nn.Linear(audio_encoder.d_model + video_encoder.d_model, d_model)
        self.audio_decoder, self.video_decoder = audio_decoder, video_decoder
        self.fmri = nn.Linear(len(lags) * fmri_dims, layout.n_voxels)
        self.check_finite = True

    def validate(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` itself if it passes :func:`~tempmodels.encoders.base.check_input` as packed samples
        ``(batch, width)``."""
        return check_input(x, self, (("width", self.layout.width),), self.check_finite)

    def embed(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """One TR per row: audio (B, *audio_shape), video (B, *video_shape) -> bottleneck (B, d_model)."""
        return self.fuse(torch.cat([self.audio_encoder(audio), self.video_encoder(video)], 1))

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Packed samples -> (log-mel of TR t, frames of TR t, BOLD at t, bottlenecks (N, context, d))."""
        a, v, _ = self.layout.unpack(self.validate(x))
        return self._heads(a, v)

    def _heads(self, a: torch.Tensor, v: torch.Tensor):
        n, c = a.shape[:2]
        z = self.embed(a.flatten(0, 1), v.flatten(0, 1)).view(n, c, self.d_model)
        head = torch.cat([z[:, c - 1 - lag, : self.fmri_dims] for lag in self.lags], 1)
        now = z[:, -1]
        return self.audio_decoder(now), self.video_decoder(now), self.fmri(head), z

    def loss_parts(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three unweighted MSEs of packed samples ``x`` (log-mel and frames of TR t, BOLD at t):
        the trainer logs them each epoch as ``val_audio_mse``, ``val_video_mse``, ``val_fmri_mse``."""
        a, v, y = self.layout.unpack(self.validate(x))
        a_hat, v_hat, y_hat, _ = self._heads(a, v)
        mse = nn.functional.mse_loss
        return {"audio_mse": mse(a_hat, a[:, -1]), "video_mse": mse(v_hat, v[:, -1]), "fmri_mse": mse(y_hat, y)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, v, _ = self.layout.unpack(self.validate(x))
        a_hat, v_hat, y_hat, _ = self._heads(a, v)
        a_out = torch.cat([a[:, :-1], a_hat[:, None]], 1)  # context TRs copied: they score zero
        v_out = torch.cat([v[:, :-1], v_hat[:, None]], 1)
        return self.layout.pack(a_out, v_out, y_hat)


def build_multimodal(layout: PackedLayout, audio: str, video: str, d_model: int = 128, audio_kwargs: dict | None = None,
                     video_kwargs: dict | None = None, lags: tuple[int, ...] = (1, 2, 3, 4), fmri_dims: int | None = None,
                     decoder_hidden: int = 512) -> MultimodalAutoencoder:
    """The joint model with encoders chosen by name (:mod:`tempmodels.registry`: e.g. ``"transformer"``,
    ``"mean"``; ``"s3d"``, ``"frame_mean"``), sized from the layout, with the book's decoders
    (:func:`assemble`)."""
    from .registry import make_encoder, make_video_encoder

    (n_frames, n_features), (v_frames, channels, size, _) = layout.audio_shape, layout.video_shape
    a = make_encoder(audio, n_features=n_features, n_frames=n_frames, d_model=d_model, **(audio_kwargs or {}))
    v = make_video_encoder(video, n_frames=v_frames, size=size, d_model=d_model, channels=channels, **(video_kwargs or {}))
    return assemble(layout, a, v, d_model, lags=lags, fmri_dims=fmri_dims, decoder_hidden=decoder_hidden)


def assemble(layout: PackedLayout, audio_encoder: nn.Module, video_encoder: nn.Module, d_model: int = 128,
             lags: tuple[int, ...] = (1, 2, 3, 4), fmri_dims: int | None = None,
             decoder_hidden: int = 512) -> MultimodalAutoencoder:
    """The joint model around two built encoders (e.g. a user's: :mod:`tempmodels.joint_bench`) with the
    book's decoders: chapter 01's log-mel decoder and chapter 08's video MLP, sized from the layout."""
    from .decoder import MelDecoder
    from .video.decoder import VideoDecoder

    (n_frames, n_features), (v_frames, channels, size, _) = layout.audio_shape, layout.video_shape
    return MultimodalAutoencoder(layout, audio_encoder, video_encoder, d_model, MelDecoder(d_model, n_frames, n_features),
                                 VideoDecoder(d_model, v_frames, size, channels, decoder_hidden), lags=lags,
                                 fmri_dims=fmri_dims)
