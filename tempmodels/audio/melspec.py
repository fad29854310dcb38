"""Log-mel features at exactly 64 frames per 1.5 s TR, and the Griffin-Lim vocoder back to audio.

16 kHz, n_fft 1024, hop 375 samples: 1.5 s x 16000 / 375 = 64 frames per TR, 128 mel bands.
Frame ``i`` is centred on sample ``i * 375`` (``center=True``), so TR ``k`` owns frames
``64k .. 64k+63``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torchaudio


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 375
    n_mels: int = 128
    tr_seconds: float = 1.5
    floor: float = 1e-5  # log(floor) is the value of digital silence

    @property
    def frames_per_tr(self) -> int:
        n = self.tr_seconds * self.sample_rate / self.hop_length
        if abs(n - round(n)) > 1e-9:
            raise ValueError(f"TR of {self.tr_seconds}s is not a whole number of hops of {self.hop_length} samples")
        return int(round(n))

    @property
    def samples_per_tr(self) -> int:
        return int(round(self.tr_seconds * self.sample_rate))

    def asdict(self) -> dict:
        return asdict(self)


def _mel_transform(cfg: MelConfig) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        n_mels=cfg.n_mels, power=2.0, center=True,
    )


def log_mel(audio: np.ndarray | torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Log-mel of a mono waveform, shaped (frames, n_mels)."""
    wav = torch.as_tensor(audio, dtype=torch.float32)
    if wav.ndim != 1:
        raise ValueError(f"expected a mono waveform shaped (samples,), got {tuple(wav.shape)}")
    mel = _mel_transform(cfg)(wav)  # (n_mels, frames)
    return torch.log(mel.clamp_min(cfg.floor)).T.contiguous()


def to_trs(frames: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """(frames, mels) -> (TR, frames_per_tr, mels), dropping an incomplete last TR."""
    f = cfg.frames_per_tr
    n_tr = frames.shape[0] // f
    return frames[: n_tr * f].reshape(n_tr, f, frames.shape[1])


class GriffinLimVocoder:
    """log-mel (frames, mels) -> waveform, via torchaudio InverseMelScale + GriffinLim."""

    def __init__(self, cfg: MelConfig = MelConfig(), n_iter: int = 32, seed: int = 0):
        self.cfg = cfg
        self.seed = seed
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=cfg.n_fft // 2 + 1, n_mels=cfg.n_mels, sample_rate=cfg.sample_rate,
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=cfg.n_fft, hop_length=cfg.hop_length, power=2.0, n_iter=n_iter,
        )

    @torch.no_grad()
    def __call__(self, logmel: torch.Tensor) -> np.ndarray:
        logmel = torch.as_tensor(logmel, dtype=torch.float32)
        if logmel.ndim != 2 or logmel.shape[1] != self.cfg.n_mels:
            raise ValueError(f"expected log-mel shaped (frames, {self.cfg.n_mels}), got {tuple(logmel.shape)}")
        mel = torch.exp(logmel).T  # (mels, frames), power
        spec = self.inverse_mel(mel).clamp_min(0)
        # GriffinLim draws its initial phase from the global RNG: seed it for "same input, same
        # audio", inside fork_rng so the caller's random stream is left exactly where it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            wav = self.griffin_lim(spec)
        return wav.numpy().astype(np.float32)

    @torch.no_grad()
    def batch(self, logmels: Sequence[torch.Tensor], max_batch: int = 64) -> list[np.ndarray]:
        """Vocode several log-mels in one Griffin-Lim pass per ``max_batch`` of them (a scoring pass's
        26-50 sentences: one pass instead of one per sentence, 0.6 s instead of 1.0 s here).

        Each spectrogram is padded with silence (zero power) to the longest of its batch and its
        waveform cut back to what :meth:`__call__` returns for it (``hop * (frames - 1)`` samples).
        It differs from ``__call__``'s output in two ways only: the random initial phase is one seeded
        draw for the whole batch, and the frames after a sentence's last one are silence instead of
        ``stft``'s reflection — intelligibility scores agree within a few hundredths
        (``tests/test_audio.py``). The result is a function of the inputs and ``max_batch``.
        """
        if max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        mels = [torch.as_tensor(m, dtype=torch.float32) for m in logmels]
        for i, m in enumerate(mels):
            if m.ndim != 2 or m.shape[1] != self.cfg.n_mels or m.shape[0] < 2:
                raise ValueError(f"log-mel {i}: expected (frames >= 2, {self.cfg.n_mels}), got {tuple(m.shape)}")
        out: list[np.ndarray] = []
        for lo in range(0, len(mels), max_batch):
            chunk = mels[lo:lo + max_batch]
            longest = max(m.shape[0] for m in chunk)
            # the inverse mel is frame by frame: one solve over all frames of the chunk
            lin = self.inverse_mel(torch.exp(torch.cat(chunk)).T).clamp_min(0).split([m.shape[0] for m in chunk], 1)
            spec = torch.zeros(len(chunk), self.cfg.n_fft // 2 + 1, longest)
            for i, s in enumerate(lin):
                spec[i, :, :s.shape[1]] = s
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                wav = self.griffin_lim(spec)
            out += [w[:self.cfg.hop_length * (m.shape[0] - 1)].numpy().astype(np.float32) for w, m in zip(wav, chunk)]
        return out
