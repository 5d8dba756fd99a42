"""The data report: what a corpus holds after a label set, and what was skipped and why."""

from __future__ import annotations

import pandas as pd

from ser.corpora.iemocap import SUBSET_DROP_PREFIX
from ser.corpora.manifest_schema import skipped_counts
from ser.corpora.msp_podcast import NOT_CHOSEN_PREFIX
from ser.labels import LABEL_DROP_PREFIX

# Rows left out by a choice (a label set, a corpus subset, MSP-Podcast's test set), not by bad input:
# counted, never listed one by one (thousands of them on IEMOCAP).
CHOSEN_DROP_PREFIXES = (LABEL_DROP_PREFIX, SUBSET_DROP_PREFIX, NOT_CHOSEN_PREFIX)
# More groups than this: the table gives the total per class only.
MAX_GROUP_COLUMNS = 30


def data_report(labelled: pd.DataFrame, classes: list[str], corpus_name: str, label_set: str) -> str:
    """Render counts per class x group, total duration, utterances without a transcript and skipped
    rows by reason as plain text; each skipped file or row is listed under its reason, except rows
    that the label set or the corpus subset leaves out."""
    groups = labelled["group"].nunique()
    # a column per group, unless there are too many to read (MSP-Podcast: over a thousand speakers)
    columns = labelled["group"] if groups <= MAX_GROUP_COLUMNS else pd.Series("total", index=labelled.index, name="group")
    table = pd.crosstab(labelled["class_name"], columns, margins=groups <= MAX_GROUP_COLUMNS, margins_name="total")
    table = table.reindex([*classes, "total"]).fillna(0).astype(int)
    if groups > MAX_GROUP_COLUMNS:
        table.loc["total"] = table.drop(index="total").sum()
    hours = labelled["duration"].sum() / 3600
    lines = [
        f"corpus={corpus_name} labels={label_set}: {len(labelled)} utterances, "
        f"{labelled['speaker'].nunique()} speakers, {labelled['group'].nunique()} groups, {hours:.2f} h ({hours * 60:.1f} min)",
        f"without transcript: {count_without_transcript(labelled)} of {len(labelled)} utterances",
        "",
        table.to_string(),
        *([f"({groups} groups: counts per group left out)"] if groups > MAX_GROUP_COLUMNS else []),
        "",
    ]
    if "corpus" in labelled.columns and labelled["corpus"].nunique() > 1:  # corpus=multi
        per_corpus = pd.crosstab(labelled["class_name"], labelled["corpus"], margins=True, margins_name="total")
        lines += [per_corpus.reindex([*classes, "total"]).fillna(0).astype(int).to_string(), ""]
    counts = skipped_counts(labelled)
    items: dict[str, list[str]] = {}
    for item, reason in labelled.attrs.get("skipped", []):
        items.setdefault(reason, []).append(item)
    if counts:
        lines.append("skipped:")
        for reason, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:6d}  {reason}")
            # Every bad file or row is listed, so that it can be fixed.
            if not reason.startswith(CHOSEN_DROP_PREFIXES):
                lines += [f"          {item}" for item in items[reason]]
    else:
        lines.append("skipped: none")
    return "\n".join(lines)


def count_without_transcript(manifest: pd.DataFrame) -> int:
    """Utterances whose `transcript` is empty (or only blanks): text models have nothing to read there."""
    return int((manifest["transcript"].str.strip() == "").sum())
