"""`python -m ser.analysis [corpus=emodb corpus.root=PATH] [labels=emodb7] [key=value ...]`.

Composes conf/analysis.yaml; writes the analysis into the Hydra run folder
(`outputs/analysis/<date>_<corpus>_<labels>/`) and prints `analysis folder: PATH` at the end.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ser.analysis.write import write_analysis
from ser.cli import run, user_errors
from ser.runs import output_dir


@hydra.main(config_path="../../conf", config_name="analysis", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    command = " ".join(["python -m ser.analysis", *overrides])
    folder = output_dir(cfg)
    page = write_analysis(cfg, folder, command)
    print(f"page: {page}")
    print(f"analysis folder: {folder}")


if __name__ == "__main__":
    run(main)
