"""Verdict arithmetic — kept as a thin alias: it lives in :mod:`tempmodels.results` (gap shares,
reference-row names, convergence, paired statistics and the words a verdict may use)."""
from .results import FLOOR, PCA, gap_share, gap_table, position  # noqa: F401
