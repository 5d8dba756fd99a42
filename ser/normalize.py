"""Feature standardisation, shared by every model family: global (training statistics) or per speaker.

Global standardisation (the data modules' `normalize: global`) uses the mean and standard deviation
of each feature over the training utterances only. Per-speaker standardisation:

Speaker-independent SER often removes each speaker's own feature means and scales (a speaker with a
high voice should not look "happy" because of it). The statistics of a speaker come from all of that
speaker's utterances, labels unseen: for a test speaker this uses only their unlabelled audio, the
usual transductive assumption in the literature, and never a test label.

Works on a feature matrix `(N, D)` (acoustic functionals) as well as on a list of per-utterance arrays
(log-mel `(F, T)`, frame sequences `(T, F)`): `feature_axis` names the axis that holds the features;
statistics pool every other axis and every utterance of the speaker.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

# Below this standard deviation a feature is treated as constant for the speaker: it is only centred,
# so a silent channel does not blow up to huge values.
MIN_STD = 1e-8


def _moved(x: np.ndarray, feature_axis: int) -> np.ndarray:
    """View of `x` with the feature axis last, flattened to (frames, features)."""
    x = np.moveaxis(np.asarray(x), feature_axis, -1)
    return x.reshape(-1, x.shape[-1])


def mean_std(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of `(frames, features)`, ignoring NaN and inf.

    A column that is NaN everywhere gets mean 0; a (nearly) constant one gets std 1, so it is only
    centred.
    """
    frames = frames.astype(np.float64)
    frames[~np.isfinite(frames)] = np.nan  # an inf must not swamp the statistics
    with warnings.catch_warnings():  # "mean of empty slice" for all-NaN columns, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(frames, axis=0)
        std = np.nanstd(frames, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > MIN_STD), std, 1.0)
    return mean, std


def feature_stats(arrays: Sequence[np.ndarray], feature_axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each feature over every frame of `arrays` (one pool)."""
    return mean_std(np.concatenate([_moved(a, feature_axis) for a in arrays]))


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray, feature_axis: int = -1) -> np.ndarray:
    """`(x - mean) / std` along `feature_axis`, float32; NaN and inf become 0, the mean."""
    shape = [1] * x.ndim
    shape[feature_axis] = -1
    out = (x - mean.reshape(shape)) / std.reshape(shape)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def speaker_stats(
    data: np.ndarray | Sequence[np.ndarray], speakers: Sequence[str], feature_axis: int = -1
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean and standard deviation of every feature, per speaker, ignoring NaN.

    `data` is a matrix (rows are utterances, `feature_axis` must then be -1 or 1) or a list of
    per-utterance arrays; `speakers[i]` is the speaker of item i.
    """
    speakers = np.asarray(speakers).astype(str)
    if len(speakers) != len(data):
        raise ValueError(f"speaker_stats: {len(data)} utterances but {len(speakers)} speaker ids")
    stats = {}
    for spk in np.unique(speakers):
        rows = np.flatnonzero(speakers == spk)
        if isinstance(data, np.ndarray) and data.ndim == 2:
            stats[str(spk)] = mean_std(data[rows])
        else:
            stats[str(spk)] = feature_stats([data[i] for i in rows], feature_axis)
    return stats


def standardize_by_speaker(
    data: np.ndarray | Sequence[np.ndarray],
    speakers: Sequence[str],
    feature_axis: int = -1,
    stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Return `data` with each speaker's features shifted to mean 0 and scaled to standard deviation 1.

    Same type and shapes as the input (a float32 matrix or a list of float32 arrays). `stats` (from
    `speaker_stats`) may be given to reuse statistics; by default they are computed from `data` itself.
    NaN and inf stay as they are (the model's imputer handles them) and do not enter the statistics;
    constant features are only centred.
    """
    speakers = np.asarray(speakers).astype(str)
    stats = speaker_stats(data, speakers, feature_axis) if stats is None else stats
    missing = sorted(set(speakers) - set(stats))
    if missing:
        raise ValueError(f"standardize_by_speaker: no statistics for speakers {missing[:5]}")
    if isinstance(data, np.ndarray) and data.ndim == 2:
        out = np.empty(data.shape, dtype=np.float32)
        for spk, (mean, std) in stats.items():
            rows = speakers == spk
            out[rows] = (data[rows] - mean) / std
        return out
    result = []
    for x, spk in zip(data, speakers, strict=True):
        mean, std = stats[spk]
        x = np.moveaxis(np.asarray(x, dtype=np.float64), feature_axis, -1)
        result.append(np.moveaxis((x - mean) / std, -1, feature_axis).astype(np.float32))
    return result


def pooled_stats(stats: dict[str, tuple[np.ndarray, np.ndarray]], speakers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One (mean, std) standing for a typical speaker: the mean of the speakers' means and the root
    mean square of their standard deviations (the within-speaker spread the model was trained on)."""
    chosen = [stats[str(s)] for s in sorted(set(map(str, speakers)))]
    if not chosen:
        raise ValueError("pooled_stats: no speakers given")
    mean = np.mean([m for m, _ in chosen], axis=0)
    std = np.sqrt(np.mean([s**2 for _, s in chosen], axis=0))
    return mean, std


def stats_with_fallback(
    data: np.ndarray | Sequence[np.ndarray],
    speakers: Sequence[str],
    seconds: dict[str, float],
    fallback: tuple[np.ndarray, np.ndarray],
    min_seconds: float,
    feature_axis: int = -1,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Per-speaker statistics for new audio: a speaker's own when they have at least `min_seconds`
    of audio (`seconds[speaker]`), else `fallback` (statistics saved at training time).

    Returns the statistics and the speakers that fell back. One short file standardised by its own
    statistics would become all zeros; the fallback keeps its features where the model expects them.
    """
    speakers = np.asarray(speakers).astype(str)
    short = sorted(s for s in set(speakers) if seconds.get(s, 0.0) < min_seconds)
    # the short speakers' own statistics are computed too (they are small) and replaced by the fallback
    return {**speaker_stats(data, speakers, feature_axis), **{s: fallback for s in short}}, short
