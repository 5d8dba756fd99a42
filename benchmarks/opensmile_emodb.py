#!/usr/bin/env python3
"""openSMILE (eGeMAPSv02, ComParE_2016) beside ser's `acoustic` view on EmoDB: accuracy and speed.

    python benchmarks/opensmile_emodb.py [--root ../shared/data/emodb] [--models svm xgboost] [--jobs 1]

For each view, in one run:
1. extraction speed: every EmoDB clip into an empty cache, one process (`jobs=1`), after an untimed
   two-clip warm-up (the first call builds filters and loads openSMILE's library), as x real time;
   `--rounds N` times, the views alternated, the best round counting (a shared machine's load drifts);
   also by the process's CPU time, which other processes on a loaded machine do not inflate;
2. each model of --models (default svm) on the 10 leave-one-speaker-out folds through
   `ser.train.train`, the same call as `python train.py corpus=emodb labels=emodb7 split=loso
   split.fold=K features=... model=...` (the folds read the cache step 1 filled);
then one table: mean +- sample std of the per-fold UA, pooled UA and WA over all folds' predictions.
The `acoustic` view is taken as conf/features/acoustic.yaml composes it at run time (its feature
count is printed), so the table follows any change to that view. Runs go under
OUT/<view>/<model>/fold<k>; it asserts nothing: README quotes what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ser.cv import cv_summary
from ser.features import make_audio_config
from ser.features.extract import extract_to_folder, items_from_manifest
from ser.fold import extract_features, feature_config, load_labelled
from ser.render import markdown_table
from ser.train import train

CONF = Path(__file__).resolve().parents[1] / "conf"
# EmoDB in the workplace's shared folder beside the repository (../shared), wherever that is checked out.
EMODB_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
N_FOLDS = 10  # EmoDB's ten speakers
# label -> the overrides that select the view
VIEWS = {
    "openSMILE eGeMAPSv02": ["features=opensmile", "features.feature_set=eGeMAPSv02"],
    "openSMILE ComParE_2016": ["features=opensmile", "features.feature_set=ComParE_2016"],
    "ser acoustic": ["features=acoustic"],
}


def config(
    args: argparse.Namespace, view: list[str], model: str, fold: int = 1, out: Path | None = None
) -> DictConfig:
    """The composed train config of one view, model and fold (as train.py would compose it)."""
    overrides = [
        "corpus=emodb", f"corpus.root={args.root}", "labels=emodb7", "split=loso", f"split.fold={fold}",
        f"model={model}", *view, f"seed={args.seed}", f"jobs={args.jobs}", f"paths.cache_dir={args.cache_dir}",
        "logger=csv", *args.overrides,
    ]  # fmt: skip
    if out is not None:
        overrides += [f"paths.output_dir={out}", f"logger.csv.save_dir={out}"]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


def extraction_speed(cfg: DictConfig, fill_cache: bool) -> tuple[int, float, float, float]:
    """(features per utterance, audio seconds, x real time by wall clock, x real time by this
    process's CPU time) of extracting the whole corpus with one process and nothing cached: into the
    (empty) feature cache that the folds then read when `fill_cache`, else into a temporary folder.
    The CPU figure is what a machine with a free core would give: on a loaded one the wall clock
    also counts the time other processes held the core."""
    labelled, _ = load_labelled(cfg)
    settings = make_audio_config(feature_config(cfg))
    items = items_from_manifest(labelled)
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: filters, FFT plans, openSMILE's library
        extract_to_folder(items[:2], settings, Path(tmp), jobs=1, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()
        if fill_cache:
            cold = cfg.copy()
            cold.jobs = 1
            _, features = extract_features(cold, labelled)
            if features.cache_hit:
                raise SystemExit(
                    f"error: {cfg.paths.cache_dir} already holds these features: pass an empty --cache-dir"
                )
            meta, n_features = json.loads((features.path / "meta.json").read_text()), len(features.names)
        else:
            meta = extract_to_folder(items, settings, Path(tmp), jobs=1, progress=False)
            n_features = len(meta["names"])
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    audio = float(meta["audio_seconds"])
    return n_features, audio, audio / wall, audio / cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--root", default=str(EMODB_ROOT), help="EmoDB folder holding wav/ (default: ../shared/data/emodb)"
    )
    ap.add_argument("--models", nargs="+", default=["svm"], help="model configs, e.g. svm xgboost dnn")
    ap.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS), metavar="VIEW")
    ap.add_argument("--folds", nargs="+", type=int, default=list(range(1, N_FOLDS + 1)))
    ap.add_argument(
        "--rounds", type=int, default=1, help="extraction timings per view, views alternated; the best counts"
    )
    ap.add_argument(
        "--jobs", type=int, default=1, help="threads of the classical models (extraction: always 1)"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--cache-dir", default="", help="an empty folder for the feature cache (default: a temporary one)"
    )
    ap.add_argument("--out", default="outputs/benchmarks/opensmile_emodb")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="ser-bench-cache-") as tmp:
        args.cache_dir = args.cache_dir or tmp
        # 1. extraction speed: rounds alternate the views, so that a shared machine's drifting load
        # falls on every view alike; the first round fills the cache
        speed: dict[str, float] = {}
        cpu_speed: dict[str, float] = {}
        n_features: dict[str, int] = {}
        for r in range(args.rounds):
            for label in args.views:
                n, audio, x, x_cpu = extraction_speed(
                    config(args, VIEWS[label], args.models[0]), fill_cache=r == 0
                )
                n_features[label], speed[label] = n, max(x, speed.get(label, 0.0))
                cpu_speed[label] = max(x_cpu, cpu_speed.get(label, 0.0))
                print(f"{label}: {n} features, {audio:.0f} s of audio at {x:.0f}x real time ({x_cpu:.0f}x by CPU time; "
                      f"1 process, round {r + 1}, load average {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
        # 2. the folds, from the cache
        rows = []
        for label in args.views:
            for model in args.models:
                started = time.perf_counter()
                runs = []
                for fold in args.folds:
                    out = Path(args.out) / label.replace(" ", "_") / model / f"fold{fold:02d}"
                    with contextlib.redirect_stdout(io.StringIO()):  # train's table of each fold
                        train(config(args, VIEWS[label], model, fold, out))
                    runs.append(out)
                s = cv_summary(runs)
                rows.append({
                    "view": label, "features": n_features[label], "model": model, "folds": len(runs),
                    "UA mean +- std": f"{s['test/ua_mean']:.3f} +- {s['test/ua_std']:.3f}",
                    "pooled UA": f"{s['pooled/ua']:.3f}", "pooled WA": f"{s['pooled/wa']:.3f}",
                    "extraction x real time": f"{speed[label]:.0f}", "(by CPU time)": f"{cpu_speed[label]:.0f}",
                })  # fmt: skip
                print(f"{label} + {model}: UA {rows[-1]['UA mean +- std']} ({time.perf_counter() - started:.0f} s)",
                      flush=True)  # fmt: skip
    print(f"\nEmoDB (emodb7, {len(args.folds)} LOSO folds, seed {args.seed}; {platform.machine()}, "
          f"Python {platform.python_version()}); extraction: 1 process, cold cache, best of {args.rounds} round(s)")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
