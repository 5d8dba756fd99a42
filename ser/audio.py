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


class TruncatedAudioError(AudioError):
    """A WAV file holds fewer samples than its header promises (cut short while copied or written)."""


def load_audio(
    path: str | os.PathLike,
    offset: float = 0.0,
    duration: float | None = None,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Read `duration` seconds from `offset` of `path` as float32 mono at `sample_rate`.

    Multi-channel audio is averaged to mono; any file rate is resampled once to `sample_rate`.
    `duration=None` (or NaN, or <= 0) reads to the end of the file. Raises `AudioError` with a
    one-line message naming the file when it cannot be read or holds no samples in the range, and
    `TruncatedAudioError` for a WAV cut short (so that no view silently uses a clipped clip).
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
class _WavLayout:
    """What the RIFF header of a WAV file says about its samples, and how many the file holds."""

    tag: int  # format tag: 1 integer PCM, 3 float, 0xFFFE extensible; others are compressed
    channels: int
    rate: int
    bits: int
    block: int  # bytes per sample frame
    data_start: int  # byte offset of the first sample
    promised: int  # sample frames the data chunk's size announces (0: not given, as in streamed files)
    frames: int  # sample frames actually present (a truncated file holds fewer than promised)

    @property
    def plain_pcm16(self) -> bool:
        """Plain 16-bit integer PCM: what the fast path reads itself."""
        return self.tag == 1 and self.bits == 16 and self.block == 2 * self.channels

    @property
    def truncated(self) -> bool:
        """Uncompressed samples, fewer in the file than its header promises (a cut copy or download)."""
        uncompressed = self.tag in (1, 3, 0xFFFE) and self.block == self.channels * ((self.bits + 7) // 8)
        return uncompressed and self.promised > self.frames


# A data chunk size that says "unknown": streaming writers leave it at 0 or at its maximum.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def _wav_layout(f: BinaryIO, file_size: int) -> _WavLayout | None:
    """Walk the RIFF chunks of an open WAV file up to its `data` chunk. None when the header cannot
    be parsed (not RIFF/WAVE, no `fmt ` chunk before `data`, damaged): soundfile then decides."""
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
    if channels < 1 or rate < 1 or block < 1:
        return None
    data_start = f.tell()
    present = max(file_size - data_start, 0)
    promised = 0 if size in _UNKNOWN_SIZES else size // block
    frames = (present if size == 0xFFFFFFFF else min(size, present)) // block
    return _WavLayout(tag, channels, rate, bits, block, data_start, promised, frames)


def _check_complete(layout: _WavLayout, path: str | os.PathLike) -> None:
    """Raise `TruncatedAudioError` when the file holds fewer samples than its header promises:
    read as it is, it would pass for a shorter clip."""
    if layout.truncated:
        raise TruncatedAudioError(
            f"audio {path} is truncated: its header promises {layout.promised} samples "
            f"({layout.promised / layout.rate:.2f} s), the file holds {layout.frames} "
            f"({layout.frames / layout.rate:.2f} s); copy or export it again"
        )


def audio_duration(path: str | os.PathLike) -> float:
    """Length of an audio file in seconds, from its header (read directly for plain 16-bit PCM
    WAV, several times faster than soundfile; soundfile for anything else). Raises `AudioError`
    with a one-line message naming the file when it is missing or unreadable, and its subclass
    `TruncatedAudioError` for a WAV holding fewer samples than its header promises."""
    layout = None
    if str(path).lower().endswith(".wav"):
        try:
            with open(path, "rb") as f:
                layout = _wav_layout(f, os.fstat(f.fileno()).st_size)
        except (OSError, struct.error):
            pass  # soundfile below gives the proper error (or reads what this cannot)
    if layout is not None:
        _check_complete(layout, path)
        if layout.plain_pcm16 and layout.frames > 0:
            return layout.frames / layout.rate
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
    soundfile then reads. Raises `TruncatedAudioError` for any WAV whose header promises more
    samples than the file holds (soundfile would read it as a shorter clip)."""
    if not str(path).lower().endswith(".wav"):
        return None
    layout, raw = None, None
    try:
        with open(path, "rb") as f:
            layout = _wav_layout(f, os.fstat(f.fileno()).st_size)
            if layout is not None and layout.plain_pcm16 and not layout.truncated:
                start = min(int(round(max(float(offset or 0.0), 0.0) * layout.rate)), layout.frames)
                count = layout.frames - start
                if duration is not None and math.isfinite(duration) and duration > 0:
                    count = min(count, int(round(duration * layout.rate)))
                f.seek(layout.data_start + start * 2 * layout.channels)
                raw = np.frombuffer(f.read(count * 2 * layout.channels), dtype="<i2")
    except (OSError, struct.error, ValueError):
        return None  # soundfile gives the proper error (or reads what this cannot)
    if layout is not None:
        _check_complete(layout, path)
    if layout is None or raw is None:
        return None
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
