"""A stand-in for the report's ~2 B-parameter model (§7.1: "Encoder: 1,604M params, Decoder: 380M
params"), measured at full size on fake tensors: nothing is allocated.

The report states the two sizes and nothing else about the model, so the stand-in is the plainest
model of those sizes: pre-LayerNorm transformer blocks over a sequence of log-mel frames (the
encoder at width 2048, the decoder at width 1024, feed-forward 4x the width, 16 heads), with as many
blocks as bring each part closest to the report's count. Its parameters follow
:func:`block_param_formula`, its saved activations :func:`activation_formula` — both asserted in
chapter 12 against what PyTorch counts. Activations and FLOPs of any module (the stand-in, or the
book's encoders at the report's widths) are measured under ``FakeTensorMode`` (tensors with shapes,
dtypes and storages but no data), which runs the same CPU kernels' shape logic the real run would.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

#: the report's §7.1 sizes
REPORT_ENCODER_PARAMS = 1_604_000_000
REPORT_DECODER_PARAMS = 380_000_000


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + proj(SDPA(qkv(LN(x)))), then x + fc2(GELU(fc1(LN(x))))."""

    def __init__(self, width: int, heads: int, ff: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must divide by heads={heads}")
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, ff), nn.Linear(ff, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, w))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def block_param_formula(width: int, ff: int) -> int:
    """qkv 3w² + 3w, proj w² + w, fc1 w·ff + ff, fc2 ff·w + w, two LayerNorms 4w."""
    return 4 * width * width + 2 * width * ff + 9 * width + ff


class StandIn(nn.Module):
    """(batch, tokens, n_in) -> (batch, tokens, n_in): Linear to the encoder width, ``enc_layers``
    blocks, Linear to the decoder width, ``dec_layers`` blocks, Linear back to ``n_in``."""

    def __init__(self, enc_layers: int, dec_layers: int, enc_width: int = 2048, dec_width: int = 1024,
                 heads: int = 16, ff_mult: int = 4, n_in: int = 128):
        super().__init__()
        self.config = dict(enc_layers=enc_layers, dec_layers=dec_layers, enc_width=enc_width, dec_width=dec_width,
                           heads=heads, ff_mult=ff_mult, n_in=n_in)
        self.embed = nn.Linear(n_in, enc_width)
        self.encoder = nn.Sequential(*[Block(enc_width, heads, ff_mult * enc_width) for _ in range(enc_layers)])
        self.bridge = nn.Linear(enc_width, dec_width)
        self.decoder = nn.Sequential(*[Block(dec_width, heads, ff_mult * dec_width) for _ in range(dec_layers)])
        self.head = nn.Linear(dec_width, n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.bridge(self.encoder(self.embed(x)))))

    @staticmethod
    def param_formula(enc_layers: int, dec_layers: int, enc_width: int = 2048, dec_width: int = 1024,
                      heads: int = 16, ff_mult: int = 4, n_in: int = 128) -> dict[str, int]:
        """Encoder (embed + blocks) and decoder (bridge + blocks + head) parameters."""
        enc = n_in * enc_width + enc_width + enc_layers * block_param_formula(enc_width, ff_mult * enc_width)
        dec = (enc_width * dec_width + dec_width + dec_layers * block_param_formula(dec_width, ff_mult * dec_width)
               + dec_width * n_in + n_in)
        return {"encoder": enc, "decoder": dec, "total": enc + dec}

    def part_parameters(self) -> dict[str, int]:
        """Counted by PyTorch, split as :meth:`param_formula` splits them."""
        count = lambda *ms: sum(p.numel() for m in ms for p in m.parameters())
        enc, dec = count(self.embed, self.encoder), count(self.bridge, self.decoder, self.head)
        return {"encoder": enc, "decoder": dec, "total": enc + dec}


def report_layers(enc_width: int = 2048, dec_width: int = 1024, ff_mult: int = 4, n_in: int = 128,
                  encoder: int = REPORT_ENCODER_PARAMS, decoder: int = REPORT_DECODER_PARAMS) -> tuple[int, int]:
    """The numbers of blocks that bring the stand-in's encoder and decoder closest to the report's sizes."""
    enc_fixed = n_in * enc_width + enc_width
    dec_fixed = enc_width * dec_width + dec_width + dec_width * n_in + n_in
    enc = round((encoder - enc_fixed) / block_param_formula(enc_width, ff_mult * enc_width))
    dec = round((decoder - dec_fixed) / block_param_formula(dec_width, ff_mult * dec_width))
    return max(enc, 1), max(dec, 1)


def report_config(enc_width: int = 2048, dec_width: int = 1024, heads: int = 16, ff_mult: int = 4,
                  n_in: int = 128) -> dict:
    """The stand-in's configuration at the report's sizes (:func:`report_layers` blocks)."""
    enc, dec = report_layers(enc_width, dec_width, ff_mult, n_in)
    return dict(enc_layers=enc, dec_layers=dec, enc_width=enc_width, dec_width=dec_width, heads=heads,
                ff_mult=ff_mult, n_in=n_in)


def report_stand_in(**kwargs) -> StandIn:
    """The stand-in at the report's sizes. Build it on ``meta`` or under ``FakeTensorMode``: it is
    ~8 GB of fp32 weights."""
    return StandIn(**report_config(**kwargs))


def activation_formula(layers: int, batch: int, tokens: int, width: int, ff: int, heads: int,
                       bytes_per_element: int = 4) -> int:
    """Bytes autograd saves in ``layers`` :class:`Block` s (fp32, SDPA's fused CPU kernel): per token
    the block input and the LN1 output (2w), qkv's output (3w), SDPA's output (w, which the out
    projection reads as a view), the LN2 input and output (2w), fc1's output and GELU's output
    (2·ff), both LayerNorms' mean and 1/std (4) and SDPA's log-sum-exp (one per head)."""
    return layers * batch * tokens * (8 * width + 2 * ff + 4 + heads) * bytes_per_element


def stand_in_activation_formula(model_config: dict, batch: int, tokens: int, bytes_per_element: int = 4) -> int:
    """:func:`activation_formula` over the stand-in: both stacks, plus the inputs of the bridge and the
    head (the model's own input is not counted)."""
    c = model_config
    enc = activation_formula(c["enc_layers"], batch, tokens, c["enc_width"], c["ff_mult"] * c["enc_width"], c["heads"],
                             bytes_per_element)
    dec = activation_formula(c["dec_layers"], batch, tokens, c["dec_width"], c["ff_mult"] * c["dec_width"], c["heads"],
                             bytes_per_element)
    return enc + dec + batch * tokens * (c["enc_width"] + c["dec_width"]) * bytes_per_element


def _cast(dtype: torch.dtype | None):
    return torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)


_VIEWS = {"TBackward0", "ViewBackward0", "TransposeBackward0", "PermuteBackward0", "ExpandBackward0",
          "UnsqueezeBackward0", "ReshapeAliasBackward0"}


@contextlib.contextmanager
def fake_module(build: Callable[[], nn.Module]):
    """``build()`` as a module of fake CPU tensors, inside the ``FakeTensorMode`` that made them.

    Built on ``meta`` first (nothing allocated, and no fake tensor is deep-copied: copies would
    belong to another fake mode, which ``nn.TransformerEncoder``'s layer copies would hit), then its
    parameters and buffers are replaced by fake CPU tensors of the same shapes and dtypes."""
    with torch.device("meta"):
        model = build()
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with FakeTensorMode() as mode:
            model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))
            yield model, mode
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)


def _is_weight_cast(t: torch.Tensor) -> bool:
    """An autocast copy of a parameter, or a view of one: ``_to_copy`` straight from a leaf that
    accumulates a gradient (a Linear saves its cast weight as a transposed view)."""
    fn = t.grad_fn
    while fn is not None and type(fn).__name__ in _VIEWS:
        nxt = [f for f, _ in fn.next_functions if f is not None]
        fn = nxt[0] if len(nxt) == 1 else None
    return (fn is not None and type(fn).__name__ == "ToCopyBackward0"
            and any(f is not None and type(f).__name__ == "AccumulateGrad" for f, _ in fn.next_functions))


def fake_saved_bytes(build: Callable[[], nn.Module], input_shape: tuple[int, ...],
                     autocast: torch.dtype | None = None) -> dict[str, int]:
    """Bytes of the tensors autograd saves for backward in one training-mode forward of ``build()`` on
    an input of ``input_shape`` (batch first), under ``FakeTensorMode``: no memory is allocated.

    ``"activations"``: the saved tensors, parameters and the input excluded, tensors sharing a storage
    counted once (a view saved twice costs nothing twice). ``"weight_casts"``: under ``autocast``
    (e.g. ``torch.bfloat16``, CPU autocast) the low-precision copies of the weights that autocast
    makes and autograd keeps until backward (every Linear weight a gradient is propagated through) —
    memory a mixed-precision step holds on top of its fp32 weights, not an activation."""
    with fake_module(build) as (model, _):
        model.train()
        x = torch.empty(input_shape)
        exclude = {p.untyped_storage()._cdata for p in model.parameters()} | {x.untyped_storage()._cdata}
        seen: dict[int, tuple[int, bool]] = {}

        def pack(t: torch.Tensor):
            st = t.untyped_storage()
            if st._cdata not in exclude:
                seen[st._cdata] = (st.nbytes(), _is_weight_cast(t))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _cast(autocast):
            model(x)
    return {"activations": sum(n for n, cast in seen.values() if not cast),
            "weight_casts": sum(n for n, cast in seen.values() if cast)}


def fake_step_flops(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> dict[str, int]:
    """Forward and backward FLOPs of one training step (MSE of the output against zeros) counted by
    ``torch.utils.flop_counter`` under ``FakeTensorMode``. SDPA runs its math backend (the fused CPU
    kernel is invisible to the counter; the math backend computes the same products)."""
    with fake_module(build) as (model, _), sdpa_kernel(SDPBackend.MATH):
        model.train()
        x = torch.empty(input_shape)
        with FlopCounterMode(display=False) as fwd:
            out = model(x)
        loss = out.float().pow(2).mean()
        with FlopCounterMode(display=False) as bwd:
            loss.backward()
    return {"forward": int(fwd.get_total_flops()), "backward": int(bwd.get_total_flops())}


def stand_in_forward_flops(model_config: dict, batch: int, tokens: int) -> int:
    """Forward FLOPs (2 per multiply-add) of the stand-in: every Linear (2·in·out per token) and,
    per block, the two attention products QKᵀ and AV (2·tokens²·width each per sample)."""
    c = model_config
    total = 0
    for layers, w in ((c["enc_layers"], c["enc_width"]), (c["dec_layers"], c["dec_width"])):
        ff = c["ff_mult"] * w
        total += layers * (2 * tokens * (4 * w * w + 2 * w * ff) + 4 * tokens * tokens * w)
    total += 2 * tokens * (c["n_in"] * c["enc_width"] + c["enc_width"] * c["dec_width"] + c["dec_width"] * c["n_in"])
    return batch * total
