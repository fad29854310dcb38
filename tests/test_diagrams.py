import shutil

import pytest
import torch

from tempmodels import diagrams
from tempmodels.encoders import FramePool, MultiScaleEncoder

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")


def test_hiddenlayer_draws_with_shim_and_restores(tmp_path):
    import hiddenlayer.pytorch_builder as pb

    original = pb.import_graph
    tool = diagrams.draw(MultiScaleEncoder(hidden=8, d_model=8), torch.randn(1, 64, 128), tmp_path / "ms.png",
                         prefer="hiddenlayer")
    assert tool == "hiddenlayer"
    assert (tmp_path / "ms.png").stat().st_size > 1000
    assert pb.import_graph is original
    assert not hasattr(torch.onnx, "_optimize_trace"), "torch itself must never be patched"


def test_shim_is_undone_after_an_error():
    import hiddenlayer.pytorch_builder as pb

    original = pb.import_graph
    with pytest.raises(RuntimeError):
        with diagrams.hiddenlayer_shim():
            assert pb.import_graph is not original
            raise RuntimeError("boom")
    assert pb.import_graph is original


def test_torchview_fallback(tmp_path):
    tool = diagrams.draw(FramePool(hidden=8, d_model=8, pool="attention"), torch.randn(1, 64, 128), tmp_path / "fp.png",
                         prefer="hiddenlayer")
    assert tool == "torchview"
    assert (tmp_path / "fp.png").stat().st_size > 1000


def test_default_is_torchview_top_to_bottom_and_restores_the_input_check(tmp_path):
    import struct

    enc = MultiScaleEncoder(hidden=8, d_model=8, positional="concat")
    assert diagrams.draw(enc, torch.randn(1, 64, 128), tmp_path / "ms.png") == "torchview"
    width, height = struct.unpack(">II", (tmp_path / "ms.png").read_bytes()[16:24])
    assert height > width, "top to bottom: taller than wide"
    assert enc.check_finite is True
    with pytest.raises(ValueError, match="prefer must be"):
        diagrams.draw(enc, torch.randn(1, 64, 128), tmp_path / "x.png", prefer="graphviz")
