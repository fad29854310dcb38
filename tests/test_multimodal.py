"""The multimodal autoencoder: packing makes the trainer's plain MSE the weighted joint loss; the
fMRI head reads the right TRs; bad input is named; an interrupted run resumes to the same result."""
import pytest
import torch

from tempmodels.decoder import MelDecoder
from tempmodels.encoders import MeanPool
from tempmodels.multimodal import MultimodalAutoencoder, PackedLayout, build_multimodal, windows
from tempmodels.training import TrainConfig, fit
from tempmodels.video.decoder import VideoDecoder
from tempmodels.video.encoders import FrameMeanCNN

A, V, VOX, C, D = (16, 8), (3, 1, 8, 8), 5, 3, 8


def _layout(weights=(1.0, 2.0, 3.0)):
    return PackedLayout(A, V, VOX, C, weights)


def _build(layout, lags=(1, 2), fmri_dims=None):
    def build():
        return MultimodalAutoencoder(layout, MeanPool(8, 16, 6), FrameMeanCNN(3, 8, 6, width=2), D,
                                     MelDecoder(D, 16, 8, channels=4, n_upsample=1), VideoDecoder(D, 3, 8, 1, 16),
                                     lags=lags, fmri_dims=fmri_dims)
    return build


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *A, generator=g), torch.rand(n, *V, generator=g), torch.randn(n, VOX, generator=g)


def test_pack_round_trip_and_loss_is_the_weighted_sum():
    layout = _layout()
    a, v, y = _data()
    x = windows(a, v, y, C, layout)
    assert x.shape == (40 - C + 1, layout.width)
    ua, uv, uy = layout.unpack(x)
    torch.testing.assert_close(ua[:, -1], a[C - 1:])
    torch.testing.assert_close(ua[:, 0], a[: 40 - C + 1])
    torch.testing.assert_close(uy, y[C - 1:])
    torch.manual_seed(0)
    model = _build(layout)()
    with torch.no_grad():
        out = model(x)
        a_hat, v_hat, y_hat, z = model.predict(x)
    packed = torch.nn.functional.mse_loss(out, x)
    joint = (1.0 * torch.nn.functional.mse_loss(a_hat, ua[:, -1]) + 2.0 * torch.nn.functional.mse_loss(v_hat, uv[:, -1])
             + 3.0 * torch.nn.functional.mse_loss(y_hat, uy))
    torch.testing.assert_close(packed, joint, rtol=1e-4, atol=1e-6)
    assert z.shape == (len(x), C, D)


def test_fmri_head_reads_only_its_lags_and_dims():
    layout = _layout()
    a, v, y = _data()
    x = windows(a, v, y, C, layout)
    torch.manual_seed(0)
    model = _build(layout, lags=(1, 2), fmri_dims=3)().eval()
    ua, uv, uy = layout.unpack(x)
    ua2 = ua.clone()
    ua2[:, -1] += 5.0  # TR t itself (lag 0) is not one of the head's lags
    x2 = layout.pack(ua2, uv, uy)
    with torch.no_grad():
        torch.testing.assert_close(model.predict(x)[2], model.predict(x2)[2])
        ua3 = ua.clone()
        ua3[:, -2] += 5.0  # lag 1 is
        assert not torch.allclose(model.predict(x)[2], model.predict(layout.pack(ua3, uv, uy))[2])


def test_bad_input_is_named():
    layout = _layout()
    a, v, y = _data()
    with pytest.raises(ValueError, match=r"video must be shaped \(N, 3, 3, 1, 8, 8\)"):
        layout.pack(a[:, None].expand(-1, C, -1, -1), v, y)
    w = layout.width
    with pytest.raises(ValueError, match=rf"MultimodalAutoencoder expects {w} width in dim 1, .*\(batch, width={w}\)"):
        _build(layout)()(torch.zeros(2, layout.width - 1))
    with pytest.raises(ValueError, match="lags must lie in 0..context-1"):
        _build(layout, lags=(1, 3))()
    with pytest.raises(ValueError, match="weights"):
        PackedLayout(A, V, VOX, C, (0, 0, 0))


def test_interrupted_joint_run_resumes_to_the_same_result(tmp_path):
    layout = _layout()
    tr, va = windows(*_data(40, 0), C, layout), windows(*_data(20, 1), C, layout)
    cfg = TrainConfig(epochs=4, batch_size=8, patience=10, seed=3)
    full = fit(_build(layout), tr, va, cfg, progress=False)

    def crash(epoch, hist):
        if epoch == 2:
            raise KeyboardInterrupt("simulated interruption")

    ckpt = tmp_path / "mm.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(_build(layout), tr, va, cfg, checkpoint=ckpt, progress=False, on_epoch_end=crash)
    resumed = fit(_build(layout), tr, va, cfg, checkpoint=ckpt, progress=False)
    assert resumed.resumed_from == 2 and resumed.history.equals(full.history)
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.state_dict().values(), full.model.state_dict().values()))
    assert full.history.val_loss.iloc[-1] < full.history.val_loss.iloc[0]


def test_each_part_of_the_joint_loss_is_logged_per_epoch():
    layout = _layout()
    tr, va = windows(*_data(40, 0), C, layout), windows(*_data(20, 1), C, layout)
    hist = fit(_build(layout), tr, va, TrainConfig(epochs=2, batch_size=8, patience=10), progress=False).history
    parts = ["val_audio_mse", "val_video_mse", "val_fmri_mse"]
    assert set(parts) <= set(hist.columns)
    recombined = sum(w * hist[p] for w, p in zip(layout.weights, parts))  # the packed MSE is the weighted sum
    torch.testing.assert_close(torch.tensor(recombined.to_numpy()), torch.tensor(hist.val_loss.to_numpy()), rtol=1e-4,
                               atol=1e-6)


def test_encoders_by_name():
    layout = PackedLayout((64, 128), (9, 1, 32, 32), VOX, C)
    model = build_multimodal(layout, "transformer", "s3d", 16, {"width": 16, "nhead": 2, "layers": 1, "ff": 32,
                                                                "readout": "strided"},
                             {"widths": (4, 4, 8, 8), "frame_diff": True, "readout": "keep_time"}, lags=(1, 2),
                             fmri_dims=4, decoder_hidden=8)
    assert type(model.audio_encoder).__name__ == "TemporalTransformer" and type(model.video_encoder).__name__ == "S3D"
    a, v, y = torch.randn(6, 64, 128), torch.rand(6, 9, 1, 32, 32), torch.randn(6, VOX)
    x = windows(a, v, y, C, layout)
    assert model(x).shape == x.shape and model.fmri.in_features == 2 * 4
    with pytest.raises(ValueError, match="unknown video encoder 'i3d'; choose from"):
        build_multimodal(layout, "mean", "i3d")
