"""Pool the predictions of several runs: `python ensemble.py runs=[DIR_A,DIR_B] method=mean`.

Writes the same artifacts as a training run; with several folds, one sub-folder per fold plus
`summary.md` / `summary.csv` (mean +- std over folds and pooled figures).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ser.cli import run, user_errors
from ser.ensemble import run_ensemble


@hydra.main(config_path="conf", config_name="ensemble", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> float:
    summary = run_ensemble(cfg)
    return float(summary.get("test/ua_mean", summary.get("test/ccc_mean_mean")))  # regression runs: mean CCC


if __name__ == "__main__":
    run(main)
