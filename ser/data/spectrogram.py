"""Log-mel spectrogram batches `(B, 1, n_mels, frames)` for the CNN and ResNets.

Utterances differ in length. The choice made here:
- training: a random fixed-length crop of `crop_frames` per utterance and epoch (shorter utterances
  are zero-padded at a random offset; zero is the training mean after normalisation). Crops are a
  cheap augmentation and give fixed-size batches;
- evaluation (`eval_mode`): `windows` (default) cuts each utterance into `crop_frames` windows with
  hop `window_hop` (the last window is aligned to the end, so every frame is seen) and averages the
  windows' logits: the net sees inputs of the length it was trained on, and the whole utterance counts.
  `full` feeds whole utterances one at a time (batch size 1, so no padding enters the pooling).

SpecAugment (torchaudio frequency and time masking) and a random gain shift apply to training crops
only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchaudio.transforms import FrequencyMasking, TimeMasking

from ser.config import SpecAugmentSettings, SpectrogramSettings
from ser.data.base import FoldDataModule, stack_targets

EVAL_MODES = ("windows", "full")


def evaluation_hop(crop_frames: int, window_hop: int | None) -> int:
    """The hop between evaluation windows in frames: `window_hop`, by default half a window."""
    return int(window_hop or max(1, int(crop_frames) // 2))


def random_crop(x: torch.Tensor, frames: int) -> torch.Tensor:
    """A random `frames`-long slice of `(F, T)`; shorter inputs are zero-padded at a random offset."""
    t = x.shape[-1]
    if t >= frames:
        start = int(torch.randint(0, t - frames + 1, ()))
        return x[:, start : start + frames]
    out = x.new_zeros(x.shape[0], frames)
    start = int(torch.randint(0, frames - t + 1, ()))
    out[:, start : start + t] = x
    return out


def sliding_windows(x: torch.Tensor, frames: int, hop: int) -> torch.Tensor:
    """`(n_windows, F, frames)` windows of `(F, T)`; the last one ends at T; short inputs are padded."""
    t = x.shape[-1]
    if t <= frames:
        out = x.new_zeros(1, x.shape[0], frames)
        out[0, :, :t] = x
        return out
    starts = list(range(0, t - frames + 1, hop))
    if starts[-1] != t - frames:
        starts.append(t - frames)
    return torch.stack([x[:, s : s + frames] for s in starts])


class SpecAugment:
    """Frequency and time masks (Park et al., 2019) plus a random gain shift, on one `(F, T)` crop."""

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 20,
        gain: float = 0.0,
    ):
        self.freq = [FrequencyMasking(freq_width) for _ in range(freq_masks)] if freq_width > 0 else []
        self.time = [TimeMasking(time_width) for _ in range(time_masks)] if time_width > 0 else []
        self.gain = float(gain)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(0)
        for mask in self.freq + self.time:
            x = mask(x)
        x = x.squeeze(0)
        if self.gain > 0:
            # Normalised log-mel: a level change is (roughly) a constant shift of every bin.
            x = x + (torch.rand(()) * 2 - 1) * self.gain
        return x


class CropDataset(Dataset):
    """Training items: a random crop (+ augmentation) of each utterance."""

    def __init__(
        self, arrays: list[torch.Tensor], targets: np.ndarray, crop_frames: int, augment: SpecAugment | None
    ):
        self.arrays, self.targets, self.crop_frames, self.augment = arrays, targets, crop_frames, augment

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = random_crop(self.arrays[i], self.crop_frames)
        if self.augment is not None:
            x = self.augment(x)
        return {"x": x, "y": self.targets[i]}


class WindowDataset(Dataset):
    """Evaluation items: every window of each utterance (or the whole utterance with `hop=0`)."""

    def __init__(self, arrays: list[torch.Tensor], targets: np.ndarray, crop_frames: int, hop: int):
        self.arrays, self.targets, self.crop_frames, self.hop = arrays, targets, crop_frames, hop

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.arrays[i]
        windows = x.unsqueeze(0) if self.hop == 0 else sliding_windows(x, self.crop_frames, self.hop)
        return {"x": windows, "y": self.targets[i]}


def collate_crops(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([it["x"] for it in items]).unsqueeze(1), "y": stack_targets(items)}


def collate_windows(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """All windows of the batch's utterances in one tensor, with `owner` mapping window -> utterance."""
    x = torch.cat([it["x"] for it in items]).unsqueeze(1)
    owner = torch.cat([torch.full((len(it["x"]),), i, dtype=torch.long) for i, it in enumerate(items)])
    return {"x": x, "y": stack_targets(items), "owner": owner}


class SpectrogramDataModule(FoldDataModule):
    """Log-mel spectrograms `(n_mels, T)` per utterance, cropped and augmented for training.

    Settings (`SpectrogramSettings`, besides `FoldDataModule`'s):
        crop_frames: training crop and evaluation window length in frames (10 ms each by default).
        eval_mode: `windows` (average over sliding windows) or `full` (whole utterances, batch 1).
        window_hop: hop between evaluation windows, in frames (default: half a window).
        spec_augment: SpecAugment settings (`freq_masks`, `freq_width`, `time_masks`, `time_width`,
            `gain`, as a mapping or `SpecAugmentSettings`), or None for no augmentation.
    """

    feature_axis = 0
    view = "logmel"
    settings_type = SpectrogramSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        if s.eval_mode not in EVAL_MODES:
            raise ValueError(f"data.eval_mode={s.eval_mode!r}: choose one of {', '.join(EVAL_MODES)}")
        self.crop_frames = int(s.crop_frames)
        self.eval_mode = s.eval_mode
        self.window_hop = evaluation_hop(self.crop_frames, s.window_hop)
        augment = s.spec_augment
        self.spec_augment = asdict(augment) if isinstance(augment, SpecAugmentSettings) else (dict(augment) if augment else None)

    def net_inputs(self) -> dict[str, Any]:
        return {}

    def train_dataset(self) -> Dataset:
        rows = self.fold.split.train
        augment = SpecAugment(**self.spec_augment) if self.spec_augment and self.augment else None
        return CropDataset([self.tensors[i] for i in rows], self.batch_targets(rows), self.crop_frames, augment)

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        hop = 0 if self.eval_mode == "full" else self.window_hop
        return WindowDataset([self.tensors[i] for i in rows], self.batch_targets(rows), self.crop_frames, hop)

    collate_train = staticmethod(collate_crops)
    collate_eval = staticmethod(collate_windows)

    def rows_dataloader(self, rows: np.ndarray) -> DataLoader:
        if self.eval_mode == "full":
            return self._loader(self.eval_dataset(np.asarray(rows)), 1, collate_windows, train=False)
        return super().rows_dataloader(rows)


__all__ = ["SpectrogramDataModule", "evaluation_hop", "sliding_windows"]
