"""`train(cfg)`: train and test one model on one fold, write the run artifacts, return the metrics.

The flow: `prepare_fold(cfg)` (corpus, labels, features, split) -> the model family that
`model.family` names (`ser.models.FAMILIES`) fits on it -> `write_run` writes the run artifacts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ser.config import check_settings  # importing ser.config registers the config schemas with Hydra
from ser.fold import prepare_fold
from ser.loggers import build_loggers
from ser.models import get_family
from ser.render import results_table
from ser.runs import output_dir, prediction_metrics, write_run
from ser.threads import set_torch_threads

log = logging.getLogger(__name__)

def train(cfg: DictConfig) -> dict:
    """Train, test and record one model on one fold; return metrics.json's content."""
    check_settings(cfg)
    get_family(cfg.model.family).check(cfg)  # e.g. a classifier with task=regression: one line, before any data
    set_torch_threads(cfg.get("threads", "auto"))  # torch's default collapses next to busy processes
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)  # not on stderr: errors there stay one line
    log.info("seed %d", int(cfg.seed))
    out = output_dir(cfg)
    started = time.perf_counter()
    data = prepare_fold(cfg)
    prepared = time.perf_counter() - started
    loggers = build_loggers(cfg.get("logger"))
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    result = get_family(cfg.model.family).fit(cfg, data, out, loggers)
    if rank_zero_only.rank != 0:  # DDP worker processes: rank 0 alone writes the run and prints
        return {**prediction_metrics(result.val, data.classes, "val"), **prediction_metrics(result.test, data.classes, "test")}
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
    if "corpus" in data.manifest.columns:  # corpus=multi: which corpora the run trained and tested on
        corpus = data.manifest["corpus"].to_numpy()
        info["train_corpora"] = sorted(set(corpus[data.split.train]))
        info["test_corpora"] = sorted(set(corpus[data.split.test]))
    if "subset" in cfg.corpus:  # IEMOCAP-layout corpora: which dialogs the run saw
        info["corpus_subset"] = str(cfg.corpus.subset)
    metrics = write_run(out, result, data.classes, data.split.fold, info)
    numeric = {k: v for k, v in metrics.items() if k.startswith(("test/", "val/")) and isinstance(v, (int, float))}
    for lg in loggers:
        lg.log_metrics({f"final/{k}": v for k, v in numeric.items()})
        lg.save()
    print(results_table(metrics, data.classes))
    for lg in loggers:
        if hasattr(lg, "experiment") and type(lg).__name__ == "WandbLogger":
            _log_wandb_extras(lg, out, metrics, data.classes)
    print(f"run folder: {out}")
    return metrics


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
