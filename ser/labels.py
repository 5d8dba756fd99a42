"""Label sets: map a corpus's raw labels to class names, drop the rest (counted, never silently)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

log = logging.getLogger(__name__)

EMPTY_CLASS_POLICIES = ("error", "drop")

# How `apply_labels` records a row it leaves out: `label <raw> not in <set>`.
LABEL_DROP_PREFIX = "label "


@dataclass(frozen=True)
class LabelSet:
    """A named mapping from raw labels to classes; `classes` fixes the class order of every run.

    An empty `classes` (label set `all`) keeps every raw label as its own class, in sorted order.
    `empty_classes` says what to do with declared classes that no utterance of the corpus has:
    `error` (stop with a message listing them) or `drop` (leave them out of the class order, with a
    warning); a model never trains on a class it has no example of.
    """

    name: str
    classes: Sequence[str] = ()
    map: Mapping[str, str] = field(default_factory=dict)
    empty_classes: str = "error"

    @classmethod
    def from_config(cls, cfg: Mapping) -> LabelSet:
        """Build from a `conf/labels/*.yaml` node, checking that every mapped class is declared."""
        label_set = cls(
            name=str(cfg["name"]),
            classes=tuple(cfg.get("classes") or ()),
            map=dict(cfg.get("map") or {}),
            empty_classes=str(cfg.get("empty_classes", "error")),
        )
        if label_set.empty_classes not in EMPTY_CLASS_POLICIES:
            raise ValueError(
                f"labels.empty_classes={label_set.empty_classes} is not a choice: use one of {', '.join(EMPTY_CLASS_POLICIES)}"
            )
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
    present = set(mapped[keep])
    empty = [c for c in classes if c not in present]
    if empty and label_set.empty_classes == "error":
        raise ValueError(
            f"label set {label_set.name}: class(es) {', '.join(empty)} have no utterance in this corpus: choose another "
            f"labels= or pass labels.empty_classes=drop to leave them out"
        )
    if empty:
        log.warning("label set %s: class(es) %s have no utterance in this corpus: left out", label_set.name, ", ".join(empty))
        classes = [c for c in classes if c in present]
    out["class_name"] = mapped[keep].astype(str)
    out["target"] = out["class_name"].map({c: i for i, c in enumerate(classes)}).astype(int)
    out = out.reset_index(drop=True)
    out.attrs["skipped"] = skipped
    return out, classes
