"""Transcript cleaning: the one place that turns a corpus's raw transcript into the text a model reads.

    clean_transcript("Oh my [LAUGHTER] God!!")            -> "oh my <laughter> god"
    clean_transcript("Oh my [LAUGHTER] God!!", events="remove", lowercase=False) -> "Oh my God"

Bracketed events (IEMOCAP writes `[LAUGHTER]`, `[BREATHING]`, `[GARBAGE]`) are kept as one token
each (`<laughter>`, always lower case, never split by punctuation removal) or removed. Punctuation
removal keeps apostrophes inside words (`don't`, `I'm`), since they tell words apart that would
otherwise merge (`we're` / `were`). Whitespace is collapsed and trimmed.
"""

from __future__ import annotations

import re

EVENTS = ("token", "remove")

# `[LAUGHTER]`, `[ breathing ]`, `[GARBAGE NOISE]`: letters, digits, spaces, _ and - inside brackets
_EVENT = re.compile(r"\[\s*([A-Za-z0-9_\- ]+?)\s*\]")
# anything that is neither a word character, whitespace nor an apostrophe becomes a space ...
_PUNCTUATION = re.compile(r"[^\w\s']+")
# ... and an apostrophe survives only between two word characters
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_SPACES = re.compile(r"\s+")


def is_missing(transcript: object) -> bool:
    """True for a transcript a corpus did not give: None, NaN, or only whitespace."""
    if transcript is None:
        return True
    if isinstance(transcript, float):  # pandas reads an empty CSV cell as NaN
        return transcript != transcript
    return not str(transcript).strip()


def event_token(name: str) -> str:
    """`LAUGHTER` -> `<laughter>`; `GARBAGE NOISE` -> `<garbage_noise>`."""
    return "<" + re.sub(r"[\s\-]+", "_", name.strip().lower()) + ">"


def _clean_words(text: str, lowercase: bool, remove_punctuation: bool) -> str:
    if lowercase:
        text = text.lower()
    if remove_punctuation:
        text = _LOOSE_APOSTROPHE.sub(" ", _PUNCTUATION.sub(" ", text))
    return text


def clean_transcript(
    transcript: object, lowercase: bool = True, remove_punctuation: bool = True, events: str = "token"
) -> str:
    """The cleaned form of one transcript (see the module docstring); "" for a missing one."""
    if events not in EVENTS:
        raise ValueError(f"features.events={events!r} is unknown: use token (e.g. <laughter>) or remove")
    if is_missing(transcript):
        return ""
    text = str(transcript)
    parts = []
    position = 0
    for match in _EVENT.finditer(text):
        parts.append(_clean_words(text[position : match.start()], lowercase, remove_punctuation))
        if events == "token":
            parts.append(f" {event_token(match.group(1))} ")
        else:
            parts.append(" ")
        position = match.end()
    parts.append(_clean_words(text[position:], lowercase, remove_punctuation))
    return _SPACES.sub(" ", "".join(parts)).strip()
