"""The manifest contract: one row per utterance, the same columns for every corpus.

Readers return a `pandas.DataFrame` with `MANIFEST_COLUMNS` (in that order). What a reader skipped is
never lost silently: it is recorded in `df.attrs["skipped"]`, a list of `(item, reason)` pairs, and
shown by the data report (`python -m ser.corpora`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

MANIFEST_COLUMNS: list[str] = [
    "utterance_id",  # unique str
    "path",  # audio file (absolute)
    "offset",  # seconds into the file (0 for whole files)
    "duration",  # seconds
    "speaker",  # globally unique speaker id, e.g. Ses01_F
    "group",  # unit of leave-one-group-out: IEMOCAP session, otherwise the speaker
    "gender",  # F / M / ""
    "label",  # the corpus's own raw label, e.g. "exc"
    "transcript",  # str or ""
    "valence",  # float or NaN
    "arousal",
    "dominance",
]

# Columns a reader adds where its corpus has them (kept after the contract's columns, as str):
# `corpus` (the corpus name, set by corpus=multi), `partition` (an official split: train / val / test,
# read by split=predefined), `intensity` (the acted intensity level, e.g. RAVDESS normal / strong).
OPTIONAL_COLUMNS: list[str] = ["corpus", "partition", "intensity"]

_STRING_COLUMNS = ["utterance_id", "path", "speaker", "group", "gender", "label", "transcript"]
_FLOAT_COLUMNS = ["offset", "duration", "valence", "arousal", "dominance"]


def make_manifest(rows: list[dict], skipped: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Build a manifest from row dicts, filling missing values and fixing dtypes and order.

    Keys of `OPTIONAL_COLUMNS` that any row has become columns (empty where a row lacks them).
    """
    present = {key for row in rows for key in row}
    optional = [c for c in OPTIONAL_COLUMNS if c in present]
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS + optional)
    for col in _STRING_COLUMNS + optional:
        df[col] = df[col].fillna("").astype(str)
    for col in _FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["offset"] = df["offset"].fillna(0.0)
    df = df.sort_values("utterance_id", kind="stable").reset_index(drop=True)
    df.attrs["skipped"] = list(skipped or [])
    return df


def skipped_counts(df: pd.DataFrame) -> Counter:
    """Count what a reader (or label set) skipped, by reason."""
    return Counter(reason for _, reason in df.attrs.get("skipped", []))


def check_manifest(df: pd.DataFrame, source: str = "manifest") -> None:
    """Raise ValueError with a one-line message when `df` breaks the manifest contract."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing}")
    dup = df["utterance_id"][df["utterance_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate utterance_id {dup.iloc[0]!r}")
    if (df["speaker"] == "").any():
        raise ValueError(f"{source}: empty speaker for {df.loc[df['speaker'] == '', 'utterance_id'].iloc[0]!r}")
    if not np.isfinite(df["duration"]).all():
        raise ValueError(f"{source}: non-finite duration")
