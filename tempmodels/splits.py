"""Time-block splits: contiguous train / val / test blocks separated by gaps of at least an HRF.

Neighbouring TRs share signal through the haemodynamic response (and speech through sentences
that straddle TRs), so random TR splits leak. Blocks are contiguous and separated by ``gap_trs``
discarded TRs; normalisation statistics must come from the train block only.
"""
from __future__ import annotations

import math

import numpy as np

#: nilearn's Glover HRF has returned to baseline (<1 % of peak) by ~24 s.
HRF_SECONDS = 24.0


def hrf_gap_trs(tr_seconds: float = 1.5, hrf_seconds: float = HRF_SECONDS) -> int:
    """Smallest number of TRs covering the HRF length."""
    return math.ceil(hrf_seconds / tr_seconds)


def time_blocks(n_tr: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                gap_trs: int | None = None, tr_seconds: float = 1.5) -> dict[str, np.ndarray]:
    """Split ``range(n_tr)`` into contiguous train, val, test blocks (in that order) with gaps.

    The ``fractions`` apply to the TRs left after the two gaps.
    """
    gap = hrf_gap_trs(tr_seconds) if gap_trs is None else int(gap_trs)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    if gap < 0:
        raise ValueError(f"gap_trs must be >= 0, got {gap}")
    usable = n_tr - 2 * gap
    sizes = [int(math.floor(f * usable)) for f in fractions[:2]]
    sizes.append(usable - sum(sizes))
    if min(sizes) < 1:
        raise ValueError(f"{n_tr} TRs are too few for three blocks with gaps of {gap} TRs; "
                         f"need at least {2 * gap + 3 * math.ceil(1 / min(fractions))}")
    out, start = {}, 0
    for name, size in zip(("train", "val", "test"), sizes):
        out[name] = np.arange(start, start + size)
        start += size + gap
    return out
