"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset) reader.

The release (github.com/CheyneyComputerScience/CREMA-D, audio in Git LFS) holds
`AudioWAV/AAAA_SSS_EEE_II.wav`: actor `AAAA` (1001-1091), sentence code `SSS` (12 sentences),
emotion `EEE` (ANG DIS FEA HAP NEU SAD: the actors' intended emotion) and intensity `II` (LO MD HI,
XX unspecified), and `VideoDemographics.csv` (ActorID, Age, Sex, Race, Ethnicity), from which the
gender comes when the file is there (else it stays empty). 7442 clips, 91 actors (48 male, 43 female).
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import pandas as pd

from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import existing_root, nothing_found, probe_wav, skip_name, whole_file_row

log = logging.getLogger(__name__)

NAME = "CREMA-D"
HOLDS = "AudioWAV/ (and VideoDemographics.csv)"
NAMING = "AAAA_SSS_EEE_II.wav"
FILE_NAME = re.compile(r"^(?P<actor>1\d\d\d)_(?P<sent>[A-Z]{3})_(?P<emo>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<int>LO|MD|HI|XX)\.wav$")
EMOTIONS = {"ANG": "ang", "DIS": "dis", "FEA": "fea", "HAP": "hap", "NEU": "neu", "SAD": "sad"}
INTENSITIES = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
DEMOGRAPHICS = "VideoDemographics.csv"
SEX = {"female": "F", "male": "M"}


def read_genders(path: Path) -> dict[str, str]:
    """Actor id -> `F`/`M` from `VideoDemographics.csv`; {} when the file is absent or unreadable."""
    if not path.is_file():
        log.info("CREMA-D: no %s: gender left empty", path)
        return {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return {row["ActorID"].strip(): SEX.get(row["Sex"].strip().lower(), "") for row in csv.DictReader(f)}
    except (OSError, UnicodeDecodeError, KeyError, AttributeError) as err:
        log.warning("CREMA-D: %s is not the demographics table (ActorID, Sex, ...): %s; gender left empty", path, err)
        return {}


def read(root: str | Path) -> pd.DataFrame:
    """Read CREMA-D from `root` (the folder holding `AudioWAV/`, or `AudioWAV/` itself) into a manifest."""
    root = existing_root(root, NAME, HOLDS)
    wav_dir = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    # beside AudioWAV/ in the release; in root too when the wavs lie directly in it
    demographics = next((p for p in (root / DEMOGRAPHICS, wav_dir.parent / DEMOGRAPHICS) if p.is_file()), root / DEMOGRAPHICS)
    genders = read_genders(demographics)
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(wav_dir.glob("*.wav")):
        m = FILE_NAME.match(path.name)
        if not m or m["sent"] not in SENTENCES:
            skip_name(path, NAME, NAMING, skipped)
            continue
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        gender = genders.get(m["actor"], "")
        label, transcript = EMOTIONS[m["emo"]], SENTENCES[m["sent"]]
        rows.append(whole_file_row(path.stem, path, duration, f"cremad{m['actor']}", gender, label, transcript, intensity=INTENSITIES[m["int"]]))
    if not rows:
        raise nothing_found(root, NAME, f"audio files ({NAMING})", HOLDS)
    return make_manifest(rows, skipped)
