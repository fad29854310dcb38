"""Stored entries that say what made them: a fingerprint, a checksum, and set aside when they do not fit.

Every file the package keeps between runs — a training checkpoint, a run-cache entry, a cached
benchmark — is written by :func:`save` and read by :func:`load`. The file holds one header line (a
format tag, the SHA-256 of the payload and a *fingerprint*: a JSON description of everything the
payload was made from — data identity, model tree, configuration, code and library versions) and
then the payload (``torch.save`` bytes). :func:`load` checks the checksum and compares the
fingerprint with the one the caller expects:

* damaged (truncated, garbage, empty, wrong checksum, missing keys) → :class:`DamagedEntry`;
* made from something else → :class:`StaleEntry`, naming what differs.

:func:`load_or_set_aside` turns either into a warning that names the file, moves the file aside
(``<name>.damaged-<time>`` / ``<name>.stale-<time>`` beside it, kept for inspection, never read
again) and returns None, so the caller redoes the work: a damaged or stale file never breaks a
later run and is never reused silently.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch

from .atomic import atomic_path, hash_package_source

FORMAT = "tempmodels-entry/1"

#: Libraries whose versions can change a stored result: training (torch), the mel front end and
#: vocoder (torchaudio), closed-form codes and probes (numpy, scipy, scikit-learn), ASR and STOI,
#: optical flow (OpenCV, video and joint scores), ridge and HRFs (himalaya, nilearn), tables (pandas).
LIBRARIES = ("torch", "torchaudio", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "pocketsphinx",
             "pystoi", "jiwer", "opencv-python-headless", "himalaya", "nilearn")


class DamagedEntry(ValueError):
    """A stored file that cannot be read back whole (truncated, garbage, bad checksum, missing keys)."""


class StaleEntry(ValueError):
    """A stored file made from other inputs than the ones asked for."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tempmodels`` (default ``~/.cache/tempmodels``): the root of every cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tempmodels"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The package's source and the computing libraries' versions (read once per process)."""
    h = hashlib.sha256()
    hash_package_source(h)
    for lib in LIBRARIES:
        try:
            h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{lib}=none".encode())
    return h.hexdigest()[:32]


def tensor_hash(h, t: torch.Tensor) -> None:
    """Feed a tensor's dtype, shape and bytes into the hash ``h``."""
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def tensors_digest(*tensors: torch.Tensor) -> str:
    """A short digest of some tensors' contents (data identity in a fingerprint)."""
    h = hashlib.sha256()
    for t in tensors:
        tensor_hash(h, t)
    return h.hexdigest()[:32]


def module_digest(model: torch.nn.Module) -> str:
    """A short digest of a module's tree (``repr``) and its current weights and buffers."""
    h = hashlib.sha256(repr(model).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            tensor_hash(h, t)
    return h.hexdigest()[:32]


def save(obj: Any, path: str | os.PathLike, fingerprint: dict) -> None:
    """Write ``obj`` atomically to ``path`` with a checksum and ``fingerprint`` (JSON-serialisable)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    header = {"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
              "fingerprint": fingerprint}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(json.dumps(header, sort_keys=True, default=str).encode() + b"\n")
            f.write(payload)


def _differences(found: dict, expected: dict) -> list[str]:
    keys = sorted(set(found) | set(expected))
    return [f"{k}: stored {found.get(k, '—')!r}, now {expected.get(k, '—')!r}" for k in keys
            if found.get(k) != expected.get(k)]


def load(path: str | os.PathLike, fingerprint: dict | None = None, required: Iterable[str] = ()) -> Any:
    """The object stored at ``path``; :class:`DamagedEntry` or :class:`StaleEntry` (naming the file) if it
    is not whole or was made from something other than ``fingerprint``; ``required`` keys of a dict entry."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DamagedEntry(f"{path}: cannot be read ({e})") from e
    line, sep, payload = raw.partition(b"\n")
    try:
        header = json.loads(line) if sep else None
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DamagedEntry(f"{path}: not a tempmodels entry (no '{FORMAT}' header: empty, truncated, garbage "
                           f"or written by an older version), {len(raw)} bytes")
    if len(payload) != header.get("bytes") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise DamagedEntry(f"{path}: checksum mismatch ({len(payload)} of {header.get('bytes')} payload bytes): "
                           "truncated or corrupted")
    found = header.get("fingerprint") or {}
    if fingerprint is not None:
        expected = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        if found != expected:
            raise StaleEntry(f"{path}: made from other inputs than this run's — " + "; ".join(_differences(found, expected)))
    try:
        obj = torch.load(io.BytesIO(payload), weights_only=False)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means the payload is unusable
        raise DamagedEntry(f"{path}: payload cannot be loaded ({type(e).__name__}: {e})") from e
    missing = [k for k in required if not (isinstance(obj, dict) and k in obj)]
    if missing:
        raise DamagedEntry(f"{path}: entry lacks {missing}")
    return obj


def set_aside(path: str | os.PathLike, reason: str) -> Path:
    """Rename ``path`` to ``<name>.<reason>-<time>`` beside it (kept for inspection, never read again)."""
    path = Path(path)
    target = path.with_name(f"{path.name}.{reason}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process set it aside first
        pass
    return target


def load_or_set_aside(path: str | os.PathLike, fingerprint: dict | None = None, required: Iterable[str] = (),
                      what: str = "entry", move: bool = True) -> Any:
    """:func:`load`, or None — with a warning naming the file and why — when the file is missing,
    damaged or stale; a damaged or stale file is moved aside (``move=False``: left for another process)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return load(path, fingerprint, required)
    except (DamagedEntry, StaleEntry) as e:
        reason = "damaged" if isinstance(e, DamagedEntry) else "stale"
        where = f"; moved aside to {set_aside(path, reason).name}" if move else ""
        warnings.warn(f"{what} {reason}, recomputing it: {e}{where}", stacklevel=2)
        return None
