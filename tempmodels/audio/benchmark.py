"""The benchmark's audio track: GRID speech by several voices, tones and rhythms at known tempo,
and silence, as one 16 kHz stream cut into 1.5 s TRs of 64 log-mel frames.

Deterministic from its configuration (which includes the seed); built once and cached on disk
under a key of that configuration and the espeak-ng version.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.std import tqdm  # a plain text bar: no ipywidgets in executed notebooks

from ..atomic import apply_umask, config_key
from ..entries import default_cache_dir, set_aside
from .melspec import MelConfig, log_mel, to_trs
from .speech import DEFAULT_VOICES, espeak_binary, sample_sentence, synthesize
from ..splits import time_blocks

DATA_VERSION = 1
KINDS = ("speech", "tones", "rhythm", "silence")


@dataclass(frozen=True)
class AudioConfig:
    n_trs: int = 240
    seed: int = 0
    voices: tuple[str, ...] = DEFAULT_VOICES
    kind_probs: tuple[float, float, float, float] = (0.6, 0.15, 0.15, 0.1)  # speech, tones, rhythm, silence
    gap_trs: int | None = None  # None: the HRF length (splits.hrf_gap_trs)
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    noise_db: float = -60.0  # a faint noise floor, so silence has a finite log-mel
    mel: MelConfig = field(default_factory=MelConfig)

    def __post_init__(self):
        if self.n_trs < 1:
            raise ValueError(f"n_trs must be >= 1, got {self.n_trs}")
        if len(self.voices) < 1:
            raise ValueError("need at least one voice")
        if len(self.kind_probs) != 4 or abs(sum(self.kind_probs) - 1) > 1e-6:
            raise ValueError(f"kind_probs must be 4 probabilities for {KINDS}, got {self.kind_probs}")

    def key(self) -> str:
        return config_key({**asdict(self), "data_version": DATA_VERSION, "espeak": espeak_version()})


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    out = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True)
    return out.stdout.split("Data at")[0].strip()


@dataclass
class AudioBenchmark:
    """mel: (TR, 64, 128) float32; audio: the 16 kHz stream; segments and trs: tidy tables."""

    config: AudioConfig
    mel: torch.Tensor
    audio: np.ndarray
    segments: pd.DataFrame
    trs: pd.DataFrame
    splits: dict[str, np.ndarray]

    def split(self, name: str) -> torch.Tensor:
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; have {sorted(self.splits)}")
        return self.mel[self.splits[name]]

    def sentences(self, split: str) -> pd.DataFrame:
        """Speech segments lying entirely inside the TRs of ``split``, with frame ranges."""
        idx = self.splits[split]
        spt = self.config.mel.samples_per_tr
        lo, hi = idx[0] * spt, (idx[-1] + 1) * spt
        s = self.segments
        return s[(s.kind == "speech") & (s.start >= lo) & (s.end <= hi)].reset_index(drop=True)


    def speechiest_window(self, split: str, n_trs: int = 4) -> int:
        """Index (within ``split``) of the first of the ``n_trs`` consecutive TRs holding the most speech."""
        speech = self.trs.loc[self.splits[split]].speech_fraction.to_numpy()
        if len(speech) < n_trs:
            raise ValueError(f"split {split!r} has {len(speech)} TRs, fewer than the window of {n_trs}")
        return int(np.argmax(np.convolve(speech, np.ones(n_trs), mode="valid")))


# --------------------------------------------------------------------------- generation
def _tones(rng, sr, dur, tempo):
    t = np.arange(int(dur * sr)) / sr
    n_beats = max(1, int(dur * tempo))
    out = np.zeros_like(t)
    beat = int(sr / tempo)
    for b in range(n_beats):
        f = rng.uniform(300, 2000)
        seg = slice(b * beat, min(b * beat + int(0.6 * beat), len(t)))
        env = np.hanning(seg.stop - seg.start)
        out[seg] = 0.3 * env * np.sin(2 * np.pi * f * t[: seg.stop - seg.start])
    return out


def _rhythm(rng, sr, dur, tempo):
    out = np.zeros(int(dur * sr))
    beat = int(sr / tempo)
    click = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.linspace(0, 6, int(0.03 * sr)))
    for start in range(0, len(out) - len(click), beat):
        out[start : start + len(click)] += 0.4 * click
    return out


def generate(cfg: AudioConfig, progress: bool = True) -> AudioBenchmark:
    rng = np.random.default_rng(cfg.seed)
    sr = cfg.mel.sample_rate
    total = cfg.n_trs * cfg.mel.samples_per_tr
    pieces, rows, pos = [], [], 0
    bar = tqdm(total=total, desc="synthesising benchmark audio", unit="sample", disable=not progress, unit_scale=True)
    while pos < total:
        kind = KINDS[rng.choice(4, p=cfg.kind_probs)]
        row = {"kind": kind, "voice": "", "text": "", "tempo_hz": np.nan}
        if kind == "speech":
            words = sample_sentence(rng)
            row["voice"] = str(rng.choice(cfg.voices))
            row["text"] = " ".join(words)
            clip = synthesize(words, row["voice"], sample_rate=sr)
        elif kind == "tones":
            row["tempo_hz"] = float(rng.choice([2.0, 3.0, 4.0, 6.0]))
            clip = _tones(rng, sr, rng.uniform(1.0, 3.0), row["tempo_hz"])
        elif kind == "rhythm":
            row["tempo_hz"] = float(rng.choice([2.0, 3.0, 4.0, 6.0]))
            clip = _rhythm(rng, sr, rng.uniform(1.0, 3.0), row["tempo_hz"])
        else:
            clip = np.zeros(int(rng.uniform(0.5, 2.0) * sr))
        row.update(start=pos, end=pos + len(clip))
        rows.append(row)
        gap = np.zeros(int(rng.uniform(0.1, 0.5) * sr))
        pieces += [clip, gap]
        pos += len(clip) + len(gap)
        bar.update(len(clip) + len(gap))
    bar.close()
    audio = np.concatenate(pieces)[:total].astype(np.float32)
    audio += (10 ** (cfg.noise_db / 20) * rng.standard_normal(total)).astype(np.float32)
    segments = pd.DataFrame(rows)
    segments = segments[segments.start < total].reset_index(drop=True)
    segments.insert(0, "segment", range(len(segments)))

    mel = to_trs(log_mel(audio, cfg.mel), cfg.mel)
    if mel.shape[0] != cfg.n_trs:
        raise AssertionError(f"expected {cfg.n_trs} TRs, got {mel.shape[0]}")
    splits = time_blocks(cfg.n_trs, cfg.fractions, cfg.gap_trs, cfg.mel.tr_seconds)
    trs = _tr_table(segments, cfg, splits)
    return AudioBenchmark(cfg, mel, audio, segments, trs, splits)


def _tr_table(segments: pd.DataFrame, cfg: AudioConfig, splits: dict[str, np.ndarray]) -> pd.DataFrame:
    spt = cfg.mel.samples_per_tr
    split_of = np.full(cfg.n_trs, "gap", dtype=object)
    for name, idx in splits.items():
        split_of[idx] = name
    rows = []
    for k in range(cfg.n_trs):
        lo, hi = k * spt, (k + 1) * spt
        ov = segments[(segments.start < hi) & (segments.end > lo)]
        cover = {kind: 0 for kind in KINDS}
        speaker_cover: dict[str, int] = {}
        for seg in ov.itertuples():
            n = min(seg.end, hi) - max(seg.start, lo)
            cover[seg.kind] += n
            if seg.kind == "speech":
                speaker_cover[seg.voice] = speaker_cover.get(seg.voice, 0) + n
        cover["silence"] += spt - sum(cover.values())  # inter-segment gaps are silence
        speech = ov[ov.kind == "speech"]
        rows.append({
            "tr": k, "onset_s": k * cfg.mel.tr_seconds, "split": split_of[k],
            "kind": max(cover, key=cover.get),
            "speaker": max(speaker_cover, key=speaker_cover.get) if speaker_cover else "",
            "speech_fraction": cover["speech"] / spt,
            "segments": " ".join(map(str, ov.segment)),
            "words": " | ".join(speech.text),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- cache
_FILES = ("mel.pt", "audio.npy", "segments.csv", "trs.csv")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_audio_benchmark(cfg: AudioConfig = AudioConfig(), cache_dir: str | Path | None = None,
                         progress: bool = True) -> AudioBenchmark:
    """Build the benchmark for ``cfg``, or load it from ``cache_dir`` if built before.

    The cache entry is written to a temporary folder and renamed into place only when complete; its
    ``config.json`` records the configuration and the SHA-256 of every file. An entry whose files are
    missing, altered or unreadable is named in a warning, moved aside and built again.
    """
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = root / f"audio-{cfg.key()}"
    if (entry / "config.json").is_file():
        try:
            return _read(entry, cfg)
        except Exception as e:  # noqa: BLE001 - a damaged entry is rebuilt, never trusted
            aside = set_aside(entry, "damaged")
            warnings.warn(f"audio benchmark cache {entry} is damaged ({type(e).__name__}: {e}); moved aside to "
                          f"{aside.name}, building it again", stacklevel=2)
    bench = generate(cfg, progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
    try:
        apply_umask(tmp, 0o777)
        torch.save(bench.mel, tmp / "mel.pt")
        np.save(tmp / "audio.npy", bench.audio)
        bench.segments.to_csv(tmp / "segments.csv", index=False)
        bench.trs.to_csv(tmp / "trs.csv", index=False)
        meta = {**asdict(cfg), "key": cfg.key(), "sha256": {f: _sha256(tmp / f) for f in _FILES}}
        (tmp / "config.json").write_text(json.dumps(meta, indent=1, default=str))
        try:
            os.replace(tmp, entry)
        except OSError as err:
            # only "another process finished the same entry first" is benign (theirs is identical);
            # a full disk, a permission or a read-only cache is an error the user must see
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (entry / "config.json").is_file():
                raise
            shutil.rmtree(tmp)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return bench


def _read(entry: Path, cfg: AudioConfig) -> AudioBenchmark:
    meta = json.loads((entry / "config.json").read_text())
    sums = meta.get("sha256") if isinstance(meta, dict) else None
    if meta.get("key") != cfg.key() or not isinstance(sums, dict):
        raise ValueError("config.json does not describe this configuration (or predates checksums)")
    bad = [f for f in _FILES if sums.get(f) != _sha256(entry / f)]
    if bad:
        raise ValueError(f"checksum mismatch in {bad}")
    segments = pd.read_csv(entry / "segments.csv", keep_default_na=False, na_values={"tempo_hz": [""]})
    trs = pd.read_csv(entry / "trs.csv", keep_default_na=False)
    trs["segments"] = trs["segments"].astype(str)
    splits = time_blocks(cfg.n_trs, cfg.fractions, cfg.gap_trs, cfg.mel.tr_seconds)
    mel = torch.load(entry / "mel.pt")
    if mel.shape[0] != cfg.n_trs:
        raise ValueError(f"mel.pt holds {mel.shape[0]} TRs, the configuration {cfg.n_trs}")
    return AudioBenchmark(cfg, mel, np.load(entry / "audio.npy"), segments, trs, splits)
