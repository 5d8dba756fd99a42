"""Splits: no speaker shared between train, validation and test; deterministic; clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ser.splits import make_split


def corpus(n_groups: int = 5, speakers_per_group: int = 2, per_speaker: int = 12) -> pd.DataFrame:
    rows = []
    for g in range(n_groups):
        for s in range(speakers_per_group):
            for i in range(per_speaker):
                rows.append(dict(utterance_id=f"g{g}s{s}u{i}", group=f"G{g}", speaker=f"G{g}_S{s}", target=i % 4))
    df = pd.DataFrame(rows)
    df["class_name"] = df["target"].map(dict(enumerate(["neu", "hap", "sad", "ang"])))
    return df


def speakers(df: pd.DataFrame, rows: np.ndarray) -> set[str]:
    return set(df["speaker"].to_numpy()[rows])


@pytest.mark.parametrize("method, folds", [("loso", 5), ("speaker_kfold", 5)])
def test_no_speaker_leak_and_every_row_used_once(method: str, folds: int) -> None:
    df = corpus()
    tested = []
    for fold in range(1, folds + 1):
        split = make_split(df, method, fold, seed=3)
        assert split.n_folds == folds
        assert not speakers(df, split.train) & speakers(df, split.test)
        assert not speakers(df, split.val) & speakers(df, split.test)
        assert not speakers(df, split.train) & speakers(df, split.val)
        parts = np.concatenate([split.train, split.val, split.test])
        assert sorted(parts) == list(range(len(df)))
        assert len(split.val) > 0
        tested += list(split.test)
    assert sorted(tested) == list(range(len(df)))  # every utterance is tested exactly once


def test_loso_fold_is_one_group() -> None:
    df = corpus()
    split = make_split(df, "loso", 3)
    assert split.test_groups == ("G2",)
    assert set(df["group"].to_numpy()[split.test]) == {"G2"}


@pytest.mark.parametrize("method", ["loso", "speaker_kfold", "random"])
def test_same_seed_same_split_other_seed_other_validation(method: str) -> None:
    df = corpus()
    a, b = make_split(df, method, 2, seed=0), make_split(df, method, 2, seed=0)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    others = [make_split(df, method, 2, seed=s) for s in range(1, 6)]
    assert any(not np.array_equal(a.val, o.val) for o in others)


def test_random_split_is_stratified_and_disjoint() -> None:
    df = corpus()
    split = make_split(df, "random", 1, seed=0)
    assert not set(split.train) & set(split.test) and not set(split.val) & set(split.test)
    assert np.bincount(df["target"].to_numpy()[split.test]).tolist() == [6, 6, 6, 6]


def test_fold_out_of_range_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"split.fold=6 is out of range: loso has folds 1..5"):
        make_split(corpus(), "loso", 6)


def test_training_part_without_a_class_fails_clearly() -> None:
    df = corpus()
    only_in_g0 = (df["group"] != "G0") & (df["target"] == 3)
    df.loc[only_in_g0, "target"] = 0
    df.loc[only_in_g0, "class_name"] = "neu"
    with pytest.raises(ValueError, match=r"loso fold 1: the training part has no ang utterances"):
        make_split(df, "loso", 1)


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split 'kfold'"):
        make_split(corpus(), "kfold", 1)
