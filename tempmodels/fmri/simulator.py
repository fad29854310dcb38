"""Simulated voxels with known tuning, driven at the audio frame rate (23 ms) and sampled per TR.

Voxel families, each driven by one known stimulus feature of the audio benchmark:

* ``static audio`` — a fixed positive weighting of the mel bands (smooth over bands, one per voxel):
  a linear function of the frames, so a TR's mean frame carries most of it;
* ``onsets`` — the half-wave-rectified rise of energy in a band range (spectral flux): when
  something starts, which a TR average blurs;
* ``modulation`` — the energy of a band range's envelope at syllable rates (3–8 Hz), one band range
  per voxel: how fast the sound fluctuates, which no single frame and no average of frames holds;
* ``energy slope`` — the signed rate of change of energy in a band range: its average over a TR is
  (energy at the end − energy at the start) / duration, set by the *order* of the TR's frames —
  reversing a TR flips it, and the TR's mean frame cannot see it;
* ``speaker`` — on while one voice speaks;
* with a video track (``video=``, chapter 10): ``luminance`` — the mean brightness of a receptive
  field of each frame (static: a TR's mean frame holds it), and ``motion`` — the sprite's velocity
  along a preferred direction, set by frame order: a TR's mean frame is the same either way
  (one receptive field and one direction per voxel, so a family's mean is not one signal);
* ``noise`` — no drive at all (their ceiling must be ≈ 0).

Every drive is causal — filters run forward only (``sosfilt``), smoothing windows are one-sided — so
nothing responds before its cause (the impulse test, ``tests/test_fmri.py``). Each drive is convolved
with a canonical HRF (nilearn) at the frame rate, sampled at the end of
every TR, z-scored, and each of ``repeats`` presentations gets its own AR(1) noise and slow drift
(signal-to-noise ratio ``snr`` varied per voxel). Repeats give each voxel's noise ceiling.
Deterministic from the benchmark and the configuration; cached on disk.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt, sosfilt_zi

from ..atomic import atomic_path, config_key
from ..entries import default_cache_dir, set_aside
from .hrf import canonical_hrf

FAMILIES = ("static audio", "onsets", "modulation", "energy slope", "speaker", "noise")
VIDEO_FAMILIES = ("luminance", "motion")
SIM_VERSION = 4  # 3: causal drives, independent modulation drives, the TR-exact HRF grid; 4: one video drive per voxel


@dataclass(frozen=True)
class SimConfig:
    voxels_per_family: int = 20
    repeats: int = 4
    snr: float = 1.0            # median signal variance / noise variance of one repeat
    snr_spread: float = 4.0     # per-voxel SNR drawn log-uniformly in [snr / spread, snr · spread]
    ar: float = 0.3             # AR(1) coefficient of the noise, per TR
    drift: float = 0.3          # standard deviation of the slow drift, relative to the noise
    hrf: str = "glover"
    seed: int = 0

    def __post_init__(self):
        if self.voxels_per_family < 1 or self.repeats < 2:
            raise ValueError(f"need voxels_per_family ≥ 1 and repeats ≥ 2 (for noise ceilings): {self}")
        if self.snr <= 0 or self.snr_spread < 1 or not 0 <= self.ar < 1:
            raise ValueError(f"need snr > 0, snr_spread ≥ 1 and 0 ≤ ar < 1: {self}")


@dataclass
class SimulatedFMRI:
    config: SimConfig
    tr_seconds: float
    family: np.ndarray      # (voxels,) family name of each voxel
    signal: np.ndarray      # (TR, voxels) noiseless BOLD, z-scored
    responses: np.ndarray   # (repeats, TR, voxels) signal + noise + drift
    drives: np.ndarray      # (frames, voxels) the frame-rate drive of each voxel (before the HRF)
    snr: np.ndarray         # (voxels,) signal / noise variance of one repeat (0 for noise voxels)

    @property
    def mean_response(self) -> np.ndarray:
        return self.responses.mean(axis=0)


def _zscore(x, axis=0):
    sd = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1)


def _causal_smooth(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """A one-sided moving average: output[t] reads x[≤ t] only (a centred window reads the future);
    the signal's first value stands in for the time before it (no start-up ramp)."""
    w = window / window.sum()
    padded = np.concatenate([np.full(len(w) - 1, x[0]), x])
    return np.convolve(padded, w, mode="valid")


def _causal_filter(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A forward-only IIR filter started in its steady state for the first value (no start-up transient)."""
    return sosfilt(sos, x, zi=sosfilt_zi(sos) * x[0])[0]


def video_drives(video, n_frames: int, frames_per_tr: int, k: int = 1, rng=None) -> dict[str, np.ndarray]:
    """The video families' drives on the audio frame grid, ``k`` per family, each voxel its own: audio
    frame j of a TR reads video frame ⌊j · F / frames_per_tr⌋ of the same TR (F video frames per TR).

    * ``luminance`` — the mean brightness of a square receptive field (random centre, side S/4 – S/2,
      wrapping at the edges like the sprites do): static, a TR's mean frame holds it;
    * ``motion`` — the sprite's velocity along a preferred direction θ (dx cos θ − dy sin θ: θ = 0 is
      rightward, the horizontal velocity), zero while it is hidden: set by frame order.

    Returns (frames, k) arrays; ``rng`` draws the receptive fields and directions (the first motion
    voxel always prefers θ = 0)."""
    rng = np.random.default_rng(0) if rng is None else rng
    clips = video.frames.double().numpy()  # (TR, F, 1, H, W)
    n_tr, f, size = clips.shape[0], clips.shape[1], clips.shape[-1]
    if n_tr * frames_per_tr < n_frames:
        raise ValueError(f"the video track has {n_tr} TRs, the audio track {n_frames // frames_per_tr}: they must match")
    idx = (np.arange(frames_per_tr) * f) // frames_per_tr
    lum = []
    for _ in range(k):
        side = int(rng.integers(max(1, size // 4), max(2, size // 2) + 1))
        r0, c0 = (int(v) for v in rng.integers(0, size, 2))
        rows, cols = (r0 + np.arange(side)) % size, (c0 + np.arange(side)) % size
        patch = clips[:, :, 0][:, :, rows][:, :, :, cols].mean(axis=(2, 3))
        lum.append(_zscore(patch[:, idx].reshape(-1)[:n_frames]))
    trs = video.trs
    visible = np.ones((n_tr, f))
    for t, row in trs[trs.event.isin(["appear", "disappear"])].iterrows():
        at = int(row.event_frame)
        visible[t, :at] = row.event == "disappear"
        visible[t, at:] = row.event == "appear"
    theta = np.concatenate([[0.0], rng.uniform(0, 2 * np.pi, max(0, k - 1))])[:k]
    dx, dy = trs.dx.to_numpy(float)[:, None], trs.dy.to_numpy(float)[:, None]
    motion = [((dx * np.cos(a) - dy * np.sin(a)) * visible)[:, idx].reshape(-1)[:n_frames] for a in theta]
    return {"luminance": np.stack(lum, 1), "motion": np.stack(motion, 1)}


def frame_drives(bench, cfg: SimConfig, video=None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, voxels) drives and each voxel's family, from the benchmark's log-mel and segments
    (and, given ``video``, a :class:`~tempmodels.video.sprites.VideoBenchmark` on the same TRs, the
    video families; the audio families are then unchanged)."""
    rng = np.random.default_rng(cfg.seed)
    mel_cfg = bench.config.mel
    frames = bench.mel.reshape(-1, bench.mel.shape[-1]).double().numpy()      # (n_frames, mels)
    z = _zscore(frames)
    n, n_mels = frames.shape
    k = cfg.voxels_per_family
    fps = mel_cfg.sample_rate / mel_cfg.hop_length
    cols, fam = [], []
    bands = np.arange(n_mels)
    for _ in range(k):  # static: a smooth bump of band weights
        centre, width = rng.uniform(0, n_mels), rng.uniform(8, 32)
        w = np.exp(-0.5 * ((bands - centre) / width) ** 2)
        cols.append(z @ (w / w.sum()))
        fam.append("static audio")
    energy = frames  # log-mel: log band energy
    for _ in range(k):  # onsets: rectified rise of energy in a band range
        lo = int(rng.integers(0, n_mels - 16))
        band = energy[:, lo : lo + int(rng.integers(8, 32))].mean(axis=1)
        cols.append(np.clip(np.diff(band, prepend=band[0]), 0, None))
        fam.append("onsets")
    sos = butter(4, [3.0, 8.0], btype="bandpass", fs=fps, output="sos")
    smooth = np.hanning(int(fps * 0.5))
    for _ in range(k):  # modulation at syllable rates of a band range's envelope: one drive per voxel
        lo = int(rng.integers(0, n_mels - 16))
        env = _zscore(frames[:, lo : lo + int(rng.integers(8, 32))].mean(axis=1))
        cols.append(_causal_smooth(_causal_filter(sos, env) ** 2, smooth))
        fam.append("modulation")
    for _ in range(k):  # energy slope: signed change of (lightly smoothed) band energy
        lo = int(rng.integers(0, n_mels - 16))
        band = energy[:, lo : lo + int(rng.integers(8, 32))].mean(axis=1)
        band = _causal_smooth(band, np.hanning(5))
        cols.append(np.diff(band, prepend=band[0]))
        fam.append("energy slope")
    voices = sorted(v for v in bench.segments.voice.dropna().unique() if v)
    speech = bench.segments[bench.segments.kind == "speech"]
    spf = mel_cfg.hop_length
    for i in range(k):  # speaker: on while voice i speaks
        d = np.zeros(n)
        for seg in speech[speech.voice == voices[i % len(voices)]].itertuples():
            d[seg.start // spf : min(n, seg.end // spf)] = 1.0
        cols.append(d)
        fam.append("speaker")
    if video is not None:
        for name, d in video_drives(video, n, mel_cfg.frames_per_tr, k, rng).items():
            cols += list(d.T)
            fam += [name] * k
    for _ in range(k):
        cols.append(np.zeros(n))
        fam.append("noise")
    return np.stack(cols, axis=1), np.array(fam)


def simulate(bench, cfg: SimConfig = SimConfig(), video=None) -> SimulatedFMRI:
    """Simulate (no cache): see :func:`load_simulation`."""
    mel_cfg = bench.config.mel
    fpt = mel_cfg.frames_per_tr
    n_tr = bench.mel.shape[0]
    drives, family = frame_drives(bench, cfg, video)
    hrf = canonical_hrf(1.0 / (mel_cfg.sample_rate / mel_cfg.hop_length), cfg.hrf)
    bold = fftconvolve(drives, hrf[:, None], axes=0)[: len(drives)]
    signal = bold[fpt - 1 :: fpt][:n_tr]                     # sampled at the end of each TR
    driven = family != "noise"
    signal = np.where(driven, _zscore(signal), 0.0)
    rng = np.random.default_rng(cfg.seed + 1)
    v = signal.shape[1]
    snr = np.where(driven, cfg.snr * cfg.snr_spread ** rng.uniform(-1, 1, v), 0.0)
    noise_sd = np.where(driven, 1 / np.sqrt(np.where(snr > 0, snr, 1)), 1.0)
    t = np.arange(n_tr) / n_tr
    responses = np.empty((cfg.repeats, n_tr, v))
    for r in range(cfg.repeats):
        e = rng.standard_normal((n_tr, v)) * np.sqrt(1 - cfg.ar ** 2)
        ar = np.empty_like(e)
        ar[0] = rng.standard_normal(v)
        for i in range(1, n_tr):
            ar[i] = cfg.ar * ar[i - 1] + e[i]
        drift = sum(rng.normal(0, cfg.drift / np.sqrt(3), v) * np.cos(np.pi * (j + 1) * t[:, None] + rng.uniform(0, 2 * np.pi, v))
                    for j in range(3))
        responses[r] = signal + noise_sd * (ar + drift)
    return SimulatedFMRI(cfg, mel_cfg.tr_seconds, family, signal, responses, drives, snr)


def _code_digest() -> str:
    """The simulator's and the HRF's source and the versions of the libraries they compute with: a
    cached simulation made by other code is never read."""
    import hashlib
    import importlib.metadata

    h = hashlib.sha256()
    for f in (Path(__file__), Path(__file__).with_name("hrf.py")):
        h.update(f.read_bytes())
    for lib in ("nilearn", "scipy", "numpy"):
        h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
    return h.hexdigest()[:16]


def load_simulation(bench, cfg: SimConfig = SimConfig(), cache_dir: str | Path | None = None,
                    video=None) -> SimulatedFMRI:
    """:func:`simulate`, cached under a key of the benchmark's (and video track's) and the simulator's
    configuration. An entry that cannot be read whole (the npz's CRC checks every array) is named in a
    warning, moved aside and simulated again."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    parts = {"bench": bench.config.key(), "sim": asdict(cfg), "version": SIM_VERSION, "code": _code_digest()}
    if video is not None:
        parts["video"] = video.config.key()
    key = config_key(parts)
    path = root / "fmri" / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return SimulatedFMRI(cfg, float(z["tr_seconds"]), z["family"].astype(str), z["signal"],
                                     z["responses"], z["drives"], z["snr"])
        except Exception as e:  # noqa: BLE001 - a damaged entry is simulated again, never trusted
            warnings.warn(f"fMRI simulation cache {path} is damaged ({type(e).__name__}: {e}); moved aside to "
                          f"{set_aside(path, 'damaged').name}, simulating again", stacklevel=2)
    sim = simulate(bench, cfg, video)
    os.makedirs(path.parent, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, tr_seconds=sim.tr_seconds, family=sim.family.astype("U16"), signal=sim.signal,
                     responses=sim.responses, drives=sim.drives, snr=sim.snr)
    return sim
