"""Dimensional emotion (`task=regression|multitask`): CCC, target scaling, runs on the demo corpus,
re-evaluation, prediction, ensembles, export, and the one-line errors of a corpus without V/A/D."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from omegaconf import OmegaConf

import ser
from ser.corpora import demo
from ser.ensemble import load_member, pool_fold
from ser.evaluate import reevaluate
from ser.export import ExportError, export_run
from ser.metrics import ccc, regression_metrics
from ser.task import Task, TaskSettings, check_value_columns, drop_missing_values, fit_task

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb"
VAD = ["valence", "arousal", "dominance"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ser_cache_regression")


def small(cache_dir: Path) -> list[str]:
    """A quick CPU run on a demo corpus of 12 utterances per speaker."""
    return [
        f"paths.cache_dir={cache_dir}",
        "corpus.utterances_per_speaker=12",
        "jobs=1",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.max_epochs=15",
    ]


# ------------------------------------------------------------------------------------- the maths
def test_ccc_matches_a_hand_computed_value() -> None:
    # x = 1 2 3 4 (mean 2.5, var 1.25), y = 2 2 3 5 (mean 3, var 1.5), cov 1.25:
    # CCC = 2 * 1.25 / (1.25 + 1.5 + 0.5 ** 2) = 2.5 / 3
    assert ccc([1, 2, 3, 4], [2, 2, 3, 5]) == pytest.approx(2.5 / 3, abs=1e-12)
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [2, 3, 4]) < 1.0  # correlated but shifted: Pearson would say 1
    m = regression_metrics(np.array([[1, 0], [2, 0], [3, 1], [4, 1]]), np.array([[2, 0], [2, 1], [3, 1], [5, 1]]),
                           ["a", "b"])  # fmt: skip
    assert m["test/ccc_a"] == pytest.approx(2.5 / 3)
    assert m["test/mse_a"] == pytest.approx(0.5) and m["test/mae_a"] == pytest.approx(0.5)
    assert m["test/ccc_mean"] == pytest.approx((m["test/ccc_a"] + m["test/ccc_b"]) / 2)
    assert m["test/pearson_a"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [2, 2, 3, 5])[0, 1])


@pytest.mark.parametrize("scaling", ["minmax", "standard", "none"])
def test_scaling_is_fit_on_training_values_and_inverts(scaling: str) -> None:
    train = np.array([[1.0, 2.0], [3.0, 2.5], [5.0, 4.0]])
    task = fit_task(TaskSettings(name="regression", targets=["v", "a"], scaling=scaling), train)
    scaled = task.transform(train)
    if scaling == "minmax":
        np.testing.assert_allclose(scaled.min(axis=0), -1.0) and np.testing.assert_allclose(
            scaled.max(axis=0), 1.0
        )
    elif scaling == "standard":
        np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(scaled.std(axis=0), 1.0)
    else:
        np.testing.assert_allclose(scaled, train)
    np.testing.assert_allclose(task.inverse(task.transform([[7.0, 0.0]])), [[7.0, 0.0]])
    assert Task.from_dict(task.to_dict()) == task


def test_missing_or_empty_target_columns_are_one_line_errors() -> None:
    manifest = pd.DataFrame({"utterance_id": ["a", "b"], "valence": [np.nan, np.nan], "arousal": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"no column dominance; no value in valence.*task=classification"):
        check_value_columns(manifest, VAD, "regression", "mycorpus")
    check_value_columns(manifest, ["arousal"], "regression", "mycorpus")  # has values: fine


def test_rows_without_a_value_are_counted_not_lost_silently() -> None:
    manifest = pd.DataFrame({"utterance_id": ["a", "b", "c"], "arousal": [1.0, np.nan, 3.0]})
    kept = drop_missing_values(manifest, ["arousal"])
    assert kept["utterance_id"].tolist() == ["a", "c"]
    assert kept.attrs["skipped"] == [("b", "no arousal")]


# ------------------------------------------------------------------------------------- the demo corpus
def test_demo_arousal_follows_loudness_more_than_valence(cache_dir: Path) -> None:
    """Arousal ratings are carried by the voice (its level), valence mostly by the emotion."""
    manifest = demo.read(cache_dir, utterances_per_speaker=12)
    level = []
    for path in manifest["path"]:
        wave, _ = sf.read(path)
        frames = wave[: len(wave) // 400 * 400].reshape(-1, 400)
        rms = np.sqrt((frames**2).mean(axis=1))
        level.append(20 * np.log10(np.percentile(rms, 90) + 1e-9))  # the loud part: speech, not pauses
    level = pd.Series(level)
    by_speaker = manifest.groupby("speaker")
    centred = level - level.groupby(manifest["speaker"]).transform("mean")  # speakers differ in loudness
    arousal = manifest["arousal"] - by_speaker["arousal"].transform("mean")
    valence = manifest["valence"] - by_speaker["valence"].transform("mean")
    r_arousal, r_valence = np.corrcoef(centred, arousal)[0, 1], abs(np.corrcoef(centred, valence)[0, 1])
    assert r_arousal > 0.5 and r_arousal > r_valence + 0.3, (r_arousal, r_valence)
    # and within one emotion, arousal still varies with the voice: not a per-class constant
    neutral = manifest["label"] == "neu"
    assert np.corrcoef(centred[neutral], arousal[neutral])[0, 1] > 0.2
    assert (
        manifest[VAD].notna().all().all()
        and manifest[VAD].min().min() >= 1
        and manifest[VAD].max().max() <= 5
    )


# ------------------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def regression_run(train_run, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("regression_dnn")
    return out, train_run([*small(cache_dir), "task=regression", "model=dnn"], out)


def test_regression_run_writes_ccc_per_attribute(regression_run: tuple[Path, dict]) -> None:
    out, metrics = regression_run
    assert metrics["task"] == "regression" and metrics["targets"] == VAD and metrics["classes"] == []
    for stage in ("val", "test"):
        for score in ("ccc", "pearson", "mse", "mae"):
            for name in [*VAD, "mean"]:
                assert np.isfinite(metrics[f"{stage}/{score}_{name}"]), f"{stage}/{score}_{name}"
    assert metrics["test/ccc_arousal"] > 0.3  # learnable from the voice even on this small corpus
    assert "test/ua" not in metrics and not (out / "confusion_matrix.png").exists()
    frame = pd.read_csv(out / "predictions.csv")
    assert list(frame.columns) == ["utterance_id", "fold", *VAD, *(f"pred_{a}" for a in VAD)]
    # written back in the corpus's scale (ratings 1-5), not the [-1, 1] the net learnt
    assert frame["pred_arousal"].between(0, 6).all() and frame["pred_arousal"].std() > 0.2
    assert metrics["test/ccc_arousal"] == pytest.approx(ccc(frame["arousal"], frame["pred_arousal"]))
    assert "best_val_ccc_mean_checkpoint" in metrics  # the checkpoint chosen by val/ccc_mean


def test_regression_run_reevaluates_predicts_and_refuses_onnx(regression_run: tuple[Path, dict], tmp_path: Path,
                                                             cache_dir: Path) -> None:  # fmt: skip
    out, metrics = regression_run
    again = reevaluate(out, tmp_path / "again")
    assert again["matches_training"] and again["test/ccc_mean"] == pytest.approx(
        metrics["test/ccc_mean"], abs=1e-6
    )
    model = ser.load(out)
    assert model.classes == [] and model.attributes == VAD
    files = demo.read(cache_dir, utterances_per_speaker=12)["path"].tolist()[:2]
    table = model.predict(files)
    assert [c for c in table.columns if c.startswith(("pred", "prob_"))] == [f"pred_{a}" for a in VAD]
    assert table[[f"pred_{a}" for a in VAD]].notna().all().all()
    with pytest.raises(ExportError, match="regression run"):
        export_run(out)


def test_multitask_run_reports_ua_and_ccc(train_run, cache_dir: Path, tmp_path: Path) -> None:
    metrics = train_run([*small(cache_dir), "task=multitask", "model=dnn"], tmp_path)
    assert metrics["task"] == "multitask" and metrics["classes"] == ["neu", "hap", "sad", "ang"]
    assert (
        0.25 < metrics["test/ua"] <= 1.0 and metrics["test/ccc_arousal"] > 0.0
    )  # both heads learn something
    frame = pd.read_csv(tmp_path / "predictions.csv")
    assert {"label", "pred", "prob_neu", "arousal", "pred_arousal"} <= set(frame.columns)
    assert (tmp_path / "confusion_matrix.png").is_file()
    table = ser.load(tmp_path).predict(demo.read(cache_dir, utterances_per_speaker=12)["path"].tolist()[:1])
    assert {"prob_neu", "pred", "pred_valence", "pred_arousal", "pred_dominance"} <= set(table.columns)
    assert reevaluate(tmp_path, tmp_path / "again")["matches_training"]


@pytest.mark.parametrize("net", ["cnn", "lstm"])
def test_every_net_has_a_regression_head(train_run, net: str, cache_dir: Path, tmp_path: Path) -> None:
    overrides = ["debug=fast_dev_run", "data.batch_size=8"] + (
        ["data.max_frames=100"] if net == "lstm" else []
    )
    metrics = train_run([*small(cache_dir), "task=regression", f"model={net}", *overrides], tmp_path)
    frame = pd.read_csv(tmp_path / "predictions.csv")
    assert len(frame) == metrics["test/n"] > 0 and frame[[f"pred_{a}" for a in VAD]].notna().all().all()


def test_classical_regression_and_ensembles(regression_run: tuple[Path, dict], train_run, cache_dir: Path,
                                            tmp_path: Path) -> None:  # fmt: skip
    dnn_dir, _ = regression_run
    ridge = train_run([*small(cache_dir), "model=ridge"], tmp_path / "ridge")
    assert ridge["task"] == "regression" and np.isfinite(ridge["test/ccc_mean"])
    assert reevaluate(tmp_path / "ridge", tmp_path / "ridge_again")["matches_training"]
    assert list(ser.load(tmp_path / "ridge").predict([demo.read(cache_dir, utterances_per_speaker=12)["path"][0]])
                .filter(like="pred_").columns) == [f"pred_{a}" for a in VAD]  # fmt: skip

    members = [load_member(dnn_dir), load_member(tmp_path / "ridge")]
    mean, _ = pool_fold(members, "mean")
    by_id = [m.test.estimates[np.argsort(m.test.utterance_id)] for m in members]
    np.testing.assert_allclose(mean.test.estimates, (by_id[0] + by_id[1]) / 2)
    weighted, info = pool_fold(members, "weighted")
    for name in VAD:  # weights follow each member's validation CCC and sum to 1
        w = info["attribute_weights"][name]
        assert sum(w) == pytest.approx(1.0) and min(w) >= 0
        val_ccc = [
            ccc(m.val.values[:, VAD.index(name)], m.val.estimates[:, VAD.index(name)]) for m in members
        ]
        if min(val_ccc) > 0:
            assert np.argmax(w) == np.argmax(val_ccc)
    with pytest.raises(ValueError, match="method=vote pools class probabilities"):
        pool_fold(members, "vote")


# ------------------------------------------------------------------------------------- user errors
def _one_line_error(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_regression_on_a_corpus_without_vad_is_one_line(tmp_path: Path) -> None:
    for k in range(4):
        sf.write(tmp_path / f"clip{k}.wav", 0.1 * np.sin(np.arange(8000) / 10), 16000)
    pd.DataFrame({"path": [f"clip{k}.wav" for k in range(4)], "label": ["a", "b"] * 2,
                  "speaker": ["s1", "s1", "s2", "s2"]}).to_csv(tmp_path / "m.csv", index=False)  # fmt: skip
    line = _one_line_error(["task=regression", "corpus=manifest", "corpus.path=m.csv", "labels=all",
                            f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path)  # fmt: skip
    assert "task=regression needs values in the manifest columns valence, arousal, dominance" in line
    assert "no value in valence, arousal, dominance" in line


@pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"EmoDB not found at {EMODB}")
def test_regression_on_emodb_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(
        ["task=regression", "corpus=emodb", f"corpus.root={EMODB}", "labels=emodb7"], tmp_path
    )
    assert "corpus emodb has no value in valence, arousal, dominance" in line


def test_task_settings_are_checked(compose_config) -> None:
    cfg = compose_config(["task=regression"])
    assert OmegaConf.to_container(cfg.task)["targets"] == VAD and cfg.optimized_metric == "val/ccc_mean"
    assert cfg.callbacks.model_checkpoint.monitor == "val/ccc_mean"
    assert compose_config([]).callbacks.model_checkpoint.monitor == "val/ua"  # classification as before
    assert compose_config(["model=svr"]).task.name == "regression"  # regressor configs pick the task
    from ser.models import get_family
    from ser.task import task_settings

    classical = get_family("classical")  # checked before any data is read (train calls family.check first)
    with pytest.raises(ValueError, match="model=svm is a classifier; task=regression needs a regressor"):
        classical.check(compose_config(["task=regression", "model=svm"]))
    with pytest.raises(ValueError, match="model=svr is a regressor: train it with task=regression"):
        classical.check(compose_config(["model=svr", "task=classification"]))
    with pytest.raises(ValueError, match="task=multitask trains one neural net"):
        classical.check(compose_config(["model=ridge", "task=multitask"]))
    classical.check(compose_config(["model=svm"]))  # a classifier for classes: fine

    with pytest.raises(ValueError, match="task.scaling=minmaxx is not a choice"):
        task_settings({"task": {"name": "regression", "scaling": "minmaxx"}})
    assert (
        json.loads(json.dumps(fit_task(TaskSettings(), np.zeros((0, 3))).to_dict()))["name"]
        == "classification"
    )


def test_multitask_ensemble_pools_classes_and_attributes() -> None:
    """Two multitask members: classes pooled by the method, attributes by mean (or validation CCC)."""
    from ser.ensemble import Member
    from ser.runs import Predictions

    ids = ["u1", "u2", "u3", "u4"]
    values = np.array([[1.0], [2.0], [3.0], [4.0]])
    protocol = ("demo", "iemocap4", "loso", "")

    def member(name: str, probs: list[list[float]], estimates: list[float]) -> Member:
        part = Predictions(ids, [0, 1, 0, 1], probs, ["arousal"], values, np.array(estimates)[:, None])
        return Member(Path(name), 1, ["a", "b"], part, part, protocol)

    good = member("good", [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], [1.1, 2.1, 2.9, 4.2])
    poor = member(
        "poor", [[0.4, 0.6], [0.6, 0.4], [0.5, 0.5], [0.5, 0.5]], [4.0, 1.0, 3.0, 2.0]
    )  # negative CCC
    mean, _ = pool_fold([good, poor], "mean")
    np.testing.assert_allclose(mean.test.probs, (good.test.probs + poor.test.probs) / 2)
    np.testing.assert_allclose(mean.test.estimates, (good.test.estimates + poor.test.estimates) / 2)
    weighted, info = pool_fold([good, poor], "weighted")
    assert info["attribute_weights"]["arousal"] == [1.0, 0.0]  # the poor member's validation CCC is below 0
    np.testing.assert_allclose(weighted.test.estimates, good.test.estimates)
    assert weighted.test.has_classes and weighted.test.attributes == ["arousal"]
