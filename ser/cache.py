"""Where `ser` keeps what it computes once: generated corpora and feature caches.

The cache root is `paths.cache_dir` in the Hydra config, `SER_CACHE` in the environment, else
`.cache/` in the working directory. Everything written there is written atomically: into a
temporary sibling first, then renamed, so a killed process never leaves something that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache root: the argument if given, else `$SER_CACHE`, else `./.cache`."""
    if cache_dir is None or str(cache_dir) == "":
        cache_dir = os.environ.get("SER_CACHE", ".cache")
    return Path(cache_dir).expanduser()


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hash JSON-serialisable parts into a short hex key that is the same on every machine."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `final` only if the block finishes without error.

    If another process finished `final` first, ours is discarded and theirs is kept.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(final: Path, data: bytes) -> None:
    """Write `data` to `final` through a temporary file and a rename."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, final)
