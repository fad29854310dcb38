"""Real data in the Sherlock format: 4-D NIfTI runs (TR 1.5 s), the movie's audio and frames,
aligned to the benchmark's TR grid.

A data folder holds::

    dataset.json        {"tr_seconds": 1.5, "hrf_shift_applied": false, "hrf_shift_trs": 3, "fps": 10}
    bold/*.nii[.gz]     one 4-D run per file (x, y, z, TR), concatenated in name order
    mask.nii[.gz]       optional 3-D mask (non-zero = keep); default: voxels that vary over time
    audio.wav           the soundtrack (PCM uint8/int16/int32 or float; any rate; mixed to mono, resampled to 16 kHz)
    frames.npy          the movie's frames, (n, H, W) or (n, H, W, 3), uint8 (0–255) or float in [0, 1]

**The HRF shift.** Releases of Sherlock differ: some shift the BOLD by 3 TRs (4.5 s) so that TR t
of the responses lines up with TR t of the stimulus, others do not. ``dataset.json`` must say which
(``hrf_shift_applied``: there is no default, because guessing wrong moves every response by 4.5 s).
:meth:`SherlockData.aligned` applies the shift only when the release has not, records that it did,
and refuses to shift twice. Stimulus longer than the BOLD is cut to the BOLD; BOLD longer than the
stimulus is an error. Every problem with a file raises :class:`DataError` naming the file and what
was expected — values too, at load time (rules in :mod:`~tempmodels.fmri.sherlock_checks`): a TR that is
a whole number of mel hops, ``0 <= hrf_shift_trs <`` the runs' TRs, one voxel grid, a non-empty mask,
finite BOLD in every kept voxel (without a mask, voxels NaN/inf at every TR are dropped with a warning),
each WAV sample format decoded by its own scale, frames uint8 or float in [0, 1].
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..audio.melspec import MelConfig, log_mel, to_trs
from .sherlock_checks import (DataError, check_grid, check_shift, decode_wav, frames_in_unit, mask_from, read_meta,
                              select_voxels)

TR_TOLERANCE_S = 1e-3


def load_nifti(path: Path, ndim: int, tr_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(data as float32, affine) of a NIfTI file with ``ndim`` dimensions; for 4-D runs the header's
    TR (pixdim[4], in seconds) must equal ``tr_seconds``."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as e:  # noqa: BLE001 - nibabel raises many kinds for damaged files
        raise DataError(f"{path}: cannot read it as NIfTI ({type(e).__name__}: {e}); expected a {ndim}-D NIfTI "
                        "image") from e
    if data.ndim != ndim:
        raise DataError(f"{path}: expected a {ndim}-D image, got shape {data.shape}")
    if ndim == 4 and tr_seconds is not None:
        zooms = img.header.get_zooms()
        units = img.header.get_xyzt_units()[1]
        tr = float(zooms[3]) / (1000.0 if units == "msec" else 1.0)
        if abs(tr - tr_seconds) > TR_TOLERANCE_S:
            raise DataError(f"{path}: header TR is {tr} s, dataset.json says {tr_seconds} s")
    return data, img.affine


@dataclass
class SherlockData:
    """BOLD (TR, voxels), log-mel (TR, 64, 128), frames (TR, frames, 1, size, size), on one TR grid."""

    bold: np.ndarray
    mel: torch.Tensor
    frames: torch.Tensor
    mask: np.ndarray
    affine: np.ndarray
    tr_seconds: float
    hrf_shift_applied: bool  # by the release (dataset.json)
    hrf_shift_trs: int
    shifted_here: bool = False  # by this loader (aligned())
    runs: tuple[str, ...] = ()

    @property
    def n_trs(self) -> int:
        return len(self.bold)

    def describe(self) -> str:
        who = ("the release (dataset.json: hrf_shift_applied = true)" if self.hrf_shift_applied else
               "this loader" if self.shifted_here else "nobody yet: call aligned() before fitting")
        return (f"{self.n_trs} TRs of {self.tr_seconds} s, {self.bold.shape[1]} voxels from {len(self.runs)} run(s); "
                f"HRF shift of {self.hrf_shift_trs} TRs applied by {who}")

    def aligned(self) -> "SherlockData":
        """BOLD TR t + shift paired with stimulus TR t — once. A release that already shifted is
        returned unchanged; shifting an already shifted copy is an error, never done twice."""
        if self.shifted_here:
            raise DataError("the HRF shift was already applied by this loader: refusing to shift twice")
        if self.hrf_shift_applied:
            return self
        k = self.hrf_shift_trs
        if k >= self.n_trs:
            raise DataError(f"{self.n_trs} TRs are too few for an HRF shift of {k} TRs")
        return replace(self, bold=self.bold[k:], mel=self.mel[: self.n_trs - k], frames=self.frames[: self.n_trs - k],
                       shifted_here=True)

    def benchmarks(self, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), gap_trs: int | None = None):
        """The stimulus as the book's (audio, video) benchmark objects — the same time-block splits
        (:func:`~tempmodels.splits.time_blocks`), so every chapter's code runs on real data unchanged.
        Real data have no labels: the tables of segments and per-TR labels are empty."""
        import pandas as pd

        from ..audio.benchmark import AudioBenchmark, AudioConfig
        from ..splits import time_blocks
        from ..video.sprites import VideoBenchmark, VideoConfig

        n, per_tr, size = self.n_trs, self.frames.shape[1], self.frames.shape[-1]
        splits = time_blocks(n, fractions, gap_trs, self.tr_seconds)
        no_labels = pd.DataFrame(index=pd.RangeIndex(n))
        audio = AudioBenchmark(AudioConfig(n_trs=n, gap_trs=gap_trs, fractions=fractions,
                                           mel=MelConfig(tr_seconds=self.tr_seconds)),
                               self.mel, np.zeros(0, np.float32), pd.DataFrame(columns=["kind", "start", "end"]),
                               no_labels, splits)
        video = VideoBenchmark(VideoConfig(n_trs=n, size=size, fps=per_tr / self.tr_seconds, tr_seconds=self.tr_seconds,
                                           gap_trs=gap_trs, fractions=fractions), self.frames, no_labels, splits)
        return audio, video


def _frames_to_trs(frames: np.ndarray, fps: float, tr_seconds: float, size: int, path: Path,
                   frames_per_tr: int | None = None) -> torch.Tensor:
    """(n, H, W[, 3]) frames at ``fps`` -> (TR, frames_per_tr, 1, size, size) in [0, 1] (values: uint8 / 255,
    float as is, in [0, 1]; see :func:`~tempmodels.fmri.sherlock_checks.frames_in_unit`). Without
    ``frames_per_tr`` every frame is kept (fps × TR must be whole); with it, each TR takes the frames
    nearest to ``frames_per_tr`` evenly spaced instants inside it (a 25 fps movie -> 15 per TR)."""
    import cv2

    frames = frames_in_unit(frames, path)
    if frames_per_tr is None:
        per_tr = fps * tr_seconds
        if abs(per_tr - round(per_tr)) > 1e-9:
            raise DataError(f"{path}: fps × TR = {fps} × {tr_seconds} is not a whole number of frames per TR; pass "
                            "frames_per_tr (load_sherlock) to resample the movie")
        per_tr = int(round(per_tr))
        n_tr = len(frames) // per_tr
        pick = np.arange(n_tr * per_tr)
    else:
        per_tr = int(frames_per_tr)
        if per_tr < 1:
            raise DataError(f"frames_per_tr must be >= 1, got {frames_per_tr}")
        n_tr = int(np.floor(len(frames) / fps / tr_seconds + 1e-9))
        t = (np.arange(n_tr)[:, None] + (np.arange(per_tr)[None, :] + 0.5) / per_tr) * tr_seconds
        pick = np.minimum((t * fps).astype(int), len(frames) - 1).ravel()
    small = np.stack([cv2.resize(frames[i], (size, size), interpolation=cv2.INTER_AREA) for i in pick]) if len(pick) \
        else np.zeros((0, size, size), np.float32)
    return torch.from_numpy(small.reshape(n_tr, per_tr, 1, size, size).copy())


def _load_audio(path: Path, cfg: MelConfig) -> torch.Tensor:
    from scipy.io import wavfile

    if not path.is_file():
        raise DataError(f"{path}: missing; expected the movie's soundtrack as a WAV file")
    try:
        rate, wav = wavfile.read(path)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: cannot read it as WAV ({type(e).__name__}: {e})") from e
    wav = decode_wav(wav, rate, path, cfg.tr_seconds)
    if rate != cfg.sample_rate:
        import torchaudio.functional as AF

        wav = AF.resample(torch.from_numpy(wav), rate, cfg.sample_rate).numpy()
    return to_trs(log_mel(wav, cfg), cfg)


def load_sherlock(data_dir: str | Path, size: int = 32, subject: str | None = None,
                  frames_per_tr: int | None = None) -> SherlockData:
    """Load a Sherlock-format folder (see the module docstring); ``subject`` keeps only the runs whose
    file names contain it; ``frames_per_tr`` resamples the movie (needed when fps × TR is not whole).
    Returns the data *unshifted*: call :meth:`SherlockData.aligned`."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected a Sherlock-format data folder (dataset.json, bold/, "
                        "audio.wav, frames.npy)")
    meta = read_meta(root / "dataset.json")
    tr = float(meta["tr_seconds"])
    runs = sorted(p for p in (root / "bold").glob("*.nii*") if subject is None or subject in p.name)
    if not runs:
        raise DataError(f"{root / 'bold'}: no 4-D NIfTI runs (*.nii, *.nii.gz)"
                        + (f" for subject {subject!r}" if subject else ""))
    vols, affine = [], None
    for p in runs:
        data, aff = load_nifti(p, 4, tr)
        if vols and data.shape[:3] != vols[0].shape[:3]:
            raise DataError(f"{p}: spatial shape {data.shape[:3]} differs from {runs[0].name}'s {vols[0].shape[:3]}")
        if affine is not None:
            check_grid(p, aff, runs[0], affine)
        vols.append(data)
        affine = aff if affine is None else affine
    bold4d = np.concatenate(vols, axis=3)
    shift = check_shift(root / "dataset.json", meta["hrf_shift_trs"], bold4d.shape[3])
    mask_path = next((root / n for n in ("mask.nii.gz", "mask.nii") if (root / n).is_file()), None)
    mask = None
    if mask_path is not None:
        data, aff = load_nifti(mask_path, 3)
        if data.shape != bold4d.shape[:3]:
            raise DataError(f"{mask_path}: shape {data.shape} does not match the runs' {bold4d.shape[:3]}")
        check_grid(mask_path, aff, runs[0], affine)
        mask = mask_from(mask_path, data)
    mask = select_voxels(runs, vols, bold4d, mask, root / "bold")
    bold = bold4d[mask].T.astype(np.float32)  # (TR, voxels)

    mel_cfg = MelConfig(tr_seconds=tr)
    mel = _load_audio(root / "audio.wav", mel_cfg)
    frames_path = root / "frames.npy"
    if not frames_path.is_file():
        raise DataError(f"{frames_path}: missing; expected the movie's frames as a .npy array (n, H, W[, 3])")
    try:
        raw = np.load(frames_path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{frames_path}: cannot read it as a .npy array ({type(e).__name__}: {e})") from e
    frames = _frames_to_trs(raw, float(meta["fps"]), tr, size, frames_path, frames_per_tr)

    n = len(bold)
    for name, have, path in (("audio", len(mel), root / "audio.wav"), ("frames", len(frames), frames_path)):
        if have < n:
            raise DataError(f"{path}: holds {have} TRs of {name}, the BOLD runs have {n}: truncated or mismatched")
    return SherlockData(bold, mel[:n], frames[:n], mask, affine, tr, meta["hrf_shift_applied"], shift,
                        runs=tuple(p.name for p in runs))


def write_example(root: str | Path, bold: np.ndarray, audio: np.ndarray, frames: np.ndarray, tr_seconds: float = 1.5,
                  fps: float = 6.0, hrf_shift_applied: bool = False, runs: int = 2, sample_rate: int = 16_000,
                  mask: np.ndarray | None = None) -> Path:
    """Write a folder in the layout :func:`load_sherlock` reads: ``bold`` (x, y, z, TR) split into
    ``runs`` NIfTI files, ``audio`` (samples,) as 16-bit WAV, ``frames`` (n, H, W) as .npy."""
    import nibabel as nib
    from scipy.io import wavfile

    root = Path(root)
    (root / "bold").mkdir(parents=True, exist_ok=True)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    for i, part in enumerate(np.array_split(np.asarray(bold, np.float32), runs, axis=3)):
        img = nib.Nifti1Image(part, affine)
        img.header.set_xyzt_units("mm", "sec")
        img.header["pixdim"][4] = tr_seconds
        nib.save(img, str(root / "bold" / f"sub-01_run-{i + 1:02d}_bold.nii.gz"))
    if mask is not None:
        nib.save(nib.Nifti1Image(np.asarray(mask, np.uint8), affine), str(root / "mask.nii.gz"))
    wav = np.clip(np.asarray(audio, np.float32), -1, 1)
    wavfile.write(root / "audio.wav", sample_rate, (wav * 32767).astype(np.int16))
    np.save(root / "frames.npy", np.asarray(frames))
    (root / "dataset.json").write_text(json.dumps({"tr_seconds": tr_seconds, "hrf_shift_applied": hrf_shift_applied,
                                                   "hrf_shift_trs": 3, "fps": fps}, indent=1))
    return root
