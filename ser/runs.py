"""Run directories and their artifacts (DESIGN.md): where a run writes, how runs are found, and
reading and writing predictions, validation predictions, metrics and the confusion matrix.

Every model family, neural or classical, hands its probabilities to `write_run`, so `evaluate.py`,
`ensemble.py` and the reports read one format. Cross-validation summaries over several runs live in
`ser.cv`; plots and tables in `ser.render`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ser.metrics import classification_metrics, regression_metrics
from ser.render import plot_confusion

PREDICTIONS = "predictions.csv"
VAL_PREDICTIONS = "val_predictions.csv"
METRICS = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
RUN_CONFIG = Path(".hydra") / "config.yaml"
SUMMARY_METRICS = ("test/wa", "test/ua", "test/macro_f1")


def output_dir(cfg: DictConfig) -> Path:
    """The Hydra run directory when running under Hydra, else `paths.output_dir`."""
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.paths.output_dir)


@dataclass
class Predictions:
    """Class probabilities for a set of utterances, rows aligned with `utterance_id` and `target`.

    Regression and multitask runs (`ser.task`) add `attributes` (e.g. valence, arousal, dominance)
    with the reference `values` and the model's `estimates`, `(N, K)` each, in the corpus's scale; a
    regression run has no classes: `probs` is `(N, 0)` and `target` -1.
    """

    utterance_id: list[str]
    target: np.ndarray  # int class index of the reference label (-1: none, regression)
    probs: np.ndarray  # (N, n_classes), rows sum to 1
    attributes: list[str] = field(default_factory=list)
    values: np.ndarray | None = None  # (N, K) reference values
    estimates: np.ndarray | None = None  # (N, K) predicted values

    def __post_init__(self) -> None:
        self.target = np.asarray(self.target, dtype=int)
        self.probs = np.asarray(self.probs, dtype=float).reshape(len(self.utterance_id), -1)
        if self.probs.shape[0] != len(self.utterance_id) or len(self.target) != len(self.utterance_id):
            raise ValueError(f"predictions misaligned: {len(self.utterance_id)} ids, {len(self.target)} targets, {self.probs.shape[0]} rows")
        self.attributes = [str(a) for a in self.attributes]
        k = len(self.attributes)
        for name in ("values", "estimates"):
            array = getattr(self, name)
            array = np.zeros((len(self.utterance_id), k)) if array is None else np.asarray(array, dtype=float)
            if array.shape != (len(self.utterance_id), k):
                raise ValueError(f"predictions misaligned: {name} of shape {array.shape} for {len(self.utterance_id)} ids, {k} attributes")
            setattr(self, name, array)

    @property
    def pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def has_classes(self) -> bool:
        return self.probs.shape[1] > 0

    @property
    def has_values(self) -> bool:
        return bool(self.attributes)


@dataclass
class FitResult:
    """What a model family returns after fitting on train and predicting validation and test."""

    val: Predictions
    test: Predictions
    times: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    extra: dict = field(default_factory=dict)  # family-specific metrics (best epoch, ...)


def predictions_frame(p: Predictions, classes: list[str], fold: int) -> pd.DataFrame:
    """The `predictions.csv` table: utterance_id, fold, label, pred, prob_<class>... for classes, then
    <attribute>..., pred_<attribute>... for dimensions (regression: only those)."""
    frame = pd.DataFrame({"utterance_id": p.utterance_id, "fold": fold})
    if p.has_classes:
        frame["label"] = [classes[t] for t in p.target]
        frame["pred"] = [classes[t] for t in p.pred]
        for i, name in enumerate(classes):
            frame[f"prob_{name}"] = p.probs[:, i]
    for k, name in enumerate(p.attributes):
        frame[name] = p.values[:, k]
    for k, name in enumerate(p.attributes):
        frame[f"pred_{name}"] = p.estimates[:, k]
    return frame


def read_predictions(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a predictions CSV; return it with the class order given by its `prob_` columns (none for
    a regression run: `attributes_of` gives its attributes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {path.parent} a run directory of train.py?")
    frame = pd.read_csv(path, dtype={"utterance_id": str})
    classes = [c[len("prob_") :] for c in frame.columns if c.startswith("prob_")]
    return frame, classes


def attributes_of(frame: pd.DataFrame) -> list[str]:
    """The dimensional attributes of a predictions table: those with a `pred_<attribute>` column."""
    return [c[len("pred_") :] for c in frame.columns if c.startswith("pred_") and c[len("pred_") :] in frame.columns]


def frame_to_predictions(frame: pd.DataFrame, classes: list[str]) -> Predictions:
    """Turn a predictions table back into aligned arrays."""
    index = {c: i for i, c in enumerate(classes)}
    attributes = attributes_of(frame)
    n = len(frame)
    return Predictions(
        utterance_id=frame["utterance_id"].astype(str).tolist(),
        target=frame["label"].map(index).to_numpy() if classes else np.full(n, -1),
        probs=frame[[f"prob_{c}" for c in classes]].to_numpy() if classes else np.zeros((n, 0)),
        attributes=attributes,
        values=frame[attributes].to_numpy(dtype=float) if attributes else None,
        estimates=frame[[f"pred_{a}" for a in attributes]].to_numpy(dtype=float) if attributes else None,
    )


def prediction_metrics(p: Predictions, classes: list[str], stage: str) -> dict:
    """Classification metrics where `p` has classes, regression metrics where it has attributes."""
    out = classification_metrics(p.target, p.pred, classes, stage) if p.has_classes else {}
    if p.has_values:
        out.update(regression_metrics(p.values, p.estimates, p.attributes, stage))
    return out


def write_run(out_dir: str | Path, result: FitResult, classes: list[str], fold: int, info: dict | None = None) -> dict:
    """Write predictions, validation predictions, metrics.json and the confusion matrix; return the metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictions_frame(result.test, classes, fold).to_csv(out / PREDICTIONS, index=False)
    predictions_frame(result.val, classes, fold).to_csv(out / VAL_PREDICTIONS, index=False)
    metrics = prediction_metrics(result.test, classes, "test")
    if len(result.val.target):
        metrics.update(prediction_metrics(result.val, classes, "val"))
    test = result.test
    task = "multitask" if test.has_classes and test.has_values else "regression" if test.has_values else "classification"
    metrics.update({"fold": fold, "classes": list(classes) if test.has_classes else []})
    if task != "classification":  # classification runs' metrics.json stay as they were
        metrics.update({"task": task, "targets": list(test.attributes)})
    metrics.update({f"time/{k}_s": round(v, 3) for k, v in result.times.items()})
    metrics.update(result.extra)
    metrics.update(info or {})
    (out / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if test.has_classes:
        plot_confusion(test.target, test.pred, classes, out / CONFUSION_PNG, title=f"test, fold {fold}")
    return metrics


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Expand run directories and multirun folders into the run directories they hold."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if (p / PREDICTIONS).is_file():
            runs.append(p)
        elif p.is_dir():
            found = sorted(f.parent for f in p.rglob(PREDICTIONS) if (f.parent / METRICS).is_file())
            if not found:
                raise FileNotFoundError(f"{p} holds no run (no {PREDICTIONS} with {METRICS}): pass train.py run or multirun folders")
            runs += found
        else:
            raise FileNotFoundError(f"run directory {p} does not exist")
    seen: set[Path] = set()
    for run in runs:
        if run.resolve() in seen:
            raise ValueError(f"run {run} was given twice (directly or inside a multirun folder): pass each run once")
        seen.add(run.resolve())
    return runs


def read_metrics(run_dir: str | Path) -> dict:
    """Read `metrics.json` of a run, with a clear error when the folder is not a run."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {METRICS}: pass the directory of a finished train.py run")
    return json.loads(path.read_text())


def check_run_dir(run_dir: str | Path) -> Path:
    """The run directory, or a one-line error saying what to pass instead."""
    run = Path(run_dir).expanduser()
    if not run.exists():
        raise FileNotFoundError(f"run directory {run} does not exist: pass run=DIR of a finished train.py run")
    if not (run / RUN_CONFIG).is_file() and any(run.glob(f"*/{METRICS}")):
        example = sorted(p.parent.name for p in run.glob(f"*/{METRICS}"))[0]
        raise ValueError(f"{run} is a multirun folder: pass one of its runs (e.g. {run / example}) or pool them with ensemble.py")
    return run


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The composed config a run was trained with, with a clear error when `run_dir` is not a run."""
    run = check_run_dir(run_dir)
    if not (run / RUN_CONFIG).is_file() or not (run / METRICS).is_file():
        raise FileNotFoundError(f"{run} is not a finished train.py run (needs {RUN_CONFIG} and {METRICS})")
    return OmegaConf.load(run / RUN_CONFIG)


def run_overrides(run_dir: str | Path) -> list[str]:
    """The command-line overrides of a run (Hydra's `.hydra/overrides.yaml`; empty when absent)."""
    for path in (Path(run_dir) / ".hydra" / "overrides.yaml", Path(run_dir).parent / ".hydra" / "overrides.yaml"):
        # the parent's: the fold folders of an ensemble share their ensemble run's overrides
        if path.is_file():
            return [str(o) for o in (yaml.safe_load(path.read_text()) or [])]
    return []
