"""Train and test one model on one fold: `python train.py model=resnet34 optim=sgd`.

Returns the optimized metric (`optimized_metric`, `val/ua` by default) so Hydra sweepers can use it.
A configuration mistake ends in one line naming the setting to fix (`HYDRA_FULL_ERROR=1`: traceback).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ser.cli import run, user_errors
from ser.train import train


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> float:
    metrics = train(cfg)
    return float(metrics[cfg.optimized_metric])


if __name__ == "__main__":
    run(main)
