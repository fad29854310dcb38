"""Execute the book's notebooks with papermill, the only executor.

    python -m tempmodels.execute --profile cpu notebooks/00_averaging_destroys_time.ipynb

* Profiles live in ``notebooks/profiles.yml``: ``profile -> notebook stem -> parameters``. The
  notebooks' own defaults are the ``quick`` profile. A profile that names a notebook parameter
  the notebook does not declare is an error, raised before anything runs.
* Output is written beside, then renamed over, ``<out>/<stem>.ipynb`` only when the whole notebook
  succeeded; an interrupted or failed run leaves the last good output in place and keeps the
  failed notebook as ``<failed>/<stem>.ipynb`` for inspection.
* Incremental: after a success, ``<out>/.stamps/<stem>.json`` records a content key of everything the
  chapter depends on — the notebook, the package's code, ``pyproject.toml`` (the pinned stack), the
  parameters and profile, the benchmark's data version and the espeak-ng version. A chapter whose
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
import signal
import sys
from pathlib import Path

import yaml

from .atomic import atomic_path, clean_partials, hash_package_source
from .params import ParameterError, validate

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PROFILES = REPO / "notebooks" / "profiles.yml"


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
        except BaseException:
            failed_dir.mkdir(parents=True, exist_ok=True)
            if tmp.exists() and tmp.stat().st_size:
                shutil.copyfile(tmp, failed_dir / notebook.name)
                print(f"FAILED: {notebook} (executed copy kept in {failed_dir / notebook.name}; "
                      f"last good {final} untouched)", file=sys.stderr)
            raise
    return final


def chapter_key(notebook: Path, profile: str, params: dict) -> str:
    """Content key of what an executed chapter depends on (see the module docstring)."""
    from .audio.benchmark import DATA_VERSION, espeak_version

    h = hashlib.sha256()
    h.update(Path(notebook).read_bytes())
    hash_package_source(h)
    pyproject = REPO / "pyproject.toml"
    if pyproject.is_file():
        h.update(pyproject.read_bytes())
    # the profile matters through the parameters it sets (its name too, where a notebook declares `profile`)
    h.update(json.dumps({"params": params, "data_version": DATA_VERSION,
                         "espeak": espeak_version()}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _stamp_path(out_dir: Path, notebook: Path) -> Path:
    return out_dir / ".stamps" / f"{notebook.stem}.json"


def up_to_date(notebook: Path, out_dir: Path, key: str) -> bool:
    stamp = _stamp_path(out_dir, notebook)
    if not (out_dir / notebook.name).is_file() or not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text()).get("key") == key
    except (OSError, ValueError):
        return False


def write_stamp(notebook: Path, out_dir: Path, key: str, profile: str, params: dict) -> None:
    with atomic_path(_stamp_path(out_dir, notebook)) as tmp:
        tmp.write_text(json.dumps({"key": key, "profile": profile, "params": params}, indent=1, default=str))


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
    args = ap.parse_args(argv)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so a half-written notebook is removed and the last good one kept
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    profiles = load_profiles(args.profiles)
    notebooks = sorted(args.notebooks)
    for nb in notebooks:
        if not nb.is_file():
            ap.error(f"notebook not found: {nb}")
    all_notebooks = sorted(Path(args.profiles).parent.glob("[0-9][0-9]_*.ipynb"))
    check_profiles(all_notebooks or notebooks, profiles)
    plan = [(nb, parameters_for(nb, args.profile, profiles, dict(args.param))) for nb in notebooks]
    out_dir = args.out.resolve()
    for stale in clean_partials(out_dir):  # left by an earlier run killed outright (SIGKILL)
        print(f"removed {stale.name}: a partial notebook of a run that was killed", flush=True)
    for nb, params in plan:
        key = chapter_key(nb, args.profile, params)
        if not args.force and up_to_date(nb, out_dir, key):
            print(f"== {nb.name}  up to date (notebook, package, parameters and data unchanged): skipped", flush=True)
            continue
        print(f"== {nb.name}  profile={args.profile}  params={params}", flush=True)
        out = execute(nb.resolve(), out_dir, params, args.failed.resolve())
        write_stamp(nb, out_dir, key, args.profile, params)
        print(f"   wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
