"""Temporal (rhythm) scalars of an utterance, as eGeMAPS' temporal features: how often and how long
the voice is on, and how often the loudness peaks.

From the voicing decisions on the pitch grid (every pitch_stride-th frame) of each utterance:
voiced segments per second, mean and standard deviation of voiced and of unvoiced segment lengths
(seconds; unvoiced runs at the ends count, as pauses), and loudness peaks per second (local maxima
of the 3-frame moving average of the rms dB curve that lie above its median).
"""

from __future__ import annotations

import numpy as np

RHYTHM_NAMES = [
    "voiced_segments_per_s", "voiced_segment_mean_s", "voiced_segment_std_s",
    "unvoiced_segment_mean_s", "unvoiced_segment_std_s", "loudness_peaks_per_s",
]  # fmt: skip


def _runs(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the runs of True and of False in a bool sequence."""
    if len(v) == 0:
        return np.zeros(0), np.zeros(0)
    edges = np.flatnonzero(np.diff(v.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [len(v)]])
    lengths = np.diff(bounds)
    first = bool(v[0])
    on = lengths[0 if first else 1 :: 2]
    off = lengths[1 if first else 0 :: 2]
    return on, off


def _mean_std(x: np.ndarray) -> tuple[float, float]:
    return (float(x.mean()), float(x.std())) if len(x) else (0.0, 0.0)


def rhythm(voiced: np.ndarray, rms_db: np.ndarray, stride: int, frame_s: float) -> np.ndarray:
    """RHYTHM_NAMES of one utterance from its per-frame voicing (pitch grid frames are every
    `stride`-th) and rms dB; frame_s is the hop in seconds."""
    seconds = max(len(rms_db) * frame_s, frame_s)
    on, off = _runs(voiced[::stride])
    step = stride * frame_s
    von, voff = _mean_std(on * step), _mean_std(off * step)
    smooth = np.convolve(rms_db, np.ones(3) / 3, mode="same") if len(rms_db) >= 3 else rms_db
    inner = smooth[1:-1]
    peaks = (
        (inner > smooth[:-2]) & (inner >= smooth[2:]) & (inner > np.median(smooth))
        if len(smooth) >= 3
        else []
    )
    return np.array([len(on) / seconds, *von, *voff, float(np.sum(peaks)) / seconds], dtype=np.float32)
