"""Audio loading: any sample rate and channel count in, float32 mono at one target rate out.

Every feature view and the evaluate command read audio through `load_audio`, so resampling happens
exactly once, in one place, with one resampler (soxr, the one librosa itself uses by default).
"""

from __future__ import annotations

import math
import os
import wave

import numpy as np
import soundfile as sf
import soxr


class AudioError(RuntimeError):
    """An audio file could not be read; the message is one line naming the file and the cause."""


def load_audio(
    path: str | os.PathLike,
    offset: float = 0.0,
    duration: float | None = None,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Read `duration` seconds from `offset` of `path` as float32 mono at `sample_rate`.

    Multi-channel audio is averaged to mono; any file rate is resampled once to `sample_rate`.
    `duration=None` (or NaN, or <= 0) reads to the end of the file. Raises `AudioError` with a
    one-line message naming the file when it cannot be read or holds no samples in the range.
    """
    pcm = _read_pcm_wav(path, offset, duration)
    if pcm is not None:
        y, file_rate = pcm
        return _finish(y, file_rate, sample_rate, path, offset)
    try:
        with sf.SoundFile(str(path)) as f:
            file_rate = f.samplerate
            start = int(round(max(float(offset or 0.0), 0.0) * file_rate))
            if start > 0:
                f.seek(min(start, f.frames))
            if duration is None or not math.isfinite(duration) or duration <= 0:
                frames = -1
            else:
                frames = int(round(duration * file_rate))
            y = f.read(frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types; all mean "unreadable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"cannot read audio {path}: {reason} (is it a valid wav/flac file?)") from None
    return _finish(y, file_rate, sample_rate, path, offset)


def audio_duration(path: str | os.PathLike) -> float:
    """Length of an audio file in seconds, from its header (the stdlib reader for plain 16-bit PCM
    WAV, about four times faster than soundfile; soundfile for anything else). Raises `AudioError`
    with a one-line message naming the file when it is missing or unreadable."""
    if str(path).lower().endswith(".wav"):
        try:
            with wave.open(str(path), "rb") as f:
                if f.getsampwidth() == 2 and f.getcomptype() == "NONE" and f.getnframes() > 0:
                    # a truncated file's header promises more frames than it holds: cap by its size
                    held = (os.path.getsize(path) - 44) // (2 * f.getnchannels())
                    return min(f.getnframes(), max(held, 0)) / f.getframerate()
        except (wave.Error, EOFError, OSError):
            pass  # soundfile below gives the proper error (or reads what wave cannot)
    try:
        return float(sf.info(str(path)).duration)
    except Exception as exc:  # soundfile raises several types; all mean "unreadable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"cannot read audio {path}: {reason} (is it a valid wav/flac file?)") from None


def _read_pcm_wav(
    path: str | os.PathLike, offset: float, duration: float | None
) -> tuple[np.ndarray, int] | None:
    """Fast path for plain 16-bit PCM WAV (most speech corpora): the stdlib reader has a third of
    soundfile's per-file overhead. Returns None for anything else, which soundfile then reads."""
    if not str(path).lower().endswith(".wav"):
        return None
    try:
        with wave.open(str(path), "rb") as f:
            if f.getsampwidth() != 2 or f.getcomptype() != "NONE":
                return None
            rate, channels, total = f.getframerate(), f.getnchannels(), f.getnframes()
            start = min(int(round(max(float(offset or 0.0), 0.0) * rate)), total)
            if start:
                f.setpos(start)
            count = total - start
            if duration is not None and math.isfinite(duration) and duration > 0:
                count = min(count, int(round(duration * rate)))
            raw = f.readframes(count)
    except (wave.Error, EOFError, OSError):
        return None  # soundfile gives the proper error (or reads what wave cannot)
    y = np.frombuffer(raw, dtype="<i2").astype(np.float32) * np.float32(1 / 32768)
    return y.reshape(-1, channels), rate


def _finish(y: np.ndarray, file_rate: int, sample_rate: int, path, offset) -> np.ndarray:
    """(frames, channels) float32 at file_rate -> contiguous float32 mono at sample_rate."""
    if y.shape[0] == 0:
        raise AudioError(f"cannot read audio {path}: no samples at offset {offset}s (check offset/duration)")
    mono = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if file_rate != sample_rate:
        mono = soxr.resample(mono, file_rate, sample_rate, quality="HQ")
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.isfinite(mono).all():
        # A damaged float wav can hold NaN/inf; zeroing them keeps one bad sample from poisoning features.
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    return mono
