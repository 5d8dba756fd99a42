"""Frame sequences `(B, T, D)` with their lengths, for the LSTM (frame-level or chunked features).

Training sequences longer than `max_frames` get a random crop (bounded memory and an augmentation);
evaluation sequences are whole: the LSTM packs them, so padding never reaches its pooling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset
from torchaudio.transforms import TimeMasking

from ser.config import SequenceSettings
from ser.data.base import FoldDataModule, stack_targets


class SequenceDataset(Dataset):
    """`(T, D)` sequences; training ones are cropped, time-masked and noised."""

    def __init__(
        self,
        arrays: list[torch.Tensor],
        targets: np.ndarray,
        max_frames: int = 0,
        noise_std: float = 0.0,
        time_masks: int = 0,
        time_width: int = 0,
    ):
        self.arrays, self.targets = arrays, targets
        self.max_frames, self.noise_std = int(max_frames), float(noise_std)
        self.time_mask = [TimeMasking(time_width) for _ in range(time_masks)] if time_width > 0 else []

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.arrays[i]
        if self.max_frames and len(x) > self.max_frames:
            start = int(torch.randint(0, len(x) - self.max_frames + 1, ()))
            x = x[start : start + self.max_frames]
        if self.time_mask:
            x = x.T.unsqueeze(0)  # TimeMasking masks the last axis of (..., D, T)
            for mask in self.time_mask:
                x = mask(x)
            x = x.squeeze(0).T
        if self.noise_std > 0:
            x = x + torch.randn_like(x) * self.noise_std
        return {"x": x, "y": self.targets[i]}


def collate_sequences(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    xs = [it["x"] for it in items]
    return {
        "x": pad_sequence(xs, batch_first=True),
        "lengths": torch.tensor([len(x) for x in xs], dtype=torch.long),
        "y": stack_targets(items),
    }


class SequenceDataModule(FoldDataModule):
    """The sequence view, standardised per feature with training statistics.

    Settings (`SequenceSettings`, besides `FoldDataModule`'s): `max_frames` (training crop, 0:
    none), `noise_std`, `time_masks` and `time_width` (SpecAugment-style time masking of training
    sequences).
    """

    feature_axis = -1
    view = "sequence"
    settings_type = SequenceSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.max_frames, self.noise_std = int(s.max_frames), float(s.noise_std)
        self.time_masks, self.time_width = int(s.time_masks), int(s.time_width)

    def net_inputs(self) -> dict[str, Any]:
        return {"input_dim": int(self.tensors[0].shape[1])}

    def train_dataset(self) -> Dataset:
        rows = self.fold.split.train
        if not self.augment:
            return SequenceDataset([self.tensors[i] for i in rows], self.batch_targets(rows), self.max_frames)
        return SequenceDataset(
            [self.tensors[i] for i in rows],
            self.batch_targets(rows),
            self.max_frames,
            self.noise_std,
            self.time_masks,
            self.time_width,
        )

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        return SequenceDataset([self.tensors[i] for i in rows], self.batch_targets(rows))

    collate_train = staticmethod(collate_sequences)
    collate_eval = staticmethod(collate_sequences)
