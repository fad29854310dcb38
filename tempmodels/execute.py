"""Execute the book's notebooks with papermill, the only executor.

    python -m tempmodels.execute --profile cpu notebooks/00_averaging_destroys_time.ipynb

* Profiles live in ``notebooks/profiles.yml``: ``profile -> notebook stem -> parameters``. The
  notebooks' own defaults are the ``quick`` profile. A profile that names a notebook parameter
  the notebook does not declare is an error, raised before anything runs.
* Output is written beside, then renamed over, ``<out>/<stem>.ipynb`` only when the whole notebook
  succeeded; an interrupted or failed run leaves the last good output in place and keeps the
  failed notebook as ``<failed>/<stem>.ipynb`` for inspection.
* Incremental: after a success, ``<out>/.stamps/<stem>.json`` records a content key of everything the
  chapter depends on — the notebook, the source of the package modules its kernel loaded
  (:mod:`tempmodels.loaded`: a change to the video code does not re-execute an audio chapter),
  ``pyproject.toml`` (the pinned stack), the parameters and profile, the benchmark's data version and
  the espeak-ng version. A chapter whose
  key is unchanged is skipped; ``--force`` re-executes it. The stamp is written only after the
  notebook, so an interrupted run is never counted as done; the partial file of a run killed outright
  (SIGKILL) is removed by the next run.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import shutil
import os
import signal
import sys
import time
from pathlib import Path

import yaml

from .atomic import atomic_path, clean_partials
from . import loaded, timing
from .params import ParameterError, validate

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PROFILES = REPO / "notebooks" / "profiles.yml"
#: what counts as a chapter of the book: numbered chapters, then the appendices (A1, A2, ...)
CHAPTER_PATTERNS = ("[0-9][0-9]_*.ipynb", "A[0-9]_*.ipynb")


def chapters(folder: str | Path = REPO / "notebooks") -> list[Path]:
    """The book's chapter notebooks in ``folder``, in reading order (numbered chapters, then appendices)."""
    return sorted(p for pattern in CHAPTER_PATTERNS for p in Path(folder).glob(pattern))


def load_profiles(path: str | Path = DEFAULT_PROFILES) -> dict[str, dict[str, dict]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"profiles file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
        raise ValueError(f"{path}: expected a mapping profile -> notebook stem -> parameters")
    return {name: (nbs or {}) for name, nbs in data.items()}


def declared_parameters(notebook: str | Path) -> dict[str, object]:
    """The notebook's declared parameters and their default values (from its ``parameters`` cell)."""
    import papermill

    info = papermill.inspect_notebook(str(notebook))
    if not info:
        raise ParameterError(f"{notebook}: no cell tagged 'parameters'")
    out = {}
    for name, spec in info.items():
        try:
            out[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            out[name] = None
    return out


def parameters_for(notebook: Path, profile: str, profiles: dict, overrides: dict | None = None) -> dict:
    if profile not in profiles:
        raise ParameterError(f"unknown profile {profile!r}; profiles.yml declares {sorted(profiles)}")
    declared = declared_parameters(notebook)
    params = dict(profiles[profile].get(notebook.stem, {}) or {})
    if "profile" in declared:
        params.setdefault("profile", profile)
    params.update(overrides or {})
    validate(declared, params, where=f"{notebook.name} (profile {profile!r})")
    return params


def check_profiles(notebooks: list[Path], profiles: dict) -> None:
    """Every notebook named in every profile exists and declares every key the profile sets."""
    by_stem = {nb.stem: nb for nb in notebooks}
    for profile, nbs in profiles.items():
        for stem in nbs:
            if stem not in by_stem:
                raise ParameterError(f"profile {profile!r} names notebook {stem!r}, which does not exist")
            parameters_for(by_stem[stem], profile, profiles)


def execute(notebook: Path, out_dir: Path, params: dict, failed_dir: Path, kernel: str = "python3") -> Path:
    import papermill

    final = out_dir / notebook.name
    with atomic_path(final) as tmp:
        try:
            papermill.execute_notebook(
                str(notebook), str(tmp), parameters=params, kernel_name=kernel,
                cwd=str(notebook.parent), progress_bar=True, report_mode=False,
            )
            record_numerics(tmp)
        except BaseException:
            failed_dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists() and tmp.stat().st_size:
                shutil.copyfile(tmp, failed_dir / notebook.name)
                print(f"FAILED: {notebook} (executed copy kept in {failed_dir / notebook.name}; "
                      f"last good {final} untouched)", file=sys.stderr)
            raise
    return final


def record_numerics(path: Path) -> None:
    """Keep this machine's numerical fingerprint (:mod:`tempmodels.numerics`) in the executed notebook's
    metadata: its outputs are reproducible bit for bit only where the fingerprint is the same."""
    import nbformat

    from . import numerics

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.setdefault(numerics.METADATA_KEY, {})["numerics"] = numerics.fingerprint()
    nbformat.write(nb, str(path))


def source_snapshot() -> dict[str, str]:
    """SHA-256 of every package module now, by repository-relative path (taken before a chapter runs,
    so that an edit during its run is not credited to its output)."""
    package = REPO / "tempmodels"
    return {str(f.relative_to(REPO)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(package.rglob("*.py"))}


def chapter_key(notebook: Path, profile: str, params: dict, modules: list[str] | None = None,
                sources: dict[str, str] | None = None, notebook_bytes: bytes | None = None) -> str:
    """Content key of what an executed chapter depends on (see the module docstring): with ``modules``
    (the package files its kernel loaded, :mod:`tempmodels.loaded`) only those files' source, else the
    whole package's. ``sources`` and ``notebook_bytes``: the snapshot taken before execution (default:
    the files as they are now)."""
    from .audio.benchmark import DATA_VERSION, espeak_version

    sources = source_snapshot() if sources is None else sources
    h = hashlib.sha256()
    h.update(Path(notebook).read_bytes() if notebook_bytes is None else notebook_bytes)
    for rel in sorted(sources if modules is None else modules):
        h.update(rel.encode() + b"\0" + sources.get(rel, "<missing>").encode())
    pyproject = REPO / "pyproject.toml"
    if pyproject.is_file():
        h.update(pyproject.read_bytes())
    # the profile matters through the parameters it sets (its name too, where a notebook declares `profile`)
    h.update(json.dumps({"params": params, "data_version": DATA_VERSION,
                         "espeak": espeak_version()}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _stamp_path(out_dir: Path, notebook: Path) -> Path:
    return out_dir / ".stamps" / f"{notebook.stem}.json"


def read_stamp(out_dir: Path, notebook: Path) -> dict | None:
    try:
        stamp = json.loads(_stamp_path(out_dir, notebook).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def up_to_date(notebook: Path, out_dir: Path, profile: str, params: dict) -> bool:
    """The output exists and its stamp's key — recomputed now over the modules the chapter loaded
    then — is unchanged."""
    stamp = read_stamp(out_dir, notebook)
    if not (out_dir / notebook.name).is_file() or stamp is None:
        return False
    modules = stamp.get("modules")  # None: a stamp that could not say (keyed on the whole package)
    if modules is not None and not (isinstance(modules, list) and all(isinstance(m, str) for m in modules)):
        return False
    return stamp.get("key") == chapter_key(notebook, profile, params, modules)


def write_stamp(notebook: Path, out_dir: Path, profile: str, params: dict, modules: list[str] | None,
                sources: dict[str, str] | None = None, notebook_bytes: bytes | None = None) -> str:
    """Record what the chapter was executed from (the snapshot taken before it ran); returns its key."""
    key = chapter_key(notebook, profile, params, modules, sources, notebook_bytes)
    with atomic_path(_stamp_path(out_dir, notebook)) as tmp:
        tmp.write_text(json.dumps({"key": key, "profile": profile, "params": params, "modules": modules},
                                  indent=1, default=str))
    return key


def _parse_override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--profiles", type=Path, default=DEFAULT_PROFILES)
    ap.add_argument("--out", type=Path, default=REPO / "book" / "chapters")
    ap.add_argument("--failed", type=Path, default=REPO / "build" / "failed")
    ap.add_argument("-p", "--param", action="append", type=_parse_override, default=[],
                    metavar="NAME=VALUE", help="override one parameter (repeatable)")
    ap.add_argument("--force", action="store_true", help="re-execute even chapters whose inputs did not change")
    ap.add_argument("--timings", type=Path, default=None,
                    help="where to collect the timing events (default build/timings-<profile>.jsonl)")
    args = ap.parse_args(argv)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so a half-written notebook is removed and the last good one kept
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    profiles = load_profiles(args.profiles)
    notebooks = sorted(args.notebooks)
    for nb in notebooks:
        if not nb.is_file():
            ap.error(f"notebook not found: {nb}")
    all_notebooks = chapters(Path(args.profiles).parent)
    check_profiles(all_notebooks or notebooks, profiles)
    plan = [(nb, parameters_for(nb, args.profile, profiles, dict(args.param))) for nb in notebooks]
    out_dir = args.out.resolve()
    for stale in clean_partials(out_dir):  # left by an earlier run killed outright (SIGKILL)
        print(f"removed {stale.name}: a partial notebook of a run that was killed", flush=True)
    timings = Path(os.environ.get(timing.ENV) or args.timings or REPO / "build" / f"timings-{args.profile}.jsonl")
    if not os.environ.get(timing.ENV):  # a fresh file, unless a caller (CI) collects several invocations
        timings.parent.mkdir(parents=True, exist_ok=True)
        timings.unlink(missing_ok=True)
    saved = os.environ.get(timing.ENV)
    os.environ[timing.ENV] = str(timings)  # the kernels inherit it: one file collects every chapter's events
    skipped = []
    try:
        for nb, params in plan:
            if not args.force and up_to_date(nb, out_dir, args.profile, params):
                print(f"== {nb.name}  up to date (notebook, package, parameters and data unchanged): skipped", flush=True)
                skipped.append(nb.stem)
                continue
            print(f"== {nb.name}  profile={args.profile}  params={params}", flush=True)
            start = time.time()
            sources, nb_bytes = source_snapshot(), nb.read_bytes()
            modules_file = timings.parent / f".modules-{nb.stem}-{os.getpid()}.json"
            saved_modules_env = os.environ.get(loaded.ENV)
            os.environ[loaded.ENV] = str(modules_file)
            try:
                out = execute(nb.resolve(), out_dir, params, args.failed.resolve())
            finally:
                if saved_modules_env is None:
                    os.environ.pop(loaded.ENV, None)
                else:
                    os.environ[loaded.ENV] = saved_modules_env
            timing.record("chapter", time.time() - start, name=nb.stem, start=start)
            modules = loaded.read(modules_file)
            modules_file.unlink(missing_ok=True)
            # a kernel that never imported the package depends on none of it; an unreadable list on all of it
            write_stamp(nb, out_dir, args.profile, params, modules, sources, nb_bytes)
            print(f"   wrote {out}", flush=True)
    finally:
        if saved is None:
            os.environ.pop(timing.ENV, None)
        else:
            os.environ[timing.ENV] = saved
    if timings.is_file():
        print(timing.report(timings, f"where the time went, profile {args.profile}"), flush=True)
    if skipped:
        print(f"(up to date, not executed: {', '.join(skipped)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
