"""One fold's data, from a Hydra config: corpus -> label set -> features -> split -> `FoldData`.

`prepare_fold(cfg)` is the one way to build a fold: `train`, `evaluate` and the benchmarks call it,
and every model family (and every data module) is built from the `FoldData` it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.corpora import load_corpus
from ser.features import FeatureSet, extract_view, is_ssl_view, is_text_view
from ser.features.sentence_encoder import embedding_device
from ser.labels import LabelSet, apply_labels
from ser.splits import Split, make_split
from ser.task import Task, check_value_columns, drop_missing_values, fit_task, task_settings

log = logging.getLogger(__name__)


@dataclass
class FoldData:
    """One fold, ready for any model family.

    `manifest` rows are aligned with `features.data` (row i is `features.ids[i]`); `split` holds row
    positions into both. `task` says what is predicted (`ser.task`): for regression and multitask,
    the manifest columns `task.attributes` hold every row's values and `task` their scaling, fit on
    the training rows.
    """

    manifest: pd.DataFrame
    classes: list[str]
    split: Split
    features: FeatureSet
    task: Task = field(default_factory=Task)

    def values(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The attributes' values `(N, K)` in the corpus's scale (all rows, or `rows`)."""
        frame = self.manifest if rows is None else self.manifest.iloc[np.asarray(rows)]
        return frame[list(self.task.attributes)].to_numpy(dtype=np.float64)


def load_labelled(cfg: DictConfig) -> tuple[pd.DataFrame, list[str]]:
    """Read the configured corpus and apply the configured label set."""
    manifest = load_corpus(cfg.corpus)
    labelled, classes = apply_labels(manifest, LabelSet.from_config(cfg.labels))
    log.info("corpus %s, labels %s: %d utterances, classes %s", cfg.corpus.name, cfg.labels.name, len(labelled), classes)
    return labelled, classes


def feature_config(cfg: DictConfig, key: str = "features") -> dict:
    """A feature-view config (`features`, or the fusion models' `text_features`) as a plain dict
    (what the cache key is computed from).

    A text view's `device: auto` becomes the device the trainer would use (`embedding_device`):
    sentence embeddings and speech encoders go to the GPU with `trainer=gpu`."""
    raw: dict = OmegaConf.to_container(cfg[key], resolve=True)  # type: ignore[assignment]
    if (is_text_view(raw) or is_ssl_view(raw)) and raw.get("device", "auto") == "auto":
        trainer = cfg.get("trainer") or {}
        raw["device"] = embedding_device("auto", trainer.get("accelerator"))
    return raw


def join_views(parts: list[FeatureSet]) -> FeatureSet:
    """Early fusion: one vector per utterance, the parts' vectors side by side (utterances that every
    part has, in the first part's order; what any part skipped is skipped). Each column is later
    standardised on its own, so neither part's scale dominates."""
    by_id = [dict(zip(p.ids, p.data, strict=True)) for p in parts]
    ids = [u for u in parts[0].ids if all(u in d for d in by_id[1:])]
    data = [np.concatenate([np.asarray(d[u], dtype=np.float32).ravel() for d in by_id]) for u in ids]
    names = [name for p in parts for name in p.names]
    skipped = list(dict.fromkeys(item for p in parts for item in p.skipped))
    return FeatureSet("+".join(p.view for p in parts), ids, data, names, skipped)


def extract_features(cfg: DictConfig, labelled: pd.DataFrame) -> tuple[pd.DataFrame, FeatureSet]:
    """Extract (or load from cache) the configured view, joined with `text_features` when a fusion
    model names one; return manifest rows aligned with it."""
    keys = ["features"] + (["text_features"] if cfg.get("text_features") else [])
    parts = []
    for key in keys:
        view = feature_config(cfg, key)
        if key == "text_features" and (not is_text_view(view) or view["view"] == "text"):
            raise ValueError(f"text_features must be a vector text view (text_embedding), not {view['view']}")
        parts.append(extract_view(labelled, view, cache_dir=cfg.paths.cache_dir, jobs=int(cfg.get("jobs", -1))))
    # `features.force` (inside the view config) forces recomputation
    features = parts[0] if len(parts) == 1 else join_views(parts)
    if features.skipped:
        log.warning("%d utterances skipped by feature extraction, e.g. %s", len(features.skipped), features.skipped[0])
    by_id = labelled.set_index("utterance_id", drop=False)
    aligned = by_id.loc[features.ids].reset_index(drop=True)
    aligned.attrs["skipped"] = list(labelled.attrs.get("skipped", [])) + list(features.skipped)
    return aligned, features


def split_of(cfg: Mapping, manifest: pd.DataFrame, seed: int) -> Split:
    """Make the configured split of a labelled manifest."""
    s = cfg["split"]
    return make_split(
        manifest,
        method=s["method"],
        fold=int(s["fold"]),
        seed=seed,
        n_folds=int(s.get("n_folds", 5)),
        val_speakers=int(s.get("val_speakers", 1)),
        val_size=float(s.get("val_size", 0.1)),
        test=None if s.get("test") is None else str(s["test"]),
    )


def prepare_fold(cfg: DictConfig) -> FoldData:
    """Corpus, labels, features and split for the fold the config names."""
    settings = task_settings(cfg)
    labelled, classes = load_labelled(cfg)
    if settings.name != "classification":  # before extracting anything: a corpus without V/A/D is one line
        check_value_columns(labelled, settings.targets, settings.name, str(cfg.corpus.name))
    manifest, features = extract_features(cfg, labelled)
    if settings.name != "classification":
        # after extraction, so regression and classification runs share one feature cache
        manifest, features = _with_values(manifest, features, settings.targets)
    split = split_of(cfg, manifest, int(cfg.seed))
    log.info(
        "%s fold %d/%d: train %d, val %d, test %d utterances",
        split.method, split.fold, split.n_folds, len(split.train), len(split.val), len(split.test),
    )
    task = Task()
    if settings.name != "classification":  # scaling statistics from the training rows only
        task = fit_task(settings, manifest[list(settings.targets)].to_numpy()[split.train])
    return FoldData(manifest, classes, split, features, task)


def _with_values(manifest: pd.DataFrame, features: FeatureSet, targets: list[str]) -> tuple[pd.DataFrame, FeatureSet]:
    """Manifest rows (and their features) that have every target's value; the others counted."""
    kept = drop_missing_values(manifest, targets)
    if len(kept) < len(manifest):
        log.warning("%d utterances have no value for one of %s: left out", len(manifest) - len(kept), ", ".join(targets))
        positions = {u: i for i, u in enumerate(features.ids)}
        features = features.subset(np.array([positions[u] for u in kept["utterance_id"]], dtype=int))
    return kept, features
