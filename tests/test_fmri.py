"""The fMRI side: HRF and lags (the impulse test), noise ceilings, the simulator, voxelwise ridge."""
import numpy as np
import pytest

from tempmodels.fmri import (canonical_hrf, convolve_causal, convolve_centred, correlation_ceiling,
                             explainable_variance, lagged, peak_latency_s)
from tempmodels.fmri.encoding import HRF_METHODS, columnwise_r, fit_hrf_method, fit_voxelwise
from tempmodels.fmri.simulator import FAMILIES, SimConfig, load_simulation, simulate

TR = 1.5


def test_impulse_peaks_4_to_6_s_after_the_event_and_the_centred_kernel_before_it():
    x = np.zeros(80)
    x[30] = 1.0
    h = canonical_hrf(TR)
    assert 4.0 <= peak_latency_s(convolve_causal(x, h), 30, TR) <= 6.0
    assert peak_latency_s(convolve_centred(x, h), 30, TR) < 0  # the origin project's acausal shift
    fine = canonical_hrf(0.1)
    assert 4.0 <= np.argmax(fine) * 0.1 <= 6.0


def _nilearn_continuous(dt, kind="glover", length_s=32.0, fine=0.001):
    """nilearn's own HRF on a 1-ms grid (its grid and loc shift are then negligible), read at k·dt."""
    from nilearn.glm.first_level import glover_hrf, spm_hrf

    h = {"glover": glover_hrf, "spm": spm_hrf}[kind](t_r=fine, oversampling=1, time_length=length_s + 1)
    step = (length_s + 1) / (len(h) - 1)  # the grid nilearn actually uses
    idx = np.rint(np.arange(int(np.ceil(length_s / dt))) * dt / step).astype(int)
    k = h[idx]
    return k / np.abs(k).max()


@pytest.mark.parametrize("dt", [0.5, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("kind", ["glover", "spm"])
def test_the_kernel_at_tr_rate_is_nilearns_hrf_at_exact_multiples_of_the_tr(dt, kind):
    """The kernel was one TR late at TR 1.5 s (nilearn's glover_hrf(t_r=dt, oversampling=1) grid is a
    1.6-s step shifted by dt): peak at 6.0 s, 0.45 away from the continuous HRF. Now it is nilearn's
    response to a brief event (compute_regressor) and the continuous HRF read at k·dt."""
    from nilearn.glm.first_level import compute_regressor

    h = canonical_hrf(dt, kind)
    n = len(h)
    reg = compute_regressor(np.array([[0.0], [0.0], [1.0]]), kind, np.arange(n) * dt, oversampling=100)[0][:, 0]
    reg /= np.abs(reg).max()
    cont = _nilearn_continuous(dt, kind)
    assert np.argmax(h) == np.argmax(reg) == np.argmax(cont)
    assert np.abs(h - reg).max() <= 0.05 and np.abs(h - cont).max() <= 0.05
    x = np.zeros(100)
    x[40] = 1.0  # the impulse response, through the package's causal convolution and through nilearn
    events = np.array([[40 * dt], [0.0], [1.0]])
    nl = compute_regressor(events, kind, np.arange(100) * dt, oversampling=100)[0][:, 0]
    assert np.argmax(convolve_causal(x, h)) == np.argmax(nl)


def test_causal_convolution_and_positive_lags_never_look_ahead():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3))
    x2 = x.copy()
    x2[30] += 10
    h = canonical_hrf(TR)
    assert np.array_equal(convolve_causal(x, h)[:30], convolve_causal(x2, h)[:30])
    assert np.array_equal(lagged(x, [1, 2, 3])[:31], lagged(x2, [1, 2, 3])[:31])
    assert not np.array_equal(lagged(x, [-1])[:30], lagged(x2, [-1])[:30])  # a future lag leaks


def test_lagged_layout():
    x = np.arange(10.0)[:, None]
    out = lagged(x, [0, 2])
    assert out.shape == (10, 2) and out[5].tolist() == [5.0, 3.0] and out[1].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="at least one"):
        lagged(x, [])


def test_noise_ceiling_of_noise_is_zero_and_of_a_noiseless_voxel_one():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((300, 1))
    noise = rng.standard_normal((4, 300, 1))
    data = np.concatenate([np.repeat(signal[None], 4, 0), noise, signal[None] + noise], axis=2)
    ev = explainable_variance(data)
    assert ev[0] == pytest.approx(1.0) and abs(ev[1]) < 0.05 and ev[2] == pytest.approx(0.5, abs=0.07)
    ceiling = correlation_ceiling(ev, 4)
    assert ceiling[0] == pytest.approx(1.0) and ceiling[2] == pytest.approx(np.sqrt(4 * 0.5 / (4 * 0.5 + 0.5)), abs=0.05)
    with pytest.raises(ValueError, match="repeats ≥ 2"):
        explainable_variance(data[:1])
    bad = data.copy()
    bad[0, 3, 2] = np.nan
    with pytest.raises(ValueError, match=r"voxels \[2\]"):
        explainable_variance(bad)


def _splits(n=400, gap=10):
    return {"train": np.arange(0, 250), "val": np.arange(260, 320), "test": np.arange(330, n)}


def test_ridge_recovers_a_known_linear_map_with_lags():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6))
    w = rng.standard_normal((6 * 2, 5))
    y = lagged(x, [1, 3]) @ w + 0.05 * rng.standard_normal((400, 5))
    res = fit_voxelwise(x, y, _splits(), lags=[1, 3])
    assert (res.r > 0.99).all()
    wrong = fit_voxelwise(x, y, _splits(), lags=[0])
    assert (wrong.r < 0.5).all()


@pytest.mark.parametrize("method", HRF_METHODS)
def test_no_leakage_from_the_test_block(method):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((400, 4)), rng.standard_normal((400, 3))
    a = fit_hrf_method(method, x, y, _splits(), TR, lags=[1, 2])
    y2 = y.copy()
    y2[_splits()["test"]] += 100 * rng.standard_normal((70, 3))
    b = fit_hrf_method(method, x, y2, _splits(), TR, lags=[1, 2])
    assert np.array_equal(a.coef, b.coef) and np.array_equal(a.best_alphas, b.best_alphas)


def test_hrf_methods_on_an_hrf_generated_response():
    """Responses made by the canonical HRF: the methods that model the lag beat the one that does not."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 3))
    y = convolve_causal(x, canonical_hrf(TR)) @ rng.standard_normal((3, 4)) + 0.1 * rng.standard_normal((400, 4))
    r = {m: fit_hrf_method(m, x, y, _splits(), TR, lags=range(1, 7)).r.mean() for m in HRF_METHODS}
    assert r["HRF-convolved features"] > 0.95 and r["FIR"] > 0.9 and r["deconvolved responses"] > 0.8
    assert r["no lag"] < 0.5 < r["FIR"]
    with pytest.raises(ValueError, match="method must be one of"):
        fit_hrf_method("wiener", x, y, _splits(), TR)


def test_bad_input_gets_a_clear_error():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((400, 4)), rng.standard_normal((400, 3))
    y[10, 1] = np.nan
    with pytest.raises(ValueError, match=r"voxels \[1\]"):
        fit_voxelwise(x, y, _splits())
    with pytest.raises(ValueError, match="share the TR grid"):
        fit_voxelwise(x[:300], y[:, [0]], _splits())
    with pytest.raises(ValueError, match=r"\(TR, voxels\)"):
        fit_voxelwise(x, rng.standard_normal((2, 400, 3)), _splits())
    with pytest.raises(KeyError, match="'test'"):
        fit_voxelwise(x, y[:, [0]], {"train": np.arange(100)})


def test_columnwise_r():
    a = np.arange(10.0)[:, None] * [1, -1]
    assert columnwise_r(a, np.arange(10.0)[:, None] * [1, 1]).tolist() == pytest.approx([1, -1])


def test_simulator_is_deterministic_cached_and_its_ceilings_are_right(small_bench, tmp_path):
    cfg = SimConfig(voxels_per_family=3, repeats=3, snr=2.0)
    a = simulate(small_bench, cfg)
    b = load_simulation(small_bench, cfg, cache_dir=tmp_path)
    c = load_simulation(small_bench, cfg, cache_dir=tmp_path)  # from the cache
    (entry,) = tmp_path.glob("fmri/*.npz")
    entry.write_bytes(entry.read_bytes()[:-100])  # truncated: named, set aside, simulated again
    with pytest.warns(UserWarning, match=f"fMRI simulation cache {entry} is damaged"):
        d = load_simulation(small_bench, cfg, cache_dir=tmp_path)
    assert np.array_equal(d.responses, a.responses) and len(list(tmp_path.glob("fmri/*.damaged-*"))) == 1
    assert np.array_equal(a.responses, b.responses) and np.array_equal(b.responses, c.responses)
    assert list(c.family) == [f for f in FAMILIES for _ in range(3)]
    assert a.responses.shape == (3, small_bench.mel.shape[0], 3 * len(FAMILIES))
    assert np.all(a.signal[:, a.family == "noise"] == 0)
    other = simulate(small_bench, SimConfig(voxels_per_family=3, repeats=3, snr=2.0, seed=1))
    assert not np.array_equal(other.responses, a.responses)


def test_simulated_bold_follows_its_drive_through_the_hrf(small_bench):
    sim = simulate(small_bench, SimConfig(voxels_per_family=2, repeats=2))
    fpt = small_bench.config.mel.frames_per_tr
    for v in np.flatnonzero(sim.family != "noise"):
        drive_tr = sim.drives[:, v].reshape(-1, fpt).mean(1)
        r = [np.corrcoef(drive_tr[: len(drive_tr) - lag], sim.signal[lag:, v])[0, 1] for lag in range(6)]
        assert int(np.nanargmax(r)) in (2, 3, 4), (sim.family[v], np.round(r, 2))  # 3–6 s after the drive


def test_bad_simulator_configuration():
    with pytest.raises(ValueError, match="repeats ≥ 2"):
        SimConfig(repeats=1)
    with pytest.raises(ValueError, match="snr"):
        SimConfig(snr=0)


def test_every_drive_passes_the_impulse_test(small_bench):
    """A sound that starts at frame t0 (silence before it): no drive may change before t0 — the drives
    once used sosfiltfilt and centred smoothing windows, which respond before their cause."""
    import dataclasses

    import torch

    from tempmodels.fmri.simulator import frame_drives

    mel = torch.full_like(small_bench.mel, -8.0)
    flat = mel.view(-1, mel.shape[-1])
    t0 = flat.shape[0] // 2
    rng = np.random.default_rng(0)
    flat[t0:] = torch.from_numpy(rng.normal(size=(flat.shape[0] - t0, flat.shape[1])).astype(np.float32))
    seg = small_bench.segments
    later = seg[seg.start >= t0 * small_bench.config.mel.hop_length]  # the speakers' events start after t0 too
    assert (later.kind == "speech").any()
    bench = dataclasses.replace(small_bench, mel=mel, segments=later)
    drives, fam = frame_drives(bench, SimConfig(voxels_per_family=3))
    before = drives[:t0]
    assert np.allclose(before, before[:1]), [f for f, moved in zip(fam, ~np.isclose(before, before[:1]).all(0)) if moved]
    assert (np.abs(drives[t0:] - drives[:1]).max(0)[fam != "noise"][: 3 * 4] > 0).all()  # and they do respond after


def test_modulation_voxels_have_drives_of_their_own(small_bench):
    from tempmodels.fmri.simulator import frame_drives

    drives, fam = frame_drives(small_bench, SimConfig(voxels_per_family=3))
    mod = drives[:, fam == "modulation"]
    assert np.abs(np.corrcoef(mod.T)[np.triu_indices(3, 1)]).max() < 0.999


def test_energy_slope_drive_is_set_by_the_order_inside_each_tr(small_bench):
    """Its TR mean telescopes to (band energy at the TR's last frame − before its first) / frames:
    reversing the frames of a TR flips its sign while the TR's mean frame stays the same."""
    from tempmodels.fmri.simulator import frame_drives

    drives, family = frame_drives(small_bench, SimConfig(voxels_per_family=2, repeats=2))
    fpt = small_bench.config.mel.frames_per_tr
    slope = drives[:, family == "energy slope"]
    band = np.cumsum(slope, axis=0)  # the (smoothed) band energy, up to a constant
    tr_mean = slope.reshape(-1, fpt, slope.shape[1]).mean(1)
    ends = band[fpt - 1 :: fpt]
    starts = np.vstack([band[:1] - slope[:1], band[fpt - 1 : -1 : fpt]])
    assert np.allclose(tr_mean * fpt, ends - starts)


def test_video_families_ride_on_the_audio_grid_and_leave_the_audio_voxels_alone(small_bench, tmp_path):
    """With a video track the audio families are unchanged; the first motion voxel follows the signed
    horizontal velocity (zero while the sprite is hidden), the others the velocity along their own
    direction; luminance voxels the brightness of their own receptive field."""
    from tempmodels.fmri.simulator import VIDEO_FAMILIES, frame_drives
    from tempmodels.video.sprites import VideoConfig, generate

    n_tr = small_bench.mel.shape[0]
    video = generate(VideoConfig(n_trs=n_tr, seed=4))
    cfg = SimConfig(voxels_per_family=2, repeats=2)
    audio_only, fam_a = frame_drives(small_bench, cfg)
    both, fam = frame_drives(small_bench, cfg, video)
    keep = np.isin(fam, fam_a[fam_a != "noise"])
    assert np.array_equal(both[:, keep], audio_only[:, fam_a != "noise"])
    assert [f for f in fam if f in VIDEO_FAMILIES] == ["luminance"] * 2 + ["motion"] * 2
    fpt = small_bench.config.mel.frames_per_tr
    motion = both[:, fam == "motion"][:, 0].reshape(n_tr, fpt)
    still = (video.trs.event == "none").to_numpy()
    assert np.array_equal(motion[still].mean(1), video.trs.dx.to_numpy()[still].astype(float))
    # one drive per voxel: receptive fields and preferred directions differ, so a family is not one signal
    for name in VIDEO_FAMILIES:
        d = both[:, fam == name]
        assert abs(np.corrcoef(d[:, 0], d[:, 1])[0, 1]) < 0.99, name
    theta1 = frame_drives(small_bench, cfg, video)[0][:, fam == "motion"][:, 1].reshape(n_tr, fpt)[still].mean(1)
    speed = np.hypot(video.trs.dx, video.trs.dy).to_numpy()[still]
    assert (np.abs(theta1) <= speed + 1e-9).all()  # a projection of the velocity, never longer than it
    sim = load_simulation(small_bench, cfg, cache_dir=tmp_path, video=video)
    assert sim.responses.shape[2] == len(fam) and set(VIDEO_FAMILIES) <= set(sim.family)
    with pytest.raises(ValueError, match="must match"):
        frame_drives(small_bench, cfg, generate(VideoConfig(n_trs=n_tr // 2, seed=4, gap_trs=1)))


def test_banded_ridge_finds_the_band_that_carries_the_signal_and_partitions_the_variance():
    """Voxels driven by band A only, by B only, and by both: the split R² and the unique variance go
    to the band that carries each voxel's signal; a band of pure noise adds nothing unique."""
    from tempmodels.fmri.encoding import fit_banded

    g = np.random.default_rng(0)
    n = 400
    a, b, noise = g.normal(size=(n, 6)), g.normal(size=(n, 6)), g.normal(size=(n, 6))
    y = np.stack([a[:, 0], a[:, 1], b[:, 0], b[:, 1], a[:, 2] + b[:, 2]], 1)
    y = np.roll(y, 1, axis=0) + 0.3 * g.normal(size=y.shape)  # one TR of lag
    splits = {"train": np.arange(0, 300), "test": np.arange(320, n)}
    res = fit_banded({"A": a, "B": b}, y, splits, lags=(1,), n_iter=10)
    assert res.r2_split.shape == (2, 5) and (res.r2_joint > 0.7).all()
    assert (res.r2_split[0, :2] > 0.6).all() and (res.r2_split[1, :2] < 0.1).all()
    assert (res.r2_split[1, 2:4] > 0.6).all() and (res.r2_split[0, 2:4] < 0.1).all()
    part = res.partition()
    assert (part["unique A"][:2] > 0.6).all() and (part["unique B"][:2] < 0.05).all()
    assert (part["unique A"][4] > 0.2) and (part["unique B"][4] > 0.2)
    with_noise = fit_banded({"A": a, "noise": noise}, y[:, :2], splits, lags=(1,), n_iter=10).partition()
    assert (with_noise["unique noise"] < 0.05).all()
    with pytest.raises(ValueError, match="at least two feature bands"):
        fit_banded({"A": a}, y, splits)
