import numpy as np
import pytest

from tempmodels.splits import hrf_gap_trs, time_blocks


def test_hrf_gap_covers_hrf():
    assert hrf_gap_trs(1.5) * 1.5 >= 24.0
    assert hrf_gap_trs(1.5) == 16


def test_blocks_are_contiguous_ordered_and_gapped():
    b = time_blocks(200, gap_trs=10)
    for idx in b.values():
        assert np.all(np.diff(idx) == 1)
    assert b["val"][0] - b["train"][-1] - 1 == 10
    assert b["test"][0] - b["val"][-1] - 1 == 10
    assert b["test"][-1] == 199
    assert sum(len(v) for v in b.values()) == 180


def test_default_gap_is_hrf_length():
    b = time_blocks(300)
    assert b["val"][0] - b["train"][-1] - 1 == hrf_gap_trs()


def test_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        time_blocks(30, gap_trs=14)


@pytest.mark.parametrize("fr", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.0, 0.0, 0.0)])
def test_bad_fractions(fr):
    with pytest.raises(ValueError, match="fractions"):
        time_blocks(100, fr, gap_trs=1)
