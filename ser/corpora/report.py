"""The data report: what a corpus holds after a label set, and what was skipped and why."""

from __future__ import annotations

import pandas as pd

from ser.corpora.manifest_schema import skipped_counts


def data_report(labelled: pd.DataFrame, classes: list[str], corpus_name: str, label_set: str) -> str:
    """Render counts per class x group, total duration and skipped rows by reason as plain text."""
    table = pd.crosstab(labelled["class_name"], labelled["group"], margins=True, margins_name="total")
    table = table.reindex([*classes, "total"]).fillna(0).astype(int)
    hours = labelled["duration"].sum() / 3600
    lines = [
        f"corpus={corpus_name} labels={label_set}: {len(labelled)} utterances, "
        f"{labelled['speaker'].nunique()} speakers, {labelled['group'].nunique()} groups, {hours:.2f} h ({hours * 60:.1f} min)",
        "",
        table.to_string(),
        "",
    ]
    skipped = skipped_counts(labelled)
    if skipped:
        lines.append("skipped:")
        lines += [f"  {count:6d}  {reason}" for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1])]
    else:
        lines.append("skipped: none")
    return "\n".join(lines)
