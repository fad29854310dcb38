"""Nested training subsets and learning-curve fits (tempmodels.scaling, chapter 11's groundwork)."""
import numpy as np
import pytest
import torch

from tempmodels import scaling


def test_sizes_double_up_to_the_whole_block():
    assert scaling.nested_sizes(100, 10) == [10, 20, 40, 80, 100]
    assert scaling.nested_sizes(80, 10) == [10, 20, 40, 80]
    with pytest.raises(ValueError, match="smallest"):
        scaling.nested_sizes(5, 10)
    with pytest.raises(ValueError, match="factor"):
        scaling.nested_sizes(100, 10, factor=1)


def test_subsets_are_nested_and_share_validation_test_and_normaliser(small_bench):
    n_train = len(small_bench.splits["train"])
    sizes = [n_train // 4, n_train // 2, n_train]
    subs = scaling.nested_subsets(small_bench, sizes)
    assert list(subs) == sizes
    first = subs[sizes[0]]
    for n, d in subs.items():
        assert len(d.train) == n and d.bench.splits["train"].tolist() == small_bench.splits["train"][:n].tolist()
        assert d.norm is first.norm  # one unit along the curve
        assert torch.equal(d.val, first.val) and torch.equal(d.test, first.test)
        assert d.bench.splits["test"] is small_bench.splits["test"]
    for a, b in zip(sizes, sizes[1:]):
        assert torch.equal(subs[b].train[:a], subs[a].train)  # each size contains the smaller ones
    # the normaliser reads the smallest subset only
    torch.testing.assert_close(first.norm.mean, small_bench.mel[small_bench.splits["train"][: sizes[0]]]
                               .mean(dim=(0, 1), keepdim=True))
    assert small_bench.splits["train"].size == n_train  # the benchmark itself is untouched


def test_subsets_refuse_sizes_that_do_not_fit(small_bench):
    n_train = len(small_bench.splits["train"])
    with pytest.raises(ValueError, match="exceeds the benchmark's training block"):
        scaling.nested_subsets(small_bench, [10, n_train + 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        scaling.nested_subsets(small_bench, [20, 10])
    with pytest.raises(ValueError, match="empty"):
        scaling.nested_subsets(small_bench, [])


def test_power_law_recovers_its_parameters():
    n = np.array([300, 600, 1200, 2400, 4800, 9600.0])
    y = 0.15 + 2.0 * n ** -0.5
    f = scaling.fit_power_law(n, y)
    assert f.a == pytest.approx(2.0, rel=1e-4) and f.b == pytest.approx(0.5, rel=1e-4)
    assert f.c == pytest.approx(0.15, abs=1e-6)
    np.testing.assert_allclose(f(n), y, rtol=1e-6)
    with pytest.raises(ValueError, match="three"):
        scaling.fit_power_law([1, 2, 2], [1, 2, 3])


def test_crossing_is_where_the_curves_meet_and_none_when_they_do_not():
    flat = scaling.PowerLaw(a=0.0, b=0.0, c=0.2, n_min=1, n_max=1)
    falling = scaling.PowerLaw(a=2.0, b=0.5, c=0.1, n_min=1, n_max=1)  # equals 0.2 at n = 400
    assert scaling.crossing(falling, flat, 100, 10_000) == pytest.approx(400, rel=1e-6)
    assert scaling.crossing(falling, flat, 500, 10_000) is None
    higher = scaling.PowerLaw(a=0.0, b=0.0, c=0.3, n_min=1, n_max=1)
    assert scaling.crossing(higher, flat, 1, 1e6) is None
    assert scaling.hours(2400) == pytest.approx(1.0)
