"""The on-disk form of a feature set: what the cache holds and `FeatureSet` reads back.

A feature folder holds
- `data.npy`: every utterance's rows stacked, float32 (total_rows, D): logmel (T, n_mels) per
  utterance, acoustic one row each, sequence (T, D) or (chunks, D);
- `offsets.npy`: int64 (N + 1,), utterance i owns rows offsets[i]:offsets[i+1];
- `meta.json`: view, whether it is one row per utterance (`vector`), ids, column names, skipped
  items with reasons, config, version, counts.
It is written while extraction runs (rows are appended to data.npy, never held all in memory)
and opened with a memory map, so a 10,000-utterance corpus costs little RAM either way.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FeatureSet:
    """Features of a manifest under one view.

    `data[i]` belongs to `ids[i]`: logmel (n_mels, T), acoustic (D,), sequence (T, D) or
    (chunks, D), text_embedding (D,); float32, finite. Arrays are copy-on-write memory maps of the
    cache (writable, changes stay in memory). `names` are the D column names (mel band names for
    logmel). The `text` view is the one whose items are not arrays: `data[i]` is the cleaned
    transcript (a str) and `names == ["text"]` (`ser.features.text`).
    """

    view: str
    ids: list[str]
    data: list[np.ndarray] | list[str]
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cache_hit: bool = False
    path: Path | None = None  # the feature folder it was read from, when cached

    def matrix(self) -> np.ndarray:
        """All utterances stacked: (N, D) for acoustic and text_embedding, (N, chunks, D) for pooled
        sequences; for the text view the (N,) column of transcripts (an object array of str)."""
        if self.is_text:
            return text_column(self.data)
        if not self.data:
            return np.zeros((0, len(self.names)), dtype=np.float32)
        return np.stack(self.data)

    @property
    def is_text(self) -> bool:
        """Whether the items are transcripts (str) rather than arrays."""
        return self.view == "text"

    @property
    def feature_axis(self) -> int:
        """The axis of `data[i]` that holds the features: 0 for logmel (n_mels, T), else the last."""
        return 0 if self.view == "logmel" else -1

    def subset(self, rows) -> FeatureSet:
        """The utterances at positions `rows`, in that order (no copy of the arrays themselves)."""
        rows = [int(i) for i in rows]
        return FeatureSet(self.view, [self.ids[i] for i in rows], [self.data[i] for i in rows], list(self.names),
                          skipped=[], cache_hit=self.cache_hit, path=self.path)

    def __len__(self) -> int:
        return len(self.ids)


def text_column(texts: Any) -> np.ndarray:
    """Transcripts as the `(N,)` object array of str that the text pipelines take."""
    column = np.empty(len(texts), dtype=object)
    column[:] = [str(t) for t in texts]
    return column


# Views stored one row per utterance, read back as a (D,) vector each.
VECTOR_VIEWS = ("acoustic", "text_embedding")
NPY_HEADER_BYTES = 128  # fixed-size .npy v1.0 header: rows are appended after it as they come


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A float32 C-order .npy v1.0 header of exactly NPY_HEADER_BYTES bytes (64-byte aligned)."""
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    body = text.ljust(NPY_HEADER_BYTES - 10 - 1) + "\n"
    if len(body) != NPY_HEADER_BYTES - 10:
        raise ValueError(f"shape {shape} does not fit the fixed .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class RowWriter:
    """Append per-utterance rows to `folder` as extraction produces them, then finalise.

    Rows go straight into data.npy behind a placeholder header that `finish` overwrites with the
    final shape, so the data is written once (no second copy of a possibly multi-GB file)."""

    def __init__(self, folder: Path, n_cols: int):
        self.folder = Path(folder)
        self.n_cols = n_cols
        self.data = open(self.folder / "data.npy", "wb")  # noqa: SIM115 -- closed in finish()
        self.data.write(_npy_header((0, n_cols)))
        self.ids: list[str] = []
        self.offsets: list[int] = [0]
        self.audio_seconds = 0.0

    def add(self, utt_id: str, rows: np.ndarray, audio_seconds: float = 0.0) -> None:
        if rows.ndim != 2 or rows.shape[1] != self.n_cols:
            raise ValueError(f"{utt_id}: rows of shape {rows.shape}, expected (n, {self.n_cols})")
        self.data.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
        self.ids.append(utt_id)
        self.offsets.append(self.offsets[-1] + rows.shape[0])
        self.audio_seconds += audio_seconds

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write data.npy's final header, offsets.npy and meta.json; return the meta."""
        n_rows = self.offsets[-1]
        self.data.seek(0)
        self.data.write(_npy_header((n_rows, self.n_cols)))
        self.data.close()
        np.save(self.folder / "offsets.npy", np.asarray(self.offsets, dtype=np.int64))
        meta = {**meta, "ids": self.ids, "n_rows": n_rows, "audio_seconds": self.audio_seconds}
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=1))
        return meta


def is_complete(folder: Path) -> bool:
    """True when `folder` holds a finished feature set (atomic_dir only renames finished ones)."""
    return all((Path(folder) / f).is_file() for f in ("meta.json", "data.npy", "offsets.npy"))


def stored_to_data(view: str, block: np.ndarray, vector: bool | None = None) -> np.ndarray:
    """One utterance's stored rows (what `compute_view` gives) in `FeatureSet.data`'s layout:
    logmel (n_mels, T), acoustic and text_embedding (D,), sequence (T, D) as stored. `vector`
    says whether the view stores one row per utterance, for views where that depends on a setting
    (opensmile: functionals or lld); None: by the view's name."""
    if view == "logmel":
        return block.T
    if vector if vector is not None else view in VECTOR_VIEWS:
        return block[0]
    return block


def read_feature_set(folder: Path, cache_hit: bool) -> FeatureSet:
    """Open a feature folder as a FeatureSet of memory-mapped per-utterance views."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    offsets = np.load(folder / "offsets.npy")
    rows = (
        np.load(folder / "data.npy", mmap_mode="c")
        if meta["n_rows"]
        else np.zeros((0, len(meta["names"])), np.float32)
    )
    view, vector = meta["view"], meta.get("vector")
    data = [stored_to_data(view, rows[offsets[i] : offsets[i + 1]], vector) for i in range(len(meta["ids"]))]
    skipped = [(str(a), str(b)) for a, b in meta.get("skipped", [])]
    return FeatureSet(view, list(meta["ids"]), data, list(meta["names"]), skipped, cache_hit, folder)
