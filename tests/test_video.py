"""The video track: sprites move as labelled, averaging cannot see the sign of motion, the encoders
check their input and match their formulas, the report's S3D is counted and shaped as it says."""
import warnings

import numpy as np
import pytest
import torch

from tempmodels.encoders import FlatLinear, MeanPool, TemporalTransformer
from tempmodels.encoders.base import count_parameters
from tempmodels.video import metrics as vm
from tempmodels.video.decoder import VideoDecoder
from tempmodels.video.encoders import S3D, FrameCNN, FrameMeanCNN, FramesAsFeatures, PerFrameCNN
from tempmodels.video.sprites import DIRECTIONS, VideoConfig, generate, load_video_benchmark, tr_mean_clip

CFG = VideoConfig(n_trs=96, seed=3, gap_trs=2)


@pytest.fixture(scope="module")
def bench():
    return generate(CFG)


def _centroid(frame: np.ndarray, background: float) -> np.ndarray:
    w = np.clip(frame - background, 0, None)
    ys, xs = np.indices(frame.shape)
    return np.array([(w * ys).sum(), (w * xs).sum()]) / w.sum()


# ------------------------------------------------------------------ benchmark
def test_shapes_labels_and_splits(bench):
    F = CFG.frames_per_tr
    assert F == 9 and bench.frames.shape == (96, F, 1, 32, 32) and bench.frames.dtype == torch.float32
    assert 0 <= float(bench.frames.min()) and float(bench.frames.max()) <= 1
    assert len(bench.trs) == 96 and set(bench.trs.direction) <= set(range(8))
    assert set(bench.trs.event) <= {"none", "cut", "appear", "disappear"}
    tr, va, te = (bench.splits[s] for s in ("train", "val", "test"))
    assert tr[-1] + 2 < va[0] and va[-1] + 2 < te[0]


def test_sprites_move_in_the_labelled_direction_and_flow_agrees(bench):
    still = bench.trs[bench.trs.event == "none"]
    assert len(still) > 30
    agree = 0
    for t, row in still.iterrows():
        clip = bench.frames[t, :, 0].numpy()
        c = np.array([_centroid(f, row.background) for f in clip])
        # the path is a straight line at (dy, dx) per frame, centred on the middle frame: reversing
        # the frames gives the opposite direction through the same positions (the same mean frame)
        if np.abs(c - np.round(c)).max() < 1e-9:  # no wrap-around: exact centroids
            np.testing.assert_allclose(np.diff(c, axis=0), np.tile([row.dy, row.dx], (8, 1)), atol=1e-6)
            np.testing.assert_allclose(c.mean(0), c[4], atol=1e-6)
        f = vm.mean_flow(bench.frames[t])
        want = np.array([row.dx, row.dy], float)
        agree += f @ want / (np.linalg.norm(f) * np.linalg.norm(want) + 1e-9) > 0.9
    assert agree / len(still) >= 0.95


def test_events_change_the_clip_at_their_frame(bench):
    for event in ("appear", "disappear", "cut"):
        rows = bench.trs[bench.trs.event == event]
        assert len(rows), event
        t, at = int(rows.index[0]), int(rows.event_frame.iloc[0])
        before, after = bench.frames[t, at - 1, 0], bench.frames[t, at, 0]
        bg = rows.background.iloc[0]
        if event == "appear":
            assert float((before - bg).abs().max()) < 1e-6 and float(after.max()) > bg + 0.3
        elif event == "disappear":
            assert float(before.max()) > bg + 0.3 and float((after - after.min()).abs().max()) < 1e-6


def test_the_sign_of_motion_is_invisible_in_the_mean_frame():
    """A linear probe reads motion sign from whole clips, not from their mean frames."""
    from tempmodels.probes import linear_probe_accuracy

    b = generate(VideoConfig(n_trs=720, seed=1, p_cut=0, p_visibility=0))
    lab = b.trs.sign.to_numpy()
    mean_frames = b.frames.mean(1).flatten(1).numpy()
    clips = b.frames.flatten(1).numpy()
    tr, te = slice(0, 540), slice(540, 720)
    acc_mean = linear_probe_accuracy(mean_frames[tr], lab[tr], mean_frames[te], lab[te])
    acc_clip = linear_probe_accuracy(clips[tr], lab[tr], clips[te], lab[te])
    assert acc_mean < 0.62 and acc_clip > 0.8, (acc_mean, acc_clip)


def test_deterministic_and_cached(tmp_path):
    cfg = VideoConfig(n_trs=30, seed=5, gap_trs=1)
    a = load_video_benchmark(cfg, tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read back from the cache, not rebuilt (text columns once made it unreadable)
        b = load_video_benchmark(cfg, tmp_path)
    assert torch.equal(a.frames, b.frames) and a.trs.equals(b.trs)
    assert torch.equal(generate(cfg).frames, a.frames)
    files[0].write_bytes(b"damaged")  # a damaged entry is named, set aside and rebuilt, never trusted
    with pytest.warns(UserWarning, match=f"video benchmark cache {files[0]} is damaged"):
        c = load_video_benchmark(cfg, tmp_path)
    assert torch.equal(c.frames, a.frames)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fps=5.0), "whole number of frames"), (dict(sprite_scale=4), "smaller than the frame"),
    (dict(speeds=(0,)), "speeds"), (dict(p_cut=0.7, p_visibility=0.5), "p_cut \\+ p_visibility")])
def test_bad_configuration_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VideoConfig(**kwargs)


# ------------------------------------------------------------------ encoders
F, S, D = 9, 32, 16


def _encoders():
    return {
        "frame mean": FrameMeanCNN(F, S, D, width=4),
        "per-frame + mean": PerFrameCNN(F, S, D, width=4, frame_dim=8, build_temporal=lambda f, n, d: MeanPool(f, n, d)),
        "per-frame + transformer": PerFrameCNN(F, S, D, width=4, frame_dim=8, build_temporal=lambda f, n, d: TemporalTransformer(
            f, n, d, width=8, nhead=2, layers=1, ff=16, readout="strided", steps=3)),
        "S3D": S3D(F, S, D, channels=1, widths=(4, 8, 8, 8)),
        "S3D + diff, keep time": S3D(F, S, D, channels=1, widths=(4, 8, 8, 8), frame_diff=True, readout="keep_time"),
        "flat": FramesAsFeatures(F, S, D, build=lambda f, n, d: FlatLinear(f, n, d)),
    }


@pytest.mark.parametrize("name", list(_encoders()))
def test_encoder_shapes_and_order_sensitivity(name):
    torch.manual_seed(0)
    enc = _encoders()[name].eval()
    x = torch.rand(3, F, 1, S, S)
    z = enc(x)
    assert z.shape == (3, D)
    flipped = enc(x.flip(1))
    if enc.order_sensitive:
        assert not torch.allclose(z, flipped, atol=1e-6)
    else:
        torch.testing.assert_close(z, flipped, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (torch.rand(2, F, S, S), "5-D tensor shaped \\(batch, frames=9, channels=1, height=32, width=32\\)"),
    (torch.rand(2, 1, F, S, S), "frames and channels swapped"),
    (torch.rand(2, F, 1, S, 16), "height=32, width=32"),
    (torch.randint(0, 2, (2, F, 1, S, S)), "floating-point"),
    (torch.full((2, F, 1, S, S), float("nan")), "non-finite")])
def test_bad_input_is_named(bad, match):
    for enc in (FrameMeanCNN(F, S, D, width=4), S3D(F, S, D, channels=1, widths=(4, 4, 4, 4))):
        with pytest.raises((ValueError, TypeError), match=match):
            enc(bad)


def test_report_s3d_count_and_shapes_on_meta():
    """The report's S3D: 3,125,568 parameters; its shape comments hold for (3, 64, 90, 160)."""
    m = S3D.report()
    assert count_parameters(m) == S3D.param_formula() == 3_125_568
    with torch.device("meta"):
        mm = S3D.report()
    shapes = []
    for b in mm.blocks:
        b.register_forward_hook(lambda mod, i, o: shapes.append(tuple(o.shape[1:])))
    out = mm(torch.empty(2, 64, 3, 90, 160, device="meta"))
    assert shapes == [(64, 64, 45, 80), (128, 32, 23, 40), (256, 16, 12, 20), (512, 8, 6, 10)]
    assert out.shape == (2, 1024)


@pytest.mark.parametrize("kw", [dict(), dict(frame_diff=True), dict(readout="keep_time"), dict(widths=(8, 16, 32, 64))])
def test_s3d_formula_matches_count(kw):
    m = S3D(F, S, 128, channels=1, **{"widths": (16, 32, 64, 128), **kw})
    assert count_parameters(m) == S3D.param_formula(1, m.widths, 128, m.frame_diff, m.t_out if m.readout == "keep_time" else 1)


def test_frame_cnn_and_decoder_formulas():
    assert count_parameters(FrameCNN(32, 1, 16, 128)) == FrameCNN.param_formula(32, 1, 16, 128)
    dec = VideoDecoder(64, 9, 32, 1, 256)
    assert count_parameters(dec) == VideoDecoder.param_formula(64, 9, 32, 1, 256)
    assert dec(torch.randn(2, 64)).shape == (2, 9, 1, 32, 32)
    with pytest.raises(ValueError, match="embeddings shaped \\(batch, 64\\)"):
        dec(torch.randn(2, 9, 64))


# ------------------------------------------------------------------ metrics
def test_metrics_on_known_cases(bench):
    x = bench.frames[:12]
    assert vm.frame_r(x, x) == pytest.approx(1.0)
    assert vm.temporal_detail_r(tr_mean_clip(x), x) == pytest.approx(0.0, abs=1e-12)
    same = vm.flow_agreement(x, x)
    assert same["flow_cosine"] > 0.999 and same["flow_epe"] < 1e-6
    still = vm.flow_agreement(tr_mean_clip(x), x)
    assert abs(still["flow_cosine"]) < 0.05 and still["flow_epe"] > 0.8
    with pytest.raises(ValueError, match="\\(TR, frames, channels, height, width\\)"):
        vm.frame_r(x[:, :, 0], x[:, :, 0])


def test_video_comparison_end_to_end(tmp_path, monkeypatch):
    from tempmodels.training import TrainConfig
    from tempmodels.video.experiment import METRICS, VideoData, reference_rows, run_video

    monkeypatch.setenv("TEMPMODELS_RUN_CACHE", str(tmp_path))
    data = VideoData.from_bench(generate(VideoConfig(n_trs=80, seed=2, gap_trs=1)))
    specs = {"frame mean": lambda: FrameMeanCNN(F, S, D, width=4), "S3D": lambda: S3D(F, S, D, channels=1, widths=(4, 4, 4, 4))}
    cfg = TrainConfig(epochs=2, batch_size=16, patience=5)
    res, hist, fits = run_video(specs, data, cfg, [0], D, decoder_hidden=32, progress=False)
    assert set(METRICS) <= set(res.metric) and set(res.encoder) == set(specs)
    again, _, _ = run_video(specs, data, cfg, [0], D, decoder_hidden=32, progress=False)  # from the run cache
    assert np.array_equal(res.value.to_numpy(), again.value.to_numpy())
    ref = reference_rows(data, D).set_index(["encoder", "metric"]).value
    assert ref["oracle", "frame_r"] == pytest.approx(1.0) and ref["floor (TR mean)", "temporal_detail_r"] == pytest.approx(0, abs=1e-9)
