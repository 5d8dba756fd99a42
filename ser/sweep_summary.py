"""Cross-validation summary of a Hydra multirun: one row per configuration, over its folds and seeds.

`python train.py -m split=loso 'split.fold=range(1,6)' model=cnn,dnn` leaves one run directory per job
in the sweep folder. `SweepSummary` (a Hydra callback, registered in `conf/train.yaml`) calls
`write_summary` when the sweep ends: runs are grouped by their overrides minus `split.fold` and
`seed`, and each configuration gets the mean and standard deviation of the per-run figures and the
pooled figures over all its runs' `predictions.csv` together. It writes `summary.csv` and
`summary.md` into the sweep folder; `python -m ser.sweep_summary SWEEP_DIR` does the same afterwards.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback

from ser.cv import IGNORED_KEYS, summarize_runs
from ser.render import summary_markdown
from ser.runs import METRICS, find_runs

log = logging.getLogger(__name__)

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"


def write_summary(sweep_dir: str | Path, ignored: Sequence[str] = IGNORED_KEYS) -> pd.DataFrame | None:
    """Summarise every run under `sweep_dir` into `summary.csv` and `summary.md` there."""
    sweep_dir = Path(sweep_dir)
    try:
        runs = find_runs([sweep_dir])
    except FileNotFoundError:
        log.warning("sweep summary: no run with %s under %s", METRICS, sweep_dir)
        return None
    summary = summarize_runs(runs, ignored)
    summary.to_csv(sweep_dir / SUMMARY_CSV, index=False)
    (sweep_dir / SUMMARY_MD).write_text(
        f"# Sweep summary: {len(runs)} runs\n\nPer-run figures are mean ± std over the runs of a configuration "
        f"(folds and seeds); pooled figures use all their test predictions together.\n\n{summary_markdown(summary)}"
    )
    log.info("sweep summary of %d runs written to %s", len(runs), sweep_dir / SUMMARY_MD)
    print(summary_markdown(summary))
    return summary


class SweepSummary(Callback):
    """Hydra callback: write the sweep summary into the multirun folder when a multirun ends."""

    def __init__(self, ignored: Sequence[str] = IGNORED_KEYS) -> None:
        self.ignored = tuple(ignored)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        try:
            write_summary(config.hydra.sweep.dir, self.ignored)
        except Exception as exc:  # a summary failure must not hide the runs' own results
            log.error("sweep summary failed: %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise the runs of a multirun folder")
    parser.add_argument("sweep_dir")
    args = parser.parse_args(argv)
    return 0 if write_summary(args.sweep_dir) is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
