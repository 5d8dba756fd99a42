"""Acoustic feature vectors `(B, D)` for the DNN: one vector of functionals per utterance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ser.config import VectorSettings
from ser.data.base import FoldDataModule, stack_targets


class VectorDataset(Dataset):
    """Rows of a feature matrix; training rows get Gaussian noise of `noise_std` (in standard units)."""

    def __init__(self, matrix: torch.Tensor, targets: np.ndarray, noise_std: float = 0.0):
        self.matrix, self.targets, self.noise_std = matrix, targets, float(noise_std)

    def __len__(self) -> int:
        return len(self.matrix)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.matrix[i]
        if self.noise_std > 0:
            x = x + torch.randn_like(x) * self.noise_std
        return {"x": x, "y": self.targets[i]}


def collate_vectors(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([it["x"] for it in items]), "y": stack_targets(items)}


class VectorDataModule(FoldDataModule):
    """The acoustic view: standardised functionals, Gaussian-noise augmentation in training.

    Settings (`VectorSettings`, besides `FoldDataModule`'s): `noise_std`, the training noise in
    standard deviations.
    """

    feature_axis = -1
    view = "acoustic"
    settings_type = VectorSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noise_std = float(self.settings.noise_std)
        self.matrix: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if self.matrix is None:
            self.matrix = torch.from_numpy(np.stack(self.arrays).astype(np.float32))

    def net_inputs(self) -> dict[str, Any]:
        return {"input_dim": int(self.matrix.shape[1])}

    def train_dataset(self) -> Dataset:
        rows = self.fold.split.train
        return VectorDataset(self.matrix[rows], self.batch_targets(rows), self.noise_std if self.augment else 0.0)

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        return VectorDataset(self.matrix[rows], self.batch_targets(rows))

    collate_train = staticmethod(collate_vectors)
    collate_eval = staticmethod(collate_vectors)
