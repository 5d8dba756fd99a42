"""Reports over runs and multirun folders: `python -m ser.reports PATH... --out DIR`.

Writes a leaderboard (markdown, CSV, PNG bar chart with mean +- std over folds), a pooled,
normalised confusion matrix per configuration, a per-class recall table and learning curves. The
figures come from `ser.cv`, the drawing from `ser.render`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ser.cv import group_runs, pooled_predictions, summarize_runs
from ser.metrics import classification_metrics
from ser.render import (
    markdown_table,
    plot_confusion,
    plot_leaderboard,
    plot_learning_curves,
    summary_markdown,
)
from ser.runs import find_runs


def write_report(paths: list[str | Path], out_dir: str | Path) -> Path:
    """Leaderboard (md, csv, png), per-configuration pooled confusion matrices, per-class recall table
    and learning curves, for runs and multirun folders. Returns the leaderboard markdown path."""
    runs = find_runs(paths)  # before creating `out_dir`: a wrong path leaves no empty folder behind
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, groups = summarize_runs(runs), group_runs(runs)
    table.to_csv(out / "leaderboard.csv", index=False)
    (out / "leaderboard.md").write_text(summary_markdown(table))
    plot_leaderboard(table, out / "leaderboard.png")
    recall_rows = []
    for i, name in enumerate(table["configuration"]):
        members = groups[name]
        pooled, classes = pooled_predictions(members)
        for run in members:
            plot_learning_curves(run / "csv" / "metrics.csv", out / f"curves_{i + 1:02d}_{run.name[:60]}.png", title=run.name)
        if not pooled.has_classes:  # regression runs: no confusion matrix, no recall (the leaderboard has their CCC)
            continue
        plot_confusion(pooled.target, pooled.pred, classes, out / f"confusion_{i + 1:02d}.png", title=f"{name} (pooled over folds)")
        m = classification_metrics(pooled.target, pooled.pred, classes)
        recall_rows.append({"configuration": name, **{c: m.get(f"test/recall_{c}", float("nan")) for c in classes}})
    recall = pd.DataFrame(recall_rows)
    recall.to_csv(out / "per_class_recall.csv", index=False)
    (out / "per_class_recall.md").write_text(markdown_table(recall))
    return out / "leaderboard.md"


def main(argv: list[str] | None = None) -> int:
    """`python -m ser.reports PATH... [--out DIR]`: write the report for runs or multirun folders."""
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
