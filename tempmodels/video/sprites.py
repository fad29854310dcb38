"""The benchmark's video track: scikit-learn's bundled 8x8 digits as sprites moving over small
frames, on the same TR grid as the audio track.

Each TR is a short shot: the sprite crosses the frame's centre (give or take a random jitter) in
one of 8 directions at one of a few speeds (pixels per frame); its path is centred on that point,
so where the streak lies says nothing about which way it was travelled. Digit and background stay
until a *scene cut*; some TRs contain an event at a random frame: a cut (new digit and background),
or the sprite appearing or disappearing. Motion *sign* (left vs right, appear vs disappear) is
defined by frame order alone: reversing a TR's frames gives the opposite label and the same mean
frame, so frame averaging cannot see it — by construction (tested).

Deterministic from its configuration (which includes the seed); cached on disk atomically.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_path, config_key
from ..entries import default_cache_dir as _cache_root, set_aside
from ..splits import time_blocks

DATA_VERSION = 1
#: unit steps of the 8 directions, counter-clockwise from "right" (image rows grow downwards)
DIRECTIONS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # (dy, dx)
DIRECTION_NAMES = ("→", "↗", "↑", "↖", "←", "↙", "↓", "↘")
EVENTS = ("none", "cut", "appear", "disappear")


@dataclass(frozen=True)
class VideoConfig:
    n_trs: int = 240
    seed: int = 0
    size: int = 32  # frames are size x size pixels, one (grey) channel; the path leaves the frame
    # (and wraps around) only when 8·sprite_scale + size/4 + speed·(frames-1) exceeds size
    fps: float = 6.0  # frames per TR = fps * tr_seconds, which must be a whole number
    tr_seconds: float = 1.5
    sprite_scale: int = 1  # the 8x8 digit upscaled by this integer factor
    speeds: tuple[int, ...] = (1, 2)  # pixels per frame along each moving axis
    p_cut: float = 0.15  # probability that a TR contains a scene cut
    p_visibility: float = 0.15  # probability that a TR contains an appearance or a disappearance
    gap_trs: int | None = None  # None: the HRF length (splits.hrf_gap_trs), as in the audio track
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)

    def __post_init__(self):
        if self.n_trs < 1:
            raise ValueError(f"n_trs must be >= 1, got {self.n_trs}")
        f = self.fps * self.tr_seconds
        if f < 3 or abs(f - round(f)) > 1e-9:
            raise ValueError(f"fps * tr_seconds must be a whole number of frames >= 3, got {self.fps} * "
                             f"{self.tr_seconds} = {f}")
        if self.sprite_scale < 1 or 8 * self.sprite_scale >= self.size:
            raise ValueError(f"the sprite (8 x sprite_scale = {8 * self.sprite_scale} px) must be smaller than "
                             f"the frame (size = {self.size} px)")
        if not self.speeds or any(int(s) != s or s < 1 for s in self.speeds):
            raise ValueError(f"speeds must be positive whole pixels per frame, got {self.speeds}")
        for name in ("p_cut", "p_visibility"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if self.p_cut + self.p_visibility > 1:
            raise ValueError("p_cut + p_visibility must be <= 1")

    @property
    def frames_per_tr(self) -> int:
        return int(round(self.fps * self.tr_seconds))

    def key(self) -> str:
        return config_key({**asdict(self), "data_version": DATA_VERSION})


@dataclass
class VideoBenchmark:
    """frames: (TR, frames, 1, size, size) float32 in [0, 1]; trs: one row of labels per TR."""

    config: VideoConfig
    frames: torch.Tensor
    trs: pd.DataFrame
    splits: dict[str, np.ndarray]

    def split(self, name: str) -> torch.Tensor:
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; have {sorted(self.splits)}")
        return self.frames[self.splits[name]]

    def labels(self, split: str) -> pd.DataFrame:
        return self.trs.loc[self.splits[split]].reset_index(drop=True)


def digit_sprites(scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits (1,797 images, 8x8, values 0-16) as float sprites in [0, 1],
    upscaled by ``scale``; returns (sprites (n, 8s, 8s), labels (n,))."""
    from sklearn.datasets import load_digits

    d = load_digits()
    img = (d.images / 16.0).astype(np.float32)
    if scale > 1:
        img = img.repeat(scale, axis=1).repeat(scale, axis=2)
    return img, d.target.astype(np.int64)


def _frame(size: int, background: float, sprite: np.ndarray, pos: tuple[int, int], visible: bool) -> np.ndarray:
    out = np.full((size, size), background, np.float32)
    if visible:
        canvas = np.zeros((size, size), np.float32)
        h, w = sprite.shape
        canvas[:h, :w] = sprite
        out = np.maximum(out, np.roll(canvas, pos, axis=(0, 1)))  # wraps around the edges if it must
    return out


def generate(cfg: VideoConfig) -> VideoBenchmark:
    rng = np.random.default_rng(cfg.seed)
    sprites, digits = digit_sprites(cfg.sprite_scale)
    F, S = cfg.frames_per_tr, cfg.size
    half, jitter = sprites.shape[1] // 2, S // 8
    frames = np.empty((cfg.n_trs, F, 1, S, S), np.float32)

    def new_scene():
        return int(rng.integers(len(sprites))), float(rng.uniform(0.0, 0.35))

    sprite_i, background = new_scene()
    rows = []
    for t in range(cfg.n_trs):
        k = int(rng.integers(len(DIRECTIONS)))
        speed = int(rng.choice(cfg.speeds))
        dy, dx = (speed * s for s in DIRECTIONS[k])
        mid = [S // 2 - half + int(rng.integers(-jitter, jitter + 1)) for _ in range(2)]  # the sprite's corner mid-TR
        u = rng.uniform()
        event = "cut" if u < cfg.p_cut else (
            ("appear" if rng.uniform() < 0.5 else "disappear") if u < cfg.p_cut + cfg.p_visibility else "none")
        at = int(rng.integers(1, F)) if event != "none" else -1  # the frame at which it happens
        first_digit = int(digits[sprite_i])
        for f in range(F):
            if event == "cut" and f == at:
                sprite_i, background = new_scene()
            visible = not ((event == "appear" and f < at) or (event == "disappear" and f >= at))
            off = f - (F - 1) // 2
            pos = ((mid[0] + dy * off) % S, (mid[1] + dx * off) % S)
            frames[t, f, 0] = _frame(S, background, sprites[sprite_i], pos, visible)
        rows.append({"tr": t, "direction": k, "direction_name": DIRECTION_NAMES[k], "axis": k % 4, "sign": k // 4,
                     "speed": speed, "dy": dy, "dx": dx, "digit": first_digit if event != "cut" or at > F / 2
                     else int(digits[sprite_i]), "event": event, "event_frame": at, "cut": event == "cut",
                     "background": background})
    trs = pd.DataFrame(rows)
    splits = time_blocks(cfg.n_trs, cfg.fractions, cfg.gap_trs, cfg.tr_seconds)
    trs["split"] = ""
    for name, idx in splits.items():
        trs.loc[idx, "split"] = name
    return VideoBenchmark(cfg, torch.from_numpy(frames), trs, splits)


def default_cache_dir() -> Path:
    return _cache_root() / "video"


def load_video_benchmark(cfg: VideoConfig = VideoConfig(), cache_dir: str | Path | None = None) -> VideoBenchmark:
    """:func:`generate`, cached under a key of the configuration; a damaged cache entry (the npz's CRC
    checks every array) is named in a warning, moved aside and rebuilt."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    path = root / f"{cfg.key()}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                trs = pd.DataFrame({c: z[f"trs_{c}"] for c in z["columns"].astype(str)})
                return VideoBenchmark(cfg, torch.from_numpy(z["frames"]), trs,
                                      time_blocks(cfg.n_trs, cfg.fractions, cfg.gap_trs, cfg.tr_seconds))
        except Exception as e:  # noqa: BLE001 - a damaged entry is rebuilt below, never trusted
            warnings.warn(f"video benchmark cache {path} is damaged ({type(e).__name__}: {e}); moved aside to "
                          f"{set_aside(path, 'damaged').name}, building it again", stacklevel=2)
    bench = generate(cfg)
    os.makedirs(path.parent, exist_ok=True)
    cols = list(bench.trs.columns)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, frames=bench.frames.numpy(), columns=np.array(cols),
                     **{f"trs_{c}": _column(bench.trs[c]) for c in cols})
    return bench


def _column(col: pd.Series) -> np.ndarray:
    # text columns (object, or pandas' own str dtype) as numpy unicode: np.load(allow_pickle=False) reads them
    return col.to_numpy().astype(str) if pd.api.types.is_string_dtype(col) or col.dtype == object else col.to_numpy()


def tr_mean_clip(x: torch.Tensor) -> torch.Tensor:
    """Every frame of each TR replaced by the TR's mean frame: (TR, frames, ...) -> same shape."""
    return x.mean(1, keepdim=True).expand_as(x).contiguous()
