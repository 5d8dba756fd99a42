"""Pretrained speech encoders as a view (`features=ssl`) and the SUPERB-style head (`model=ssl_head`).

No downloads: tiny randomly initialised encoders (2 layers, 32 wide) are built from `transformers`
configs and `torchaudio.models` builders, saved the way real ones are shipped (a Hugging Face
folder; a checkpoint in the torch hub cache) and loaded back through the real loading code.
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
import torch
from ssl_encoders import install_tiny_torchaudio, save_tiny_hf

from ser.features import extract_view
from ser.features.sentence_encoder import EncoderError
from ser.features.speech_encoder import load_speech_encoder
from ser.features.ssl import (
    SSLConfig,
    chunk_name,
    encode_waves,
    layer_indices,
    make_ssl_config,
    ssl_cache_folder,
    window_plan,
)

pytest.importorskip(
    "transformers", reason="the tiny Hugging Face encoders need transformers (pip install -e '.[ssl]')"
)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["corpus.utterances_per_speaker=6", "jobs=1"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, Path]:
    """Tiny WavLM (layer-norm front end, attention mask), wav2vec2 (group norm, per-wave normalisation)
    and Whisper (fixed 2 s input) folders."""
    root = tmp_path_factory.mktemp("encoders")
    return {kind: save_tiny_hf(root / kind, kind) for kind in ("wavlm", "wav2vec2", "whisper")}


@pytest.fixture(scope="module")
def demo(compose_config, cache_dir: Path) -> pd.DataFrame:
    """The labelled demo corpus, 6 utterances per speaker (about 60 clips)."""
    from ser.fold import load_labelled

    cfg = compose_config([f"paths.cache_dir={cache_dir}", *SMALL])
    return load_labelled(cfg)[0]


def direct_states(folder: Path, wave: np.ndarray) -> np.ndarray:
    """`(L, T, D)` hidden states of a plain transformers forward pass, preprocessing by the model's
    own feature extractor: the reference the view must reproduce."""
    import transformers as tf

    config = tf.AutoConfig.from_pretrained(folder)
    if config.model_type == "whisper":
        fe = tf.WhisperFeatureExtractor.from_pretrained(folder)
        n = config.max_source_positions * 2 * fe.hop_length
        feats = fe(
            wave, sampling_rate=16000, return_tensors="pt", padding="max_length", max_length=n
        ).input_features
        model = tf.WhisperModel.from_pretrained(folder).get_encoder().eval()
        with torch.no_grad():
            hs = model(feats, output_hidden_states=True).hidden_states
        frames = int(np.ceil(len(wave) / fe.hop_length / 2))
        return torch.stack(hs)[:, 0, :frames].numpy()
    fe = tf.Wav2Vec2FeatureExtractor.from_pretrained(folder)
    inputs = fe(wave, sampling_rate=16000, return_tensors="pt")
    model = tf.AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        hs = model(inputs.input_values, output_hidden_states=True).hidden_states
    return torch.stack(hs)[:, 0].numpy()


def demo_wave(demo: pd.DataFrame, i: int = 0) -> np.ndarray:
    from ser.audio import load_audio

    row = demo.iloc[i]
    return load_audio(row["path"], float(row["offset"]), float(row["duration"]), 16000)


# ------------------------------------------------------------------ the cached layers are the encoder's


@pytest.mark.parametrize("kind", ["wavlm", "wav2vec2", "whisper"])
def test_cached_layers_equal_a_direct_forward_pass(kind: str, encoders, demo, tmp_path: Path) -> None:
    rows = demo.iloc[[2, 0, 1]]  # not in id order: the view keeps the manifest's order, as the other views do
    if kind == "whisper":  # one input of the tiny Whisper holds 2 s: longer audio would be windowed
        rows = rows.assign(duration=np.minimum(rows["duration"], 1.8))
    cfg = {"view": "ssl", "encoder": str(encoders[kind]), "window_seconds": 30.0}
    means = extract_view(rows, cfg, cache_dir=tmp_path, progress=False)
    frames = extract_view(rows, {**cfg, "store": "frames"}, cache_dir=tmp_path, progress=False)
    assert means.ids == frames.ids == rows["utterance_id"].tolist() and means.data[0].dtype == np.float16
    for i, uid in enumerate(rows["utterance_id"]):
        reference = direct_states(encoders[kind], demo_wave(rows, i))
        mean = means.data[means.ids.index(uid)].astype(np.float32)
        frame = frames.data[frames.ids.index(uid)].astype(np.float32)  # (T, L, D)
        assert mean.shape == (3, 32) and frame.shape == (reference.shape[1], 3, 32)
        np.testing.assert_allclose(
            frame.transpose(1, 0, 2), reference, atol=2e-3 * (1 + np.abs(reference).max())
        )
        np.testing.assert_allclose(mean, reference.mean(axis=1), atol=2e-3 * (1 + np.abs(reference).max()))


def test_layer_subset_and_batched_extraction(encoders, demo) -> None:
    """`layers` keeps the layers named (negative from the end); batches of windows padded with an
    attention mask stay within float16 rounding of one-at-a-time extraction."""
    encoder = load_speech_encoder(str(encoders["wavlm"]))
    waves = [demo_wave(demo, i) for i in range(4)]
    one = make_ssl_config({"encoder": "x", "store": "frames"})
    subset = make_ssl_config({"encoder": "x", "store": "frames", "layers": [0, -1]})
    batched = make_ssl_config({"encoder": "x", "store": "frames", "batch_size": 4})
    alone = encode_waves(encoder, waves, one, layer_indices(one, encoder.n_layers))
    picked = encode_waves(encoder, waves, subset, layer_indices(subset, encoder.n_layers))
    together = encode_waves(encoder, waves, batched, layer_indices(batched, encoder.n_layers))
    assert len({w.shape[0] for w in waves}) > 1  # the batch really was padded
    for a, p, t in zip(alone, picked, together, strict=True):
        np.testing.assert_array_equal(p, a[:, [0, 2]])
        np.testing.assert_allclose(t.astype(np.float32), a.astype(np.float32), atol=0.02)
    with pytest.raises(
        ValueError, match=r"features.layers: 5 is out of range for an encoder with 3 hidden layers"
    ):
        layer_indices(make_ssl_config({"encoder": "x", "layers": [5]}), 3)


def test_long_utterances_are_encoded_in_overlapping_windows_that_tile_the_frames(encoders) -> None:
    encoder = load_speech_encoder(str(encoders["wavlm"]))
    cfg = make_ssl_config({"encoder": "x", "window_seconds": 1.0, "overlap_seconds": 0.2, "store": "frames"})
    n = int(3.3 * 16000)
    plan = window_plan(n, encoder, cfg)
    assert len(plan) == 4 and plan[0][0] == 0 and plan[-1][1] == n
    assert all(
        a[3] == b[2] for a, b in zip(plan, plan[1:], strict=False)
    )  # each frame from exactly one window
    assert plan[-1][3] == plan[-1][0] // encoder.frame_stride + encoder.frames_of(n - plan[-1][0])
    for start, end, keep_from, keep_to in plan[
        1:-1
    ]:  # kept frames have half the overlap of context each side
        assert (
            keep_from * encoder.frame_stride >= start + 1600 and keep_to * encoder.frame_stride <= end - 1600
        )
    wave = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    windowed = encode_waves(encoder, [wave], cfg, [0, 1, 2])[0]
    assert windowed.shape == (plan[-1][3], 3, 32)
    # Whisper's encoder has a fixed input (2 s for the tiny one): longer audio is windowed, not truncated
    whisper = load_speech_encoder(str(encoders["whisper"]))
    long = encode_waves(whisper, [wave], make_ssl_config({"encoder": "x", "store": "frames"}), [0, 1, 2])[0]
    assert long.shape[0] == int(np.ceil(n / 320))


# ------------------------------------------------------------------ sources and their messages


def test_torchaudio_bundle_loads_from_the_hub_cache_and_names_a_missing_file(
    monkeypatch, tmp_path: Path, demo
) -> None:
    model = install_tiny_torchaudio(monkeypatch, tmp_path / "hub")
    encoder = load_speech_encoder("torchaudio:TINY_WAVLM")
    wave = demo_wave(demo)
    states = encoder.hidden_states([wave])[0]
    with torch.no_grad():
        reference = torch.stack(model.extract_features(torch.as_tensor(wave)[None])[0])[:, 0]
    assert states.shape == reference.shape == (2, encoder.frames_of(len(wave)), 32)
    torch.testing.assert_close(states, reference)

    install_tiny_torchaudio(monkeypatch, tmp_path / "empty_hub", write=False)
    with pytest.raises(EncoderError) as err:
        load_speech_encoder("torchaudio:TINY_WAVLM")
    message = str(err.value)
    assert (
        "\n" not in message
        and "checkpoint tiny_wavlm.pth is not in " + str(tmp_path / "empty_hub" / "checkpoints") in message
    )
    with pytest.raises(
        EncoderError,
        match=r"torchaudio:NO_SUCH: no such wav2vec2-style bundle; choose one of .*WAVLM_BASE_PLUS",
    ):
        load_speech_encoder("torchaudio:NO_SUCH")


def test_missing_hugging_face_files_give_one_line(tmp_path: Path, encoders) -> None:
    with pytest.raises(
        EncoderError, match=rf"^features.encoder={tmp_path / 'nope'}: no such folder; download the model"
    ):
        load_speech_encoder(str(tmp_path / "nope"))
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((encoders["wavlm"] / "config.json").read_text())
    with pytest.raises(EncoderError) as err:
        load_speech_encoder(str(partial))
    assert (
        "no weights in" in str(err.value)
        and "model.safetensors" in str(err.value)
        and "\n" not in str(err.value)
    )
    with pytest.raises(EncoderError, match=r"^features=ssl needs features.encoder=PATH"):
        load_speech_encoder("")


def test_train_py_without_the_weights_ends_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "train.py", "model=ssl_head", "features.encoder=torchaudio:WAVLM_BASE_PLUS", *SMALL,
         f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "TORCH_HOME": str(tmp_path / "torch")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "checkpoint wavlm_base_plus.pth is not in" in lines[0], proc.stderr[-2000:]
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in lines[0]


# ------------------------------------------------------------------ the chunked cache: resume and shards


def read_all(fs) -> dict[str, np.ndarray]:
    return {uid: np.asarray(a) for uid, a in zip(fs.ids, fs.data, strict=True)}


def test_a_killed_extraction_resumes_and_ends_with_the_same_features(
    monkeypatch, encoders, demo, tmp_path: Path
) -> None:
    import ser.features.ssl as ssl

    cfg = {"view": "ssl", "encoder": str(encoders["wavlm"]), "chunk_size": 8}
    whole = read_all(extract_view(demo, cfg, cache_dir=tmp_path / "whole", progress=False))
    n_chunks = -(-len(demo) // 8)

    written = []
    real_write = ssl.write_chunk

    def dies_after_two(folder, *args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt  # the process is killed while encoding the third chunk
        written.append(folder.name)
        return real_write(folder, *args, **kwargs)

    monkeypatch.setattr(ssl, "write_chunk", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        extract_view(demo, cfg, cache_dir=tmp_path / "resumed", progress=False)
    folder = ssl_cache_folder(demo, make_ssl_config(cfg), tmp_path / "resumed")
    assert sorted(p.name for p in (folder / "chunks").iterdir() if not p.name.startswith(".")) == [
        chunk_name(0),
        chunk_name(1),
    ]
    assert not (folder / "meta.json").exists() and not [
        p for p in (folder / "chunks").iterdir() if p.name.startswith(".")
    ]

    written.clear()
    monkeypatch.setattr(
        ssl, "write_chunk", lambda folder, *a, **k: written.append(folder.name) or real_write(folder, *a, **k)
    )
    resumed = extract_view(demo, cfg, cache_dir=tmp_path / "resumed", progress=False)
    assert written == [chunk_name(c) for c in range(2, n_chunks)]  # the two finished chunks were not redone
    assert not resumed.cache_hit and read_all(resumed).keys() == whole.keys()
    for uid, a in read_all(resumed).items():
        np.testing.assert_array_equal(a, whole[uid])
    assert extract_view(demo, cfg, cache_dir=tmp_path / "resumed", progress=False).cache_hit


def test_shards_fill_one_cache_that_only_completes_with_the_last(encoders, demo, tmp_path: Path) -> None:
    from ser.features.ssl import extract_ssl_view

    cfg = {"view": "ssl", "encoder": str(encoders["wav2vec2"]), "chunk_size": 8}
    assert extract_ssl_view(demo, cfg, cache_dir=tmp_path / "sharded", shard=(2, 3), progress=False) is None
    assert extract_ssl_view(demo, cfg, cache_dir=tmp_path / "sharded", shard=(1, 3), progress=False) is None
    done = extract_ssl_view(demo, cfg, cache_dir=tmp_path / "sharded", shard=(3, 3), progress=False)
    one = read_all(extract_view(demo, cfg, cache_dir=tmp_path / "one", progress=False))
    assert done is not None and read_all(done).keys() == one.keys()
    for uid, a in read_all(done).items():
        np.testing.assert_array_equal(a, one[uid])


@pytest.mark.slow
def test_two_processes_on_halves_of_the_demo_give_the_same_cache_as_one(
    encoders, compose_config, tmp_path: Path
) -> None:
    """`python -m ser.features --shard 1/2` and `2/2` at the same time, then train.py's own lookup hits."""
    common = [
        "corpus.utterances_per_speaker=6",
        "features.chunk_size=8",
        f"features.encoder={encoders['wavlm']}",
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ser.features",
                "--shard",
                f"{k}/2",
                *common,
                f"paths.cache_dir={tmp_path / 'two'}",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        for k in (1, 2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert sorted(o[0].strip().splitlines()[-1] for o in outs)[0].startswith("shard=")
    assert any("cache=complete" in o[0] for o in outs)
    from ser.fold import feature_config, load_labelled

    cfg = compose_config([*common, f"paths.cache_dir={tmp_path / 'two'}", "model=ssl_head"])
    labelled = load_labelled(cfg)[0]
    two = extract_view(labelled, feature_config(cfg), cache_dir=tmp_path / "two", progress=False)
    one = extract_view(labelled, feature_config(cfg), cache_dir=tmp_path / "one", progress=False)
    assert two.cache_hit and not one.cache_hit
    for uid, a in read_all(two).items():
        np.testing.assert_array_equal(a, read_all(one)[uid])


def test_settings_that_cannot_work_are_one_line() -> None:
    with pytest.raises(ValueError, match=r"features.store='all' is unknown: use mean or frames"):
        make_ssl_config({"store": "all"})
    with pytest.raises(ValueError, match=r"features.overlap_seconds must be >= 0 and below half"):
        make_ssl_config({"window_seconds": 2.0, "overlap_seconds": 1.0})
    key = SSLConfig().key_dict()
    assert "batch_size" not in key and "device" not in key  # how it runs, not what it computes
    assert "encoder" in key and "chunk_size" in key  # chunk c's utterances depend on the chunk size


# ------------------------------------------------------------------ the head


def test_head_on_layer_means_equals_mean_pooling_of_the_frames() -> None:
    from ser.models.nets.ssl import SSLHead

    torch.manual_seed(0)
    head = SSLHead(n_layers=3, input_dim=8, n_classes=4, frames=True).eval()
    with torch.no_grad():
        head.layer_logits.copy_(torch.tensor([0.5, -1.0, 2.0]))
    frames = torch.randn(2, 7, 3, 8)
    lengths = torch.tensor([7, 4])
    means = torch.stack([frames[0].mean(0), frames[1, :4].mean(0)])
    torch.testing.assert_close(head(frames, lengths), head(means))
    assert float(head.layer_weights().sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"pooling=attention needs the frames: set features.store=frames"):
        SSLHead(3, 8, 4, pooling="attention", frames=False)


def test_ssl_head_trains_writes_layer_weights_reevaluates_and_predicts(
    train_run, encoders, cache_dir: Path, tmp_path: Path
) -> None:
    import ser
    from ser.evaluate import reevaluate

    run = tmp_path / "run"
    metrics = train_run([f"paths.cache_dir={cache_dir}", *SMALL, "model=ssl_head", f"features.encoder={encoders['wavlm']}",
                         "trainer.max_epochs=3", "trainer.enable_progress_bar=false", "optim.lr=0.05"], run)  # fmt: skip
    assert 0.0 <= metrics["test/ua"] <= 1.0
    for name in (
        "predictions.csv",
        "val_predictions.csv",
        "metrics.json",
        "confusion_matrix.png",
        "layer_weights.png",
    ):
        assert (run / name).is_file(), name
    weights = json.loads((run / "layer_weights.json").read_text())
    assert weights["layers"] == [0, 1, 2] and sum(weights["weights"]) == pytest.approx(1.0)
    assert max(weights["weights"]) - min(weights["weights"]) > 1e-4  # learned, not left uniform
    again = reevaluate(run, tmp_path / "eval")
    assert again["test/ua"] == pytest.approx(metrics["test/ua"])

    saved = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str}).iloc[:3]
    from ser.fold import prepare_fold
    from ser.runs import load_run_config

    fold = prepare_fold(load_run_config(run))
    paths = fold.manifest.set_index("utterance_id").loc[saved["utterance_id"], "path"].tolist()
    table = ser.load(run).predict(paths)  # features computed in memory by the same encoder, no cache
    probs = saved[[c for c in saved.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(
        table[[c for c in table.columns if c.startswith("prob_")]].to_numpy(), probs, atol=1e-3
    )
    assert (table["windows"] == 1).all()


def test_attentive_pooling_on_frames_trains(train_run, encoders, cache_dir: Path, tmp_path: Path) -> None:
    metrics = train_run([f"paths.cache_dir={cache_dir}", *SMALL, "model=ssl_head", f"features.encoder={encoders['wavlm']}",
                         "features.store=frames", "model.net.pooling=attention", "data.max_frames=50",
                         "trainer.max_epochs=2", "trainer.enable_progress_bar=false"], tmp_path / "run")  # fmt: skip
    assert 0.0 <= metrics["test/ua"] <= 1.0 and (tmp_path / "run" / "layer_weights.png").is_file()


# ------------------------------------------------------------------ fine-tuning the encoder


def test_finetuning_trains_the_encoder_with_layerwise_rates_and_predicts(
    train_run, encoders, cache_dir: Path, tmp_path: Path
) -> None:
    import ser
    from ser.models.nets.ssl_finetune import SSLFinetune
    from ser.models.neural import checkpoint_of

    net = SSLFinetune(str(encoders["wavlm"]), n_classes=4, freeze_layers=1, encoder_lr_ratio=0.1, layer_lr_decay=0.5,
                      gradient_checkpointing=True)  # fmt: skip
    assert not any(p.requires_grad for p in net.encoder.feature_extractor.parameters())
    assert not any(p.requires_grad for p in net.layers[0].parameters())
    groups = net.parameter_groups(1e-3)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])  # head; the one trainable layer (the top)
    assert any(getattr(m, "gradient_checkpointing", False) for m in net.encoder.modules())

    run = tmp_path / "run"
    overrides = [f"paths.cache_dir={cache_dir}", *SMALL, "model=ssl_finetune", f"features.encoder={encoders['wavlm']}",
                 "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.max_seconds=1.0",
                 "trainer.accumulate_grad_batches=2", "model.net.gradient_checkpointing=true"]  # fmt: skip
    metrics = train_run(overrides, run)
    assert 0.0 <= metrics["test/ua"] <= 1.0 and (run / "layer_weights.png").is_file()
    trained = torch.load(checkpoint_of(run), map_location="cpu", weights_only=True)["state_dict"]
    start = SSLFinetune(str(encoders["wavlm"]), n_classes=4).state_dict()
    key = "encoder.encoder.layers.1.feed_forward.output_dense.weight"
    assert not torch.equal(trained[f"net.{key}"], start[key])  # the encoder itself was trained
    conv = "encoder.feature_extractor.conv_layers.0.conv.weight"
    assert torch.equal(trained[f"net.{conv}"], start[conv])  # its CNN front end was not

    saved = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str}).iloc[:2]
    from ser.fold import prepare_fold
    from ser.runs import load_run_config

    fold = prepare_fold(load_run_config(run))
    paths = fold.manifest.set_index("utterance_id").loc[saved["utterance_id"], "path"].tolist()
    table = ser.load(run).predict(paths)
    probs = saved[[c for c in saved.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(
        table[[c for c in table.columns if c.startswith("prob_")]].to_numpy(), probs, atol=1e-4
    )


def test_models_without_an_attention_mask_are_exact_at_any_batch_size(encoders, demo) -> None:
    """wav2vec2-base style (group-norm front end): padding would change every frame, so batches run
    one wave at a time and give exactly the unbatched states."""
    encoder = load_speech_encoder(str(encoders["wav2vec2"]))
    assert not encoder.use_attention_mask
    waves = [demo_wave(demo, i) for i in range(3)]
    one = make_ssl_config({"encoder": "x", "store": "frames"})
    batched = make_ssl_config({"encoder": "x", "store": "frames", "batch_size": 3})
    for a, b in zip(
        encode_waves(encoder, waves, one, [0, 1, 2]),
        encode_waves(encoder, waves, batched, [0, 1, 2]),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
