"""SAVEE (Surrey Audio-Visual Expressed Emotion) reader.

Two layouts are read: the audio release `AudioData/DC/a01.wav` (one folder per speaker) and the flat
copies `DC_a01.wav` (e.g. Kaggle's `ALL/`). Speakers DC, JE, JK, KL (all male); emotion prefix
`a` anger, `d` disgust, `f` fear, `h` happiness, `n` neutral, `sa` sadness, `su` surprise, then the
sentence number: 120 utterances per speaker (30 neutral, 15 of each other emotion), 480 in all.
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

NAME = "SAVEE"
HOLDS = "AudioData/DC,JE,JK,KL/ or the DC_a01.wav files"
NAMING = "DC_a01.wav (or DC/a01.wav)"
SPEAKERS = ("DC", "JE", "JK", "KL")
FLAT_NAME = re.compile(r"^(?P<spk>DC|JE|JK|KL)_(?P<emo>sa|su|a|d|f|h|n)(?P<num>\d\d)\.wav$")
FOLDER_NAME = re.compile(r"^(?P<emo>sa|su|a|d|f|h|n)(?P<num>\d\d)\.wav$")
EMOTIONS = {"a": "ang", "d": "dis", "f": "fea", "h": "hap", "n": "neu", "sa": "sad", "su": "sur"}


def _parse(path: Path) -> tuple[str, str, str] | None:
    """(speaker, emotion prefix, number) from either naming, or None."""
    m = FLAT_NAME.match(path.name)
    if m:
        return m["spk"], m["emo"], m["num"]
    m = FOLDER_NAME.match(path.name)
    if m and path.parent.name in SPEAKERS:
        return path.parent.name, m["emo"], m["num"]
    return None


def read(root: str | Path) -> pd.DataFrame:
    """Read SAVEE from `root` (the release folder, `AudioData/`, or a folder of `DC_a01.wav` files)."""
    root = existing_root(root, NAME, HOLDS)
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.wav")):
        parsed = _parse(path)
        if parsed is None:
            skip_name(path, NAME, NAMING, skipped)
            continue
        spk, emo, num = parsed
        utt = f"{spk}_{emo}{num}"
        if second_copy(utt, path, seen, NAME, skipped):
            continue
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        seen[utt] = path
        rows.append(whole_file_row(utt, path, duration, f"savee{spk}", "M", EMOTIONS[emo]))
    if not rows:
        raise nothing_found(root, NAME, f"audio files ({NAMING})", HOLDS)
    return make_manifest(rows, skipped)
