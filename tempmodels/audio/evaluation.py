"""One evaluation protocol for every reconstruction of a split's log-mel: the metrics of chapter 00.

``evaluate`` scores temporal detail and modulation correlation on all TRs of the split, and
intelligibility on every sentence that lies wholly inside it: vocoder (all sentences in one batched
Griffin-Lim pass, :meth:`~tempmodels.audio.melspec.GriffinLimVocoder.batch`) -> ASR -> WER, and STOI
(pystoi) of the vocoded sentence against the original waveform — a graded score where WER
saturates at 1.0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .asr import GridRecognizer, sentence_error_rates, word_error_rate
from .benchmark import AudioBenchmark
from .melspec import GriffinLimVocoder
from ..metrics import modulation_r, temporal_detail_r, temporal_detail_r_per_tr


def _utterance_frames(bench: AudioBenchmark, split: str) -> list[tuple[int, int]]:
    """[lo, hi) frame range of each sentence of ``split``, relative to the split's first frame.

    Frame ``i`` is centred on sample ``i * hop`` (``center=True``): a sentence on samples
    [start, end) spans frames ``start // hop`` to ``ceil(end / hop)`` inclusive.
    """
    idx = bench.splits[split]
    cfg = bench.config.mel
    first = idx[0] * cfg.frames_per_tr
    n = len(idx) * cfg.frames_per_tr
    return [(max(s.start // cfg.hop_length - first, 0), min(-(-s.end // cfg.hop_length) + 1 - first, n))
            for s in bench.sentences(split).itertuples()]


def utterance_mels(recon: torch.Tensor, bench: AudioBenchmark, split: str) -> list[torch.Tensor]:
    """Cut each sentence of ``split`` out of its reconstructed log-mel (TR, frames, mels)."""
    idx = bench.splits[split]
    if recon.shape[0] != len(idx):
        raise ValueError(f"reconstruction has {recon.shape[0]} TRs, split {split!r} has {len(idx)}")
    frames = recon.reshape(-1, recon.shape[-1])
    return [frames[lo:hi] for lo, hi in _utterance_frames(bench, split)]


def utterance_reference_audio(bench: AudioBenchmark, split: str, lengths: list[int]) -> list[np.ndarray]:
    """The original waveform under each sentence's frames, ``lengths[i]`` samples from its first frame's centre
    (what the vocoder's output of those frames lines up with)."""
    cfg = bench.config.mel
    first = bench.splits[split][0] * cfg.frames_per_tr
    return [bench.audio[(first + lo) * cfg.hop_length:][:n] for (lo, _), n in zip(_utterance_frames(bench, split), lengths)]


def stoi_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16_000) -> float:
    """Short-Time Objective Intelligibility (Taal et al. 2011, pystoi) of ``degraded`` against ``reference``."""
    from pystoi import stoi

    n = min(len(reference), len(degraded))
    if n < sample_rate // 4:
        raise ValueError(f"STOI needs at least 0.25 s of audio, got {n} samples")
    return float(stoi(np.asarray(reference[:n], dtype=np.float64), np.asarray(degraded[:n], dtype=np.float64),
                      sample_rate, extended=False))


def transcribe_split(recon: torch.Tensor, bench: AudioBenchmark, split: str, vocoder: GriffinLimVocoder,
                     recognizer: GridRecognizer) -> pd.DataFrame:
    """One row per sentence: reference text, hypothesis, and STOI of the vocoded sentence."""
    sents = bench.sentences(split)
    waves = vocoder.batch(utterance_mels(recon, bench, split))  # all sentences in one Griffin-Lim pass
    refs = utterance_reference_audio(bench, split, [len(w) for w in waves])
    return pd.DataFrame({"segment": sents.segment, "voice": sents.voice, "reference": sents.text,
                         "hypothesis": recognizer.transcribe_many(waves),
                         "stoi": [stoi_score(r, w, bench.config.mel.sample_rate) for r, w in zip(refs, waves)]})


def evaluate(recon: torch.Tensor, bench: AudioBenchmark, split: str, vocoder: GriffinLimVocoder,
             recognizer: GridRecognizer, asr: bool = True, units: dict | None = None) -> dict[str, float]:
    """The split's scores; ``units``, when given, receives the per-unit scores behind them (per TR:
    temporal-detail r; per sentence: WER and STOI) for paired comparisons (:mod:`tempmodels.results`)."""
    orig = bench.split(split)
    out = {"temporal_detail_r": temporal_detail_r(recon, orig), "modulation_r": modulation_r(recon, orig)}
    if units is not None:
        units["temporal_detail_r"] = temporal_detail_r_per_tr(recon, orig)
    if asr:
        t = transcribe_split(recon, bench, split, vocoder, recognizer)
        out["wer"] = word_error_rate(list(t.reference), list(t.hypothesis))
        out["stoi"] = float(t.stoi.mean())
        if units is not None:
            units["wer"] = sentence_error_rates(list(t.reference), list(t.hypothesis))
            units["stoi"] = t.stoi.to_numpy(dtype=np.float64)
    return out


def raw_audio_wer(bench: AudioBenchmark, split: str, recognizer: GridRecognizer) -> float:
    """WER of the original waveform (no mel, no vocoder): what the recogniser does on clean speech."""
    sents = bench.sentences(split)
    hyps = recognizer.transcribe_many([bench.audio[s.start : s.end] for s in sents.itertuples()])
    return word_error_rate(list(sents.text), hyps)


def tidy(rows: dict[str, dict[str, float]], key: str = "condition") -> pd.DataFrame:
    """{condition: {metric: value}} -> long table with one row per condition x metric."""
    return pd.DataFrame([{key: k, "metric": m, "value": v} for k, d in rows.items() for m, v in d.items()])


