"""Unit tests of the neural path without a corpus: nets, metrics, data modules, fine-tuning."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from ser.data import SequenceDataModule, SpectrogramDataModule, VectorDataModule
from ser.data.spectrogram import random_crop, sliding_windows
from ser.fold import FoldData
from ser.metrics import classification_metrics
from ser.models.classifier import EmotionClassifier, SERMetrics, utterance_logits
from ser.models.finetune import FreezeThenUnfreeze
from ser.models.nets import CNN, DNN, LSTM, ResNet
from ser.models.nets import resnet as resnet_module
from ser.splits import make_split

CLASSES = ["neu", "hap", "sad", "ang"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_fold(kind: str, n: int = 48, seed: int = 0) -> FoldData:
    """A small separable fold: 6 speakers in 3 groups, features shifted by the class index."""
    rng = np.random.default_rng(seed)
    manifest = pd.DataFrame(
        {
            "utterance_id": [f"u{i:03d}" for i in range(n)],
            "speaker": [f"s{i % 6}" for i in range(n)],
            "group": [f"g{i % 3}" for i in range(n)],
            "target": [(i // 6) % 4 for i in range(n)],  # every speaker has every class
        }
    )
    manifest["class_name"] = [CLASSES[t] for t in manifest["target"]]
    if kind == "logmel":
        data = [
            rng.normal(size=(16, int(rng.integers(30, 90)))).astype(np.float32) + t
            for t in manifest["target"]
        ]
    elif kind == "acoustic":
        data = [rng.normal(size=(10,)).astype(np.float32) + 2 * t for t in manifest["target"]]
    else:
        data = [
            rng.normal(size=(int(rng.integers(5, 40)), 6)).astype(np.float32) + t for t in manifest["target"]
        ]
    split = make_split(manifest, "loso", 1, seed=0)
    return FoldData(manifest, CLASSES, split, SimpleNamespace(ids=list(manifest["utterance_id"]), data=data))


# ---------------------------------------------------------------------- nets
@pytest.mark.parametrize("frames", [40, 73])
def test_spectrogram_nets_take_any_length(frames: int) -> None:
    x = torch.randn(3, 1, 16, frames)
    for net in (CNN(4, channels=(4, 8, 8, 8)), ResNet(4, "resnet18"), ResNet(5, "resnet34")):
        net.eval()
        out = net(x)
        assert out.shape == (3, net.head[-1].out_features)


def test_dnn_and_lstm_shapes_and_padding_invariance() -> None:
    assert DNN(4, input_dim=10)(torch.randn(5, 10)).shape == (5, 4)
    for pooling in ("mean", "attention"):
        net = LSTM(4, input_dim=6, hidden=8, pooling=pooling).eval()
        x = torch.randn(2, 7, 6)
        lengths = torch.tensor([7, 4])
        padded = torch.cat([x, torch.randn(2, 5, 6)], dim=1)  # garbage after the real frames
        torch.testing.assert_close(net(x, lengths), net(padded, lengths))
        torch.testing.assert_close(net(x[1:, :4]), net(x, lengths)[1:])


def test_resnet_pretrained_without_cached_weights_says_how_to_get_them(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="IMAGENET1K_V1.*pretrained=false"):
        ResNet(4, "resnet34", pretrained=True)


def test_resnet_pretrained_loads_weights_from_the_torch_cache(monkeypatch, tmp_path) -> None:
    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    reference = torchvision.models.resnet18(weights=None)
    path = resnet_module.cached_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    net = ResNet(4, "resnet18", pretrained=True)
    torch.testing.assert_close(net.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    torch.testing.assert_close(net.stem[0].weight, reference.conv1.weight.sum(dim=1, keepdim=True))


# ---------------------------------------------------------------------- metrics
def test_ser_metrics_match_ser_metrics_module_with_absent_classes() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.choice([0, 1, 3], size=50)  # class 2 absent from the reference ...
    y_pred = rng.integers(0, 4, size=50)  # ... but predicted sometimes
    metric = SERMetrics(4)
    metric.update(torch.as_tensor(y_pred[:20]), torch.as_tensor(y_true[:20]))
    metric.update(torch.as_tensor(y_pred[20:]), torch.as_tensor(y_true[20:]))
    got = {k: float(v) for k, v in metric.compute().items()}
    ref = classification_metrics(y_true, y_pred, CLASSES, "test")
    for key in ("wa", "ua", "macro_f1"):
        assert got[key] == pytest.approx(ref[f"test/{key}"], abs=1e-6)


def test_utterance_logits_average_windows() -> None:
    logits = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    out = utterance_logits(logits, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(out, torch.tensor([[2.0, 1.0], [5.0, 5.0]]))


# ---------------------------------------------------------------------- data
def test_crops_and_windows_cover_the_utterance() -> None:
    x = torch.arange(2 * 25, dtype=torch.float32).reshape(2, 25)
    assert random_crop(x, 10).shape == (2, 10)
    short = random_crop(x, 40)
    assert short.shape == (2, 40) and short.sum() == x.sum()
    assert sliding_windows(x, 10, 5).shape == (4, 2, 10)  # starts 0, 5, 10, 15 (= 25 - 10)
    x = torch.arange(2 * 27, dtype=torch.float32).reshape(2, 27)
    windows = sliding_windows(x, 10, 5)
    assert windows.shape == (5, 2, 10)  # 0, 5, 10, 15 and one aligned to the end: 17
    assert set(windows[:, 0].flatten().tolist()) == set(x[0].tolist())
    assert sliding_windows(x, 30, 15).shape == (1, 2, 30)


def test_normalisation_statistics_come_from_training_rows_only() -> None:
    fold = make_fold("acoustic")
    fold.features.data[int(fold.split.test[0])] += 1000.0  # a test outlier must not move the stats
    dm = VectorDataModule(fold, batch_size=8)
    dm.setup()
    train = np.stack([fold.features.data[i] for i in fold.split.train])
    np.testing.assert_allclose(dm.stats[0], train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(dm.matrix[fold.split.train].numpy().mean(axis=0), 0, atol=1e-5)
    arrays = dm.arrays
    dm.setup("test")  # idempotent: nothing recomputed
    assert dm.arrays is arrays


def test_spectrogram_module_augments_training_only_and_windows_evaluation() -> None:
    fold = make_fold("logmel")
    dm = SpectrogramDataModule(
        fold,
        batch_size=4,
        crop_frames=20,
        spec_augment={"freq_masks": 1, "freq_width": 4, "time_masks": 1, "time_width": 5},
    )
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 1, 16, 20)
    val = [next(iter(dm.val_dataloader())) for _ in range(2)]
    torch.testing.assert_close(val[0]["x"], val[1]["x"])  # no randomness at evaluation
    assert val[0]["owner"].max() == len(val[0]["y"]) - 1
    full = SpectrogramDataModule(fold, batch_size=4, crop_frames=20, eval_mode="full")
    full.setup()
    item = next(iter(full.test_dataloader()))
    assert (
        item["x"].shape[0] == 1
        and item["x"].shape[-1] == fold.features.data[int(fold.split.test[0])].shape[1]
    )


def test_sequence_module_pads_and_reports_lengths() -> None:
    fold = make_fold("sequence")
    dm = SequenceDataModule(fold, batch_size=4, max_frames=10, noise_std=0.1, time_masks=1, time_width=3)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert (
        batch["x"].shape[0] == 4
        and batch["x"].shape[1] <= 10
        and batch["lengths"].max() == batch["x"].shape[1]
    )
    assert dm.net_inputs() == {"input_dim": 6}


def test_class_weights_and_balanced_sampling() -> None:
    fold = make_fold("acoustic", n=96)
    keep = [i for i in fold.split.train if fold.manifest["target"][i] != 1 or i < 24]  # a quarter of the hap
    fold.split = type(fold.split)(**{**fold.split.__dict__, "train": np.array(keep)})
    dm = VectorDataModule(fold, batch_size=8, balanced_sampling=True)
    dm.setup()
    counts = dm.class_counts()
    weights = np.array(dm.class_weights())
    assert counts[1] * 3 < counts[0] and weights[1] == weights.max()
    assert np.allclose(weights * counts, counts.sum() / 4)
    torch.manual_seed(0)
    drawn = torch.cat([b["y"] for _ in range(30) for b in dm.train_dataloader()])
    shares = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert shares.min() > 0.18  # about a quarter each, although hap is rarer in the data


# ---------------------------------------------------------------------- classifier
@pytest.mark.parametrize("scheduler", [None, "plateau"])  # every scheduler config: test_configs.py
def test_classifier_learns_a_separable_problem(scheduler: str | None) -> None:
    schedulers = {
        "plateau": {
            "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
            "mode": "max",
            "monitor": "val/ua",
        },
    }
    L.seed_everything(0)
    dm = VectorDataModule(make_fold("acoustic", n=96), batch_size=16)
    dm.setup()
    module = EmotionClassifier(
        DNN(4, 10, hidden=(32,), dropout=0.1),
        CLASSES,
        {"_target_": "torch.optim.Adam", "lr": 0.03},
        schedulers.get(scheduler),
        dm.class_weights(),
        0.05,
    )
    trainer = L.Trainer(
        max_epochs=12,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=dm)
    last_val_ua = float(trainer.callback_metrics["val/ua"])
    assert float(module.val_ua_best.compute()) >= last_val_ua
    result = trainer.test(module, datamodule=dm, verbose=False)[0]
    assert result["test/ua"] > 0.7


def test_freeze_then_unfreeze_trains_the_head_first() -> None:
    L.seed_everything(0)
    dm = SpectrogramDataModule(make_fold("logmel"), batch_size=8, crop_frames=16)
    dm.setup()
    net = ResNet(4, "resnet18")
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    module = EmotionClassifier(net, CLASSES, {"_target_": "torch.optim.SGD", "lr": 0.01, "momentum": 0.9})
    callback = FreezeThenUnfreeze(unfreeze_at_epoch=1, lr_factor=0.1)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback], limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    assert torch.equal(before["layer4.0.conv1.weight"], net.layer4[0].conv1.weight)  # frozen in epoch 0
    assert not torch.equal(before["head.2.weight"], net.head[2].weight)
    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[FreezeThenUnfreeze(unfreeze_at_epoch=1, lr_factor=0.1)], limit_val_batches=0,
    )  # fmt: skip
    module = EmotionClassifier(net, CLASSES, {"_target_": "torch.optim.SGD", "lr": 0.01, "momentum": 0.9})
    trainer.fit(module, datamodule=dm)
    assert not torch.equal(before["layer4.0.conv1.weight"], net.layer4[0].conv1.weight)  # unfrozen in epoch 1
    assert torch.equal(before["layer1.0.conv1.weight"], net.layer1[0].conv1.weight)
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(groups[0]["lr"] * 0.1)
