"""What a model family is: how to train one of its models on a fold, and how to use a trained one.

`ser.models.FAMILIES` maps `model.family` (a model config's key) to one `ModelFamily` object;
`train`, `evaluate` and the benchmarks reach every family through it. A new family is one module
with a `ModelFamily` subclass plus one line in that registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ser.features import FeatureSet
from ser.fold import FoldData
from ser.runs import FitResult
from ser.task import Task


class ModelFamily(ABC):
    """One family of models (neural nets trained by Lightning, scikit-learn-API estimators, ...)."""

    name: str = ""

    @abstractmethod
    def fit(self, cfg: DictConfig, fold: FoldData, out_dir: Path, loggers: list) -> FitResult:
        """Train on `fold.split.train`, select on `.val`, save the model into `out_dir`; return the
        validation and test probabilities (for `ser.runs.write_run`)."""

    @abstractmethod
    def load(self, run_dir: str | Path) -> Any:
        """The trained model of a finished run, ready for `predict_proba`."""

    @abstractmethod
    def predict_proba(
        self, model: Any, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        """Class probabilities `(N, n_classes)` of a loaded model for `features` (rows of `manifest`,
        which gives their speakers), in the run's class order. A model that standardises each speaker
        uses `speaker_stats[speaker]` (mean, std) where given, else statistics of the speaker's rows."""

    def check(self, cfg: DictConfig) -> None:
        """Refuse, in one line and before any data is read, a config the family cannot train (e.g. a
        classifier asked for `task=regression`); nothing to check by default."""
        return None

    def predict_values(
        self, model: Any, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        """Attribute estimates `(N, K)` in the corpus's scale of a regression or multitask run's model
        (`task(model).attributes` names the columns); inputs as for `predict_proba`."""
        raise ValueError(f"model family {self.name} predicts no dimensional attributes")

    def task(self, model: Any) -> Task:
        """What a loaded model predicts (`ser.task.Task`); classification unless the family says otherwise."""
        return Task()

    @abstractmethod
    def speaker_fallback(self, model: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """For a model that standardises each speaker: the (mean, std) saved at training time for new
        speakers with too little audio of their own; None for a model that does not."""
