"""Experiment loggers shared by every model family: CSV, TensorBoard and Weights & Biases.

W&B runs offline (files under the run directory, `wandb sync` later) whenever no API key is
configured or `WANDB_MODE=offline` is set, so a missing account never stops a run.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


def wandb_has_credentials() -> bool:
    """True when W&B can reach an account: `WANDB_API_KEY` or a netrc entry for api.wandb.ai."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def build_loggers(logger_cfg: DictConfig | None) -> list:
    """Instantiate every logger of the `logger` config group (a mapping name -> logger config)."""
    loggers = []
    for name, node in (logger_cfg or {}).items():
        if not node or "_target_" not in node:
            continue
        if "wandb" in node["_target_"].lower():
            offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_has_credentials()
            node = node.copy()
            with open_dict(node):
                node.offline = bool(node.get("offline", False) or offline)
            if node.offline:
                log.info("W&B logger offline (no API key or WANDB_MODE=offline): sync later with `wandb sync %s`", node.save_dir)
            Path(node.save_dir).mkdir(parents=True, exist_ok=True)
        log.debug("logger %s: %s", name, OmegaConf.to_yaml(node))
        loggers.append(instantiate(node))
    return loggers
