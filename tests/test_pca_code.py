"""PCA-d, the reference every table carries: known answers and the linear-autoencoder check."""
import pytest
import torch

from tempmodels.pca_code import PCACode


@pytest.fixture(scope="module")
def low_rank():
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(6, 4 * 5, generator=g, dtype=torch.float64)
    scales = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    codes = torch.randn(300, 6, generator=g, dtype=torch.float64) * scales
    return (codes @ basis + 1.5).reshape(300, 4, 5)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_training_error_is_the_sum_of_discarded_eigenvalues(low_rank, d):
    pca = PCACode(low_rank, d)
    err = float(((pca.reconstruct(low_rank).double() - low_rank) ** 2).mean())
    assert err == pytest.approx(pca.discarded_variance(), rel=1e-4)
    # the known answer without PCACode: the eigenvalues of the sample covariance
    x = low_rank.reshape(300, -1)
    eig = torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)
    assert err == pytest.approx(float(eig[d:].sum() / x.shape[1]), rel=1e-4)


def test_full_rank_code_is_lossless(low_rank):
    pca = PCACode(low_rank, 6)
    assert torch.allclose(pca.reconstruct(low_rank).double(), low_rank, atol=1e-4)
    assert PCACode(low_rank, 50).d_effective == 6  # capped at the data's rank, and says so


def test_bad_input(low_rank):
    with pytest.raises(ValueError, match=r"\(TR, frames, features\)"):
        PCACode(low_rank.reshape(300, -1), 2)
    with pytest.raises(ValueError, match="positive int"):
        PCACode(low_rank, 0)
    pca = PCACode(low_rank, 2)
    with pytest.raises(ValueError, match=r"expected TRs shaped \(TR, 4, 5\)"):
        pca.encode(torch.zeros(3, 5, 4))
    with pytest.raises(ValueError, match=r"codes shaped \(TR, 2\)"):
        pca.decode(torch.zeros(3, 3))


def test_linear_autoencoder_trained_by_the_trainer_approaches_pca():
    """Eckart–Young from the other side: the project's trainer, a flat linear encoder and a linear
    decoder reach (not beat) PCA-d's error on the training data."""
    from torch import nn

    from tempmodels.encoders import FlatLinear
    from tempmodels.training import TrainConfig, evaluate_loss, fit

    g = torch.Generator().manual_seed(1)
    basis = torch.randn(8, 8 * 6, generator=g)
    x = (torch.randn(512, 8, generator=g) * torch.linspace(3, 0.3, 8)) @ basis
    x = (x + 0.05 * torch.randn(512, 8 * 6, generator=g)).reshape(512, 8, 6)
    d = 3

    class LinearAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = FlatLinear(6, 8, d), nn.Linear(d, 48)

        def forward(self, v):
            return self.dec(self.enc(v)).view(-1, 8, 6)

    res = fit(LinearAE, x, x[:64], TrainConfig(epochs=60, batch_size=32, lr=1e-2, weight_decay=0.0, patience=60),
              progress=False)
    pca_err = PCACode(x, d).discarded_variance()
    ae_err = evaluate_loss(res.model, x)
    assert pca_err * 0.999 <= ae_err < pca_err * 1.10, (ae_err, pca_err)
