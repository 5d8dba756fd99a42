"""EmoDB (Berlin Database of Emotional Speech) reader.

File names are `SSTTTEV.wav`: speaker `SS`, text `TTT`, emotion letter `E`, version `V`.
Raw labels are short English names of the German letters (W→ang, L→bor, E→dis, A→fea, F→hap,
T→sad, N→neu) so label sets read the same across corpora.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from ser.audio import AudioError, TruncatedAudioError, audio_duration
from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import whole_file_row

log = logging.getLogger(__name__)

EMOTIONS = {"W": "ang", "L": "bor", "E": "dis", "A": "fea", "F": "hap", "T": "sad", "N": "neu"}
FEMALE_SPEAKERS = {"08", "09", "13", "14", "16"}
FILE_NAME = re.compile(r"^(?P<spk>\d\d)(?P<text>[ab]\d\d)(?P<emo>[WLEAFTN])(?P<ver>[a-z])\.wav$")
# The ten sentences the actors read (Burkhardt et al., 2005).
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


def read(root: str | Path) -> pd.DataFrame:
    """Read EmoDB from `root` (the folder holding `wav/`, or `wav/` itself) into a manifest."""
    root = Path(root).expanduser()
    wav_dir = root / "wav" if (root / "wav").is_dir() else root
    if not wav_dir.is_dir():
        raise FileNotFoundError(f"EmoDB folder {root} does not exist: set corpus.root to the folder holding wav/")
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(wav_dir.glob("*.wav")):
        m = FILE_NAME.match(path.name)
        if not m:
            log.warning("EmoDB: %s does not follow the SSTTTEV.wav naming: skipped", path)
            skipped.append((str(path), "unexpected_file_name"))
            continue
        try:
            duration = audio_duration(path)
        except AudioError as err:
            log.warning("EmoDB: %s: skipped", err)
            skipped.append((str(path), "truncated_wav" if isinstance(err, TruncatedAudioError) else "unreadable_wav"))
            continue
        spk = m["spk"]
        gender = "F" if spk in FEMALE_SPEAKERS else "M"
        rows.append(whole_file_row(path.stem, path, duration, f"emodb{spk}", gender, EMOTIONS[m["emo"]], TEXTS.get(m["text"], "")))
    if not rows:
        raise FileNotFoundError(f"no EmoDB wav files in {wav_dir}: set corpus.root to the folder holding wav/")
    return make_manifest(rows, skipped)
