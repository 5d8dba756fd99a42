"""The opensmile view (`features=opensmile`): openSMILE's eGeMAPSv02 through the `opensmile` package.

On demo clips: shapes, openSMILE's own names and values, cache reuse and keys, parallel == serial;
then training on it (svm on functionals, lstm on low-level descriptors), predicting new files with
`ser.load`, the ONNX export of the lstm, and a misspelt feature set. ComParE_2016 (6373 features)
stays out of these fast tests: it runs in benchmarks/opensmile_emodb.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

import ser
from ser.audio import load_audio
from ser.cli import one_line
from ser.corpora import demo
from ser.features import extract_view, make_audio_config
from ser.features import opensmile as opensmile_view
from ser.features.opensmile import FEATURE_SETS, OpenSmileConfig, make_opensmile_config

opensmile = pytest.importorskip(
    "opensmile", reason="features=opensmile needs the opensmile package (pip install opensmile)"
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# eGeMAPSv02: 88 functionals of 25 low-level descriptors (Eyben et al. 2016)
N_FUNCTIONALS, N_LLD = 88, 25
SMALL = ["corpus.utterances_per_speaker=8", "jobs=1", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false"]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache (and demo corpus) for the module: each view is extracted once."""
    return tmp_path_factory.mktemp("opensmile_cache")


@pytest.fixture(scope="module")
def clips(cache: Path) -> pd.DataFrame:
    """Six demo utterances (about 15 s of audio)."""
    return demo.read(cache, seed=0, utterances_per_speaker=8).head(6).reset_index(drop=True)


def smile(level: str):
    feature_level = (
        opensmile.FeatureLevel.Functionals
        if level == "functionals"
        else opensmile.FeatureLevel.LowLevelDescriptors
    )
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=feature_level)


# ------------------------------------------------------------------ the view


def test_functionals_are_opensmiles_own_names_and_values(clips: pd.DataFrame, tmp_path: Path) -> None:
    fs = extract_view(clips, {"view": "opensmile"}, cache_dir=tmp_path, jobs=1, progress=False)
    assert fs.view == "opensmile" and fs.ids == clips["utterance_id"].tolist() and not fs.skipped
    assert fs.names == list(smile("functionals").feature_names) and len(fs.names) == N_FUNCTIONALS
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in fs.names and "equivalentSoundLevel_dBp" in fs.names
    assert fs.matrix().shape == (6, N_FUNCTIONALS) and fs.matrix().dtype == np.float32
    # the same numbers as openSMILE's own call on the same audio
    wave = load_audio(clips["path"][2], sample_rate=16000)
    direct = smile("functionals").process_signal(wave, 16000).to_numpy()[0]
    np.testing.assert_allclose(fs.data[2], direct, rtol=1e-6)
    assert len({row.tobytes() for row in fs.data}) == 6  # six clips, six different vectors


def test_lld_are_frames_of_25_descriptors(clips: pd.DataFrame, tmp_path: Path) -> None:
    fs = extract_view(
        clips, {"view": "opensmile", "level": "lld"}, cache_dir=tmp_path, jobs=1, progress=False
    )
    assert fs.names == list(smile("lld").feature_names) and len(fs.names) == N_LLD
    for seq, duration in zip(fs.data, clips["duration"], strict=True):
        assert seq.ndim == 2 and seq.shape[1] == N_LLD and np.isfinite(seq).all()
        assert abs(seq.shape[0] - duration * 100) <= 8  # 10 ms frames
    assert fs.feature_axis == -1


def test_cache_is_reused_and_keyed_by_set_level_and_version(
    clips: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    first = extract_view(clips, {"view": "opensmile"}, cache_dir=tmp_path, jobs=1, progress=False)
    again = extract_view(
        clips, {"view": "opensmile", "force": False}, cache_dir=tmp_path, jobs=1, progress=False
    )
    assert not first.cache_hit and again.cache_hit and again.path == first.path
    np.testing.assert_array_equal(again.matrix(), first.matrix())
    meta = json.loads((first.path / "meta.json").read_text())
    assert (
        meta["config"]["feature_set"] == "eGeMAPSv02" and meta["config"]["opensmile"] == opensmile.__version__
    )
    lld = extract_view(
        clips, {"view": "opensmile", "level": "lld"}, cache_dir=tmp_path, jobs=1, progress=False
    )
    assert not lld.cache_hit and lld.path != first.path
    # another openSMILE binary may give other numbers: a new version is a new cache entry
    monkeypatch.setattr(opensmile_view, "opensmile_version", lambda: "99.0.0")
    newer = extract_view(clips, {"view": "opensmile"}, cache_dir=tmp_path, jobs=1, progress=False)
    assert not newer.cache_hit and newer.path != first.path


def test_parallel_extraction_matches_one_process(clips: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    serial = extract_view(clips, {"view": "opensmile"}, cache_dir=tmp_path / "one", jobs=1, progress=False)
    monkeypatch.setattr(opensmile_view, "MIN_PARALLEL_AUDIO_SECONDS", 0.0)  # workers even for 15 s of audio
    parallel = extract_view(clips, {"view": "opensmile", "batch_seconds": 4.0}, cache_dir=tmp_path / "two",
                            jobs=2, progress=False)  # fmt: skip
    assert parallel.ids == serial.ids
    np.testing.assert_array_equal(parallel.matrix(), serial.matrix())


def test_a_clip_too_short_for_opensmile_is_skipped_with_its_reason(
    clips: pd.DataFrame, tmp_path: Path
) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(400, np.float32), 16000)  # 25 ms: openSMILE gives only NaN
    manifest = pd.concat([clips.head(2), clips.head(1).assign(utterance_id="short", path=str(short), duration=0.025)],
                         ignore_index=True)  # fmt: skip
    fs = extract_view(manifest, {"view": "opensmile"}, cache_dir=tmp_path, jobs=1, progress=False)
    assert fs.ids == clips["utterance_id"].head(2).tolist()
    assert fs.skipped == [("short", "too short for openSMILE eGeMAPSv02 (0.025 s)")]


def test_a_misspelt_feature_set_is_one_line_naming_the_choices(compose_config, cache: Path) -> None:
    from ser.train import train

    expected = "features.feature_set='eGeMAPS' is not an openSMILE feature set: choose one of eGeMAPSv02, ComParE_2016, emobase"
    with pytest.raises(ValueError) as err:
        make_opensmile_config({"view": "opensmile", "feature_set": "eGeMAPS"})
    assert str(err.value) == expected and FEATURE_SETS == ("eGeMAPSv02", "ComParE_2016", "emobase")
    with pytest.raises(ValueError, match="features.level='frames' is unknown: choose functionals"):
        make_audio_config({"view": "opensmile", "level": "frames"})
    cfg = compose_config([f"paths.cache_dir={cache}", *SMALL, "model=svm", "features=opensmile",
                          "features.feature_set=eGeMAPS"])  # fmt: skip
    with pytest.raises(ValueError) as err:
        train(cfg)
    assert one_line(err.value) == expected


# ------------------------------------------------------------------ training and using runs on it


@pytest.fixture(scope="module")
def svm_run(tmp_path_factory: pytest.TempPathFactory, cache: Path, train_run) -> Path:
    out = tmp_path_factory.mktemp("opensmile_svm")
    train_run([f"paths.cache_dir={cache}", *SMALL, "model=svm", "features=opensmile"], out)
    return out


def test_features_on_the_command_line_win_over_the_models_default(compose_config, svm_run: Path) -> None:
    """conf/model/svm.yaml says `override /features: acoustic`; features=opensmile wins."""
    assert compose_config(["model=svm", "features=opensmile"]).features.view == "opensmile"
    assert compose_config(["model=svm"]).features.view == "acoustic"
    model = ser.load(svm_run, threads=1)
    assert isinstance(model.feature_config, OpenSmileConfig)
    assert model.model.feature_names == list(smile("functionals").feature_names)
    metrics = json.loads((svm_run / "metrics.json").read_text())
    assert 0.0 <= metrics["test/ua"] <= 1.0 and metrics["test/n"] > 0


def test_predict_new_files_with_an_svm_on_opensmile(svm_run: Path, tmp_path: Path) -> None:
    """The run's test clips, each given as a new 44.1 kHz file of its speaker: features computed in
    memory (resampled to 16 kHz) give the run's own test predictions."""
    model = ser.load(svm_run, threads=1)
    saved = pd.read_csv(svm_run / "predictions.csv", dtype={"utterance_id": str})
    manifest = demo.read(Path(model.config.paths.cache_dir), seed=0, utterances_per_speaker=8).set_index(
        "utterance_id"
    )
    rows = manifest.loc[saved["utterance_id"]]
    files, speakers = [], rows["speaker"].tolist()
    for uid, path in zip(saved["utterance_id"], rows["path"], strict=True):
        wave, rate = sf.read(path, dtype="float32")
        files.append(tmp_path / f"{uid}.wav")
        sf.write(files[-1], soxr.resample(wave, rate, 44100), 44100, subtype="FLOAT")
    table = model.predict(files, speakers=speakers, min_speaker_seconds=0)
    assert table["error"].eq("").all() and table["windows"].eq(1).all()
    probs = table[[f"prob_{c}" for c in model.classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    # resampling 16 -> 44.1 -> 16 kHz changes the audio a little, openSMILE's numbers a little more
    np.testing.assert_allclose(probs, saved[[f"prob_{c}" for c in model.classes]].to_numpy(), atol=0.05)
    assert (table["pred"].to_numpy() == saved["pred"].to_numpy()).mean() >= 0.8


def test_lstm_on_low_level_descriptors_trains_predicts_and_exports(
    train_run, cache: Path, tmp_path: Path
) -> None:
    metrics = train_run([f"paths.cache_dir={cache}", *SMALL, "model=lstm", "features=opensmile",
                         "features.level=lld", "trainer.max_epochs=2"], tmp_path / "run")  # fmt: skip
    assert 0.0 <= metrics["test/ua"] <= 1.0
    model = ser.load(tmp_path / "run", threads=1)
    assert model.model.module.hparams.net_inputs["input_dim"] == N_LLD
    clip = demo.read(cache, seed=0, utterances_per_speaker=8)["path"].iloc[0]
    table = model.predict([clip, clip])
    assert table["error"].eq("").all() and table["pred"].isin(model.classes).all()
    np.testing.assert_allclose(table.filter(like="prob_").iloc[0], table.filter(like="prob_").iloc[1])

    pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install -e .[onnx])")
    from ser.export import export_run

    exported = export_run(tmp_path / "run")
    features = exported.meta["features"]
    assert features["view"] == "opensmile" and features["names"] == list(smile("lld").feature_names)
    assert (
        features["array_shape"] == ["frames", "n_features"]
        and "FeatureSet.eGeMAPSv02" in features["computed_by"]
    )
    assert exported.onnx_path.is_file()
