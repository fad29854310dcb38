"""Reproducibility in one place: seeding, deterministic algorithms, environment fingerprint.

Every notebook and every training run calls :func:`seed_everything` once; nothing else in the
package touches global random state.
"""
from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

DEFAULT_THREADS = 2


def seed_everything(seed: int, *, threads: int | None = DEFAULT_THREADS, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch, pin the thread count and ask torch for deterministic kernels.

    Returns a ``torch.Generator`` seeded with ``seed`` for code that wants its own stream.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(int(threads))
    if deterministic:
        # cuBLAS needs this set before the first CUDA matmul to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        _deterministic_algorithms()
        torch.backends.cudnn.benchmark = False
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its 5 s import.

    The public call imports ``torch._inductor`` (about 5 s on 2 CPU cores, in every process: each
    notebook kernel, each torchrun rank) only to copy the flag into the ``torch.compile`` config.
    Nothing here compiles; when the inductor is already loaded the public call is used as is.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=True)


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


FINGERPRINT_PACKAGES = (
    "tempmodels", "torch", "torchaudio", "numpy", "scipy", "pandas", "pocketsphinx", "jiwer",
    "nilearn", "himalaya", "papermill", "jupyter-book",
)


def environment_fingerprint(device: str = "cpu") -> dict[str, str]:
    """Versions, device and threads of this run, recorded in every executed notebook."""
    fp = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "device": device,
        "cuda_available": str(torch.cuda.is_available()),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        fp["cuda_device"] = torch.cuda.get_device_name(0)
    for pkg in FINGERPRINT_PACKAGES:
        fp[pkg] = _version(pkg)
    return fp
