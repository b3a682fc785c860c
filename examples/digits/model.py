"""The two classifiers of the embedded demo: a baseline MLP and a candidate CNN for 8x8 digits.

Both take `(N, 1, 8, 8)` float32 pixels scaled to [0, 1] and return logits `(N, 10)`, so one plan
(`examples/digits/evalaction.yml`) serves both and the comparison is like for like.
"""

from __future__ import annotations

import torch
from torch import nn

N_CLASSES = 10
IMAGE_SIDE = 8


class DigitMLP(nn.Module):
    """Baseline: 64-32-10 multilayer perceptron (flattens its image input)."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMAGE_SIDE * IMAGE_SIDE, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits `(N, 10)` for pixels `(N, 1, 8, 8)` in [0, 1]."""
        return self.net(x)


class DigitCNN(nn.Module):
    """Candidate: two 3x3 conv layers (8 -> 4 -> 2 spatial) and a linear head."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 2 * 2, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits `(N, 10)` for pixels `(N, 1, 8, 8)` in [0, 1]."""
        return self.head(self.features(x))
