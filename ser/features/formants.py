"""Formants F1-F3 and their bandwidths from batched LPC, as in Praat / openSMILE's formant trackers
(no tracking across frames: each frame's lowest three resonances).

Per frame: remove the mean, pre-emphasise (0.97), Hamming window, autocorrelation (one batched FFT),
Levinson-Durbin recursion (vectorised over frames), then the roots of the LPC polynomial as the
eigenvalues of its companion matrices (one batched call). A root r with positive angle is a
resonance at angle * sr / 2pi Hz with bandwidth -ln|r| * sr / pi Hz; resonances above 90 Hz, below
Nyquist - 50 Hz and narrower than 400 Hz count (the usual formant criteria). A frame with fewer
than three such resonances has no formants (the `ok` mask).
"""

from __future__ import annotations

import numpy as np
import torch

N_FORMANTS = 3
FORMANT_NAMES = [f"F{i + 1}" for i in range(N_FORMANTS)] + [f"F{i + 1}_bw" for i in range(N_FORMANTS)]


def lpc(frames: torch.Tensor, order: int) -> torch.Tensor:
    """LPC coefficients a (n, order + 1), a[:, 0] = 1, of each row of `frames` (windowed, float32),
    by Levinson-Durbin on the autocorrelation (float64: the recursion is ill-conditioned in float32)."""
    n, length = frames.shape
    n_fft = 1 << (length + order).bit_length()
    spec = torch.fft.rfft(frames, n=n_fft, dim=1)
    r = torch.fft.irfft(spec.real.square() + spec.imag.square(), n=n_fft, dim=1)[:, : order + 1].double()
    r[:, 0] = r[:, 0] * (1 + 1e-9) + 1e-12  # white-noise floor: silent frames stay finite
    a = torch.zeros(n, order + 1, dtype=torch.float64)
    a[:, 0] = 1.0
    err = r[:, 0].clone()
    for i in range(1, order + 1):
        acc = (a[:, :i] * r[:, 1 : i + 1].flip(1)).sum(dim=1)  # sum_j a[j] r[i - j]
        k = -acc / err
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, :i].flip(1)  # a[j] += k a[i - j]
        err = err * (1 - k * k)
    return a


def formants(frames: torch.Tensor, sample_rate: int, order: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 6) [F1, F2, F3, bandwidths] in Hz and an (n,) bool `ok` for each row of `frames`."""
    n, length = frames.shape
    out = torch.zeros(n, 2 * N_FORMANTS)
    if n == 0:
        return out, torch.zeros(0, dtype=torch.bool)
    x = frames - frames.mean(dim=1, keepdim=True)
    x = torch.cat([x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], dim=1)
    x = x * torch.hamming_window(length, periodic=False, dtype=x.dtype)
    a = lpc(x, order)
    companion = torch.zeros(n, order, order, dtype=torch.float64)
    companion[:, 0, :] = -a[:, 1:]
    idx = torch.arange(order - 1)
    companion[:, idx + 1, idx] = 1.0
    roots = torch.linalg.eigvals(companion)  # (n, order) complex
    angle, radius = roots.angle(), roots.abs().clamp_min(1e-12)
    freq = angle * sample_rate / (2 * np.pi)
    bw = -radius.log() * sample_rate / np.pi
    valid = (angle > 0) & (freq > 90) & (freq < sample_rate / 2 - 50) & (bw < 400)
    freq = torch.where(valid, freq, torch.full_like(freq, float("inf")))
    freq, order_idx = freq.sort(dim=1)
    bw = bw.gather(1, order_idx)
    ok = torch.isfinite(freq[:, N_FORMANTS - 1])
    out[ok, :N_FORMANTS] = freq[ok, :N_FORMANTS].float()
    out[ok, N_FORMANTS:] = bw[ok, :N_FORMANTS].float()
    return out, ok
