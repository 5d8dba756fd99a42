"""Per-utterance prosodic measures from frame-level descriptors: duration, F0, energy, speaking rate.

The frames are those of the `sequence` feature view (one row per hop, columns named as
`ser.features.feature_names` gives them: `f0` in Hz (0 when unvoiced), `voiced` (0/1), `rms_db`
(frame RMS in dB re full scale), ...), so the analysis reads the same cached extraction as training.

Speaking rate has no ground truth without transcripts; two common proxies stand in for it:
- voiced segments per second: runs of voiced frames (a vowel or a voiced stretch of a syllable),
  short dropouts of the pitch tracker bridged, very short runs ignored;
- energy peaks per second: peaks of the smoothed RMS envelope that stand out from their
  surroundings by a few dB, lie on voiced frames and are far enough apart to be separate
  syllable nuclei (the idea of de Jong & Wempe 2009, without their intensity threshold tuning).
Both count per second of the whole utterance (pauses included: speaking rate, not articulation rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

# The columns of the sequence view that the measures need.
FRAME_COLUMNS = ("f0", "voiced", "rms_db")
# Per-utterance measures, in the order of `utterance_measures`' columns, with axis labels.
MEASURES: dict[str, str] = {
    "duration_s": "duration (s)",
    "f0_median_hz": "median F0 of voiced frames (Hz)",
    "f0_range_st": "F0 range, 10th-90th percentile (semitones)",
    "level_db": "mean RMS level of voiced frames (dBFS)",
    "level_std_db": "RMS level variability, std of voiced frames (dB)",
    "voiced_segments_per_s": "voiced segments per second",
    "energy_peaks_per_s": "energy peaks per second",
}


@dataclass(frozen=True)
class RateSettings:
    """How the speaking-rate proxies count (times in ms, levels in dB)."""

    min_voiced_ms: float = 50.0  # a voiced run shorter than this is not a segment
    max_gap_ms: float = 20.0  # unvoiced gaps up to this long inside a voiced run are bridged
    smooth_ms: float = 50.0  # moving-average window of the RMS envelope before peak picking
    peak_prominence_db: float = 3.0  # how far a peak must rise above the dips around it
    peak_distance_ms: float = 100.0  # nearest two syllable nuclei (10 syllables per second at most)

    def validate(self) -> None:
        """One-line errors for settings that cannot work."""
        for name in ("min_voiced_ms", "smooth_ms", "peak_distance_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"rate.{name}={getattr(self, name)} must be > 0")
        if self.max_gap_ms < 0 or self.peak_prominence_db < 0:
            raise ValueError("rate.max_gap_ms and rate.peak_prominence_db must be >= 0")


def voiced_runs(voiced: np.ndarray, max_gap: int, min_length: int) -> int:
    """Number of runs of True in `voiced` after bridging gaps of at most `max_gap` frames, counting
    only runs of at least `min_length` frames."""
    v = np.asarray(voiced, dtype=bool)
    if not v.any():
        return 0
    edges = np.diff(np.concatenate([[0], v.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run i is [starts[i], ends[i])
    # merge a run into the previous one when the gap between them is short
    keep = np.concatenate([[True], starts[1:] - ends[:-1] > max_gap])
    run_starts = starts[keep]
    run_ends = np.concatenate([ends[np.flatnonzero(keep)[1:] - 1], [ends[-1]]])
    return int(np.sum(run_ends - run_starts >= min_length))


def energy_peaks(
    level_db: np.ndarray, voiced: np.ndarray, smooth: int, prominence_db: float, distance: int
) -> int:
    """Number of peaks of the smoothed level envelope (dB) that are prominent, voiced and apart."""
    if len(level_db) < 3:
        return 0
    kernel = np.ones(max(1, smooth)) / max(1, smooth)
    envelope = np.convolve(np.asarray(level_db, dtype=np.float64), kernel, mode="same")
    peaks, _ = find_peaks(envelope, prominence=prominence_db, distance=max(1, distance))
    return int(np.sum(np.asarray(voiced, dtype=bool)[peaks]))


def utterance_measures(
    frames: np.ndarray, names: list[str], hop_s: float, duration_s: float, rate: RateSettings
) -> dict[str, float]:
    """The MEASURES of one utterance from its frame rows `(T, D)` (columns `names`). F0 and level
    measures are NaN when no frame is voiced; `duration_s` <= 0 or NaN is taken from the frames."""
    col = {name: names.index(name) for name in FRAME_COLUMNS}
    f0, voiced, level = frames[:, col["f0"]], frames[:, col["voiced"]] > 0.5, frames[:, col["rms_db"]]
    if not np.isfinite(duration_s) or duration_s <= 0:
        duration_s = len(frames) * hop_s
    voiced_f0 = f0[voiced & (f0 > 0)]
    nan = float("nan")
    if len(voiced_f0):
        p10, p50, p90 = np.percentile(voiced_f0, [10, 50, 90])
        f0_median, f0_range = float(p50), float(12 * np.log2(p90 / p10))
    else:
        f0_median = f0_range = nan
    voiced_level = level[voiced]
    frames_of = lambda ms: int(round(ms / 1000 / hop_s))  # noqa: E731
    segments = voiced_runs(voiced, frames_of(rate.max_gap_ms), max(1, frames_of(rate.min_voiced_ms)))
    peaks = energy_peaks(
        level, voiced, frames_of(rate.smooth_ms), rate.peak_prominence_db, frames_of(rate.peak_distance_ms)
    )
    return {
        "duration_s": float(duration_s),
        "f0_median_hz": f0_median,
        "f0_range_st": f0_range,
        "level_db": float(voiced_level.mean()) if len(voiced_level) else nan,
        "level_std_db": float(voiced_level.std()) if len(voiced_level) > 1 else nan,
        "voiced_segments_per_s": segments / duration_s,
        "energy_peaks_per_s": peaks / duration_s,
    }


def measures_table(
    manifest: pd.DataFrame,
    frames_by_id: dict[str, np.ndarray],
    names: list[str],
    hop_s: float,
    rate: RateSettings,
) -> pd.DataFrame:
    """One row of MEASURES per manifest row (`utterance_id`, `speaker`, `gender`, `class_name` kept
    in front); an utterance without frame rows (skipped by the extraction) gets NaN measures."""
    missing = [c for c in FRAME_COLUMNS if c not in names]
    if missing:
        raise ValueError(
            f"the frame-level view lacks column(s) {', '.join(missing)}: it must be the sequence view"
        )
    rows = []
    for uid, duration in zip(
        manifest["utterance_id"], pd.to_numeric(manifest["duration"], errors="coerce"), strict=True
    ):
        frames = frames_by_id.get(str(uid))
        if frames is None or len(frames) == 0:
            rows.append(dict.fromkeys(MEASURES, float("nan")))
        else:
            rows.append(utterance_measures(np.asarray(frames), names, hop_s, float(duration), rate))
    table = pd.DataFrame(rows, columns=list(MEASURES))
    front = manifest[["utterance_id", "speaker", "gender", "class_name"]].reset_index(drop=True)
    return pd.concat([front, table], axis=1)
