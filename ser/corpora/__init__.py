"""Corpus readers. Each returns the manifest of DESIGN.md (see `manifest_schema`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from ser.corpora.manifest_schema import (
    MANIFEST_COLUMNS,
    OPTIONAL_COLUMNS,
    check_manifest,
    make_manifest,
    skipped_counts,
)

__all__ = ["MANIFEST_COLUMNS", "OPTIONAL_COLUMNS", "check_manifest", "load_corpus", "make_manifest", "skipped_counts"]

# Keys of a corpus config that describe it rather than being arguments of its reader.
_DESCRIPTIVE_KEYS = {"_target_", "name"}


def load_corpus(cfg: Mapping) -> pd.DataFrame:
    """Read the corpus a `conf/corpus/*.yaml` node describes, with a one-line error for unset paths."""
    if isinstance(cfg, DictConfig):
        missing = [k for k in cfg if OmegaConf.is_missing(cfg, k)]
        if missing:
            name = cfg.get("name", "corpus")
            raise ValueError(f"corpus={name} needs corpus.{missing[0]}=PATH on the command line")
        cfg = OmegaConf.to_container(cfg, resolve=True)
    reader = get_method(cfg["_target_"])
    df = reader(**{k: v for k, v in cfg.items() if k not in _DESCRIPTIVE_KEYS})
    check_manifest(df, source=str(cfg.get("name", cfg["_target_"])))
    return df
