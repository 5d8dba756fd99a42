"""The `ssl` view: hidden states of a pretrained speech encoder (WavLM, HuBERT, wav2vec2, Whisper).

Per utterance the view holds every hidden layer (or `layers`, a chosen subset), float16:
- `store: mean` (default): the time mean of each layer, `data[i]` of shape `(L, D)`. Tiny (13 x 768
  values for a base model, where the frames of IEMOCAP would be about 43 GB), and exact for the
  SUPERB head with mean pooling: its layer sum and projection are linear, so
  mean_t(W sum_l a_l h_lt) = W sum_l a_l mean_t(h_lt);
- `store: frames`: every frame, `data[i]` of shape `(T, L, D)`, for attentive pooling.

Long utterances are encoded in windows of `window_seconds` overlapping by `overlap_seconds`; of
the frames two windows share, the first half comes from the earlier window and the second half from
the later one, so each kept frame has at least half the overlap of context on both sides. Whisper's
encoder takes a fixed input (30 s for the released models): its windows are at most that long, and
only the frames of the audio itself (not of the padding its feature extractor adds) are kept.

The cache (`features/ssl-<key>/`, key = hash(manifest rows, settings, the encoder's files,
SSL_VERSION)) is written in chunks of `chunk_size` utterances in sorted-id order, each chunk its own
folder published atomically (`chunk-00000/`: data.npy float16, offsets.npy, meta.json). A killed
extraction resumes at the first missing chunk; `shard=(K, N)` computes only chunks c with
c % N == K - 1, so N processes (or SLURM array tasks) fill one cache without clashing. When every
chunk exists, whoever finishes last writes `meta.json` at the top, and only then is the cache a hit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ser.audio import load_audio
from ser.cache import atomic_dir, atomic_write_bytes, cache_root, stable_hash
from ser.features.speech_encoder import SpeechEncoder, encoder_source_identity, load_speech_encoder
from ser.features.store import FeatureSet

log = logging.getLogger(__name__)

SSL_VIEW = "ssl"
WAVEFORM_VIEW = "waveform"  # the raw 16 kHz audio, for fine-tuning the encoder itself (not cached)
STORES = ("mean", "frames")
PRECISIONS = ("auto", "32", "16", "bf16")
# Bump when a change in the code changes the stored hidden states: old caches then stop matching.
SSL_VERSION = 1
# Keys that change how the features are computed, never what they are: left out of the cache key.
# (batch_size is one: models that take an attention mask change only within float16 rounding when
# padded; the others are run one wave at a time whatever batch_size says.)
# chunk_size is not one: it decides which utterances chunk c holds, so a resumed extraction must keep it.
RUNTIME_KEYS = frozenset({"force", "batch_size", "device", "progress", "jobs"})


@dataclass
class SSLConfig:
    """Every setting of the `ssl` view (`conf/features/ssl.yaml`)."""

    view: str = SSL_VIEW
    # a local Hugging Face folder (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper) or torchaudio:NAME
    encoder: str = ""  # required
    layers: list[int] | None = (
        None  # hidden layers kept (0 = input embedding; negative from the end); null: all
    )
    store: str = (
        "mean"  # mean: (L, D) time means, exact for mean pooling | frames: (T, L, D) for attentive pooling
    )
    window_seconds: float = 20.0  # long utterances are encoded in windows this long ...
    overlap_seconds: float = 1.0  # ... overlapping by this much (half of the shared frames from each side)
    sample_rate: int = 16000  # the encoders' rate; audio is resampled to it
    batch_size: int = 1  # windows per forward pass (sorted by length; padded with an attention mask where the model takes one)
    device: str = "auto"  # auto (the GPU when the trainer uses one) | cpu | cuda
    precision: str = (
        "auto"  # auto (16 on a GPU, 32 on the CPU) | 32 | 16 | bf16: autocast dtype of the forward pass
    )
    chunk_size: int = 64  # utterances per cache chunk (the unit of resuming and of sharding)

    def validate(self) -> None:
        """Raise ValueError with a one-line message for settings that cannot work."""
        if self.view not in (SSL_VIEW, WAVEFORM_VIEW):
            raise ValueError(f"features.view={self.view!r} is not the ssl or waveform view")
        if self.store not in STORES:
            raise ValueError(f"features.store={self.store!r} is unknown: use mean or frames")
        if self.precision not in PRECISIONS:
            raise ValueError(f"features.precision={self.precision!r} is unknown: use {', '.join(PRECISIONS)}")
        if self.window_seconds <= 0 or not 0 <= 2 * self.overlap_seconds < self.window_seconds:
            raise ValueError(
                "features.overlap_seconds must be >= 0 and below half of features.window_seconds"
            )
        if self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError("features.batch_size and features.chunk_size must be at least 1")

    def key_dict(self) -> dict[str, Any]:
        """The settings that determine the stored values (the encoder's files join the key apart)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_KEYS}


def is_ssl_view(view_cfg: Mapping | Any) -> bool:
    """Whether a features config (or view name) describes the ssl view or the waveform view (both
    extracted here: `extract_ssl_view`)."""
    view = view_cfg if isinstance(view_cfg, str) else (view_cfg or {}).get("view")
    return view in (SSL_VIEW, WAVEFORM_VIEW)


def make_ssl_config(raw: Mapping, **overrides: Any) -> SSLConfig:
    """A validated SSLConfig from a plain `features` mapping (unknown keys are ignored)."""
    raw = {**dict(raw), **overrides}
    known = {f.name for f in dataclasses.fields(SSLConfig)}
    cfg = SSLConfig(**{k: v for k, v in raw.items() if k in known})
    if cfg.layers is not None:
        cfg.layers = [int(i) for i in cfg.layers]
    cfg.validate()
    return cfg


def resolve_device(setting: str) -> str:
    """`auto` -> cuda when a GPU is visible (ser.fold passes the trainer's choice instead), else cpu."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype of the forward pass; None: plain float32."""
    if precision == "auto":
        return torch.float16 if device.startswith("cuda") else None
    return {"32": None, "16": torch.float16, "bf16": torch.bfloat16}[precision]


def layer_indices(cfg: SSLConfig, n_layers: int) -> list[int]:
    """The hidden layers kept, as indices 0..n_layers-1."""
    if cfg.layers is None:
        return list(range(n_layers))
    out = []
    for i in cfg.layers:
        j = i + n_layers if i < 0 else i
        if not 0 <= j < n_layers:
            raise ValueError(
                f"features.layers: {i} is out of range for an encoder with {n_layers} hidden layers (0..{n_layers - 1})"
            )
        out.append(j)
    return out


# ---------------------------------------------------------------------- windows and stitching
def window_plan(n_samples: int, encoder: SpeechEncoder, cfg: SSLConfig) -> list[tuple[int, int, int, int]]:
    """`(start, end, keep_from, keep_to)` per window: samples [start, end) are encoded, and the global
    frames [keep_from, keep_to) are taken from this window. Starts are multiples of the frame stride,
    so a window's frame j is global frame start / stride + j."""
    stride = encoder.frame_stride
    window = int(cfg.window_seconds * encoder.sample_rate)
    if encoder.max_samples is not None:
        window = min(window, encoder.max_samples)
    overlap = int(cfg.overlap_seconds * encoder.sample_rate)
    hop = max(stride, (window - overlap) // stride * stride)
    starts = [0]
    while starts[-1] + window < n_samples:
        starts.append(starts[-1] + hop)
    plan = []
    for k, start in enumerate(starts):
        end = min(n_samples, start + window)
        keep_from = 0 if k == 0 else plan[-1][3]
        if k + 1 < len(starts):  # the boundary: the middle of the overlap with the next window
            keep_to = (starts[k + 1] + (start + window - starts[k + 1]) // 2) // stride
        else:
            keep_to = start // stride + encoder.frames_of(end - start)
        plan.append((start, end, keep_from, max(keep_from, keep_to)))
    return plan


def encode_waves(
    encoder: SpeechEncoder, waves: list[np.ndarray], cfg: SSLConfig, layers: list[int]
) -> list[np.ndarray]:
    """The stored form of each wave: `(L, D)` time means (`store=mean`) or `(T, L, D)` frames, float16.

    Windows of all waves are sorted by length and run `batch_size` at a time."""
    dtype = autocast_dtype(cfg.precision, encoder.device)
    jobs = []  # (wave index, window index, samples)
    plans = []
    waves = [encoder.prepare(w) for w in waves]  # normalised as whole utterances, then windowed
    for i, wave in enumerate(waves):
        plan = window_plan(len(wave), encoder, cfg)
        plans.append(plan)
        for k, (start, end, _, _) in enumerate(plan):
            jobs.append((i, k, start, end))
    jobs.sort(key=lambda j: j[3] - j[2])
    pieces: dict[tuple[int, int], torch.Tensor] = {}
    for b in range(0, len(jobs), cfg.batch_size):
        batch = jobs[b : b + cfg.batch_size]
        states = encoder.hidden_states([waves[i][s:e] for i, _, s, e in batch], dtype, prepared=True)
        for (i, k, start, _), h in zip(batch, states, strict=True):
            _, _, keep_from, keep_to = plans[i][k]
            first = start // encoder.frame_stride
            pieces[(i, k)] = h[layers, keep_from - first : keep_to - first]  # (L, t, D)
    out = []
    for i, plan in enumerate(plans):
        frames = torch.cat([pieces[(i, k)] for k in range(len(plan))], dim=1)  # (L, T, D)
        if frames.shape[1] == 0:
            raise ValueError("audio too short for the encoder (no output frame)")
        if cfg.store == "mean":
            out.append(frames.mean(dim=1).cpu().numpy().astype(np.float16))
        else:
            out.append(frames.transpose(0, 1).cpu().numpy().astype(np.float16))
    return out


# ---------------------------------------------------------------------- the chunked cache
def cache_key(manifest: pd.DataFrame, cfg: SSLConfig, identity: list) -> str:
    """Hash of the manifest rows (ids, paths, segments, file sizes and mtimes; sorted by id), the
    settings that shape the values, the encoder's files and SSL_VERSION."""
    rows = sorted(
        [str(u), str(p), float(o) if not pd.isna(o) else 0.0, float(d) if not pd.isna(d) else None, *file_stamp(str(p))]
        for u, p, o, d in zip(manifest["utterance_id"], manifest["path"], manifest["offset"], manifest["duration"], strict=True)
    )  # fmt: skip
    return stable_hash(rows, cfg.key_dict(), identity, SSL_VERSION)


def file_stamp(path: str) -> list:
    """Size and modification time of an audio file (None, None when it cannot be read)."""
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def chunk_name(c: int) -> str:
    return f"chunk-{c:05d}"


def is_complete(folder: Path) -> bool:
    """Whether every chunk is there and the completion meta has been written."""
    return (Path(folder) / "meta.json").is_file()


def _ordered_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest in sorted-id order: every process cuts the same chunks."""
    return manifest.assign(_uid=manifest["utterance_id"].astype(str)).sort_values("_uid", kind="stable")


def chunks_of(manifest: pd.DataFrame, chunk_size: int) -> list[pd.DataFrame]:
    ordered = _ordered_rows(manifest)
    return [ordered.iloc[s : s + chunk_size] for s in range(0, len(ordered), chunk_size)]


def _segment(row: Any) -> tuple[float, float | None]:
    offset = float(row.offset) if not pd.isna(row.offset) else 0.0
    duration = float(row.duration) if not pd.isna(row.duration) and float(row.duration) > 0 else None
    return offset, duration


def _read_row(row: Any, sample_rate: int, skipped: list[tuple[str, str]]) -> np.ndarray | None:
    """A manifest row's audio at `sample_rate` as float32, or None after recording `(id, reason)` in
    `skipped` (the error's first line, else its type): one unreadable file skips only itself."""
    offset, duration = _segment(row)
    try:
        wave = load_audio(str(row.path), offset, duration, sample_rate)
    except Exception as exc:  # noqa: BLE001 - any failure to read this one file skips only it
        message = str(exc).strip()
        skipped.append((str(row.utterance_id), message.splitlines()[0] if message else type(exc).__name__))
        return None
    return np.asarray(wave, dtype=np.float32)


def write_chunk(
    folder: Path, rows: pd.DataFrame, encoder: SpeechEncoder, cfg: SSLConfig, layers: list[int]
) -> dict:
    """Encode one chunk's utterances and publish `folder` atomically; returns the chunk's meta.

    An unreadable file or one the encoder cannot take is skipped with its reason."""
    ids, waves, skipped, seconds = [], [], [], 0.0
    for row in rows.itertuples(index=False):
        wave = _read_row(row, encoder.sample_rate, skipped)
        if wave is None:
            continue
        ids.append(str(row.utterance_id))
        waves.append(wave)
        seconds += len(wave) / encoder.sample_rate
    try:
        blocks = encode_waves(encoder, waves, cfg, layers)
    except (RuntimeError, ValueError):  # find the culprit: one odd clip must not sink the others
        blocks, kept = [], []
        for uid, wave in zip(ids, waves, strict=True):
            try:
                blocks += encode_waves(encoder, [wave], cfg, layers)
                kept.append(uid)
            except (RuntimeError, ValueError) as exc:
                skipped.append((uid, f"encoder error: {str(exc).strip().splitlines()[0]}"))
        ids = kept
    rows_of = [b[None] if cfg.store == "mean" else b for b in blocks]
    offsets = np.cumsum([0] + [len(r) for r in rows_of]).astype(np.int64)
    data = np.concatenate(rows_of) if rows_of else np.zeros((0, len(layers), encoder.dim), np.float16)
    meta = {"ids": ids, "skipped": skipped, "audio_seconds": seconds}
    with atomic_dir(folder) as tmp:
        np.save(tmp / "data.npy", data.astype(np.float16))
        np.save(tmp / "offsets.npy", offsets)
        (tmp / "meta.json").write_text(json.dumps(meta))
    return meta


def fill_cache(
    folder: Path, manifest: pd.DataFrame, cfg: SSLConfig, encoder: SpeechEncoder, shard: tuple[int, int] = (1, 1),
    progress: bool = True,
) -> bool:  # fmt: skip
    """Write the chunks of `shard` (K of N) that are missing; then, if every chunk exists, the
    completion meta. Returns whether the cache is complete."""
    from tqdm.auto import tqdm

    k, n = shard
    chunks = chunks_of(manifest, cfg.chunk_size)
    chunk_dir = Path(folder) / "chunks"
    mine = [c for c in range(len(chunks)) if c % n == k - 1]
    todo = [c for c in mine if not (chunk_dir / chunk_name(c)).is_dir()]
    if len(todo) < len(mine):
        log.info(
            "ssl features: %d of %d chunks of this shard already cached, resuming",
            len(mine) - len(todo),
            len(mine),
        )
    layers = layer_indices(cfg, encoder.n_layers)
    n_utts = sum(len(chunks[c]) for c in todo)
    started, seconds = time.perf_counter(), 0.0
    with tqdm(total=n_utts, unit="clip", desc=f"features[ssl {Path(encoder.source).name}]", disable=not progress,
              file=sys.stderr) as bar:  # fmt: skip
        for c in todo:
            meta = write_chunk(chunk_dir / chunk_name(c), chunks[c], encoder, cfg, layers)
            seconds += meta["audio_seconds"]
            bar.update(len(chunks[c]))
    wall = time.perf_counter() - started
    if todo:
        log.info(
            "ssl features: %d utterances, %.1f s of audio in %.1f s (%.1fx real time) on %s",
            n_utts, seconds, wall, seconds / max(wall, 1e-9), encoder.device,
        )  # fmt: skip
    return finish_cache(folder, manifest, cfg, encoder, layers)


def finish_cache(
    folder: Path, manifest: pd.DataFrame, cfg: SSLConfig, encoder: SpeechEncoder, layers: list[int]
) -> bool:
    """Write the top-level meta.json once every chunk exists (idempotent, atomic)."""
    folder = Path(folder)
    n_chunks = len(chunks_of(manifest, cfg.chunk_size))
    if not all((folder / "chunks" / chunk_name(c)).is_dir() for c in range(n_chunks)):
        return False
    if is_complete(folder):
        return True
    skipped, seconds = [], 0.0
    for c in range(n_chunks):
        meta = json.loads((folder / "chunks" / chunk_name(c) / "meta.json").read_text())
        skipped += meta["skipped"]
        seconds += meta["audio_seconds"]
    meta = {
        "view": SSL_VIEW, "store": cfg.store, "encoder": encoder.source, "layers": layers, "dim": encoder.dim,
        "n_chunks": n_chunks, "skipped": skipped, "audio_seconds": seconds, "config": cfg.key_dict(),
        "ssl_version": SSL_VERSION, "n_manifest_rows": len(manifest),
    }  # fmt: skip
    atomic_write_bytes(folder / "meta.json", json.dumps(meta, indent=1).encode())
    return True


def feature_names(dim: int) -> list[str]:
    """Column names of the view (the hidden size D; the layer axis is the array's)."""
    return [f"ssl{i}" for i in range(dim)]


def read_ssl_cache(folder: Path, cache_hit: bool) -> FeatureSet:
    """The complete cache as one FeatureSet of float16 memory maps (data[i]: (L, D) or (T, L, D))."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    ids, data = [], []
    for c in range(int(meta["n_chunks"])):
        chunk = folder / "chunks" / chunk_name(c)
        chunk_ids = json.loads((chunk / "meta.json").read_text())["ids"]
        if not chunk_ids:
            continue
        rows = np.load(chunk / "data.npy", mmap_mode="r")
        offsets = np.load(chunk / "offsets.npy")
        for i, uid in enumerate(chunk_ids):
            block = rows[offsets[i] : offsets[i + 1]]
            ids.append(uid)
            data.append(block[0] if meta["store"] == "mean" else block)
    skipped = [(str(a), str(b)) for a, b in meta["skipped"]]
    return FeatureSet(SSL_VIEW, ids, data, feature_names(int(meta["dim"])), skipped, cache_hit, folder)


def in_manifest_order(fs: FeatureSet, manifest: pd.DataFrame) -> FeatureSet:
    """The cache's utterances (stored in sorted-id order) in the manifest's order, as the other views
    give them: splits that depend on row order (split=random) then match across views."""
    position = {uid: i for i, uid in enumerate(fs.ids)}
    rows = [position[u] for u in manifest["utterance_id"].astype(str) if u in position]
    out = fs.subset(rows)
    out.skipped = list(fs.skipped)
    return out


def ssl_cache_folder(manifest: pd.DataFrame, cfg: SSLConfig, cache_dir: str | Path | None) -> Path:
    """The cache folder of these rows under these settings (the encoder's files are part of the key)."""
    return (
        cache_root(cache_dir)
        / "features"
        / f"ssl-{cache_key(manifest, cfg, encoder_source_identity(cfg.encoder))}"
    )


def extract_ssl_view(
    manifest: pd.DataFrame,
    raw: Mapping,
    cache_dir: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    shard: tuple[int, int] = (1, 1),
) -> FeatureSet | None:
    """The ssl view of every manifest row, from the cache when complete (log: `feature cache hit`).

    With `shard=(K, N)` only that shard's chunks are computed; the FeatureSet is returned only when
    the cache is complete afterwards (else None: other shards are still running)."""
    cfg = make_ssl_config(raw)
    if cfg.view == WAVEFORM_VIEW:
        return waveform_view(manifest, cfg, progress)
    force = bool(force or raw.get("force", False))
    folder = ssl_cache_folder(manifest, cfg, cache_dir)
    if not force and is_complete(folder):
        log.info("feature cache hit: %s (%d utterances)", folder, len(manifest))
        return in_manifest_order(read_ssl_cache(folder, cache_hit=True), manifest)
    if force and folder.exists() and shard == (1, 1):
        shutil.rmtree(folder)
    log.info("feature cache miss: %s (encoding %d utterances with %s)", folder, len(manifest), cfg.encoder)
    device = resolve_device(cfg.device)
    encoder = load_speech_encoder(cfg.encoder, device)
    if not fill_cache(folder, manifest, cfg, encoder, shard, progress):
        log.info("ssl features: shard %d/%d done; the cache completes when every shard has run", *shard)
        return None
    fs = in_manifest_order(read_ssl_cache(folder, cache_hit=False), manifest)
    if fs.skipped:
        log.warning(
            "ssl features: skipped %d of %d utterances (see FeatureSet.skipped)",
            len(fs.skipped),
            len(manifest),
        )
    return fs


def waveform_view(manifest: pd.DataFrame, cfg: SSLConfig, progress: bool = True) -> FeatureSet:
    """Every row's audio at `cfg.sample_rate`, float32 `(S,)` each, in memory; unreadable files skipped."""
    from tqdm.auto import tqdm

    ids, data, skipped = [], [], []
    for row in tqdm(list(manifest.itertuples(index=False)), unit="clip", desc="features[waveform]",
                    disable=not progress, file=sys.stderr):  # fmt: skip
        wave = _read_row(row, cfg.sample_rate, skipped)
        if wave is None:
            continue
        ids.append(str(row.utterance_id))
        data.append(wave)
    log.info("waveform view: %d utterances in memory (not cached), %d skipped", len(ids), len(skipped))
    return FeatureSet(WAVEFORM_VIEW, ids, data, ["sample"], skipped)


def ssl_feature_set(
    ids: list[str], waves: list[np.ndarray], cfg: SSLConfig, encoder: SpeechEncoder | None = None
) -> FeatureSet:
    """The view for waves already at the encoder's rate, in memory (no cache): what `ser.load(...).predict` uses.

    A wave the encoder cannot take is listed in `skipped`."""
    encoder = encoder or load_speech_encoder(cfg.encoder, resolve_device(cfg.device))
    layers = layer_indices(cfg, encoder.n_layers)
    kept, data, skipped = [], [], []
    for uid, wave in zip(ids, waves, strict=True):
        try:
            data += encode_waves(encoder, [np.asarray(wave, dtype=np.float32)], cfg, layers)
            kept.append(uid)
        except (RuntimeError, ValueError) as exc:
            skipped.append((uid, f"encoder error: {str(exc).strip().splitlines()[0]}"))
    return FeatureSet(SSL_VIEW, kept, data, feature_names(encoder.dim), skipped)


@dataclass
class ShardSpec:
    """`K/N` on the command line: this process computes shard K of N (1-based)."""

    k: int = 1
    n: int = 1

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        try:
            k, n = (int(x) for x in str(text).split("/"))
        except ValueError:
            raise ValueError(
                f"shard={text!r}: use K/N, e.g. 1/4 (this process computes shard K of N)"
            ) from None
        if not 1 <= k <= n:
            raise ValueError(f"shard={text!r}: need 1 <= K <= N")
        return cls(k, n)
