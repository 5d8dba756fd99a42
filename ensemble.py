"""Pool the predictions of several runs: `python ensemble.py runs=[DIR_A,DIR_B] method=mean`.

Writes the same artifacts as a training run; with several folds, one sub-folder per fold plus
`summary.md` / `summary.csv` (mean +- std over folds and pooled figures).
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from ser.ensemble import run_ensemble

log = logging.getLogger(__name__)


@hydra.main(config_path="conf", config_name="ensemble", version_base="1.3")
def main(cfg: DictConfig) -> float:
    try:
        summary = run_ensemble(cfg)
    except (ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        sys.exit(2)
    return float(summary["test/ua_mean"])


if __name__ == "__main__":
    main()
