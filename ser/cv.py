"""Cross-validation figures over several runs: one configuration's folds and seeds, and whole sweeps.

Every summary in the project comes from here: the multirun summary (`ser.sweep_summary`), the
reports' leaderboard (`ser.reports`) and the ensembles' summary (`ser.ensemble`). DESIGN.md asks for
both kinds of figure: the mean +- std of the per-run figures and the pooled figures over all the
runs' test predictions together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ser.metrics import classification_metrics, regression_metrics
from ser.runs import (
    PREDICTIONS,
    SUMMARY_METRICS,
    Predictions,
    attributes_of,
    frame_to_predictions,
    read_metrics,
    read_predictions,
    run_overrides,
)

# Per-run figures averaged over the runs (folds, seeds) of one configuration.
PER_RUN = (*SUMMARY_METRICS, "val/ua")
# Overrides that vary within one configuration (folds and repetitions of it) or do not change results.
IGNORED_KEYS = (
    "split.fold", "seed", "jobs", "threads", "logger", "paths.cache_dir", "paths.output_dir",
    "trainer.enable_progress_bar", "trainer.enable_model_summary",
)


def pooled_predictions(run_dirs: Sequence[str | Path]) -> tuple[Predictions, list[str]]:
    """All the runs' test predictions concatenated, with their (common) class order (and attributes)."""
    frames, classes, attributes = [], None, None
    for d in run_dirs:
        frame, cls = read_predictions(Path(d) / PREDICTIONS)
        if classes is not None and cls != classes:
            raise ValueError(f"{d}: classes {cls} differ from the other runs' {classes}")
        if attributes is not None and attributes_of(frame) != attributes:
            raise ValueError(f"{d}: attributes {attributes_of(frame)} differ from the other runs' {attributes}")
        classes, attributes = cls, attributes_of(frame)
        frames.append(frame)
    return frame_to_predictions(pd.concat(frames, ignore_index=True), classes), classes


def cv_summary(run_dirs: Sequence[str | Path]) -> dict:
    """Cross-validation figures of one configuration's runs (one per fold or seed).

    Gives `<metric>_mean` and `<metric>_std` (sample std, 0 for one run) of the per-run figures in
    `PER_RUN`, and `pooled/wa`, `pooled/ua`, `pooled/macro_f1` over all the runs' test predictions
    together. Runs with dimensional attributes (regression, multitask) give the same for
    `test/ccc_mean`, `test/ccc_<attribute>` and `val/ccc_mean`, and `pooled/ccc_<attribute>`,
    `pooled/ccc_mean` (CCC of all test predictions together); regression runs only those.
    """
    per_run = [read_metrics(d) for d in run_dirs]
    pooled, classes = pooled_predictions(run_dirs)
    out: dict = {
        "model": str(per_run[0].get("model", "")),
        "runs": len(run_dirs),
        "folds": ",".join(str(f) for f in sorted({m.get("fold") for m in per_run}, key=str)),
    }
    keys = list(PER_RUN) if pooled.has_classes else []
    if pooled.has_values:
        keys += ["test/ccc_mean", *(f"test/ccc_{a}" for a in pooled.attributes), "val/ccc_mean"]
    for key in keys:
        values = np.array([m[key] for m in per_run if isinstance(m.get(key), (int, float))], dtype=float)
        out[f"{key}_mean"] = float(values.mean()) if len(values) else float("nan")
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    if pooled.has_classes:
        pooled_metrics = classification_metrics(pooled.target, pooled.pred, classes, "pooled")
        out.update({k: pooled_metrics[k] for k in ("pooled/wa", "pooled/ua", "pooled/macro_f1", "pooled/n")})
    if pooled.has_values:
        pooled_values = regression_metrics(pooled.values, pooled.estimates, pooled.attributes, "pooled")
        out.update({k: v for k, v in pooled_values.items() if k.startswith("pooled/ccc_")})
        out["pooled/n"] = pooled_values["pooled/n"]
    return out


def configuration_of(overrides: Iterable[str], ignored: Sequence[str] = IGNORED_KEYS) -> str:
    """The configuration a run belongs to: its overrides without the ignored keys, sorted."""
    kept = []
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key not in ignored and not key.startswith("hydra."):
            kept.append(item)
    return ",".join(sorted(kept)) or "(defaults)"


def group_runs(run_dirs: Sequence[str | Path], ignored: Sequence[str] = IGNORED_KEYS) -> dict[str, list[Path]]:
    """Runs grouped by configuration (their overrides minus fold and seed), in the given order."""
    groups: dict[str, list[Path]] = {}
    for run in map(Path, run_dirs):
        groups.setdefault(configuration_of(run_overrides(run), ignored), []).append(run)
    return groups


def summarize_runs(run_dirs: Sequence[str | Path], ignored: Sequence[str] = IGNORED_KEYS) -> pd.DataFrame:
    """One row per configuration: runs, folds, mean/std of the per-run metrics, pooled metrics; best UA
    first (regression runs only: best mean CCC first)."""
    groups = group_runs(run_dirs, ignored)
    rows = [{"configuration": config, **cv_summary(runs)} for config, runs in groups.items()]
    frame = pd.DataFrame(rows)
    if len(frame):
        key = "test/ua_mean" if "test/ua_mean" in frame else "test/ccc_mean_mean"
        frame = frame.sort_values(key, ascending=False, ignore_index=True, kind="stable")
    return frame
