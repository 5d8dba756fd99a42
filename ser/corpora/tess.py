"""TESS (Toronto Emotional Speech Set) reader.

The release (University of Toronto Dataverse; Kaggle copies too) holds one folder per speaker and
emotion, `OAF_angry/OAF_back_angry.wav`: speaker `OAF` (older, 64) or `YAF` (younger, 26), both
female, saying "Say the word _" with 200 target words in seven emotions (angry, disgust, fear,
happy, neutral, ps = pleasant surprise, sad): 2800 files. Only the file name is read (folder names
vary in case between copies); a second copy of a file (some archives hold the set twice) is
skipped as `duplicate_file`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import (
    existing_root,
    nothing_found,
    probe_wav,
    second_copy,
    skip_name,
    whole_file_row,
)

NAME = "TESS"
HOLDS = "the OAF_*/ and YAF_*/ folders"
NAMING = "OAF|YAF_word_emotion.wav"
FILE_NAME = re.compile(r"^(?P<spk>OAF|YAF)_(?P<word>[a-z]+)_(?P<emo>angry|disgust|fear|happy|neutral|ps|sad)\.wav$", re.IGNORECASE)
EMOTIONS = {"angry": "ang", "disgust": "dis", "fear": "fea", "happy": "hap", "neutral": "neu", "ps": "sur", "sad": "sad"}


def read(root: str | Path) -> pd.DataFrame:
    """Read TESS from `root` (any folder above the wavs) into a manifest."""
    root = existing_root(root, NAME, HOLDS)
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.wav")):
        m = FILE_NAME.match(path.name)
        if not m:
            skip_name(path, NAME, NAMING, skipped)
            continue
        spk, word, emo = m["spk"].upper(), m["word"].lower(), m["emo"].lower()
        utt = f"{spk}_{word}_{emo}"
        if second_copy(utt, path, seen, NAME, skipped):
            continue
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        seen[utt] = path
        rows.append(whole_file_row(utt, path, duration, f"tess{spk}", "F", EMOTIONS[emo], f"Say the word {word}."))
    if not rows:
        raise nothing_found(root, NAME, f"audio files ({NAMING})", HOLDS)
    return make_manifest(rows, skipped)
