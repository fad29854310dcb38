"""Trained runs are computed once: a content-keyed cache of (trained weights, history, scores).

Chapters share their reference rows and some encoders (mean pooling and flat linear are trained in
every chapter, chapter 06's softmax transformer is chapter 05's), with the same data, budget and
seeds. Training is deterministic on the CPU, so a run whose inputs are identical has an identical
result: :func:`tempmodels.experiment.run_encoder` looks it up here instead of training it again.

The key is a hash of everything the result depends on:

* the model as built for that seed: its module tree (``repr``), its initial weights, and its output
  on a probe batch of real TRs in eval mode and in train mode (under a fixed seed) — so two
  configurations with the same layers and weights but a different forward (a positional encoding,
  a causal mask) differ;
* the data (train, validation and test tensors), the training configuration, the scoring set-up
  (vocoder, ASR on or off);
* the package's source code and the versions of the libraries that compute the result.

Also stored: the random-number-generator states at the end of the run, restored on a hit, so code
after the run continues exactly as if it had trained. Entries are written atomically.
``TEMPMODELS_RUN_CACHE=0`` turns the cache off; ``TEMPMODELS_RUN_CACHE=/path`` moves it
(default: ``<cache>/tempmodels/runs``).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .atomic import atomic_path, hash_package_source
from .repro import seed_everything

LIBRARIES = ("torch", "torchaudio", "numpy", "scikit-learn", "pocketsphinx", "pystoi", "jiwer")


def cache_dir() -> Path | None:
    """The run cache's folder, or None when ``TEMPMODELS_RUN_CACHE=0``."""
    setting = os.environ.get("TEMPMODELS_RUN_CACHE", "")
    if setting in ("0", "off", "false"):
        return None
    if setting:
        return Path(setting)
    from .audio.benchmark import default_cache_dir

    return default_cache_dir() / "runs"


@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    """The package's source and the computing libraries' versions: read once per process."""
    h = hashlib.sha256()
    hash_package_source(h)
    for lib in LIBRARIES:
        try:
            h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{lib}=none".encode())
    return h.hexdigest()


def _tensor_hash(h, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def run_key(build_model, seed: int, data, cfg, vocoder, asr: bool, extra: str = "") -> str:
    """The content key of one training run (see the module docstring)."""
    h = hashlib.sha256()
    h.update(_code_hash().encode())
    h.update(json.dumps({"cfg": asdict(cfg), "seed": seed, "asr": asr, "extra": extra}, sort_keys=True).encode())
    if vocoder is not None:
        h.update(repr((vocoder.cfg, vocoder.seed, vocoder.griffin_lim.n_iter)).encode())
    for split in ("train", "val", "test"):
        _tensor_hash(h, getattr(data, split))
    with torch.random.fork_rng(devices=[]):
        seed_everything(seed)
        model = build_model()
        h.update(repr(model).encode())
        for name, t in model.state_dict().items():
            h.update(name.encode())
            _tensor_hash(h, t)
        probe = data.train[:4]
        model.eval()
        with torch.no_grad():
            _tensor_hash(h, model(probe))
            model.train()
            torch.manual_seed(12345)
            _tensor_hash(h, model(probe))
    return h.hexdigest()[:32]


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def load(key: str):
    """The cached entry for ``key`` (RNG states restored), or None."""
    root = cache_dir()
    if root is None or not (root / f"{key}.pt").is_file():
        return None
    entry = torch.load(root / f"{key}.pt", weights_only=False)
    _set_rng_state(entry["rng"])
    return entry


def store(key: str, model: torch.nn.Module, history: pd.DataFrame, best_epoch: int, best_val: float,
          batchnorm: str, metrics: dict) -> None:
    root = cache_dir()
    if root is None:
        return
    entry = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "history": history,
             "best_epoch": best_epoch, "best_val": best_val, "batchnorm": batchnorm, "metrics": metrics,
             "rng": _rng_state()}
    with atomic_path(root / f"{key}.pt") as tmp:
        torch.save(entry, tmp)
