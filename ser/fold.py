"""One fold's data, from a Hydra config: corpus -> label set -> features -> split -> `FoldData`.

`prepare_fold(cfg)` is the one way to build a fold: `train`, `evaluate` and the benchmarks call it,
and every model family (and every data module) is built from the `FoldData` it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ser.corpora import load_corpus
from ser.features import FeatureSet, extract_view, is_text_view
from ser.features.sentence_encoder import embedding_device
from ser.labels import LabelSet, apply_labels
from ser.splits import Split, make_split

log = logging.getLogger(__name__)


@dataclass
class FoldData:
    """One fold, ready for any model family.

    `manifest` rows are aligned with `features.data` (row i is `features.ids[i]`); `split` holds row
    positions into both.
    """

    manifest: pd.DataFrame
    classes: list[str]
    split: Split
    features: FeatureSet


def load_labelled(cfg: DictConfig) -> tuple[pd.DataFrame, list[str]]:
    """Read the configured corpus and apply the configured label set."""
    manifest = load_corpus(cfg.corpus)
    labelled, classes = apply_labels(manifest, LabelSet.from_config(cfg.labels))
    log.info("corpus %s, labels %s: %d utterances, classes %s", cfg.corpus.name, cfg.labels.name, len(labelled), classes)
    return labelled, classes


def feature_config(cfg: DictConfig) -> dict:
    """The feature-view config as a plain dict (what the cache key is computed from).

    A text view's `device: auto` becomes the device the trainer would use (`embedding_device`):
    sentence embeddings go to the GPU with `trainer=gpu`."""
    raw: dict = OmegaConf.to_container(cfg.features, resolve=True)  # type: ignore[assignment]
    if is_text_view(raw) and raw.get("device", "auto") == "auto":
        trainer = cfg.get("trainer") or {}
        raw["device"] = embedding_device("auto", trainer.get("accelerator"))
    return raw


def extract_features(cfg: DictConfig, labelled: pd.DataFrame) -> tuple[pd.DataFrame, FeatureSet]:
    """Extract (or load from cache) the configured view; return manifest rows aligned with it."""
    features = extract_view(
        labelled,
        feature_config(cfg),
        cache_dir=cfg.paths.cache_dir,
        jobs=int(cfg.get("jobs", -1)),
    )  # `features.force` (inside the view config) forces recomputation
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
    )


def prepare_fold(cfg: DictConfig) -> FoldData:
    """Corpus, labels, features and split for the fold the config names."""
    labelled, classes = load_labelled(cfg)
    manifest, features = extract_features(cfg, labelled)
    split = split_of(cfg, manifest, int(cfg.seed))
    log.info(
        "%s fold %d/%d: train %d, val %d, test %d utterances",
        split.method, split.fold, split.n_folds, len(split.train), len(split.val), len(split.test),
    )
    return FoldData(manifest, classes, split, features)
