"""The analysis's settings and its computed value: what `ser.analysis.write.analyse` returns and
`ser.analysis.outputs` draws."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.analysis.measures import RateSettings
from ser.analysis.ranking import STATISTICS
from ser.features import FeatureConfig

NORMALIZE = ("none", "speaker")


@dataclass(frozen=True)
class AnalysisSettings:
    """The analysis's own settings (top-level keys of conf/analysis.yaml)."""

    statistic: str = "kruskal"
    top: int = 12
    normalize: str = "none"
    max_speakers: int = 40
    rate: RateSettings = RateSettings()

    @classmethod
    def from_config(cls, cfg: DictConfig) -> AnalysisSettings:
        """Read and check the settings; a bad value is one line naming the setting."""
        rate_raw = OmegaConf.to_container(cfg.get("rate") or {}, resolve=True)
        known = {f.name for f in dataclasses.fields(RateSettings)}
        unknown = sorted(set(rate_raw) - known)  # type: ignore[arg-type]
        if unknown:
            raise ValueError(
                f"rate.{unknown[0]} is not a setting: use one of {', '.join(f'rate.{k}' for k in sorted(known))}"
            )
        rate = RateSettings(**{k: float(v) for k, v in rate_raw.items()})  # type: ignore[union-attr]
        rate.validate()
        settings = cls(str(cfg.statistic), int(cfg.top), str(cfg.normalize), int(cfg.max_speakers), rate)
        if settings.statistic not in STATISTICS:
            raise ValueError(
                f"statistic={settings.statistic} is not a choice: use one of {', '.join(STATISTICS)}"
            )
        if settings.normalize not in NORMALIZE:
            raise ValueError(
                f"normalize={settings.normalize} is not a choice: use one of {', '.join(NORMALIZE)}"
            )
        if settings.top < 1 or settings.max_speakers < 2:
            raise ValueError("top must be >= 1 and max_speakers >= 2")
        return settings


@dataclass
class Analysis:
    """Everything the figures and the page show, computed from the data (rows aligned with `manifest`)."""

    settings: AnalysisSettings
    manifest: pd.DataFrame  # the labelled utterances the functionals cover (`class_name`, `target`, ...)
    classes: list[str]
    measures: pd.DataFrame  # `measures_table`: one row per utterance
    functionals: np.ndarray  # (N, D) as ranked (z-scored within speaker with normalize=speaker)
    names: list[str]  # the D functional names
    view: str  # the feature view of the functionals
    ranking: pd.DataFrame  # `rank_functionals`, best first
    counts: pd.DataFrame  # `class_speaker_counts`
    frame_config: dict  # the sequence view's settings (hop, F0 range) behind the measures
    corpus: str  # e.g. "iemocap subset=improvised"
    label_set: str

    @property
    def hop_s(self) -> float:
        return float(self.frame_config.get("hop_ms", FeatureConfig.hop_ms)) / 1000
