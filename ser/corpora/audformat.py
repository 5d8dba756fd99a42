"""audformat databases (audEERING's format: `db.yaml` + tables; https://audeering.github.io/audformat/),
read with the `audformat` package.

`table` names the table (or a list of tables) holding the labels and `column` the label column.
Filewise tables give whole files; segmented tables (index `file, start, end`) give segments, as
`offset` / `duration` (an end of NaT: to the end of the file). With several tables whose splits
(`split_id`) are of type train / dev / test, the `partition` column says which (for
`split=predefined`).

Speaker and gender come from the `speaker` / `gender` settings (column names), else from a column
named `speaker` (or using the scheme `speaker`) in the label table or in another filewise table of
the database, and the gender from a `gender` / `sex` column or from the speaker scheme's labels
(`{spk: {gender: female}}`, or a misc table). Without any speaker information the file's parent
folder is the speaker when the files lie in several folders, else the whole database is one
speaker; both with a warning, since speaker-independent splits need real speakers.

With `short_labels` (the default) the usual English emotion names become the raw-label convention's
short ones (anger/angry -> ang, happiness/happy/joy -> hap, ...); other labels stay as they are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import audformat
import pandas as pd

from ser.corpora.manifest import BadRow, segment_duration
from ser.corpora.manifest_schema import make_manifest
from ser.corpora.reading import existing_root

log = logging.getLogger(__name__)

NAME = "audformat"
HOLDS = "db.yaml and its tables"
SHORT_NAMES = {
    "neutral": "neu", "calm": "cal", "happiness": "hap", "happy": "hap", "joy": "hap", "sadness": "sad",
    "sad": "sad", "anger": "ang", "angry": "ang", "fear": "fea", "fearful": "fea", "disgust": "dis",
    "disgusted": "dis", "surprise": "sur", "surprised": "sur", "contempt": "con", "boredom": "bor",
    "bored": "bor", "other": "oth", "no_agreement": "xxx",
}  # fmt: skip
PARTITIONS = {audformat.define.SplitType.TRAIN: "train", audformat.define.SplitType.DEVELOP: "val", audformat.define.SplitType.TEST: "test"}
GENDERS = {"female": "F", "f": "F", "w": "F", "woman": "F", "male": "M", "m": "M", "man": "M"}
GENDER_NAMES = ("gender", "sex")


def load_database(root: Path) -> audformat.Database:
    """The database at `root` with its tables, or a one-line error naming corpus.root."""
    if not (root / "db.yaml").is_file():
        raise FileNotFoundError(f"no db.yaml in {root}: set corpus.root to the audformat database folder holding {HOLDS}")
    try:
        return audformat.Database.load(str(root), load_data=True)
    except Exception as err:  # audformat raises many kinds for a damaged header or table
        raise ValueError(f"audformat database {root} does not load: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def _row_values(db: audformat.Database, tables: Sequence[str], data: pd.DataFrame, column: str) -> list | None:
    """Values of `column` for each row of `data`: from the label table(s) when they have it, else by
    file from the first other filewise table that has it; None when no table has it."""
    if column in data.columns:
        return data[column].tolist()
    for table_id in db.tables:
        if table_id not in tables and db[table_id].is_filewise and column in db[table_id].columns:
            by_file = db[table_id].get()[column]
            return [by_file.get(f) for f in data.index.get_level_values("file")]
    return None


def _first_column(
    db: audformat.Database, tables: Sequence[str], data: pd.DataFrame, columns: Sequence[str | None]
) -> tuple[str | None, list | None]:
    """(name, per-row values) of the first of `columns` that some table has; (None, None) if none."""
    for column in columns:
        values = _row_values(db, tables, data, column) if column else None
        if values is not None:
            return column, values
    return None, None


def _scheme_of(db: audformat.Database, column: str) -> str | None:
    """The scheme of the first column named `column`."""
    return next((db[t].columns[column].scheme_id for t in db.tables if column in db[t].columns), None)


def _column_by_scheme(db: audformat.Database, tables: Sequence[str], scheme_id: str) -> str | None:
    """The name of a column using `scheme_id`, in the label tables first."""
    for table_id in [*tables, *(t for t in db.tables if t not in tables)]:
        for name, col in db[table_id].columns.items():
            if col.scheme_id == scheme_id:
                return name
    return None


def _scheme_properties(db: audformat.Database, scheme_id: str | None) -> dict[str, dict]:
    """Label -> properties of a scheme whose labels are a dict or a misc table; {} otherwise."""
    if scheme_id is None or scheme_id not in db.schemes:
        return {}
    labels = db.schemes[scheme_id].labels
    if isinstance(labels, dict):
        return {str(k): (v if isinstance(v, dict) else {}) for k, v in labels.items()}
    if isinstance(labels, str) and labels in db.misc_tables:
        return {str(k): row for k, row in db[labels].get().to_dict("index").items()}
    return {}


def _gender(value: object) -> str:
    return GENDERS.get(str(value).strip().lower(), "") if value is not None and value == value else ""


def read(
    root: str | Path,
    table: str | Sequence[str] = "emotion",
    column: str = "emotion",
    speaker: str | None = None,
    gender: str | None = None,
    arousal: str | None = None,
    valence: str | None = None,
    dominance: str | None = None,
    short_labels: bool = True,
) -> pd.DataFrame:
    """Read the audformat database at `root` into a manifest (see the module's docstring).

    A row without a label, a missing, unreadable or truncated file and a segment outside its file
    are skipped and recorded in `df.attrs["skipped"]`; an unknown table or column is a one-line error
    listing the ones there are.
    """
    root = existing_root(root, NAME, HOLDS)
    db = load_database(root)
    tables = [table] if isinstance(table, str) else [str(t) for t in table]
    frames = []
    for table_id in tables:
        if table_id not in db.tables:
            raise ValueError(f"audformat database {root} has no table {table_id!r}: set corpus.table to one of {sorted(db.tables)}")
        if column not in db[table_id].columns:
            raise ValueError(
                f"table {table_id!r} of {root} has no column {column!r}: set corpus.column to one of {sorted(db[table_id].columns)}"
            )
        frame = db[table_id].get(as_segmented=True, allow_nat=True)
        split = db[table_id].split_id
        frame["_partition"] = PARTITIONS.get(db.splits[split].type, "") if split in db.splits else ""
        frames.append(frame)
    data = pd.concat(frames)
    partitioned = len(tables) > 1 and (data["_partition"] != "").all()

    speaker_col, speakers = _first_column(db, tables, data, [speaker] if speaker else ["speaker", _column_by_scheme(db, tables, "speaker")])
    if speaker and speakers is None:
        raise ValueError(f"corpus.speaker={speaker}: neither the label table(s) nor a filewise table of {root} has that column")
    _, genders = _first_column(db, tables, data, [gender] if gender else list(GENDER_NAMES))
    if gender and genders is None:
        raise ValueError(f"corpus.gender={gender}: neither the label table(s) nor a filewise table of {root} has that column")
    # the speaker scheme's labels may carry each speaker's gender ({spk: {gender: female}})
    speaker_info = _scheme_properties(db, _scheme_of(db, speaker_col)) if speaker_col else {}
    dims = {"arousal": arousal, "valence": valence, "dominance": dominance}
    for dim, col in dims.items():
        if col and col not in data.columns:
            raise ValueError(f"corpus.{dim}={col}: the label table(s) {tables} have no such column: choose one of {sorted(data.columns)}")

    files = data.index.get_level_values("file")
    folders = {str(Path(f).parent) for f in files}
    if speakers is None:
        if len(folders) > 1:
            log.warning("audformat %s: no speaker column or scheme: each file's parent folder taken as its speaker (set corpus.speaker=COLUMN)", root)
        else:
            log.warning("audformat %s: no speaker information: the whole database is one speaker; use split=random or set corpus.speaker=COLUMN", root)

    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    lengths: dict[Path, float] = {}
    for i, ((file, start, end), rec) in enumerate(zip(data.index, data.to_dict("records"), strict=True)):
        raw = rec[column]
        whole = start == pd.Timedelta(0) and pd.isna(end)
        item = file if whole else f"{file} [{start.total_seconds():g}-{'' if pd.isna(end) else f'{end.total_seconds():g}'}]"
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or str(raw).strip() == "":
            skipped.append((item, "no_label"))
            continue
        path = Path(file) if Path(file).is_absolute() else root / file
        offset = start.total_seconds()
        length = None if pd.isna(end) else end.total_seconds() - offset
        try:
            duration = segment_duration(path, offset, length, lengths)
        except BadRow as bad:
            log.warning("audformat %s: %s: skipped (%s)", root, bad, bad.reason)
            skipped.append((item, bad.reason))
            continue
        label = str(raw).strip()
        if short_labels:
            label = SHORT_NAMES.get(label.lower(), label)
        raw_spk = _speaker_of(file, speakers[i] if speakers is not None else None, speakers is not None, folders)
        spk = f"{db.name}_{raw_spk}" if raw_spk else db.name
        sex = _gender(genders[i]) if genders is not None else ""
        if not sex and raw_spk in speaker_info:
            sex = next((_gender(speaker_info[raw_spk].get(g)) for g in GENDER_NAMES if g in speaker_info[raw_spk]), "")
        stem = str(Path(file).with_suffix("")).replace("\\", "/")
        row = dict(
            utterance_id=stem if whole else f"{stem}@{offset:g}-{offset + duration:g}",
            path=str(path.resolve()),
            offset=offset,
            duration=duration,
            speaker=spk,
            group=spk,
            gender=sex,
            label=label,
            transcript="",
            **{dim: _number(rec.get(col)) for dim, col in dims.items() if col},
        )
        if partitioned:
            row["partition"] = rec["_partition"]
        rows.append(row)
    if not rows:
        raise ValueError(f"no utterance with a label and readable audio in table(s) {tables} of {root}: see the warnings above")
    df = make_manifest(rows, skipped)
    dup = df["utterance_id"][df["utterance_id"].duplicated()]
    if len(dup):
        raise ValueError(f"audformat {root}: {dup.iloc[0]} is in table(s) {tables} twice: choose tables that do not overlap")
    return df


def _speaker_of(file: str, value: object, known: bool, folders: set[str]) -> str:
    """The speaker of a row: its column's value (`unknown` where empty), else the file's parent
    folder when the files lie in several, else "" (one speaker: the database)."""
    if known:
        return str(value).strip() if value is not None and value == value and str(value).strip() else "unknown"
    if len(folders) > 1:
        return str(Path(file).parent).replace("\\", "/")
    return ""


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan
