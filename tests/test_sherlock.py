"""The Sherlock-format loader: round trip on generated NIfTI, the HRF-shift bookkeeping (never
twice), and bad files named in the error."""
import gzip
import json

import numpy as np
import pytest

from tempmodels.fmri.sherlock import DataError, load_sherlock, write_example

N_TR, TR, FPS = 12, 1.5, 6.0


def _make(tmp_path, shift_applied=False, **kw):
    rng = np.random.default_rng(0)
    bold = rng.normal(size=(3, 4, 2, N_TR)).astype(np.float32)
    bold[0, 0, 0] = 0.0  # a voxel outside the brain: constant, masked out by default
    audio = 0.1 * rng.normal(size=int(N_TR * TR * 16_000) + 500).astype(np.float32)
    frames = rng.integers(0, 256, size=(int(N_TR * TR * FPS), 40, 40), dtype=np.uint8)
    root = write_example(tmp_path / "data", bold, audio, frames, TR, FPS, shift_applied, **kw)
    return root, bold, frames


def test_round_trip(tmp_path):
    root, bold, frames = _make(tmp_path)
    d = load_sherlock(root, size=16)
    mask = bold.std(axis=3) > 0
    assert d.bold.shape == (N_TR, int(mask.sum()))
    assert d.runs == ("sub-01_run-01_bold.nii.gz", "sub-01_run-02_bold.nii.gz")
    np.testing.assert_allclose(d.bold, bold[mask].T, rtol=1e-6)  # runs concatenated in order
    assert d.mel.shape == (N_TR, 64, 128) and d.frames.shape == (N_TR, 9, 1, 16, 16)
    assert float(d.frames.min()) >= 0 and float(d.frames.max()) <= 1


def test_explicit_mask(tmp_path):
    m = np.zeros((3, 4, 2), bool)
    m[1:, :2] = True
    root, bold, _ = _make(tmp_path, mask=m)
    d = load_sherlock(root)
    np.testing.assert_allclose(d.bold, bold[m].T, rtol=1e-6)


def test_shift_is_applied_once_and_only_when_the_release_did_not(tmp_path):
    root, bold, _ = _make(tmp_path, shift_applied=False)
    d = load_sherlock(root)
    assert "call aligned()" in d.describe()
    a = d.aligned()
    assert a.n_trs == N_TR - 3 and a.shifted_here and "applied by this loader" in a.describe()
    np.testing.assert_array_equal(a.bold, d.bold[3:])  # BOLD TR t+3 pairs with stimulus TR t
    assert np.array_equal(a.mel.numpy(), d.mel[: N_TR - 3].numpy())
    with pytest.raises(DataError, match="refusing to shift twice"):
        a.aligned()
    root2, _, _ = _make(tmp_path / "b", shift_applied=True)
    d2 = load_sherlock(root2)
    assert d2.aligned() is d2 and "applied by the release" in d2.describe()


def test_missing_or_unstated_shift_is_an_error(tmp_path):
    root, _, _ = _make(tmp_path)
    meta = json.loads((root / "dataset.json").read_text())
    del meta["hrf_shift_applied"]
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="hrf_shift_applied.*never guessed"):
        load_sherlock(root)


def test_corrupt_nifti_names_the_file(tmp_path):
    root, _, _ = _make(tmp_path)
    run = root / "bold" / "sub-01_run-02_bold.nii.gz"
    raw = gzip.decompress(run.read_bytes())
    run.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # truncated
    with pytest.raises(DataError, match="sub-01_run-02_bold.nii.gz: cannot read it as NIfTI"):
        load_sherlock(root)


def test_wrong_tr_in_header_names_the_file(tmp_path):
    root, _, _ = _make(tmp_path)
    meta = json.loads((root / "dataset.json").read_text())
    meta["tr_seconds"] = 3.0  # a whole number of mel hops (2.0 s is not: test_a_tr_that_is_not_whole_mel_hops_is_named)
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="run-01_bold.nii.gz: header TR is 1.5 s, dataset.json says 3.0 s"):
        load_sherlock(root)


def test_short_stimulus_and_missing_files_are_named(tmp_path):
    root, _, frames = _make(tmp_path)
    np.save(root / "frames.npy", frames[: len(frames) // 2])
    with pytest.raises(DataError, match="frames.npy: holds 6 TRs of frames, the BOLD runs have 12"):
        load_sherlock(root)
    (root / "audio.wav").unlink()
    with pytest.raises(DataError, match="audio.wav: missing"):
        load_sherlock(root)
    with pytest.raises(DataError, match="not a folder"):
        load_sherlock(tmp_path / "nowhere")


def test_real_data_as_benchmarks_share_the_time_blocks(tmp_path):
    from tempmodels.experiment import AudioData
    from tempmodels.video.experiment import VideoData

    root, _, _ = _make(tmp_path)
    d = load_sherlock(root, size=16).aligned()
    audio, video = d.benchmarks(fractions=(0.5, 0.25, 0.25), gap_trs=1)
    assert all(np.array_equal(audio.splits[s], video.splits[s]) for s in ("train", "val", "test"))
    assert audio.splits["test"][-1] == d.n_trs - 1 and video.config.frames_per_tr == 9
    assert AudioData.from_bench(audio).train.shape[1:] == (64, 128)
    assert VideoData.from_bench(video).test.shape[1:] == (9, 1, 16, 16)


def test_a_movie_whose_fps_times_tr_is_not_whole_is_resampled_on_request(tmp_path):
    rng = np.random.default_rng(1)
    n_tr, fps = 8, 25.0  # 37.5 frames per TR
    bold = rng.normal(size=(2, 2, 1, n_tr)).astype(np.float32)
    audio = 0.1 * rng.normal(size=int(n_tr * TR * 16_000)).astype(np.float32)
    frames = np.repeat(np.arange(int(n_tr * TR * fps))[:, None, None], 12, 1).repeat(12, 2).astype(np.float32)
    frames /= frames.max()  # each frame's value is its index: which frame was taken is readable
    root = write_example(tmp_path / "d", bold, audio, frames, TR, fps)
    with pytest.raises(DataError, match="frames.npy: fps × TR = 25.0 × 1.5 is not a whole number.*frames_per_tr"):
        load_sherlock(root)
    d = load_sherlock(root, size=12, frames_per_tr=15)
    assert d.frames.shape == (n_tr, 15, 1, 12, 12)
    taken = np.round(d.frames[:, :, 0, 0, 0].numpy() * (len(frames) - 1)).astype(int)
    want = ((np.arange(n_tr)[:, None] + (np.arange(15) + 0.5) / 15) * TR * fps).astype(int)
    np.testing.assert_array_equal(taken, want)  # the frame at the centre of each fifteenth of the TR


# ---- value checks: each bad value is a DataError naming the file, raised at load time ----

def _meta(root, **changes):
    path = root / "dataset.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _nifti(path, data, voxel_mm=3.0, tr=TR):
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(data, np.float32), np.diag([voxel_mm] * 3 + [1.0]))
    img.header.set_xyzt_units("mm", "sec")
    if img.ndim == 4:
        img.header["pixdim"][4] = tr
    nib.save(img, str(path))


def test_an_empty_mask_is_an_error_naming_it(tmp_path):
    root, _, _ = _make(tmp_path, mask=np.zeros((3, 4, 2), bool))
    with pytest.raises(DataError, match=r"mask.nii.gz: mask selects 0 voxels; expected a non-empty boolean/0-1 mask"):
        load_sherlock(root)
    rng = np.random.default_rng(0)  # no mask file and no voxel varies: the derived mask is empty too
    flat = write_example(tmp_path / "flat", np.ones((2, 2, 1, N_TR), np.float32), 0.1 * rng.normal(size=30_000),
                         np.zeros((int(N_TR * TR * FPS), 8, 8), np.uint8), TR, FPS)
    with pytest.raises(DataError, match=r"bold: no voxel varies over time"):
        load_sherlock(flat)


def test_non_finite_bold_is_an_error_naming_the_run(tmp_path):
    m = np.zeros((3, 4, 2), bool)
    m[1:, :2] = True
    root, bold, _ = _make(tmp_path, mask=m)
    run2 = root / "bold" / "sub-01_run-02_bold.nii.gz"
    part = bold[..., N_TR // 2:].copy()
    part[0, 3, 1, 2] = np.nan  # outside the mask: ignored
    _nifti(run2, part)
    assert load_sherlock(root).bold.shape == (N_TR, int(m.sum()))
    part[1, 0, 0, 2:4] = np.inf  # inside the mask
    _nifti(run2, part)
    with pytest.raises(DataError, match=r"run-02_bold.nii.gz: 1 voxel\(s\) inside the mask hold NaN/inf at 2 TR\(s\)"):
        load_sherlock(root)
    root, bold, _ = _make(tmp_path / "b")  # no mask: a voxel with some NaN would be silently dropped
    part = bold[..., N_TR // 2:].copy()
    part[2, 1, 0, 0] = np.nan
    _nifti(root / "bold" / "sub-01_run-02_bold.nii.gz", part)
    with pytest.raises(DataError, match=r"run-02_bold.nii.gz: 1 voxel\(s\) hold NaN/inf at 1 TR\(s\)"):
        load_sherlock(root)
    bold[2, 1, 0] = np.nan  # NaN at every TR: background, dropped — and said so
    _nifti(root / "bold" / "sub-01_run-01_bold.nii.gz", bold[..., : N_TR // 2])
    _nifti(root / "bold" / "sub-01_run-02_bold.nii.gz", bold[..., N_TR // 2:])
    with pytest.warns(UserWarning, match=r"bold: dropped 1 voxel\(s\) that are NaN/inf at every TR"):
        d = load_sherlock(root)
    assert d.bold.shape[1] == int((np.nan_to_num(bold).std(axis=3) > 0).sum()) and np.isfinite(d.bold).all()


def test_wav_sample_formats_are_decoded_and_bad_audio_is_named(tmp_path):
    from scipy.io import wavfile

    root, _, _ = _make(tmp_path)
    x = 0.5 * np.sign(np.random.default_rng(2).normal(size=int(N_TR * TR * 16_000) + 500))  # exact in every format
    mels = {}
    for name, wav in {"float32": x.astype(np.float32), "int16": (x * 32768).astype(np.int16),
                      "int32": (x * 2**31).astype(np.int32), "uint8": (x * 128 + 128).astype(np.uint8)}.items():
        wavfile.write(root / "audio.wav", 16_000, wav)
        mels[name] = load_sherlock(root).mel.numpy()
    for name in ("int16", "int32", "uint8"):  # uint8 is unsigned, centred on 128: (x - 128) / 128
        np.testing.assert_allclose(mels[name], mels["float32"], atol=1e-4, err_msg=name)
    for bad, match in ((np.zeros(0, np.int16), "audio.wav: holds 0 samples"),
                       (np.full(30_000, 1.5, np.float32), r"audio.wav: float samples must lie in \[-1, 1\]"),
                       (np.full(30_000, np.nan, np.float32), "audio.wav: .*NaN/inf")):
        wavfile.write(root / "audio.wav", 16_000, bad)
        with pytest.raises(DataError, match=match):
            load_sherlock(root)


def test_frame_values_follow_one_rule_per_dtype(tmp_path):
    root, _, frames = _make(tmp_path)
    want = load_sherlock(root, size=16).frames  # uint8: / 255
    f = frames.astype(np.float32) / 255
    np.save(root / "frames.npy", f)
    np.testing.assert_array_equal(load_sherlock(root, size=16).frames, want)  # float in [0, 1]: as is
    f[0, 0, 0] = 1.001  # one pixel out of range must not rescale the movie by 1/255
    np.save(root / "frames.npy", f)
    with pytest.raises(DataError, match=r"frames.npy: float frames must lie in \[0, 1\], got values in \[0, 1.001"):
        load_sherlock(root)
    f[0, 0, 0] = np.nan
    np.save(root / "frames.npy", f)
    with pytest.raises(DataError, match="frames.npy: .*NaN/inf"):
        load_sherlock(root)
    np.save(root / "frames.npy", frames.astype(np.uint16) * 257)
    with pytest.raises(DataError, match="frames.npy: dtype uint16 is not accepted; expected uint8 .* or float"):
        load_sherlock(root)


@pytest.mark.parametrize("shift, bound", [(-2, "the runs' TRs"), (2.5, "the runs' TRs"), ("3", "the runs' TRs"),
                                          (True, "the runs' TRs"), (12, r"12 \(the runs' TRs\)")])
def test_a_bad_hrf_shift_is_an_error_naming_dataset_json(tmp_path, shift, bound):
    root, _, _ = _make(tmp_path)
    _meta(root, hrf_shift_trs=shift)
    with pytest.raises(DataError, match=rf"dataset.json: 'hrf_shift_trs' must be a whole number of TRs, 0 <= shift < "
                                        rf"{bound}, got {shift!r}"):
        load_sherlock(root)
    _meta(root, hrf_shift_trs=11.0)  # a whole number written as a float is fine
    assert load_sherlock(root).hrf_shift_trs == 11


def test_dataset_json_that_is_not_an_object_is_named(tmp_path):
    root, _, _ = _make(tmp_path)
    (root / "dataset.json").write_text("[1.5, false]")
    with pytest.raises(DataError, match="dataset.json: expected a JSON object"):
        load_sherlock(root)


def test_a_tr_that_is_not_whole_mel_hops_is_named(tmp_path):
    rng = np.random.default_rng(0)
    root = write_example(tmp_path / "d", rng.normal(size=(2, 2, 1, 6)), 0.1 * rng.normal(size=6 * 32_000),
                         np.zeros((6 * 12, 8, 8), np.uint8), tr_seconds=2.0, fps=FPS)
    with pytest.raises(DataError, match=r"dataset.json: a TR of 2.0 s is not a whole number of mel hops \(375 "
                                        r"samples at 16000 Hz = 0.0234375 s\).*1.9921875 s or 2.015625 s"):
        load_sherlock(root)


def test_runs_must_share_shape_and_voxel_size(tmp_path):
    root, bold, _ = _make(tmp_path)
    run2 = root / "bold" / "sub-01_run-02_bold.nii.gz"
    _nifti(run2, bold[..., N_TR // 2:], voxel_mm=2.0)
    with pytest.raises(DataError, match=r"run-02_bold.nii.gz: voxel size \(2.0, 2.0, 2.0\) mm differs from "
                                        r"sub-01_run-01_bold.nii.gz's \(3.0, 3.0, 3.0\) mm"):
        load_sherlock(root)
    _nifti(run2, bold[:2, ..., N_TR // 2:])
    with pytest.raises(DataError, match=r"run-02_bold.nii.gz: spatial shape \(2, 4, 2\) differs"):
        load_sherlock(root)
    root, _, _ = _make(tmp_path / "m", mask=np.ones((3, 4, 2), bool))
    _nifti(root / "mask.nii.gz", np.ones((3, 4, 1)))
    with pytest.raises(DataError, match=r"mask.nii.gz: shape \(3, 4, 1\) does not match"):
        load_sherlock(root)
    _nifti(root / "mask.nii.gz", np.ones((3, 4, 2)), voxel_mm=2.0)
    with pytest.raises(DataError, match=r"mask.nii.gz: voxel size \(2.0, 2.0, 2.0\) mm differs"):
        load_sherlock(root)
