"""An encoder the tempmodels package has never seen (it is in no registry and imports nothing from
the package): appendix A2 scores it with ``tempmodels.bench``, and tests/test_bench.py uses it.

A small wav2vec-style front end — two strided 1-D convolutions over the frames of a TR — then a
GRU over the 16 steps left, every step's state kept in the read-out (so the order of the frames
can reach the embedding)."""
import torch
from torch import nn


class ConvGRU(nn.Module):
    def __init__(self, n_features: int, n_frames: int, d_model: int, hidden: int = 96):
        super().__init__()
        self.front = nn.Sequential(
            nn.Conv1d(n_features, hidden, kernel_size=5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size=3, stride=2, padding=1), nn.GELU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        steps = (n_frames + 3) // 4
        self.readout = nn.Linear(steps * hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, frames, features) -> (batch, d_model)
        h = self.front(x.transpose(1, 2)).transpose(1, 2)  # (batch, steps, hidden)
        h, _ = self.gru(h)
        return self.readout(h.flatten(1))
