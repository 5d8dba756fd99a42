"""Multirun sweeps: the cross-validation summary (plain function and Hydra callback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ser.cv import configuration_of, summarize_runs
from ser.metrics import classification_metrics
from ser.runs import FitResult, Predictions, write_run
from ser.sweep_summary import write_summary

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["neu", "hap", "sad", "ang"]


def fake_run(run_dir: Path, overrides: list[str], fold: int, accuracy: float, seed: int) -> None:
    """A run directory with Hydra's overrides.yaml and predictions of a given accuracy."""
    rng = np.random.default_rng(seed)
    target = np.tile(np.arange(4), 10)
    pred = np.where(rng.random(len(target)) < accuracy, target, (target + 1) % 4)
    probs = np.eye(4)[pred] * 0.7 + 0.075
    ids = [f"f{fold}_{i}" for i in range(len(target))]
    p = Predictions(ids, target, probs)
    write_run(run_dir, FitResult(val=p, test=p), CLASSES, fold, {"model": overrides[0].split("=")[1]})
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))


def test_configuration_ignores_fold_and_seed() -> None:
    assert configuration_of(["model=cnn", "split.fold=3", "seed=1", "optim=sgd"]) == "model=cnn,optim=sgd"
    assert configuration_of(["split.fold=2"]) == "(defaults)"


def test_summary_groups_folds_and_pools_predictions(tmp_path: Path) -> None:
    runs = []
    for model, acc in (("cnn", 0.9), ("dnn", 0.5)):
        for fold in (1, 2, 3):
            run = tmp_path / f"{model}_{fold}"
            fake_run(run, [f"model={model}", f"split.fold={fold}"], fold, acc, seed=fold)
            runs.append(run)
    summary = summarize_runs(runs)
    assert list(summary["configuration"]) == ["model=cnn", "model=dnn"]  # best test UA first
    row = summary.iloc[0]
    per_fold = [
        json.loads((tmp_path / f"cnn_{f}" / "metrics.json").read_text())["test/ua"] for f in (1, 2, 3)
    ]
    assert row["runs"] == 3 and row["folds"] == "1,2,3"
    assert row["test/ua_mean"] == pytest.approx(np.mean(per_fold))
    assert row["test/ua_std"] == pytest.approx(np.std(per_fold, ddof=1))
    pooled = pd.concat([pd.read_csv(tmp_path / f"cnn_{f}" / "predictions.csv") for f in (1, 2, 3)])
    index = {c: i for i, c in enumerate(CLASSES)}
    ref = classification_metrics(pooled["label"].map(index), pooled["pred"].map(index), CLASSES, "p")
    assert row["pooled/ua"] == pytest.approx(ref["p/ua"]) and row["pooled/n"] == 120
    written = write_summary(tmp_path)
    assert written is not None
    assert (tmp_path / "summary.csv").is_file()
    assert "| model=cnn | 3 |" in (tmp_path / "summary.md").read_text()


def test_multirun_over_folds_writes_the_summary(tmp_path: Path) -> None:
    """`python train.py -m model=dnn split.fold=1,2`: two runs, one summary row with both folds."""
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", "model=dnn", "split.fold=1,2", "trainer.max_epochs=2",
         f"paths.cache_dir={tmp_path / 'cache'}", f"corpus.cache_dir={tmp_path / 'cache'}",
         "corpus.utterances_per_speaker=12", "jobs=1",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dirs = sorted(p.parent for p in sweep.rglob("metrics.json"))
    # one flat folder per job, named by its overrides; the path value shortened to its last part
    assert [d.parent for d in run_dirs] == [sweep, sweep]
    runs = [d.name for d in run_dirs]
    assert runs[0].startswith("0_") and "split.fold=1" in runs[0] and "corpus.cache_dir=cache" in runs[0]
    assert f"run folder: {run_dirs[1]}" in proc.stdout
    summary = pd.read_csv(sweep / "summary.csv")
    assert len(summary) == 1 and summary.loc[0, "runs"] == 2 and summary.loc[0, "folds"] == "1,2"
    assert (
        "model=dnn" in summary.loc[0, "configuration"] and "split.fold" not in summary.loc[0, "configuration"]
    )
    assert "test/ua_std" in summary.columns and (sweep / "summary.md").is_file()


def _multirun(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", "-m", *args, "trainer.max_epochs=1", f"paths.cache_dir={tmp_path / 'cache'}",
         "corpus.utterances_per_speaker=12", "jobs=1", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel(tmp_path: Path) -> None:
    proc = _multirun(["hydra/launcher=local_parallel", "model=dnn", "optim=sgd,adam"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert len(summary) == 2  # one configuration per optimizer


@pytest.mark.slow
def test_optuna_search_runs_trials(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install -e '.[optuna]'")
    proc = _multirun(["hparams_search=optuna", "hydra.sweeper.n_trials=2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sweep" / "optimization_results.yaml").is_file()
    assert len(list((tmp_path / "sweep").rglob("metrics.json"))) == 2
