"""Plots and tables for runs: confusion matrices (more reports build on this module)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ser.metrics import confusion  # noqa: E402


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Save a row-normalised confusion matrix (recall on the diagonal) with counts in each cell."""
    cm = confusion(y_true, y_pred, len(classes))
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


def markdown_table(frame, floatfmt: str = ".3f") -> str:
    """Render a DataFrame as a GitHub markdown table (no extra dependency)."""
    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


# ---------------------------------------------------------------- leaderboards over runs and folds

def leaderboard(run_dirs: list[Path]) -> tuple:
    """One row per configuration (the multirun summary's table), best UA first, and the runs of each."""
    from ser.sweep_summary import group_runs, summarize_runs

    return summarize_runs(run_dirs), group_runs(run_dirs)


def plot_leaderboard(table, path: str | Path) -> Path:
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


def pooled_predictions(runs: list[Path]):
    """All folds' test predictions of one configuration, concatenated, with the class order."""
    import pandas as pd

    from ser.runs import PREDICTIONS, frame_to_predictions, read_predictions

    frames, classes = [], None
    for run in runs:
        frame, classes = read_predictions(run / PREDICTIONS)
        frames.append(frame)
    return frame_to_predictions(pd.concat(frames, ignore_index=True), classes), classes


def plot_learning_curves(run: Path, path: str | Path) -> Path | None:
    """Loss and UA per epoch from a run's CSV log (`csv/metrics.csv`); None when it has no log."""
    import pandas as pd

    log_file = run / "csv" / "metrics.csv"
    if not log_file.is_file():
        return None
    log_table = pd.read_csv(log_file)
    if "epoch" not in log_table:
        return None
    per_epoch = log_table.groupby("epoch").mean(numeric_only=True)
    panels = [("loss", [c for c in per_epoch if c.endswith("/loss") or c.endswith("/loss_epoch")]),
              ("UA", [c for c in per_epoch if c.endswith("/ua") or c.endswith("/ua_epoch")])]
    panels = [(title, cols) for title, cols in panels if cols]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (title, cols) in zip(axes[0], panels, strict=True):
        for col in cols:
            series = per_epoch[col].dropna()
            ax.plot(series.index, series.values, marker=".", label=col)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(run.name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def write_report(paths: list[str | Path], out_dir: str | Path) -> Path:
    """Leaderboard (md, csv, png), per-configuration pooled confusion matrices, per-class recall table
    and learning curves, for runs and multirun folders. Returns the leaderboard markdown path."""
    import pandas as pd

    from ser.metrics import classification_metrics
    from ser.runs import find_runs
    from ser.sweep_summary import to_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, groups = leaderboard(find_runs(paths))
    table.to_csv(out / "leaderboard.csv", index=False)
    (out / "leaderboard.md").write_text(to_markdown(table))
    plot_leaderboard(table, out / "leaderboard.png")
    recall_rows = []
    for i, name in enumerate(table["configuration"]):
        runs = groups[name]
        pooled, classes = pooled_predictions(runs)
        plot_confusion(pooled.target, pooled.pred, classes, out / f"confusion_{i + 1:02d}.png", title=f"{name} (pooled over folds)")
        m = classification_metrics(pooled.target, pooled.pred, classes)
        recall_rows.append({"configuration": name, **{c: m.get(f"test/recall_{c}", float("nan")) for c in classes}})
        for run in runs:
            plot_learning_curves(run, out / f"curves_{i + 1:02d}_{run.name[:60]}.png")
    recall = pd.DataFrame(recall_rows)
    recall.to_csv(out / "per_class_recall.csv", index=False)
    (out / "per_class_recall.md").write_text(markdown_table(recall))
    return out / "leaderboard.md"


def main(argv: list[str] | None = None) -> int:
    """`python -m ser.reports PATH... [--out DIR]`: write the report for runs or multirun folders."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m ser.reports", description="Leaderboard and plots for ser runs.")
    parser.add_argument("paths", nargs="+", help="run directories or multirun folders")
    parser.add_argument("--out", default="report", help="output folder (default: ./report)")
    args = parser.parse_args(argv)
    try:
        board = write_report(args.paths, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(board.read_text(), end="")
    print(f"report written to {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
