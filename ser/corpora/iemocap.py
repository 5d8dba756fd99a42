"""IEMOCAP full-release reader.

Layout (as shipped by USC SAIL):
- labels: `SessionN/dialog/EmoEvaluation/<dialog>.txt`, one summary line per utterance,
  `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]` (V, A, D),
  followed by evaluator lines and a blank line;
- audio: `SessionN/sentences/wav/<dialog>/<utterance>.wav` (16 kHz mono);
- transcripts: `SessionN/dialog/transcriptions/<dialog>.txt`,
  `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`.

Quirks of the real release handled here: AppleDouble `._*` files (binary) beside the real ones,
sub-folders (`Categorical/`, `Attribute/`, `Self-evaluation/`) inside EmoEvaluation holding other
formats, letter-suffixed dialogs (`Ses03M_impro05a`, `Ses05M_script01_1b`), transcript lines that are
not utterances, and archives unpacked one level too deep (`IEMOCAP_full_release/IEMOCAP_full_release`).

`subset` keeps the improvised dialogs (`Ses01F_impro01`, `Ses03M_impro05a`) or the scripted ones
(`Ses01F_script01_1`, `Ses05M_script01_1b`) only. It matters for text models: the scripted dialogs
reuse the same lines in every session, so a leave-one-session-out test on them has seen its
sentences in training.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from ser.audio import AudioError, TruncatedAudioError, audio_duration
from ser.corpora.manifest_schema import make_manifest

log = logging.getLogger(__name__)

SESSIONS = (1, 2, 3, 4, 5)
# `corpus.subset`: which dialogs to read; the dialog name says its kind (`_impro..` / `_script..`).
SUBSETS = ("improvised", "scripted", "all")
# How `read` records an utterance outside the subset: `not in subset improvised`.
SUBSET_DROP_PREFIX = "not in subset "

SUMMARY_LINE = re.compile(
    r"^\[(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\]\t(?P<utt>Ses\d\d[FM]_\S+_[FM]\d{3})\t"
    r"(?P<label>\w+)\t\[(?P<v>[-\d.]+),\s*(?P<a>[-\d.]+),\s*(?P<d>[-\d.]+)\]"
)
TRANSCRIPT_LINE = re.compile(r"^(?P<utt>Ses\d\d[FM]_\S+_[FM]\d{3}) \[[\d.]+-[\d.]+\]:\s?(?P<text>.*)$")


def speaker_of(utterance_id: str) -> tuple[str, str, str]:
    """Return (speaker, group, gender) of an utterance id.

    The speaker is the session plus the letter just before the utterance number:
    `Ses01F_impro01_M000` is session 1's male actor (`Ses01_M`), although `Ses01F` says the
    female actor wore the motion-capture markers in that dialog.
    """
    session = utterance_id[:5]
    gender = utterance_id.rsplit("_", 1)[1][0]
    return f"{session}_{gender}", session, gender


def dialog_kind(dialog: str) -> str:
    """`improvised`, `scripted` or `` (neither) for a dialog name such as `Ses05M_script01_1b`."""
    parts = dialog.split("_")
    kind = parts[1] if len(parts) > 1 else ""
    if kind.startswith("impro"):
        return "improvised"
    if kind.startswith("script"):
        return "scripted"
    return ""


def check_subset(subset: str) -> str:
    """Return `subset` if it is one of `SUBSETS`, else raise a one-line ValueError."""
    if subset not in SUBSETS:
        raise ValueError(f"corpus.subset={subset!r} is not a choice: use corpus.subset=improvised, scripted or all")
    return subset


def find_root(root: str | Path) -> Path:
    """Locate the folder holding `Session1..5`, accepting a root one level off."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"IEMOCAP root {root} does not exist: set corpus.root to the folder holding Session1..Session5")
    if any((root / f"Session{n}").is_dir() for n in SESSIONS):
        return root
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if any((child / f"Session{n}").is_dir() for n in SESSIONS):
            log.info("IEMOCAP sessions found one level down, in %s", child)
            return child
    raise FileNotFoundError(f"no Session1..Session5 folders under {root}: set corpus.root to the IEMOCAP_full_release folder")


def _text_files(folder: Path) -> list[Path]:
    """The real `.txt` files directly inside `folder` (no AppleDouble `._*`, no sub-folders)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.txt") if p.is_file() and not p.name.startswith("._"))


def read_transcripts(session_dir: Path, skipped: list[tuple[str, str]]) -> dict[str, str]:
    """Map utterance id to transcript for one session; lines that are not utterances are ignored."""
    texts: dict[str, str] = {}
    for path in _text_files(session_dir / "dialog" / "transcriptions"):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError) as err:
            log.warning("unreadable transcript file %s (%s): skipped", path, type(err).__name__)
            skipped.append((str(path), "unreadable_transcript_file"))
            continue
        for line in lines:
            m = TRANSCRIPT_LINE.match(line.strip())
            if m:
                texts[m["utt"]] = m["text"].strip()
    return texts


def read(root: str | Path, sessions: list[int] | tuple[int, ...] = SESSIONS, subset: str = "all") -> pd.DataFrame:
    """Read the IEMOCAP release under `root` into a manifest (DESIGN.md), one row per labelled utterance.

    A missing session folder raises; a missing or unreadable wav and an unreadable label file are
    skipped, logged with their path and recorded in `df.attrs["skipped"]`. With `subset` set to
    `improvised` or `scripted`, utterances of the other dialogs are left out, each recorded in
    `df.attrs["skipped"]` as `not in subset <subset>` (their audio is not opened).
    """
    check_subset(subset)
    root = find_root(root)
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for n in sessions:
        session_dir = root / f"Session{n}"
        if not session_dir.is_dir():
            raise FileNotFoundError(
                f"IEMOCAP session folder {session_dir} is missing: restore it or limit corpus.sessions"
            )
        label_files = _text_files(session_dir / "dialog" / "EmoEvaluation")
        if not label_files:
            raise FileNotFoundError(f"no label files in {session_dir / 'dialog' / 'EmoEvaluation'}: is the session complete?")
        transcripts = read_transcripts(session_dir, skipped)
        for label_file in label_files:
            try:
                lines = label_file.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError) as err:
                log.warning("unreadable label file %s (%s): skipped", label_file, type(err).__name__)
                skipped.append((str(label_file), "unreadable_label_file"))
                continue
            for line in lines:
                m = SUMMARY_LINE.match(line)
                if not m:
                    continue
                utt = m["utt"]
                dialog = utt.rsplit("_", 1)[0]
                if subset != "all" and dialog_kind(dialog) != subset:
                    skipped.append((utt, f"{SUBSET_DROP_PREFIX}{subset}"))
                    continue
                wav = session_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
                try:
                    duration = audio_duration(wav)
                except AudioError as err:
                    if not wav.exists():
                        reason = "missing_wav"
                    else:
                        reason = "truncated_wav" if isinstance(err, TruncatedAudioError) else "unreadable_wav"
                    log.warning("%s %s (%s): skipped", reason.replace("_", " "), wav, err)
                    skipped.append((str(wav), reason))
                    continue
                speaker, group, gender = speaker_of(utt)
                rows.append(
                    dict(
                        utterance_id=utt,
                        path=str(wav.resolve()),
                        offset=0.0,
                        duration=duration,
                        speaker=speaker,
                        group=group,
                        gender=gender,
                        label=m["label"],
                        transcript=transcripts.get(utt, ""),
                        valence=float(m["v"]),
                        arousal=float(m["a"]),
                        dominance=float(m["d"]),
                    )
                )
    if not rows:
        if subset != "all" and any(reason == f"{SUBSET_DROP_PREFIX}{subset}" for _, reason in skipped):
            raise ValueError(f"corpus.subset={subset} keeps no utterance under {root}: no {subset} dialog there; use corpus.subset=all")
        raise ValueError(f"no labelled utterances found under {root}: check that it is an IEMOCAP release")
    df = make_manifest(rows, skipped)
    dup = df["utterance_id"][df["utterance_id"].duplicated()]
    if len(dup):
        raise ValueError(f"IEMOCAP: utterance {dup.iloc[0]} is labelled twice under {root}")
    return df
