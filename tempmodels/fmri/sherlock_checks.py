"""Value checks of the Sherlock-format loader (:mod:`tempmodels.fmri.sherlock`): every bad value is a
:class:`DataError` raised at load time, naming the file and what was expected.

* ``dataset.json``: a JSON object; ``tr_seconds`` and ``fps`` positive finite numbers, the TR a whole number
  of mel hops (:class:`~tempmodels.audio.melspec.MelConfig`); ``hrf_shift_trs`` (default 3) a whole number,
  ``0 <= shift <`` the runs' TRs.
* Runs and mask: one grid (spatial shape, voxel size, affine). A mask is finite and selects >= 1 voxel
  (non-zero = keep); every voxel it keeps is finite at every TR. Without a mask the voxels that vary over
  time are kept: a voxel NaN/inf at *every* TR of every run is background, dropped with a warning; one
  NaN/inf at only some TRs is an error.
* Audio (scipy.io.wavfile): PCM uint8 is (x - 128) / 128, int16 x / 2**15, int32 (also 24-bit) x / 2**31,
  int64 x / 2**63; float as is, finite and within [-1, 1] (+ ``WAV_FLOAT_TOLERANCE``); at least one TR long.
* Frames: uint8 is divided by 255; float must be finite and in [0, 1] (never rescaled); other dtypes are refused.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from ..audio.melspec import MelConfig

WAV_FLOAT_TOLERANCE = 1e-3  # float WAV samples may overshoot [-1, 1] by this much (resampling ripple)
GRID_TOLERANCE = 1e-3  # mm: voxel sizes and affines of the runs and the mask must agree to this


class DataError(ValueError):
    """A data file is missing, unreadable, or not what the layout expects (the message names it)."""


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_shift(path: Path, shift, n_trs: int | None = None) -> int:
    """``hrf_shift_trs`` as an int: a whole number, 0 <= shift < ``n_trs`` (when known)."""
    if not _number(shift) or shift != int(shift) or shift < 0 or (n_trs is not None and shift >= n_trs):
        bound = f"{n_trs} (the runs' TRs)" if n_trs is not None else "the runs' TRs"
        raise DataError(f"{path}: 'hrf_shift_trs' must be a whole number of TRs, 0 <= shift < {bound}, got {shift!r}")
    return int(shift)


def check_tr_hops(path: Path, tr: float) -> None:
    """The TR must hold a whole number of mel hops (the log-mel grid is cut per TR)."""
    cfg = MelConfig(tr_seconds=tr)
    try:
        cfg.frames_per_tr
    except ValueError:
        hop_s, n = cfg.hop_length / cfg.sample_rate, tr * cfg.sample_rate / cfg.hop_length
        near = " or ".join(f"{k * cfg.hop_length / cfg.sample_rate} s" for k in (math.floor(n), math.ceil(n)) if k > 0)
        raise DataError(f"{path}: a TR of {tr} s is not a whole number of mel hops ({cfg.hop_length} samples at "
                        f"{cfg.sample_rate} Hz = {hop_s} s); TRs that work are multiples of {hop_s} s, e.g. {near} "
                        f"(1.5 s = 64 hops)") from None


def read_meta(path: Path) -> dict:
    """``dataset.json`` checked (see the module docstring); ``hrf_shift_trs`` filled in (default 3)."""
    if not path.is_file():
        raise DataError(f"{path}: missing; expected a JSON file with tr_seconds, hrf_shift_applied (true/false), fps")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object {{\"tr_seconds\": ..., \"hrf_shift_applied\": ..., \"fps\": "
                        f"...}}, got a JSON {type(meta).__name__}")
    if not isinstance(meta.get("hrf_shift_applied"), bool):
        raise DataError(f"{path}: 'hrf_shift_applied' must be true or false — does this release already shift the "
                        "BOLD by the HRF delay? Releases differ, so it is never guessed")
    for key in ("tr_seconds", "fps"):
        if not _number(meta.get(key)) or meta[key] <= 0:
            raise DataError(f"{path}: '{key}' must be a positive number, got {meta.get(key)!r}")
    check_tr_hops(path, float(meta["tr_seconds"]))
    return {**meta, "hrf_shift_trs": check_shift(path, meta.get("hrf_shift_trs", 3))}


def voxel_size(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel edge lengths (mm) from a NIfTI affine."""
    return tuple(round(float(v), 4) for v in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0)))


def check_grid(path: Path, affine: np.ndarray, ref: Path, ref_affine: np.ndarray) -> None:
    """``path`` must lie on the same voxel grid as ``ref`` (voxel size, then the whole affine)."""
    size, ref_size = voxel_size(affine), voxel_size(ref_affine)
    if not np.allclose(size, ref_size, atol=GRID_TOLERANCE):
        raise DataError(f"{path}: voxel size {size} mm differs from {ref.name}'s {ref_size} mm; expected every run "
                        "(and the mask) on one grid")
    if not np.allclose(affine, ref_affine, atol=GRID_TOLERANCE):
        raise DataError(f"{path}: affine {np.round(affine, 3).tolist()} differs from {ref.name}'s "
                        f"{np.round(ref_affine, 3).tolist()}; expected every run (and the mask) on one grid")


def mask_from(path: Path, data: np.ndarray) -> np.ndarray:
    """A mask image -> boolean voxels (non-zero = keep): finite and non-empty."""
    if not np.isfinite(data).all():
        raise DataError(f"{path}: mask holds {np.count_nonzero(~np.isfinite(data))} NaN/inf value(s); expected a "
                        "boolean/0-1 mask")
    mask = data != 0
    if not mask.any():
        raise DataError(f"{path}: mask selects 0 voxels; expected a non-empty boolean/0-1 mask (non-zero = keep)")
    return mask


def select_voxels(runs: list[Path], vols: list[np.ndarray], bold4d: np.ndarray, mask: np.ndarray | None,
                  folder: Path) -> np.ndarray:
    """The voxels to keep — ``mask``, else those of ``bold4d`` that vary over time — with every kept voxel
    finite at every TR (a NaN/inf voxel names its run); without a mask, all-NaN/inf voxels are dropped aloud."""
    bad = [np.count_nonzero(~np.isfinite(v), axis=3) for v in vols]  # per run: non-finite TRs per voxel
    background = sum(bad) == bold4d.shape[3]
    keep = mask if mask is not None else ~background
    for p, v, b in zip(runs, vols, bad):
        hit = (b > 0) & keep
        if hit.any():
            where = "inside the mask " if mask is not None else ""
            rule = ("expected finite values in every masked voxel" if mask is not None else
                    "expected finite BOLD (only a voxel NaN/inf at every TR is background, and dropped)")
            raise DataError(f"{p}: {np.count_nonzero(hit)} voxel(s) {where}hold NaN/inf at "
                            f"{np.count_nonzero((~np.isfinite(v[hit])).any(0))} TR(s) (first: voxel "
                            f"{tuple(int(i) for i in np.argwhere(hit)[0])}); {rule}")
    if mask is not None:
        return mask
    with np.errstate(invalid="ignore"):
        mask = bold4d.std(axis=3) > 0
    if background.any():
        warnings.warn(f"{folder}: dropped {np.count_nonzero(background)} voxel(s) that are NaN/inf at every TR of "
                      f"all {len(runs)} run(s) (background); add a mask.nii.gz to choose the voxels", stacklevel=3)
    if not mask.any():
        raise DataError(f"{folder}: no voxel varies over time (each is constant or NaN/inf); expected BOLD with signal")
    return mask


def decode_wav(wav: np.ndarray, rate: int, path: Path, tr_seconds: float) -> np.ndarray:
    """scipy.io.wavfile samples -> float32 mono (see the module docstring for each sample format)."""
    if rate <= 0:
        raise DataError(f"{path}: sample rate {rate} Hz; expected a positive rate")
    if len(wav) == 0:
        raise DataError(f"{path}: holds 0 samples; expected the movie's soundtrack")
    if len(wav) < rate * tr_seconds:
        raise DataError(f"{path}: holds {len(wav)} samples at {rate} Hz, less than one TR ({tr_seconds} s)")
    if wav.dtype == np.uint8:
        x = (wav.astype(np.float32) - 128.0) / 128.0
    elif wav.dtype in (np.int16, np.int32, np.int64):
        x = wav.astype(np.float32) / np.float32(2.0 ** (8 * wav.dtype.itemsize - 1))
    elif np.issubdtype(wav.dtype, np.floating):
        x = wav.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{path}: {np.count_nonzero(~np.isfinite(x))} float sample(s) are NaN/inf; expected "
                            "finite samples in [-1, 1]")
        if np.abs(x).max() > 1 + WAV_FLOAT_TOLERANCE:
            raise DataError(f"{path}: float samples must lie in [-1, 1], got a peak of {np.abs(x).max():g}")
    else:
        raise DataError(f"{path}: sample format {wav.dtype} is not supported; expected PCM uint8, int16, int32 or "
                        "float")
    return x.mean(1) if x.ndim == 2 else x


def frames_in_unit(frames: np.ndarray, path: Path) -> np.ndarray:
    """(n, H, W[, 3]) frames -> float32 (n, H, W) grey in [0, 1]: uint8 / 255, float as is (finite, in [0, 1])."""
    if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[-1] == 3)) or 0 in frames.shape[1:]:
        raise DataError(f"{path}: expected frames shaped (n, H, W) or (n, H, W, 3), got {frames.shape}")
    if frames.dtype == np.uint8:
        x = frames.astype(np.float32)
    elif np.issubdtype(frames.dtype, np.floating):
        x = frames.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{path}: {np.count_nonzero(~np.isfinite(x))} frame value(s) are NaN/inf (first in frame "
                            f"{int(np.argwhere(~np.isfinite(x))[0, 0])}); expected finite values in [0, 1]")
        out = (x < 0) | (x > 1)
        if out.any():
            raise DataError(f"{path}: float frames must lie in [0, 1], got values in [{x.min():g}, {x.max():g}] "
                            f"({np.count_nonzero(out)} outside, first in frame {int(np.argwhere(out)[0, 0])}); "
                            "scale them to [0, 1], or save uint8 0-255")
    else:
        raise DataError(f"{path}: dtype {frames.dtype} is not accepted; expected uint8 (0-255, divided by 255) or "
                        "float (0-1, as is)")
    if x.ndim == 4:
        x = x.mean(-1)
    return x / 255.0 if frames.dtype == np.uint8 else x
