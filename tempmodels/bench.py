"""Bring your own encoder: score an encoder the package has never seen by the book's protocol.

    python -m tempmodels.bench --encoder my_pkg.my_module:MyEncoder --kwargs '{"hidden": 64}' --out report/
    python -m tempmodels.bench --encoder ./my_encoder.py:make_encoder --profile cpu --out report/

``--encoder`` names a class or a factory, as ``module.path:Name`` (importable) or ``file.py:Name``.
Called with ``--kwargs`` — plus ``n_features``, ``n_frames`` and ``d_model`` when its signature takes
them and ``--kwargs`` does not set them — it must return a ``torch.nn.Module`` mapping the frames of
a TR, ``(batch, frames=64, features=128)`` normalised log-mel, to one embedding ``(batch, d_model)``.
:func:`check_contract` tries exactly that on random frames before anything trains, and stops with an
error naming the clause that failed (:class:`ContractError`).

The command then executes the book's template chapter (``notebooks/A2_bring_your_own_encoder.ipynb``)
with papermill at the chosen profile: the encoder trained with the book's decoder, optimizer, budget,
data and seeds; every metric; the reference rows (oracle, floor, PCA-d) and the book's encoders
(mean pooling, flat linear, frame+sinusoidal+strided — from the run cache when a chapter trained
them); the paired comparisons with their CIs; cost per TR; an order probe. It writes
``report.ipynb``, a self-contained ``report.html`` (figures and audio embedded) and the tidy tables
``results.csv``, ``paired.csv`` and ``summary.json``. A second run of the same encoder is served by
the run cache; an interrupted one resumes from ``<out>/checkpoints``.

``--modality video`` applies chapter 08's protocol instead (template
``notebooks/A3_bring_your_own_video_encoder.ipynb``): the factory may take ``n_frames``, ``size``,
``channels`` and ``d_model``, and its module maps ``(batch, frames, channels=1, height, width)``
clips of normalised grey pixels to ``(batch, d_model)``; the report scores reconstruction, optical-flow
agreement and the motion probes against chapter 08's reference rows and encoders.

``--modality joint`` applies chapter 10's protocol (template
``notebooks/A4_bring_your_own_encoder_to_the_joint_model.ipynb``, :mod:`tempmodels.joint_bench`): the
encoder takes one side of chapter 10's multimodal autoencoder (``--side audio``, the audio contract
above, or ``--side video``, the video one), chapter 10's temporal encoder the other, and the report
scores reconstruction per modality and the fMRI head's r per voxel family against the noise ceiling,
beside chapter 10's joint models and the two-stage ridge references.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .encoders import FlatLinear, FramePool, MeanPool
from .encoders.base import TemporalEncoder, shape_string

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "notebooks" / "A2_bring_your_own_encoder.ipynb"
#: the template of each modality's report
TEMPLATES = {"audio": TEMPLATE, "video": REPO / "notebooks" / "A3_bring_your_own_video_encoder.ipynb",
             "joint": REPO / "notebooks" / "A4_bring_your_own_encoder_to_the_joint_model.ipynb"}
#: the shape the audio protocol feeds an encoder: one TR of normalised log-mel
N_FRAMES, N_FEATURES = 64, 128
#: the sizes the runner passes to a class or factory whose signature takes them
SIZES = ("n_features", "n_frames", "d_model")


#: the template's parameters the command sets itself
BENCH_SETS = ("encoder", "encoder_kwargs", "encoder_name", "encoder_side", "out_dir", "checkpoint_dir")


#: what a report folder holds (removed before a rerun writes it again)
REPORT_FILES = ("report.html", "report.ipynb", "results.csv", "paired.csv", "summary.json")


class ContractError(ValueError):
    """The encoder given does not meet the protocol's contract (the message names the clause)."""


# ------------------------------------------------------------------------------------- loading
def resolve(spec: str):
    """The object named by ``module.path:Name`` or ``path/to/file.py:Name`` (``Name`` may be dotted),
    and the source file it came from (None for a built-in)."""
    if not isinstance(spec, str) or spec.count(":") < 1 or not spec.rsplit(":", 1)[1]:
        raise ContractError(f"--encoder must look like 'module.path:Name' or 'file.py:Name', got {spec!r}")
    where, attr = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = locate(spec)
        name = f"tempmodels_bench_user_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[name]
            raise ContractError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            if err.name and not where.startswith(err.name) and not err.name.startswith(where.split(".")[0]):
                raise ContractError(f"importing {where!r} failed: it needs {err.name!r}, which is not installed "
                                    f"({err})") from err
            raise ContractError(f"cannot import module {where!r} (from --encoder {spec!r}): {err}; is it on "
                                "PYTHONPATH, or give the file: path/to/file.py:Name") from err
        except Exception as err:
            raise ContractError(f"importing {where!r} failed: {type(err).__name__}: {err}") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            have = sorted(n for n in dir(module) if not n.startswith("_"))
            raise ContractError(f"{where} has no attribute {attr!r}; it defines {have}")
        obj = getattr(obj, part)
    try:  # the file that defines the object (not a package's __init__ that re-exports it)
        source = inspect.getsourcefile(obj) or getattr(module, "__file__", None)
    except TypeError:
        source = getattr(module, "__file__", None)
    return obj, (Path(source) if source else None)


def locate(spec: str) -> Path:
    """The absolute path of a ``file.py:Name`` spec's file: from the working directory, else from the
    repository root (the template's default); a :class:`ContractError` naming both when neither has it."""
    where = spec.rsplit(":", 1)[0]
    path = Path(where).expanduser()
    if not path.is_absolute() and not path.is_file() and (REPO / path).is_file():
        path = REPO / path
    path = path.resolve()
    if not path.is_file():
        raise ContractError(f"encoder file not found: {path} (from --encoder {spec!r}; a relative path is "
                            f"looked up from the working directory {Path.cwd()}, then from {REPO})")
    return path


def audio_sizes(d_model: int) -> dict[str, int]:
    """The sizes the audio protocol passes to a factory whose signature takes them."""
    return {"n_features": N_FEATURES, "n_frames": N_FRAMES, "d_model": d_model}


def _call_kwargs(factory, kwargs: dict, d_model: int, sizes: dict[str, int] | None = None) -> dict:
    """``kwargs`` plus the protocol's ``sizes`` (default: the audio ones) the factory's signature takes;
    every required parameter bound."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: pass what was given
        return dict(kwargs)
    sizes = sizes or audio_sizes(d_model)
    fixed = [k for k in kwargs if k in sizes]
    if fixed:
        given = ", ".join(f"{k} = {v}" for k, v in sizes.items() if k != "d_model")
        raise ContractError(f"--kwargs sets {fixed}: the protocol fixes {given} and passes d_model itself "
                            "(choose it with -p d_model=...)")
    params = sig.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params and not takes_any]
    if unknown:
        raise ContractError(f"{_name(factory)} takes no parameter(s) {unknown}; its signature is {sig}")
    out = {k: v for k, v in sizes.items() if k in params and k not in kwargs} | dict(kwargs)
    missing = [n for n, p in params.items() if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                                    p.KEYWORD_ONLY) and n not in out]
    if missing:
        raise ContractError(f"{_name(factory)} needs the argument(s) {missing}, not given: pass them with --kwargs "
                            f"'{json.dumps({m: '...' for m in missing})}' (its signature is {sig})")
    return out


def _name(obj) -> str:
    return getattr(obj, "__qualname__", type(obj).__name__)


class ForeignEncoder(TemporalEncoder):
    """A user's module as a :class:`TemporalEncoder`: the book's input check before it, the output
    contract (a finite ``(batch, d_model)`` tensor) after it."""

    def __init__(self, inner: nn.Module, d_model: int, n_features: int = N_FEATURES, n_frames: int = N_FRAMES):
        super().__init__(n_features, n_frames, d_model)
        self.inner = inner

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        want = (x.shape[0], self.d_model)
        if not isinstance(out, torch.Tensor):
            raise ContractError(f"{type(self.inner).__name__}.forward must return a tensor shaped (batch, d_model="
                                f"{self.d_model}), got {type(out).__name__}")
        if tuple(out.shape) != want:
            raise ContractError(f"{type(self.inner).__name__} must map {shape_string(self.dims)} to (batch, d_model="
                                f"{self.d_model}); for input {tuple(x.shape)} it returned {tuple(out.shape)}, expected "
                                f"{want}")
        return out


def load(spec: str, kwargs: dict | None = None, d_model: int = 128, sizes: dict[str, int] | None = None,
         wrap: Callable[[nn.Module], nn.Module] | None = None) -> Callable[[], nn.Module]:
    """A builder (called once per seed, under that seed) of the encoder ``spec`` names, wrapped in
    :class:`ForeignEncoder` — or, for another modality, called with its ``sizes`` and wrapped by its
    ``wrap`` (:mod:`tempmodels.video.bench`). Errors (:class:`ContractError`) come before anything is built."""
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ContractError(f"--kwargs must be a JSON object of keyword arguments, got {kwargs!r}")
    factory, _ = resolve(spec)
    if isinstance(factory, nn.Module):
        raise ContractError(f"{spec} is a module instance; pass its class or a factory, so that each seed builds "
                            "fresh weights under its own seed")
    if not callable(factory):
        raise ContractError(f"{spec} is a {type(factory).__name__}, not a class or a factory returning an nn.Module")
    call = _call_kwargs(factory, kwargs or {}, d_model, sizes)
    wrap = wrap or (lambda inner: ForeignEncoder(inner, d_model))

    def build() -> nn.Module:
        try:
            inner = factory(**call)
        except Exception as err:
            raise ContractError(f"{spec}(**{call}) failed: {type(err).__name__}: {err}") from err
        if not isinstance(inner, nn.Module):
            raise ContractError(f"{spec}(**{call}) returned a {type(inner).__name__}, not a torch.nn.Module")
        return wrap(inner)

    source = _source_of(factory)
    # what the run cache keys the user's runs on: the spec, the arguments and the source as it was loaded
    build.spec, build.kwargs = spec, call
    build.source_digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16] if source else ""
    return build


def _source_of(obj) -> Path | None:
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:
        return None
    return Path(source) if source and Path(source).is_file() else None


# ------------------------------------------------------------------------------------- contract
def check_contract(build: Callable[[], nn.Module], d_model: int, batch: int = 3, seed: int = 0) -> pd.DataFrame:
    """Each clause of the contract (the shape is the built encoder's ``dims``: one TR of log-mel, or
    one clip) tried on random input: a table (clause, result), or a :class:`ContractError` naming the
    first that fails."""
    from .repro import seed_everything

    rows = []
    seed_everything(seed)
    model = build()  # a failing constructor is a ContractError (load)
    inner = getattr(model, "inner", model)
    rows.append(("builds a torch.nn.Module", type(inner).__name__))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not trainable:
        raise ContractError(f"{type(inner).__name__} has no trainable parameters: the protocol trains it with AdamW")
    rows.append(("has trainable parameters", f"{trainable:,}"))
    x = torch.randn(batch, *(n for _, n in model.dims))
    try:
        out = model(x)
    except ContractError:
        raise
    except Exception as err:
        raise ContractError(f"{type(inner).__name__}.forward failed on {shape_string(model.dims)} (batch={batch}): "
                            f"{type(err).__name__}: {err}") from err
    sizes = ", ".join(f"{n} {name}" for name, n in model.dims)
    rows.append((f"maps (batch, {sizes}) to (batch, d_model)", f"{tuple(x.shape)} → {tuple(out.shape)}"))
    if out.dtype != torch.float32:
        raise ContractError(f"{type(inner).__name__} returned {out.dtype}; the protocol trains in float32 (autocast "
                            "is the trainer's business)")
    if not torch.isfinite(out).all():
        raise ContractError(f"{type(inner).__name__} returned non-finite values (NaN or inf) for finite input "
                            f"{tuple(x.shape)}")
    rows.append(("finite output, float32", "yes"))
    if not out.requires_grad:
        raise ContractError(f"no gradient reaches {type(inner).__name__}'s parameters from its output: "
                            "is the output detached (or computed under torch.no_grad)?")
    try:
        out.square().mean().backward()
    except Exception as err:
        raise ContractError(f"backward through {type(inner).__name__} failed: {type(err).__name__}: {err}") from err
    reached = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    if not reached:
        raise ContractError(f"no gradient reaches {type(inner).__name__}'s parameters from its output: "
                            "is the output detached?")
    rows.append(("gradient reaches its parameters", f"{len(reached)} of {len(list(model.parameters()))} tensors"))
    seed_everything(seed)
    again = build()
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    if not same:
        raise ContractError(f"{type(inner).__name__} builds different weights under the same seed: it draws from "
                            "a random source other than torch's, numpy's and Python's seeded generators, so its "
                            "runs are neither reproducible nor comparable seed for seed")
    rows.append(("same weights for the same seed", "yes"))
    return pd.DataFrame(rows, columns=["clause", "result"]).set_index("clause")


# ------------------------------------------------------------------------------------- the protocol
def book_encoders(d_model: int, frame_hidden: int) -> dict[str, Callable[[], TemporalEncoder]]:
    """The book's encoders every report includes, defined exactly as chapter 01 defines them, so their
    runs are the chapter's (from the run cache when it has trained them at the same profile)."""
    F, T = N_FEATURES, N_FRAMES
    return {
        "mean pool": lambda: MeanPool(F, T, d_model),
        "flat linear": lambda: FlatLinear(F, T, d_model),
        "frame+sinusoidal+strided": lambda: FramePool(F, T, d_model, frame_hidden, positional="sinusoidal",
                                                      pool="strided"),
    }


def run(name: str, build: Callable[[], TemporalEncoder], data, cfg, seeds: list[int], vocoder, recognizer,
        d_model: int, frame_hidden: int, checkpoint_dir: str | Path | None = None):
    """The user's encoder and :func:`book_encoders` through :func:`tempmodels.experiment.run_all`, the
    runner of every chapter: (results, histories, fits) over all of them. The user's runs are cached
    under a key that includes its source file's digest (:func:`source_digest`)."""
    from .experiment import run_all

    book = book_encoders(d_model, frame_hidden)
    check_name(name)
    parts = [run_all({name: build}, data, cfg, seeds, vocoder, recognizer, d_model, checkpoint_dir=checkpoint_dir,
                     cache_tag=user_tag(build, name)),
             run_all(book, data, cfg, seeds, vocoder, recognizer, d_model, checkpoint_dir=checkpoint_dir)]
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    histories = pd.concat([p[1] for p in parts], ignore_index=True)
    return results, histories, {**parts[0][2], **parts[1][2]}


def user_tag(build: Callable, name: str) -> str:
    """The run-cache tag of a user's encoder (from :func:`load`): its spec, arguments and source digest."""
    return (f"bench|{getattr(build, 'spec', name)}|{json.dumps(getattr(build, 'kwargs', {}), sort_keys=True, default=str)}"
            f"|{getattr(build, 'source_digest', '')}")


def check_name(name: str, book: list[str] | None = None) -> str:
    """``name`` itself, unless it is a row the report already has (a reference row or one of ``book``,
    the book's encoders in the report; default: the audio report's)."""
    from .experiment import REFERENCE_ROWS

    taken = [*REFERENCE_ROWS, *(book if book is not None else book_encoders(8, 8))]
    if not name or name in taken:
        raise ContractError(f"the encoder's name {name!r} is taken by a row of the report {taken}: pass another --name")
    return name


@torch.no_grad()
def order_probe(models: dict[str, nn.Module], x: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """How much each encoder's embedding moves when the frames inside every TR are shuffled: the
    relative change ‖f(x) − f(shuffled x)‖ / ‖f(x)‖ over the test TRs (0: order-blind, like averaging)."""
    g = torch.Generator().manual_seed(seed)
    shuffled = x[:, torch.randperm(x.shape[1], generator=g)]
    rows = {}
    for name, m in models.items():
        m.eval()
        device = next(m.parameters()).device
        e, s = m(x.to(device)).cpu(), m(shuffled.to(device)).cpu()
        rows[name] = float((e - s).norm() / e.norm().clamp_min(1e-12))
    return pd.Series(rows, name="relative change when frames are shuffled").to_frame()


def verdict_lines(name: str, results: pd.DataFrame, reference: pd.DataFrame, units: pd.DataFrame,
                  others: list[str], histories: pd.DataFrame | None = None, epochs: int | None = None,
                  metrics=("test_mse", "temporal_detail_r", "stoi", "wer")) -> list[str]:
    """The report's conclusion in words, every verdict from a paired CI (:func:`results.compare`);
    with ``histories`` and ``epochs``, a closing line when the budget ended while runs still improved."""
    from . import results as R

    gap = R.gap_share(results, reference, "test_mse")
    lines = [f"* **{name}** {R.position(gap.loc[name, 'mean'], R.compare(units, name, R.FLOOR, 'test_mse'))}."]
    for other in [R.PCA, *others]:
        cells = [f"{m} Δ {R.compare(units, name, other, m).text()}" for m in metrics]
        lines.append(f"* against **{other}**: " + "; ".join(cells) + ".")
    if histories is not None and epochs is not None:
        conv = R.convergence_summary(histories, epochs)["still improving"]
        still = {e: v for e, v in conv.items() if not str(v).startswith("0 of")}
        if still:
            lines.append(f"* **The budget**: {epochs} epochs ended while validation loss was still improving for "
                         + ", ".join(f"{e} ({v})" for e, v in still.items())
                         + ": these verdicts hold at this budget; a longer one (a larger profile, or "
                           "`-p epochs=...`) may move them.")
    return lines


def write_tables(out_dir: str | Path, name: str, results: pd.DataFrame, reference: pd.DataFrame, units: pd.DataFrame,
                 others: list[str], extra: dict | None = None,
                 metrics=("test_mse", "temporal_detail_r", "reversed_detail_r", "stoi", "wer"),
                 versus: dict[str, tuple] | None = None) -> dict[str, Path]:
    """The tidy results beside the report: every run's metrics and the reference rows (results.csv),
    the paired comparisons of ``name`` against each other row (paired.csv), and summary.json.
    ``versus`` (other row -> its metrics) replaces the default pairs: PCA-d, the floor and ``others``,
    each on every one of ``metrics``."""
    from . import results as R
    from .atomic import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tidy = pd.concat([reference.assign(kind="reference"), results.assign(kind="trained")], ignore_index=True)
    rows = []
    versus = versus if versus is not None else {other: tuple(metrics) for other in [R.PCA, R.FLOOR, *others]}
    for other, other_metrics in versus.items():
        for m in other_metrics:
            p = R.compare(units, name, other, m)
            rows.append({"encoder": name, "versus": other, "metric": m, "difference": p.difference,
                         "ci_low": p.ci_low, "ci_high": p.ci_high, "verdict": p.verdict, "seeds": p.seeds,
                         "units": p.units})
    paired = pd.DataFrame(rows)
    summary = {"encoder": name, **(extra or {}),
               "mean_over_seeds": results[results.encoder == name].groupby("metric").value.mean().to_dict(),
               "paired": rows}
    paths = {"results": out / "results.csv", "paired": out / "paired.csv", "summary": out / "summary.json"}
    for key, frame in (("results", tidy), ("paired", paired)):
        with atomic_path(paths[key]) as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(paths["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=_jsonable))
    return paths


def _jsonable(v):
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return str(v)


# ------------------------------------------------------------------------------------- the command
def html_report(notebook: Path, html: Path) -> Path:
    """The executed notebook as one HTML file, its figures and audio embedded (no files beside it)."""
    import nbformat
    from nbconvert import HTMLExporter

    from .atomic import atomic_path

    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html


def _load_for(modality: str, spec: str, kwargs: dict, params: dict) -> tuple[Callable[[], nn.Module], list[str]]:
    """The user's builder for ``modality`` at the template's ``params``, and the names of the book's
    encoders in that report (a user's encoder may not take one)."""
    if modality == "joint":
        from . import joint_bench
        from .video.sprites import VideoConfig

        cfg = VideoConfig(n_trs=params["n_trs"], seed=params["data_seed"], size=params["size"], fps=params["fps"])
        video_shape = (cfg.frames_per_tr, 1, cfg.size, cfg.size)
        build = joint_bench.load(spec, kwargs, params["encoder_side"], (N_FRAMES, N_FEATURES), video_shape,
                                 params["d_model"])
        return build, list(joint_bench.BOOK)
    if modality == "video":
        from .video import bench as video_bench
        from .video.sprites import VideoConfig

        cfg = VideoConfig(n_trs=params["n_trs"], seed=params["data_seed"], size=params["size"], fps=params["fps"],
                          sprite_scale=params["sprite_scale"])
        book = video_bench.book_encoders(cfg.frames_per_tr, cfg.size, params["d_model"], params["cnn_width"],
                                         params["s3d_widths"])
        return video_bench.load(spec, kwargs, cfg.frames_per_tr, cfg.size, params["d_model"]), list(book)
    return load(spec, kwargs, params["d_model"]), list(book_encoders(params["d_model"], params["frame_hidden"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tempmodels.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", required=True, help="module.path:Name or path/to/file.py:Name (class or factory)")
    ap.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments for it")
    ap.add_argument("--name", default="", help="its name in the tables (default: Name)")
    ap.add_argument("--modality", default="audio", choices=["audio", "video", "joint"])
    ap.add_argument("--side", default="audio", choices=["audio", "video"],
                    help="--modality joint: the side of chapter 10's joint model the encoder takes")
    ap.add_argument("--profile", default="quick", choices=["quick", "cpu", "gpu"])
    ap.add_argument("--out", type=Path, required=True, help="folder for report.html, report.ipynb and the tables")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override one of the template's parameters, e.g. -p epochs=30 (repeatable)")
    args = ap.parse_args(argv)
    if args.side != "audio" and args.modality != "joint":
        ap.error(f"--side {args.side}: only --modality joint has sides (the {args.modality} protocol scores a "
                 f"{args.modality} encoder)")
    template = TEMPLATES[args.modality]
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as err:
        ap.error(f"--kwargs is not valid JSON ({err}): {args.kwargs!r}")
    from .execute import _parse_override, declared_parameters, execute, load_profiles, parameters_for
    from .params import ParameterError

    overrides = {}
    settable = sorted(k for k in declared_parameters(template) if k not in BENCH_SETS)
    for text in args.param:
        if "=" not in text:
            ap.error(f"-p {text!r}: expected NAME=VALUE")
        key, value = _parse_override(text)
        if key not in settable:
            ap.error(f"-p {text}: the template's parameters you may set are {settable}")
        overrides[key] = value
    try:
        params = {**declared_parameters(template), **parameters_for(template, args.profile, load_profiles(), overrides)}
    except ParameterError as err:
        ap.error(str(err))
    if args.modality == "joint":
        params["encoder_side"] = args.side
    try:
        build, book = _load_for(args.modality, args.encoder, kwargs, params)
        name = check_name(args.name or _name(resolve(args.encoder)[0]).split(".")[-1], book)
        print(check_contract(build, params["d_model"]).to_string(), flush=True)
    except ContractError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    spec = args.encoder
    if spec.rsplit(":", 1)[0].endswith(".py"):  # the template's kernel runs in notebooks/: an absolute path
        spec = f"{locate(spec)}:{spec.rsplit(':', 1)[1]}"
    # ... and finds importable modules where this command did (its working directory first)
    os.environ["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stale = [out / f for f in REPORT_FILES if (out / f).exists()]
    for f in stale:  # a failed rerun must not leave the last report looking like this one's
        f.unlink()
    if stale:
        print(f"removed the previous report's {', '.join(f.name for f in stale)} from {out}", flush=True)
    params.update(encoder=spec, encoder_kwargs=json.dumps(kwargs), encoder_name=name,
                  out_dir=str(out), checkpoint_dir=str(out / "checkpoints"))
    try:
        notebook = execute(template, out, params, out / "failed")
    except Exception as err:
        print(f"error: the report failed while running ({type(err).__name__}); the executed part is in "
              f"{out / 'failed' / template.name}", file=sys.stderr)
        return 1
    final = out / "report.ipynb"
    notebook.replace(final)
    html = html_report(final, out / "report.html")
    print(f"report: {html}\nnotebook: {final}\ntables: {', '.join(str(out / f) for f in REPORT_FILES[2:])}")
    return 0


if __name__ == "__main__":
    # run the importable module's main, not this __main__ copy: the modality wings (video.bench,
    # joint_bench) raise tempmodels.bench.ContractError, which a __main__.ContractError would not catch
    from tempmodels.bench import main as _main

    sys.exit(_main())
