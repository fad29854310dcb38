"""A video encoder the tempmodels package has never seen (it is in no registry and imports nothing from
the package): appendix A3 scores it with ``tempmodels.bench --modality video``, and
tests/test_bench.py uses it.

Each frame and its difference from the previous frame (two channels: appearance and change) go
through a small 2-D CNN; a GRU runs over the frames of the clip and every step's state is kept in
the read-out, so the order of the frames — the sign of motion — can reach the embedding."""
import torch
from torch import nn


class DiffCNNGRU(nn.Module):
    def __init__(self, n_frames: int, size: int, d_model: int, channels: int = 1, width: int = 8, hidden: int = 64):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(2 * channels, width, kernel_size=3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, hidden))
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.readout = nn.Linear(n_frames * hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, frames, channels, H, W) -> (batch, d_model)
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        b, t = x.shape[:2]
        h = self.cnn(torch.cat([x, diff], dim=2).flatten(0, 1)).view(b, t, -1)  # (batch, frames, hidden)
        h, _ = self.gru(h)
        return self.readout(h.flatten(1))
