"""The neural training path end to end on a small demo corpus: `train(cfg)` with composed configs.

Every test composes the real `conf/` with `hydra.compose`, on a demo corpus of 12 utterances per
speaker and a feature cache shared by the session, so features are extracted once per view.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
NETS = ["cnn", "resnet18", "resnet34", "dnn", "lstm"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ser_cache")


def small(cache_dir: Path) -> list[str]:
    """Overrides for a small, quick CPU run."""
    return [
        f"paths.cache_dir={cache_dir}",
        "corpus.utterances_per_speaker=12",
        "jobs=1",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "logger=csv",
    ]


@pytest.mark.parametrize("net", NETS)
def test_fast_dev_run_every_net(train_run, net: str, cache_dir: Path, tmp_path: Path) -> None:
    tiny = ["data.batch_size=8"] + (["data.max_frames=100"] if net == "lstm" else [])
    metrics = train_run([*small(cache_dir), f"model={net}", "debug=fast_dev_run", *tiny], tmp_path)
    for key in ("test/wa", "test/ua", "test/macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["model"] == net
    frame = pd.read_csv(tmp_path / "predictions.csv")
    assert len(frame) == metrics["test/n"] > 0
    probs = frame[[c for c in frame.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (tmp_path / "val_predictions.csv").is_file() and (tmp_path / "confusion_matrix.png").is_file()
    assert (tmp_path / metrics["checkpoint"]).is_file()


def test_resume_from_last_checkpoint(train_run, cache_dir: Path, tmp_path: Path) -> None:
    base = [*small(cache_dir), "model=dnn", "callbacks.early_stopping=null"]
    first = train_run([*base, "trainer.max_epochs=2"], tmp_path / "first")
    assert first["epochs"] == 2
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    resumed = train_run([*base, "trainer.max_epochs=3", f"ckpt_path={last}"], tmp_path / "resumed")
    assert resumed["epochs"] == 3
    logged = pd.read_csv(tmp_path / "resumed" / "csv" / "metrics.csv")
    # Only the third epoch (index 2) was trained again: epochs 0 and 1 came from the checkpoint.
    assert set(logged.dropna(subset=["train/loss"])["epoch"].astype(int)) == {2}


@pytest.mark.parametrize("net", ["dnn", "cnn"])
def test_same_seed_same_metrics(train_run, net: str, cache_dir: Path, tmp_path: Path) -> None:
    overrides = [
        *small(cache_dir),
        f"model={net}",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "seed=7",
    ]
    a = train_run(overrides, tmp_path / "a")
    b = train_run(overrides, tmp_path / "b")
    for key in ("val/ua", "test/wa", "test/ua", "test/macro_f1"):
        assert a[key] == b[key]
    pa = pd.read_csv(tmp_path / "a" / "predictions.csv")
    pb = pd.read_csv(tmp_path / "b" / "predictions.csv")
    pd.testing.assert_frame_equal(pa, pb)


def test_overfit_preset_fits_a_few_batches(train_run, cache_dir: Path, tmp_path: Path) -> None:
    """debug=overfit: train and validate on the same 3 batches; the net must learn them."""
    train_run([*small(cache_dir), "model=dnn", "debug=overfit", "trainer.max_epochs=40"], tmp_path)
    logged = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    final = logged.dropna(subset=["train/wa"]).iloc[-1]
    assert final["train/wa"] > 0.95


def _python(args: list[str], env_extra: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_ddp_two_cpu_processes(cache_dir: Path, tmp_path: Path) -> None:
    """trainer=ddp_cpu: two gloo processes train a few batches; rank 0 writes the run."""
    out = tmp_path / "ddp"
    proc = _python(
        ["train.py", *small(cache_dir), "model=dnn", "trainer=ddp_cpu", "trainer.max_epochs=2",
         "trainer.limit_train_batches=2", f"hydra.run.dir={out}"],
        {}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Lightning's own log line (Python): Gloo's "Rank 1 is connected" comes from C++ stdout, whose
    # buffer a piped child process does not always flush
    assert "All distributed processes registered. Starting with 2 processes" in proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test/ua"] <= 1.0 and metrics["epochs"] == 2


@pytest.mark.slow
def test_default_training_reaches_ua_on_demo(tmp_path: Path) -> None:
    """`python train.py` with no model arguments: test UA >= 0.6 on the full demo corpus."""
    out = tmp_path / "default"
    proc = _python(
        ["train.py", f"paths.cache_dir={tmp_path / 'cache'}", "trainer.enable_progress_bar=false", f"hydra.run.dir={out}"],
        {}, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/ua"] >= 0.6, metrics


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=cnn", "trainer.limit_train_batches=2"],
        ["model=lstm", "data.max_frames=100"],
        ["model=dnn", "data.normalize=speaker"],
    ],
    ids=["cnn", "lstm", "dnn-speaker-norm"],
)
def test_evaluate_reloads_the_checkpoint_and_reproduces_the_metrics(
    train_run,     overrides: list[str], cache_dir: Path, tmp_path: Path
) -> None:
    """`ser.evaluate.reevaluate` rebuilds the net from the config and the weights-only checkpoint."""
    from ser.evaluate import reevaluate

    train_run([*small(cache_dir), *overrides, "trainer.max_epochs=1", "data.batch_size=8"], tmp_path / "run")
    metrics = reevaluate(tmp_path / "run", tmp_path / "again")
    assert metrics["matches_training"]


def test_evaluate_predicts_new_audio_stereo_44k_and_long_files(train_run, cache_dir: Path, tmp_path: Path) -> None:
    """`evaluate.py audio=...`: a stereo 44.1 kHz file (FLAC) scores like its mono downmix, and a long
    file is analysed in windows whose probabilities are averaged."""
    import soundfile as sf
    import soxr

    from ser.evaluate import predict_audio

    train_run([*small(cache_dir), "model=dnn", "trainer.max_epochs=2"], tmp_path / "run")
    cfg = OmegaConf.load(tmp_path / "run" / ".hydra" / "config.yaml")
    clips = sorted((Path(cfg.paths.cache_dir)).glob("demo-*/Session1/sentences/wav/*/*.wav"))[:6]
    audio = tmp_path / "audio"
    audio.mkdir()
    original, sr = sf.read(clips[0], dtype="float32")
    at_44k = soxr.resample(original, sr, 44100)
    sf.write(audio / "a_mono44k.wav", at_44k, 44100, subtype="FLOAT")
    sf.write(audio / "b_stereo44k.flac", np.stack([1.1 * at_44k, 0.9 * at_44k], axis=1), 44100)
    long = np.concatenate([sf.read(c, dtype="float32")[0] for c in clips])
    sf.write(audio / "c_long.wav", long, sr)

    table = predict_audio(tmp_path / "run", audio, tmp_path / "pred", window_s=4.0, hop_s=2.0)
    assert (tmp_path / "pred" / "audio_predictions.csv").is_file()
    assert [Path(f).name for f in table["input"]] == ["a_mono44k.wav", "b_stereo44k.flac", "c_long.wav"]
    probs = table[[c for c in table.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[1], probs[0], atol=0.02)
    n_windows = len(np.arange(0.0, len(long) / sr - 4.0, 2.0)) + 1
    assert list(table["windows"]) == [1, 1, n_windows] and n_windows >= 4
    assert set(table["pred"]) <= {"neu", "hap", "sad", "ang"}
