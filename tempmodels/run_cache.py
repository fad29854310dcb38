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
* the package's source code and the versions of the libraries that compute the result
  (:data:`tempmodels.entries.LIBRARIES`, OpenCV's optical flow for the video scores included).

Also stored: the random-number-generator states at the end of the run, restored on a hit, so code
after the run continues exactly as if it had trained. Entries are written atomically by
:mod:`tempmodels.entries`, with a checksum and the key as their fingerprint: an entry that is
truncated, garbage, lacks a field, or answers to another key is named in a warning, moved aside and
trained again — never read, never a crash in a later run.
Tables that need no training — the oracle, floor and PCA-d reference rows — are kept the same way
(:func:`cached_table`), keyed on the data, the scoring set-up and the code.
``TEMPMODELS_RUN_CACHE=0`` turns the cache off; ``TEMPMODELS_RUN_CACHE=/path`` moves it
(default: ``<cache>/tempmodels/runs``).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import entries
from .atomic import clean_partials
from .entries import code_fingerprint, tensor_hash
from .repro import seed_everything

#: What every entry holds; one without any of these is damaged.
FIELDS = ("state", "history", "best_epoch", "best_val", "batchnorm", "metrics", "rng")


def cache_dir() -> Path | None:
    """The run cache's folder, or None when ``TEMPMODELS_RUN_CACHE=0``."""
    setting = os.environ.get("TEMPMODELS_RUN_CACHE", "")
    if setting in ("0", "off", "false"):
        return None
    if setting:
        return Path(setting)
    return entries.default_cache_dir() / "runs"


def run_key(build_model, seed: int, data, cfg, vocoder, asr: bool, extra: str = "") -> str:
    """The content key of one training run (see the module docstring)."""
    h = hashlib.sha256()
    h.update(code_fingerprint().encode())
    h.update(json.dumps({"cfg": asdict(cfg), "seed": seed, "asr": asr, "extra": extra}, sort_keys=True).encode())
    if vocoder is not None:
        h.update(repr((vocoder.cfg, vocoder.seed, vocoder.griffin_lim.n_iter)).encode())
    for split in ("train", "val", "test"):
        tensor_hash(h, getattr(data, split))
    with torch.random.fork_rng(devices=[]):
        seed_everything(seed)
        model = build_model()
        h.update(repr(model).encode())
        for name, t in model.state_dict().items():
            h.update(name.encode())
            tensor_hash(h, t)
        probe = data.train[:4]
        model.eval()
        with torch.no_grad():
            tensor_hash(h, model(probe))
            model.train()
            torch.manual_seed(12345)
            tensor_hash(h, model(probe))
    return h.hexdigest()[:32]


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _fingerprint(key: str) -> dict:
    return {"run_key": key}


def _load_entry(key: str, fields, what: str):
    """The stored entry under ``key``, or None when the cache is off, the entry is missing, or it is
    damaged or stale (then named in a warning and moved aside)."""
    root = cache_dir()
    if root is None:
        return None
    return entries.load_or_set_aside(root / f"{key}.pt", _fingerprint(key), fields, what=what)


def load(key: str):
    """The cached entry for ``key`` (RNG states restored), or None — also when the entry is damaged or
    stale, which is then named in a warning and moved aside so the run is trained again."""
    entry = _load_entry(key, FIELDS, "run-cache entry")
    if entry is None:
        return None
    _set_rng_state(entry["rng"])
    return entry


def store(key: str, model: torch.nn.Module, history: pd.DataFrame, best_epoch: int, best_val: float,
          batchnorm: str, metrics: dict) -> None:
    root = cache_dir()
    if root is None:
        return
    clean_partials(root)  # what a killed writer left
    entry = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "history": history,
             "best_epoch": best_epoch, "best_val": best_val, "batchnorm": batchnorm, "metrics": metrics,
             "rng": _rng_state()}
    entries.save(entry, root / f"{key}.pt", _fingerprint(key))


#: What a cached table (reference rows) holds.
TABLE_FIELDS = ("table",)


def table_key(kind: str, data, vocoder, asr: bool, **extra) -> str:
    """The content key of a table that depends on the data and the scoring set-up but on no training
    (the oracle, floor and PCA-d reference rows): the code and library fingerprint, ``kind`` and
    ``extra`` (e.g. ``d``, ``split``), the benchmark's configuration, the train/validation/test
    tensors and the vocoder."""
    h = hashlib.sha256()
    h.update(code_fingerprint().encode())
    h.update(json.dumps({"kind": kind, "asr": asr, **extra}, sort_keys=True, default=repr).encode())
    bench = getattr(data, "bench", None)
    h.update(repr(getattr(bench, "config", None)).encode())
    if vocoder is not None:
        h.update(repr((vocoder.cfg, vocoder.seed, vocoder.griffin_lim.n_iter)).encode())
    for split in ("train", "val", "test"):
        tensor_hash(h, getattr(data, split))
    return "table-" + h.hexdigest()[:32]


def load_table(key: str):
    """The cached table(s) for ``key`` (a DataFrame or a tuple of them, as stored), or None (also when
    damaged or stale: named, moved aside)."""
    entry = _load_entry(key, TABLE_FIELDS, "cached table")
    if entry is None:
        return None
    t = entry["table"]
    return tuple(x.copy() for x in t) if isinstance(t, tuple) else t.copy()


def store_table(key: str, table) -> None:
    root = cache_dir()
    if root is None:
        return
    clean_partials(root)
    entries.save({"table": table}, root / f"{key}.pt", _fingerprint(key))


def cached_table(kind: str, data, vocoder, asr: bool, compute, **extra):
    """``compute()`` once per content key (see :func:`table_key`), from the run cache afterwards.

    ``compute`` must leave the random streams where it found them (the reference rows do: the
    vocoder seeds inside ``fork_rng``), so a hit and a miss leave the caller in the same state."""
    key = table_key(kind, data, vocoder, asr, **extra) if cache_dir() else None
    table = load_table(key) if key else None
    if table is None:
        table = compute()
        if key:
            store_table(key, table)
    return table
