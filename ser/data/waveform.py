"""Raw waves `(B, S)` with their lengths, for fine-tuning a speech encoder (`model=ssl_finetune`).

The `waveform` view (`features=waveform`) holds each utterance's audio at 16 kHz, in memory (not
cached: decoding is fast; IEMOCAP is about 1.6 GB of float32). Training waves longer than
`max_seconds` get a random crop (bounded memory, and an augmentation); evaluation waves are whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ser.config import WaveformSettings
from ser.data.base import FoldDataModule
from ser.data.sequence import collate_sequences  # padded rows + lengths: the same batch shape


class WaveformDataset(Dataset):
    def __init__(self, waves: list[np.ndarray], targets: np.ndarray, max_samples: int = 0) -> None:
        self.waves, self.targets, self.max_samples = waves, targets, int(max_samples)

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int) -> dict[str, Any]:
        w = self.waves[i]
        if self.max_samples and len(w) > self.max_samples:
            start = int(torch.randint(0, len(w) - self.max_samples + 1, ()))
            w = w[start : start + self.max_samples]
        return {"x": torch.from_numpy(np.asarray(w, dtype=np.float32)), "y": self.targets[i]}


class WaveformDataModule(FoldDataModule):
    """The waveform view: padded waves and lengths (the encoder normalises them itself)."""

    view = "waveform"
    settings_type = WaveformSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_samples = int(round(float(self.settings.max_seconds) * int(self.settings.sample_rate)))

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is not None:
            return
        fold = self.fold
        targets = fold.manifest["target"] if "target" in fold.manifest else np.zeros(len(fold.manifest))
        self.targets = np.asarray(targets).astype(np.int64)
        self.arrays = list(fold.features.data)

    def train_dataset(self) -> Dataset:
        rows = self.fold.split.train
        return WaveformDataset([self.arrays[i] for i in rows], self.targets[rows], self.max_samples)

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        return WaveformDataset([self.arrays[i] for i in rows], self.targets[rows])

    collate_train = staticmethod(collate_sequences)
    collate_eval = staticmethod(collate_sequences)
