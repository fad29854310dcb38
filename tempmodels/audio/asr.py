"""Intelligibility: offline ASR (pocketsphinx + a JSGF grammar of GRID sentences) and WER (jiwer).

Every utterance is recognised from the same decoder state: pocketsphinx otherwise carries its
cepstral-mean prior and noise tracker from one utterance to the next, so a sentence's hypothesis would
depend on what the recogniser heard before it (another encoder's reconstruction, another chapter).
Being independent, utterances are recognised in parallel worker processes
(:meth:`GridRecognizer.transcribe_many`) with the same result as one by one.
"""
from __future__ import annotations

import atexit
import os
import struct
import subprocess
import sys
import threading
import warnings

import numpy as np

from .speech import SAMPLE_RATE, jsgf_grammar

#: environment variable: number of ASR worker processes (1: recognise in the calling process)
WORKERS_ENV = "TEMPMODELS_ASR_WORKERS"


def default_workers() -> int:
    """``$TEMPMODELS_ASR_WORKERS`` if set, else one per CPU core up to 2."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {env!r}")
        return int(env)
    return max(1, min(2, os.cpu_count() or 1))


def _pcm(audio) -> bytes:
    """Mono float audio -> peak-normalised 16-bit PCM (what the decoder reads); bad input named."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio shaped (samples,), got {audio.shape}")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if not np.isfinite(peak):
        raise ValueError("audio contains non-finite samples")
    scaled = audio / peak * 0.9 if peak > 0 else audio
    return (scaled * 32767).astype("<i2").tobytes()


class GridRecognizer:
    """pocketsphinx's bundled US-English acoustic model constrained to the GRID grammar.

    ``workers`` (default :func:`default_workers`) processes recognise a list of utterances in
    parallel (:meth:`transcribe_many`); 1 recognises them in this process.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, workers: int | None = None):
        from pocketsphinx import Decoder

        if sample_rate != 16_000:
            raise ValueError(f"pocketsphinx's model expects 16000 Hz audio, got {sample_rate}")
        workers = default_workers() if workers is None else workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.sample_rate, self.workers = sample_rate, workers
        self.decoder = Decoder(samprate=float(sample_rate), loglevel="FATAL", lm=None)
        self.decoder.add_jsgf_string("grid", jsgf_grammar())
        self.decoder.activate_search("grid")

    def _decode(self, pcm: bytes) -> str:
        self.decoder.reinit_feat()  # the same state for every utterance: CMN prior and noise tracker reset
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def transcribe(self, audio: np.ndarray) -> str:
        """Recognise one utterance; returns '' when nothing is recognised."""
        return self._decode(_pcm(audio))

    def transcribe_many(self, waves) -> list[str]:
        """Recognise each utterance of ``waves`` (a list of mono arrays), in order — the same as
        ``[self.transcribe(w) for w in waves]``, on ``self.workers`` processes."""
        pcms = []
        for i, w in enumerate(waves):  # every input checked here, before any worker sees it
            try:
                pcms.append(_pcm(w))
            except ValueError as err:
                raise ValueError(f"utterance {i}: {err}") from None
        if self.workers == 1 or len(pcms) < 2 * self.workers:
            return [self._decode(p) for p in pcms]
        try:
            return _on_workers(pcms, self.workers)
        except (OSError, EOFError) as err:  # a worker died (killed, out of memory): recognise here instead
            _stop_workers()
            warnings.warn(f"ASR worker processes failed ({err}); recognising in this process", stacklevel=2)
            return [self._decode(p) for p in pcms]


# ------------------------------------------------------------------------------------ worker processes
# Plain subprocesses (``python -m tempmodels.audio.asr --worker``) speaking length-prefixed messages on
# stdin/stdout: unlike multiprocessing's spawn they never re-import the caller's script, and unlike fork
# they share no state with a process that runs torch threads.
_WORKERS: list[subprocess.Popen] = []
_LOCK = threading.Lock()


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"an ASR worker closed its pipe after {len(data)} of {n} bytes")
    return data


def _start_workers(n: int) -> list[subprocess.Popen]:
    alive = [w for w in _WORKERS if w.poll() is None]
    if len(alive) != len(_WORKERS):
        _stop_workers()
        alive = []
    env = {k: v for k, v in os.environ.items() if k != "TEMPMODELS_MODULES_FILE"}
    while len(alive) < n:
        alive.append(subprocess.Popen([sys.executable, "-m", "tempmodels.audio.asr", "--worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env))
    _WORKERS[:] = alive
    return alive[:n]


def _on_workers(pcms: list[bytes], n: int) -> list[str]:
    """Utterance i goes to worker i mod n; each worker answers in the order it was asked."""
    with _LOCK:
        workers = _start_workers(n)
        shares = [pcms[k::n] for k in range(n)]

        def send(worker, share):
            for pcm in share:
                worker.stdin.write(struct.pack("<Q", len(pcm)) + pcm)
            worker.stdin.flush()

        writers = [threading.Thread(target=send, args=(w, sh), daemon=True) for w, sh in zip(workers, shares)]
        for t in writers:
            t.start()
        answers = []
        for w, share in zip(workers, shares):
            got = []
            for _ in share:
                (size,) = struct.unpack("<I", _read(w.stdout, 4))
                got.append(_read(w.stdout, size).decode())
            answers.append(got)
        for t in writers:
            t.join()
    out = [""] * len(pcms)
    for k, got in enumerate(answers):
        out[k::n] = got
    return out


@atexit.register
def _stop_workers() -> None:
    for w in _WORKERS:
        try:
            w.stdin.close()
            w.wait(timeout=5)
        except Exception:  # noqa: BLE001 - already gone or stuck: make sure it is gone
            w.kill()
    _WORKERS.clear()


def _serve() -> None:
    """The worker's loop: a length-prefixed PCM utterance in, its length-prefixed hypothesis out."""
    rec = GridRecognizer(workers=1)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        (size,) = struct.unpack("<Q", head)
        text = rec._decode(_read(stdin, size)).encode()
        stdout.write(struct.pack("<I", len(text)) + text)
        stdout.flush()


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


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _serve()
