"""What the readers share: calling a reader from its resolved config (`read_configured`, used by
`load_corpus` and corpus=multi), and, for the file-name readers (RAVDESS, CREMA-D, MSP-IMPROV,
MSP-Podcast, TESS, SAVEE, and EmoDB for its rows), the wrong-root message, probing a wav with
skip-and-report, skipping a second copy of a file, and the row of a file holding one utterance."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from hydra.utils import get_method

from ser.audio import AudioError, TruncatedAudioError, audio_duration
from ser.corpora.manifest_schema import check_manifest

log = logging.getLogger(__name__)

# Keys of a corpus config that describe it rather than being arguments of its reader
# (`alias`: a part's own name inside corpus=multi).
DESCRIPTIVE_KEYS = {"_target_", "name", "alias"}


def read_configured(cfg: Mapping) -> pd.DataFrame:
    """Call the reader of a resolved corpus config (plain values, no `???`) and check its manifest."""
    reader = get_method(cfg["_target_"])
    df = reader(**{k: v for k, v in cfg.items() if k not in DESCRIPTIVE_KEYS})
    check_manifest(df, source=str(cfg.get("name", cfg["_target_"])))
    return df


def existing_root(root: str | Path, corpus: str, holds: str) -> Path:
    """`root` as a Path, or a one-line FileNotFoundError naming corpus.root and what it should hold."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{corpus} folder {path} does not exist: set corpus.root to the folder holding {holds}")
    return path


def nothing_found(root: Path, corpus: str, what: str, holds: str) -> FileNotFoundError:
    """The one-line error of a root that exists but holds none of the corpus's files."""
    return FileNotFoundError(f"no {corpus} {what} under {root}: set corpus.root to the folder holding {holds}")


def probe_wav(path: Path, corpus: str, skipped: list[tuple[str, str]]) -> float | None:
    """The duration of `path` in seconds, or None after logging it and recording `(path, reason)` in
    `skipped` with reason `missing_wav`, `truncated_wav` or `unreadable_wav`."""
    try:
        return audio_duration(path)
    except AudioError as err:
        if not path.exists():
            reason = "missing_wav"
        else:
            reason = "truncated_wav" if isinstance(err, TruncatedAudioError) else "unreadable_wav"
        log.warning("%s: %s %s (%s): skipped", corpus, reason.replace("_", " "), path, err)
        skipped.append((str(path), reason))
        return None


def skip_name(path: Path, corpus: str, naming: str, skipped: list[tuple[str, str]]) -> None:
    """Log and record a file whose name does not follow the corpus's naming (`unexpected_file_name`)."""
    log.warning("%s: %s does not follow the %s naming: skipped", corpus, path, naming)
    skipped.append((str(path), "unexpected_file_name"))


def second_copy(utt: str, path: Path, seen: Mapping[str, Path], corpus: str, skipped: list[tuple[str, str]]) -> bool:
    """Whether `utt` was already read from another file (`seen`: id -> path); if so, log `path` and
    record it in `skipped` as `duplicate_file` (some archives hold a corpus twice)."""
    if utt not in seen:
        return False
    log.warning("%s: %s is a second copy of %s: skipped", corpus, path, seen[utt])
    skipped.append((str(path), "duplicate_file"))
    return True


def whole_file_row(utt: str, path: Path, duration: float, speaker: str, gender: str, label: str, transcript: str = "", **extra: object) -> dict:
    """The manifest row of a file holding one whole utterance: offset 0, the speaker as its group,
    then the `extra` columns (intensity, arousal, ...)."""
    return dict(
        utterance_id=utt,
        path=str(path.resolve()),
        offset=0.0,
        duration=duration,
        speaker=speaker,
        group=speaker,
        gender=gender,
        label=label,
        transcript=transcript,
        **extra,
    )
