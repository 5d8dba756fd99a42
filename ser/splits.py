"""Deterministic train/validation/test splits of a labelled manifest.

- `loso`: leave one group out (IEMOCAP session, else speaker); `fold` is 1..n_groups in sorted order.
- `speaker_kfold`: speakers shuffled with the seed and dealt into `n_folds` folds.
- `random`: stratified utterance-level folds, the original notebooks' protocol. It puts the same
  speakers in train and test and overstates accuracy; it exists only for comparison.

- `cross_corpus`: train and validate on every corpus but `test` (the manifest's `corpus` column, set
  by corpus=multi), test on that one; one fold.
- `leave_one_corpus_out`: fold k tests on the k-th corpus (sorted names), trains on the others.
- `predefined`: a corpus's official partitions (the `partition` column: train / val / test); one fold.

Validation is carved out of the training speakers (`val_speakers` of them) for `loso`,
`speaker_kfold`, `cross_corpus` and `leave_one_corpus_out`, so it never shares a speaker with test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

log = logging.getLogger(__name__)

METHODS = ("loso", "speaker_kfold", "random", "cross_corpus", "leave_one_corpus_out", "predefined")
CORPUS_METHODS = ("cross_corpus", "leave_one_corpus_out")  # the unit left out is a corpus
# methods with a single fold -> what to do instead of passing split.fold
ONE_FOLD = {
    "cross_corpus": "name the test corpus with split.test=CORPUS, or use split=leave_one_corpus_out split.fold=K",
    "predefined": "the partition column decides the one fold; leave split.fold out",
}
PARTITIONS = ("train", "val", "test")  # the values split=predefined reads in the `partition` column


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
    if method == "loso":
        return df["group"].nunique()
    if method == "leave_one_corpus_out":
        return len(corpora_of(df, method))
    return 1 if method in ONE_FOLD else n_folds


def corpora_of(df: pd.DataFrame, method: str) -> list[str]:
    """The corpora of a combined manifest (sorted), or a one-line error when it has fewer than two."""
    names = sorted(df["corpus"].unique()) if "corpus" in df.columns else []
    if len(names) < 2:
        raise ValueError(
            f"split={method} needs two or more corpora: use corpus=multi "
            "'corpus.parts=[{name: emodb, root: PATH}, {name: demo}]'"
        )
    return names


def make_split(
    df: pd.DataFrame,
    method: str = "loso",
    fold: int = 1,
    seed: int = 0,
    n_folds: int = 5,
    val_speakers: int = 1,
    val_size: float = 0.1,
    test: str | None = None,
) -> Split:
    """Split a labelled manifest (with `target`) into train/val/test for one fold (1-based).

    `test` names the test corpus of `cross_corpus` (other methods ignore it, with a warning)."""
    if method not in METHODS:
        raise ValueError(f"unknown split {method!r}: choose split= one of {', '.join(METHODS)}")
    if test is not None and method != "cross_corpus":
        log.warning("split.test=%s is read by split=cross_corpus only: split=%s ignores it", test, method)
    if method in ONE_FOLD and int(fold) != 1:
        raise ValueError(f"split={method} has one fold, not split.fold={fold}: {ONE_FOLD[method]}")
    if method == "predefined":
        split = _predefined(df)
        check_training_classes(df, split)
        return split
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
        test_groups = None
        if method == "loso":
            groups = sorted(df["group"].unique())
            test_mask = (df["group"] == groups[fold - 1]).to_numpy()
        elif method in CORPUS_METHODS:
            test_corpus = _test_corpus(df, method, fold, test)
            # validation drawn as leave_one_corpus_out's fold of this corpus draws it, so that
            # cross_corpus split.test=X and that fold are the same split
            rng = np.random.default_rng([seed, corpora_of(df, method).index(test_corpus) + 1])
            test_mask = (df["corpus"] == test_corpus).to_numpy()
            test_groups = (test_corpus,)
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
            test_groups or tuple(sorted(df.loc[test_mask, "group"].unique())),
        )
    check_training_classes(df, split)
    return split


def _test_corpus(df: pd.DataFrame, method: str, fold: int, test: str | None) -> str:
    """The corpus a corpus-level fold tests on: `split.test` (cross_corpus) or the fold-th corpus."""
    names = corpora_of(df, method)
    if method == "leave_one_corpus_out":
        log.info("leave_one_corpus_out fold %d of %d tests on %s", fold, len(names), names[fold - 1])
        return names[fold - 1]
    if test is None:
        raise ValueError(f"split=cross_corpus needs split.test=CORPUS, one of {', '.join(names)}")
    if test not in names:
        raise ValueError(f"split.test={test} is not one of the corpora: choose split.test= one of {', '.join(names)}")
    return test


def _predefined(df: pd.DataFrame) -> Split:
    """The official partitions of the `partition` column; rows with another value are left out (logged)."""
    if "partition" not in df.columns or not (df["partition"] != "").any():
        raise ValueError(
            "split=predefined needs a partition column (train / val / test): this corpus has none; "
            "use split=loso or a corpus (or CSV manifest) that gives one"
        )
    partition = df["partition"].astype(str).str.strip().str.lower()
    found = ", ".join(sorted(set(partition)))
    for name in PARTITIONS:
        if not (partition == name).any():
            raise ValueError(
                f"split=predefined: the {name} partition is empty (the partition column holds {found}): "
                "label rows train, val and test"
            )
    other = ~partition.isin(PARTITIONS)
    if other.any():
        log.warning("split=predefined: %d utterances whose partition is not train/val/test are not used", int(other.sum()))
    positions = np.arange(len(df))
    parts = {name: positions[(partition == name).to_numpy()] for name in PARTITIONS}
    shared = set(df["speaker"].to_numpy()[parts["test"]]) & set(df["speaker"].to_numpy()[parts["train"]])
    if shared:
        log.warning("split=predefined: %d speakers are in both train and test partitions, e.g. %s", len(shared), sorted(shared)[0])
    test_groups = tuple(sorted(set(df["group"].to_numpy()[parts["test"]].astype(str))))
    return Split("predefined", 1, 1, parts["train"], parts["val"], parts["test"], test_groups)


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
