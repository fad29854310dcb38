"""The fair comparison every chapter runs: same data, decoder, optimizer, budget and seeds for
each encoder; results as a tidy table (one row per encoder x seed x metric).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .audio.asr import GridRecognizer
from .audio.benchmark import AudioBenchmark
from .decoder import Autoencoder, MelDecoder
from .encoders.base import TemporalEncoder
from .audio.evaluation import evaluate
from .audio.melspec import GriffinLimVocoder
from . import run_cache
from .normalize import BandNormalizer
from .probes import linear_probe_accuracy
from .metrics import temporal_detail_r, temporal_detail_r_per_tr
from .results import per_tr_squared_error, units_frame
from .timing import record, timed, timed_as
from .training import FitResult, TrainConfig, fit

METRICS = ("test_mse", "temporal_detail_r", "reversed_detail_r", "modulation_r", "wer", "stoi", "speaker_acc")


#: the key of a score dict that holds the per-unit scores ({metric: array}) instead of a number
UNITS = "per_unit"


@dataclass
class AudioData:
    """Normalised train / val / test log-mel of a benchmark (statistics from train only)."""

    bench: AudioBenchmark
    norm: BandNormalizer
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    @classmethod
    def from_bench(cls, bench: AudioBenchmark) -> "AudioData":
        norm = BandNormalizer(bench.split("train"))
        return cls(bench, norm, norm(bench.split("train")), norm(bench.split("val")), norm(bench.split("test")))

    def speaker_mask(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Indices (within the split) of TRs mostly filled by one speaker, and their labels."""
        trs = self.bench.trs.loc[self.bench.splits[split]].reset_index(drop=True)
        keep = (trs.speech_fraction > 0.5) & (trs.speaker != "")
        return np.flatnonzero(keep.to_numpy()), trs.speaker[keep].to_numpy()


@torch.no_grad()
def _batched(fn: Callable[[torch.Tensor], torch.Tensor], model: Autoencoder, x: torch.Tensor,
             batch: int = 256) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in eval mode, batch by batch on the model's device; result on CPU."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([fn(x[i : i + batch].to(dev)).cpu() for i in range(0, len(x), batch)])


def embed(model: Autoencoder, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return _batched(model.embed, model, x, batch)


def pool_weights(model: Autoencoder, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The attention weights of the encoder's readout (``encoder.pool.last_weights``) for every TR
    of ``x``, collected batch by batch, on the CPU: (TR, T) for a pool, (TR, queries, T) for queries."""
    pool = getattr(model.encoder, "pool", None)
    if pool is None or not hasattr(pool, "last_weights"):
        raise TypeError(f"{type(model.encoder).__name__} has no attention readout with weights to show")

    def weights(xb):
        model.encoder(xb)
        return pool.last_weights

    return _batched(weights, model, x, batch)


def reconstruct(model: Autoencoder, data: AudioData, split: str, batch: int = 256) -> torch.Tensor:
    """Decoded log-mel of ``split`` in original (un-normalised) units, (TR, frames, mels)."""
    return data.norm.inverse(_batched(model, model, getattr(data, split), batch))


def reversed_detail_r(model: Autoencoder | Callable[[torch.Tensor], torch.Tensor], data: AudioData,
                      split: str = "test") -> float:
    """Temporal-detail r on time-reversed TRs (input and target both reversed within each TR).

    A decoder can learn to guess frame order from content alone when the content is predictable
    (GRID's fixed word order, sentence prosody), which credits even an order-blind encoder.
    Reversed speech breaks those priors: only order carried by the embedding still scores here,
    and an order-blind encoder scores at or below 0. ``model`` is an autoencoder or any function
    from normalised TRs to their normalised reconstruction (e.g. ``PCACode.reconstruct``).
    """
    return temporal_detail_r(*_reversed_pair(model, data, split))


def _reversed_pair(model, data: AudioData, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, target) of the time-reversed TRs of ``split``, in log-mel units."""
    fn = _as_reconstructor(model)
    x = getattr(data, split).flip(1)
    return data.norm.inverse(fn(x)), data.norm.inverse(x)


def _as_reconstructor(model) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(model, nn.Module):
        return lambda x: _batched(model, model, x)
    if callable(model):
        return model
    raise TypeError(f"expected an Autoencoder or a function of normalised TRs, got {type(model).__name__}")


def build_autoencoder(build_encoder: Callable[[], TemporalEncoder], d_model: int, decoder_channels: int = 128
                      ) -> Callable[[], Autoencoder]:
    """The decoder is built first so its initial weights are identical for every encoder at a given seed."""

    def build() -> Autoencoder:
        decoder = MelDecoder(d_model=d_model, channels=decoder_channels)
        return Autoencoder(build_encoder(), decoder)

    return build


def score_codec(recon_fn: Callable[[torch.Tensor], torch.Tensor], embed_fn: Callable[[torch.Tensor], torch.Tensor],
                data: AudioData, vocoder: GriffinLimVocoder, recognizer: GridRecognizer, split: str = "test",
                asr: bool = True) -> dict[str, float]:
    """Score any code of the TRs — a trained autoencoder or a closed-form one such as PCA-d — by one
    protocol: ``recon_fn`` maps normalised TRs to their normalised reconstruction, ``embed_fn`` to
    the TR embedding (for the speaker probe). ``out[UNITS]`` holds the per-unit scores behind the
    metrics (per TR: test MSE, temporal-detail r forward and reversed; per sentence: WER, STOI), for
    paired comparisons (:func:`tempmodels.results.compare`)."""
    x = getattr(data, split)
    recon = recon_fn(x)
    units: dict[str, np.ndarray] = {}
    out = evaluate(data.norm.inverse(recon), data.bench, split, vocoder, recognizer, asr=asr, units=units)
    rev = _reversed_pair(recon_fn, data, split)
    out["reversed_detail_r"] = temporal_detail_r(*rev)
    out["test_mse"] = float(((recon.double() - x.double()) ** 2).mean())
    units["reversed_detail_r"] = temporal_detail_r_per_tr(*rev)
    units["test_mse"] = per_tr_squared_error(recon, x)
    out[UNITS] = units
    tr_idx, tr_lab = data.speaker_mask("train")
    te_idx, te_lab = data.speaker_mask(split)
    if len(te_idx) and len(np.unique(tr_lab)) > 1:
        out["speaker_acc"] = linear_probe_accuracy(embed_fn(data.train[tr_idx]), tr_lab,
                                                   embed_fn(x[te_idx]), te_lab)
    return out


def score(model: Autoencoder, data: AudioData, vocoder: GriffinLimVocoder, recognizer: GridRecognizer,
          split: str = "test", asr: bool = True) -> dict[str, float]:
    return score_codec(_as_reconstructor(model), lambda x: embed(model, x), data, vocoder, recognizer, split, asr)


def run_encoder(name: str, build_encoder: Callable[[], TemporalEncoder], data: AudioData, cfg: TrainConfig,
                seeds: list[int], vocoder: GriffinLimVocoder | None, recognizer: GridRecognizer | None, d_model: int,
                asr: bool = True, checkpoint_dir: str | Path | None = None, progress: bool = True,
                build_model: Callable[[Callable[[], nn.Module], int], Callable[[], nn.Module]] | None = None,
                score_fn: Callable[[nn.Module], dict[str, float]] | None = None, cache_tag: str = "",
                fit_data: tuple[torch.Tensor, torch.Tensor] | None = None,
                loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, FitResult]]:
    """Train ``name`` once per seed; return (results, histories, fits).

    A run identical in every input to one trained before (in any chapter) is loaded from the run
    cache (:mod:`tempmodels.run_cache`) instead of being trained and scored again.

    Other modalities pass ``build_model(build_encoder, d_model)`` (the autoencoder around the encoder:
    default :func:`build_autoencoder`, the log-mel decoder) and ``score_fn(model)`` (default
    :func:`score`, the audio metrics); ``cache_tag`` keeps their cache keys apart. ``fit_data`` (train,
    validation) replaces ``data.train``/``data.val`` as what the model is fitted on (e.g. multi-TR
    windows, :mod:`tempmodels.context`); ``loss_fn`` replaces the training loss (e.g. distillation,
    a callable with a ``cache_tag`` attribute naming what it computes — its teacher's weights — or the
    run is not cached). Both are part of the cache key.
    """
    rows, hists, fits = [], [], {}
    train_x, val_x = fit_data if fit_data is not None else (data.train, data.val)
    keyed = data if fit_data is None else _FitData(train_x, val_x, data.test)
    # a loss is cached only when it says what it computes (``loss_fn.cache_tag``, e.g. the teacher's digest)
    cacheable = loss_fn is None or hasattr(loss_fn, "cache_tag")
    tag = cache_tag if loss_fn is None else f"{cache_tag}|loss={getattr(loss_fn, 'cache_tag', '')}"
    for seed in seeds:
        run_cfg = TrainConfig(**{**cfg.__dict__, "seed": int(seed)})
        ckpt = Path(checkpoint_dir) / f"{name}-seed{seed}.pt" if checkpoint_dir else None
        build = (build_model or build_autoencoder)(build_encoder, d_model)
        key = run_cache.run_key(build, int(seed), keyed, run_cfg, vocoder, asr, extra=tag) \
            if run_cache.cache_dir() and cacheable else None
        t0 = time.perf_counter()
        entry = run_cache.load(key) if key else None
        if entry is not None:
            with torch.random.fork_rng(devices=[]):  # building draws random numbers; the restored state must not move
                model = build()
            model.load_state_dict(entry["state"])
            res = FitResult(model.to(run_cfg.device).eval(), entry["history"], entry["best_epoch"], entry["best_val"],
                            None, entry["batchnorm"])
            metrics = dict(entry["metrics"])
            record("cached", time.perf_counter() - t0)
        else:
            res = fit(build, train_x, val_x, run_cfg, checkpoint=ckpt, progress=progress, desc=f"{name} seed {seed}",
                      loss_fn=loss_fn)
            with timed("score"):
                metrics = score_fn(res.model) if score_fn else score(res.model, data, vocoder, recognizer, asr=asr)
            metrics["best_val_loss"] = res.best_val
            if key:
                run_cache.store(key, res.model, res.history, res.best_epoch, res.best_val, res.batchnorm, metrics)
        res.units = metrics.pop(UNITS, {})  # per-unit scores, for paired comparisons (units_of)
        fits[seed] = res
        rows += [{"encoder": name, "seed": seed, "metric": k, "value": v} for k, v in metrics.items()]
        hists.append(res.history.assign(encoder=name, seed=seed))
    return pd.DataFrame(rows), pd.concat(hists, ignore_index=True), fits


def units_of(fits: dict[str, dict[int, FitResult]]) -> pd.DataFrame:
    """The per-unit scores of trained runs ({encoder: {seed: FitResult}}, as :func:`run_all` returns)
    as one long table (encoder, seed, metric, unit, value), for :func:`tempmodels.results.compare`."""
    parts = [units_frame(f.units, enc, seed) for enc, by_seed in fits.items() for seed, f in by_seed.items() if f.units]
    if not parts:
        raise ValueError("these runs carry no per-unit scores (their score function records none)")
    return pd.concat(parts, ignore_index=True)


@dataclass
class _FitData:
    """What a run is fitted on when it is not ``data.train``/``data.val`` (the run key hashes these)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


PCA_ROW = "PCA-d"
REFERENCE_ROWS = ("oracle", "floor (TR mean)", PCA_ROW)


@timed_as("references")
def reference_rows(data: AudioData, vocoder: GriffinLimVocoder, recognizer: GridRecognizer, d_model: int | None = None,
                   split: str = "test", asr: bool = True, with_units: bool = False):
    """The reference rows of every results table, scored like any encoder:

    * ``oracle`` — the original log-mel; ``floor (TR mean)`` — each TR replaced by its mean frame
      (its speaker probe reads the raw mean frame: what frame averaging hands a linear read-out);
    * ``PCA-d`` (with ``d_model``) — the optimal linear code of ``d_model`` numbers, fit on the
      training TRs (:class:`~tempmodels.pca_code.PCACode`); its ``d_effective`` is recorded too.

    They depend on the data and the scoring set-up only: each is computed once and then taken from
    the run cache (:func:`tempmodels.run_cache.cached_table`), in whichever chapter asks next.
    ``with_units=True`` returns (rows, per-unit scores) — the latter for
    :func:`tempmodels.results.compare` (seed -1: the same in every seed).
    """
    got = run_cache.cached_table("reference_rows", data, vocoder, asr,
                                 lambda: _oracle_and_floor_rows(data, vocoder, recognizer, split, asr), split=split)
    parts = [got]
    if d_model is not None:
        parts.append(pca_rows(data, vocoder, recognizer, d_model, split, asr, with_units=True))
    table = pd.concat([t for t, _ in parts], ignore_index=True)
    units = pd.concat([u for _, u in parts], ignore_index=True)
    return (table, units) if with_units else table


def _oracle_and_floor_rows(data: AudioData, vocoder: GriffinLimVocoder, recognizer: GridRecognizer, split: str,
                           asr: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    from .metrics import tr_mean_floor

    orig = data.bench.split(split)
    rows, units = [], []
    for name, recon in (("oracle", orig), ("floor (TR mean)", tr_mean_floor(orig))):
        u: dict[str, np.ndarray] = {}
        m = evaluate(recon, data.bench, split, vocoder, recognizer, asr=asr, units=u)
        # both are exact functions of the input: the same on reversed TRs
        m["reversed_detail_r"], u["reversed_detail_r"] = m["temporal_detail_r"], u["temporal_detail_r"]
        m["test_mse"] = float(((data.norm(recon) - getattr(data, split)) ** 2).mean())
        u["test_mse"] = per_tr_squared_error(data.norm(recon), getattr(data, split))
        rows += [{"encoder": name, "seed": -1, "metric": k, "value": v} for k, v in m.items()]
        units.append(units_frame(u, name, -1))
    tr_idx, tr_lab = data.speaker_mask("train")
    te_idx, te_lab = data.speaker_mask(split)
    if len(te_idx) and len(np.unique(tr_lab)) > 1:
        acc = linear_probe_accuracy(data.train[tr_idx].mean(1), tr_lab, getattr(data, split)[te_idx].mean(1), te_lab)
        rows.append({"encoder": "floor (TR mean)", "seed": -1, "metric": "speaker_acc", "value": acc})
    return pd.DataFrame(rows), pd.concat(units, ignore_index=True)


@timed_as("references")
def pca_rows(data: AudioData, vocoder: GriffinLimVocoder, recognizer: GridRecognizer, d: int, split: str = "test",
             asr: bool = True, with_units: bool = False):
    """PCA-d scored like any encoder (reversed-TR control and speaker probe on its codes included);
    computed once per data, ``d`` and scoring set-up, then taken from the run cache.
    ``with_units=True`` returns (rows, per-unit scores)."""
    from .pca_code import PCACode

    def compute() -> tuple[pd.DataFrame, pd.DataFrame]:
        pca = PCACode(data.train, d)
        m = score_codec(pca.reconstruct, pca.encode, data, vocoder, recognizer, split, asr)
        units = units_frame(m.pop(UNITS), PCA_ROW, -1)
        m["d_effective"] = pca.d_effective
        return pd.DataFrame([{"encoder": PCA_ROW, "seed": -1, "metric": k, "value": v} for k, v in m.items()]), units

    table, units = run_cache.cached_table("pca_rows", data, vocoder, asr, compute, d=int(d), split=split)
    return (table, units) if with_units else table


def summarize(results: pd.DataFrame, metrics=METRICS, digits: int = 3) -> pd.DataFrame:
    """encoder x metric table of 'mean ± sd (n)' over seeds (reference rows show their one value)."""
    r = results[results.metric.isin(metrics)]
    g = r.groupby(["encoder", "metric"], sort=False).value
    stats = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.size()}).reset_index()

    def fmt(row):
        if row.n == 1:
            return f"{row['mean']:.{digits}f}"
        return f"{row['mean']:.{digits}f} ± {row['sd']:.{digits}f}"

    stats["cell"] = stats.apply(fmt, axis=1)
    order = [m for m in metrics if m in set(stats.metric)]
    return stats.pivot(index="encoder", columns="metric", values="cell").reindex(
        index=list(dict.fromkeys(stats.encoder)), columns=order).fillna("—")


def paired_vs(results: pd.DataFrame, baseline: str, metric: str, higher_is_better: bool = True) -> pd.DataFrame:
    """Per-seed paired difference of each encoder against ``baseline`` (same seeds, same data).

    ``change_%`` is relative to the baseline's mean; for a lower-is-better metric (MSE, WER) a
    positive change means an improvement (a reduction).
    """
    r = results[(results.metric == metric) & (results.seed >= 0)].pivot(index="seed", columns="encoder", values="value")
    if baseline not in r:
        raise KeyError(f"baseline {baseline!r} not in results; have {list(r.columns)}")
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for enc in r.columns:
        if enc == baseline:
            continue
        d = sign * (r[enc] - r[baseline]).dropna()
        base = abs(r[baseline].mean())
        rows.append({"encoder": enc, "metric": metric, "improvement": d.mean(), "sd": d.std(ddof=1),
                     "seeds": len(d), "better_in_all_seeds": bool((d > 0).all()),
                     "change_%": 100 * d.mean() / base if base > 0 else float("nan")})
    return pd.DataFrame(rows).set_index("encoder")


def run_all(specs: dict[str, Callable[[], TemporalEncoder]], data: AudioData, cfg: TrainConfig, seeds: list[int],
            vocoder: GriffinLimVocoder | None, recognizer: GridRecognizer | None, d_model: int, asr: bool = True,
            checkpoint_dir: str | Path | None = None, progress: bool = True, **run_kwargs):
    """``run_encoder`` for every named encoder; returns (results, histories, {name: {seed: FitResult}}).

    One progress bar counts the runs (encoder x seed) instead of one bar per run's epochs.
    ``run_kwargs`` (``build_model``, ``score_fn``, ``cache_tag``) go to every :func:`run_encoder`.
    """
    from tqdm.std import tqdm  # a plain text bar: no ipywidgets in executed notebooks

    results, histories, fits = [], [], {}
    bar = tqdm(total=len(specs) * len(seeds), desc="training runs", unit="run", disable=not progress, mininterval=2)
    for name, build in specs.items():
        fits[name] = {}
        for seed in seeds:
            bar.set_postfix_str(f"{name}, seed {seed}")
            r, h, f = run_encoder(name, build, data, cfg, [seed], vocoder, recognizer, d_model, asr=asr,
                                  checkpoint_dir=checkpoint_dir, progress=False, **run_kwargs)
            results.append(r)
            histories.append(h)
            fits[name].update(f)
            bar.update(1)
    bar.close()
    return pd.concat(results, ignore_index=True), pd.concat(histories, ignore_index=True), fits


def paired_table(results: pd.DataFrame, baseline: str, metrics=("test_mse", "temporal_detail_r", "reversed_detail_r"),
                 digits: int | None = None, units: pd.DataFrame | None = None) -> pd.DataFrame:
    """Compact encoder x metric table of paired differences against ``baseline``.

    With ``units`` (the per-unit scores: :func:`units_of` of the runs, plus the reference rows'
    ``reference_rows(..., with_units=True)``): each cell is 'Δ [95 % CI]: verdict' from
    :func:`tempmodels.results.compare` — Δ = encoder − baseline in the metric's units, a block
    bootstrap over test TRs or sentences and seeds, and *better*/*worse* only when the CI excludes 0.
    Without: the per-seed summary 'Δ ± sd' (sign-flipped so + is better) with ✓ when better in every
    seed — a description of the seeds, not a test."""
    if units is not None:
        from .results import comparison_table

        encoders = [e for e in dict.fromkeys(results.encoder) if e != baseline]
        return comparison_table(units, baseline, metrics, encoders=encoders, digits=digits)
    cols, digits = {}, 3 if digits is None else digits
    for m in metrics:
        p = paired_vs(results, baseline, m, higher_is_better=m not in ("test_mse", "wer"))
        cols[f"Δ {m}"] = p.apply(lambda r: f"{r.improvement:+.{digits}f}"
                                 + (f" ± {r.sd:.{digits}f}" if r.seeds > 1 else " (1 seed)")
                                 + (" ✓" if r.better_in_all_seeds else ""), axis=1)
    return pd.DataFrame(cols)
