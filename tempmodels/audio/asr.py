"""Intelligibility: offline ASR (pocketsphinx + a JSGF grammar of GRID sentences) and WER (jiwer)."""
from __future__ import annotations

import numpy as np

from .speech import SAMPLE_RATE, jsgf_grammar


class GridRecognizer:
    """pocketsphinx's bundled US-English acoustic model constrained to the GRID grammar."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        from pocketsphinx import Decoder

        if sample_rate != 16_000:
            raise ValueError(f"pocketsphinx's model expects 16000 Hz audio, got {sample_rate}")
        self.decoder = Decoder(samprate=float(sample_rate), loglevel="FATAL", lm=None)
        self.decoder.add_jsgf_string("grid", jsgf_grammar())
        self.decoder.activate_search("grid")

    def transcribe(self, audio: np.ndarray) -> str:
        """Recognise one utterance; returns '' when nothing is recognised."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio shaped (samples,), got {audio.shape}")
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if not np.isfinite(peak):
            raise ValueError("audio contains non-finite samples")
        scaled = audio / peak * 0.9 if peak > 0 else audio
        pcm = (scaled * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER over all utterances (jiwer). Empty hypotheses count every word as deleted."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    return float(jiwer.wer(list(references), list(hypotheses)))


def sentence_error_rates(references: list[str], hypotheses: list[str]):
    """WER of each utterance on its own (jiwer), as numpy: the paired unit behind
    :func:`word_error_rate` (their means agree when every utterance has the same number of words, as
    every GRID sentence does)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return np.array([jiwer.wer(r, h) for r, h in zip(references, hypotheses)], dtype=np.float64)
