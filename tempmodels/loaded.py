"""Which of the package's modules a process loaded: what an executed chapter's stamp is keyed on.

With ``TEMPMODELS_MODULES_FILE=<path>`` set (the executor sets it for each chapter's kernel), the
package writes the sorted list of its loaded module files to ``path`` after every notebook cell
(IPython's ``post_run_cell``) and at exit — so a chapter that used only the audio code is not
re-executed when the video code changes, and one whose loaded module changed is.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

ENV = "TEMPMODELS_MODULES_FILE"
PACKAGE = Path(__file__).resolve().parent


def loaded_modules() -> list[str]:
    """Paths (relative to the repository, e.g. ``tempmodels/audio/asr.py``) of the loaded package modules."""
    out = set()
    for name, mod in list(sys.modules.items()):
        if name != "tempmodels" and not name.startswith("tempmodels."):
            continue
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve().is_relative_to(PACKAGE):
            out.add(str(Path(f).resolve().relative_to(PACKAGE.parent)))
    return sorted(out)


def write(path: str | os.PathLike) -> None:
    from .atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(loaded_modules()))


def install(path: str | os.PathLike) -> None:
    """Keep ``path`` up to date with :func:`loaded_modules` in this process."""
    atexit.register(write, path)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every kernel
        return
    ip = get_ipython()
    if ip is not None:
        ip.events.register("post_run_cell", lambda result: write(path))


def read(path: str | os.PathLike) -> list[str] | None:
    try:
        mods = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return mods if isinstance(mods, list) and all(isinstance(m, str) for m in mods) else None
