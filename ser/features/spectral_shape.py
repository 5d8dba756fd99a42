"""Spectral-shape descriptors of the ComParE / eGeMAPS sets, batched over all frames of a batch.

From the power spectrum of every frame (the STFT that serves the other descriptors):
- `spread`, `skewness`, `kurtosis`: central moments of the frequency distribution given by the
  normalised magnitude spectrum (librosa's spectral_bandwidth is `spread`), in kHz;
- `entropy`: Shannon entropy of the normalised power spectrum, divided by log(number of bins) (0..1);
- `flux`: squared change of the L1-normalised magnitude spectrum from the previous frame
  (0 on each utterance's first frame);
- `slope_0_500`, `slope_500_1500`: least-squares slope of the dB power spectrum over 0-500 Hz and
  500-1500 Hz, dB per kHz (eGeMAPS' spectral slopes);
- `alpha_ratio`: energy below 1 kHz over energy 1-5 kHz, dB (eGeMAPS: 50-1000 over 1000-5000 Hz);
- `hammarberg`: strongest bin below 2 kHz over the strongest 2-5 kHz, dB.
Band edges above Nyquist are clipped to it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ser.features.filters import fft_frequencies

SHAPE_NAMES = [
    "spread", "skewness", "kurtosis", "entropy", "flux",
    "slope_0_500", "slope_500_1500", "alpha_ratio", "hammarberg",
]  # fmt: skip
_DB = 10.0 / np.log(10.0)  # natural log of power -> dB
_EPS = 1e-10


@lru_cache(maxsize=8)
def _projections(sr: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, slice]]:
    """Matmul weights: (n_bins, 5) raw moments [1, f, f^2, f^3, f^4] (f in kHz) of the magnitude;
    (n_bins, 4) [slope 0-500, slope 500-1500 (for natural-log power), energy 50-1000, energy
    1000-5000 (for power)]; and the bin ranges of the Hammarberg bands."""
    f = fft_frequencies(sr, n_fft) / 1000.0
    moments = np.stack([f**k for k in range(5)], axis=1)
    nyq = sr / 2000.0

    def band(lo: float, hi: float) -> np.ndarray:
        return (f >= min(lo, nyq)) & (f <= min(hi, nyq))

    lin = np.zeros((len(f), 4))
    for j, (lo, hi) in enumerate([(0.0, 0.5), (0.5, 1.5)]):
        inside = band(lo, hi)
        if inside.sum() >= 2:
            d = np.where(inside, f - f[inside].mean(), 0.0)
            lin[:, j] = _DB * d / (d**2).sum()
    lin[:, 2] = band(0.05, 1.0)
    lin[:, 3] = band(1.0, 5.0)
    low, high = np.flatnonzero(band(0.0, 2.0)), np.flatnonzero(band(2.0, 5.0))
    ranges = {"low": slice(int(low[0]), int(low[-1]) + 1)}
    ranges["high"] = slice(int(high[0]), int(high[-1]) + 1) if len(high) else ranges["low"]
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return as_t(moments), as_t(lin.T).T, ranges  # lin column-major: each column contiguous for mv


def spectral_shape(
    power: torch.Tensor,
    log_power: torch.Tensor,
    mag_t: torch.Tensor,
    seg_start: torch.Tensor,
    sr: int,
    n_fft: int,
) -> dict[str, torch.Tensor]:
    """The SHAPE_NAMES descriptors, each (n_frames, 1).

    `power` and `log_power` (natural log, floored) are (n_frames, n_bins); `mag_t` is the magnitude
    laid out as (n_bins, n_frames); `seg_start` is True on each utterance's first frame.
    """
    moments_w, lin_w, bands = _projections(sr, n_fft)
    # Central moments from raw ones, in float64: the f^4 terms cancel badly in float32.
    raw = (moments_w.T @ mag_t).to(torch.float64)  # (5, n_frames)
    total = raw[0].clamp_min(_EPS)
    m1, m2, m3, m4 = (raw[k] / total for k in range(1, 5))
    var = (m2 - m1**2).clamp_min(0)
    mu3 = m3 - 3 * m1 * m2 + 2 * m1**3
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    flat = var < 1e-12
    spread = var.sqrt()
    skewness = torch.where(flat, 0.0, mu3 / var.clamp_min(1e-12).pow(1.5))
    kurtosis = torch.where(flat, 0.0, mu4 / var.clamp_min(1e-12).square())

    # Entropy of p = P / S: -sum p log p = log S - sum(P log P) / S. (Matrix-vector products below: a
    # skinny (frames, bins) x (bins, 2) matmul costs several times more on CPU.)
    p_sum = power.sum(dim=1).clamp_min(_EPS)
    plogp = (power * log_power).sum(dim=1)
    entropy = (p_sum.log() - plogp / p_sum) / np.log(power.shape[1])

    # Flux of q = m / sum(m): |q_t - q_t-1|^2 = A_t / S_t^2 + A_t-1 / S_t-1^2 - 2 C_t / (S_t S_t-1) with
    # A = sum m^2 (the power sum), S = sum m and C_t = m_t . m_t-1, without forming q.
    m_sum = raw[0].to(mag_t.dtype).clamp_min(_EPS)
    a = p_sum / m_sum.square()
    cross = (mag_t[:, 1:] * mag_t[:, :-1]).sum(dim=0) / (m_sum[1:] * m_sum[:-1])
    flux = torch.zeros(mag_t.shape[1], dtype=mag_t.dtype)
    flux[1:] = (a[1:] + a[:-1] - 2 * cross).clamp_min(0)
    flux[seg_start] = 0.0

    slopes = [torch.mv(log_power, lin_w[:, j]) for j in (0, 1)]  # dB per kHz
    low_e, high_e = (torch.mv(power, lin_w[:, j]).clamp_min(_EPS) for j in (2, 3))  # band energies
    alpha = _DB * (low_e.log() - high_e.log())
    low, high = (mag_t[bands[b]].amax(dim=0).clamp_min(_EPS).log10() for b in ("low", "high"))
    hammarberg = 20.0 * (low - high)
    cols = [spread, skewness, kurtosis, entropy, flux, slopes[0], slopes[1], alpha, hammarberg]
    return {n: c.to(torch.float32)[:, None] for n, c in zip(SHAPE_NAMES, cols, strict=True)}
