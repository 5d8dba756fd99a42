"""Extraction driver: manifest rows -> batches -> worker processes -> streamed, cached feature sets.

`extract_view` is what the trainer calls: it looks the (corpus content, feature config) pair up in
the cache, and on a miss extracts every utterance in parallel (joblib processes, one torch thread
each), streams each batch's rows to disk as it arrives, and publishes the folder atomically.
An unreadable or damaged file is skipped with its reason; it never stops the others.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ser.audio import AudioError, audio_duration, load_audio
from ser.cache import atomic_dir, cache_root, stable_hash
from ser.features import opensmile as opensmile_view
from ser.features.config import FeatureConfig, make_config, to_plain
from ser.features.opensmile import (
    OpenSmileConfig,
    compute_opensmile,
    is_opensmile_view,
    make_opensmile_config,
    opensmile_names,
)
from ser.features.ssl import extract_ssl_view, is_ssl_view
from ser.features.store import VECTOR_VIEWS, FeatureSet, RowWriter, is_complete, read_feature_set
from ser.features.text import extract_text_view, is_text_view
from ser.features.views import compute_view, feature_names

log = logging.getLogger(__name__)

# Bump when a change in the code changes feature values: old caches then stop matching.
FEATURE_VERSION = 2

# Work unit: about this much audio per batch. Small enough that a batch's arrays stay near the CPU
# cache (FFTs over ~3000 frames run 2-3x faster per frame than over 10,000), large enough that
# per-call overheads (a few hundred torch ops per batch) vanish.
DEFAULT_BATCH_SECONDS = 32.0
MAX_BATCH_ITEMS = 64
# Less audio than this is extracted in-process even when jobs > 1: a worker process needs seconds
# to start (importing torch: 3-12 s on the shared 2-core benchmark machine), and one process extracts
# about 300-1000 s of audio per second: parallelism only pays for larger corpora.
MIN_PARALLEL_AUDIO_SECONDS = 1800.0

# The settings of an audio view: ser's own views (FeatureConfig) or openSMILE's (OpenSmileConfig).
AudioConfig = FeatureConfig | OpenSmileConfig


def make_audio_config(view_cfg: Any) -> AudioConfig:
    """The validated settings of the audio view a `features` node (a mapping, a Hydra node or a
    settings dataclass) describes."""
    raw = to_plain(view_cfg)
    return make_opensmile_config(raw) if is_opensmile_view(raw) else make_config(raw)


def view_feature_names(cfg: AudioConfig) -> list[str]:
    """The D column names of an audio view (openSMILE's own names for the opensmile view)."""
    return opensmile_names(cfg) if isinstance(cfg, OpenSmileConfig) else feature_names(cfg)


def stores_vectors(cfg: AudioConfig) -> bool:
    """Whether the view gives one row per utterance (read back as a `(D,)` vector)."""
    return cfg.vector if isinstance(cfg, OpenSmileConfig) else cfg.view in VECTOR_VIEWS


def min_parallel_seconds(cfg: AudioConfig) -> float:
    """Less audio than this is extracted in one process (see MIN_PARALLEL_AUDIO_SECONDS)."""
    if isinstance(cfg, OpenSmileConfig):
        return opensmile_view.MIN_PARALLEL_AUDIO_SECONDS
    return MIN_PARALLEL_AUDIO_SECONDS


@dataclass(frozen=True)
class Item:
    """One utterance to extract: where its audio is."""

    utt_id: str
    path: str
    offset: float = 0.0
    duration: float | None = None  # None: the whole file


@dataclass
class Result:
    """What a worker returns per utterance: rows, or the reason it was skipped."""

    utt_id: str
    rows: np.ndarray | None
    reason: str | None
    audio_seconds: float


def items_from_manifest(manifest: pd.DataFrame) -> list[Item]:
    """Manifest rows as Items: `duration` seconds from `offset`. Whole files have offset 0 and their
    full duration (readers take it from the file header); a missing duration reads to the end."""
    items = []
    for uid, path, offset, duration in zip(
        manifest["utterance_id"], manifest["path"], manifest["offset"], manifest["duration"], strict=True
    ):
        offset = float(offset) if offset is not None and not pd.isna(offset) else 0.0
        dur = (
            float(duration)
            if duration is not None and not pd.isna(duration) and float(duration) > 0
            else None
        )
        items.append(Item(str(uid), str(path), offset, dur))
    return items


def _file_stamp(path: str) -> list:
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def cache_key(manifest: pd.DataFrame, cfg: AudioConfig) -> str:
    """Hash of the manifest rows used (ids, paths, segments, file sizes and mtimes), the feature
    settings that shape the values, and FEATURE_VERSION."""
    rows = [
        [
            str(u),
            str(p),
            float(o) if not pd.isna(o) else 0.0,
            float(d) if not pd.isna(d) else None,
            *_file_stamp(str(p)),
        ]
        for u, p, o, d in zip(
            manifest["utterance_id"], manifest["path"], manifest["offset"], manifest["duration"], strict=True
        )
    ]
    return stable_hash(rows, cfg.key_dict(), FEATURE_VERSION)


def _file_duration(item: Item) -> float:
    """Seconds of audio an item will yield, from the file header (3 s when unreadable: it gets skipped)."""
    try:
        return max(0.0, audio_duration(item.path) - item.offset)
    except AudioError:  # the extraction itself reports unreadable files; planning just needs a guess
        return 3.0


def plan_batches(
    items: list[Item], batch_seconds: float, durations: Iterable[float] | None = None
) -> list[tuple[list[Item], float]]:
    """Group consecutive items into (batch, seconds) of about `batch_seconds` of audio each.

    Durations come from `durations` (e.g. the manifest), else from the file headers.
    """
    batches: list[tuple[list[Item], float]] = []
    current: list[Item] = []
    total = 0.0
    durs = list(durations) if durations is not None else [item.duration for item in items]
    for item, dur in zip(items, durs, strict=True):
        if dur is None or not math.isfinite(dur) or dur <= 0:
            dur = _file_duration(item)
        if current and (total + dur > batch_seconds or len(current) >= MAX_BATCH_ITEMS):
            batches.append((current, total))
            current, total = [], 0.0
        current.append(item)
        total += dur
    if current:
        batches.append((current, total))
    return batches


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def extract_batch(items: list[Item], cfg: AudioConfig) -> list[Result]:
    """Load and featurise a batch; a file that fails is reported in its Result, the rest go on."""
    results: list[Result | None] = [None] * len(items)
    waves, where = [], []
    for i, item in enumerate(items):
        try:
            wave = load_audio(item.path, item.offset, item.duration, cfg.sample_rate)
        except Exception as exc:  # any failure to read this one file skips only this file
            results[i] = Result(item.utt_id, None, _one_line(exc), 0.0)
            continue
        waves.append(wave)
        where.append(i)
    for wave, i, r in zip(waves, where, compute_each(waves, cfg), strict=True):
        if isinstance(r, str):
            results[i] = Result(items[i].utt_id, None, r, 0.0)
        else:
            results[i] = Result(items[i].utt_id, r, None, len(wave) / cfg.sample_rate)
    return [r for r in results if r is not None]


def compute_each(waves: list[np.ndarray], cfg: AudioConfig) -> list[np.ndarray | str]:
    """`compute_view` of a batch of waves; a wave that fails gives its one-line reason instead of rows.

    The batch is computed at once; when that fails, the waves are redone one by one to find the
    culprit, so one odd clip cannot sink the others. openSMILE reads one wave at a time anyway.
    """
    if not waves:
        return []
    if isinstance(cfg, OpenSmileConfig):
        return compute_opensmile(waves, cfg)
    try:
        return list(compute_view(waves, cfg))
    except Exception:  # noqa: BLE001 - any failure: find which clip caused it
        out: list[np.ndarray | str] = []
        for wave in waves:
            try:
                out.append(compute_view([wave], cfg)[0])
            except Exception as exc:  # noqa: BLE001
                out.append(f"feature error: {_one_line(exc)}")
        return out


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of handing it back to the OS.

    Every batch allocates and frees tens of MB of arrays. By default glibc serves large blocks with
    fresh mappings and returns freed ones, so each batch page-faults its memory in again (thousands
    of faults a batch, 5-10 % of the extraction time here). With the thresholds raised the freed
    memory is reused; peak memory is unchanged. Applies to the whole process; a no-op where the C
    library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    except (OSError, AttributeError):
        pass


def _worker(items: list[Item], cfg: AudioConfig) -> list[Result]:
    # One torch thread per process: the parallelism is across processes, and oversubscribed
    # intra-op threads only fight each other on a shared machine.
    torch.set_num_threads(1)
    keep_freed_memory()
    return extract_batch(items, cfg)


def resolve_jobs(jobs: int | None) -> int:
    """joblib convention: -1 = all cores, -2 = all but one, N = N processes."""
    n_cpu = os.cpu_count() or 1
    if jobs is None or jobs == 0:
        jobs = -1
    return max(1, n_cpu + 1 + jobs) if jobs < 0 else int(jobs)


def iter_results(
    items: list[Item],
    cfg: AudioConfig,
    jobs: int = -1,
    progress: bool = True,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    durations: Iterable[float] | None = None,
) -> Iterator[Result]:
    """Extract `items`, yielding Results in input order as batches finish (memory stays bounded)."""
    from tqdm.auto import tqdm

    planned = plan_batches(items, batch_seconds, durations)
    batches = [batch for batch, _ in planned]
    n_workers = min(resolve_jobs(jobs), len(batches))
    if sum(seconds for _, seconds in planned) < min_parallel_seconds(cfg):
        n_workers = 1  # starting workers (each imports torch) would cost more than it saves
    bar = tqdm(
        total=len(items), unit="clip", desc=f"features[{cfg.view}]", disable=not progress, file=sys.stderr
    )
    try:
        if n_workers <= 1:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            keep_freed_memory()
            try:
                for batch in batches:
                    results = extract_batch(batch, cfg)
                    bar.update(len(batch))
                    yield from results
            finally:
                torch.set_num_threads(threads)
        else:
            from joblib import Parallel, delayed

            parallel = Parallel(
                n_jobs=n_workers, return_as="generator", pre_dispatch="2*n_jobs", batch_size=1
            )
            for batch, results in zip(
                batches, parallel(delayed(_worker)(b, cfg) for b in batches), strict=True
            ):
                bar.update(len(batch))
                yield from results
    finally:
        bar.close()


def extract_to_folder(
    items: list[Item],
    cfg: AudioConfig,
    folder: Path,
    jobs: int = -1,
    progress: bool = True,
    durations: Iterable[float] | None = None,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    extra_meta: Mapping | None = None,
) -> dict:
    """Extract `items` into a feature folder (see ser.features.store); returns the meta written."""
    names = view_feature_names(cfg)
    writer = RowWriter(folder, len(names))
    skipped: list[tuple[str, str]] = []
    for res in iter_results(items, cfg, jobs, progress, batch_seconds, durations):
        if res.rows is None:
            log.warning("skipped %s: %s", res.utt_id, res.reason)
            skipped.append((res.utt_id, res.reason or "unknown"))
        else:
            writer.add(res.utt_id, res.rows, res.audio_seconds)
    meta = {
        "view": cfg.view,
        "vector": stores_vectors(cfg),
        "names": names,
        "skipped": skipped,
        "config": cfg.key_dict(),
        "feature_version": FEATURE_VERSION,
        **dict(extra_meta or {}),
    }
    return writer.finish(meta)


def extract_view(
    manifest: pd.DataFrame,
    view_cfg: Mapping,
    cache_dir: str | Path | None = None,
    jobs: int = -1,
    force: bool = False,
    progress: bool = True,
) -> FeatureSet:
    """Features of every manifest row under the view `view_cfg` describes, from the cache if present.

    `view_cfg` is the Hydra `features` node (or a dict); keys `jobs` and `force` in it are honoured
    too (`jobs` when the argument is left at -1). Cached under
    cache_root(cache_dir)/features/<view>-<key>, key = hash(manifest content, settings, version).
    Logs "feature cache hit" or "feature cache miss" at INFO. Utterances that fail are listed in
    `skipped` with their reason and left out of `ids`/`data`. The text views (`text`,
    `text_embedding`: `ser.features.text`) read the manifest's transcripts instead of its audio;
    the opensmile view (`ser.features.opensmile`) runs openSMILE where the others run ser's engine.
    """
    raw = to_plain(view_cfg)
    if is_text_view(raw):
        return extract_text_view(manifest, raw, cache_dir=cache_dir, force=force, progress=progress)
    if is_ssl_view(raw):  # hidden states of a pretrained speech encoder: ser.features.ssl
        return extract_ssl_view(manifest, raw, cache_dir=cache_dir, force=force, progress=progress)
    cfg = make_audio_config(raw)
    force = bool(force or raw.get("force", False))
    if jobs == -1 and raw.get("jobs") is not None:
        jobs = int(raw["jobs"])
    batch_seconds = float(raw.get("batch_seconds") or DEFAULT_BATCH_SECONDS)
    key = cache_key(manifest, cfg)
    folder = cache_root(cache_dir) / "features" / f"{cfg.view}-{key}"
    if not force and is_complete(folder):
        log.info("feature cache hit: %s (%d utterances)", folder, len(manifest))
        return read_feature_set(folder, cache_hit=True)
    log.info("feature cache miss: %s (extracting %d utterances, view=%s)", folder, len(manifest), cfg.view)
    if force and folder.exists():
        shutil.rmtree(folder)
    items = items_from_manifest(manifest)
    durations = pd.to_numeric(manifest["duration"], errors="coerce").tolist()
    with atomic_dir(folder) as tmp:
        meta = extract_to_folder(
            items, cfg, tmp, jobs=jobs, progress=progress, durations=durations,
            batch_seconds=batch_seconds, extra_meta={"n_manifest_rows": len(manifest)},
        )  # fmt: skip
    skipped = meta["skipped"]
    if skipped:
        log.warning(
            "features: skipped %d of %d utterances (see FeatureSet.skipped)", len(skipped), len(manifest)
        )
    return read_feature_set(folder, cache_hit=False)
