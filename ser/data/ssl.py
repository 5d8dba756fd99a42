"""Hidden states of a pretrained speech encoder for the SUPERB-style head (`model=ssl_head`).

`features.store=mean` gives one `(L, D)` array of layer means per utterance: batches `x` of shape
`(B, L, D)`. `features.store=frames` gives `(T, L, D)` frames: batches `x` `(B, T, L, D)` padded,
with `lengths`; training sequences longer than `max_frames` get a random crop. The cache holds
float16; batches are float32. Standardisation (`normalize: global`, the default) uses the mean and
standard deviation of each (layer, dimension) over the training utterances (frames) only;
`speaker` (store=mean only) each speaker's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from ser.config import SSLDataSettings
from ser.data.base import FoldDataModule, stack_targets
from ser.normalize import MIN_STD


class SSLDataset(Dataset):
    """Per-utterance hidden states, standardised on the fly (frames stay float16 until they are read)."""

    def __init__(self, arrays: list, targets: np.ndarray, mean: torch.Tensor | None, std: torch.Tensor | None,
                 max_frames: int = 0) -> None:  # fmt: skip
        self.arrays, self.targets, self.mean, self.std, self.max_frames = (
            arrays,
            targets,
            mean,
            std,
            int(max_frames),
        )

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> dict[str, Any]:
        a = self.arrays[i]
        if self.max_frames and a.ndim == 3 and len(a) > self.max_frames:
            start = int(torch.randint(0, len(a) - self.max_frames + 1, ()))
            a = a[start : start + self.max_frames]
        x = torch.from_numpy(np.asarray(a, dtype=np.float32))
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return {"x": x, "y": self.targets[i]}


def collate_ssl(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    xs = [it["x"] for it in items]
    if xs[0].ndim == 2:  # (L, D) layer means
        return {"x": torch.stack(xs), "y": stack_targets(items)}
    return {
        "x": pad_sequence(xs, batch_first=True),
        "lengths": torch.tensor([len(x) for x in xs], dtype=torch.long),
        "y": stack_targets(items),
    }


def _frame_stats(arrays: list) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per (layer, dim) over every frame of `arrays` ((T, L, D) each), in one pass of float64 sums."""
    total = np.zeros(arrays[0].shape[1:], np.float64)
    squares = np.zeros_like(total)
    count = 0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        total += a.sum(axis=0)
        squares += (a * a).sum(axis=0)
        count += len(a)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean * mean, 0.0))
    return mean, np.where(std > MIN_STD, std, 1.0)


class SSLDataModule(FoldDataModule):
    """The ssl view (`ser.features.ssl`): layer means `(B, L, D)` or frames `(B, T, L, D)` + lengths.

    Settings (`SSLDataSettings`, besides `FoldDataModule`'s): `max_frames` (training crop of frames,
    0: none).
    """

    view = "ssl"
    settings_type = SSLDataSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_frames = int(self.settings.max_frames)
        self.frames = False
        self.mean_t: torch.Tensor | None = None
        self.std_t: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is not None:
            return
        fold = self.fold
        targets = fold.manifest["target"] if "target" in fold.manifest else np.zeros(len(fold.manifest))
        self.targets = np.asarray(targets).astype(np.int64)
        data = list(fold.features.data)
        if not data:
            raise ValueError("ssl data: no utterance has features")
        self.frames = data[0].ndim == 3
        shape = data[0].shape[-2:]  # (L, D)
        if self.frames:
            if self.normalize == "speaker":
                raise ValueError(
                    "data.normalize=speaker needs features.store=mean (frames: use global or none)"
                )
            if self.normalize == "global" and self.stats is None:
                self.stats = tuple(s.reshape(-1) for s in _frame_stats([data[i] for i in fold.split.train]))
            self.arrays = data  # float16 memory maps: cast batch by batch
        else:
            # layer means as flat (L*D,) vectors: the base class's global / speaker standardisation
            flat = [np.asarray(a, dtype=np.float32).reshape(-1) for a in data]
            speakers = fold.manifest["speaker"].astype(str).to_numpy()
            self.arrays = [a.reshape(shape) for a in self._normalised(flat, fold.split.train, speakers)]
        if self.frames and self.stats is not None:
            self.mean_t = torch.as_tensor(np.asarray(self.stats[0]).reshape(shape), dtype=torch.float32)
            self.std_t = torch.as_tensor(np.asarray(self.stats[1]).reshape(shape), dtype=torch.float32)
        self.shape = shape

    def net_inputs(self) -> dict[str, Any]:
        return {"n_layers": int(self.shape[0]), "input_dim": int(self.shape[1]), "frames": bool(self.frames)}

    def _dataset(self, rows: np.ndarray, train: bool) -> Dataset:
        crop = self.max_frames if train else 0
        return SSLDataset([self.arrays[i] for i in rows], self.targets[rows], self.mean_t, self.std_t, crop)

    def train_dataset(self) -> Dataset:
        return self._dataset(self.fold.split.train, train=True)

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        return self._dataset(rows, train=False)

    collate_train = staticmethod(collate_ssl)
    collate_eval = staticmethod(collate_ssl)
