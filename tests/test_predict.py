"""Predicting new audio with a trained run: `ser.load(RUN).predict(...)`.

The defect this guards against: with per-speaker standardisation, a lone file used to be
standardised against itself (its features became zeros), so every file got the same probabilities.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

import ser
from ser.runs import check_run_dir

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
needs_emodb = pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"EmoDB not found at {EMODB}")
# EmoDB file names: speaker (2 digits), text (3), emotion letter, version; LOSO fold 1 tests speaker 03
EMODB_CLASS = {"W": "ang", "T": "sad", "N": "neu", "F": "hap", "A": "fea", "E": "dis", "L": "bor"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def probs_of(table: pd.DataFrame) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("prob_")]].to_numpy()


@pytest.fixture(scope="module")
def emodb_svm(tmp_path_factory: pytest.TempPathFactory, train_run) -> Path:
    """A default svm run (per-speaker standardisation) on EmoDB, LOSO fold 1: speaker 03 held out."""
    if not (EMODB / "wav").is_dir():
        pytest.skip(f"EmoDB not found at {EMODB}")
    out = tmp_path_factory.mktemp("emodb_svm")
    metrics = train_run(
        ["model=svm", "corpus=emodb", f"corpus.root={EMODB}", "labels=emodb7", "jobs=1",
         f"paths.cache_dir={os.environ.get('SER_CACHE') or out / 'cache'}"],
        out,
    )  # fmt: skip
    assert metrics["test_groups"] == ["emodb03"]
    return out


@needs_emodb
def test_single_files_of_a_held_out_speaker_get_their_own_predictions(emodb_svm: Path) -> None:
    """Three held-out clips of different emotions, each predicted alone: three different rows, at
    least two of them right."""
    model = ser.load(emodb_svm)
    clips = [EMODB / "wav" / name for name in ("03a01Wa.wav", "03a02Ta.wav", "03a01Nc.wav")]
    tables = [model.predict(clip) for clip in clips]
    rows = np.vstack([probs_of(t) for t in tables])
    assert rows.shape == (3, len(model.classes))
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(rows[i] - rows[j]).max() > 0.1, (i, j, rows)
    right = sum(t["pred"].iloc[0] == EMODB_CLASS[c.name[5]] for t, c in zip(tables, clips, strict=True))
    assert right >= 2, [t["pred"].iloc[0] for t in tables]


@needs_emodb
def test_same_file_same_prediction_alone_or_among_other_speakers(emodb_svm: Path) -> None:
    model = ser.load(emodb_svm)
    clip = EMODB / "wav" / "03a01Wa.wav"
    others = sorted((EMODB / "wav").glob("1*.wav"))[:15]
    alone = model.predict(clip)
    among = model.predict([clip, *others])
    assert len(among) == 16 and among["input"].iloc[0] == str(clip)
    np.testing.assert_allclose(probs_of(among)[:1], probs_of(alone), atol=1e-9)


@needs_emodb
def test_a_speaker_grouped_with_enough_audio_uses_their_own_statistics(emodb_svm: Path) -> None:
    """All of speaker 03's clips as one speaker (well over 30 s): their own statistics, as in the
    run's test; the predictions then match the run's own test predictions."""
    model = ser.load(emodb_svm)
    clips = sorted((EMODB / "wav").glob("03*.wav"))
    grouped = model.predict(clips, speakers="single", window_s=10.0)  # whole clips, as in training
    assert (grouped["windows"] == 1).all()
    saved = pd.read_csv(emodb_svm / "predictions.csv")
    assert (grouped["pred"].to_numpy() == saved["pred"].to_numpy()).mean() > 0.95
    alone = model.predict(clips[0])
    assert np.abs(probs_of(alone) - probs_of(grouped)[:1]).max() > 1e-6  # a different standardisation


@pytest.fixture(scope="module")
def demo_dnn(tmp_path_factory: pytest.TempPathFactory, train_run) -> Path:
    """A short default-dnn run (per-speaker standardisation) on a small demo corpus."""
    out = tmp_path_factory.mktemp("demo_dnn")
    train_run(
        [f"paths.cache_dir={out / 'cache'}", "corpus.utterances_per_speaker=12", "jobs=1", "trainer.max_epochs=5",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "logger=csv"],
        out,
    )  # fmt: skip
    return out


def demo_clips(run: Path, n: int) -> list[Path]:
    return sorted((run / "cache").glob("demo-*/Session1/sentences/wav/*/*.wav"))[:n]


def test_neural_single_files_differ_and_do_not_depend_on_the_call(demo_dnn: Path) -> None:
    model = ser.load(demo_dnn)
    assert model.classes == ["neu", "hap", "sad", "ang"] and model.config.model.name == "dnn"
    clips = demo_clips(demo_dnn, 6)
    alone = np.vstack([probs_of(model.predict(c)) for c in clips])
    assert len({tuple(np.round(r, 6)) for r in alone}) == len(clips)  # no two files alike
    together = probs_of(model.predict(clips))
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_arrays_at_any_rate_score_like_the_same_audio_in_a_file(demo_dnn: Path, tmp_path: Path) -> None:
    model = ser.load(demo_dnn)
    wave, sr = sf.read(demo_clips(demo_dnn, 1)[0], dtype="float32")
    at_44k = soxr.resample(wave, sr, 44100).astype(np.float32)
    sf.write(tmp_path / "a44k.wav", at_44k, 44100, subtype="FLOAT")
    table = model.predict([at_44k, np.stack([at_44k, at_44k], axis=1)], sample_rate=44100)
    assert list(table["input"]) == ["array[0]", "array[1]"]
    from_file = probs_of(model.predict(tmp_path / "a44k.wav"))
    np.testing.assert_allclose(probs_of(table), np.vstack([from_file] * 2), atol=1e-4)


def test_predict_writes_nothing(demo_dnn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SER_CACHE", raising=False)
    ser.load(demo_dnn).predict(demo_clips(demo_dnn, 2))
    assert list(tmp_path.iterdir()) == []


def test_unreadable_file_is_a_row_with_its_reason(demo_dnn: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    table = ser.load(demo_dnn).predict([demo_clips(demo_dnn, 1)[0], bad])
    assert table["error"].iloc[0] == "" and "broken.wav" in table["error"].iloc[1]
    assert table["pred"].iloc[1] == "" and np.isnan(probs_of(table)[1]).all()


def test_user_mistakes_are_one_line_errors(demo_dnn: Path, tmp_path: Path) -> None:
    model = ser.load(demo_dnn)
    with pytest.raises(ValueError, match="arrays need sample_rate="):
        model.predict(np.zeros(16000, np.float32))
    with pytest.raises(ValueError, match="2 ids for 1 inputs"):
        model.predict(demo_clips(demo_dnn, 1), speakers=["a", "b"])
    with pytest.raises(FileNotFoundError, match="speakers=nobody"):
        model.predict(demo_clips(demo_dnn, 1), speakers="nobody")
    sweep = tmp_path / "sweep"
    (sweep / "0_model=dnn").mkdir(parents=True)
    (sweep / "0_model=dnn" / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="is a multirun folder: pass one of its runs"):
        check_run_dir(sweep)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ser.load(tmp_path / "nowhere")


def test_speakers_from_a_csv(demo_dnn: Path, tmp_path: Path) -> None:
    clips = demo_clips(demo_dnn, 3)
    table_csv = tmp_path / "speakers.csv"
    pd.DataFrame({"path": [str(c) for c in clips], "speaker": ["x", "x", "y"]}).to_csv(table_csv, index=False)
    table = ser.load(demo_dnn).predict(clips, speakers=str(table_csv))
    assert list(table["speaker"]) == ["x", "x", "y"]
