"""One input check for every public encoder — audio, video and the multimodal model: a wrong type,
dtype, rank, shape, an empty batch, NaN, or a batch of one for train-mode BatchNorm is a clear error
naming the encoder and the expected shape; valid input (autocast, ``meta``) passes through untouched."""
import re

import pytest
import torch

from tempmodels.decoder import MelDecoder
from tempmodels.encoders import (FlatLinear, FlatMLP, FramePool, HierarchicalEncoder, MeanPool, MultiScaleEncoder,
                                 TemporalTransformer)
from tempmodels.multimodal import MultimodalAutoencoder, PackedLayout
from tempmodels.video.decoder import VideoDecoder
from tempmodels.video.encoders import S3D, FrameMeanCNN, FramesAsFeatures, PerFrameCNN

F, T, D = 128, 64, 16
VF, S, H = 9, 16, 24  # video frames, width, height of the non-square S3D
AUDIO = ((T, F), "(batch, frames=64, features=128)")
VIDEO = ((VF, 1, S, S), "(batch, frames=9, channels=1, height=16, width=16)")
LAYOUT = PackedLayout((16, 8), (3, 1, 8, 8), 5, 3)


def _multimodal():
    return MultimodalAutoencoder(LAYOUT, MeanPool(8, 16, 6), FrameMeanCNN(3, 8, 6, width=2), 8,
                                 MelDecoder(8, 16, 8, channels=4, n_upsample=1), VideoDecoder(8, 3, 8, 1, 16),
                                 lags=(1, 2))


# every public encoder class: (build, input shape without the batch, expected-shape string)
ENCODERS = {
    "MeanPool": (lambda: MeanPool(F, T, D), *AUDIO),
    "FramePool": (lambda: FramePool(F, T, D, hidden=8), *AUDIO),
    "FlatLinear": (lambda: FlatLinear(F, T, D), *AUDIO),
    "FlatMLP": (lambda: FlatMLP(F, T, D, hidden=8), *AUDIO),
    "MultiScaleEncoder": (lambda: MultiScaleEncoder(F, T, D, hidden=8), *AUDIO),
    "HierarchicalEncoder": (lambda: HierarchicalEncoder(F, T, D, fine=8, mid=8, coarse=8), *AUDIO),
    "TemporalTransformer": (lambda: TemporalTransformer(F, T, D, width=8, nhead=2, layers=1, ff=16), *AUDIO),
    "TemporalTransformer GLA": (lambda: TemporalTransformer(F, T, D, width=8, nhead=2, layers=1, ff=16,
                                                            attention="gla"), *AUDIO),
    "FrameMeanCNN": (lambda: FrameMeanCNN(VF, S, D, width=2), *VIDEO),
    "PerFrameCNN": (lambda: PerFrameCNN(VF, S, D, width=2, frame_dim=8, build_temporal=MeanPool), *VIDEO),
    "FramesAsFeatures": (lambda: FramesAsFeatures(VF, S, D, build=FlatLinear), *VIDEO),
    "S3D": (lambda: S3D(VF, S, D, channels=1, widths=(4, 4, 4, 4)), *VIDEO),
    "S3D non-square": (lambda: S3D(VF, S, D, channels=1, widths=(4, 4, 4, 4), height=H), (VF, 1, H, S),
                       "(batch, frames=9, channels=1, height=24, width=16)"),
    "MultimodalAutoencoder": (_multimodal, (LAYOUT.width,), f"(batch, width={LAYOUT.width})"),
}
BATCH_NORM = ("MultiScaleEncoder", "HierarchicalEncoder", "S3D", "S3D non-square")


def _nan(shape):
    x = torch.rand(2, *shape)
    x.view(-1)[-1] = float("nan")  # the last element: for the multimodal model, a BOLD value
    return x


BAD = {  # case: (make the input from the good shape, error type, what the message must also say)
    "list": (lambda s: torch.rand(2, *s).tolist(), TypeError, "got list"),
    "int": (lambda s: torch.zeros(2, *s, dtype=torch.long), TypeError, "torch.int64"),
    "float64": (lambda s: torch.rand(2, *s, dtype=torch.float64), TypeError, "torch.float64; cast with x.float()"),
    "float16": (lambda s: torch.rand(2, *s, dtype=torch.float16), TypeError, "torch.float16; cast with x.float()"),
    "nan": (_nan, ValueError, "non-finite"),
    "batch 0": (lambda s: torch.rand(0, *s), ValueError, "batch"),
    "wrong shape": (lambda s: torch.rand(2, *s[:-1], s[-1] + 1), ValueError, ""),
    "wrong rank": (lambda s: torch.rand(*s), ValueError, "-D tensor"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("name", list(ENCODERS))
def test_bad_input_is_named(name, case):
    build, shape, expected = ENCODERS[name]
    make, error, says = BAD[case]
    torch.manual_seed(0)
    enc = build().eval()
    x = make(shape)
    with pytest.raises(error) as info:
        enc(x)
    msg = str(info.value)
    assert expected in msg and says in msg and type(enc).__name__ in msg, msg
    if case in ("wrong shape", "wrong rank"):
        assert str(tuple(x.shape)) in msg, msg


@pytest.mark.parametrize("name", list(ENCODERS))
def test_valid_input_passes_unchanged(name):
    """Batches of 1 (eval) and 2 (train) run; the check hands back the very tensor it was given."""
    build, shape, _ = ENCODERS[name]
    torch.manual_seed(0)
    enc = build()
    assert enc(torch.rand(2, *shape)).shape[0] == 2
    x = torch.rand(1, *shape)
    assert enc.eval()(x).shape[0] == 1 and enc.validate(x) is x


# BatchNorms that see one value per channel at batch 1 in train mode: the hierarchical coarse level (over the
# batch alone), a multi-scale conv over one frame, the last S3D blocks at 1 x 1 x 1
ONE_VALUE_PER_CHANNEL = {
    "HierarchicalEncoder": (lambda: HierarchicalEncoder(F, T, D, fine=8, mid=8, coarse=8), *AUDIO),
    "MultiScaleEncoder, one frame": (lambda: MultiScaleEncoder(F, 1, D, hidden=8), (1, F),
                                     "(batch, frames=1, features=128)"),
    "S3D, 2 frames of 8 x 8": (lambda: S3D(2, 8, D, channels=1, widths=(4, 4, 4, 4)), (2, 1, 8, 8),
                               "(batch, frames=2, channels=1, height=8, width=8)"),
    "PerFrameCNN + hierarchical": (lambda: PerFrameCNN(VF, S, D, width=2, frame_dim=8, build_temporal=lambda f, n, d:
                                                       HierarchicalEncoder(f, n, d, 4, 4, 4, segment=3)), VIDEO[0],
                                   "(batch, frames=9, features=8)"),
}


@pytest.mark.parametrize("name", list(ONE_VALUE_PER_CHANNEL))
def test_batch_norm_in_train_mode_on_one_sample_is_named(name):
    build, shape, expected = ONE_VALUE_PER_CHANNEL[name]
    enc = build().train()
    with pytest.raises(ValueError, match=r"(Hierarchical|MultiScale)Encoder|S3D") as info:
        enc(torch.rand(1, *shape))
    msg = str(info.value)
    assert "train mode needs batch >= 2" in msg and ".eval()" in msg and expected in msg, msg
    assert enc.eval()(torch.rand(1, *shape)).shape == (1, D)


@pytest.mark.parametrize("name", BATCH_NORM)
def test_batch_norm_over_time_or_space_still_takes_one_sample(name):
    """Where a BatchNorm also averages over frames or pixels, batch 1 trains as before (chapter 08 runs
    the report's S3D on one meta clip in train mode)."""
    build, shape, _ = ENCODERS[name]
    if name == "HierarchicalEncoder":
        build = lambda: HierarchicalEncoder(F, T, D, fine=8, mid=8, levels=("fine", "mid"))  # noqa: E731
    assert build().train()(torch.rand(1, *shape)).shape == (1, D)
    with torch.device("meta"):
        report = S3D.report()
    assert report.train()(torch.empty(1, 64, 3, 90, 160, device="meta")).shape == (1, 1024)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_bf16_under_autocast_and_meta_still_work(name):
    """Autocast's dtype is accepted while autocast is on; on ``meta`` the shape is checked, not the values."""
    build, shape, expected = ENCODERS[name]
    torch.manual_seed(0)
    enc = build().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(enc(torch.rand(2, *shape, dtype=torch.bfloat16))).all()
    with torch.device("meta"):
        meta = build()
    assert meta(torch.empty(2, *shape, device="meta")).shape[0] == 2
    with pytest.raises(ValueError, match=re.escape(expected)):
        meta(torch.empty(2, *shape[:-1], shape[-1] + 1, device="meta"))


def test_a_double_model_takes_double_input():
    enc = MeanPool(F, T, D).double()
    assert enc(torch.rand(2, T, F, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(TypeError, match=r"torch.float32; cast with x.double\(\)"):
        enc(torch.rand(2, T, F))
