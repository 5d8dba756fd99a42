"""Statistics over frames ("functionals"), vectorised over a batch of variable-length segments.

Segments are consecutive row ranges of one (rows, D) tensor. Sums, minima and maxima are segment
reductions over the rows (index_add / scatter_reduce), so each statistic is one tensor op for the
whole batch; only percentiles pad the segments into a (B, T, D) block, for a single sort.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

SIMPLE = ("mean", "std", "min", "max", "slope")
# Functionals beyond SIMPLE and pNN (openSMILE/ComParE-style): interquartile range p75 - p25, range
# max - min, skewness and (plain) kurtosis, the share of rising frame pairs, and the RMS error of the
# least-squares line (what `slope` leaves unexplained).
EXTRA = ("iqr", "range", "skew", "kurt", "rise", "linerr")


@lru_cache(maxsize=8)
def _segment_layout(lengths: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(segment of each row, position of each row within its segment) for consecutive segments."""
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    seg = torch.repeat_interleave(torch.arange(len(lengths)), lengths_t)
    starts = torch.cumsum(lengths_t, 0) - lengths_t
    return seg, torch.arange(int(lengths_t.sum())) - starts[seg]


def segment_ids(lengths: list[int]) -> torch.Tensor:
    """The segment index of each row, for consecutive segments of these lengths (read-only: the
    tensor is shared between the calls on one batch)."""
    return _segment_layout(tuple(lengths))[0]


def row_positions(lengths: list[int]) -> torch.Tensor:
    """The index of each row within its own segment (read-only, shared like `segment_ids`)."""
    return _segment_layout(tuple(lengths))[1]


def check_functional(name: str) -> None:
    """Raise ValueError unless `name` is a known functional (mean, std, min, max, slope, pNN)."""
    if name in SIMPLE or name in EXTRA:
        return
    if name.startswith("p") and name[1:].replace(".", "", 1).isdigit() and 0 <= float(name[1:]) <= 100:
        return
    raise ValueError(
        f"unknown functional {name!r}; use mean, std, min, max, slope, pNN (a percentile), {', '.join(EXTRA)}"
    )


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
    is the least-squares slope per second (frame times within the segment).
    """
    return grouped_functionals(values, lengths, [(values.shape[1], names)], frame_seconds, mask)[0]


class _Selection:
    """The columns of the groups that ask for one statistic, and where each group sits among them."""

    def __init__(self, ranges: list[tuple[int, int]], chosen: list[int], n_cols: int) -> None:
        self.offsets: dict[int, int] = {}
        width = 0
        for g in chosen:
            self.offsets[g] = width
            width += ranges[g][1] - ranges[g][0]
        self.width = width
        merged: list[list[int]] = []  # adjacent ranges merged, so the common cases need no copy
        for g in chosen:
            lo, hi = ranges[g]
            if merged and merged[-1][1] == lo:
                merged[-1][1] = hi
            else:
                merged.append([lo, hi])
        self.slice = slice(*merged[0]) if len(merged) == 1 else None
        self.index = None if self.slice else torch.cat([torch.arange(lo, hi) for lo, hi in merged])
        self.whole = self.slice == slice(0, n_cols)

    def take(self, t: torch.Tensor) -> torch.Tensor:
        """These columns of `t` (rows x all columns): a view when they are one range."""
        if self.whole:
            return t
        return t[:, self.slice] if self.slice is not None else t.index_select(1, self.index)


def grouped_functionals(
    values: torch.Tensor,
    lengths: list[int],
    groups: list[tuple[int, list[str]]],
    frame_seconds: float,
    mask: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Functionals of column groups in one pass: `groups` lists (number of columns, functional
    names) for consecutive column blocks of `values`; returns one (B, D_group, len(names)) tensor
    per group, each as `functionals` would give for that block alone.

    Every statistic is computed once, over just the columns that ask for it: the segment layout is
    built once, sums, minima and maxima are segment reductions over the rows (index_add /
    scatter_reduce), and all percentiles of all columns that want any come from one sort of the
    segments padded into a (B, T, D) block.
    """
    ranges, start = [], 0
    for n_cols, names in groups:
        for name in names:
            check_functional(name)
        ranges.append((start, start + n_cols))
        start += n_cols
    if start != values.shape[1]:
        raise ValueError(f"groups cover {start} columns, values have {values.shape[1]}")
    n_seg, dtype = len(lengths), values.dtype
    if n_seg == 0 or values.shape[0] == 0 or values.shape[1] == 0:
        return [
            torch.zeros(n_seg, hi - lo, len(names), dtype=dtype)
            for (lo, hi), (_, names) in zip(ranges, groups, strict=True)
        ]

    def select(pred) -> _Selection:
        chosen = [g for g, (_, names) in enumerate(groups) if any(map(pred, names))]
        return _Selection(ranges, chosen, values.shape[1])

    seg = segment_ids(lengths)
    x, pos = values, None
    wants = {name for _, names in groups for name in names}
    if wants & {"slope", "linerr"}:
        pos = row_positions(lengths)
    if mask is not None:
        keep = mask.nonzero()[:, 0]
        x, seg = values[keep], seg[keep]
        pos = pos[keep] if pos is not None else None
    count = torch.bincount(seg, minlength=n_seg)
    denom = count.clamp_min(1).to(dtype)[:, None]

    def segment_sum(rows: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n_seg, *rows.shape[1:], dtype=dtype).index_add_(0, seg, rows)

    # results[name] = (selection, (B, selection.width) values)
    results: dict[str, tuple[_Selection, torch.Tensor]] = {}
    every = _Selection(ranges, list(range(len(groups))), values.shape[1])
    mean = segment_sum(x) / denom  # all columns: cheap
    results["mean"] = (every, mean)
    if wants & {"std", "slope", "skew", "kurt", "linerr"}:
        centred = x - mean[seg]
        moments = {"std", "skew", "kurt", "linerr"}
        if wants & moments:
            sel = select(lambda n: n in moments)
            c = sel.take(centred)
            var = segment_sum(c.square()).div_(denom)
            results["std"] = (sel, var.sqrt())
            # Skewness and kurtosis: 0 for a (near-)constant column rather than 0/0 -- relative to the
            # column's level, since float32 rounding leaves a constant -100 dB a variance of ~1e-10.
            flat = var <= 1e-8 * (1 + sel.take(mean).square())
            if "skew" in wants:
                m3 = segment_sum(c.square() * c).div_(denom)
                results["skew"] = (sel, torch.where(flat, 0.0, m3 / var.clamp_min(1e-12).pow(1.5)))
            if "kurt" in wants:
                m4 = segment_sum(c.square().square()).div_(denom)
                results["kurt"] = (sel, torch.where(flat, 0.0, m4 / var.clamp_min(1e-12).square()))
        if wants & {"slope", "linerr"}:
            sel = select(lambda n: n in ("slope", "linerr"))
            t = pos.to(dtype) * frame_seconds
            t_mean = segment_sum(t) / denom[:, 0]
            dt = t - t_mean[seg]
            sxx = segment_sum(dt.square())[:, None]
            sxy = segment_sum(dt[:, None] * sel.take(centred))
            slope = torch.where(sxx > 0, sxy / sxx.clamp_min(1e-12), torch.zeros_like(sxy))
            results["slope"] = (sel, slope)
            if "linerr" in wants:  # residual variance = var - slope^2 * var(t)
                var = segment_sum(sel.take(centred).square()) / denom
                results["linerr"] = (sel, (var - slope.square() * sxx / denom).clamp_min(0).sqrt())
    for name, fill in (("min", float("inf")), ("max", float("-inf"))):
        if name in wants or "range" in wants:  # (one selection for both, so range = max - min aligns)
            sel = select(lambda n: n in ("min", "max", "range"))
            index = seg[:, None].expand(-1, sel.width)
            extreme = torch.full((n_seg, sel.width), fill, dtype=dtype)
            results[name] = (sel, extreme.scatter_reduce_(0, index, sel.take(x), "a" + name))
    if "range" in wants:
        results["range"] = (results["max"][0], results["max"][1] - results["min"][1])
    if "rise" in wants:  # share of consecutive counted frame pairs that rise
        sel = select(lambda n: n == "rise")
        xs = sel.take(x)
        same = (seg[1:] == seg[:-1]).to(dtype)[:, None]
        ups = torch.zeros(n_seg, sel.width, dtype=dtype).index_add_(
            0, seg[1:], (xs[1:] > xs[:-1]).to(dtype) * same
        )
        pairs = (count - 1).clamp_min(1).to(dtype)[:, None]
        # a (near-)constant column does not rise: its rounding noise would make the share arbitrary
        level = sel.take(mean)
        flat = segment_sum((xs - level[seg]).square()) / denom <= 1e-8 * (1 + level.square())
        results["rise"] = (sel, torch.where(flat, 0.0, ups / pairs))
    wants_pct = lambda n: n.startswith("p") or n == "iqr"  # noqa: E731
    levels = sorted({n for n in wants if n.startswith("p")} | ({"p25", "p75"} if "iqr" in wants else set()))
    if levels and x.shape[0] > 0:  # (no counted row anywhere: percentiles stay zero)
        sel = select(wants_pct)
        # Pad the counted rows of each segment (+inf beyond its count) and sort once for all percentiles.
        rows = list(sel.take(x).split(count.tolist()))
        padded = pad_sequence(rows, batch_first=True, padding_value=float("inf"))
        sorted_x = torch.from_numpy(np.sort(padded.numpy(), axis=1))  # (numpy's sort: ~10x torch's on CPU)
        last = (count - 1).clamp_min(0)
        for name in levels:
            pos_q = float(name[1:]) / 100 * last.to(dtype)
            lo = pos_q.floor().long()
            hi = torch.minimum(lo + 1, last)
            frac = (pos_q - lo.to(dtype))[:, None]
            v_lo = sorted_x.gather(1, lo[:, None, None].expand(-1, 1, sel.width))[:, 0]
            v_hi = sorted_x.gather(1, hi[:, None, None].expand(-1, 1, sel.width))[:, 0]
            results[name] = (sel, v_lo + (v_hi - v_lo) * frac)
        if "iqr" in wants:
            results["iqr"] = (sel, results["p75"][1] - results["p25"][1])

    empty = count == 0
    zeros = torch.zeros(n_seg, 1, dtype=dtype)
    outs = []
    for g, ((lo, hi), (_, names)) in enumerate(zip(ranges, groups, strict=True)):
        if not names:
            outs.append(torch.zeros(n_seg, hi - lo, 0, dtype=dtype))
            continue
        cols = []
        for name in names:
            if name in results:
                sel, res = results[name]
                cols.append(res[:, sel.offsets[g] : sel.offsets[g] + hi - lo])
            else:  # percentiles when no row counted anywhere
                cols.append(zeros.expand(-1, hi - lo))
        out = torch.stack(cols, dim=2)
        if empty.any():  # a segment with no counted rows gets zeros
            out[empty] = 0.0
        outs.append(out)
    return outs
