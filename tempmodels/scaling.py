"""Learning curves over training-set size (chapter 11, "How much data does time need?"): nested
training subsets of one long benchmark track, the runs at every size under two budgets, the power
law fitted to each curve, and where one code's curve crosses another's.

A learning curve compares sizes fairly only if nothing but the training data changes:

* every subset is a **prefix of the same training block** (the larger subsets contain the smaller
  ones), so a size's runs see all the TRs the smaller sizes saw, and more;
* the **validation and test blocks are the same TRs** at every size (the benchmark's own blocks,
  separated from training by its HRF-length gaps);
* the **normaliser is the same** at every size: band statistics of the smallest subset, which
  every size contains, so test MSE is in one unit along the curve and no size reads statistics
  of TRs it was not given.

``fit_power_law`` fits ``y = c + a · n^(-b)`` (the usual form of a learning curve: ``c`` the
asymptote, ``b`` the rate) and :func:`crossing` says where, inside a range of sizes, one fitted curve
passes another — or that it does not.

:func:`learning_curves` trains every code at every size through the book's runner (and run cache)
twice over: to convergence (early stopping on the validation block) and at a fixed number of
optimiser steps; :func:`paired_by_size` compares each code with a baseline at every size by the
book's paired statistics, :func:`crossing_table` and :func:`target_table` read the fitted curves,
and :func:`plot_gap_to` draws the crossing figure. The decoder controls are in
:mod:`tempmodels.decoder_controls`.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, brentq, curve_fit

from .audio.asr import GridRecognizer
from .audio.benchmark import AudioBenchmark
from .audio.melspec import GriffinLimVocoder
from .decoder import Autoencoder
from .decoder_controls import LinearDecoder, PCAEncoder
from .encoders import FramePool, MultiScaleEncoder
from .encoders.base import TemporalEncoder
from .experiment import PCA_ROW, AudioData, build_autoencoder, reference_rows, run_encoder
from .normalize import BandNormalizer
from .pca_code import PCACode
from .results import FLOOR, compare, convergence_summary, higher_is_better, units_frame
from .training import TrainConfig



def nested_sizes(n_train: int, smallest: int, factor: float = 2.0) -> list[int]:
    """Training sizes ``smallest, smallest·factor, ...`` up to and including ``n_train`` (the whole
    training block is always the last size)."""
    if smallest < 1 or n_train < smallest:
        raise ValueError(f"need 1 <= smallest <= n_train, got smallest={smallest}, n_train={n_train}")
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    sizes, n = [], float(smallest)
    while round(n) < n_train:
        sizes.append(int(round(n)))
        n *= factor
    return sizes + [int(n_train)]


def nested_subsets(bench: AudioBenchmark, sizes: list[int]) -> dict[int, AudioData]:
    """One :class:`~tempmodels.experiment.AudioData` per training size: the first ``n`` TRs of the
    benchmark's training block, the same validation and test blocks, one shared normaliser (fit on
    the smallest subset). ``sizes`` must be strictly increasing and fit in the training block."""
    train = bench.splits["train"]
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise ValueError("sizes is empty: give at least one training size (in TRs)")
    if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
        raise ValueError(f"sizes must be strictly increasing positive TR counts, got {sizes}")
    if sizes[-1] > len(train):
        raise ValueError(f"the largest size ({sizes[-1]} TRs) exceeds the benchmark's training block "
                         f"({len(train)} TRs of {bench.config.n_trs}); generate a longer track (n_trs)")
    norm = BandNormalizer(bench.mel[train[: sizes[0]]])
    val, test = norm(bench.split("val")), norm(bench.split("test"))
    out = {}
    for n in sizes:
        sub = dataclasses.replace(bench, splits={**bench.splits, "train": train[:n]})
        out[n] = AudioData(sub, norm, norm(bench.mel[train[:n]]), val, test)
    return out


@dataclass(frozen=True)
class PowerLaw:
    """``y(n) = c + a · n^(-b)``, fitted on sizes ``n_min``..``n_max``."""

    a: float
    b: float
    c: float
    n_min: float
    n_max: float

    def __call__(self, n) -> np.ndarray:
        return self.c + self.a * np.asarray(n, dtype=float) ** (-self.b)


def fit_power_law(n, y, asymptote: tuple[float, float] = (-np.inf, np.inf)) -> PowerLaw:
    """Least-squares fit of ``y = c + a · n^(-b)`` with ``b >= 0`` (scipy's ``curve_fit``) and the
    asymptote ``c`` inside ``asymptote`` — the metric's possible values (an MSE cannot fall below 0, a
    correlation cannot pass 1). Without that bound three points are fitted exactly by ``b → 0`` and
    an asymptote far outside them (a straight line in log n), whose extrapolations mean nothing.

    Needs at least three distinct sizes (three parameters); a curve that is flat gets ``a = 0``."""
    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError(f"n and y must be 1-d and the same length, got {n.shape} and {y.shape}")
    if len(np.unique(n)) < 3:
        raise ValueError(f"a power law has three parameters: need >= 3 distinct sizes, got {sorted(set(n))}")
    if not (np.isfinite(n).all() and np.isfinite(y).all()) or (n <= 0).any():
        raise ValueError("n must be positive and n, y finite")
    scale = n.min()

    def f(x, a, b, c):
        return c + a * (x / scale) ** (-b)

    lo, hi = (float(v) for v in asymptote)
    if not lo < hi:
        raise ValueError(f"asymptote must be a (low, high) range with low < high, got {asymptote}")
    span = float(y.max() - y.min()) or 1.0
    a0 = float(y[np.argmin(n)] - y[np.argmax(n)]) or span
    c0 = float(np.clip(y[np.argmax(n)], lo + 1e-9 if np.isfinite(lo) else -np.inf, hi - 1e-9 if np.isfinite(hi) else np.inf))
    with warnings.catch_warnings():  # three points fit three parameters exactly: no covariance, none needed
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, b, c), _ = curve_fit(f, n, y, p0=(a0, 0.5, c0), bounds=([-np.inf, 0.0, lo], [np.inf, 5.0, hi]), maxfev=20000)
    return PowerLaw(float(a * scale ** b), float(b), float(c), float(n.min()), float(n.max()))


def crossing(first: PowerLaw, second: PowerLaw, lo: float, hi: float, grid: int = 512) -> float | None:
    """The smallest size in ``[lo, hi]`` at which ``first(n) - second(n)`` changes sign (refined by
    bisection), or None when it keeps one sign over the whole range."""
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
    ns = np.geomspace(lo, hi, grid)
    d = first(ns) - second(ns)
    if d[0] == 0:
        return float(lo)
    change = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
    if not len(change):
        return None
    i = int(change[0])
    return float(brentq(lambda x: float(first(x) - second(x)), ns[i], ns[i + 1]))


def hours(n_trs, tr_seconds: float = 1.5) -> float:
    """Training TRs as hours of stimulus."""
    return float(n_trs) * tr_seconds / 3600.0


# ------------------------------------------------------------------------------------ the curve runner
CONVERGED, FIXED = "converged", "fixed steps"


@dataclass(frozen=True)
class CurveCode:
    """One code of a learning curve: ``encoder(data)`` returns the encoder builder for one training
    size (it may read the size's training TRs, as PCA-d's frozen code does), ``decoder`` names what
    reads the code: ``"mel"`` (the shared :class:`~tempmodels.decoder.MelDecoder`) or ``"linear"``
    (:class:`~tempmodels.decoder_controls.LinearDecoder`)."""

    encoder: Callable[[AudioData], Callable[[], TemporalEncoder]]
    decoder: str = "mel"

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {sorted(DECODERS)}, got {self.decoder!r}")


def _mel(build_encoder, d_model):
    return build_autoencoder(build_encoder, d_model)


def _linear(build_encoder, d_model):
    def build() -> Autoencoder:
        decoder = LinearDecoder(d_model)  # built first, as build_autoencoder does: the same init at a seed
        return Autoencoder(build_encoder(), decoder)

    return build


DECODERS = {"mel": _mel, "linear": _linear}


def learned(build_encoder: Callable[[], TemporalEncoder], decoder: str = "mel") -> CurveCode:
    """A code whose encoder does not depend on the training size (every learned encoder)."""
    return CurveCode(lambda data: build_encoder, decoder)


def frozen_pca(d_model: int) -> CurveCode:
    """PCA-d's code fit on each size's training TRs, frozen, read by the shared MelDecoder."""
    def encoder(data: AudioData):
        pca = PCACode(data.train, d_model)  # once per size, not once per build
        return lambda: PCAEncoder(pca, d_model)

    return CurveCode(encoder, "mel")


def fixed_step_config(cfg: TrainConfig, n_train: int, steps: int) -> TrainConfig:
    """``cfg`` with the epochs that give ``steps`` optimiser steps on ``n_train`` TRs (to within one
    epoch; at least one), no early stopping (patience = epochs), and the warm-up the same share of
    the budget as in ``cfg`` (at least one epoch)."""
    per_epoch = n_train // cfg.batch_size
    if per_epoch < 1:
        raise ValueError(f"{n_train} training TRs is fewer than batch_size={cfg.batch_size}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    epochs = max(1, round(steps / per_epoch))
    warm = max(1, round(cfg.warmup_epochs * epochs / cfg.epochs))
    return dataclasses.replace(cfg, epochs=epochs, patience=epochs, warmup_epochs=warm)


@dataclass
class Curves:
    """Tidy results of :func:`learning_curves`; every table has ``condition`` and ``n_train``.

    ``results``: (condition, n_train, encoder, seed, metric, value) for the trained codes;
    ``reference``: the oracle, floor and PCA-d rows at each size (condition ``reference``; PCA-d is
    fit on that size's training TRs); ``units``: the per-unit scores of both, for paired comparisons;
    ``histories``: the training curves; ``budget``: per condition and size the epochs, patience and
    optimiser steps the runs were given; ``models``: the trained model of the first seed per
    (condition, n_train, code), to look at and listen to."""

    results: pd.DataFrame
    reference: pd.DataFrame
    units: pd.DataFrame
    histories: pd.DataFrame
    budget: pd.DataFrame
    models: dict = dataclasses.field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return sorted(set(self.results.n_train))

    def at(self, condition: str, n_train: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(results, units) of one condition and size, with that size's reference rows."""
        r = self.results[(self.results.condition == condition) & (self.results.n_train == n_train)]
        ref = self.reference[self.reference.n_train == n_train]
        u = self.units[(self.units.n_train == n_train) & self.units.condition.isin([condition, "reference"])]
        return pd.concat([ref, r], ignore_index=True), u


def learning_curves(codes: dict[str, CurveCode], subsets: dict[int, AudioData], cfg: TrainConfig, seeds: list[int],
                    vocoder: GriffinLimVocoder, recognizer: GridRecognizer, d_model: int,
                    fixed_steps: int | None = None, fixed_codes: list[str] | None = None, asr: bool = True,
                    checkpoint_dir: str | Path | None = None, progress: bool = True) -> Curves:
    """Train every code at every size of ``subsets`` (:func:`nested_subsets`) with every seed, by the
    book's runner (:func:`~tempmodels.experiment.run_encoder`: the run cache, the shared decoder
    initialisation, the same scoring), and score the reference rows at each size.

    Two budgets: ``"converged"`` — ``cfg`` itself, early stopping on the validation block;
    ``"fixed steps"`` (with ``fixed_steps``) — the same number of optimiser steps at every size
    (:func:`fixed_step_config`), for ``fixed_codes`` (default: every code). ``asr=False`` leaves
    out the recogniser (no WER), as in :func:`~tempmodels.experiment.run_encoder`."""
    from tqdm.std import tqdm  # a plain text bar: no ipywidgets in executed notebooks

    if not codes:
        raise ValueError("codes is empty: name at least one code to train")
    fixed_codes = list(codes) if fixed_codes is None else list(fixed_codes)
    unknown = [c for c in fixed_codes if c not in codes]
    if unknown:
        raise KeyError(f"fixed_codes {unknown} are not among the codes {list(codes)}")
    plan = [(CONVERGED, n, name) for n in subsets for name in codes]
    if fixed_steps is not None:
        plan += [(FIXED, n, name) for n in subsets for name in fixed_codes]
    results, refs, units, hists, budget, models = [], [], [], [], [], {}
    bar = tqdm(total=len(plan) * len(seeds), desc="learning-curve runs", unit="run", disable=not progress,
               mininterval=2)
    builders = {}
    for n, data in subsets.items():
        ref, ref_units = reference_rows(data, vocoder, recognizer, d_model=d_model, asr=asr, with_units=True)
        refs.append(ref.assign(condition="reference", n_train=n))
        units.append(ref_units.assign(condition="reference", n_train=n))
    for condition, n, name in plan:
        data, code = subsets[n], codes[name]
        run_cfg = cfg if condition == CONVERGED else fixed_step_config(cfg, n, fixed_steps)
        if (n, name) not in builders:
            builders[n, name] = code.encoder(data)
        budget.append({"condition": condition, "n_train": n, "encoder": name, "epochs": run_cfg.epochs,
                       "patience": run_cfg.patience, "steps per epoch": n // run_cfg.batch_size,
                       "max steps": run_cfg.epochs * (n // run_cfg.batch_size)})
        for seed in seeds:
            bar.set_postfix_str(f"{condition}, {n} TRs, {name}, seed {seed}")
            ckpt = Path(checkpoint_dir) / f"{condition.replace(' ', '_')}-{n}" if checkpoint_dir else None
            r, h, f = run_encoder(name, builders[n, name], data, run_cfg, [seed], vocoder, recognizer, d_model, asr=asr,
                                  checkpoint_dir=ckpt, progress=False, build_model=DECODERS[code.decoder],
                                  cache_tag=f"decoder={code.decoder}")
            results.append(r.assign(condition=condition, n_train=n))
            hists.append(h.assign(condition=condition, n_train=n))
            units.append(units_frame(f[seed].units, name, seed).assign(condition=condition, n_train=n))
            if seed == seeds[0]:
                models[condition, n, name] = f[seed].model
            bar.update(1)
    bar.close()
    return Curves(pd.concat(results, ignore_index=True), pd.concat(refs, ignore_index=True),
                  pd.concat(units, ignore_index=True), pd.concat(hists, ignore_index=True),
                  pd.DataFrame(budget).drop_duplicates(["condition", "n_train", "encoder"]), models)


# ------------------------------------------------------------------ which learned codes the curve follows
POOLED, KEEPING = "pooled", "position-keeping"


def book_candidates(d_model: int, frame_hidden: int = 256, ms_hidden: int = 64, steps: int = 8,
                    n_queries: int = 8) -> dict[str, dict[str, Callable[[], TemporalEncoder]]]:
    """The learned codes of chapters 01–03 by family, named as those chapters name them: ``pooled``
    (a per-frame network, then an average: order only through a positional encoding) and
    ``position-keeping`` (a readout that keeps where in the TR a frame was)."""
    F, T, d = 128, 64, d_model
    return {
        POOLED: {
            "frame MLP": lambda: FramePool(F, T, d, frame_hidden),
            "frame+sinusoidal": lambda: FramePool(F, T, d, frame_hidden, positional="sinusoidal"),
            "frame+Time2Vec": lambda: FramePool(F, T, d, frame_hidden, positional="time2vec"),
            "MS+PE (pool)": lambda: MultiScaleEncoder(F, T, d, hidden=ms_hidden, positional="concat"),
        },
        KEEPING: {
            "frame+sinusoidal+strided": lambda: FramePool(F, T, d, frame_hidden, positional="sinusoidal",
                                                          pool="strided", steps=steps),
            "frame+strided": lambda: FramePool(F, T, d, frame_hidden, pool="strided", steps=steps),
            "frame+queries": lambda: FramePool(F, T, d, frame_hidden, pool="queries", n_queries=n_queries),
        },
    }


def candidates(pooled: list[str], keeping: list[str], d_model: int, frame_hidden: int = 256, ms_hidden: int = 64
               ) -> dict[str, dict[str, Callable[[], TemporalEncoder]]]:
    """The named candidates of each family from :func:`book_candidates`, with a clear error for a
    name that is not one of them or a family left empty."""
    book = book_candidates(d_model, frame_hidden, ms_hidden)
    out = {}
    for family, names in ((POOLED, pooled), (KEEPING, keeping)):
        unknown = [n for n in names if n not in book[family]]
        if unknown or not names:
            raise ValueError(f"{family} candidates must be a non-empty list of {list(book[family])}, got {list(names)}")
        out[family] = {n: book[family][n] for n in names}
    return out


def select_by_validation(families: dict[str, dict[str, Callable[[], TemporalEncoder]]], data: AudioData,
                         cfg: TrainConfig, seeds: list[int], vocoder: GriffinLimVocoder,
                         recognizer: GridRecognizer, d_model: int, asr: bool = True,
                         progress: bool = True) -> tuple[dict[str, str], pd.DataFrame]:
    """Train every candidate of every family on ``data`` (one size of the curve) and choose, per
    family, the one with the lowest mean best validation loss over ``seeds`` — the validation block,
    never the test block the curves report. The runs are the curve's own at that size (same runner,
    key and cache tag), so the chosen codes are not trained twice. Returns ({family: name}, table)."""
    if not families or any(not c for c in families.values()):
        raise ValueError(f"every family needs at least one candidate, got {({f: list(c) for f, c in families.items()})}")
    rows = []
    for family, cands in families.items():
        for name, build in cands.items():
            r, _, _ = run_encoder(name, build, data, cfg, list(seeds), vocoder, recognizer, d_model, asr=asr,
                                  progress=progress, cache_tag="decoder=mel")
            v = r[r.metric == "best_val_loss"].value
            rows.append({"family": family, "encoder": name, "validation loss": v.mean(),
                         "sd": v.std(ddof=1) if len(v) > 1 else np.nan, "seeds": len(v)})
    table = pd.DataFrame(rows)
    chosen = {f: table[table.family == f].sort_values("validation loss").encoder.iloc[0] for f in families}
    table["chosen"] = [chosen[f] == e for f, e in zip(table.family, table.encoder)]
    return chosen, table.set_index(["family", "encoder"])


# ------------------------------------------------------------------------------------ reading the curves
def curve_points(curves: Curves, metric: str, condition: str = CONVERGED) -> pd.DataFrame:
    """Per code and size: the mean, sd and number of seeds of ``metric``; PCA-d and the floor (one
    value per size) as codes too. Columns: encoder, n_train, hours, mean, sd, seeds."""
    r = curves.results[(curves.results.condition == condition) & (curves.results.metric == metric)]
    ref = curves.reference[(curves.reference.metric == metric) & curves.reference.encoder.isin([PCA_ROW, FLOOR])]
    both = pd.concat([ref, r], ignore_index=True)
    g = both.groupby(["encoder", "n_train"], sort=False).value
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "seeds": g.size()}).reset_index()
    out.loc[out.seeds == 1, "sd"] = np.nan
    out.insert(2, "hours", [hours(n) for n in out.n_train])
    return out


# the values each metric can take: the range of a fitted curve's asymptote
METRIC_RANGE = {"test_mse": (0.0, np.inf), "wer": (0.0, np.inf), "stoi": (0.0, 1.0), "speaker_acc": (0.0, 1.0)}


def metric_range(metric: str) -> tuple[float, float]:
    """(low, high) of ``metric``: correlations (``*_r``) in [-1, 1], errors above 0, shares in [0, 1]."""
    if metric.endswith("_r"):
        return (-1.0, 1.0)
    if metric not in METRIC_RANGE:
        raise KeyError(f"no value range for {metric!r}: add it to tempmodels.scaling.METRIC_RANGE")
    return METRIC_RANGE[metric]


def fit_curves(points: pd.DataFrame, metric: str) -> dict[str, PowerLaw]:
    """A power law per code through its seed means (:func:`curve_points`), its asymptote inside the
    metric's range (:func:`metric_range`); codes with fewer than three sizes are left out."""
    out = {}
    for enc, p in points.groupby("encoder", sort=False):
        if p.n_train.nunique() >= 3:
            out[enc] = fit_power_law(p.n_train, p["mean"], metric_range(metric))
    return out


def size_for_target(law: PowerLaw, target: float, higher_better: bool) -> float | None:
    """The training size at which ``law`` reaches ``target`` (from the side it starts on), or None
    when its asymptote ``c`` does not reach it. A size inside the fitted range is interpolation;
    outside, extrapolation — :func:`target_table` says which."""
    def reached(y):
        return y >= target if higher_better else y <= target

    if reached(law(law.n_min)):
        return float(law.n_min)
    towards = law.a < 0 if higher_better else law.a > 0  # c + a·n^(-b) rises with n where a < 0
    if law.a == 0 or law.b == 0 or not towards or (target - law.c) * law.a <= 0:
        return None  # flat, moving away from the target, or its asymptote on the wrong side
    return float((law.a / (target - law.c)) ** (1.0 / law.b))


def paired_by_size(curves: Curves, baseline: str, metric: str, condition: str = CONVERGED,
                   encoders: list[str] | None = None) -> pd.DataFrame:
    """Each code against ``baseline`` (e.g. PCA-d) at every size: the paired Δ = code − baseline with
    its 95 % CI over seeds and blocks of test units (:func:`tempmodels.results.compare`) and the
    verdict word (from the CI). Columns: encoder, n_train, hours, difference, ci_low, ci_high, verdict."""
    encoders = encoders or [e for e in dict.fromkeys(curves.results.encoder) if e != baseline]
    rows = []
    for n in curves.sizes:
        _, u = curves.at(condition, n)
        for enc in encoders:
            if not ((u.encoder == enc) & (u.metric == metric)).any():
                continue
            p = compare(u, enc, baseline, metric)
            rows.append({"encoder": enc, "n_train": n, "hours": hours(n), "difference": p.difference,
                         "ci_low": p.ci_low, "ci_high": p.ci_high, "verdict": p.verdict, "text": p.text()})
    return pd.DataFrame(rows)


def crossing_table(curves: Curves, metric: str, baseline: str = PCA_ROW, condition: str = CONVERGED,
                   extrapolate_to: float | None = None) -> pd.DataFrame:
    """Where each code's fitted curve crosses ``baseline``'s: inside the measured sizes, or (with
    ``extrapolate_to`` TRs) beyond them, marked as an extrapolation of the fit; with the paired
    verdict at the largest size beside it — the measurement the fitted crossing must agree with."""
    points = curve_points(curves, metric, condition)
    laws = fit_curves(points, metric)
    if baseline not in laws:
        raise KeyError(f"no fitted curve for the baseline {baseline!r} (needs >= 3 sizes); have {sorted(laws)}")
    largest = max(curves.sizes)
    at_largest = paired_by_size(curves, baseline, metric, condition).query("n_train == @largest").set_index("encoder")
    rows = []
    for enc, law in laws.items():
        if enc in (baseline, FLOOR):
            continue
        inside = crossing(law, laws[baseline], law.n_min, law.n_max)
        beyond = None
        if inside is None and extrapolate_to and extrapolate_to > law.n_max:
            beyond = crossing(law, laws[baseline], law.n_max, extrapolate_to)
        where = (f"{inside:.0f} TRs ({hours(inside):.2f} h), measured range" if inside is not None else
                 f"{beyond:.0f} TRs ({hours(beyond):.1f} h), extrapolated" if beyond is not None else
                 "no crossing" + (f" up to {hours(extrapolate_to):.0f} h (extrapolated)" if extrapolate_to else
                                  " in the measured range"))
        rows.append({"encoder": enc, "b (rate)": law.b, "c (asymptote)": law.c,
                     f"c of {baseline}": laws[baseline].c, "fitted crossing": where,
                     f"Δ vs {baseline} at {largest} TRs": at_largest.text.get(enc, "—")})
    return pd.DataFrame(rows).set_index("encoder")


def target_table(curves: Curves, targets: dict[str, float], condition: str = CONVERGED,
                 extrapolate_to: float | None = None) -> pd.DataFrame:
    """Hours of training audio each code needs to reach each ``{metric: target}`` on its fitted
    curve (``—`` where its asymptote does not reach it; "beyond" where that is past
    ``extrapolate_to`` TRs, the furthest the fit is followed), and whether a measured size already did."""
    rows = []
    for metric, target in targets.items():
        hib = higher_is_better(metric)
        points = curve_points(curves, metric, condition)
        for enc, law in fit_curves(points, metric).items():
            if enc == FLOOR:  # the floor does not learn: its value is the same at every size
                continue
            n = size_for_target(law, target, hib)
            measured = points[points.encoder == enc]
            reached = (measured["mean"] >= target) if hib else (measured["mean"] <= target)
            rows.append({"metric": metric, "target": f"{'≥' if hib else '≤'} {target}", "encoder": enc,
                         "reached at (measured)": (f"{hours(measured.n_train[reached].min()):.2f} h"
                                                   if reached.any() else "not reached"),
                         "hours needed (fit)": ("—" if n is None else f"beyond {hours(extrapolate_to):.0f}"
                                                if extrapolate_to and n > extrapolate_to else f"{hours(n):.2f}"),
                         "fit": "—" if n is None else ("interpolated" if n <= law.n_max else "extrapolated")})
    return pd.DataFrame(rows).set_index(["metric", "encoder"])


def convergence_by_size(curves: Curves, condition: str = CONVERGED) -> pd.DataFrame:
    """Per size and code: the best epoch over seeds, the epochs trained and in how many seeds the
    run was still improving when its budget ended (:func:`tempmodels.results.convergence_summary`)."""
    parts = []
    for n in curves.sizes:
        h = curves.histories[(curves.histories.condition == condition) & (curves.histories.n_train == n)]
        if h.empty:
            continue
        epochs = int(curves.budget[(curves.budget.condition == condition) & (curves.budget.n_train == n)].epochs.max())
        parts.append(convergence_summary(h, epochs).assign(n_train=n).reset_index())
    return pd.concat(parts, ignore_index=True).set_index(["n_train", "encoder"])


def verdict_lines(curves: Curves, metrics, baseline: str = PCA_ROW, condition: str = CONVERGED,
                  extrapolate_to: float | None = None, controls: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """The chapter's verdict as Markdown bullets, every word from a paired CI or a fitted curve:
    per code, where it stands against ``baseline`` at the smallest and the largest size in each
    metric, and where (if anywhere) its fitted curve crosses the baseline's; then each control
    ``{label: (code, reference)}`` as a paired Δ at the largest size."""
    sizes = curves.sizes
    lo, hi = sizes[0], sizes[-1]
    crossings = {m: crossing_table(curves, m, baseline, condition, extrapolate_to) for m in metrics}
    at_hi = paired_by_size(curves, baseline, metrics[0], condition).query("n_train == @hi")
    words = at_hi.groupby("verdict").encoder.apply(list).to_dict()
    inside = [e for e, w in crossings[metrics[0]]["fitted crossing"].items() if w.endswith("measured range")]
    lines = [f"* **The answer at the largest size measured** ({hi} training TRs, {hours(hi):.2f} h; {metrics[0].replace('_', ' ')}, "
             f"paired 95 % CI against {baseline}): "
             + "; ".join(f"{w}: {', '.join(words[w])}" for w in sorted(words)) + ". Fitted crossings inside the "
             f"measured sizes: {', '.join(inside) if inside else 'none'}."]
    for enc in dict.fromkeys(curves.results[curves.results.condition == condition].encoder):
        parts = []
        for m in metrics:
            d = paired_by_size(curves, baseline, m, condition, encoders=[enc]).set_index("n_train")
            if d.empty:
                continue
            cross = crossings[m]["fitted crossing"].get(enc, "no fit (fewer than 3 sizes)")
            parts.append(f"{m.replace('_', ' ')}: Δ {d.text[lo]} at {hours(lo):.2f} h, Δ {d.text[hi]} at "
                         f"{hours(hi):.2f} h; fitted crossing: {cross}")
        lines.append(f"* **{enc}** against {baseline} — " + "; ".join(parts) + ".")
    for label, (code, ref) in (controls or {}).items():
        _, u = curves.at(condition, hi)
        for m in metrics:
            if ((u.encoder == code) & (u.metric == m)).any() and ((u.encoder == ref) & (u.metric == m)).any():
                p = compare(u, code, ref, m)
                lines.append(f"* **{label}** ({code} − {ref}, {m.replace('_', ' ')}, {hours(hi):.2f} h): Δ {p.text()}.")
    return lines


# ------------------------------------------------------------------------------------------- figures
def plot_curves(curves: Curves, metrics, condition: str = CONVERGED, codes: list[str] | None = None):
    """One panel per metric against training hours (log axis): each code's seed mean ± sd, its
    fitted power law (dashed), PCA-d in black and the floor dotted."""
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if m in set(curves.results.metric)]
    ncols = min(2, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    colours = dict(zip(codes or dict.fromkeys(curves.results.encoder), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    colours.update({PCA_ROW: "k", FLOOR: "0.5"})
    for ax, m in zip(axes.flat, metrics):
        points = curve_points(curves, m, condition)
        laws = fit_curves(points, m)
        for enc, p in points.groupby("encoder", sort=False):
            if codes and enc not in codes and enc not in (PCA_ROW, FLOOR):
                continue
            c, ls = colours.get(enc, "0.3"), ":" if enc == FLOOR else "-"
            ax.errorbar(p.hours, p["mean"], yerr=p.sd.fillna(0), color=c, marker="s" if enc == PCA_ROW else "o",
                        ms=4, lw=2.2 if enc == PCA_ROW else 1.2, ls=ls, capsize=2, label=enc)
            if enc in laws and enc != FLOOR:
                grid = np.geomspace(p.n_train.min(), p.n_train.max(), 64)
                ax.plot([hours(g) for g in grid], laws[enc](grid), color=c, ls="--", lw=0.8, alpha=0.7)
        ax.set_xscale("log")
        ax.set_title(m.replace("_", " "))
        ax.set_xlabel("training audio (hours)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(f"learning curves ({condition}): seed mean ± sd, power law dashed", y=1.0)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=min(3, len(labels)), frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


def plot_gap_to(curves: Curves, metric: str, baseline: str = PCA_ROW, condition: str = CONVERGED,
                codes: list[str] | None = None):
    """The crossing figure: each code's paired Δ against ``baseline`` at each size with its 95 % CI,
    oriented so that up is better; a code crosses the baseline where its interval leaves zero upward."""
    import matplotlib.pyplot as plt

    d = paired_by_size(curves, baseline, metric, condition, encoders=codes)
    sign = 1.0 if higher_is_better(metric) else -1.0
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    encs = list(dict.fromkeys(d.encoder))
    for i, (enc, p) in enumerate(d.groupby("encoder", sort=False)):
        x = np.array([hours(n) for n in p.n_train]) * (1 + 0.04 * (i - (len(encs) - 1) / 2))  # side by side
        a, b = sign * p.ci_low.to_numpy(), sign * p.ci_high.to_numpy()
        y = sign * p.difference.to_numpy()
        ax.errorbar(x, y, yerr=[y - np.minimum(a, b), np.maximum(a, b) - y], marker="o", ms=4, capsize=3, label=enc)
    ax.axhline(0, color="k", lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("training audio (hours)")
    better = "lower" if sign < 0 else "higher"
    ax.set_ylabel(f"{'−' if sign < 0 else ''}Δ {metric.replace('_', ' ')} vs {baseline}")
    ax.set_title(f"{metric.replace('_', ' ')}: each code against {baseline} ({better} is better; 95 % CI)\n"
                 f"above the line: better than {baseline}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


__all__ = ["nested_sizes", "nested_subsets", "PowerLaw", "fit_power_law", "crossing", "hours", "CurveCode", "learned",
           "frozen_pca", "fixed_step_config", "Curves", "learning_curves", "curve_points", "fit_curves",
           "size_for_target", "paired_by_size", "crossing_table", "target_table", "plot_curves", "plot_gap_to",
           "CONVERGED", "FIXED", "FLOOR", "POOLED", "KEEPING", "book_candidates", "candidates", "select_by_validation",
           "convergence_by_size", "verdict_lines", "METRIC_RANGE", "metric_range"]
