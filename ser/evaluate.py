"""Re-evaluate a finished run, or apply it to new audio.

A run directory holds everything needed: `.hydra/config.yaml` (the composed config it was trained
with), the model (`*.ckpt` or `model.joblib`) and its `metrics.json`. The run's model family
(`ser.models.FAMILIES`) loads the model and gives its probabilities.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.audio import AudioError, audio_duration
from ser.corpora.manifest_schema import make_manifest
from ser.features import extract_view
from ser.fold import prepare_fold
from ser.loggers import build_loggers
from ser.models import get_family
from ser.runs import SUMMARY_METRICS, FitResult, Predictions, load_run_config, read_metrics, write_run

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


def reevaluate(run_dir: str | Path, out_dir: str | Path) -> dict:
    """Rebuild the run's fold and model, recompute validation and test predictions and metrics.

    Returns the new metrics with `matches_training` telling whether WA/UA/macro-F1 equal the
    training-time figures (to 1e-6).
    """
    run = Path(run_dir)
    cfg = load_run_config(run)
    data = prepare_fold(cfg)
    family = get_family(cfg.model.family)
    model = family.load(run)
    parts = {}
    for part in ("val", "test"):
        rows = getattr(data.split, part)
        manifest = data.manifest.iloc[rows].reset_index(drop=True)
        probs = family.predict_proba(model, manifest, data.features.subset(rows))
        parts[part] = Predictions(manifest["utterance_id"].tolist(), manifest["target"].to_numpy(), probs)
    metrics = write_run(out_dir, FitResult(val=parts["val"], test=parts["test"]), data.classes, data.split.fold,
                        {"reevaluated_run": str(run)})
    trained = read_metrics(run)
    diffs = {k: abs(metrics[k] - trained[k]) for k in SUMMARY_METRICS if k in trained}
    metrics["matches_training"] = bool(diffs) and max(diffs.values()) < 1e-6
    for key in SUMMARY_METRICS:
        print(f"{key:15s} trained {trained.get(key, float('nan')):.4f}  now {metrics[key]:.4f}")
    print("matches training-time metrics" if metrics["matches_training"] else f"DIFFERS from training-time metrics: {diffs}")
    return metrics


def audio_files(path: str | Path) -> list[Path]:
    """Audio files at `path` (a file, or a folder searched recursively)."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and not f.name.startswith("._"))
        if files:
            return files
        raise FileNotFoundError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) under {p}")
    raise FileNotFoundError(f"audio path {p} does not exist: pass audio=FILE_OR_DIR")


def segment_manifest(files: list[Path], window_s: float, hop_s: float) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One row per analysis window: files up to 1.5 windows long are one segment, longer ones are
    cut into `window_s` windows every `hop_s` seconds (the last window ends at the file's end)."""
    rows, skipped = [], []
    for f in files:
        try:
            duration = audio_duration(f)
        except AudioError as err:
            log.warning("%s: skipped", err)
            skipped.append((str(f), "unreadable_audio"))
            continue
        if duration <= 1.5 * window_s:
            starts = [0.0]
            length = duration
        else:
            starts = list(np.arange(0.0, duration - window_s, hop_s)) + [duration - window_s]
            length = window_s
        for k, start in enumerate(starts):
            rows.append(dict(utterance_id=f"{f}#{k}", path=str(f.resolve()), offset=float(start), duration=float(length),
                             speaker="unknown", group="unknown", label=""))
    return make_manifest(rows, skipped), skipped


def predict_audio(run_dir: str | Path, audio: str | Path, out_dir: str | Path, window_s: float = 4.0,
                  hop_s: float = 2.0, jobs: int = 1) -> pd.DataFrame:
    """Predict emotions for new audio with a trained run; write `audio_predictions.csv` (one row per
    file: mean of its windows' probabilities, predicted class, window count) and return it."""
    run = Path(run_dir)
    cfg = load_run_config(run)
    classes = list(read_metrics(run)["classes"])
    manifest, skipped = segment_manifest(audio_files(audio), window_s, hop_s)
    if manifest.empty:
        raise ValueError(f"no readable audio under {audio}")
    features = extract_view(manifest, OmegaConf.to_container(cfg.features, resolve=True), cache_dir=cfg.paths.cache_dir,
                            jobs=jobs, progress=False)
    skipped += list(features.skipped)
    manifest = manifest.set_index("utterance_id", drop=False).loc[features.ids].reset_index(drop=True)
    family = get_family(cfg.model.family)
    probs = family.predict_proba(family.load(run), manifest, features)
    windows = pd.DataFrame(probs, columns=[f"prob_{c}" for c in classes])
    windows["file"] = manifest["path"].to_numpy()
    table = windows.groupby("file", sort=True).mean()
    table["pred"] = [classes[i] for i in table.to_numpy().argmax(axis=1)]
    table["windows"] = windows.groupby("file", sort=True).size()
    table = table.reset_index()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "audio_predictions.csv", index=False)
    shown = table.assign(file=table["file"].map(lambda s: Path(s).name))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for path, reason in skipped:
        print(f"skipped {path}: {reason}")
    print(f"wrote {out / 'audio_predictions.csv'}")
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


__all__ = ["log_like_inputs", "audio_files", "predict_audio", "reevaluate", "segment_manifest"]
