"""Checks the registry chapter computes itself: claims decided by a count, in seconds, no training.

Each check is a function of no arguments returning a :class:`Check` — the figure it computed, the
figure the report states, and the verdict word from :func:`verdict_for` (never written by hand).
:data:`CHECKS` maps a claim id (:mod:`tempmodels.claims`) to its check; the registry's test fails
when a claim marked ``here`` has no check, or a check has no claim.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .accounting import count_parameters
from .budget import agrees

#: the words a check may use
HOLDS, FAILS = "holds", "does not hold"


@dataclass(frozen=True)
class Check:
    computed: float
    stated: float
    unit: str
    rule: str      # how the verdict was decided, e.g. "within 10 %"
    verdict: str   # HOLDS or FAILS
    detail: str = ""


def verdict_for(computed: float, stated: float, rel: float = 0.10) -> str:
    """HOLDS when the stated figure is within ``rel`` of the computed one (:func:`budget.agrees`), else FAILS."""
    return HOLDS if agrees(stated, computed, rel=rel) else FAILS


def within(computed: float, stated: float, unit: str, rel: float = 0.10, detail: str = "") -> Check:
    rule = "exactly" if rel == 0 else f"within {rel:.0%}"
    return Check(float(computed), float(stated), unit, rule, verdict_for(computed, stated, rel), detail)


def meta_flops(build: Callable[[], torch.nn.Module], shape: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, forward FLOPs of one input of ``shape``) of a module built on the meta device."""
    with torch.device("meta"):
        model = build()
        x = torch.empty(shape)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return count_parameters(model), counter.get_total_flops()


CHECKS: dict[str, Callable[[], Check]] = {}


def check(claim_id: str):
    """Register a function as the check of ``claim_id``."""
    def register(fn: Callable[[], Check]) -> Callable[[], Check]:
        if claim_id in CHECKS:
            raise ValueError(f"two checks for claim {claim_id!r}")
        CHECKS[claim_id] = fn
        return fn
    return register


def run_all(checks: dict[str, Callable[[], Check]] | None = None) -> dict[str, Check]:
    return {cid: fn() for cid, fn in (CHECKS if checks is None else checks).items()}


def in_range(computed: float, lo: float, hi: float, unit: str, detail: str = "") -> Check:
    """HOLDS when the computed figure lies in the stated range [lo, hi]."""
    verdict = HOLDS if lo <= computed <= hi else FAILS
    return Check(float(computed), float((lo + hi) / 2), unit, f"in [{lo:g}, {hi:g}]", verdict, detail)


# ---------------------------------------------------------------- time spans at the benchmark's frame rate
def _frame_ms() -> float:
    from .audio.melspec import MelConfig

    mel = MelConfig()
    return 1000 * mel.hop_length / mel.sample_rate


def _kernel_span(k: int, lo: float, hi: float) -> Check:
    ms = _frame_ms()
    return in_range(k * ms, lo, hi, "ms", detail=f"{k} frames × {ms:.1f} ms (64 log-mel frames per 1.5-s TR)")


@check("k3_phoneme_40_60ms")
def _k3() -> Check:
    return _kernel_span(3, 40, 60)


@check("k5_syllable_100_200ms")
def _k5() -> Check:
    return _kernel_span(5, 100, 200)


@check("k7_word_300_500ms")
def _k7() -> Check:
    return _kernel_span(7, 300, 500)


@check("k11_phrase_500_1000ms")
def _k11() -> Check:
    return _kernel_span(11, 500, 1000)


@check("video_30fps_33ms")
def _video_ms_per_frame() -> Check:
    return within(1000 / 30, 33, "ms", detail="1000 ms / 30 frames")


# ---------------------------------------------------------------- sizes, counted by PyTorch on the meta device
def _meta_params(build: Callable[[], torch.nn.Module]) -> int:
    with torch.device("meta"):
        return count_parameters(build())


@check("medium_transformer_80M")
def _medium_transformer() -> Check:
    def build():
        layer = torch.nn.TransformerEncoderLayer(768, 12, dim_feedforward=4 * 768, batch_first=True)
        return torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
    return within(_meta_params(build) / 1e6, 80, "M params",
                  detail="nn.TransformerEncoder: 6 layers, 12 heads, width 768, FFN 3072")


def _multiscale_stack(channels: int, layers: int) -> int:
    from .encoders.multiscale import MultiScaleConv1d

    return _meta_params(lambda: torch.nn.Sequential(*(MultiScaleConv1d(channels, channels) for _ in range(layers))))


@check("multiscale_light_10M")
def _multiscale_light() -> Check:
    return within(_multiscale_stack(128, 3) / 1e6, 10, "M params",
                  detail="3 × MultiScaleConv1d(128, 128), kernels 1, 3, 5, 7, 11, fused 1×1")


@check("multiscale_full_50M")
def _multiscale_full() -> Check:
    return within(_multiscale_stack(256, 5) / 1e6, 50, "M params",
                  detail="5 × MultiScaleConv1d(256, 256), kernels 1, 3, 5, 7, 11, fused 1×1")


@check("cnn3d_params_50_200M")
def _video_cnns() -> Check:
    from torchvision.models import video

    counts = {name: _meta_params(getattr(video, name)) for name in ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")}
    largest = max(counts, key=counts.get)
    return in_range(counts[largest] / 1e6, 50, 200, "M params (largest)",
                    detail=", ".join(f"{k} {v / 1e6:.1f} M" for k, v in counts.items()) + " (torchvision, no weights)")


# ---------------------------------------------------------------- wav2vec 2.0, the architecture torchaudio builds (no weights)
def _wav2vec_frontend() -> tuple[int, float, float]:
    """(conv layers, stride in ms, receptive field in ms) of wav2vec 2.0's convolutional front end at 16 kHz."""
    import torchaudio

    with torch.device("meta"):
        model = torchaudio.models.wav2vec2_base()
    convs = [layer.conv for layer in model.feature_extractor.conv_layers]
    stride, field = 1, 1
    for conv in convs:
        field += (conv.kernel_size[0] - 1) * stride
        stride *= conv.stride[0]
    return len(convs), 1000 * stride / 16_000, 1000 * field / 16_000


@check("wav2vec_7_conv_layers")
def _wav2vec_layers() -> Check:
    n, _, _ = _wav2vec_frontend()
    return within(n, 7, "conv layers", rel=0.0, detail="torchaudio.models.wav2vec2_base().feature_extractor")


@check("wav2vec_stride_rf")
def _wav2vec_stride() -> Check:
    _, stride, field = _wav2vec_frontend()
    return within(field, 20, "ms receptive field", detail=f"stride {stride:g} ms (report: 10 ms), receptive field "
                  f"{field:g} ms (report: 20 ms); torchaudio's wav2vec2_base front end")


@check("wav2vec_12_24_layers")
def _wav2vec_depth() -> Check:
    import torchaudio

    with torch.device("meta"):
        base, large = torchaudio.models.wav2vec2_base(), torchaudio.models.wav2vec2_large()
    depths = (len(base.encoder.transformer.layers), len(large.encoder.transformer.layers))
    verdict = HOLDS if depths == (12, 24) else FAILS
    return Check(depths[1], 24, "transformer layers (large)", "base 12 and large 24", verdict,
                 f"base {depths[0]}, large {depths[1]} (torchaudio)")


# ---------------------------------------------------------------- the report's own arithmetic
@check("a6000_total_vram_384GB")
def _total_vram() -> Check:
    return within(8 * 48, 384, "GB", rel=0.0, detail="8 × 48 GB")
