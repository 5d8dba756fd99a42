"""Deterministic train/validation/test splits of a labelled manifest.

- `loso`: leave one group out (IEMOCAP session, else speaker); `fold` is 1..n_groups in sorted order.
- `speaker_kfold`: speakers shuffled with the seed and dealt into `n_folds` folds.
- `random`: stratified utterance-level folds, the original notebooks' protocol. It puts the same
  speakers in train and test and overstates accuracy; it exists only for comparison.

Validation is carved out of the training speakers (`val_speakers` of them) for `loso` and
`speaker_kfold`, so it never shares a speaker with test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

log = logging.getLogger(__name__)

METHODS = ("loso", "speaker_kfold", "random")


@dataclass(frozen=True)
class Split:
    """Row positions (into the labelled manifest) of each part of one fold."""

    method: str
    fold: int
    n_folds: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_groups: tuple[str, ...]


def n_folds_of(df: pd.DataFrame, method: str, n_folds: int = 5) -> int:
    """How many folds `method` has on this manifest."""
    return df["group"].nunique() if method == "loso" else n_folds


def make_split(
    df: pd.DataFrame,
    method: str = "loso",
    fold: int = 1,
    seed: int = 0,
    n_folds: int = 5,
    val_speakers: int = 1,
    val_size: float = 0.1,
) -> Split:
    """Split a labelled manifest (with `target`) into train/val/test for one fold (1-based)."""
    if method not in METHODS:
        raise ValueError(f"unknown split {method!r}: choose split= one of {', '.join(METHODS)}")
    total = n_folds_of(df, method, n_folds)
    if not 1 <= int(fold) <= total:
        raise ValueError(f"split.fold={fold} is out of range: {method} has folds 1..{total} on this corpus")
    fold = int(fold)
    rng = np.random.default_rng([seed, fold])
    if method == "random":
        log.warning("split=random shares speakers between train and test: figures are not speaker-independent")
        folds = StratifiedKFold(n_splits=total, shuffle=True, random_state=seed).split(df, df["target"])
        rest, test = list(folds)[fold - 1]
        train, val = train_test_split(
            rest, test_size=val_size, stratify=df["target"].to_numpy()[rest], random_state=seed
        )
        split = Split(method, fold, total, np.sort(train), np.sort(val), np.sort(test), ())
    else:
        if method == "loso":
            groups = sorted(df["group"].unique())
            test_mask = (df["group"] == groups[fold - 1]).to_numpy()
        else:
            speakers = np.array(sorted(df["speaker"].unique()))
            if len(speakers) < total:
                raise ValueError(f"split.n_folds={total} exceeds the {len(speakers)} speakers of this corpus")
            order = np.random.default_rng(seed).permutation(speakers)
            test_mask = df["speaker"].isin(order[fold - 1 :: total]).to_numpy()
        train_speakers = np.array(sorted(df.loc[~test_mask, "speaker"].unique()))
        if val_speakers >= len(train_speakers):
            raise ValueError(f"split.val_speakers={val_speakers} leaves no training speaker ({len(train_speakers)} available)")
        val_set = rng.choice(train_speakers, size=val_speakers, replace=False)
        val_mask = df["speaker"].isin(val_set).to_numpy() & ~test_mask
        positions = np.arange(len(df))
        split = Split(
            method,
            fold,
            total,
            positions[~test_mask & ~val_mask],
            positions[val_mask],
            positions[test_mask],
            tuple(sorted(df.loc[test_mask, "group"].unique())),
        )
    check_training_classes(df, split)
    return split


def check_training_classes(df: pd.DataFrame, split: Split) -> None:
    """Fail clearly when the training part of a fold lacks a class (the model could never predict it)."""
    present = set(df["target"].to_numpy()[split.train])
    names = df.drop_duplicates("target").set_index("target")["class_name"]
    missing = [names[t] for t in sorted(set(df["target"]) - present)]
    if missing:
        raise ValueError(
            f"{split.method} fold {split.fold}: the training part has no {', '.join(missing)} utterances; "
            "choose another split, fold or label set"
        )
