"""Re-evaluate a run or predict emotions for new audio: `python evaluate.py run=RUN_DIR [audio=PATH]`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ser.cli import run, user_errors
from ser.evaluate import log_like_inputs, predict_audio, reevaluate
from ser.runs import output_dir


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    if cfg.audio:
        table = predict_audio(cfg.run, cfg.audio, output_dir(cfg), cfg.window_s, cfg.hop_s, cfg.speakers,
                              cfg.min_speaker_seconds, cfg.threads)  # fmt: skip
        log_like_inputs(cfg.get("logger"), cfg.run, {"predict/files": float(len(table))}, "predict")
    else:
        metrics = reevaluate(cfg.run, output_dir(cfg), cfg.threads)
        numeric = {f"evaluate/{k}": v for k, v in metrics.items() if k.startswith(("test/", "val/"))}
        log_like_inputs(cfg.get("logger"), cfg.run, numeric, "evaluate")


if __name__ == "__main__":
    run(main)
