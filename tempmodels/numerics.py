"""Which floating-point results this machine gives: a fingerprint of its numerical kernels.

The reviewed outputs (``tests/golden``) are compared exactly by nbval, and a trained encoder's
metrics are only reproducible bit for bit where the same kernels run: two x86 machines with
different vector units (AVX2 vs AVX-512, Intel vs AMD) pick different BLAS / oneDNN / ATen code
paths, round differently in the last bit, and a few hundred optimiser steps turn that bit into a
different third decimal (measured: chapter 01's temporal-detail r 0.861 on one machine kind, 0.889
on another, from the same code and seeds). Nothing is wrong on either machine, but their outputs
cannot be compared with ``==``.

:func:`fingerprint` runs the operations the book's runs are made of — a few AdamW steps of a small
conv + attention + layer-norm model in fp32 and under bf16 autocast, matrix products of awkward
sizes, an STFT round trip, NumPy's LAPACK (ridge, PCA) — on fixed inputs and hashes the exact bits
of the results. Two machines with different fingerprints cannot reproduce each other's chapters;
two with the same one ran these kernels identically (small probes: a necessary condition, which the
nbval comparison then checks on the chapters themselves). The executor (:mod:`tempmodels.execute`) records it in every notebook it writes, and the nbval gate
(``tests/conftest.py``) compares a golden chapter's outputs only where this machine's fingerprint
equals the one the chapter was made with (elsewhere it executes every cell and says so).

    python -m tempmodels.numerics        # this machine's fingerprint, part by part
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
from functools import lru_cache

import numpy as np
import torch
from torch import nn

#: where an executed notebook keeps the fingerprint it was made with
METADATA_KEY = "tempmodels"


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().float().contiguous().numpy()
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()[:16]


class _Probe(nn.Module):
    def __init__(self, d: int = 32):
        super().__init__()
        self.conv = nn.Conv1d(16, d, 5, padding=2)
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.out = nn.Linear(d, 16)

    def forward(self, x):  # (batch, frames, 16)
        h = torch.nn.functional.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        h = self.norm(h)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        h, _ = self.gru(h)
        return self.out(h.softmax(-1) * h)


def _training(autocast: bool) -> str:
    torch.manual_seed(0)
    model = _Probe()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 48, 16, generator=g), torch.randn(8, 48, 16, generator=g)
    for _ in range(4):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = nn.functional.mse_loss(model(x).float(), y)
        loss.backward()
        opt.step()
    return _digest(*model.parameters())


def _matmul() -> str:
    g = torch.Generator().manual_seed(2)
    shapes = [(37, 129, 61), (256, 300, 64), (5, 2048, 3), (960, 64, 64)]
    return _digest(*[torch.randn(m, k, generator=g) @ torch.randn(k, n, generator=g) for m, k, n in shapes])


def _stft() -> str:
    g = torch.Generator().manual_seed(3)
    wav = torch.randn(16000, generator=g)
    window = torch.hann_window(400)
    spec = torch.stft(wav, 400, 160, window=window, return_complex=True)
    back = torch.istft(spec, 400, 160, window=window, length=wav.numel())
    return _digest(spec.abs(), back)


def _lapack() -> str:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((120, 64))
    gram = a.T @ a + 0.5 * np.eye(64)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    w, v = np.linalg.eigh(gram)
    sol = np.linalg.solve(gram, a.T @ rng.standard_normal((120, 7)))
    return _digest(np.abs(u), s, w, np.abs(v), sol)


PARTS = {"torch fp32 training": lambda: _training(False),
         "torch bf16 autocast training": lambda: _training(True),
         "torch matmul": _matmul, "torch stft/istft": _stft, "numpy lapack": _lapack}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=None)
def _cached(threads: int) -> str:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):  # the probes seed torch: the caller's stream must not move
            return json.dumps(_compute(threads))
    finally:
        torch.set_num_threads(saved)


def _compute(threads: int) -> dict:
    parts = {name: fn() for name, fn in PARTS.items()}
    return {"id": hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16],
            "parts": parts,
            # what the id depends on, for the message when two machines differ (not part of the id)
            "cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": threads, "torch": torch.__version__, "numpy": np.__version__}


def fingerprint() -> dict:
    """This machine's numerical fingerprint at the thread count every chapter runs with
    (:data:`tempmodels.repro.DEFAULT_THREADS`, pinned by ``seed_everything`` in each kernel), whatever
    the calling process's own thread count; computed once per process."""
    from .repro import DEFAULT_THREADS

    return json.loads(_cached(DEFAULT_THREADS))


def recorded(notebook: dict) -> dict | None:
    """The fingerprint an executed notebook (as a dict, e.g. from ``json.load``) was made with, if any."""
    entry = notebook.get("metadata", {}).get(METADATA_KEY, {}).get("numerics")
    return entry if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None


def differences(made_with: dict | None, here: dict) -> str:
    """A one-line account of why two fingerprints differ ('' when they are equal)."""
    if made_with is None:
        return "it records no numerical fingerprint (made before fingerprints were kept)"
    if made_with["id"] == here["id"]:
        return ""
    parts = [p for p in here["parts"] if made_with.get("parts", {}).get(p) != here["parts"][p]]
    return (f"made on {made_with.get('cpu', '?')} ({made_with.get('cpu_capability', '?')}, "
            f"{made_with.get('threads', '?')} threads), this machine is {here['cpu']} "
            f"({here['cpu_capability']}, {here['threads']} threads); differing: {', '.join(parts) or 'the id'}")


if __name__ == "__main__":
    json.dump(fingerprint(), sys.stdout, indent=1)
    print()
