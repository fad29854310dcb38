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
    assert d.bold.shape == (N_TR, int(mask.sum())) and d.runs == ("sub-01_run-01_bold.nii.gz", "sub-01_run-02_bold.nii.gz")
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
    meta["tr_seconds"] = 2.0
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="run-01_bold.nii.gz: header TR is 1.5 s, dataset.json says 2.0 s"):
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
