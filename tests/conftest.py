"""Fixtures shared by several test modules: one torch thread, and composing configs like the entry points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import ser.config  # noqa: F401  (registers the structured config schemas that conf/ names)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread: as fast for these small tensors, and immune to CPU oversubscription
    on a shared 2-core machine. Modules opt in with `pytestmark = pytest.mark.usefixtures(...)`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def reset_hydra():
    """Leave no Hydra state behind: `ser.runs.output_dir` would follow a stale HydraConfig."""
    yield
    HydraConfig.instance().cfg = None  # type: ignore[assignment]
    GlobalHydra.instance().clear()


def compose_like_entry_point(
    overrides: list[str], config_name: str = "train", out_dir: str | Path = "outputs/composed", keep_hydra: bool = False
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` as `python <config_name>.py OVERRIDES` would, with the Hydra
    run directory (`${hydra:runtime.output_dir}`, `ser.runs.output_dir`) set to `out_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
    HydraConfig.instance().set_config(cfg)
    if not keep_hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


@pytest.fixture(scope="session")
def compose_config() -> Callable[..., DictConfig]:
    """`compose_config(overrides, config_name="train", out_dir=..., keep_hydra=False)` -> the composed config."""
    return compose_like_entry_point


@pytest.fixture(scope="session")
def train_run() -> Callable[[list[str], Path], dict]:
    """`train_run(overrides, out_dir)`: `ser.train.train` into `out_dir`, which gets `.hydra/config.yaml`
    as under `python train.py`; returns the run's metrics."""
    from ser.train import train

    def run(overrides: list[str], out_dir: Path) -> dict:
        cfg = compose_like_entry_point(overrides, out_dir=out_dir)
        (out_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out_dir / ".hydra" / "config.yaml")
        return train(cfg)

    return run
