"""Knowledge distillation for regression: a small student learns from a trained teacher autoencoder.

Hinton et al.'s distillation matches *class probabilities* — a KL divergence between temperature-
softened softmax outputs — which needs a classifier. Our encoders are trained to reconstruct
log-mel frames, real numbers with no softmax, so the report's KL does not apply. The regression
analogues, both here:

* ``"output"`` — soft targets: the student's reconstruction is pulled towards the teacher's,
  ``(1 - α)·MSE(ŷ_s, x) + α·MSE(ŷ_s, ŷ_t)``;
* ``"feature"`` — hints (FitNets, Romero et al.): the student's TR embedding is pulled towards the
  teacher's (same d), ``MSE(ŷ_s, x) + α·MSE(z_s, z_t)``.

Validation and early stopping stay on the plain reconstruction MSE, as for every other encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from .decoder import Autoencoder
from .entries import module_digest
from .training import FitResult, TrainConfig

MODES = ("output", "feature")


class DistillationLoss:
    """``loss(student, batch)`` for :func:`tempmodels.training.fit` (``loss_fn=``)."""

    def __init__(self, teacher: Autoencoder, mode: str = "output", alpha: float = 0.5):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not 0 <= alpha <= (1 if mode == "output" else float("inf")):
            raise ValueError(f"alpha must be in [0, 1] for output matching and >= 0 for feature matching, got {alpha}")
        self.teacher, self.mode, self.alpha = teacher.eval(), mode, float(alpha)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        #: what this loss computes, for the run cache: the mode, alpha and the teacher's tree and weights
        self.cache_tag = f"distill:{mode}:{self.alpha!r}:{module_digest(self.teacher)}"

    def __call__(self, student: Autoencoder, x: torch.Tensor) -> torch.Tensor:
        dev = x.device
        self.teacher.to(dev)
        with torch.no_grad():
            z_t = self.teacher.embed(x)
            y_t = self.teacher.decoder(z_t) if self.mode == "output" else None
        z_s = student.embed(x)
        if z_s.shape != z_t.shape:
            raise ValueError(f"student and teacher embeddings differ in shape: {tuple(z_s.shape)} vs {tuple(z_t.shape)}")
        y_s = student.decoder(z_s)
        task = nn.functional.mse_loss(y_s, x)
        if self.mode == "output":
            return (1 - self.alpha) * task + self.alpha * nn.functional.mse_loss(y_s, y_t)
        return task + self.alpha * nn.functional.mse_loss(z_s, z_t)


@torch.no_grad()
def teacher_gap(student: Autoencoder, teacher: Autoencoder, x: torch.Tensor, batch: int = 256) -> float:
    """Mean squared difference between the student's and the teacher's reconstructions."""
    student.eval(), teacher.eval()
    dev = next(student.parameters()).device
    teacher.to(dev)
    total = 0.0
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(dev)
        total += float(((student(xb) - teacher(xb)) ** 2).sum())
    return total / x.numel()


def share_of_teacher_gain(results: pd.DataFrame, student: str, teacher: str, baseline: str,
                          metric: str = "test_mse", lower_is_better: bool = True) -> pd.Series:
    """Per seed: (baseline − student) / (baseline − teacher) in ``metric`` — the report's "80–90 % of
    the teacher", measured as the share of the teacher's gain over ``baseline`` the student keeps."""
    r = results[(results.metric == metric) & (results.seed >= 0)].pivot(index="seed", columns="encoder", values="value")
    for name in (student, teacher, baseline):
        if name not in r:
            raise KeyError(f"{name!r} not in results; have {list(r.columns)}")
    sign = -1.0 if lower_is_better else 1.0
    return (sign * (r[student] - r[baseline]) / (sign * (r[teacher] - r[baseline]))).rename(student)


def run_distillation(name: str, build_student: Callable[[], nn.Module], teachers: dict[int, FitResult], data,
                     cfg: TrainConfig, seeds: list[int], vocoder, recognizer, d_model: int, mode: str = "output",
                     alpha: float = 0.5, asr: bool = True, checkpoint_dir: str | Path | None = None,
                     progress: bool = True):
    """Train the student once per seed against the teacher of the same seed; score it like any
    encoder, through :func:`tempmodels.experiment.run_encoder` and so the run cache (the key names the
    teacher's weights, the mode and alpha). Returns (results, histories, fits) in its form."""
    from .experiment import run_encoder

    rows, hists, fits = [], [], {}
    for seed in seeds:
        if seed not in teachers:
            raise KeyError(f"no teacher trained with seed {seed}; have seeds {sorted(teachers)}")
        loss = DistillationLoss(teachers[seed].model, mode, alpha)
        r, h, f = run_encoder(name, build_student, data, cfg, [seed], vocoder, recognizer, d_model, asr=asr,
                              checkpoint_dir=checkpoint_dir, progress=progress, loss_fn=loss)
        fits[seed] = f[seed]
        gap = teacher_gap(f[seed].model, teachers[seed].model, data.test)
        rows.append(pd.concat([r, pd.DataFrame([{"encoder": name, "seed": seed, "metric": "teacher_gap", "value": gap}])],
                              ignore_index=True))
        hists.append(h)
    return pd.concat(rows, ignore_index=True), pd.concat(hists, ignore_index=True), fits
