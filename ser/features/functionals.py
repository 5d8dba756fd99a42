"""Statistics over frames ("functionals"), vectorised over a batch of variable-length segments.

Segments are padded into one (B, T, D) tensor with a mask, so each statistic is one tensor op for
the whole batch, and all percentiles come from a single sort.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

SIMPLE = ("mean", "std", "min", "max", "slope")


def check_functional(name: str) -> None:
    """Raise ValueError unless `name` is a known functional (mean, std, min, max, slope, pNN)."""
    if name in SIMPLE:
        return
    if name.startswith("p") and name[1:].replace(".", "", 1).isdigit() and 0 <= float(name[1:]) <= 100:
        return
    raise ValueError(f"unknown functional {name!r}; use mean, std, min, max, slope or pNN (a percentile)")


def functionals(
    values: torch.Tensor,
    lengths: list[int],
    names: list[str],
    frame_seconds: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Functionals of each segment: (B, D, len(names)) from `values` (sum(lengths), D).

    Segments are consecutive row ranges of `values` with the given lengths. When `mask` (a bool per
    row) is given only the rows where it is True count (e.g. voiced frames for F0). A segment with
    no counted rows gets zeros. Percentiles interpolate linearly, as numpy.percentile does; `slope`
    is the least-squares slope per second (frame times within the segment). Sums, minima and maxima
    are segment reductions over the rows (index_add / scatter_reduce); only percentiles pad the
    segments into a (B, T, D) block, for the one sort they share.
    """
    for name in names:
        check_functional(name)
    n_seg, dim = len(lengths), values.shape[1]
    dtype = values.dtype
    out = torch.zeros(n_seg, dim, len(names), dtype=dtype)
    if n_seg == 0 or not names or values.shape[0] == 0:
        return out
    lengths_t = torch.tensor(lengths)
    seg = torch.repeat_interleave(torch.arange(n_seg), lengths_t)
    starts = torch.cumsum(lengths_t, 0) - lengths_t
    pos = torch.arange(values.shape[0]) - starts[seg]
    x = values
    if mask is not None:
        keep = mask.nonzero()[:, 0]
        x, seg, pos = values[keep], seg[keep], pos[keep]
    count = torch.bincount(seg, minlength=n_seg)
    has = (count > 0)[:, None]
    denom = count.clamp_min(1).to(dtype)[:, None]
    mean = torch.zeros(n_seg, dim, dtype=dtype).index_add_(0, seg, x) / denom
    need_centred = any(n in ("std", "slope") for n in names)
    centred = x - mean[seg] if need_centred else None
    index = seg[:, None].expand(-1, dim)
    for j, name in enumerate(names):
        if name == "mean":
            res = mean
        elif name == "std":
            res = (torch.zeros(n_seg, dim, dtype=dtype).index_add_(0, seg, centred.square()) / denom).sqrt()
        elif name in ("min", "max"):
            fill = float("inf") if name == "min" else float("-inf")
            res = torch.full((n_seg, dim), fill, dtype=dtype).scatter_reduce_(0, index, x, "a" + name)
        elif name == "slope":
            t = pos.to(dtype) * frame_seconds
            t_mean = torch.zeros(n_seg, dtype=dtype).index_add_(0, seg, t) / denom[:, 0]
            dt = t - t_mean[seg]
            sxx = torch.zeros(n_seg, dtype=dtype).index_add_(0, seg, dt.square())[:, None]
            sxy = torch.zeros(n_seg, dim, dtype=dtype).index_add_(0, seg, dt[:, None] * centred)
            res = torch.where(sxx > 0, sxy / sxx.clamp_min(1e-12), torch.zeros_like(sxy))
        else:
            continue  # percentiles below
        out[:, :, j] = res
    pcts = [(j, float(name[1:]) / 100) for j, name in enumerate(names) if name.startswith("p")]
    if pcts and x.shape[0] > 0:  # (no counted row anywhere: percentiles stay zero)
        # Pad the counted rows of each segment (+inf beyond its count) and sort once for all percentiles.
        padded = pad_sequence(list(x.split(count.tolist())), batch_first=True, padding_value=float("inf"))
        sorted_x = padded.sort(dim=1).values  # (B, T, D)
        last = (count - 1).clamp_min(0)
        for j, q in pcts:
            pos_q = q * last.to(dtype)
            lo = pos_q.floor().long()
            hi = torch.minimum(lo + 1, last)
            frac = (pos_q - lo.to(dtype))[:, None]
            v_lo = sorted_x.gather(1, lo[:, None, None].expand(-1, 1, dim))[:, 0]
            v_hi = sorted_x.gather(1, hi[:, None, None].expand(-1, 1, dim))[:, 0]
            out[:, :, j] = v_lo + (v_hi - v_lo) * frac
    return torch.where(has[:, :, None], out, torch.zeros_like(out))
