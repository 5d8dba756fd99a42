"""The three feature views, computed for a batch of waveforms from one set of frame descriptors.

Each view returns, per utterance, its "rows" as stored in the cache: logmel (T, n_mels), acoustic
(1, D), sequence (T, D) or (chunks, D); `feature_names` gives the D (or n_mels) column names.
"""

from __future__ import annotations

import numpy as np
import torch

from ser.features.config import FeatureConfig
from ser.features.descriptors import compute_descriptors, descriptor_names
from ser.features.functionals import check_functional, functionals, grouped_functionals, segment_ids
from ser.features.rhythm import RHYTHM_NAMES, rhythm

# Acoustic view: descriptor groups and the entries in each (functionals come from cfg.functionals).
ACOUSTIC_GROUPS: dict[str, list[str]] = {
    "mfcc": ["mfcc"],
    "mfcc_delta": ["mfcc_delta"],
    "mfcc_delta2": ["mfcc_delta2"],
    "logmel": ["logmel"],
    "contrast": ["contrast"],
    "chroma": ["chroma"],
    "spectral": ["centroid", "rolloff", "flatness", "zcr"],
    "energy": ["rms", "rms_db"],
    "pitch": ["f0"],  # over voiced frames only
    "voice": ["hnr_db"],  # over voiced frames only
    "spectral_shape": ["spectral_shape"],  # spread ... hammarberg (ser.features.spectral_shape)
    "loudness": ["loudness"],
    "perturbation": ["jitter", "shimmer"],  # over consecutive voiced pitch-grid frames only
    "formants": ["formants"],  # F1-F3 and bandwidths, over voiced frames where all three were found
    "lld_delta": ["lld_delta"],  # deltas of centroid, rolloff, flatness, zcr, rms_db and spectral_shape
}
# Groups computed over some frames only: the FrameBatch mask each one counts (others: every frame).
GROUP_MASKS = {"pitch": "voiced", "voice": "voiced", "perturbation": "voiced_pair", "formants": "formant"}
# Whole-utterance scalars appended to the acoustic vector.
SCALARS = ["voicing_ratio", "signal_abs_mean", "signal_std"]
# Sequence view: frame descriptors in column order (log-mel bands appended when include_logmel).
SEQUENCE_ENTRIES = [
    "mfcc", "mfcc_delta", "mfcc_delta2", "contrast", "chroma",
    "centroid", "rolloff", "flatness", "zcr", "rms", "rms_db", "f0", "voiced", "hnr_db",
]  # fmt: skip


def _acoustic_groups(cfg: FeatureConfig) -> list[tuple[str, list[str], list[str]]]:
    """(group, entries, functionals) for each group present under this config."""
    out = []
    for group, entries in ACOUSTIC_GROUPS.items():
        funcs = list(cfg.functionals.get(group, []))
        for f in funcs:
            check_functional(f)
        if group == "mfcc_delta" and cfg.mfcc_deltas < 1 or group == "mfcc_delta2" and cfg.mfcc_deltas < 2:
            continue
        if funcs:
            out.append((group, entries, funcs))
    return out


def _sequence_entries(cfg: FeatureConfig) -> list[str]:
    entries = [e for e in SEQUENCE_ENTRIES if e in descriptor_names(cfg)]
    return entries + (["logmel"] if cfg.include_logmel else [])


def feature_names(cfg: FeatureConfig) -> list[str]:
    """Column names of the view: mel band names, acoustic functionals, or sequence descriptors."""
    dnames = descriptor_names(cfg)
    if cfg.view == "logmel":
        return dnames["logmel"]
    if cfg.view == "acoustic":
        names = []
        for _, entries, funcs in _acoustic_groups(cfg):
            for entry in entries:
                names += [f"{col}_{f}" for col in dnames[entry] for f in funcs]
        return names + SCALARS + (RHYTHM_NAMES if cfg.rhythm else [])
    cols = [c for e in _sequence_entries(cfg) for c in dnames[e]]
    if cfg.chunks:
        return [f"{c}_{f}" for c in cols for f in cfg.chunk_functionals]
    return cols


def _chunk_index(lengths: list[int], n_chunks: int) -> tuple[torch.Tensor, list[int]]:
    """Row indices and lengths of n_chunks equal chunks per utterance (a frame is reused when T < n)."""
    index, sizes, start = [], [], 0
    for n in lengths:
        for i in range(n_chunks):
            lo, hi = (i * n) // n_chunks, ((i + 1) * n) // n_chunks
            if hi <= lo:  # fewer frames than chunks: this chunk is the one frame it falls on
                lo, hi = min(lo, n - 1), min(lo, n - 1) + 1
            index.append(torch.arange(start + lo, start + hi))
            sizes.append(hi - lo)
        start += n
    return torch.cat(index), sizes


def _signal_stats(wave: np.ndarray) -> tuple[float, float]:
    """Mean absolute amplitude and standard deviation of a wave (numpy's pairwise sums and a BLAS
    dot product: about twice as fast as abs().mean() and std())."""
    if len(wave) == 0:
        return 0.0, 0.0
    n = len(wave)
    mean = float(wave.sum()) / n
    mean_square = float(np.dot(wave, wave)) / n
    return float(np.abs(wave).sum()) / n, max(mean_square - mean * mean, 0.0) ** 0.5


def compute_view(waves: list[np.ndarray], cfg: FeatureConfig) -> list[np.ndarray]:
    """Stored rows of each wave for cfg.view, float32 and finite (see module docstring for shapes)."""
    if cfg.view == "acoustic":
        wanted = {e for _, entries, _ in _acoustic_groups(cfg) for e in entries}
        if "lld_delta" in wanted:  # its columns include the deltas of spectral_shape
            wanted.add("spectral_shape")
    else:
        wanted = set(_sequence_entries(cfg))
    batch = compute_descriptors(waves, cfg, logmel_only=cfg.view == "logmel", wanted=wanted)
    lengths, values = batch.lengths, batch.values
    frame_s = cfg.hop_length / cfg.sample_rate
    if cfg.view == "logmel":
        out, split = values["logmel"], lengths
    elif cfg.view == "acoustic":
        # One call per mask (all frames, voiced frames, ...): each statistic is computed once for every
        # column that asks for it, and one sort serves all percentiles.
        groups = _acoustic_groups(cfg)
        masks = {"voiced": batch.voiced, **batch.masks}
        by_group: dict[int, torch.Tensor] = {}
        for mask_name in dict.fromkeys([None, *GROUP_MASKS.values()]):
            members = [i for i, (group, _, _) in enumerate(groups) if GROUP_MASKS.get(group) == mask_name]
            if not members:
                continue
            columns = torch.cat([values[e] for i in members for e in groups[i][1]], dim=1)
            spec = [(sum(values[e].shape[1] for e in groups[i][1]), groups[i][2]) for i in members]
            mask = masks[mask_name] if mask_name else None
            stats = grouped_functionals(columns, lengths, spec, frame_s, mask=mask)
            for i, block in zip(members, stats, strict=True):
                by_group[i] = block.flatten(1)
        parts = [by_group[i] for i in range(len(groups))]
        # share of voiced frames among those the pitch tracker looked at (the pitch grid)
        seg = segment_ids(lengths)
        on_grid = torch.bincount(seg[batch.pitched], minlength=len(lengths))
        voiced_ratio = torch.bincount(seg[batch.voiced], minlength=len(lengths)) / on_grid.clamp_min(1)
        signal = torch.tensor([_signal_stats(w) for w in waves], dtype=torch.float32).reshape(-1, 2)
        parts.append(torch.cat([voiced_ratio[:, None], signal], dim=1))
        if cfg.rhythm:
            voiced = batch.voiced.numpy()
            rms_db = values["rms_db"][:, 0].numpy()
            bounds = np.cumsum([0, *lengths])
            rows = [rhythm(voiced[a:b], rms_db[a:b], cfg.pitch_stride, frame_s) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            parts.append(torch.from_numpy(np.stack(rows)).reshape(len(lengths), len(RHYTHM_NAMES)))
        out, split = torch.cat(parts, dim=1), [1] * len(lengths)
    else:
        x = torch.cat([values[e] for e in _sequence_entries(cfg)], dim=1)
        if cfg.chunks:
            index, sizes = _chunk_index(lengths, cfg.chunks)
            pooled = functionals(x.index_select(0, index), sizes, cfg.chunk_functionals, frame_s).flatten(1)
            out, split = pooled, [cfg.chunks] * len(lengths)
        else:
            out, split = x, lengths
    # Last line of defence: no NaN or inf ever reaches a model.
    out = torch.nan_to_num(out.to(torch.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return [r.numpy() for r in out.split(split)]
