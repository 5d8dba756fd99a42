"""The analysis figures: per-class distributions of measures and functionals, class x speaker counts.

Every function takes plain values (DataFrames, arrays, class names) and writes one PNG. Classes keep
one colour in every figure (tab10 by class index), so a reader can follow a class from plot to plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 110
GENDER_NAMES = {"F": "female", "M": "male"}
GENDER_COLOURS = {"F": "tab:red", "M": "tab:blue"}


def class_colour(index: int) -> tuple:
    """The colour of class `index` in every figure."""
    return plt.get_cmap("tab10")(index % 10)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _class_ticks(ax: plt.Axes, classes: Sequence[str], counts: Sequence[int]) -> None:
    """Class names with their utterance counts under the boxes; slanted when there are many."""
    labels = [f"{c}\n(n={n})" for c, n in zip(classes, counts, strict=True)]
    many = len(classes) > 7
    ax.set_xticks(
        range(len(classes)), labels, fontsize=8, rotation=45 if many else 0, ha="right" if many else "center"
    )
    ax.set_xlim(-0.6, len(classes) - 0.4)


def _boxes(
    ax: plt.Axes, datasets: list[np.ndarray], positions: list[float], colours: list, width: float
) -> None:
    """One filled box per non-empty dataset (whiskers at 1.5 IQR, small outlier dots)."""
    keep = [i for i, d in enumerate(datasets) if len(d)]
    if not keep:
        return
    parts = ax.boxplot(
        [datasets[i] for i in keep], positions=[positions[i] for i in keep], widths=width, patch_artist=True,
        medianprops={"color": "black"}, flierprops={"marker": ".", "markersize": 3, "alpha": 0.4},
    )  # fmt: skip
    for box, i in zip(parts["boxes"], keep, strict=True):
        box.set_facecolor(colours[i])
        box.set_alpha(0.75)


def plot_measures(
    table: pd.DataFrame,
    columns: dict[str, str],
    classes: Sequence[str],
    path: str | Path,
    title: str,
    by_gender: bool = False,
) -> Path:
    """Box plots of measure columns of `table` (one row per utterance, `class_name` and `gender`
    columns) per class, one panel per entry of `columns` ({column: axis label}). With `by_gender`
    and both genders present, each class gets one box per gender."""
    genders = [g for g in ("F", "M") if (table["gender"] == g).any()] if by_gender else []
    genders = genders if len(genders) == 2 else []
    counts = [int((table["class_name"] == c).sum()) for c in classes]
    panel_width = 1.4 + (0.6 + 0.3 * bool(genders)) * len(classes)
    # side by side while the figure stays readable at page width, else one panel under the other
    ncols = len(columns) if panel_width * len(columns) <= 12 else 1
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols, 0.5 + 3.4 * nrows), squeeze=False)
    for ax, (column, label) in zip(axes.flat, columns.items(), strict=True):
        if genders:
            width = 0.36
            for k, gender in enumerate(genders):
                data = [
                    _finite(table.loc[(table["class_name"] == c) & (table["gender"] == gender), column])
                    for c in classes
                ]
                offset = (k - 0.5) * 0.4
                _boxes(
                    ax,
                    data,
                    [i + offset for i in range(len(classes))],
                    [GENDER_COLOURS[gender]] * len(classes),
                    width,
                )
                ax.plot([], [], "s", color=GENDER_COLOURS[gender], alpha=0.75, label=GENDER_NAMES[gender])
            ax.legend(fontsize=8, loc="best")
        else:
            data = [_finite(table.loc[table["class_name"] == c, column]) for c in classes]
            _boxes(ax, data, list(range(len(classes))), [class_colour(i) for i in range(len(classes))], 0.6)
        _class_ticks(ax, classes, counts)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def _violins(ax: plt.Axes, datasets: list[np.ndarray]) -> None:
    """A violin per class (a dash where there are too few distinct values for a density), with the
    median as a black bar."""
    for i, data in enumerate(datasets):
        if len(data) == 0:
            continue
        if len(data) >= 2 and np.ptp(data) > 0:
            body = ax.violinplot([data], positions=[i], widths=0.8, showextrema=False)["bodies"][0]
            body.set_facecolor(class_colour(i))
            body.set_edgecolor("black")
            body.set_linewidth(0.5)
            body.set_alpha(0.7)
        ax.hlines(np.median(data), i - 0.25, i + 0.25, color="black", linewidth=1.5)


def plot_top_functionals(
    values: np.ndarray,
    names: Sequence[str],
    annotations: Sequence[str],
    units: Sequence[str],
    class_names: Sequence[str],
    classes: Sequence[str],
    path: str | Path,
    title: str,
) -> Path:
    """Violins of the columns of `values` (N, K) per class, one panel per column (titled with its
    name and annotation, its unit on the y axis), four panels a row. The y axis of each panel spans
    the 0.5-99.5th percentile of the column (extreme outliers would flatten the violins)."""
    k = values.shape[1]
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    width = max(3.4, 0.5 * len(classes) + 1.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.2 * nrows + 0.5), squeeze=False)
    class_names = np.asarray(class_names)
    counts = [int((class_names == c).sum()) for c in classes]
    for j, ax in enumerate(axes.flat):
        if j >= k:
            ax.set_visible(False)
            continue
        column = np.asarray(values[:, j], dtype=np.float64)
        _violins(ax, [_finite(column[class_names == c]) for c in classes])
        ax.set_title(f"{j + 1}. {names[j]}\n{annotations[j]}", fontsize=9)
        ax.set_xticks(range(len(classes)), classes, fontsize=8, rotation=45 if len(classes) > 7 else 0)
        ax.set_xlim(-0.6, len(classes) - 0.4)
        ax.set_ylabel(units[j], fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        finite = _finite(column)
        if len(finite):
            lo, hi = np.percentile(finite, [0.5, 99.5])
            if hi > lo:
                margin = 0.08 * (hi - lo)
                ax.set_ylim(lo - margin, hi + margin)
    fig.suptitle(
        f"{title}\n(n per class: "
        + ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=True))
        + ")",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def plot_counts(
    table: pd.DataFrame,
    path: str | Path,
    title: str,
    column_title: str = "speaker",
    notes: dict[str, str] | None = None,
) -> Path:
    """A heatmap of counts (rows: classes, columns: speakers), each cell with its number; row and
    column totals in the tick labels, after each column's note (e.g. the speaker's gender) if any."""
    counts = table.to_numpy()
    n_rows, n_cols = counts.shape
    notes = notes or {}
    names = [f"{c} {notes[c]}" if notes.get(c) else str(c) for c in table.columns]
    upright = max(len(n) for n in names) <= 4  # short names fit under their column
    labels = [
        f"{name}{chr(10) if upright else ' '}({n})" for name, n in zip(names, counts.sum(axis=0), strict=True)
    ]
    fig, ax = plt.subplots(figsize=(2.2 + 0.62 * n_cols, 1.6 + 0.42 * n_rows))
    image = ax.imshow(counts, cmap="Blues", aspect="auto", vmin=0)
    ax.set_xticks(range(n_cols), labels, fontsize=8, rotation=0 if upright else 90)
    ax.set_yticks(
        range(n_rows),
        [f"{c} ({n})" for c, n in zip(table.index, counts.sum(axis=1), strict=True)],
        fontsize=8,
    )
    ax.set_xlabel(f"{column_title} (utterances)", fontsize=9)
    ax.set_ylabel("class (utterances)", fontsize=9)
    peak = counts.max() if counts.size else 0
    for i in range(n_rows):
        for j in range(n_cols):
            colour = "white" if peak and counts[i, j] > 0.6 * peak else "black"
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=7 if counts[i, j] >= 1000 else 8,
                color=colour,
            )
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="utterances")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)
