"""Every config in `conf/` composes, and the pieces it names instantiate."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ser.models import FAMILIES

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = sorted(p.stem for p in CONF.glob("*.yaml"))
GROUPS = sorted((str(p.parent.relative_to(CONF)), p.stem) for p in CONF.rglob("*.yaml") if p.parent != CONF)
NEURAL_MODELS = ["cnn", "resnet18", "resnet34", "dnn", "lstm", "text_cnn", "text_lstm", "fusion_mlp"]
HAS_OPTUNA = importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None


@pytest.mark.parametrize("name", PRIMARY)
def test_primary_configs_compose(compose_config, name: str) -> None:
    cfg = compose_config([], name)
    assert isinstance(cfg, DictConfig) and len(cfg) > 0


@pytest.mark.parametrize(("group", "option"), GROUPS, ids=[f"{g}={o}" for g, o in GROUPS])
def test_every_group_option_composes(compose_config, group: str, option: str) -> None:
    if "optuna" in option and not HAS_OPTUNA:
        pytest.skip("hydra-optuna-sweeper is not installed (pip install -e '.[optuna]')")
    # a data module option goes with a model that takes it (the dnn's own data settings are a vector's)
    with_model = {"spectrogram": ["model=cnn"], "vector": [], "sequence": ["model=lstm"], "tokens": ["model=text_cnn"],
                  "ssl": ["model=ssl_head"], "waveform": ["model=ssl_finetune"]}.get(option, []) if group == "data" else []
    cfg = compose_config([*with_model, f"{group}={option}"], keep_hydra=True)
    if group.startswith("hydra/"):
        assert cfg.hydra.launcher._target_
    elif group == "model":
        assert cfg.model.family in FAMILIES
    # Everything resolves (interpolations to missing keys would raise here), except Hydra's own
    # runtime values and the corpus paths a user must give.
    for key in cfg:
        if key not in ("hydra", "corpus") and isinstance(cfg[key], DictConfig):
            OmegaConf.to_container(cfg[key], resolve=True)


@pytest.mark.parametrize("model", NEURAL_MODELS)
def test_neural_model_configs_pick_their_view_and_build(compose_config, model: str) -> None:
    cfg = compose_config([f"model={model}"])
    views = {
        "cnn": "logmel",
        "resnet18": "logmel",
        "resnet34": "logmel",
        "dnn": "acoustic",
        "lstm": "sequence",
        "text_cnn": "text",
        "text_lstm": "text",
        "fusion_mlp": "acoustic",  # + text_features: sentence embeddings
    }
    assert cfg.features.view == views[model]
    assert cfg.model.family == "neural" and cfg.data._target_.startswith("ser.data.")
    sizes = {"logmel": {}, "text": {"vocab_size": 30}}.get(views[model], {"input_dim": 20})
    net = instantiate(cfg.model.net, n_classes=4, **sizes).eval()
    x = {
        "logmel": torch.randn(2, 1, 64, 50),
        "acoustic": torch.randn(2, 20),
        "sequence": torch.randn(2, 30, 20),
        "text": torch.randint(1, 30, (2, 12)),
    }
    assert net(x[views[model]]).shape == (2, 4)


@pytest.mark.parametrize(
    ("optim", "scheduler"), [("sgd", "step"), ("adam", "cosine"), ("adamw", "plateau"), ("sgd", "none")]
)
def test_optimizers_and_schedulers_instantiate(compose_config, optim: str, scheduler: str) -> None:
    from ser.models.classifier import EmotionClassifier
    from ser.models.nets import DNN

    cfg = compose_config([f"optim={optim}", f"scheduler={scheduler}", "model=dnn"])
    module = EmotionClassifier(DNN(4, 8), ["a", "b", "c", "d"], cfg.optim, cfg.scheduler)
    out = module.configure_optimizers()
    optimizer = out["optimizer"] if isinstance(out, dict) else out
    assert type(optimizer).__name__.lower() == optim
    if scheduler == "none":
        assert not isinstance(out, dict)
    else:
        assert out["lr_scheduler"]["monitor"] == "val/ua"
        assert type(out["lr_scheduler"]["scheduler"]).__module__ == "torch.optim.lr_scheduler"


@pytest.mark.parametrize("trainer", ["default", "cpu", "ddp_cpu"])
def test_trainer_and_callbacks_instantiate(compose_config, trainer: str, tmp_path: Path) -> None:
    from ser.models.neural import build_callbacks

    cfg = compose_config([f"trainer={trainer}"])
    callbacks = build_callbacks(cfg, tmp_path)
    assert {type(c).__name__ for c in callbacks} >= {
        "ModelCheckpoint",
        "EarlyStopping",
        "LearningRateMonitor",
    }
    instance = instantiate(cfg.trainer, callbacks=callbacks, logger=False, default_root_dir=str(tmp_path))
    assert instance.max_epochs == cfg.trainer.max_epochs


def test_gpu_trainers_ask_for_mixed_precision_and_ddp(compose_config) -> None:
    assert compose_config(["trainer=gpu"]).trainer.precision == "16-mixed"
    ddp = compose_config(["trainer=ddp"]).trainer
    assert ddp.strategy == "ddp" and ddp.sync_batchnorm and ddp.num_nodes == 1


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_experiments_override_model_and_optimizer(compose_config, experiment: str) -> None:
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.task_name == experiment
    if experiment == "notebook_resnet34_sgd":
        assert cfg.model.name == "resnet34" and cfg.optim._target_ == "torch.optim.SGD"
        assert cfg.split.method == "loso" and cfg.callbacks.finetune.unfreeze == ["layer4"]
        assert cfg.features.view == "logmel"
    if experiment == "notebook_multimodal":
        params = compose_config([f"experiment={experiment}"], keep_hydra=True).hydra.sweeper.params
        members = str(params.model).split(",")
        views = {m: compose_config([f"experiment={experiment}", f"model={m}"]).features.view for m in members}
        # the original plan: ResNet34 on spectrograms, the ML ensemble on functionals, a text model
        assert views == {"resnet34": "logmel", "ml_ensemble": "acoustic", "text_tfidf_svm": "text"}
        assert str(params["split.fold"]) == "range(1,6)"


@pytest.mark.parametrize(
    ("debug", "model"),
    [("fast_dev_run", "lstm"), ("overfit", "cnn"), ("overfit", "dnn"), ("limit", "resnet18")],
)
def test_debug_presets_build_their_data_module(compose_config, debug: str, model: str) -> None:
    from ser.models.neural import build_datamodule

    cfg = compose_config([f"model={model}", f"debug={debug}"])
    assert cfg.trainer.accelerator == "cpu"
    # The data node must be accepted by the module's constructor (no stray keys).
    dm = build_datamodule(cfg, fold=object())  # type: ignore[arg-type]
    assert dm.batch_size == cfg.data.batch_size


def test_standard_overrides(compose_config) -> None:
    cfg = compose_config(
        ["trainer.max_epochs=3", "seed=5", "corpus=emodb", "labels=emodb7", "split=speaker_kfold", "split.fold=2",
         "hydra.run.dir=/tmp/somewhere"],
        keep_hydra=True,
    )  # fmt: skip
    assert cfg.trainer.max_epochs == 3 and cfg.seed == 5 and cfg.split.fold == 2
    assert cfg.corpus.name == "emodb" and cfg.labels.name == "emodb7" and cfg.split.method == "speaker_kfold"
    assert cfg.hydra.run.dir == "/tmp/somewhere"
    assert "sweep_summary" in cfg.hydra.callbacks


@pytest.mark.parametrize("launcher", ["joblib", "submitit_slurm", "local_parallel", "slurm"])
def test_plugin_launchers_compose(compose_config, launcher: str) -> None:
    """The launchers the plugins provide (`joblib`, `submitit_slurm`) and ours built on them."""
    cfg = compose_config([f"hydra/launcher={launcher}"], keep_hydra=True)
    target = cfg.hydra.launcher._target_
    assert ("Joblib" in target) if launcher in ("joblib", "local_parallel") else ("Slurm" in target)
