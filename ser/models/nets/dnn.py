"""A multilayer perceptron on fixed-length acoustic feature vectors (the acoustic view)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DNN(nn.Module):
    """Linear -> batch norm -> ReLU -> dropout per hidden layer, then a linear classifier."""

    def __init__(
        self, n_classes: int, input_dim: int, hidden: Sequence[int] = (256, 128), dropout: float = 0.3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d_in = input_dim
        for d_out in hidden:
            layers += [
                nn.Linear(d_in, d_out),
                nn.BatchNorm1d(d_out),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
            ]
            d_in = d_out
        layers.append(nn.Linear(d_in, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
