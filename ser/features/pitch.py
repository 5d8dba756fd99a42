"""Batched YIN pitch tracker in torch: F0 and aperiodicity for many frames at once.

It follows librosa.yin (0.11) step for step -- FFT autocorrelation, cumulative-mean-normalised
difference, absolute threshold, parabolic refinement -- but runs on a (frames, samples) tensor
holding the frames of many utterances, so one FFT call serves a whole batch of clips.
"""

from __future__ import annotations

import numpy as np
import torch

_TINY = torch.finfo(torch.float32).tiny


def _fast_len(n: int) -> int:
    """Smallest 2**a * 3**b * 5**c >= n: a size pocketfft handles quickly."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def yin(
    frames: torch.Tensor,
    sample_rate: int,
    f0_min: float,
    f0_max: float,
    threshold: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """F0 (Hz) and aperiodicity of each row of `frames` (n_frames, frame_length).

    Aperiodicity is the normalised difference at the chosen period: near 0 for a clean periodic
    frame, near 1 or above for noise or silence. Callers decide voicing from it (and from energy).
    """
    n, length = frames.shape
    min_period = int(sample_rate // f0_max)
    max_period = min(int(-(-sample_rate // f0_min)), length - 1)
    # Lags up to max_period only need n_fft >= length + max_period for the circular ACF to equal the
    # linear one there; librosa pads to 2 * length - 1, which gives the same values at twice the cost.
    n_fft = _fast_len(length + max_period)
    spec = torch.fft.rfft(frames, n=n_fft, dim=1)
    acf = torch.fft.irfft(torch.addcmul(spec.real.square(), spec.imag, spec.imag), n=n_fft, dim=1)
    energy = torch.cumsum(frames[:, :max_period].square(), dim=1)
    # Difference function for lags 1..max_period: d(k) = 2 * (acf(0) - acf(k)) - sum_{m<k} y(m)^2
    # (as librosa), then its cumulative-mean normalisation for lags min_period..max_period.
    diff = 2 * (acf[:, :1] - acf[:, 1 : max_period + 1]) - energy
    lags = torch.arange(1, max_period + 1, dtype=frames.dtype)
    cum_mean = torch.cumsum(diff, dim=1).div_(lags)
    cmndf = diff[:, min_period - 1 :].div_(cum_mean[:, min_period - 1 :].add_(_TINY))

    # Troughs: local minima (first and last bins compare with their one neighbour), as librosa,
    # that are deeper than the threshold; the smallest such period wins, else the global minimum.
    # (numpy here: its boolean operations run several times faster than torch's on CPU)
    c = cmndf.numpy()
    deep = np.zeros(c.shape, dtype=bool)
    deep[:, 1:-1] = (c[:, 1:-1] < c[:, :-2]) & (c[:, 1:-1] <= c[:, 2:])
    deep[:, 0] = c[:, 0] < c[:, 1]
    deep[:, -1] = c[:, -1] < c[:, -2]
    deep &= c < threshold
    first_deep = deep.argmax(axis=1)
    has_deep = deep[np.arange(len(c)), first_deep]
    idx = torch.from_numpy(np.where(has_deep, first_deep, c.argmin(axis=1)))

    # Parabolic refinement around the chosen bin (no shift at the edges or when it would jump a bin).
    k = cmndf.shape[1]
    inner = (idx > 0) & (idx < k - 1)
    around = cmndf.gather(1, (idx[:, None] + torch.tensor([[-1, 0, 1]])).clamp(0, k - 1))
    left, mid, right = around.unbind(dim=1)
    a = right + left - 2 * mid
    b = (right - left) / 2
    ok = inner & (b.abs() < a.abs())
    shift = torch.where(ok, -b / torch.where(ok, a, torch.ones_like(a)), torch.zeros_like(a))
    period = min_period + idx.to(frames.dtype) + shift
    return sample_rate / period, mid
