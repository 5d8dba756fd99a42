"""Re-evaluate a run or predict emotions for new audio: `python evaluate.py run=RUN_DIR [audio=PATH]`."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from ser.evaluate import log_like_inputs, predict_audio, reevaluate
from ser.train import output_dir

log = logging.getLogger(__name__)


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        if cfg.audio:
            table = predict_audio(cfg.run, cfg.audio, output_dir(cfg), cfg.window_s, cfg.hop_s, cfg.jobs)
            log_like_inputs(cfg.get("logger"), cfg.run, {"predict/files": float(len(table))}, "predict")
        else:
            metrics = reevaluate(cfg.run, output_dir(cfg))
            numeric = {f"evaluate/{k}": v for k, v in metrics.items() if k.startswith(("test/", "val/"))}
            log_like_inputs(cfg.get("logger"), cfg.run, numeric, "evaluate")
    except (ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
