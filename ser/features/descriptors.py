"""Frame-level descriptors for a batch of utterances, all from one framing and one STFT.

Every utterance is framed once (centred frames, one hop), the windowed frames of the whole batch
are stacked into one (n_frames, n_fft) tensor, and every spectral descriptor comes from one batched
STFT of it; RMS and zero-crossing rate come from strided pooling over the waves on the same frame
grid. The YIN pitch tracker runs on the same frame grid over audio decimated to
`pitch_sample_rate` (8 kHz by default: F0 lies below 500 Hz, and half the samples make the
autocorrelation about four times cheaper), and only on frames loud enough to be voiced.
Only the steps that depend on a whole utterance (the dB floor relative to its loudest bin, deltas,
the energy gate for voicing) look at segments.

Definitions follow librosa (0.11) for the same parameters, which the tests check frame by frame:
power mel spectrogram in dB with a top_db floor, MFCC = orthonormal DCT-II of it, Savitzky-Golay
deltas, spectral contrast/flatness/centroid/roll-off, chroma (tuning 0), RMS and zero-crossing rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import soxr
import torch
import torch.nn.functional as F

from ser.features.config import FeatureConfig
from ser.features.filters import chroma_filters, dct_matrix, fft_frequencies, mel_filters
from ser.features.formants import FORMANT_NAMES, formants
from ser.features.functionals import row_positions, segment_ids
from ser.features.pitch import yin
from ser.features.spectral_shape import SHAPE_NAMES, spectral_shape

_TINY = torch.finfo(torch.float32).tiny
AMIN = 1e-10  # power floor before taking dB, as librosa.power_to_db
CHROMA_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclass
class FrameBatch:
    """Descriptors of a batch: each entry of `values` has one row per frame of all utterances."""

    lengths: list[int]  # frames per utterance, in batch order
    values: dict[str, torch.Tensor]  # name -> (n_frames, k)
    voiced: torch.Tensor | None  # (n_frames,) bool, when pitch was computed
    pitched: torch.Tensor | None = None  # (n_frames,) bool: frames on the pitch grid (every pitch_stride-th)
    # row masks of the descriptors computed over some frames only: voiced_pair (voiced, and so is the
    # previous pitch-grid frame: jitter, shimmer), formant (voiced with three formants found)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)


def frame_batch(
    waves: list[torch.Tensor],
    length: int,
    hop: int,
    n_frames: list[int] | None = None,
    rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """Centre-frame each wave (zero padding of length/2 each side) and stack all frames.

    Frame t of a wave is centred on sample t * hop; a wave of n samples gives 1 + n // hop frames
    (`length` even), or exactly `n_frames[i]` frames when given (to put a second rate on the same grid).
    With `rows` (indices into the stacked frames) only those frames are copied out.
    The waves are laid end to end, padded, in one buffer; every frame is a window of that buffer,
    so the frames are gathered with a single copy.
    """
    pad = length // 2
    counts = [1 + len(w) // hop if n_frames is None else n_frames[i] for i, w in enumerate(waves)]
    # each wave's padded span holds its samples and all of its frames
    spans = [max(len(w) + 2 * pad, (n - 1) * hop + length) for w, n in zip(waves, counts, strict=True)]
    buffer = torch.zeros(sum(spans), dtype=waves[0].dtype if waves else torch.float32)
    bases, base = [], 0
    for w, span in zip(waves, spans, strict=True):
        buffer[base + pad : base + pad + len(w)] = w
        bases.append(base)
        base += span
    counts_t = torch.tensor(counts)
    starts = (
        torch.repeat_interleave(torch.tensor(bases, dtype=torch.long), counts_t) + row_positions(counts) * hop
    )
    if rows is not None:
        starts = starts[rows]
    windows = buffer.unfold(0, length, 1)  # a view: row j is buffer[j : j + length]
    return windows.index_select(0, starts), counts


def rms_and_zcr(frames: torch.Tensor, win: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame RMS and zero-crossing rate over the centred `win` samples of each unwindowed frame
    of `frames` (n_frames, n_fft), as librosa.feature.rms / zero_crossing_rate (center=True, zero
    padding): the STFT's framing serves both, so no second pass over the waves."""
    start = frames.shape[1] // 2 - win // 2
    core = frames[:, start : start + win]
    rms = torch.linalg.vector_norm(core, dim=1).div_(win**0.5)
    # librosa counts sign-bit changes after zeroing |x| <= 1e-10, i.e. changes of "x < -1e-10",
    # over the win - 1 sample pairs inside each window, divided by win. (In numpy: its boolean
    # comparisons run several times faster than torch's on CPU.)
    negative = core.numpy() < -1e-10
    changes = (negative[:, 1:] != negative[:, :-1]).sum(axis=1, dtype=np.int32)
    return rms, torch.from_numpy(changes).to(frames.dtype).div_(win)


def decimate(wave: np.ndarray, factor: int) -> np.ndarray:
    """Resample to 1/factor of the rate with soxr (linear phase, delay-compensated: output j sits at
    input sample j * factor), which is several times faster here than a torch FIR."""
    if factor == 1:
        return wave
    return soxr.resample(wave, factor, 1, quality="HQ")


def _segment_max(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Per-segment maximum of `x` (rows x anything), broadcast back to one value per row."""
    seg = segment_ids(lengths)
    row_max = x.amax(dim=1) if x.ndim > 1 else x
    maxima = torch.full((len(lengths),), float("-inf"), dtype=x.dtype).scatter_reduce_(
        0, seg, row_max, "amax"
    )
    return maxima[seg]


def power_to_db(power: torch.Tensor, lengths: list[int], top_db: float) -> torch.Tensor:
    """10*log10(power) floored at each utterance's maximum minus `top_db` (librosa.power_to_db)."""
    db = 10.0 * torch.log10(power.clamp_min(AMIN))
    if top_db:
        floor = _segment_max(db, lengths) - top_db
        db = torch.maximum(db, floor[:, None])
    return db


@lru_cache(maxsize=8)
def _delta_kernel(width: int, order: int) -> torch.Tensor:
    """Savitzky-Golay derivative weights (polyorder = order) over a centred window of `width`."""
    n = torch.arange(-(width // 2), width // 2 + 1, dtype=torch.float64)
    if order == 1:
        k = n / n.square().sum()
    else:  # second derivative of a least-squares parabola: 2 * a2
        c = n.square() - n.square().mean()
        k = 2 * c / c.square().sum()
    return k.to(torch.float32)


def deltas(
    x: torch.Tensor, lengths: list[int], width: int = 9, orders: tuple[int, ...] = (1,)
) -> list[torch.Tensor]:
    """Per-utterance time derivatives of `x` (n_frames, D), as librosa.feature.delta(mode='interp'),
    one (n_frames, D) tensor per order in `orders` (1 and/or 2), from one convolution.

    Interior frames use the Savitzky-Golay kernel; in 'interp' mode the first and last width//2
    frames take the value of the nearest full window (the fitted polynomial's derivative is constant
    for polyorder = order). Utterances shorter than the window fall back to edge padding.
    """
    half, d, k = width // 2, x.shape[1], len(orders)
    # channel c * k + j is column c convolved with the kernel of orders[j]
    kernels = torch.stack([_delta_kernel(width, order).to(x.dtype) for order in orders]).repeat(d, 1)[:, None]

    def convolve(block: torch.Tensor) -> torch.Tensor:  # (n, D) -> (n, D * k), edge-padded
        padded = F.pad(block.T[None], (half, half), mode="replicate")
        return F.conv1d(padded, kernels, groups=d)[0].T

    out = convolve(x).contiguous()
    start = 0
    for n in lengths:
        if n >= width:
            out[start : start + half] = out[start + half]
            out[start + n - half : start + n] = out[start + n - half - 1]
        else:
            out[start : start + n] = convolve(x[start : start + n])
        start += n
    out = out.view(-1, d, k)
    return [out[:, :, j] for j in range(k)]  # strided views: their consumers concatenate them anyway


@lru_cache(maxsize=8)
def _window(win_length: int, n_fft: int) -> torch.Tensor:
    """Periodic Hann window of win_length, zero-padded to n_fft and centred (as librosa.stft)."""
    w = torch.hann_window(win_length, periodic=True, dtype=torch.float32)
    left = (n_fft - win_length) // 2
    return F.pad(w, (left, n_fft - win_length - left))


MEL_BLOCK = 16  # mel bands per block product in `mel_spectrum`


@lru_cache(maxsize=8)
def _mel_blocks(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> tuple[tuple[int, int, int, int, torch.Tensor], ...]:
    """The mel filter bank cut into blocks of MEL_BLOCK bands, each with the bin range it touches:
    (first band, end band, first bin, end bin, (bins, bands) weights)."""
    fb = mel_filters(sr, n_fft, n_mels, fmin, fmax)
    blocks = []
    for b0 in range(0, n_mels, MEL_BLOCK):
        b1 = min(b0 + MEL_BLOCK, n_mels)
        used = np.flatnonzero(fb[b0:b1].any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
        blocks.append((b0, b1, lo, hi, torch.from_numpy(np.ascontiguousarray(fb[b0:b1, lo:hi].T))))
    return tuple(blocks)


def mel_spectrum(
    power: torch.Tensor, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> torch.Tensor:
    """Mel band powers (n_frames, n_mels) of a power spectrum (n_frames, n_bins). Each triangular
    filter touches few bins, so products over blocks of bands and just their bins do about a third
    of a dense matmul's work (and run about twice as fast)."""
    out = torch.empty(power.shape[0], n_mels, dtype=power.dtype)
    for b0, b1, lo, hi, weights in _mel_blocks(sr, n_fft, n_mels, fmin, fmax):
        torch.matmul(power[:, lo:hi], weights, out=out[:, b0:b1])
    return out


@lru_cache(maxsize=8)
def _chroma_projection(sr: int, n_fft: int, n_chroma: int) -> torch.Tensor:
    """(n_bins, n_chroma + 1): chroma filters, and 1/n_bins (the mean power)."""
    n_bins = n_fft // 2 + 1
    rows = [chroma_filters(sr, n_fft, n_chroma), np.full((1, n_bins), 1.0 / n_bins)]
    return torch.from_numpy(np.concatenate(rows).T.astype(np.float32)).contiguous()


@lru_cache(maxsize=8)
def _mag_projection(sr: int, n_fft: int) -> torch.Tensor:
    """(n_bins, 2): bin frequencies and ones, for the spectral centroid's numerator and denominator."""
    freqs = fft_frequencies(sr, n_fft)
    return torch.from_numpy(np.stack([freqs, np.ones_like(freqs)], axis=1).astype(np.float32)).contiguous()


@lru_cache(maxsize=8)
def _contrast_bands(sample_rate: int, n_fft: int, fmin: float, n_bands: int, quantile: float):
    """Bin indices and tail size of each spectral-contrast band (librosa.feature.spectral_contrast)."""
    freq = fft_frequencies(sample_rate, n_fft)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    bands = []
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        current = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(current)
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1 :] = True
        bins = np.flatnonzero(current)
        n_tail = int(max(np.rint(quantile * current.sum()), 1))
        if k < n_bands:
            bins = bins[:-1]
        assert np.all(np.diff(bins) == 1), "contrast bands must be contiguous"
        bands.append((bins, n_tail))
    return bands


def _mean_of_two_smallest(x: torch.Tensor) -> torch.Tensor:
    """Mean of the two smallest values of each column of `x` (rows >= 2), by a knockout tournament
    over row pairs: (smallest, second smallest) of a union is (min(a1, b1), min(max(a1, b1), a2, b2)).
    About log2(rows) rounds of elementwise min/max, no sort and no boolean masks."""
    rounds = max(1, (x.shape[0] - 1).bit_length())
    if x.shape[0] < 2**rounds:  # pad to a power of two once, so every round pairs all rows
        x = torch.cat([x, torch.full((2**rounds - x.shape[0], x.shape[1]), float("inf"), dtype=x.dtype)])
    first, second = torch.minimum(x[0::2], x[1::2]), torch.maximum(x[0::2], x[1::2])
    while first.shape[0] > 1:
        a1, b1, a2, b2 = first[0::2], first[1::2], second[0::2], second[1::2]
        first, second = torch.minimum(a1, b1), torch.minimum(torch.maximum(a1, b1), torch.minimum(a2, b2))
    return (first[0] + second[0]) / 2


def _mean_of_extremes(x: torch.Tensor, n: int, largest: bool) -> torch.Tensor:
    """Mean of the n largest (or smallest) values of each column of `x` (bins, frames): with the
    bins as rows every reduction is an elementwise min/max across rows, which vectorises well."""
    if n == 1:
        return x.amax(dim=0) if largest else x.amin(dim=0)
    if n == 2:
        return -_mean_of_two_smallest(-x) if largest else _mean_of_two_smallest(x)
    s = x.sort(dim=0).values
    return s[-n:].mean(dim=0) if largest else s[:n].mean(dim=0)


def spectral_contrast(mag_t: torch.Tensor, lengths: list[int], cfg: FeatureConfig) -> torch.Tensor:
    """Peak-to-valley ratio in dB per octave band: (n_frames, contrast_bands + 1), from the
    magnitude spectrum laid out as (bins, frames)."""
    bands = _contrast_bands(
        cfg.sample_rate, cfg.fft_size, cfg.contrast_fmin, cfg.contrast_bands, cfg.contrast_quantile
    )
    peak = torch.empty(len(bands), mag_t.shape[1], dtype=mag_t.dtype)
    valley = torch.empty_like(peak)
    for k, (bins, n_tail) in enumerate(bands):
        sub = mag_t[int(bins[0]) : int(bins[-1]) + 1]  # bands are contiguous bin ranges
        valley[k] = _mean_of_extremes(sub, n_tail, largest=False)
        peak[k] = _mean_of_extremes(sub, n_tail, largest=True)
    return power_to_db(peak.T, lengths, 80.0) - power_to_db(valley.T, lengths, 80.0)


# Entries computed only when asked for (`wanted`): the acoustic view's ComParE/eGeMAPS-style additions.
OPTIONAL = ("spectral_shape", "loudness", "jitter", "shimmer", "formants", "lld_delta")
# Frame descriptors whose deltas make up `lld_delta` (spectral_shape's columns too when computed).
DELTA_SOURCES = ("centroid", "rolloff", "flatness", "zcr", "rms_db", "spectral_shape")


def compute_descriptors(
    waves: list[np.ndarray], cfg: FeatureConfig, logmel_only: bool = False, wanted: set[str] | None = None
) -> FrameBatch:
    """Frame-level descriptors of `waves` (float32 mono at cfg.sample_rate), batched.

    With `logmel_only` only the log-mel spectrogram ("logmel", dB) is computed. Otherwise the entries
    are logmel, mfcc, mfcc_delta, mfcc_delta2, contrast, chroma, centroid, rolloff, flatness, zcr,
    rms, rms_db, f0 (0 when unvoiced), voiced, hnr_db, and those of OPTIONAL that `wanted` names
    (all of them when `wanted` is None): spectral_shape (ser.features.spectral_shape), loudness (sum
    of the mel band powers ** 0.3, Stevens' power law as in openSMILE's loudness), jitter and shimmer
    (on voiced_pair frames: relative F0 change and absolute dB change from the previous pitch-grid
    frame; frame-level perturbation, not period-to-period as Praat's), formants (F1-F3 and bandwidths,
    ser.features.formants, on formant frames).
    """
    wanted = set(OPTIONAL) if wanted is None else set(wanted)
    sr, hop, n_fft, win = cfg.sample_rate, cfg.hop_length, cfg.fft_size, cfg.win_length
    tensors = [torch.from_numpy(w) for w in waves]
    n_mels = cfg.n_mels
    # The unwindowed frames serve the STFT (after windowing) and the RMS / zero-crossing rate.
    raw, lengths = frame_batch(tensors, n_fft, hop)
    rms, zcr = (None, None) if logmel_only else rms_and_zcr(raw, win)
    spec = torch.fft.rfft(raw.mul_(_window(win, n_fft)), dim=1)
    del raw
    power = torch.addcmul(spec.real.square(), spec.imag, spec.imag)
    del spec

    mel_power = mel_spectrum(power, sr, n_fft, n_mels, float(cfg.fmin), cfg.mel_fmax)
    logmel = power_to_db(mel_power, lengths, cfg.top_db)
    values: dict[str, torch.Tensor] = {"logmel": logmel}
    if logmel_only:
        return FrameBatch(lengths, values, None)
    mfcc = logmel @ torch.from_numpy(dct_matrix(cfg.n_mfcc, n_mels)).T
    values["mfcc"] = mfcc
    if cfg.mfcc_deltas:
        orders = (1, 2)[: cfg.mfcc_deltas]
        names = ("mfcc_delta", "mfcc_delta2")[: cfg.mfcc_deltas]
        values.update(zip(names, deltas(mfcc, lengths, cfg.delta_width, orders), strict=True))
    # One matmul maps the power spectrum to the chroma bins and the mean power.
    projected = power @ _chroma_projection(sr, n_fft, cfg.n_chroma)
    raw_chroma = projected[:, : cfg.n_chroma]
    peak = raw_chroma.amax(dim=1, keepdim=True)
    values["chroma"] = raw_chroma / torch.where(peak < _TINY, torch.ones_like(peak), peak)
    # Flatness = geometric / arithmetic mean of the power (floored at AMIN, as librosa).
    log_power = power.clamp_min(AMIN).log_()
    values["flatness"] = (torch.exp(log_power.mean(dim=1)) / projected[:, -1].clamp_min(AMIN))[:, None]
    if "loudness" in wanted:
        values["loudness"] = mel_power.clamp_min(0).pow(0.3).sum(dim=1, keepdim=True)
    del mel_power

    # The magnitude descriptors reduce over bins within each frame: with the spectrum laid out as
    # (bins, frames) those reductions become elementwise operations across rows, several times faster.
    mag_t = power.T.contiguous().sqrt_()
    if "spectral_shape" in wanted:
        starts = row_positions(lengths) == 0
        shape = spectral_shape(power, log_power, mag_t, starts, sr, n_fft)
        values["spectral_shape"] = torch.cat([shape[n] for n in SHAPE_NAMES], dim=1)
    del power, log_power
    values["contrast"] = spectral_contrast(mag_t, lengths, cfg)
    weighted = _mag_projection(sr, n_fft).T @ mag_t  # (sum f * |X|, sum |X|) per frame
    mag_sum = weighted[1]
    values["centroid"] = (weighted[0] / torch.where(mag_sum < _TINY, torch.ones_like(mag_sum), mag_sum))[
        :, None
    ]
    cum = mag_t.cumsum(dim=0)
    # Roll-off: the first bin whose cumulative magnitude reaches the share (cum is non-decreasing,
    # so that bin's index is the count of bins below the share).
    below = cum.numpy() < (cfg.rolloff * cum[-1]).numpy()  # (numpy: faster boolean ops)
    first = torch.from_numpy(below.sum(axis=0, dtype=np.int64))
    freqs = torch.from_numpy(fft_frequencies(sr, n_fft)).to(mag_t.dtype)
    values["rolloff"] = freqs[first.clamp_max(len(freqs) - 1)][:, None]

    values["zcr"] = zcr[:, None]
    rms_db = 20.0 * torch.log10(rms.clamp_min(1e-5))
    values["rms"] = rms[:, None]
    values["rms_db"] = rms_db[:, None]

    # Voiced: clearly periodic and not far below the utterance's loudest frame (and not digital
    # silence). Quiet frames can never be voiced, so YIN only runs on the loud ones, and only on
    # frames of the pitch grid (every pitch_stride-th frame; others read as unvoiced).
    loud_enough = (rms_db >= _segment_max(rms_db, lengths) + cfg.voicing_min_db) & (rms > 1e-4)
    pitched = row_positions(lengths) % cfg.pitch_stride == 0
    factor = cfg.pitch_decimation
    loud = (loud_enough & pitched).nonzero()[:, 0]
    f0 = torch.zeros_like(rms)
    aperiodicity = torch.ones_like(rms)
    pitch_frames = torch.zeros(0, cfg.yin_length)
    if len(loud):
        low = [torch.from_numpy(decimate(w, factor)) for w in waves]
        pitch_frames, _ = frame_batch(low, cfg.yin_length, hop // factor, n_frames=lengths, rows=loud)
        f0_loud, ap_loud = yin(pitch_frames, cfg.pitch_sample_rate, cfg.f0_min, cfg.f0_max, cfg.yin_threshold)
        f0[loud], aperiodicity[loud] = f0_loud, ap_loud
    voiced = (aperiodicity < cfg.voicing_threshold) & loud_enough & pitched & torch.isfinite(f0)
    masks: dict[str, torch.Tensor] = {}
    if "formants" in wanted:
        # LPC on the voiced frames' YIN windows (already framed at pitch_sample_rate: F1-F3 lie below 4 kHz)
        on_loud = voiced[loud]
        found, ok = formants(pitch_frames[on_loud], cfg.pitch_sample_rate)
        rows = loud[on_loud]
        values["formants"] = torch.zeros(len(rms), len(FORMANT_NAMES))
        values["formants"][rows] = found
        masks["formant"] = torch.zeros_like(voiced)
        masks["formant"][rows[ok]] = True
    if "jitter" in wanted or "shimmer" in wanted:
        s = cfg.pitch_stride
        pair = torch.zeros_like(voiced)
        pair[s:] = voiced[s:] & voiced[:-s] & (row_positions(lengths)[s:] >= s)
        prev_f0 = torch.cat([f0[:s], f0[:-s]])
        prev_db = torch.cat([rms_db[:s], rms_db[:-s]])
        jitter = (f0 - prev_f0).abs() / ((f0 + prev_f0) / 2).clamp_min(1.0)
        values["jitter"] = torch.where(pair, jitter, torch.zeros_like(jitter))[:, None]
        values["shimmer"] = torch.where(pair, (rms_db - prev_db).abs(), torch.zeros_like(jitter))[:, None]
        masks["voiced_pair"] = pair
    values["f0"] = torch.where(voiced, f0, torch.zeros_like(f0))[:, None]
    values["voiced"] = voiced.to(rms.dtype)[:, None]
    # Harmonics-to-noise ratio from the periodicity r = 1 - aperiodicity (Boersma 1993: 10 log10 r/(1-r)).
    r = (1.0 - aperiodicity).clamp(1e-4, 1 - 1e-4)
    values["hnr_db"] = (10.0 * torch.log10(r / (1 - r)))[:, None]
    if "lld_delta" in wanted:  # Savitzky-Golay deltas of the spectral and energy descriptors, as MFCC's
        sources = torch.cat([values[e] for e in DELTA_SOURCES if e in values], dim=1)
        values["lld_delta"] = deltas(sources, lengths, cfg.delta_width, (1,))[0].contiguous()
    return FrameBatch(lengths, values, voiced, pitched, masks)


def descriptor_names(cfg: FeatureConfig) -> dict[str, list[str]]:
    """Column names of each descriptor entry that compute_descriptors returns (same order)."""
    names: dict[str, list[str]] = {
        "logmel": [f"mel{i + 1:02d}" for i in range(cfg.n_mels)],
        "mfcc": [f"mfcc{i + 1}" for i in range(cfg.n_mfcc)],
    }
    if cfg.mfcc_deltas >= 1:
        names["mfcc_delta"] = [f"mfcc{i + 1}_d" for i in range(cfg.n_mfcc)]
    if cfg.mfcc_deltas >= 2:
        names["mfcc_delta2"] = [f"mfcc{i + 1}_dd" for i in range(cfg.n_mfcc)]
    names["contrast"] = [f"contrast{i + 1}" for i in range(cfg.contrast_bands + 1)]
    chroma = CHROMA_NAMES if cfg.n_chroma == 12 else [str(i + 1) for i in range(cfg.n_chroma)]
    names["chroma"] = [f"chroma_{c}" for c in chroma]
    for single in ("centroid", "rolloff", "flatness", "zcr", "rms", "rms_db", "f0", "voiced", "hnr_db"):
        names[single] = [single]
    names["spectral_shape"] = list(SHAPE_NAMES)
    for single in ("loudness", "jitter", "shimmer"):
        names[single] = [single]
    names["formants"] = list(FORMANT_NAMES)
    sources = [n for e in DELTA_SOURCES[:-1] for n in names[e]] + list(SHAPE_NAMES)
    names["lld_delta"] = [f"{n}_d" for n in sources]
    return names
