"""Any corpus described by a CSV manifest.

Required columns `path,label,speaker`; optional `utterance_id, offset, duration, group, gender,
transcript, valence, arousal, dominance`. Relative paths resolve against the CSV's folder. A missing
`utterance_id` is derived from the file name (plus the offset for segments); a missing `group` is the
speaker; a missing `duration` is read from the audio file (minus the offset).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ser.audio import AudioError, audio_duration
from ser.corpora.manifest_schema import MANIFEST_COLUMNS, make_manifest

REQUIRED = ["path", "label", "speaker"]


def read(path: str | Path) -> pd.DataFrame:
    """Read a CSV manifest; every bad input raises a one-line ValueError naming the file and row."""
    csv = Path(path).expanduser()
    if not csv.is_file():
        raise FileNotFoundError(f"manifest {csv} does not exist: set corpus.path to a CSV with columns path,label,speaker")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except Exception as err:
        raise ValueError(f"manifest {csv} is not a readable CSV: {err}") from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"manifest {csv} lacks required column(s) {', '.join(missing)}: columns are {list(table.columns)}")
    unknown = [c for c in table.columns if c not in MANIFEST_COLUMNS]
    if unknown:
        raise ValueError(f"manifest {csv} has unknown column(s) {', '.join(unknown)}: allowed are {MANIFEST_COLUMNS}")
    rows: list[dict] = []
    for i, rec in enumerate(table.to_dict("records")):
        line = i + 2  # the header is line 1
        where = f"manifest {csv} row {line}"
        for col in REQUIRED:
            if not str(rec[col]).strip():
                raise ValueError(f"{where}: empty {col}")
        audio = Path(rec["path"]).expanduser()
        if not audio.is_absolute():
            audio = csv.parent / audio
        if not audio.is_file():
            raise ValueError(f"{where}: audio file {audio} does not exist")
        offset = _number(rec.get("offset", ""), 0.0, where, "offset")
        duration = _number(rec.get("duration", ""), None, where, "duration")
        if duration is None:
            try:
                duration = audio_duration(audio) - offset
            except AudioError as err:
                raise ValueError(f"{where}: {err}") from None
        utt = str(rec.get("utterance_id", "")).strip() or (audio.stem if offset == 0 else f"{audio.stem}@{offset:g}")
        speaker = str(rec["speaker"]).strip()
        rows.append(
            dict(
                utterance_id=utt,
                path=str(audio.resolve()),
                offset=offset,
                duration=duration,
                speaker=speaker,
                group=str(rec.get("group", "")).strip() or speaker,
                gender=str(rec.get("gender", "")).strip(),
                label=str(rec["label"]).strip(),
                transcript=str(rec.get("transcript", "")),
                valence=rec.get("valence") or None,
                arousal=rec.get("arousal") or None,
                dominance=rec.get("dominance") or None,
            )
        )
    ids = pd.Series([r["utterance_id"] for r in rows])
    dup = ids[ids.duplicated()]
    if len(dup):
        first = ids[ids == dup.iloc[0]].index.tolist()
        raise ValueError(
            f"manifest {csv} rows {first[0] + 2} and {first[1] + 2}: duplicate utterance_id {dup.iloc[0]!r}"
        )
    if not rows:
        raise ValueError(f"manifest {csv} has no rows")
    return make_manifest(rows)


def _number(value: object, default: float | None, where: str, column: str) -> float | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: {column} {text!r} is not a number") from None
