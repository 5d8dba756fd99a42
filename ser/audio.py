"""Audio loading: any sample rate and channel count in, float32 mono at one target rate out.

Every feature view and the evaluate command read audio through `load_audio`, so resampling happens
exactly once, in one place, with one resampler (soxr, the one librosa itself uses by default).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


@dataclass(frozen=True)
class _PcmLayout:
    """Where a plain 16-bit PCM WAV keeps its samples."""

    channels: int
    rate: int
    data_start: int  # byte offset of the first sample
    frames: int  # sample frames actually present (a truncated file holds fewer than its header says)


def _pcm_wav_layout(f: BinaryIO, file_size: int) -> _PcmLayout | None:
    """Walk the RIFF chunks of an open WAV file up to its `data` chunk. None unless it is plain
    16-bit PCM (format tag 1): anything else (float, 24-bit, extensible, damaged) goes to soundfile."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if chunk_id == b"data":
            break
        if chunk_id == b"fmt ":
            body = f.read(size + (size & 1))
            if len(body) < 16:
                return None
            fmt = struct.unpack("<HHIIHH", body[:16])  # tag, channels, rate, byte rate, block, bits
        else:
            f.seek(size + (size & 1), 1)
    if fmt is None:
        return None
    tag, channels, rate, _, block, bits = fmt
    if tag != 1 or bits != 16 or channels < 1 or rate < 1 or block != 2 * channels:
        return None
    data_start = f.tell()
    frames = min(size, max(file_size - data_start, 0)) // block
    return _PcmLayout(channels, rate, data_start, frames)


def audio_duration(path: str | os.PathLike) -> float:
    """Length of an audio file in seconds, from its header (read directly for plain 16-bit PCM
    WAV, several times faster than soundfile; soundfile for anything else). Raises `AudioError`
    with a one-line message naming the file when it is missing or unreadable."""
    if str(path).lower().endswith(".wav"):
        try:
            with open(path, "rb") as f:
                layout = _pcm_wav_layout(f, os.fstat(f.fileno()).st_size)
            if layout is not None and layout.frames > 0:
                return layout.frames / layout.rate
        except (OSError, struct.error):
            pass  # soundfile below gives the proper error (or reads what this cannot)
    try:
        return float(sf.info(str(path)).duration)
    except Exception as exc:  # soundfile raises several types; all mean "unreadable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"cannot read audio {path}: {reason} (is it a valid wav/flac file?)") from None


def _read_pcm_wav(
    path: str | os.PathLike, offset: float, duration: float | None
) -> tuple[np.ndarray, int] | None:
    """Fast path for plain 16-bit PCM WAV (most speech corpora): a direct read of the samples,
    with a fraction of soundfile's per-file overhead. Returns None for anything else, which
    soundfile then reads."""
    if not str(path).lower().endswith(".wav"):
        return None
    try:
        with open(path, "rb") as f:
            layout = _pcm_wav_layout(f, os.fstat(f.fileno()).st_size)
            if layout is None:
                return None
            start = min(int(round(max(float(offset or 0.0), 0.0) * layout.rate)), layout.frames)
            count = layout.frames - start
            if duration is not None and math.isfinite(duration) and duration > 0:
                count = min(count, int(round(duration * layout.rate)))
            f.seek(layout.data_start + start * 2 * layout.channels)
            raw = np.frombuffer(f.read(count * 2 * layout.channels), dtype="<i2")
    except (OSError, struct.error, ValueError):
        return None  # soundfile gives the proper error (or reads what this cannot)
    y = raw.astype(np.float32) * np.float32(1 / 32768)
    return y.reshape(-1, layout.channels), layout.rate


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


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


def audio_files(path: str | Path) -> list[Path]:
    """Audio files at `path` (a file, or a folder searched recursively)."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and not f.name.startswith("._"))
        if files:
            return files
        raise FileNotFoundError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) under {p}")
    raise FileNotFoundError(f"audio path {p} does not exist: pass an audio file or a folder of them")
