"""Any corpus described by a CSV manifest.

Required columns `path,label,speaker`; optional `utterance_id, offset, duration, group, gender,
transcript, valence, arousal, dominance`. Relative paths resolve against the CSV's folder. A missing
`utterance_id` is derived from the file name (plus the offset for segments); a missing `group` is the
speaker; a missing `duration` is read from the audio file (minus the offset). Rows whose audio is
bad are skipped and reported (`on_error`, see `read`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

import pandas as pd

from ser.audio import AudioError, TruncatedAudioError, audio_duration
from ser.corpora.manifest_schema import MANIFEST_COLUMNS, OPTIONAL_COLUMNS, make_manifest

log = logging.getLogger(__name__)

REQUIRED = ["path", "label", "speaker"]
ON_ERROR = ("skip", "raise")
# Segment times from annotation tools are rounded (often to 10 ms): a segment that ends this little
# after the end of its file is read to the end instead of being skipped.
END_TOLERANCE_S = 0.05


class BadRow(ValueError):
    """A row whose audio cannot give the segment it names; `reason` is its data-report category."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read(path: str | Path, on_error: str = "skip") -> pd.DataFrame:
    """Read a CSV manifest into the manifest of DESIGN.md.

    A row whose audio is missing, unreadable or truncated, or whose offset/duration lie outside its
    audio, is skipped with `on_error="skip"` (the default): logged with its CSV row and file and
    recorded in `df.attrs["skipped"]` as (`row N: FILE`, reason) with reason `missing_audio`,
    `unreadable_audio`, `truncated_audio`, `bad_offset` or `bad_duration`. With `on_error="raise"`
    the first such row raises. Problems of the CSV itself (a missing or unknown column, an empty
    label or speaker, a number that is not one, a duplicate utterance_id) and a manifest left with
    no row always raise. Every error is a one-line ValueError naming the file and the row.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"corpus.on_error={on_error!r} is not a choice: use corpus.on_error=skip or corpus.on_error=raise")
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
    unknown = [c for c in table.columns if c not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValueError(f"manifest {csv} has unknown column(s) {', '.join(unknown)}: allowed are {MANIFEST_COLUMNS + OPTIONAL_COLUMNS}")

    # First the CSV itself, whole: its mistakes are the same whatever state the audio files are in.
    rows: list[tuple[int, dict]] = []  # (CSV line, row)
    for i, rec in enumerate(table.to_dict("records")):
        line = i + 2  # the header is line 1
        where = f"manifest {csv} row {line}"
        for col in REQUIRED:
            if not str(rec[col]).strip():
                raise ValueError(f"{where}: empty {col}")
        audio = Path(rec["path"]).expanduser()
        if not audio.is_absolute():
            audio = csv.parent / audio
        offset = _number(rec.get("offset", ""), 0.0, where, "offset")
        duration = _number(rec.get("duration", ""), None, where, "duration")
        utt = str(rec.get("utterance_id", "")).strip() or (audio.stem if offset == 0 else f"{audio.stem}@{offset:g}")
        speaker = str(rec["speaker"]).strip()
        row = dict(
            utterance_id=utt,
            path=audio,
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
        row.update({col: str(rec[col]).strip() for col in OPTIONAL_COLUMNS if col in rec})
        rows.append((line, row))
    if not rows:
        raise ValueError(f"manifest {csv} has no rows")
    ids = pd.Series([row["utterance_id"] for _, row in rows])
    dup = ids[ids.duplicated()]
    if len(dup):
        first = ids[ids == dup.iloc[0]].index.tolist()
        raise ValueError(
            f"manifest {csv} rows {rows[first[0]][0]} and {rows[first[1]][0]}: duplicate utterance_id {dup.iloc[0]!r}"
        )

    # Then each row's audio: a bad file costs its rows, not the corpus.
    kept: list[dict] = []
    skipped: list[tuple[str, str]] = []
    lengths: dict[Path, float] = {}  # segments of one file read its header once
    for line, row in rows:
        audio = row["path"]
        try:
            row["duration"] = segment_duration(audio, row["offset"], row["duration"], lengths)
        except BadRow as bad:
            where = f"manifest {csv} row {line}"
            if on_error == "raise":
                raise ValueError(f"{where}: {bad}; fix the row, or set corpus.on_error=skip to skip such rows") from None
            log.warning("%s: %s: skipped (%s)", where, bad, bad.reason)
            skipped.append((f"row {line}: {audio}", bad.reason))
            continue
        row["path"] = str(audio.resolve())
        kept.append(row)
    if not kept:
        reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(r for _, r in skipped).most_common())
        raise ValueError(
            f"manifest {csv}: every row was skipped ({reasons}), e.g. {skipped[0][0]}: check the paths and the audio files"
        )
    return make_manifest(kept, skipped)


def segment_duration(audio: Path, offset: float, duration: float | None, lengths: dict[Path, float]) -> float:
    """Seconds of the segment (`duration`, or the rest of the file when it is None); raises `BadRow`
    when the file is missing, unreadable or truncated, or the segment lies outside it."""
    if audio not in lengths:
        if not audio.is_file():
            raise BadRow("missing_audio", f"audio file {audio} does not exist")
        try:
            lengths[audio] = audio_duration(audio)
        except TruncatedAudioError as err:
            raise BadRow("truncated_audio", str(err)) from None
        except AudioError as err:
            raise BadRow("unreadable_audio", str(err)) from None
    length = lengths[audio]
    if offset < 0 or offset >= length:
        raise BadRow("bad_offset", f"offset {offset:g} s is outside {audio} ({length:.3f} s long)")
    if duration is None:
        return length - offset
    if duration <= 0:
        raise BadRow("bad_duration", f"duration {duration:g} s of {audio} is not positive")
    if offset + duration > length + END_TOLERANCE_S:
        raise BadRow(
            "bad_duration", f"segment {offset:g} s + {duration:g} s ends after the end of {audio} ({length:.3f} s long)"
        )
    return min(duration, length - offset)


def _number(value: object, default: float | None, where: str, column: str) -> float | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{where}: {column} {text!r} is not a number (seconds; leave it empty for the default)")
    return number
