"""The `neural` model family: nets trained with Lightning on one fold, tested from their best checkpoint.

`NEURAL.fit` builds the model config's data module (`data:`) on the prepared fold, the net of
`model.net` inside `EmotionClassifier`, and the trainer with its callbacks and loggers; it returns
the validation and test probabilities of the best-validation checkpoint for the run artifacts.
`NEURAL.load` rebuilds a finished run's classifier from its config and checkpoint
(`weights_only=True`); `NEURAL.predict_proba` sends new features through the run's own
evaluation path (saved normalisation statistics, the same windows or whole sequences).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader

from ser.data.base import FoldDataModule
from ser.features import FeatureSet
from ser.fold import FoldData
from ser.models.classifier import EmotionClassifier
from ser.models.family import ModelFamily
from ser.runs import METRICS, FitResult, Predictions, load_run_config
from ser.splits import Split
from ser.task import Task, n_outputs

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"


def build_datamodule(cfg: DictConfig, fold: FoldData, **extra) -> FoldDataModule:
    """The config's data module (`data:`, a `conf/data/` option) on a prepared fold."""
    if "data" not in cfg or cfg.data is None:
        raise ValueError(
            f"model={cfg.model.name} has no `data:` node: a neural model config must pick one (override /data: ...)"
        )
    # Hydra would turn a dataclass argument into a config node: bind the fold after instantiation.
    make = instantiate(cfg.data, _partial_=True, _convert_="all")
    return make(fold=fold, **extra)


def class_weights_of(cfg: DictConfig, dm: FoldDataModule) -> list[float] | None:
    """`model.class_weights`: `balanced` (inverse training frequency), an explicit list, or null."""
    weights = cfg.model.get("class_weights")
    if weights is None or weights is False:
        return None
    if weights == "balanced":
        return dm.class_weights()
    weights = list(weights)
    if len(weights) != len(dm.classes):
        raise ValueError(
            f"model.class_weights has {len(weights)} entries for {len(dm.classes)} classes {dm.classes}"
        )
    return [float(w) for w in weights]


def build_module(cfg: DictConfig, dm: FoldDataModule) -> EmotionClassifier:
    """The net of `model.net` (sizes filled in from the data) inside the classifier. Its output layer
    (`n_classes` of every net) is as wide as the task needs: classes, attributes, or both side by side."""
    net_inputs = dm.net_inputs()
    task = dm.fold.task
    net = instantiate(cfg.model.net, n_classes=n_outputs(task, len(dm.classes)), **net_inputs)
    dm.init_net(net)
    return EmotionClassifier(
        net,
        dm.classes,
        net_inputs=net_inputs,
        data_stats=dm.stats_dict(),
        optimizer=cfg.get("optim"),
        scheduler=cfg.get("scheduler"),
        class_weights=class_weights_of(cfg, dm) if task.has_classes else None,
        label_smoothing=float(cfg.model.get("label_smoothing", 0.0)),
        task=task.to_dict() if task.name != "classification" else None,
    )


def build_callbacks(cfg: DictConfig, out_dir: Path, with_loggers: bool = True) -> list[L.Callback]:
    """Every `_target_` node of `callbacks:`; checkpoints go to `<run>/checkpoints` unless set.

    Without loggers (`logger=null`), callbacks that need one (learning-rate monitor) are left out.
    """
    callbacks = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if not isinstance(node, Mapping) or "_target_" not in node:
            continue
        if not with_loggers and node["_target_"].endswith("LearningRateMonitor"):
            continue
        node = node.copy()
        if "ModelCheckpoint" in node["_target_"] and node.get("dirpath") is None:
            with open_dict(node):
                node.dirpath = str(out_dir / CHECKPOINT_DIR)
        log.debug("callback %s: %s", name, OmegaConf.to_yaml(node))
        callbacks.append(instantiate(node, _convert_="all"))
    return callbacks


def skip_nvml_check_without_gpu() -> None:
    """Undo lightning's `PYTORCH_NVML_BASED_CUDA_CHECK=1` on a machine with no visible GPU.

    Lightning sets it at import so that checking for CUDA never initialises CUDA before it forks
    workers. Without a GPU, though, torch never caches its device count, and every optimizer
    step (torch.optim checks `torch.cuda.is_available()`) loads NVML again: about 0.4 ms a step,
    6 % of a small MLP's step on CPU. With no GPU there is no CUDA to poison, and the default
    check answers from a cache.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


def build_trainer(cfg: DictConfig, out_dir: Path, loggers: list, callbacks: list[L.Callback]) -> L.Trainer:
    """The `trainer:` config with the callbacks and loggers (none: `logger=False`)."""
    skip_nvml_check_without_gpu()
    return instantiate(
        cfg.trainer, callbacks=callbacks, logger=list(loggers) or False, default_root_dir=str(out_dir)
    )


@torch.no_grad()
def predict_outputs(module: EmotionClassifier, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities `(N, C)` and attribute estimates `(N, K)` in the corpus's scale (either
    may have no columns, as the task says) of every utterance of an (unshuffled) evaluation loader."""
    was_training = module.training
    module.eval()
    probs, values = [], []
    for batch in loader:
        batch = {k: v.to(module.device) for k, v in batch.items()}
        logits, scaled = module.split_outputs(module(batch).float())
        n = len(batch["y"])  # one per utterance, windowed or not
        probs.append(torch.softmax(logits, dim=1).cpu().numpy() if logits is not None else np.zeros((n, 0)))
        values.append(scaled.cpu().numpy() if scaled is not None else np.zeros((n, 0)))
    module.train(was_training)
    task = module.task
    if not probs:
        return np.zeros((0, module.n_classes)), np.zeros((0, len(task.attributes) if task.has_values else 0))
    estimates = np.concatenate(values)
    return np.concatenate(probs), task.inverse(estimates) if task.has_values else estimates


def predict_probs(module: EmotionClassifier, loader: DataLoader) -> np.ndarray:
    """Class probabilities of every utterance of an (unshuffled) evaluation loader, in order."""
    return predict_outputs(module, loader)[0]


def predictions(module: EmotionClassifier, dm: FoldDataModule, rows: np.ndarray) -> Predictions:
    """`Predictions` for the given manifest rows (classes and, for dimensional tasks, attributes)."""
    ids = dm.fold.manifest["utterance_id"].to_numpy()[rows].astype(str).tolist()
    probs, estimates = predict_outputs(module, dm.rows_dataloader(rows))
    task = module.task
    if not task.has_values:
        return Predictions(ids, dm.targets[rows], probs)
    target = dm.targets[rows] if task.has_classes else np.full(len(rows), -1)
    return Predictions(ids, target, probs, list(task.attributes), dm.fold.values(rows), estimates)


# ---------------------------------------------------------------------- reloading a finished run
def checkpoint_of(run_dir: str | Path) -> Path:
    """The checkpoint a run's metrics name (its best one), else `checkpoints/best.ckpt` or `last.ckpt`."""
    run = Path(run_dir)
    candidates = []
    metrics = run / METRICS
    if metrics.is_file():
        named = json.loads(metrics.read_text()).get("checkpoint")
        if named:
            candidates.append(run / named)
    candidates += [run / CHECKPOINT_DIR / "best.ckpt", run / CHECKPOINT_DIR / "last.ckpt"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{run} has no checkpoint ({', '.join(str(c) for c in candidates)}): is it a lightning run?"
    )


def load_classifier(cfg: DictConfig, run_dir: str | Path) -> EmotionClassifier:
    """The trained classifier of a run, rebuilt from its config and loaded with `weights_only=True`."""
    state = torch.load(checkpoint_of(run_dir), map_location="cpu", weights_only=True)
    hp = state["hyper_parameters"]
    width = n_outputs(Task.from_dict(hp.get("task")), len(hp["classes"]))
    net = instantiate(cfg.model.net, n_classes=width, **hp.get("net_inputs", {}))
    module = EmotionClassifier(
        net, hp["classes"], net_inputs=hp.get("net_inputs"), data_stats=hp.get("data_stats"), task=hp.get("task")
    )
    module.load_state_dict(state["state_dict"])
    return module.eval()


@dataclass
class NeuralModel:
    """A finished run's classifier with the config that says how its inputs are prepared."""

    cfg: DictConfig
    module: EmotionClassifier

    @property
    def classes(self) -> list[str]:
        return list(self.module.hparams.classes) if self.module.task.has_classes else []

    @property
    def task(self) -> Task:
        return self.module.task


class NeuralFamily(ModelFamily):
    """`model.family: neural`: `nn.Module` nets (`model.net`) trained by `EmotionClassifier`."""

    name = "neural"

    def fit(self, cfg: DictConfig, data: FoldData, out_dir: Path, loggers: list) -> FitResult:
        """Train on `data.split.train`, keep the best `val/ua` checkpoint, test it; return probabilities."""
        out_dir = Path(out_dir)
        dm = build_datamodule(cfg, data)
        dm.setup("fit")
        module = build_module(cfg, dm)
        trainer = build_trainer(cfg, out_dir, loggers, build_callbacks(cfg, out_dir, bool(loggers)))

        started = time.perf_counter()
        trainer.fit(module, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
        fitted = time.perf_counter()

        ckpt = trainer.checkpoint_callback
        best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
        if best is None:  # fast_dev_run and runs without checkpointing: keep the final weights
            best = str(out_dir / CHECKPOINT_DIR / "last.ckpt")
            trainer.save_checkpoint(best)
        # Testing the best checkpoint also loads its weights into `module` for the predictions below.
        trainer.test(module, datamodule=dm, ckpt_path=best, verbose=False)
        tested = time.perf_counter()

        val = predictions(module, dm, data.split.val)
        test = predictions(module, dm, data.split.test)
        score = float(ckpt.best_model_score) if ckpt is not None and ckpt.best_model_score is not None else None
        monitor = getattr(ckpt, "monitor", None) or "val/ua"
        extra = {
            "checkpoint": str(Path(best).relative_to(out_dir)) if Path(best).is_relative_to(out_dir) else best,
            "epochs": int(trainer.current_epoch),
            # named by what chose it: best_val_ua_checkpoint, best_val_ccc_mean_checkpoint
            f"best_{monitor.replace('/', '_')}_checkpoint": score,
            "n_parameters": int(sum(p.numel() for p in module.net.parameters())),
        }
        times = {"fit": fitted - started, "test": tested - fitted, "predict": time.perf_counter() - tested}
        log.info("fit %.1f s, best checkpoint %s", times["fit"], best)
        return FitResult(val=val, test=test, times=times, extra=extra)

    def load(self, run_dir: str | Path) -> NeuralModel:
        cfg = load_run_config(run_dir)
        return NeuralModel(cfg, load_classifier(cfg, run_dir))

    def predict_outputs(
        self, model: NeuralModel, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The inputs go through the run's own evaluation path: the training normalisation statistics
        saved in the checkpoint (or per-speaker statistics of these rows for `normalize: speaker`),
        the same sliding windows or whole sequences."""
        rows = np.arange(len(manifest))
        split = Split("predict", 0, 0, rows[:0], rows[:0], rows, ())
        fold = FoldData(manifest.reset_index(drop=True), list(model.module.hparams.classes), split, features, model.task)
        dm = build_datamodule(model.cfg, fold, stats=model.module.hparams.data_stats, speaker_stats=speaker_stats)
        dm.num_workers = 0
        dm.setup("predict")
        return predict_outputs(model.module, dm.rows_dataloader(rows))

    def predict_proba(
        self, model: NeuralModel, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        return self.predict_outputs(model, manifest, features, speaker_stats)[0]

    def predict_values(
        self, model: NeuralModel, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        return self.predict_outputs(model, manifest, features, speaker_stats)[1]

    def task(self, model: NeuralModel) -> Task:
        return model.task

    def speaker_fallback(self, model: NeuralModel) -> tuple[np.ndarray, np.ndarray] | None:
        stats = model.module.hparams.data_stats or {}
        if stats.get("normalize") != "speaker":
            return None
        if stats.get("pooled_mean") is None:
            raise ValueError("this run standardises each speaker but saved no pooled statistics: retrain it with this ser version")
        return np.asarray(stats["pooled_mean"]), np.asarray(stats["pooled_std"])


NEURAL = NeuralFamily()
