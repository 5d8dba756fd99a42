"""The common part of the three LightningDataModules: fold, normalisation, sampling, loaders.

A data module is built from a prepared fold (`ser.fold.prepare_fold` has read the corpus, applied
the label set, extracted or loaded the features and made the split) and its settings, a dataclass
of `ser.config` (`conf/data/`). `setup` is idempotent: the arrays, normalised with statistics fit on
the training part only, are built once, however many times Lightning calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from ser.config import DataSettings
from ser.fold import FoldData
from ser.normalize import feature_stats, pooled_stats, speaker_stats, standardize, standardize_by_speaker

log = logging.getLogger(__name__)

NORMALIZE = ("global", "speaker", "none")


class FoldDataModule(L.LightningDataModule):
    """Base of the view-specific data modules; subclasses define datasets, collate and net inputs.

    Args:
        fold: the prepared fold (manifest, classes, split, features).
        stats: normalisation statistics saved by a trained model (`stats_dict()`); given, they are
            used instead of fitting new ones (inference on new data).
        speaker_stats: with `normalize: speaker`, (mean, std) per speaker to use instead of the
            statistics of the speaker's own rows (new speakers with little audio).
        **settings: the fields of the subclass's `settings_type` (`ser.config`): batch size,
            workers, balanced sampling, normalisation (`global`, `speaker`, `none`), augmentation
            and the view's own; a misspelt name is a TypeError.
    """

    feature_axis: int = -1  # the axis of a per-utterance array that holds the features
    view: str = ""
    settings_type: type[DataSettings] = DataSettings

    def __init__(
        self,
        fold: FoldData,
        stats: Mapping[str, Any] | None = None,
        speaker_stats: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.settings = self.settings_type(**settings)
        s = self.settings
        if s.normalize not in NORMALIZE:
            raise ValueError(f"data.normalize={s.normalize!r}: choose one of {', '.join(NORMALIZE)}")
        self.fold = fold
        self.batch_size = int(s.batch_size)
        self.eval_batch_size = int(s.eval_batch_size or s.batch_size)
        self.num_workers = int(s.num_workers)
        self.pin_memory = bool(s.pin_memory)
        self.balanced_sampling = bool(s.balanced_sampling)
        self.normalize = s.normalize
        self.augment = bool(s.augment)
        self.arrays: list[np.ndarray] | None = None
        self.tensors: list[torch.Tensor] | None = None  # the arrays as tensors (shared memory)
        self.targets: np.ndarray | None = None
        self.values: np.ndarray | None = None  # regression / multitask: (N, K) scaled attribute values
        self.stats: tuple[np.ndarray, np.ndarray] | None = None
        self.speaker_stats = dict(speaker_stats) if speaker_stats else None
        # normalize=speaker: (mean, std) pooled over the training speakers, saved for new speakers
        self.pooled: tuple[np.ndarray, np.ndarray] | None = None
        if stats is not None and stats.get("pooled_mean") is not None:
            self.pooled = (np.asarray(stats["pooled_mean"]), np.asarray(stats["pooled_std"]))
        if stats is not None and stats.get("mean") is not None:
            self.stats = (
                np.asarray(stats["mean"], dtype=np.float64),
                np.asarray(stats["std"], dtype=np.float64),
            )

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str | None = None) -> None:
        """Normalise the fold's features; a no-op after the first call."""
        if self.arrays is not None:
            return
        fold = self.fold
        self.set_targets()
        data = [np.asarray(a, dtype=np.float32) for a in fold.features.data]
        self.arrays = self._normalised(
            data, fold.split.train, fold.manifest["speaker"].astype(str).to_numpy()
        )
        self.tensors = [torch.from_numpy(a) for a in self.arrays]
        log.info(
            "%s data: %d train, %d val, %d test utterances, normalize=%s",
            self.view,
            len(fold.split.train),
            len(fold.split.val),
            len(fold.split.test),
            self.normalize,
        )

    def set_targets(self) -> None:
        """`targets` (class indices) and, for a task with attributes, `values` (scaled by the fold's task)."""
        fold = self.fold
        # New audio has no reference label: its targets are placeholders that nothing reads.
        targets = fold.manifest["target"] if "target" in fold.manifest else np.zeros(len(fold.manifest))
        self.targets = np.asarray(targets).astype(np.int64)
        task = fold.task
        if task.has_values and all(a in fold.manifest for a in task.attributes):
            self.values = task.transform(fold.values()).astype(np.float32)
        elif task.has_values:  # new audio: no reference values either
            self.values = np.zeros((len(fold.manifest), len(task.attributes)), dtype=np.float32)

    def batch_targets(self, rows: np.ndarray) -> np.ndarray:
        """What the datasets hand out as an item's `y`: its class index, or with attributes a float row
        (class index, scaled values...) that `stack_targets` turns into a `(B, 1 + K)` tensor."""
        rows = np.asarray(rows)
        if self.values is None:
            return self.targets[rows]
        return np.concatenate([self.targets[rows, None].astype(np.float32), self.values[rows]], axis=1)

    def _normalised(
        self, data: list[np.ndarray], train: np.ndarray, speakers: np.ndarray
    ) -> list[np.ndarray]:
        if self.normalize == "none":
            return [np.nan_to_num(a) for a in data]
        if self.normalize == "speaker":
            own = speaker_stats(data, speakers, feature_axis=self.feature_axis)
            if self.pooled is None and len(train):
                self.pooled = pooled_stats(own, speakers[train])
            out = standardize_by_speaker(data, speakers, self.feature_axis, {**own, **(self.speaker_stats or {})})
            return [np.nan_to_num(a) for a in out]
        # Statistics from the training utterances only: validation and test never leak into them.
        if self.stats is None:
            self.stats = feature_stats([data[i] for i in train], self.feature_axis)
        return [standardize(a, *self.stats, self.feature_axis) for a in data]

    def stats_dict(self) -> dict[str, Any]:
        """The normalisation as plain lists, to store with the model."""
        mean, std = self.stats if self.stats is not None else (None, None)
        pooled_mean, pooled_std = self.pooled if self.pooled is not None else (None, None)
        return {
            "normalize": self.normalize,
            "mean": None if mean is None else mean.tolist(),
            "std": None if std is None else std.tolist(),
            "pooled_mean": None if pooled_mean is None else np.asarray(pooled_mean).tolist(),
            "pooled_std": None if pooled_std is None else np.asarray(pooled_std).tolist(),
        }

    # ------------------------------------------------------------------ what the nets and the loss need
    @property
    def classes(self) -> list[str]:
        return list(self.fold.classes)

    def net_inputs(self) -> dict[str, Any]:
        """Size arguments the net needs besides `n_classes` (e.g. `input_dim`)."""
        return {}

    def init_net(self, net: torch.nn.Module) -> None:
        """Set a new net's starting weights from the data where a view offers some (word vectors of
        a pretrained encoder); called once before training, never when a trained net is loaded."""

    def class_counts(self) -> np.ndarray:
        """Training utterances per class."""
        return np.bincount(self.targets[self.fold.split.train], minlength=len(self.classes))

    def class_weights(self) -> list[float]:
        """Inverse training frequency, scaled to mean 1 over the classes (`N / (C * n_c)`)."""
        counts = self.class_counts().astype(float)
        return (counts.sum() / (len(counts) * np.maximum(counts, 1))).tolist()

    # ------------------------------------------------------------------ datasets and loaders
    def train_dataset(self) -> Dataset:
        raise NotImplementedError

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        raise NotImplementedError

    def collate_train(self, items: list) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def collate_eval(self, items: list) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _loader(self, dataset: Dataset, batch_size: int, collate, train: bool) -> DataLoader:
        sampler = None
        if train and self.balanced_sampling:
            y = self.targets[self.fold.split.train]
            weights = 1.0 / np.bincount(y, minlength=len(self.classes))[y]
            generator = torch.Generator().manual_seed(int(torch.initial_seed()) % 2**63)
            sampler = WeightedRandomSampler(
                torch.as_tensor(weights, dtype=torch.double), len(y), generator=generator
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            drop_last=train and len(dataset) > batch_size,  # a batch of 1 breaks batch norm
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset(), self.batch_size, self.collate_train, train=True)

    def val_dataloader(self) -> DataLoader:
        return self.rows_dataloader(self.fold.split.val)

    def test_dataloader(self) -> DataLoader:
        return self.rows_dataloader(self.fold.split.test)

    def rows_dataloader(self, rows: np.ndarray) -> DataLoader:
        """An evaluation loader over the given manifest rows, in their order (no augmentation)."""
        return self._loader(
            self.eval_dataset(np.asarray(rows)), self.eval_batch_size, self.collate_eval, train=False
        )


def stack_targets(items: Sequence[Mapping[str, Any]]) -> torch.Tensor:
    """Class indices `(B,)` (long), or for tasks with attributes `(B, 1 + K)` floats: the class index
    in column 0, the scaled values after it (`EmotionClassifier.split_targets` takes them apart)."""
    if np.ndim(items[0]["y"]) == 1:
        return torch.as_tensor(np.stack([it["y"] for it in items]), dtype=torch.float32)
    return torch.tensor([int(it["y"]) for it in items], dtype=torch.long)
