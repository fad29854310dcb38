"""Joint training and scoring: windows stay inside their time block, the audio and video tracks
must share the split, scores per modality and per voxel family, reruns come from the run cache."""
import numpy as np
import pytest
import torch

from tempmodels.decoder import MelDecoder
from tempmodels.encoders import MeanPool
from tempmodels.experiment import AudioData
from tempmodels.fmri.simulator import SimConfig, simulate
from tempmodels.joint import JointData, bottlenecks, family_table, fmri_scores, head_lags, ridge_rows, run_joint, scored_trs
from tempmodels.multimodal import MultimodalAutoencoder
from tempmodels.training import TrainConfig
from tempmodels.video.decoder import VideoDecoder
from tempmodels.video.encoders import FrameMeanCNN
from tempmodels.video.experiment import VideoData
from tempmodels.video.sprites import VideoConfig, generate

from .conftest import needs_espeak


@pytest.fixture(scope="module")
def joint(small_bench):
    n = small_bench.mel.shape[0]
    video = generate(VideoConfig(n_trs=n, seed=2, gap_trs=small_bench.config.gap_trs))
    sim = simulate(small_bench, SimConfig(voxels_per_family=2, repeats=2), video)
    return JointData.build(AudioData.from_bench(small_bench), VideoData.from_bench(video), sim.mean_response, 3,
                           family=sim.family, ceiling=np.full(len(sim.family), 0.9))


def _spec(data, d=8):
    lay = data.layout
    return lambda: MultimodalAutoencoder(lay, MeanPool(128, 64, 8), FrameMeanCNN(9, 32, 8, width=2), d,
                                         MelDecoder(d, channels=8), VideoDecoder(d, 9, 32, 1, 16), lags=(1, 2))


@needs_espeak
def test_windows_stay_inside_their_block(joint):
    for s in ("train", "val", "test"):
        assert len(getattr(joint, s)) == len(joint.splits[s]) - 2  # context 3: the first 2 TRs have no window
    a, _, y = joint.layout.unpack(joint.test)
    torch.testing.assert_close(a[:, -1], joint.audio.test[2:])
    np.testing.assert_allclose(y.numpy(), joint.bold[joint.splits["test"][2:]], rtol=1e-5, atol=1e-5)
    assert abs(joint.bold[joint.splits["train"]].mean()) < 1e-5


@needs_espeak
def test_split_mismatch_is_an_error(small_bench):
    video = generate(VideoConfig(n_trs=small_bench.mel.shape[0], seed=2, gap_trs=2))
    with pytest.raises(ValueError, match="split the TRs differently"):
        JointData.build(AudioData.from_bench(small_bench), VideoData.from_bench(video),
                        np.zeros((small_bench.mel.shape[0], 3)), 3)


@needs_espeak
def test_joint_runs_scored_per_family_and_cached(joint):
    cfg = TrainConfig(epochs=2, batch_size=8, patience=5)
    res, hist, fits = run_joint({"mean": _spec(joint)}, joint, cfg, [0], progress=False)
    metrics = set(res.metric)
    assert {"audio_mse", "video_frame_r", "flow_cosine", "fmri_r", "r/ceiling: motion", "r: noise"} <= metrics
    again, _, _ = run_joint({"mean": _spec(joint)}, joint, cfg, [0], progress=False)
    assert np.array_equal(res.value.to_numpy(), again.value.to_numpy())
    tab = family_table(res)
    assert "motion" in tab.columns and "noise" not in tab.columns
    u, v = fits["mean"][0].units, res.set_index("metric").value
    driven = joint.family != "noise"
    assert len(u["fmri_r"]) == driven.sum() and len(u["r: motion"]) == (joint.family == "motion").sum()
    assert u["fmri_r"].mean() == pytest.approx(v["fmri_r"]) and u["audio_mse"].mean() == pytest.approx(v["audio_mse"])
    assert len(u["audio_mse"]) == len(u["video_mse"]) == len(joint.test)


def test_head_lags_count_a_shift_already_applied():
    assert head_lags([1, 2, 3, 4]) == (1, 2, 3, 4)
    assert head_lags([1, 2, 3, 4], 3) == (0, 1)  # BOLD already 3 TRs late: delays of 3 and 4 TRs remain
    with pytest.raises(ValueError, match="past the HRF shift of 3 TRs"):
        head_lags([1, 2], 3)


def test_scores_without_families_cover_every_voxel():
    r = np.array([0.2, 0.4, -0.1])
    assert fmri_scores(r, None, None) == pytest.approx({"fmri_r": 0.5 / 3, "r: all voxels": 0.5 / 3})
    fam = np.array(["a", "a", "noise"])
    out = fmri_scores(r, fam, np.array([0.5, 0.8, 0.1]))
    assert out["fmri_r"] == pytest.approx(0.3) and out["r/ceiling: a"] == pytest.approx((0.4 + 0.5) / 2)
    assert "r/ceiling: noise" not in out


@needs_espeak
def test_ridge_references_score_the_same_test_trs(joint):
    assert np.array_equal(scored_trs(joint), joint.splits["test"][2:])
    truth = joint.bold.copy()  # features equal to the response at the same TR: lag 0 predicts it exactly
    rows = ridge_rows({"the answer": truth}, joint, lags=(0,))
    r = rows.set_index("metric").value
    assert r["fmri_r"] > 0.99 and set(rows.encoder) == {"the answer"}


@needs_espeak
def test_bottlenecks_cover_every_tr(joint):
    torch.manual_seed(0)
    z = bottlenecks(_spec(joint)(), joint)
    assert z.shape == (len(joint.bold), 8) and np.isfinite(z).all()


@needs_espeak
def test_ceilings_from_repeats_and_bad_repeats(small_bench):
    n = small_bench.mel.shape[0]
    video = generate(VideoConfig(n_trs=n, seed=2, gap_trs=small_bench.config.gap_trs))
    sim = simulate(small_bench, SimConfig(voxels_per_family=2, repeats=3), video)
    jd = JointData.build(AudioData.from_bench(small_bench), VideoData.from_bench(video), sim.mean_response, 3,
                         family=sim.family, repeats=sim.responses)
    assert jd.ceiling.shape == (len(sim.family),)
    with pytest.raises(ValueError, match="repeats must be"):
        JointData.build(AudioData.from_bench(small_bench), VideoData.from_bench(video), sim.mean_response, 3,
                        repeats=sim.responses[0])


@needs_espeak
def test_reconstruction_reference_rows_known_answers(joint):
    """oracle: exact; floor: no temporal detail; PCA-d: the weighted joint loss it minimises is what its
    discarded eigenvalues predict on the training TRs."""
    from tempmodels.joint import JointPCA, reconstruction_rows

    rows, units = reconstruction_rows(joint, 8, with_units=True)
    v = rows.set_index(["encoder", "metric"]).value
    assert v["oracle", "audio_mse"] == 0 and v["oracle", "video_mse"] == 0 and v["oracle", "audio_detail_r"] == pytest.approx(1)
    assert abs(v["floor (TR mean)", "audio_detail_r"]) < 1e-6
    assert v["PCA-d", "d_effective"] == 8 and 0 < v["PCA-d", "audio_mse"] < 2
    assert set(units.seed) == {-1} and set(units.metric) == {"audio_mse", "video_mse", "audio_detail_r"}
    assert (units[units.metric == "audio_mse"].groupby("encoder").size() == len(joint.test)).all()
    a, vv, _ = joint.layout.unpack(joint.train)
    a, vv = a[:, -1], vv[:, -1]
    pca = JointPCA(a, vv, 8, weights=(1.0, 2.0))
    a_hat, v_hat = pca.reconstruct(a, vv)
    loss = float(((a_hat - a) ** 2).mean() + 2 * ((v_hat - vv) ** 2).mean())
    assert loss == pytest.approx(pca.pca.discarded_variance() * pca.pca.shape[1], rel=1e-3)
    with pytest.raises(ValueError, match="same TRs"):
        pca.encode(a[:3], vv[:4])
