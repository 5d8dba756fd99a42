"""Corpus readers. Each returns the manifest of DESIGN.md (see `manifest_schema`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.corpora.manifest_schema import (
    MANIFEST_COLUMNS,
    OPTIONAL_COLUMNS,
    check_manifest,
    make_manifest,
    skipped_counts,
)
from ser.corpora.multi import EXAMPLE, MULTI_TARGET, compose_parts
from ser.corpora.reading import read_configured

__all__ = ["MANIFEST_COLUMNS", "OPTIONAL_COLUMNS", "check_manifest", "load_corpus", "make_manifest", "skipped_counts"]


def load_corpus(cfg: Mapping) -> pd.DataFrame:
    """Read the corpus a `conf/corpus/*.yaml` node describes, with a one-line error for unset paths."""
    if isinstance(cfg, DictConfig):
        missing = [k for k in cfg if OmegaConf.is_missing(cfg, k)]
        if missing:
            name = cfg.get("name", "corpus")
            value = f"'{EXAMPLE.split('=', 1)[1]}'" if missing[0] == "parts" else "PATH"
            raise ValueError(f"corpus={name} needs corpus.{missing[0]}={value} on the command line")
        # corpus=multi: each part is composed here, where interpolations (${paths.cache_dir}) resolve
        parts = compose_parts(cfg.parts, parent=cfg) if cfg.get("_target_") == MULTI_TARGET else None
        cfg = OmegaConf.to_container(cfg, resolve=True)
        if parts is not None:
            cfg["parts"] = parts
    return read_configured(cfg)
