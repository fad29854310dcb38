"""One evaluation protocol for every reconstruction of a split's log-mel: the metrics of chapter 00.

``evaluate`` scores temporal detail and modulation correlation on all TRs of the split, and
intelligibility on every sentence that lies wholly inside it (vocoder -> ASR -> WER).
"""
from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from .asr import GridRecognizer, word_error_rate
from .audio_benchmark import AudioBenchmark
from .melspec import GriffinLimVocoder
from .metrics import modulation_r, temporal_detail_r


def utterance_mels(recon: torch.Tensor, bench: AudioBenchmark, split: str) -> list[torch.Tensor]:
    """Cut each sentence of ``split`` out of its reconstructed log-mel (TR, frames, mels)."""
    idx = bench.splits[split]
    if recon.shape[0] != len(idx):
        raise ValueError(f"reconstruction has {recon.shape[0]} TRs, split {split!r} has {len(idx)}")
    cfg = bench.config.mel
    frames = recon.reshape(-1, recon.shape[-1])
    first = idx[0] * cfg.frames_per_tr
    out = []
    for s in bench.sentences(split).itertuples():
        lo = s.start // cfg.hop_length - first
        hi = -(-s.end // cfg.hop_length) + 1 - first
        out.append(frames[max(lo, 0) : min(hi, frames.shape[0])])
    return out


def transcribe_split(recon: torch.Tensor, bench: AudioBenchmark, split: str, vocoder: GriffinLimVocoder,
                     recognizer: GridRecognizer, progress: bool = False, desc: str = "ASR") -> pd.DataFrame:
    """One row per sentence: reference, hypothesis."""
    sents = bench.sentences(split)
    hyps = [recognizer.transcribe(vocoder(m)) for m in
            tqdm(utterance_mels(recon, bench, split), desc=desc, disable=not progress, leave=False)]
    return pd.DataFrame({"segment": sents.segment, "voice": sents.voice, "reference": sents.text, "hypothesis": hyps})


def evaluate(recon: torch.Tensor, bench: AudioBenchmark, split: str, vocoder: GriffinLimVocoder,
             recognizer: GridRecognizer, asr: bool = True, progress: bool = False, desc: str = "ASR") -> dict[str, float]:
    orig = bench.split(split)
    out = {"temporal_detail_r": temporal_detail_r(recon, orig), "modulation_r": modulation_r(recon, orig)}
    if asr:
        t = transcribe_split(recon, bench, split, vocoder, recognizer, progress, desc)
        out["wer"] = word_error_rate(list(t.reference), list(t.hypothesis))
    return out


def raw_audio_wer(bench: AudioBenchmark, split: str, recognizer: GridRecognizer) -> float:
    """WER of the original waveform (no mel, no vocoder): what the recogniser does on clean speech."""
    sents = bench.sentences(split)
    hyps = [recognizer.transcribe(bench.audio[s.start : s.end]) for s in sents.itertuples()]
    return word_error_rate(list(sents.text), hyps)


def tidy(rows: dict[str, dict[str, float]], key: str = "condition") -> pd.DataFrame:
    """{condition: {metric: value}} -> long table with one row per condition x metric."""
    return pd.DataFrame([{key: k, "metric": m, "value": v} for k, d in rows.items() for m, v in d.items()])


