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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ser.runs import METRICS, cv_summary, find_runs

log = logging.getLogger(__name__)

# Overrides that vary within one configuration (folds and repetitions of it) or do not change results.
IGNORED_KEYS = (
    "split.fold", "seed", "jobs", "logger", "paths.cache_dir", "paths.output_dir",
    "trainer.enable_progress_bar", "trainer.enable_model_summary",
)
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"


def run_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides of a run (Hydra's `.hydra/overrides.yaml`; empty when absent)."""
    for path in (Path(run_dir) / ".hydra" / "overrides.yaml", Path(run_dir).parent / ".hydra" / "overrides.yaml"):
        # the parent's: the fold folders of an ensemble share their ensemble run's overrides
        if path.is_file():
            return [str(o) for o in (yaml.safe_load(path.read_text()) or [])]
    return []


def configuration_of(overrides: Iterable[str], ignored: Sequence[str] = IGNORED_KEYS) -> str:
    """The configuration a run belongs to: its overrides without the ignored keys, sorted."""
    kept = []
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key not in ignored and not key.startswith("hydra."):
            kept.append(item)
    return ",".join(sorted(kept)) or "(defaults)"


def summarize_runs(run_dirs: Sequence[str | Path], ignored: Sequence[str] = IGNORED_KEYS) -> pd.DataFrame:
    """One row per configuration: runs, folds, mean/std of the per-run metrics, pooled metrics."""
    groups = group_runs(run_dirs, ignored)
    rows = [{"configuration": config, **cv_summary(runs)} for config, runs in groups.items()]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values("test/ua_mean", ascending=False, ignore_index=True, kind="stable")
    return frame


def group_runs(run_dirs: Sequence[str | Path], ignored: Sequence[str] = IGNORED_KEYS) -> dict[str, list[Path]]:
    """Runs grouped by configuration (their overrides minus fold and seed), in the given order."""
    groups: dict[str, list[Path]] = {}
    for run in map(Path, run_dirs):
        groups.setdefault(configuration_of(run_overrides(run), ignored), []).append(run)
    return groups


def to_markdown(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (mean +- std per fold, pooled over folds)."""
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
        f"(folds and seeds); pooled figures use all their test predictions together.\n\n{to_markdown(summary)}"
    )
    log.info("sweep summary of %d runs written to %s", len(runs), sweep_dir / SUMMARY_MD)
    print(to_markdown(summary))
    return summary


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - Hydra < 1.1
    Callback = object  # type: ignore[assignment,misc]


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
