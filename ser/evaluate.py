"""Re-evaluate a finished run, or apply it to new audio.

A run directory holds everything needed: `.hydra/config.yaml` (the composed config it was trained
with), the model (`*.ckpt` or `model.joblib`) and its `metrics.json`. The run's model family
(`ser.models.FAMILIES`) loads the model and gives its probabilities; new audio goes through the
Python API (`ser.load(run).predict`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.api import load
from ser.fold import prepare_fold
from ser.loggers import build_loggers
from ser.models import get_family
from ser.runs import SUMMARY_METRICS, FitResult, Predictions, load_run_config, read_metrics, write_run
from ser.threads import set_torch_threads

log = logging.getLogger(__name__)

def reevaluate(run_dir: str | Path, out_dir: str | Path, threads: int | str | None = "auto") -> dict:
    """Rebuild the run's fold and model, recompute validation and test predictions and metrics.

    Returns the new metrics with `matches_training` telling whether WA/UA/macro-F1 equal the
    training-time figures (to 1e-6). `threads`: torch's intra-op threads (`ser.threads`).
    """
    set_torch_threads(threads)
    run = Path(run_dir)
    cfg = load_run_config(run)
    data = prepare_fold(cfg)
    family = get_family(cfg.model.family)
    model = family.load(run)
    task = family.task(model)
    parts = {}
    for part in ("val", "test"):
        rows = getattr(data.split, part)
        manifest = data.manifest.iloc[rows].reset_index(drop=True)
        features = data.features.subset(rows)
        probs = family.predict_proba(model, manifest, features)
        target = manifest["target"].to_numpy() if task.has_classes else np.full(len(rows), -1)
        if task.has_values:
            estimates = family.predict_values(model, manifest, features)
            parts[part] = Predictions(manifest["utterance_id"].tolist(), target, probs, list(task.attributes),
                                      data.values(rows), estimates)  # fmt: skip
        else:
            parts[part] = Predictions(manifest["utterance_id"].tolist(), target, probs)
    metrics = write_run(out_dir, FitResult(val=parts["val"], test=parts["test"]), data.classes, data.split.fold,
                        {"reevaluated_run": str(run)})
    trained = read_metrics(run)
    # the task's headline figures: classes' WA/UA/macro-F1, attributes' CCC
    checked = (list(SUMMARY_METRICS) if task.has_classes else []) + (
        [f"test/ccc_{a}" for a in task.attributes] + ["test/ccc_mean"] if task.has_values else [])  # fmt: skip
    diffs = {k: abs(metrics[k] - trained[k]) for k in checked if k in trained}
    metrics["matches_training"] = bool(diffs) and max(diffs.values()) < 1e-6
    for key in checked:
        print(f"{key:15s} trained {trained.get(key, float('nan')):.4f}  now {metrics[key]:.4f}")
    print("matches training-time metrics" if metrics["matches_training"] else f"DIFFERS from training-time metrics: {diffs}")
    print(f"evaluation folder: {out_dir}")
    return metrics


def predict_audio(
    run_dir: str | Path,
    audio: str | Path,
    out_dir: str | Path,
    window_s: float = 4.0,
    hop_s: float = 2.0,
    speakers: str = "none",
    min_speaker_seconds: float = 30.0,
    threads: int | str | None = "auto",
) -> pd.DataFrame:
    """`evaluate.py audio=`: `ser.load(run).predict(audio)`, written to `audio_predictions.csv` and printed."""
    table = load(run_dir, threads).predict(audio, speakers=speakers, window_s=window_s, hop_s=hop_s,
                                  min_speaker_seconds=min_speaker_seconds)  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "audio_predictions.csv", index=False)
    shown = table[table["error"] == ""].drop(columns=["error"]).assign(input=lambda t: t["input"].map(lambda s: Path(s).name))
    print(shown.drop(columns=["speaker"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for _, row in table[table["error"] != ""].iterrows():
        print(f"skipped {row['input']}: {row['error']}")
    print(f"wrote {out / 'audio_predictions.csv'}")
    print(f"evaluation folder: {out}")
    return table


def log_like_inputs(logger_cfg: DictConfig | None, run_dir: str | Path, metrics: dict, job_type: str) -> None:
    """Log evaluation results with the given loggers, as a run in the input run's project and group.

    The logger configs are resolved against the input run's saved config, so W&B's project, group,
    name and tags are the input run's own; `job_type` tells the evaluation apart.
    """
    if not logger_cfg:
        return
    merged = OmegaConf.merge(load_run_config(run_dir), {"logger": logger_cfg})
    if "wandb" in merged.logger:
        merged.logger.wandb.job_type = job_type
    for lg in build_loggers(merged.logger):
        lg.log_hyperparams({"evaluated_run": str(run_dir), "job_type": job_type})
        lg.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        lg.save()


__all__ = ["log_like_inputs", "predict_audio", "reevaluate"]
