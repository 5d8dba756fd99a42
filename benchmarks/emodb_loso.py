#!/usr/bin/env python3
"""EmoDB leave-one-speaker-out (10 folds) for classical models: per-fold and pooled WA/UA.

Runs `ser.train.train` once per fold in one process (features are extracted once and cached), writing
the usual run artifacts under OUT/<model>/fold<k>, then prints one table per model.

    python benchmarks/emodb_loso.py --root ../shared/data/emodb --models svm xgboost --jobs 2

Equivalent Hydra multirun (one process per fold):

    python train.py -m corpus=emodb corpus.root=../shared/data/emodb labels=emodb7 split=loso \
        model=svm split.fold=1,2,3,4,5,6,7,8,9,10
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir

from ser.metrics import classification_metrics
from ser.runs import read_predictions
from ser.train import train

CONF = Path(__file__).resolve().parents[1] / "conf"
# EmoDB in the workplace's shared folder beside the repository (../shared), wherever that is checked out.
EMODB_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
N_FOLDS = 10  # EmoDB's ten speakers


def run_fold(model: str, fold: int, args: argparse.Namespace, out: Path) -> dict:
    """Train and test one model on one LOSO fold; return its metrics."""
    overrides = [
        "corpus=emodb",
        f"corpus.root={args.root}",
        "labels=emodb7",
        "split=loso",
        f"split.fold={fold}",
        f"model={model}",
        f"seed={args.seed}",
        f"jobs={args.jobs}",
        f"paths.output_dir={out}",
        "logger=csv",
        f"logger.csv.save_dir={out}",
        *args.overrides,
    ]
    if args.cache_dir:
        overrides.append(f"paths.cache_dir={args.cache_dir}")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return train(cfg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(EMODB_ROOT), help="EmoDB folder holding wav/ (default: ../shared/data/emodb)")
    ap.add_argument("--models", nargs="+", default=["svm", "xgboost"])
    ap.add_argument("--folds", nargs="+", type=int, default=list(range(1, N_FOLDS + 1)))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache-dir", default="")
    ap.add_argument("--out", default="outputs/benchmarks/emodb_loso")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.speaker_norm=true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    for model in args.models:
        rows, frames = [], []
        started = time.perf_counter()
        for fold in args.folds:
            out = Path(args.out) / model / f"fold{fold:02d}"
            m = run_fold(model, fold, args, out)
            rows.append({"fold": fold, "speaker": ",".join(m["test_groups"]), "n": m["test/n"], "WA": m["test/wa"], "UA": m["test/ua"]})
            frames.append(read_predictions(out / "predictions.csv")[0])
        table = pd.DataFrame(rows)
        pooled_frame = pd.concat(frames, ignore_index=True)
        classes = [c[len("prob_"):] for c in pooled_frame.columns if c.startswith("prob_")]
        index = {c: i for i, c in enumerate(classes)}
        pooled = classification_metrics(
            pooled_frame["label"].map(index).to_numpy(), pooled_frame["pred"].map(index).to_numpy(), classes, "pooled"
        )
        extra = " ".join(args.overrides)
        print(f"\n== {model} {extra} (EmoDB, emodb7, LOSO, seed {args.seed}, {time.perf_counter() - started:.0f}s)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(
            f"mean +- std over folds: WA {table.WA.mean():.3f} +- {table.WA.std(ddof=0):.3f}, "
            f"UA {table.UA.mean():.3f} +- {table.UA.std(ddof=0):.3f}"
        )
        print(f"pooled over folds:      WA {pooled['pooled/wa']:.3f}, UA {pooled['pooled/ua']:.3f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
