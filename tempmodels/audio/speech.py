"""GRID-style sentences spoken by espeak-ng, and the JSGF grammar that recognises them.

A GRID sentence has six slots — command, colour, preposition, letter, digit, adverb — e.g.
"bin blue at f two now" (Cooke et al. 2006). The vocabulary is small and fixed, so offline ASR
with a grammar is sharp on clean speech and any loss of intelligibility is the encoder's.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
import torch
import torchaudio

SLOTS: dict[str, tuple[str, ...]] = {
    "command": ("bin", "lay", "place", "set"),
    "colour": ("blue", "green", "red", "white"),
    "preposition": ("at", "by", "in", "with"),
    "letter": tuple("abcdefghijklmnopqrstuvxyz"),  # GRID omits 'w'
    "digit": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "adverb": ("again", "now", "please", "soon"),
}

# Four distinct espeak-ng voices (speaker labels): two accents x male/female variants.
DEFAULT_VOICES: tuple[str, ...] = ("en-us+m3", "en-us+f3", "en-gb+m1", "en-gb+f4")

SAMPLE_RATE = 16_000
INSTALL_HINT = (
    "espeak-ng is required to synthesise the benchmark's speech. Install it with "
    "`sudo apt-get install espeak-ng` (Debian/Ubuntu), `conda install -c conda-forge espeak-ng`, "
    "or `brew install espeak-ng`; `make book` installs it itself when run as root on Debian."
)


class EspeakNotFoundError(RuntimeError):
    pass


def sample_sentence(rng: np.random.Generator) -> list[str]:
    """One GRID sentence as a list of six words, one per slot."""
    return [str(rng.choice(words)) for words in SLOTS.values()]


def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakNotFoundError(f"`espeak-ng` not found on PATH. {INSTALL_HINT}")
    return exe


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode 16-bit PCM WAV bytes (espeak-ng's --stdout writes a streaming header)."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit PCM WAV, got sample width {w.getsampwidth()} bytes")
        rate, channels = w.getframerate(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm, rate


def synthesize(words: list[str] | str, voice: str, *, speed: int = 150, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Speak ``words`` with an espeak-ng ``voice``; return mono float32 audio at ``sample_rate``."""
    text = words if isinstance(words, str) else " ".join(words)
    proc = subprocess.run(
        [espeak_binary(), "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True, check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.decode(errors='replace').strip()}")
    pcm, rate = read_wav_bytes(proc.stdout)
    audio = torchaudio.functional.resample(torch.from_numpy(pcm), rate, sample_rate).numpy()
    # espeak pads with silence; trim it so segment boundaries are where the speech is.
    active = np.flatnonzero(np.abs(audio) > 1e-3)
    if active.size:
        audio = audio[max(active[0] - 160, 0) : active[-1] + 160]
    return audio.astype(np.float32)


def jsgf_grammar() -> str:
    """A JSGF grammar accepting exactly the GRID sentence structure."""
    rules = "\n".join(f"<{slot}> = {' | '.join(words)};" for slot, words in SLOTS.items())
    body = " ".join(f"<{slot}>" for slot in SLOTS)
    return f"#JSGF V1.0;\ngrammar grid;\n{rules}\npublic <sentence> = {body};\n"
