"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song) reader, audio-only files.

The audio archives (`Audio_Speech_Actors_01-24.zip`, `Audio_Song_Actors_01-24.zip`) unpack to
`Actor_NN/MM-VC-EE-II-SS-RR-AA.wav`: modality `MM` (03 = audio-only), vocal channel `VC` (01 speech,
02 song), emotion `EE` (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust,
08 surprised), intensity `II` (01 normal, 02 strong; neutral has normal only), statement `SS`
(01 "Kids are talking by the door", 02 "Dogs are sitting by the door"), repetition `RR`, actor `AA`
(01-24; odd = male, even = female). Speech: 1440 files (60 per actor); song: 1012 (actor 18 has none).

`subset` chooses the vocal channel: `speech` (the default: what SER papers report), `song` or `all`;
files of the other channel are counted in the data report as `not in subset <subset>`. Intensity is
kept in the `intensity` column (`normal` / `strong`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ser.corpora.iemocap import SUBSET_DROP_PREFIX
from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import existing_root, nothing_found, probe_wav, skip_name, whole_file_row

NAME = "RAVDESS"
HOLDS = "Actor_01..Actor_24 (the unpacked Audio_Speech_Actors_01-24.zip)"
NAMING = "MM-VC-EE-II-SS-RR-AA.wav"
FILE_NAME = re.compile(r"^(?P<mod>\d\d)-(?P<vc>\d\d)-(?P<emo>0[1-8])-(?P<int>0[12])-(?P<stm>0[12])-(?P<rep>\d\d)-(?P<actor>\d\d)\.wav$")
EMOTIONS = {"01": "neu", "02": "cal", "03": "hap", "04": "sad", "05": "ang", "06": "fea", "07": "dis", "08": "sur"}
INTENSITIES = {"01": "normal", "02": "strong"}
CHANNELS = {"01": "speech", "02": "song"}
STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
SUBSETS = ("speech", "song", "all")
AUDIO_ONLY = "03"


def read(root: str | Path, subset: str = "speech") -> pd.DataFrame:
    """Read RAVDESS from `root` (the folder holding `Actor_NN/`, or one `Actor_NN/` itself) into a manifest.

    Files of the other vocal channel (`subset`), of another modality, named otherwise, or
    unreadable are skipped and recorded in `df.attrs["skipped"]`.
    """
    if subset not in SUBSETS:
        raise ValueError(f"corpus.subset={subset!r} is not a choice: use corpus.subset=speech, song or all")
    root = existing_root(root, NAME, HOLDS)
    files = sorted(root.glob("Actor_*/*.wav")) or sorted(root.glob("*/Actor_*/*.wav")) or sorted(root.glob("*.wav"))
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for path in files:
        m = FILE_NAME.match(path.name)
        if not m:
            skip_name(path, NAME, NAMING, skipped)
            continue
        if m["mod"] != AUDIO_ONLY or m["vc"] not in CHANNELS:
            skip_name(path, NAME, f"{NAMING} (modality 03, vocal channel 01/02)", skipped)
            continue
        if subset != "all" and CHANNELS[m["vc"]] != subset:
            skipped.append((str(path), f"{SUBSET_DROP_PREFIX}{subset}"))
            continue
        duration = probe_wav(path, NAME, skipped)
        if duration is None:
            continue
        actor = m["actor"]
        gender = "M" if int(actor) % 2 else "F"
        label, transcript = EMOTIONS[m["emo"]], STATEMENTS[m["stm"]]
        rows.append(whole_file_row(path.stem, path, duration, f"ravdess{actor}", gender, label, transcript, intensity=INTENSITIES[m["int"]]))
    if not rows:
        if any(reason.startswith(SUBSET_DROP_PREFIX) for _, reason in skipped):
            raise ValueError(f"corpus.subset={subset} keeps no RAVDESS file under {root}: use corpus.subset=all")
        raise nothing_found(root, NAME, f"audio files ({NAMING})", HOLDS)
    return make_manifest(rows, skipped)
