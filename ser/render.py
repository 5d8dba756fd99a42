"""Plots and tables of results: confusion matrices, leaderboards, learning curves, markdown tables.

A leaf module: it imports no other `ser` module, so run writing (`ser.runs`), CV summaries
(`ser.cv`), sweeps and reports can all use it without import circles. Everything here takes plain
values (arrays, DataFrames, dicts) and returns text or writes one file.
"""

from __future__ import annotations

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
    ax.set_title(title)
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
    """A CV summary (`ser.cv.summarize_runs`) as a markdown table: mean +- std per fold, pooled over folds."""
    lines = [
        "| configuration | runs | test WA | test UA | test macro-F1 | pooled WA | pooled UA |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for _, r in summary.iterrows():
        lines.append(
            f"| {r['configuration']} | {r['runs']} "
            f"| {r['test/wa_mean']:.3f} ± {r['test/wa_std']:.3f} "
            f"| {r['test/ua_mean']:.3f} ± {r['test/ua_std']:.3f} "
            f"| {r['test/macro_f1_mean']:.3f} ± {r['test/macro_f1_std']:.3f} "
            f"| {r['pooled/wa']:.3f} | {r['pooled/ua']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def results_table(metrics: dict, classes: list[str]) -> str:
    """The short results table users read at the end of a run: WA, UA, macro-F1 and per-class recall."""
    lines = [f"{'':12s}{'val':>8s}{'test':>8s}"]
    for key in ("wa", "ua", "macro_f1"):
        lines.append(f"{key:12s}{metrics.get(f'val/{key}', float('nan')):8.3f}{metrics[f'test/{key}']:8.3f}")
    for name in classes:
        rec = metrics.get(f"test/recall_{name}")
        if rec is not None:
            lines.append(f"{'recall ' + name:12s}{'':8s}{rec:8.3f}")
    return "\n".join(lines)


def plot_leaderboard(table: pd.DataFrame, path: str | Path) -> Path:
    """Horizontal bars of UA (mean +- std over folds) per configuration, best on top."""
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(table)))
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["test/ua_mean"], xerr=table["test/ua_std"], color="tab:blue", alpha=0.8, capsize=3, label="UA")
    ax.scatter(table["test/wa_mean"], y, color="black", marker="|", s=200, label="WA", zorder=3)
    ax.set_yticks(y, table["configuration"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("test score (mean +- std over folds)")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_learning_curves(log_file: str | Path, path: str | Path, title: str = "") -> Path | None:
    """Loss and UA per epoch from a run's CSV log (`csv/metrics.csv`); None when there is no usable log."""
    log_file = Path(log_file)
    if not log_file.is_file():
        return None
    log_table = pd.read_csv(log_file)
    if "epoch" not in log_table:
        return None
    per_epoch = log_table.groupby("epoch").mean(numeric_only=True)
    panels = [("loss", [c for c in per_epoch if c.endswith("/loss") or c.endswith("/loss_epoch")]),
              ("UA", [c for c in per_epoch if c.endswith("/ua") or c.endswith("/ua_epoch")])]
    panels = [(name, cols) for name, cols in panels if cols]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (name, cols) in zip(axes[0], panels, strict=True):
        for col in cols:
            series = per_epoch[col].dropna()
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
