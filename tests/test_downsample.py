"""Lanczos downsampling: the Huth lab's kernel, a weighted mean, anti-aliased where a box-car is not."""
import numpy as np
import pytest

from tempmodels.fmri.downsample import lanczos_downsample, lanczos_kernel, tr_times

FPT, TR = 64, 1.5


def _grid(n_trs=40):
    old = (np.arange(n_trs * FPT) + 0.5) * TR / FPT  # frame centres
    return old, tr_times(n_trs, TR)


def test_kernel_is_the_huth_lab_lanczosfun():
    t = np.linspace(-5, 5, 101)
    cutoff, a = 1 / TR, 3
    x = t * cutoff
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = a * np.sin(np.pi * x) * np.sin(np.pi * x / a) / (np.pi ** 2 * x ** 2)
    ref[x == 0], ref[np.abs(x) > a] = 1.0, 0.0
    assert np.allclose(lanczos_kernel(t, cutoff, a), ref)
    assert lanczos_kernel(np.array([TR, 2 * TR]), cutoff).tolist() == pytest.approx([0, 0], abs=1e-12)  # zeros at the new period


def test_a_constant_stays_that_constant_and_the_rows_are_a_dense_lanczos_mean():
    old, new = _grid()
    assert np.allclose(lanczos_downsample(np.full((len(old), 2), 3.0), old, new), 3.0)
    x = np.random.default_rng(0).normal(size=(len(old), 3))
    w = lanczos_kernel(new[:, None] - old[None, :], 1 / TR)
    assert np.allclose(lanczos_downsample(x, old, new), (w @ x) / w.sum(1, keepdims=True))


def test_anti_aliasing_where_the_box_car_aliases():
    """A 0.9 Hz tone is above the TR's Nyquist (0.33 Hz): the box-car mean lets a large alias through,
    Lanczos almost none; a slow 0.05 Hz drift passes both."""
    old, new = _grid(200)
    fast = np.sin(2 * np.pi * 0.9 * old)[:, None]
    slow = np.sin(2 * np.pi * 0.05 * old)[:, None]
    box = lambda s: s.reshape(-1, FPT, 1).mean(1)  # noqa: E731
    assert box(fast)[5:-5].std() > 0.1 and lanczos_downsample(fast, old, new)[5:-5].std() < 0.03
    lz, truth = lanczos_downsample(slow, old, new), np.sin(2 * np.pi * 0.05 * new)[:, None]
    assert np.abs(lz - truth)[5:-5].max() < 0.05


@pytest.mark.parametrize("kw, match", [
    ({"x": np.zeros((10, 2)), "old_times": np.arange(9.0)}, "one time per sample"),
    ({"new_times": np.array([0.0, 1.0, 3.0])}, "evenly spaced"),
    ({"new_times": np.array([2.0, 1.0])}, "increasing")])
def test_bad_input_is_named(kw, match):
    base = {"x": np.zeros((10, 2)), "old_times": np.arange(10.0), "new_times": np.array([2.0, 4.0])}
    with pytest.raises(ValueError, match=match):
        lanczos_downsample(**{**base, **kw})
