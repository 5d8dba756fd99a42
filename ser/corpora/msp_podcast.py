"""MSP-Podcast reader (release 1.9 and later: `Labels/labels_consensus.csv` beside `Audios/`).

The consensus table has one row per speaking turn: `FileName` (`MSP-PODCAST_0001_0008.wav`),
`EmoClass` (A S H U F D C N O X: anger, sadness, happiness, surprise, fear, disgust, contempt,
neutral, other, no agreement), `EmoAct`, `EmoVal`, `EmoDom` (1-7 scales, kept as they are in
`arousal`, `valence`, `dominance`), `SpkrID` (a number, or `Unknown`), `Gender` (Female / Male /
Unknown) and `Split_Set` (Train, Development, Test1, Test2, and Test3 from 1.12). Transcripts come
from `Transcripts/<name>.txt` where the release has them.

`Split_Set` fills the `partition` column (Train -> train, Development -> val, the chosen test set
-> test) for `split=predefined`. `test_set` chooses which test set counts as test (`Test1`, the
benchmark's, by default; `all` for every one); rows of the other test sets are counted in the data
report as `not chosen: test set TestN (corpus.test_set=Test1)`. Turns of unknown speakers are kept,
together as one speaker and group of their own (`msppodcast_unknown`): speaker-independent splits
then keep all of them on one side.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import pandas as pd

from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import existing_root, probe_wav, whole_file_row

log = logging.getLogger(__name__)

NAME = "MSP-Podcast"
HOLDS = "Labels/labels_consensus.csv and Audios/"
LABEL_FILE = Path("Labels") / "labels_consensus.csv"
COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
EMOTIONS = {"A": "ang", "S": "sad", "H": "hap", "U": "sur", "F": "fea", "D": "dis", "C": "con", "N": "neu", "O": "oth", "X": "xxx"}
PARTITIONS = {"Train": "train", "Development": "val"}
TEST_SETS = ("Test1", "Test2", "Test3")
UNKNOWN_SPEAKER = "msppodcast_unknown"
GENDERS = {"female": "F", "male": "M"}
# How `read` records a row of a test set left out by `test_set` (a choice: counted, not listed).
NOT_CHOSEN_PREFIX = "not chosen: "


def _score(value: str | None) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # empty, or a short row (None)
        return math.nan
    return number if math.isfinite(number) else math.nan


def _transcript(path: Path) -> str:
    """The text of a transcript file, or "" when there is none (a turn without text is no error)."""
    try:
        return " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return ""


def read(root: str | Path, test_set: str = "Test1") -> pd.DataFrame:
    """Read MSP-Podcast from `root` (the folder holding `Labels/` and `Audios/`) into a manifest.

    Rows of test sets other than `test_set`, with an unknown `EmoClass` or `Split_Set`, or whose
    audio is missing or unreadable, are skipped and recorded in `df.attrs["skipped"]`.
    """
    if test_set not in (*TEST_SETS, "all"):
        raise ValueError(f"corpus.test_set={test_set!r} is not a choice: use corpus.test_set={', '.join(TEST_SETS)} or all")
    root = existing_root(root, NAME, HOLDS)
    labels = root / LABEL_FILE
    if not labels.is_file():
        raise FileNotFoundError(f"no {LABEL_FILE} under {root}: set corpus.root to the MSP-Podcast folder holding {HOLDS}")
    audio_dir = root / "Audios" if (root / "Audios").is_dir() else root / "Audio"
    try:
        with labels.open(newline="", encoding="utf-8-sig") as f:
            table = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"MSP-Podcast label file {labels} is not a readable CSV: {err}") from None
    missing = [c for c in COLUMNS if table and c not in table[0]]
    if not table or missing:
        raise ValueError(f"MSP-Podcast label file {labels} lacks column(s) {', '.join(missing or COLUMNS)}: is it labels_consensus.csv?")
    transcripts = root / "Transcripts"
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, rec in enumerate(table, start=2):
        name = (rec["FileName"] or "").strip()
        where = f"{labels} row {line}: {name}"
        split = (rec["Split_Set"] or "").strip()
        if split in TEST_SETS and test_set not in ("all", split):
            skipped.append((name, f"{NOT_CHOSEN_PREFIX}test set {split} (corpus.test_set={test_set})"))
            continue
        partition = "test" if split in TEST_SETS else PARTITIONS.get(split)
        emotion = EMOTIONS.get((rec["EmoClass"] or "").strip())
        if partition is None or emotion is None or not name:
            bad = "Split_Set" if partition is None else "EmoClass" if emotion is None else "FileName"
            log.warning("MSP-Podcast: %s: unknown %s %r: skipped", where, bad, rec.get(bad))
            skipped.append((where, f"unknown_{bad}"))
            continue
        if name in seen:
            log.warning("MSP-Podcast: %s: listed a second time: skipped", where)
            skipped.append((where, "listed_twice"))
            continue
        seen.add(name)
        path = audio_dir / name
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        text = transcripts / f"{path.stem}.txt"
        spk = (rec["SpkrID"] or "").strip()
        speaker = UNKNOWN_SPEAKER if not spk or spk.lower() == "unknown" else f"msppodcast{spk}"
        gender = GENDERS.get((rec["Gender"] or "").strip().lower(), "")
        rows.append(
            whole_file_row(
                Path(name).stem,
                path,
                duration,
                speaker,
                gender,
                emotion,
                _transcript(text),
                arousal=_score(rec["EmoAct"]),
                valence=_score(rec["EmoVal"]),
                dominance=_score(rec["EmoDom"]),
                partition=partition,
            )
        )
    if not rows:
        raise ValueError(f"no MSP-Podcast utterance with audio under {root}: check {audio_dir} against {labels}")
    return make_manifest(rows, skipped)
