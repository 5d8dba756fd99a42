"""MSP-IMPROV reader.

The release holds one label file for the whole corpus, `Evaluation.txt` (some copies spell it
`Evalution.txt`), and the audio under `session1..6/` (in some copies under `Audio/session1..6/`):
`session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav`. The clip name says sentence `S01` and target
emotion `A`, speaker `F01` (gender `F`, session `01`), recording type `P` (read, improvised target,
other improvised turns, natural interaction) and the turn. Each clip has a summary line in the
label file, then one line per rater:

    UTD-IMPROV-S01A-F01-P-FM01.avi; N; A:2.666667; V:3.000000; D:2.666667 ; N:3.000000;

(consensus class A H S N, O other, X no agreement; mean arousal, valence, dominance and naturalness
on 1-5 scales). 8438 turns, 12 actors in 6 dyadic sessions; like IEMOCAP's, the groups of
leave-one-group-out are the sessions (`mspimprovSes01`).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pandas as pd

from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import existing_root, probe_wav

log = logging.getLogger(__name__)

NAME = "MSP-IMPROV"
HOLDS = "Evaluation.txt and session1..session6/"
LABEL_FILES = ("Evaluation.txt", "Evalution.txt")
SUMMARY_LINE = re.compile(
    r"^UTD-IMPROV-(?P<clip>S\d\d[A-Z]-(?P<gender>[FM])(?P<session>\d\d)-[A-Z]-[A-Z]{2}\d+)\.(?:avi|wav);\s*(?P<emo>[A-Z]);"
    r"\s*A:(?P<a>[\d.]+|NaN)\s*;\s*V:(?P<v>[\d.]+|NaN)\s*;\s*D:(?P<d>[\d.]+|NaN)\s*;"
)
EMOTIONS = {"A": "ang", "H": "hap", "S": "sad", "N": "neu", "O": "oth", "X": "xxx"}


def find_label_file(root: Path) -> Path:
    """The label file in `root` or one folder below it, else a one-line error naming corpus.root."""
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        for name in LABEL_FILES:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no Evaluation.txt under {root}: set corpus.root to the MSP-IMPROV folder holding {HOLDS}")


def _score(value: str) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.nan


def read(root: str | Path) -> pd.DataFrame:
    """Read MSP-IMPROV from `root` (the folder holding `Evaluation.txt` and the sessions) into a manifest.

    Every labelled clip becomes a row; a clip without audio or with an unreadable one and an
    unknown class letter are skipped and recorded in `df.attrs["skipped"]`.
    """
    root = existing_root(root, NAME, HOLDS)
    labels = find_label_file(root)
    # the audio is named MSP-IMPROV-<clip>, the labels say UTD-IMPROV-<clip>.avi
    audio = {p.stem: p for p in sorted(labels.parent.rglob("MSP-IMPROV-*.wav"))}
    try:
        lines = labels.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise ValueError(f"MSP-IMPROV label file {labels} is unreadable: {err}") from None
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines:
        m = SUMMARY_LINE.match(line.strip())
        if not m:
            continue  # rater lines, blank lines
        clip = f"MSP-IMPROV-{m['clip']}"
        if clip in seen:
            log.warning("MSP-IMPROV: %s has a second summary line in %s: skipped", clip, labels)
            skipped.append((clip, "labelled_twice"))
            continue
        seen.add(clip)
        if m["emo"] not in EMOTIONS:
            log.warning("MSP-IMPROV: %s: unknown class %r in %s: skipped", clip, m["emo"], labels)
            skipped.append((clip, "unknown_EmoClass"))
            continue
        path = audio.get(clip)
        if path is None:
            log.warning("MSP-IMPROV: missing wav %s.wav under %s: skipped", clip, labels.parent)
            skipped.append((clip, "missing_wav"))
            continue
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        rows.append(
            dict(
                utterance_id=clip,
                path=str(path.resolve()),
                offset=0.0,
                duration=duration,
                speaker=f"mspimprov{m['gender']}{m['session']}",
                group=f"mspimprovSes{m['session']}",
                gender=m["gender"],
                label=EMOTIONS[m["emo"]],
                transcript="",
                arousal=_score(m["a"]),
                valence=_score(m["v"]),
                dominance=_score(m["d"]),
            )
        )
    if not rows:
        if not audio:
            raise FileNotFoundError(f"no MSP-IMPROV-*.wav under {labels.parent}: set corpus.root to the folder holding {HOLDS}")
        raise ValueError(f"no labelled MSP-IMPROV clip in {labels}: is it the release's Evaluation.txt?")
    return make_manifest(rows, skipped)
