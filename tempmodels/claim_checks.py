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
    stated: str    # the report's figure or range, as the rule reads it
    unit: str
    rule: str      # how the verdict was decided, e.g. "within 10 %"
    verdict: str   # HOLDS or FAILS
    detail: str = ""
    computed_text: str = ""  # the computed figure as shown, when one number does not say it (an interval)

    @property
    def shown(self) -> str:
        if self.computed_text:
            return self.computed_text
        number = f"{self.computed:,.0f}" if float(self.computed).is_integer() else f"{self.computed:,.4g}"
        return f"{number} {self.unit}"


def verdict_for(computed: float, stated: float, rel: float = 0.10) -> str:
    """HOLDS when the stated figure is within ``rel`` of the computed one (:func:`budget.agrees`), else FAILS."""
    return HOLDS if agrees(stated, computed, rel=rel) else FAILS


def within(computed: float, stated: float, unit: str, rel: float = 0.10, detail: str = "") -> Check:
    rule = "exactly" if rel == 0 else f"within {rel:.0%}"
    return Check(float(computed), f"{stated:g}", unit, rule, verdict_for(computed, stated, rel), detail)


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


def compute_all(checks: dict[str, Callable[[], Check]] | None = None) -> dict[str, Check]:
    return {cid: fn() for cid, fn in (CHECKS if checks is None else checks).items()}


def in_range(computed: float, lo: float, hi: float, unit: str, detail: str = "") -> Check:
    """HOLDS when the computed figure lies in the stated range [lo, hi]."""
    verdict = HOLDS if lo <= computed <= hi else FAILS
    return Check(float(computed), f"{lo:g}–{hi:g}", unit, f"in [{lo:g}, {hi:g}]", verdict, detail)


def overlaps(low: float, high: float, lo: float, hi: float, unit: str, detail: str = "") -> Check:
    """HOLDS when the computed interval [low, high] (two readings of one figure) meets the stated range [lo, hi]."""
    verdict = HOLDS if low <= hi and lo <= high else FAILS
    return Check(float(low), f"{lo:g}–{hi:g}", unit, "the interval meets the range", verdict, detail,
                 f"{low:.3g}–{high:.3g} {unit}")


# ---------------------------------------------------------------- time spans at the benchmark's frame rate
def _kernel_span(k: int, lo: float, hi: float) -> Check:
    """A k-frame kernel spans (k − 1) hops between its first and last frame centres, and one analysis window
    more counting the samples those frames were computed from: both readings, against the stated range."""
    from .audio.melspec import MelConfig

    mel = MelConfig()
    hop, window = 1000 * mel.hop_length / mel.sample_rate, 1000 * mel.n_fft / mel.sample_rate
    low, high = (k - 1) * hop, (k - 1) * hop + window
    return overlaps(low, high, lo, hi, "ms", detail=f"{k} log-mel frames, hop {hop:.1f} ms ({mel.frames_per_tr} frames "
                    f"per {mel.tr_seconds:g}-s TR), window {window:.0f} ms: {low:.0f} ms between frame centres, "
                    f"{high:.0f} ms of audio")


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


def _transformer_sizes(layers: int, width: int, heads: int) -> tuple[float, float]:
    """(encoder, encoder-decoder) parameters in millions of torch's transformer with FFN 4 × width."""
    def encoder():
        layer = torch.nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, batch_first=True)
        return torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def encoder_decoder():
        return torch.nn.Transformer(width, heads, layers, layers, dim_feedforward=4 * width, batch_first=True)
    return _meta_params(encoder) / 1e6, _meta_params(encoder_decoder) / 1e6


def _transformer(layers: int, width: int, heads: int, stated: float) -> Check:
    enc, enc_dec = _transformer_sizes(layers, width, heads)
    return within(enc, stated, "M params", detail=f"nn.TransformerEncoder: {layers} layers, {heads} heads, width {width}, "
                  f"FFN {4 * width} (a temporal encoder has no decoder; with a decoder of as many layers, "
                  f"nn.Transformer: {enc_dec:.1f} M)")


@check("small_transformer_30M")
def _small_transformer() -> Check:
    return _transformer(4, 512, 8, 30)


@check("medium_transformer_80M")
def _medium_transformer() -> Check:
    return _transformer(6, 768, 12, 80)


# ---------------------------------------------------------------- attention scores, counted by PyTorch
def _attention_scores(n_frames: int, heads: int, width: int = 512) -> int:
    mha = torch.nn.MultiheadAttention(width, heads, batch_first=True)
    x = torch.zeros(1, n_frames, width)
    _, weights = mha(x, x, x, need_weights=True, average_attn_weights=False)
    return weights[0].numel()  # (heads, N, N)


@check("attention_scores_4096_per_head")
def _scores_per_head() -> Check:
    return within(_attention_scores(64, 1), 4096, "scores", rel=0.0, detail="nn.MultiheadAttention's weights, N = 64, 1 head")


@check("attention_scores_32768_8_heads")
def _scores_8_heads() -> Check:
    return within(_attention_scores(64, 8), 32768, "scores", rel=0.0, detail="nn.MultiheadAttention's weights, N = 64, 8 heads")


def _multiscale_stack(channels: int, layers: int) -> int:
    from .encoders.multiscale import MultiScaleConv1d

    return _meta_params(lambda: torch.nn.Sequential(*(MultiScaleConv1d(channels, channels) for _ in range(layers))))


@check("multiscale_light_10M")
def _multiscale_light() -> Check:
    return within(_multiscale_stack(128, 3) / 1e6, 10, "M params",
                  detail="3 × MultiScaleConv1d(128, 128): branches k = 1, 3, 5, 7, 11 fused by a 1×1 convolution, as in the report's §6.1")


@check("multiscale_full_50M")
def _multiscale_full() -> Check:
    return within(_multiscale_stack(256, 5) / 1e6, 50, "M params",
                  detail="5 × MultiScaleConv1d(256, 256): branches k = 1, 3, 5, 7, 11 fused by a 1×1 convolution, as in the report's §6.1")


@check("cnn3d_params_50_200M")
def _video_cnns() -> Check:
    from torchvision.models import video
    from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv3DSimple, VideoResNet

    def r3d_34():  # torchvision's R3D at 34 layers (Tran et al. 2018), the deepest plain 3-D ResNet it can build
        return VideoResNet(BasicBlock, [Conv3DSimple] * 4, [3, 4, 6, 3], BasicStem)

    builds = {"s3d": video.s3d, "mc3_18": video.mc3_18, "r2plus1d_18": video.r2plus1d_18, "r3d_18": video.r3d_18,
              "r3d_34": r3d_34}
    counts = {name: _meta_params(build) / 1e6 for name, build in builds.items()}
    inside = [name for name, n in counts.items() if 50 <= n <= 200]
    verdict = HOLDS if inside else FAILS
    return Check(max(counts.values()), "50–200", "M params (largest)", "any standard 3-D CNN in [50, 200]", verdict,
                 ", ".join(f"{k} {v:.1f} M" for k, v in counts.items()) + " (torchvision architectures, no weights); "
                 f"in the range: {', '.join(inside) or 'none'}")


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
    both = agrees(10, stride) and agrees(20, field)
    return Check(field, "10 ms stride, 20 ms field", "ms receptive field", "stride and field each within 10%",
                 HOLDS if both else FAILS, "torchaudio's wav2vec2_base front end at 16 kHz",
                 f"{stride:g} ms stride, {field:g} ms field")


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
