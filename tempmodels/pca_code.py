"""PCA-d: the optimal *linear* code of d numbers per TR, closed form, no training, no pooling.

Fit on the training TRs (normalised log-mel, each TR flattened to T·F numbers), it keeps the d
directions of largest variance. Among all linear encoders and decoders with a d-number bottleneck
it has the lowest mean squared reconstruction error on the training data (Eckart–Young), and that
error equals the sum of the discarded eigenvalues of the training covariance, divided by T·F.
Every encoder in the book is judged against it: beating the TR-mean floor is not the bar,
reaching what d numbers can hold is.
"""
from __future__ import annotations

import torch


class PCACode:
    """``encode``: (TR, T, F) -> (TR, d); ``decode``: (TR, d) -> (TR, T, F); ``reconstruct`` both.

    ``d`` larger than the rank of the training data (at most ``n_train - 1`` after centring) is
    capped; ``d_effective`` says what was kept.
    """

    def __init__(self, train: torch.Tensor, d: int):
        train = torch.as_tensor(train)
        if train.ndim != 3:
            raise ValueError(f"PCACode expects training TRs shaped (TR, frames, features), got {tuple(train.shape)}")
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            raise ValueError(f"d must be a positive int, got {d!r}")
        if len(train) < 2:
            raise ValueError(f"PCA needs at least 2 training TRs, got {len(train)}")
        self.shape = tuple(train.shape[1:])
        x = train.reshape(len(train), -1).double()
        self.mean = x.mean(0)
        xc = x - self.mean
        # economy SVD of the (n x T·F) data matrix: right singular vectors = covariance eigenvectors
        _, s, vh = torch.linalg.svd(xc, full_matrices=False)
        self.eigenvalues = s**2 / len(train)  # of the (biased) training covariance, descending
        rank = int((s > s[0] * 1e-10).sum())
        self.d, self.d_effective = d, min(d, rank)
        self.components = vh[: self.d_effective]  # (d, T·F), orthonormal rows

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim != 3 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected TRs shaped (TR, {self.shape[0]}, {self.shape[1]}), got {tuple(x.shape)}")
        return x.reshape(len(x), -1).double()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return ((self._flat(x) - self.mean) @ self.components.T).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        z = torch.as_tensor(z).double()
        if z.ndim != 2 or z.shape[1] != self.d_effective:
            raise ValueError(f"expected codes shaped (TR, {self.d_effective}), got {tuple(z.shape)}")
        return (z @ self.components + self.mean).reshape(len(z), *self.shape).float()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def discarded_variance(self) -> float:
        """Training MSE per element that PCA-d must leave: Σ of the discarded eigenvalues / (T·F)."""
        return float(self.eigenvalues[self.d_effective :].sum() / (self.shape[0] * self.shape[1]))
