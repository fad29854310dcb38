"""Writes that are all-or-nothing: a result appears under its final name only when complete.

A failed or interrupted run leaves the previous good file (or nothing), never a half-written one.
The temporary file is named ``.<name>.<host>-<pid>.<random>.partial<suffix>``: a process killed
outright (SIGKILL) leaves it behind, and :func:`clean_partials` removes those of this host whose
process is gone (a folder shared by several machines keeps the others' partials). A
finished file gets the permissions of any file made under the process's umask (``mkstemp`` alone
would leave it readable by its owner only), so a shared cache or book is readable by others.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator

_PARTIAL = re.compile(r"^\..+\.([A-Za-z0-9_]+)-(\d+)\.[^.]+\.partial")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give ``path`` ``mode`` less the umask, as ``open`` would have (``0o777`` for a folder)."""
    os.chmod(path, mode & ~umask())


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.{_host()}-{os.getpid()}.", suffix=f".partial{final.suffix}",
                               dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_partials(folder: str | os.PathLike) -> list[Path]:
    """Remove the partial files in ``folder`` left by processes that no longer run; return them."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for f in folder.iterdir():
        m = _PARTIAL.match(f.name)
        if m and m.group(1) == _host() and f.is_file() and not _alive(int(m.group(2))):
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


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
