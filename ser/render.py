"""Plots and tables of results: confusion matrices, leaderboards, learning curves, markdown tables.

A leaf module: it imports no other `ser` module, so run writing (`ser.runs`), CV summaries
(`ser.cv`), sweeps and reports can all use it without import circles. Everything here takes plain
values (arrays, DataFrames, dicts) and returns text or writes one file.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix (rows: reference, columns: prediction) with every class, present or not."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Save a row-normalised confusion matrix (recall on the diagonal) with counts in each cell."""
    cm = confusion_counts(y_true, y_pred, len(classes))
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    size = 1.2 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="recall")
    # wrapped to the figure's width: a sweep's configuration label can be longer than the plot
    ax.set_title(wrap_label(title, width=int(9 * size)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """Render a DataFrame as a GitHub markdown table (no extra dependency)."""

    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def summary_markdown(summary: pd.DataFrame) -> str:
    """A CV summary (`ser.cv.summarize_runs`) as a markdown table: mean +- std per fold, pooled over folds.
    Runs with dimensional attributes add the mean CCC (per fold and pooled) and CCC per attribute."""
    classes = "test/ua_mean" in summary
    attributes = [c[len("test/ccc_") : -len("_mean")] for c in summary.columns
                  if c.startswith("test/ccc_") and c.endswith("_mean") and c != "test/ccc_mean_mean"]  # fmt: skip
    head = ["configuration", "runs"]
    if classes:
        head += ["test WA", "test UA", "test macro-F1", "pooled WA", "pooled UA"]
    if attributes:
        head += ["test CCC (mean)", *(f"test CCC {a}" for a in attributes), "pooled CCC (mean)"]
    lines = ["| " + " | ".join(head) + " |", "| --- | " + " | ".join("---:" for _ in head[1:]) + " |"]
    for _, r in summary.iterrows():
        cells = [str(r["configuration"]), str(r["runs"])]
        if classes:
            cells += [_spread(r, "test/wa"), _spread(r, "test/ua"), _spread(r, "test/macro_f1"),
                      f"{r['pooled/wa']:.3f}", f"{r['pooled/ua']:.3f}"]  # fmt: skip
        if attributes:
            cells += [_spread(r, "test/ccc_mean"), *(_spread(r, f"test/ccc_{a}") for a in attributes),
                      f"{r['pooled/ccc_mean']:.3f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _spread(row: pd.Series, metric: str) -> str:
    """`mean ± std` of a summary row; one run has no spread: `-` rather than a misleading `± 0.000`."""
    std = row[f"{metric}_std"]
    shown = "-" if int(row["runs"]) < 2 or not np.isfinite(std) else f"{std:.3f}"
    return f"{row[f'{metric}_mean']:.3f} ± {shown}"


def wrap_label(label: str, width: int = 38) -> str:
    """A long label (`model=cnn,optim=sgd,...`, a title) on lines of at most about `width`
    characters, broken after commas and spaces; one piece longer than that is cut in its middle."""
    lines, line = [], ""
    for piece in re.split(r"(?<=[, ])", label):
        if line and len(line) + len(piece) > width:
            lines.append(line.rstrip())
            line = ""
        line += piece
    lines.append(line.rstrip())
    half = width // 2
    return "\n".join(x if len(x) <= width + 12 else x[:half] + "..." + x[-half:] for x in lines)


def results_table(metrics: dict, classes: list[str]) -> str:
    """The short results table users read at the end of a run: WA, UA, macro-F1 and per-class recall;
    for dimensional attributes (regression, multitask) CCC, Pearson and MAE of each and the mean CCC."""
    targets = list(metrics.get("targets") or [])
    width = 20 if targets else 12
    lines = [f"{'':{width}s}{'val':>8s}{'test':>8s}"]

    def row(key: str) -> str:
        return f"{key:{width}s}{metrics.get(f'val/{key}', float('nan')):8.3f}{metrics[f'test/{key}']:8.3f}"

    if "test/wa" in metrics:  # a regression run has no classes
        lines += [row(key) for key in ("wa", "ua", "macro_f1")]
        for name in classes:
            rec = metrics.get(f"test/recall_{name}")
            if rec is not None:
                lines.append(f"{'recall ' + name:{width}s}{'':8s}{rec:8.3f}")
    for name in targets:
        lines += [row(f"{score}_{name}") for score in ("ccc", "pearson", "mae")]
    if targets:
        lines.append(row("ccc_mean"))
    return "\n".join(lines)


def plot_leaderboard(table: pd.DataFrame, path: str | Path) -> Path:
    """Horizontal bars of UA (mean +- std over folds) per configuration, best on top; long labels are
    wrapped and the legend sits above the bars, so neither is clipped nor covers a bar. Regression
    runs (no UA) get their mean CCC instead."""
    what = "UA"
    if "test/ua_mean" not in table:
        what = "mean CCC"
        table = table.assign(**{"test/ua_mean": table["test/ccc_mean_mean"], "test/ua_std": table["test/ccc_mean_std"],
                                "test/wa_mean": np.nan})  # fmt: skip
    labels = [wrap_label(str(c)) for c in table["configuration"]]
    lines = [label.count("\n") + 1 for label in labels]
    row_height = [0.3 + 0.22 * n for n in lines]
    fig, ax = plt.subplots(figsize=(9, 1.6 + sum(row_height)))
    y = np.cumsum(row_height[::-1])[::-1] - np.array(row_height) / 2  # best on top, each row as tall as its label
    std = table["test/ua_std"].where(table["runs"] > 1, 0.0) if "runs" in table else table["test/ua_std"]
    ax.barh(y, table["test/ua_mean"], height=0.6 * np.array(row_height), xerr=std.fillna(0.0),
            color="tab:blue", alpha=0.8, capsize=3, label=f"{what} (mean ± std over folds)")  # fmt: skip
    ax.scatter(table["test/wa_mean"], y, color="black", marker="|", s=200, label="WA (mean)", zorder=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(0, sum(row_height))
    ax.set_xlim(0, 1)
    ax.set_xlabel("test score")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def learning_curve_panels(log_file: str | Path) -> list[tuple[str, dict[str, pd.Series]]]:
    """The per-epoch series of a run's CSV log (`csv/metrics.csv`) worth drawing: a `loss`, a `UA` and
    (dimensional tasks) a `CCC` panel, each {column: series}; `final/...` figures (logged once, outside any epoch) and empty
    columns are left out, so the legend lists only what is drawn. Empty when there is no usable log."""
    log_file = Path(log_file)
    if not log_file.is_file():
        return []
    log_table = pd.read_csv(log_file)
    if "epoch" not in log_table:
        return []
    per_epoch = log_table.groupby("epoch").mean(numeric_only=True)
    series = {c: per_epoch[c].dropna() for c in per_epoch if not c.startswith("final/")}
    series = {c: s for c, s in series.items() if len(s)}
    panels = [
        ("loss", {c: s for c, s in series.items() if c.endswith(("/loss", "/loss_epoch"))}),
        ("UA", {c: s for c, s in series.items() if c.endswith(("/ua", "/ua_epoch"))}),
        ("CCC", {c: s for c, s in series.items() if c.endswith("/ccc_mean")}),  # regression, multitask
    ]
    return [(name, cols) for name, cols in panels if cols]


def plot_learning_curves(log_file: str | Path, path: str | Path, title: str = "") -> Path | None:
    """Loss and UA per epoch from a run's CSV log (`csv/metrics.csv`); None when there is no usable log."""
    panels = learning_curve_panels(log_file)
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (name, cols) in zip(axes[0], panels, strict=True):
        for col, series in cols.items():
            ax.plot(series.index, series.values, marker=".", label=col)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_layer_weights(weights: list[float] | np.ndarray, path: str | Path, layers: list[int] | None = None,
                       title: str = "") -> Path:  # fmt: skip
    """A bar chart of a SUPERB-style head's learned layer weights (softmax over the encoder's layers):
    layer index on x, weight on y, the uniform weight 1/L as a dashed line."""
    weights = np.asarray(weights, dtype=float)
    layers = list(range(len(weights))) if layers is None else list(layers)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(weights) + 2), 3.2))
    ax.bar(range(len(weights)), weights, color="tab:blue")
    ax.axhline(1.0 / max(len(weights), 1), color="grey", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks(range(len(weights)), [str(layer) for layer in layers])
    ax.set_xlabel("encoder layer (0: input embedding)")
    ax.set_ylabel("learned weight")
    ax.legend(fontsize=8)
    ax.set_title(wrap_label(title or "layer weights", width=60), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
