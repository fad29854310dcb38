"""Writes that are all-or-nothing: a result appears under its final name only when complete.

A failed or interrupted run leaves the previous good file (or nothing), never a half-written one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".partial{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def config_key(config: dict) -> str:
    """A short stable hash of a JSON-serialisable configuration, used to key on-disk caches."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def hash_package_source(h) -> None:
    """Feed every ``.py`` file of the package (relative path and bytes) into the hash ``h``: the
    part of every content key (executed chapters, cached runs) that says which code made a result."""
    package = Path(__file__).resolve().parent
    for f in sorted(package.rglob("*.py")):
        h.update(str(f.relative_to(package.parent)).encode() + b"\0" + f.read_bytes())
