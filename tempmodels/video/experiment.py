"""The fair comparison on video: the same decoder, optimizer, budget, seeds and data for every video
encoder, the same reference rows (oracle, floor, PCA-d; flat linear is trained like any encoder),
scored by one protocol: MSE, frame r, temporal-detail r, optical-flow agreement and linear probes
for motion direction, motion sign, speed and digit identity.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..decoder import Autoencoder
from .. import run_cache
from ..experiment import PCA_ROW, UNITS, _batched, embed, run_all
from ..pca_code import PCACode
from ..probes import linear_probe_predictions
from ..results import per_tr_squared_error, units_frame
from ..timing import timed_as
from ..training import TrainConfig
from . import metrics as vm
from .decoder import VideoDecoder
from .sprites import VideoBenchmark, tr_mean_clip

METRICS = ("test_mse", "frame_r", "temporal_detail_r", "flow_cosine", "flow_epe", "direction_acc", "sign_acc",
           "speed_acc", "digit_acc")
#: label column -> metric name; chance levels are reported beside them (:func:`chance_levels`)
PROBES = {"direction": "direction_acc", "sign": "sign_acc", "speed": "speed_acc", "digit": "digit_acc"}
CACHE_TAG = "video"


@dataclass
class VideoData:
    """Normalised train / val / test clips (one mean and sd over all training pixels)."""

    bench: VideoBenchmark
    mean: float
    std: float
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    _flows: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_bench(cls, bench: VideoBenchmark) -> "VideoData":
        tr = bench.split("train")
        mean, std = float(tr.mean()), float(tr.std())
        return cls(bench, mean, std, *((bench.split(s) - mean) / std for s in ("train", "val", "test")))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def labels(self, split: str) -> pd.DataFrame:
        return self.bench.labels(split)

    def original_flow(self, split: str) -> np.ndarray:
        if split not in self._flows:
            self._flows[split] = vm.flows(self.bench.split(split))
        return self._flows[split]


def build_video_autoencoder(data: VideoData, hidden: int = 512) -> Callable:
    """``build_model`` for :func:`~tempmodels.experiment.run_encoder`: the decoder is built first, so
    its initial weights are the same for every encoder at a seed."""
    cfg = data.bench.config

    def for_encoder(build_encoder, d_model):
        def build():
            dec = VideoDecoder(d_model, cfg.frames_per_tr, cfg.size, 1, hidden)
            return Autoencoder(build_encoder(), dec)
        return build

    return for_encoder


def chance_levels(data: VideoData) -> dict[str, float]:
    """1 / number of classes: every label is drawn uniformly by the generator."""
    tr = data.labels("train")
    return {m: 1.0 / tr[c].nunique() for c, m in PROBES.items()}


def _probes(embed_fn, data: VideoData, split: str) -> dict[str, np.ndarray]:
    """Per test TR, whether each linear probe reads its label (1) or not (0); the mean is the accuracy."""
    tr_emb, te_emb = embed_fn(data.train), embed_fn(getattr(data, split))
    tr, te = data.labels("train"), data.labels(split)
    return {m: (linear_probe_predictions(tr_emb, tr[c].to_numpy(), te_emb) == te[c].to_numpy()).astype(np.float64)
            for c, m in PROBES.items()}


def score_video(recon_fn: Callable[[torch.Tensor], torch.Tensor], embed_fn: Callable[[torch.Tensor], torch.Tensor],
                data: VideoData, split: str = "test") -> dict[str, float]:
    """Score any code of the clips — a trained autoencoder or PCA-d — by one protocol: ``recon_fn``
    maps normalised clips to normalised reconstructions, ``embed_fn`` to the TR embedding (probes).
    ``out[UNITS]`` holds the per-TR scores behind test MSE and the probe accuracies (for
    :func:`tempmodels.results.compare`)."""
    x = getattr(data, split)
    recon = recon_fn(x)
    orig, rec = data.inverse(x), data.inverse(recon)
    out = {"test_mse": float(((recon.double() - x.double()) ** 2).mean()),
           "frame_r": vm.frame_r(rec, orig), "temporal_detail_r": vm.temporal_detail_r(rec, orig)}
    flow = vm.flow_agreement(rec, orig, data.original_flow(split))
    out.update(flow_cosine=flow["flow_cosine"], flow_epe=flow["flow_epe"])
    correct = _probes(embed_fn, data, split)
    out.update({m: float(v.mean()) for m, v in correct.items()})
    out[UNITS] = {"test_mse": per_tr_squared_error(recon, x), **correct}
    return out


def reconstruct(model, data: VideoData, split: str = "test") -> torch.Tensor:
    """Decoded clips of ``split`` on the benchmark's 0–1 scale (not clipped), (TR, frames, C, H, W)."""
    return data.inverse(_batched(model, model, getattr(data, split)))


def video_scorer(data: VideoData, split: str = "test") -> Callable:
    """``score_fn`` for :func:`~tempmodels.experiment.run_encoder`."""
    return lambda model: score_video(lambda x: _batched(model, model, x), lambda x: embed(model, x), data, split)


def run_video(specs: dict, data: VideoData, cfg: TrainConfig, seeds: list[int], d_model: int,
              decoder_hidden: int = 512, progress: bool = True, checkpoint_dir=None):
    """Train and score every named video encoder once per seed (cached like the audio runs);
    returns (results, histories, {name: {seed: FitResult}})."""
    return run_all(specs, data, cfg, seeds, None, None, d_model, asr=False, checkpoint_dir=checkpoint_dir,
                   progress=progress, build_model=build_video_autoencoder(data, decoder_hidden),
                   score_fn=video_scorer(data), cache_tag=CACHE_TAG)


@timed_as("references")
def reference_rows(data: VideoData, d_model: int | None = None, split: str = "test", with_units: bool = False):
    """oracle (the clip itself; probes read its raw pixels), floor (each TR's mean frame; probes read
    the mean frame: what averaging hands a linear read-out) and, with ``d_model``, PCA-d.
    ``with_units=True`` returns (rows, per-unit scores: seed -1, the same in every seed) for
    :func:`tempmodels.results.compare`. Computed once per data, ``d_model`` and split, then taken from
    the run cache (:func:`tempmodels.run_cache.cached_table`) in whichever chapter asks next."""
    table, units = run_cache.cached_table("video_reference_rows", data, None, False,
                                          lambda: _reference_rows(data, d_model, split), d_model=d_model, split=split)
    return (table, units) if with_units else table


def _reference_rows(data: VideoData, d_model: int | None, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    x = getattr(data, split)
    rows, units = [], []
    for name, recon_fn, embed_fn in (("oracle", lambda v: v, lambda v: v.flatten(1)),
                                     ("floor (TR mean)", tr_mean_clip, lambda v: v.mean(1).flatten(1))):
        m = score_video(recon_fn, embed_fn, data, split)
        units.append(units_frame(m.pop(UNITS), name, -1))
        rows += [{"encoder": name, "seed": -1, "metric": k, "value": v} for k, v in m.items()]
    if d_model is not None:
        pca = PCACode(data.train.flatten(2), d_model)
        shape = x.shape[1:]
        m = score_video(lambda v: pca.reconstruct(v.flatten(2)).view(len(v), *shape), lambda v: pca.encode(v.flatten(2)),
                        data, split)
        units.append(units_frame(m.pop(UNITS), PCA_ROW, -1))
        m["d_effective"] = pca.d_effective
        rows += [{"encoder": PCA_ROW, "seed": -1, "metric": k, "value": v} for k, v in m.items()]
    return pd.DataFrame(rows), pd.concat(units, ignore_index=True)
