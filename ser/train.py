"""`train(cfg)`: train and test one model on one fold, write the run artifacts, return the metrics.

Model families plug in through `FAMILIES`: each is a function
`fit(cfg, data: FoldData, out_dir: Path, loggers: list) -> FitResult` that trains on
`data.split.train`, selects on `data.split.val` and predicts probabilities for val and test.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ser.loggers import build_loggers
from ser.metrics import classification_metrics
from ser.pipeline import prepare_fold
from ser.runs import write_run

log = logging.getLogger(__name__)

# model.family -> "module:function" (imported lazily so a classical run never imports the nets)
FAMILIES = {
    "lightning": "ser.models.lightning_fit:fit",
    "sklearn": "ser.models.sklearn:fit",
}


def output_dir(cfg: DictConfig) -> Path:
    """The Hydra run directory when running under Hydra, else `paths.output_dir`."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.paths.output_dir)


def family_fit(name: str):
    """Look up the fit function of a model family, with a clear error for unknown names."""
    if name not in FAMILIES:
        raise ValueError(f"model.family={name!r} is unknown: choose one of {', '.join(FAMILIES)}")
    module, func = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), func)


def train(cfg: DictConfig) -> dict:
    """Train, test and record one model on one fold; return metrics.json's content."""
    L.seed_everything(int(cfg.seed), workers=True)
    out = output_dir(cfg)
    started = time.perf_counter()
    data = prepare_fold(cfg)
    prepared = time.perf_counter() - started
    loggers = build_loggers(cfg.get("logger"))
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    result = family_fit(cfg.model.family)(cfg, data, out, loggers)
    if rank_zero_only.rank != 0:  # DDP worker processes: rank 0 alone writes the run and prints
        return {**classification_metrics(result.val.target, result.val.pred, data.classes, "val"),
                **classification_metrics(result.test.target, result.test.pred, data.classes, "test")}
    result.times = {"data": prepared, **result.times}
    info = {
        "model": cfg.model.name,
        "corpus": cfg.corpus.name,
        "labels": cfg.labels.name,
        "split": data.split.method,
        "test_groups": list(data.split.test_groups),
        "seed": int(cfg.seed),
        "n_train": len(data.split.train),
        "n_val": len(data.split.val),
    }
    metrics = write_run(out, result, data.classes, data.split.fold, info)
    numeric = {k: v for k, v in metrics.items() if k.startswith(("test/", "val/")) and isinstance(v, (int, float))}
    for lg in loggers:
        lg.log_metrics({f"final/{k}": v for k, v in numeric.items()})
        lg.save()
    log_results_table(metrics, data.classes)
    for lg in loggers:
        if hasattr(lg, "experiment") and type(lg).__name__ == "WandbLogger":
            _log_wandb_extras(lg, out, metrics, data.classes)
    return metrics


def log_results_table(metrics: dict, classes: list[str]) -> None:
    """Print the short results table users read at the end of a run."""
    lines = [f"{'':12s}{'val':>8s}{'test':>8s}"]
    for key in ("wa", "ua", "macro_f1"):
        lines.append(f"{key:12s}{metrics.get(f'val/{key}', float('nan')):8.3f}{metrics[f'test/{key}']:8.3f}")
    for name in classes:
        rec = metrics.get(f"test/recall_{name}")
        if rec is not None:
            lines.append(f"{'recall ' + name:12s}{'':8s}{rec:8.3f}")
    print("\n".join(lines))


def _log_wandb_extras(logger, out: Path, metrics: dict, classes: list[str]) -> None:
    """Confusion-matrix image and per-class table on the W&B run."""
    import wandb

    rows = [[c, metrics.get(f"test/recall_{c}"), metrics.get(f"test/count_{c}")] for c in classes]
    logger.experiment.log(
        {
            "test/confusion_matrix": wandb.Image(str(out / "confusion_matrix.png")),
            "test/per_class": wandb.Table(columns=["class", "recall", "count"], data=rows),
        }
    )
