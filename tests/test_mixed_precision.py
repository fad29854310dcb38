"""Appendix A1's helpers: where mixed precision is native, and its verdict."""
import numpy as np
import pandas as pd
import pytest
import torch

from tempmodels import mixed_precision, results as R
from tempmodels.mixed_precision import native_precision


def test_precision_verdict_names_only_encoders_within_spread_and_without_a_paired_difference():
    """Appendix A1's verdict: 'a' moved within its spread (default), 'b' beyond it, 'c' within it but
    with a paired CI that excludes zero; only 'a' may switch to bf16."""
    spread = pd.DataFrame([
        {"encoder": "a", "metric": "m", "within seed spread": True, "verdict": R.NO_DIFFERENCE},
        {"encoder": "a", "metric": "n", "within seed spread": None, "verdict": np.nan},  # one seed: no spread, not a failure
        {"encoder": "b", "metric": "m", "within seed spread": False, "verdict": R.NO_DIFFERENCE},
        {"encoder": "c", "metric": "m", "within seed spread": True, "verdict": R.WORSE}])
    text, good = mixed_precision.verdict(spread, ["a", "b", "c"], "bf16", 3)
    assert good == ["a"]
    assert "b: beyond its seed spread on m" in text and "c: every metric within its seed spread; the paired CI excludes zero on m (worse)" in text
    assert "could be the default**: a (1 of 3)" in text and "3 seeds decide" not in text
    assert "3 seeds decide" in mixed_precision.verdict(spread, ["a"], "bf16", 2)[0]


def test_native_precision_follows_the_kernels_this_machine_has(monkeypatch):
    """fp32 is always native; CPU bf16 exactly where oneDNN has bf16 kernels (appendix A1 trains the
    bf16 arm of its quick profile only there); fp16 never on CPU; a bad name is named."""
    assert native_precision("fp32") and native_precision("fp32", "cuda")
    assert native_precision("bf16") == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert not native_precision("fp16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert native_precision("fp16", "cuda:0") and not native_precision("bf16", "cuda")
    with pytest.raises(ValueError, match="precision must be one of"):
        native_precision("fp8")
