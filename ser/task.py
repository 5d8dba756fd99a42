"""What a run predicts (`task=`): emotion classes, dimensional attributes (valence, arousal,
dominance), or both at once.

- `classification` (default): the label set's classes, as every run before this setting.
- `regression`: the manifest columns `task.targets` (default valence, arousal, dominance), scaled
  with statistics of the training rows only (`task.scaling`: `minmax` maps the training range to
  [-1, 1], `standard` to mean 0 and std 1, `none` keeps the corpus's scale); models learn the scaled
  values and every prediction is written back in the corpus's own scale.
- `multitask`: both; neural nets get one head per task on a shared body, trained on
  cross-entropy + `task.loss_weight` x the regression loss.

`TaskSettings` is the schema of `conf/task/`; `Task` is what a fitted fold carries (the attributes
and their scaling, fit on training rows), saved with every model so that predictions on new data
come back in the corpus's scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

TASKS = ("classification", "regression", "multitask")
SCALINGS = ("minmax", "standard", "none")
LOSSES = ("ccc", "mse")

# How `drop_missing_values` records a row without a value: `no arousal`.
NO_VALUE_PREFIX = "no "


@dataclass
class TaskSettings:
    """`task:` (conf/task/): what the run predicts and how regression targets are learnt."""

    name: str = "classification"  # classification | regression | multitask
    targets: list[str] = field(
        default_factory=lambda: ["valence", "arousal", "dominance"]
    )  # manifest columns
    scaling: str = "minmax"  # minmax (training range -> [-1, 1]) | standard (training mean 0, std 1) | none
    loss: str = "ccc"  # neural regression loss: ccc (1 - mean CCC over the attributes of a batch) | mse
    loss_weight: float = 1.0  # multitask: loss = cross-entropy + loss_weight x regression loss
    # what checkpoints, early stopping, the plateau scheduler and sweepers maximise
    metric: str = "val/ua"


@dataclass(frozen=True)
class Task:
    """A fold's task: the attributes predicted and their scaling (fit on the training rows)."""

    name: str = "classification"
    attributes: tuple[str, ...] = ()
    center: tuple[float, ...] = ()  # scaled = (value - center) / scale
    scale: tuple[float, ...] = ()
    scaling: str = "minmax"
    loss: str = "ccc"
    loss_weight: float = 1.0

    @property
    def has_classes(self) -> bool:
        """Whether the run predicts emotion classes (classification, multitask)."""
        return self.name != "regression"

    @property
    def has_values(self) -> bool:
        """Whether the run predicts dimensional attributes (regression, multitask)."""
        return self.name != "classification"

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Corpus-scale values `(N, K)` -> the scaled values models learn."""
        return (np.asarray(values, dtype=np.float64) - np.asarray(self.center)) / np.asarray(self.scale)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled model outputs `(N, K)` -> the corpus's scale."""
        return np.asarray(scaled, dtype=np.float64) * np.asarray(self.scale) + np.asarray(self.center)

    def to_dict(self) -> dict:
        """Plain values (lists, floats) for checkpoints and joblib files."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, raw: Mapping | None) -> Task:
        """The inverse of `to_dict`; None (runs from before this setting) is classification."""
        if not raw:
            return cls()
        raw = dict(raw)
        for key in ("attributes", "center", "scale"):
            raw[key] = tuple(raw.get(key) or ())
        return cls(**raw)


def task_settings(cfg: Mapping) -> TaskSettings:
    """The run config's `task` node as settings (absent: classification), checked: one-line errors."""
    node = cfg.get("task") if hasattr(cfg, "get") else None
    raw = dict(node) if node else {}
    if "targets" in raw:
        raw["targets"] = [str(t) for t in raw["targets"]]
    settings = TaskSettings(**raw)
    for key, value, choices in (("name", settings.name, TASKS), ("scaling", settings.scaling, SCALINGS),
                                ("loss", settings.loss, LOSSES)):  # fmt: skip
        if value not in choices:
            raise ValueError(f"task.{key}={value} is not a choice: use one of {', '.join(choices)}")
    if settings.name != "classification" and not settings.targets:
        raise ValueError(
            f"task={settings.name} needs task.targets (manifest columns, e.g. [valence,arousal,dominance])"
        )
    return settings


def check_value_columns(manifest: pd.DataFrame, targets: Sequence[str], task: str, corpus: str) -> None:
    """One line when a target column is missing or has no value at all (e.g. EmoDB has no V/A/D)."""
    missing = [t for t in targets if t not in manifest.columns]
    empty = [
        t
        for t in targets
        if t in manifest.columns and pd.to_numeric(manifest[t], errors="coerce").isna().all()
    ]
    if missing or empty:
        what = "; ".join(part for part in (f"no column {', '.join(missing)}" if missing else "",
                                           f"no value in {', '.join(empty)}" if empty else "") if part)  # fmt: skip
        raise ValueError(
            f"task={task} needs values in the manifest columns {', '.join(targets)}, but corpus {corpus} has {what}: "
            f"use a corpus with dimensional ratings (iemocap, demo, a CSV manifest with those columns), set "
            f"task.targets to columns it has, or task=classification"
        )


def drop_missing_values(manifest: pd.DataFrame, targets: Sequence[str]) -> pd.DataFrame:
    """The rows that have a value for every target; the others recorded in `attrs["skipped"]` as
    `no <attribute>` (counted, never silently lost)."""
    values = manifest[list(targets)].apply(pd.to_numeric, errors="coerce")
    keep = values.notna().all(axis=1).to_numpy()
    skipped = list(manifest.attrs.get("skipped", []))
    for i in np.flatnonzero(~keep):
        first = next(t for t in targets if pd.isna(values.iloc[i][t]))
        skipped.append((str(manifest["utterance_id"].iloc[i]), f"{NO_VALUE_PREFIX}{first}"))
    out = manifest.loc[keep].reset_index(drop=True)
    out[list(targets)] = values.loc[keep].to_numpy(dtype=float)
    out.attrs["skipped"] = skipped
    return out


def fit_task(settings: TaskSettings, values_train: np.ndarray) -> Task:
    """The fold's `Task`: scaling statistics from the training rows' values `(N, K)` only."""
    if settings.name == "classification":
        return Task()
    values = np.asarray(values_train, dtype=np.float64)
    k = len(settings.targets)
    if settings.scaling == "minmax":
        lo, hi = values.min(axis=0), values.max(axis=0)
        center, scale = (hi + lo) / 2, (hi - lo) / 2
    elif settings.scaling == "standard":
        center, scale = values.mean(axis=0), values.std(axis=0)
    else:
        center, scale = np.zeros(k), np.ones(k)
    scale = np.where(scale > 1e-12, scale, 1.0)  # a constant attribute: shifted, not divided by 0
    return Task(
        name=settings.name,
        attributes=tuple(settings.targets),
        center=tuple(float(c) for c in center),
        scale=tuple(float(s) for s in scale),
        scaling=settings.scaling,
        loss=settings.loss,
        loss_weight=float(settings.loss_weight),
    )


def n_outputs(task: Task, n_classes: int) -> int:
    """The width of a net's output layer: classes, then attributes (multitask: both heads side by side)."""
    return (n_classes if task.has_classes else 0) + (len(task.attributes) if task.has_values else 0)
