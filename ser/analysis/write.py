"""`write_analysis(cfg, out_dir)`: the data and feature analysis of a corpus under a label set.

corpus -> label set (`ser.fold.load_labelled`) -> functionals (`ser.fold.extract_features`, the
configured vector view, cached) and frame-level descriptors (the sequence view under the same
settings, cached) -> per-utterance measures, a ranking of the functionals, class x speaker counts
-> figures, CSV tables, `index.html` and `report.md` in `out_dir`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ser.analysis.measures import measures_table
from ser.analysis.outputs import STATISTIC_NAMES, page_sections, summary_lines, write_figures
from ser.analysis.page import write_pages
from ser.analysis.ranking import rank_functionals
from ser.analysis.result import Analysis, AnalysisSettings
from ser.features import FeatureConfig, extract_view
from ser.features.config import RUNTIME_KEYS, VIEWS
from ser.fold import extract_features, feature_config, load_labelled
from ser.normalize import standardize_by_speaker

log = logging.getLogger(__name__)

# Views whose utterances are not one vector each: nothing to rank per column.
NOT_VECTOR_VIEWS = ("logmel", "sequence", "text")
NOT_VECTOR = (
    "features={view}: the analysis ranks functionals, one vector per utterance; use features=acoustic"
)


def frame_view_config(features: dict) -> dict:
    """The sequence view (frame-level descriptors, pitch on every frame) under the framing, pitch
    and voicing settings of the `features` view; with the defaults this is conf/features/sequence.yaml,
    so it shares its cache with the LSTM's runs."""
    known = {f.name for f in dataclasses.fields(FeatureConfig)} | RUNTIME_KEYS
    base = {k: v for k, v in features.items() if k in known} if features.get("view") in VIEWS else {}
    hop_ms = float(base.get("hop_ms", FeatureConfig.hop_ms))
    return {**base, "view": "sequence", "pitch_hop_ms": hop_ms, "chunks": 0, "include_logmel": False}


def class_speaker_counts(manifest: pd.DataFrame, classes: list[str], max_speakers: int) -> pd.DataFrame:
    """Utterances per class (rows, in class order) and speaker (columns, sorted); beyond
    `max_speakers` the speakers with the fewest utterances are summed into one "other" column."""
    table = (
        pd.crosstab(manifest["class_name"], manifest["speaker"].astype(str))
        .reindex(classes)
        .fillna(0)
        .astype(int)
    )
    table = table[sorted(table.columns)]
    if table.shape[1] > max_speakers:
        kept = table.sum(axis=0).sort_values(ascending=False, kind="stable").index[: max_speakers - 1]
        rest = [c for c in table.columns if c not in set(kept)]
        table = table[sorted(kept)].assign(**{f"other ({len(rest)})": table[rest].sum(axis=1)})
    table.index.name, table.columns.name = "class", "speaker"
    return table


def analyse(cfg: DictConfig) -> Analysis:
    """Read the corpus, apply the label set, extract (or load from the cache) the functionals and
    the frame-level descriptors, and compute the measures, the ranking and the counts."""
    settings = AnalysisSettings.from_config(cfg)  # before any work: a typo costs no extraction
    view = str(cfg.features.get("view", ""))
    if view in NOT_VECTOR_VIEWS:
        raise ValueError(NOT_VECTOR.format(view=view))
    labelled, classes = load_labelled(cfg)
    manifest, functionals = extract_features(cfg, labelled)
    if functionals.is_text or not functionals.data or np.asarray(functionals.data[0]).ndim != 1:
        raise ValueError(NOT_VECTOR.format(view=functionals.view))
    frame_cfg = frame_view_config(feature_config(cfg))
    hop_s = float(frame_cfg.get("hop_ms", FeatureConfig.hop_ms)) / 1000
    log.info("frame-level descriptors for the prosodic measures: sequence view, hop %g ms", hop_s * 1000)
    # on the labelled corpus, as train.py extracts it: the same cache as the sequence view's runs
    frames = extract_view(labelled, frame_cfg, cache_dir=cfg.paths.cache_dir, jobs=int(cfg.get("jobs", -1)))
    log.info(
        "per-utterance measures: duration, F0, level, speaking-rate proxies (%d utterances)", len(manifest)
    )
    frames_by_id = dict(zip(frames.ids, frames.data, strict=True))
    measures = measures_table(manifest, frames_by_id, frames.names, hop_s, settings.rate)

    x = functionals.matrix().astype(np.float64)
    if settings.normalize == "speaker":
        x = np.asarray(standardize_by_speaker(x, manifest["speaker"].astype(str).tolist()), dtype=np.float64)
    log.info("ranking %d functionals by %s", x.shape[1], STATISTIC_NAMES[settings.statistic])
    target = manifest["target"].to_numpy()
    ranking = rank_functionals(x, list(functionals.names), target, classes, settings.statistic)
    subset = cfg.corpus.get("subset", "all")
    return Analysis(
        settings=settings,
        manifest=manifest,
        classes=classes,
        measures=measures,
        functionals=x,
        names=list(functionals.names),
        view=functionals.view,
        ranking=ranking,
        counts=class_speaker_counts(manifest, classes, settings.max_speakers),
        frame_config=frame_cfg,
        corpus=str(cfg.corpus.name) + (f" subset={subset}" if subset != "all" else ""),
        label_set=str(cfg.labels.name),
    )


def write_analysis(cfg: DictConfig, out_dir: str | Path, command: str | None = None) -> Path:
    """Write the analysis of the configured corpus and label set into `out_dir`: the figures,
    `ranking.csv`, `utterances.csv`, `class_speaker_counts.csv`, `index.html` and `report.md`
    (which names `command`, when given). Returns the path of `index.html`."""
    analysis = analyse(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analysis.measures.to_csv(out / "utterances.csv", index=False)
    analysis.ranking.to_csv(out / "ranking.csv", index=False)
    analysis.counts.to_csv(out / "class_speaker_counts.csv")
    log.info("writing figures and the page into %s", out)
    write_figures(analysis, out)
    title = f"Data and feature analysis: {analysis.corpus}, labels={analysis.label_set}"
    page, _ = write_pages(out, title, summary_lines(analysis, command), page_sections(analysis))
    return page
