"""Reading one corpus from its resolved config: the reader `_target_` names, called with the other keys."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from hydra.utils import get_method

from ser.corpora.manifest_schema import check_manifest

# Keys of a corpus config that describe it rather than being arguments of its reader
# (`alias`: a part's own name inside corpus=multi).
DESCRIPTIVE_KEYS = {"_target_", "name", "alias"}


def read_configured(cfg: Mapping) -> pd.DataFrame:
    """Call the reader of a resolved corpus config (plain values, no `???`) and check its manifest."""
    reader = get_method(cfg["_target_"])
    df = reader(**{k: v for k, v in cfg.items() if k not in DESCRIPTIVE_KEYS})
    check_manifest(df, source=str(cfg.get("name", cfg["_target_"])))
    return df
