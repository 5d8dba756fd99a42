"""The original notebooks' CNN: four conv blocks on a log-mel spectrogram, then a small dense head.

Differences from the notebooks, on purpose: no softmax before the loss (cross-entropy applies its own
log-softmax, a softmax before it squashes the gradients), and global average pooling over the
frequency-time map before the head, so one net takes any utterance length (random crops in training,
sliding windows or whole utterances at evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_block(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    """Conv 3x3 -> batch norm -> ReLU -> 2x2 max-pool -> dropout: one of the notebooks' blocks."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(dropout),
    )


class CNN(nn.Module):
    """Four conv blocks + global average pooling + dense head, on `(B, 1, n_mels, T)` inputs."""

    def __init__(
        self,
        n_classes: int,
        channels: Sequence[int] = (16, 32, 64, 128),
        hidden: int = 64,
        dropout: float = 0.1,
        head_dropout: float = 0.3,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        blocks, c_in = [], in_channels
        for c_out in channels:
            blocks.append(conv_block(c_in, c_out, dropout))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))
