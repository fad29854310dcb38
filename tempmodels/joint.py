"""Training and scoring the multimodal autoencoder (:mod:`tempmodels.multimodal`) by the book's
protocol: audio, video and BOLD on one TR grid, split into the same time blocks; windows of
``context`` TRs inside each block; the same trainer and run cache as every encoder; scores per
modality and, for the fMRI head, per voxel family against each voxel's noise ceiling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .experiment import UNITS, AudioData, run_all
from .fmri.encoding import columnwise_r
from .multimodal import MultimodalAutoencoder, PackedLayout, windows
from .results import per_tr_squared_error
from .timing import timed_as
from .training import TrainConfig
from .video.experiment import VideoData

SPLITS = ("train", "val", "test")


@dataclass
class JointData:
    """Packed train / val / test windows (``train``, ``val``, ``test``: what the trainer and the run
    cache see), the BOLD z-scored with the training block's statistics, and per-voxel families
    and noise ceilings when known (simulated data)."""

    audio: AudioData
    video: VideoData
    bold: np.ndarray  # (TR, voxels), z-scored from the train block
    layout: PackedLayout
    splits: dict[str, np.ndarray]
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    family: np.ndarray | None = None
    ceiling: np.ndarray | None = None  # correlation ceiling of each voxel's target on the test block

    @classmethod
    def build(cls, audio: AudioData, video: VideoData, bold: np.ndarray, context: int,
              weights=(1.0, 1.0, 1.0), family=None, ceiling=None, repeats=None) -> "JointData":
        """``bold`` (TR, voxels): the response the head is trained on (e.g. the mean of the repeats);
        ``repeats`` (presentations, TR, voxels), when given, yields each voxel's correlation ceiling on
        the scored test TRs (unless ``ceiling`` is given)."""
        splits = audio.bench.splits
        for s in SPLITS:
            if not np.array_equal(splits[s], video.bench.splits[s]):
                raise ValueError(f"the audio and video tracks split the TRs differently ({s!r}): build both with the "
                                 "same n_trs, fractions and gap_trs")
        bold = np.asarray(bold, dtype=np.float64)
        if bold.ndim != 2 or len(bold) != len(audio.bench.mel):
            raise ValueError(f"BOLD must be (TR, voxels) on the audio track's {len(audio.bench.mel)} TRs, got {bold.shape}")
        tr = bold[splits["train"]]
        sd = tr.std(0)
        bold = ((bold - tr.mean(0)) / np.where(sd > 0, sd, 1)).astype(np.float32)
        layout = PackedLayout(tuple(audio.train.shape[1:]), tuple(video.train.shape[1:]), bold.shape[1], context,
                              tuple(weights))
        if ceiling is None and repeats is not None:
            from .fmri.noise_ceiling import correlation_ceiling, explainable_variance

            rep = np.asarray(repeats)
            if rep.ndim != 3 or rep.shape[1:] != bold.shape:
                raise ValueError(f"repeats must be (presentations, TR, voxels) = (n, {bold.shape[0]}, {bold.shape[1]}), "
                                 f"got {rep.shape}")
            ceiling = correlation_ceiling(explainable_variance(rep[:, splits["test"][context - 1:]]), len(rep))
        packed = {s: windows(getattr(audio, s), getattr(video, s), torch.from_numpy(bold[splits[s]]), context, layout)
                  for s in SPLITS}
        return cls(audio, video, bold, layout, splits, packed["train"], packed["val"], packed["test"],
                   None if family is None else np.asarray(family), None if ceiling is None else np.asarray(ceiling))


@torch.no_grad()
def predict(model: MultimodalAutoencoder, x: torch.Tensor, batch: int = 64):
    """(log-mel of TR t, frames of TR t, BOLD at t) for every packed window, on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    outs = [model.predict(x[i : i + batch].to(dev))[:3] for i in range(0, len(x), batch)]
    return tuple(torch.cat([o[k].cpu() for o in outs]) for k in range(3))


def score_joint(model: MultimodalAutoencoder, data: JointData, split: str = "test") -> dict[str, float]:
    """Per modality: test MSE (normalised units) and temporal-detail r; video frame r and flow
    cosine; fMRI r per voxel — mean over driven voxels, and per family r / ceiling. ``out[UNITS]``:
    per test window the audio and video MSE and audio detail r, per voxel the fMRI r."""
    x = getattr(data, split)
    a_hat, v_hat, y_hat = predict(model, x)
    a, v, y = data.layout.unpack(x)
    out = reconstruction_scores(a_hat, v_hat, a[:, -1], v[:, -1], data)
    out["fmri_mse"] = float(((y_hat - y) ** 2).mean())
    r = columnwise_r(y_hat.double().numpy(), y.double().numpy())
    out.update(fmri_scores(r, data.family, data.ceiling))
    out[UNITS].update(fmri_units(r, data.family))
    return out


def reconstruction_scores(a_hat: torch.Tensor, v_hat: torch.Tensor, a: torch.Tensor, v: torch.Tensor,
                          data: JointData) -> dict:
    """The reconstruction half of :func:`score_joint` for TR t of each window (normalised units):
    audio and video MSE, audio temporal-detail r, video frame r, detail r and flow cosine; ``out[UNITS]``
    the per-window audio and video MSE and audio detail r."""
    from . import metrics
    from .video import metrics as vm

    out = {"audio_mse": float(((a_hat - a) ** 2).mean()), "video_mse": float(((v_hat - v) ** 2).mean())}
    out["audio_detail_r"] = metrics.temporal_detail_r(data.audio.norm.inverse(a_hat), data.audio.norm.inverse(a))
    vo, vr = data.video.inverse(v), data.video.inverse(v_hat)
    out["video_frame_r"] = vm.frame_r(vr, vo)
    out["video_detail_r"] = vm.temporal_detail_r(vr, vo)
    out["flow_cosine"] = vm.flow_agreement(vr, vo)["flow_cosine"]
    out[UNITS] = {"audio_mse": per_tr_squared_error(a_hat, a), "video_mse": per_tr_squared_error(v_hat, v),
                  "audio_detail_r": metrics.temporal_detail_r_per_tr(data.audio.norm.inverse(a_hat),
                                                                     data.audio.norm.inverse(a))}
    return out


class JointPCA:
    """PCA-d of the joint TR: the optimal linear code of ``d`` numbers for the joint model's
    reconstruction loss, w_a·MSE_audio + w_v·MSE_video (each modality flattened and scaled by
    sqrt(w / its size), so that the squared error PCA minimises is that weighted sum), fit on ``a`` and
    ``v`` (TR, ...) of the training block."""

    def __init__(self, a: torch.Tensor, v: torch.Tensor, d: int, weights=(1.0, 1.0)):
        from .pca_code import PCACode

        self.shapes = (tuple(a.shape[1:]), tuple(v.shape[1:]))
        self.scale = (math.sqrt(weights[0] / a[0].numel()), math.sqrt(weights[1] / v[0].numel()))
        self.pca = PCACode(self._pack(a, v), d)
        self.d_effective = self.pca.d_effective

    def _pack(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if tuple(a.shape[1:]) != self.shapes[0] or tuple(v.shape[1:]) != self.shapes[1] or len(a) != len(v):
            raise ValueError(f"expected audio (TR, {self.shapes[0]}) and video (TR, {self.shapes[1]}) of the same TRs, "
                             f"got {tuple(a.shape)} and {tuple(v.shape)}")
        return torch.cat([a.flatten(1) * self.scale[0], v.flatten(1) * self.scale[1]], 1)[:, None]

    def encode(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.pca.encode(self._pack(a, v))

    def reconstruct(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.pca.reconstruct(self._pack(a, v))[:, 0]
        na = a[0].numel()
        return (z[:, :na].reshape(a.shape) / self.scale[0], z[:, na:].reshape(v.shape) / self.scale[1])


@timed_as("references")
def reconstruction_rows(data: JointData, d_model: int, split: str = "test", with_units: bool = False):
    """The reconstruction table's reference rows, scored by :func:`score_joint`'s code on TR t of the
    same windows: ``oracle`` (the TR itself), ``floor (TR mean)`` (each TR's mean log-mel frame and
    mean video frame) and ``PCA-d`` (:class:`JointPCA` of ``d_model`` numbers, fit on the training
    block's TRs). ``with_units=True`` returns (rows, per-unit scores: seed -1)."""
    from .experiment import PCA_ROW
    from .results import units_frame
    from .video.sprites import tr_mean_clip

    def last_tr(x):
        a, v, _ = data.layout.unpack(x)
        return a[:, -1], v[:, -1]

    a, v = last_tr(getattr(data, split))
    pca = JointPCA(data.audio.train, data.video.train, d_model, data.layout.weights[:2])
    codes = {"oracle": (a, v), "floor (TR mean)": (a.mean(1, keepdim=True).expand_as(a), tr_mean_clip(v)),
             PCA_ROW: pca.reconstruct(a, v)}
    rows, units = [], []
    for name, (a_hat, v_hat) in codes.items():
        m = reconstruction_scores(a_hat, v_hat, a, v, data)
        units.append(units_frame(m.pop(UNITS), name, -1))
        rows += [{"encoder": name, "seed": -1, "metric": k, "value": val} for k, val in m.items()]
    rows.append({"encoder": PCA_ROW, "seed": -1, "metric": "d_effective", "value": pca.d_effective})
    table = pd.DataFrame(rows)
    return (table, pd.concat(units, ignore_index=True)) if with_units else table


def fmri_units(r: np.ndarray, family: np.ndarray | None) -> dict[str, np.ndarray]:
    """The per-voxel r behind :func:`fmri_scores` (``fmri_r``: the driven voxels; ``r: <family>``), for
    paired comparisons over voxels (:func:`tempmodels.results.compare`)."""
    if family is None:
        return {"fmri_r": r.copy(), "r: all voxels": r.copy()}
    return {"fmri_r": r[family != "noise"], **{f"r: {fam}": r[family == fam] for fam in dict.fromkeys(family)}}


def fmri_scores(r: np.ndarray, family: np.ndarray | None, ceiling: np.ndarray | None) -> dict[str, float]:
    """``fmri_r`` (mean r over the driven voxels; over all voxels without families), ``r: <family>``
    and, with ceilings, ``r/ceiling: <family>`` (driven families, voxels with a positive ceiling)."""
    if family is None:  # real data: no known families, every voxel counts
        return {"fmri_r": float(r.mean()), "r: all voxels": float(r.mean())}
    out = {"fmri_r": float(r[family != "noise"].mean())}
    for fam in dict.fromkeys(family):
        keep = family == fam
        out[f"r: {fam}"] = float(r[keep].mean())
        if ceiling is not None and fam != "noise":
            c = ceiling[keep]
            ok = np.isfinite(c) & (c > 0)
            out[f"r/ceiling: {fam}"] = float((r[keep][ok] / c[ok]).mean()) if ok.any() else float("nan")
    return out


def scored_trs(data: JointData) -> np.ndarray:
    """The TRs (of the whole run) whose BOLD the joint models are scored on: the test block's TRs that
    end a window."""
    return data.splits["test"][data.layout.context - 1:]


@timed_as("references")
def ridge_rows(features: dict[str, np.ndarray], data: JointData, lags=(1, 2, 3, 4)) -> pd.DataFrame:
    """Chapter 09's two-stage model as reference rows: frozen features of every TR (name -> (TR, d))
    -> FIR delays ``lags`` -> ridge fit on the training block (himalaya), scored on the same test TRs
    and by the same per-family code as the joint models."""
    from .fmri.encoding import fit_voxelwise

    splits = {"train": data.splits["train"], "test": scored_trs(data)}
    rows = []
    for name, x in features.items():
        res = fit_voxelwise(x, data.bold, splits, lags=lags)
        rows += [{"encoder": name, "seed": -1, "metric": k, "value": v}
                 for k, v in fmri_scores(res.r, data.family, data.ceiling).items()]
    return pd.DataFrame(rows)


#: the run-cache tag of every joint run (a user's: this plus :func:`tempmodels.bench.user_tag`)
CACHE_TAG = "joint"


def run_joint(specs: dict[str, Callable[[], MultimodalAutoencoder]], data: JointData, cfg: TrainConfig, seeds: list[int],
              progress: bool = True, checkpoint_dir=None, cache_tag: str = CACHE_TAG):
    """Train and score every named joint model once per seed (the one trainer, the run cache);
    returns (results, histories, {name: {seed: FitResult}})."""
    d_model = next(iter(specs.values()))().d_model
    return run_all(specs, data, cfg, seeds, None, None, d_model, asr=False, checkpoint_dir=checkpoint_dir,
                   progress=progress, build_model=lambda build, d: build,
                   score_fn=lambda model: score_joint(model, data), cache_tag=cache_tag)


def family_table(results: pd.DataFrame, prefix: str = "r/ceiling: ") -> pd.DataFrame:
    """variant x family of mean ± sd over seeds of the metrics starting with ``prefix``."""
    r = results[results.metric.str.startswith(prefix)].copy()
    r["family"] = r.metric.str[len(prefix):]
    g = r.groupby(["encoder", "family"], sort=False).value
    sd = g.std(ddof=1)
    cell = g.mean().map("{:.2f}".format) + sd.map(lambda v: "" if np.isnan(v) else f" ± {v:.2f}")  # one value: no sd
    return cell.unstack("family")


def head_lags(fir_lags, shift_trs: int = 0) -> tuple[int, ...]:
    """The fMRI head's lags (TRs back from the BOLD's TR) for data whose BOLD was already shifted by
    ``shift_trs`` TRs (:meth:`~tempmodels.fmri.sherlock.SherlockData.aligned`): a stimulus lag ``l``
    becomes ``l - shift_trs``; lags shorter than the shift would need stimulus after the BOLD's TR
    and are dropped."""
    lags = tuple(int(l) - int(shift_trs) for l in fir_lags if int(l) >= int(shift_trs))
    if not lags:
        raise ValueError(f"no lag in {list(fir_lags)} reaches back past the HRF shift of {shift_trs} TRs already applied "
                         "to the BOLD: add longer lags")
    return lags


@torch.no_grad()
def bottlenecks(model: MultimodalAutoencoder, data: JointData, batch: int = 128) -> np.ndarray:
    """The fused TR embedding of every TR of the run (gaps included), (TR, d_model): the features of a
    two-stage (frozen features -> ridge) model of the same bottleneck."""
    model.eval()
    dev = next(model.parameters()).device
    a = data.audio.norm(data.audio.bench.mel)
    v = (data.video.bench.frames - data.video.mean) / data.video.std
    return torch.cat([model.embed(a[i : i + batch].to(dev), v[i : i + batch].to(dev)).cpu()
                      for i in range(0, len(a), batch)]).numpy()
