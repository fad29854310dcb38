"""Distillation for regression and multi-TR context windows."""
import pandas as pd
import pytest
import torch

from tempmodels.context import ContextAutoencoder, embedder, from_windows, reconstructor, to_windows
from tempmodels.decoder import Autoencoder, MelDecoder
from tempmodels.distillation import DistillationLoss, share_of_teacher_gain, teacher_gap
from tempmodels.encoders import FlatLinear, MeanPool, TemporalTransformer
from tempmodels.training import TrainConfig, fit

from .test_training import _data

CFG = TrainConfig(epochs=6, batch_size=8, lr=3e-3, patience=10, seed=1)


def _student():
    return Autoencoder(MeanPool(d_model=16), MelDecoder(16, channels=16))


@pytest.fixture(scope="module")
def teacher():
    x, v = _data(), _data(16, seed=1)
    return fit(lambda: Autoencoder(FlatLinear(128, 64, 16), MelDecoder(16, channels=16)), x, v, CFG, progress=False).model


@pytest.mark.parametrize("mode", ["output", "feature"])
def test_distillation_brings_the_student_closer_to_the_teacher(teacher, mode):
    x, v = _data(), _data(16, seed=1)
    alone = fit(_student, x, v, CFG, progress=False).model
    taught = fit(_student, x, v, CFG, progress=False,
                 loss_fn=DistillationLoss(teacher, mode, alpha=1.0 if mode == "output" else 10.0)).model
    if mode == "output":
        assert teacher_gap(taught, teacher, v) < teacher_gap(alone, teacher, v)
    else:
        with torch.no_grad():
            gap = lambda m: float(((m.embed(v) - teacher.embed(v)) ** 2).mean())  # noqa: E731
            assert gap(taught) < gap(alone)
    assert all(not p.requires_grad for p in teacher.parameters())


def test_alpha_zero_output_matching_is_plain_training(teacher):
    x, v = _data(), _data(16, seed=1)
    a = fit(_student, x, v, CFG, progress=False).history
    b = fit(_student, x, v, CFG, progress=False, loss_fn=DistillationLoss(teacher, "output", 0.0)).history
    assert torch.allclose(torch.tensor(a.val_loss.values), torch.tensor(b.val_loss.values), atol=1e-6)


def test_bad_distillation_arguments(teacher):
    with pytest.raises(ValueError, match="mode must be one of"):
        DistillationLoss(teacher, "kl")
    with pytest.raises(ValueError, match="alpha"):
        DistillationLoss(teacher, "output", 1.5)
    small = Autoencoder(MeanPool(d_model=8), MelDecoder(8, channels=8))
    with pytest.raises(ValueError, match="embeddings differ"):
        DistillationLoss(teacher, "feature")(small, _data(4))


def test_share_of_teacher_gain():
    rows = [{"encoder": e, "seed": s, "metric": "test_mse", "value": v}
            for s in (0, 1) for e, v in (("mean", 0.6), ("teacher", 0.4), ("student", 0.45 + 0.01 * s))]
    share = share_of_teacher_gain(pd.DataFrame(rows), "student", "teacher", "mean")
    assert share.round(6).tolist() == [0.75, 0.7]
    with pytest.raises(KeyError, match="nobody"):
        share_of_teacher_gain(pd.DataFrame(rows), "nobody", "teacher", "mean")


def test_windows_round_trip_and_padding():
    x = torch.randn(10, 64, 128)
    w = to_windows(x, 4)
    assert w.shape == (3, 256, 128)
    assert torch.equal(w[2, 128:192], x[9]) and torch.equal(w[2, 192:], x[9])  # padded with the last TR
    assert torch.equal(from_windows(w, 10, 4), x)
    assert torch.equal(w[0, 64:128], x[1])  # consecutive TRs, in order
    with pytest.raises(ValueError, match=r"\(n, frames, features\)"):
        to_windows(torch.randn(64, 128), 2)
    with pytest.raises(ValueError, match="positive int"):
        to_windows(x, 0)


def test_context_autoencoder_codes_each_tr_with_d_numbers():
    torch.manual_seed(0)
    enc = TemporalTransformer(128, 3 * 64, 16, width=16, nhead=2, layers=1, ff=32, readout="strided",
                              attention="gla", tr_frames=64)
    m = ContextAutoencoder(enc, MelDecoder(16, channels=16), 3).eval()
    x = torch.randn(7, 64, 128)
    assert reconstructor(m)(x).shape == (7, 64, 128)
    assert embedder(m)(x).shape == (7, 16)
    # GLA is causal: the first TR of a window does not depend on the TRs after it
    z = embedder(m)(x)
    x2 = x.clone()
    x2[1] += 1.0
    assert torch.allclose(embedder(m)(x2)[0], z[0], atol=1e-6) and not torch.allclose(embedder(m)(x2)[1], z[1])
    with pytest.raises(ValueError, match="k=2 TRs"):
        ContextAutoencoder(enc, MelDecoder(16, channels=16), 2)
