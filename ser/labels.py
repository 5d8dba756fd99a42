"""Label sets: map a corpus's raw labels to class names, drop the rest (counted, never silently)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

# How `apply_labels` records a row it leaves out: `label <raw> not in <set>`.
LABEL_DROP_PREFIX = "label "


@dataclass(frozen=True)
class LabelSet:
    """A named mapping from raw labels to classes; `classes` fixes the class order of every run.

    An empty `classes` (label set `all`) keeps every raw label as its own class, in sorted order.
    """

    name: str
    classes: Sequence[str] = ()
    map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Mapping) -> LabelSet:
        """Build from a `conf/labels/*.yaml` node, checking that every mapped class is declared."""
        label_set = cls(name=str(cfg["name"]), classes=tuple(cfg.get("classes") or ()), map=dict(cfg.get("map") or {}))
        undeclared = sorted(set(label_set.map.values()) - set(label_set.classes))
        if label_set.classes and undeclared:
            raise ValueError(f"label set {label_set.name}: map targets {undeclared} are not in classes {list(label_set.classes)}")
        return label_set


def apply_labels(manifest: pd.DataFrame, label_set: LabelSet) -> tuple[pd.DataFrame, list[str]]:
    """Return (kept rows with `class_name` and integer `target` columns, class order).

    Rows whose raw label the set does not map are dropped and recorded in `attrs["skipped"]`
    as `label <raw> not in <set>`.
    """
    if label_set.classes:
        mapping = dict(label_set.map) or {c: c for c in label_set.classes}
        classes = list(label_set.classes)
    else:
        classes = sorted(manifest["label"].unique())
        mapping = {c: c for c in classes}
    mapped = manifest["label"].map(mapping)
    keep = mapped.notna()
    skipped = list(manifest.attrs.get("skipped", []))
    for utt, raw in zip(manifest.loc[~keep, "utterance_id"], manifest.loc[~keep, "label"], strict=True):
        skipped.append((utt, f"{LABEL_DROP_PREFIX}{raw} not in {label_set.name}"))
    out = manifest.loc[keep].copy()
    if out.empty:
        found = sorted(manifest["label"].unique())[:10]
        raise ValueError(f"label set {label_set.name} keeps no utterance: the corpus has labels {found}; choose another labels=")
    out["class_name"] = mapped[keep].astype(str)
    out["target"] = out["class_name"].map({c: i for i, c in enumerate(classes)}).astype(int)
    out = out.reset_index(drop=True)
    out.attrs["skipped"] = skipped
    return out, classes
