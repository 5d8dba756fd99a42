"""Extract features from audio files or folders and report the speed.

    python -m ser.features PATH... --set logmel|acoustic|sequence|opensmile [--jobs N] [--out FILE]
                           [-o key=value ...] [--images DIR] [--cache DIR]
    python -m ser.features --shard K/N corpus=NAME [labels=NAME] features=ssl features.encoder=PATH [key=value ...]

Prints progress and skipped files on stderr and ends with exactly one line on stdout:
`clips=N audio_s=X wall_s=Y x_realtime=Z`. Without --cache it always extracts (it is a speed
probe as much as a tool); --out writes an .npz with ids, names, rows and offsets.
openSMILE: `--set opensmile -o feature_set=ComParE_2016 [-o level=lld]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ser.features.config import VIEWS, make_config
from ser.features.extract import Item, extract_to_folder, extract_view, make_audio_config
from ser.features.opensmile import OPENSMILE_VIEW
from ser.features.store import read_feature_set

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def find_audio(paths: list[str]) -> list[Path]:
    """Audio files named directly, plus those under named folders (recursively, sorted)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise SystemExit(f"error: {p} does not exist (give audio files or folders)")
    return files


def _parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: -o {pair!r}: use key=value, e.g. -o n_mels=128")
        out[key.strip()] = yaml.safe_load(value)
    return out


def shard_main(argv: list[str]) -> int:
    """`--shard K/N key=value ...`: fill this shard of a corpus's cache (`ser.extract`, conf/extract.yaml)."""
    from hydra import compose, initialize_config_dir

    from ser.cli import SHOW_TRACEBACKS, USER_ERRORS, one_line
    from ser.extract import extract_shard

    ap = argparse.ArgumentParser(prog="python -m ser.features --shard", description=shard_main.__doc__)
    ap.add_argument("--shard", required=True, help="K/N: this process computes shard K of N (1-based)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides as for train.py: corpus=..., features.encoder=...")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    conf = Path(__file__).resolve().parents[2] / "conf"
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose("extract", overrides=[*a.overrides, f"shard={a.shard}"])
        complete = extract_shard(cfg)
    except USER_ERRORS as err:
        if SHOW_TRACEBACKS:
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    print(f"shard={a.shard} cache={'complete' if complete else 'partial'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg == "--shard" or arg.startswith("--shard=") for arg in argv):
        return shard_main(argv)
    ap = argparse.ArgumentParser(
        prog="python -m ser.features",
        description=__doc__.splitlines()[0],
        epilog="A pretrained speech encoder's features (features=ssl) for a whole corpus, one shard per process: "
        "python -m ser.features --shard K/N corpus=NAME features.encoder=PATH [key=value ...] (README: Pretrained speech encoders)",
    )
    ap.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    ap.add_argument("--set", dest="view", choices=(*VIEWS, OPENSMILE_VIEW), default="acoustic", help="feature view")
    ap.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    ap.add_argument("--out", help="write features to this .npz (ids, names, rows, offsets)")
    ap.add_argument(
        "-o", "--option", action="append", default=[], help="feature setting key=value, e.g. n_mels=128"
    )
    ap.add_argument("--images", help="also write a log-mel spectrogram PNG per clip into this folder")
    ap.add_argument("--cache", help="use (and fill) the feature cache under this folder")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    try:
        cfg = make_audio_config({"view": a.view, **_parse_overrides(a.option)})
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    files = find_audio(a.paths)
    # Ids are paths relative to the common folder: unique, and readable in the output.
    root = Path(*Path(files[0]).resolve().parts[:-1]) if len(files) == 1 else None
    if files and root is None:
        root = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    ids = [str(f.resolve().relative_to(root)) if root else str(f) for f in files]

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ser-features-") as tmp:
        if a.cache:
            paths = [str(f.resolve()) for f in files]
            manifest = pd.DataFrame(
                {"utterance_id": ids, "path": paths, "offset": 0.0, "duration": float("nan")}
            )
            fs = extract_view(
                manifest, dataclasses.asdict(cfg), cache_dir=a.cache, jobs=a.jobs, progress=not a.quiet
            )
            folder = fs.path
        else:
            folder = Path(tmp)
            items = [Item(i, str(f)) for i, f in zip(ids, files, strict=True)]
            extract_to_folder(items, cfg, folder, jobs=a.jobs, progress=not a.quiet)
            fs = read_feature_set(folder, cache_hit=False)
        wall = time.perf_counter() - t0
        audio_s = float(json.loads((folder / "meta.json").read_text())["audio_seconds"])
        for uid, reason in fs.skipped:
            print(f"skipped {uid}: {reason}", file=sys.stderr)
        if a.out:
            rows = np.load(folder / "data.npy")
            offsets = np.load(folder / "offsets.npy")
            np.savez(
                a.out,
                ids=np.asarray(fs.ids),
                names=np.asarray(fs.names),
                rows=rows,
                offsets=offsets,
                view=a.view,
            )
            print(f"wrote {a.out}", file=sys.stderr)
            del rows
        n_clips = len(fs.ids)
        del fs  # release the memory maps before the temporary folder goes
    if a.images:
        written = write_images(files, ids, cfg, Path(a.images))
        print(f"wrote {written} spectrogram images to {a.images}", file=sys.stderr)
    print(
        f"clips={n_clips} audio_s={audio_s:.1f} wall_s={wall:.2f} x_realtime={audio_s / max(wall, 1e-9):.1f}"
    )
    return 0


def write_images(files: list[Path], ids: list[str], cfg, outdir: Path) -> int:
    """One log-mel PNG per readable file, named after its id; returns how many were written."""
    from ser.audio import AudioError, load_audio
    from ser.features.images import save_spectrogram_png
    from ser.features.views import compute_view

    mel_cfg = make_config({**dataclasses.asdict(cfg), "view": "logmel"})
    written = 0
    for f, uid in zip(files, ids, strict=True):
        try:
            wave = load_audio(f, sample_rate=mel_cfg.sample_rate)
        except AudioError as exc:
            print(f"no image for {uid}: {exc}", file=sys.stderr)
            continue
        logmel = compute_view([wave], mel_cfg)[0].T
        save_spectrogram_png(
            logmel, outdir / (uid.replace("/", "__").rsplit(".", 1)[0] + ".png"), mel_cfg, title=uid
        )
        written += 1
    return written


if __name__ == "__main__":
    sys.exit(main())
