#!/usr/bin/env python3
"""Demo corpus: how much emotion its transcripts carry, and whether text and audio err apart.

For each LOSO fold of the demo corpus this trains the default audio model (`python train.py
split.fold=K`, the dnn on acoustic functionals, through `ser.train.train`) and a quick text-only
classifier (scikit-learn TF-IDF on word 1-2 grams + logistic regression, vocabulary, IDF and
weights fit on the fold's training utterances only), then prints per fold and pooled over folds:

- test UA of audio, text, and the mean of their probabilities (late fusion);
- pooled recall per class of each;
- the error overlap: utterances each gets wrong, both get wrong, the number both would get wrong
  if their errors were independent (audio errors x text errors / n), and the Jaccard index of the
  two error sets (1: the same errors, 0: disjoint).

    python benchmarks/demo_text_signal.py                     # 5 folds, default demo corpus, seed 42
    python benchmarks/demo_text_signal.py --folds 1 2 --cache-dir /tmp/fresh

The text side uses scikit-learn alone, not `ser`'s text view or models, so it measures the corpus,
not a model of the framework.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from ser.fold import prepare_fold
from ser.metrics import classification_metrics
from ser.runs import read_predictions
from ser.train import train

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_fold(fold: int, args: argparse.Namespace, out: Path):
    """The config of `python train.py split.fold=FOLD` (default model), writing into `out`."""
    overrides = [f"split.fold={fold}", f"seed={args.seed}", f"paths.output_dir={out}", "logger=csv",
                 f"logger.csv.save_dir={out}", *args.overrides]  # fmt: skip
    if args.cache_dir:
        overrides.append(f"paths.cache_dir={args.cache_dir}")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


def text_classifier(C: float):
    """TF-IDF (word 1-2 grams, lower-cased, punctuation dropped) + balanced logistic regression."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=C, class_weight="balanced", max_iter=2000),
    )


def text_probabilities(cfg, test_ids: list[str], classes: list[str], C: float) -> np.ndarray:
    """Fit the text classifier on the training utterances of the audio run's own fold (same
    manifest, same split: `prepare_fold`, features from the cache); probabilities for `test_ids`."""
    data = prepare_fold(cfg)
    assert data.classes == classes, (data.classes, classes)
    manifest = data.manifest
    assert set(test_ids) == set(manifest.iloc[data.split.test]["utterance_id"]), "audio and text test sets differ"
    train_rows = manifest.iloc[data.split.train]
    test_rows = manifest.set_index("utterance_id").loc[test_ids]
    model = text_classifier(C).fit(train_rows["transcript"], train_rows["target"])
    probs = np.zeros((len(test_ids), len(classes)))
    probs[:, model.classes_] = model.predict_proba(test_rows["transcript"])
    return probs


def overlap(target: np.ndarray, audio: np.ndarray, text: np.ndarray) -> dict:
    """Error counts of two prediction vectors and how much their errors coincide."""
    a_wrong, t_wrong = audio != target, text != target
    both, either = int((a_wrong & t_wrong).sum()), int((a_wrong | t_wrong).sum())
    n = len(target)
    return {
        "n": n,
        "audio_err": int(a_wrong.sum()),
        "text_err": int(t_wrong.sum()),
        "both_err": both,
        "indep_both": a_wrong.sum() * t_wrong.sum() / n,
        "jaccard": both / either if either else float("nan"),
    }


def ua(target: np.ndarray, pred: np.ndarray, classes: list[str]) -> float:
    return classification_metrics(target, pred, classes)["test/ua"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the text classifier")
    ap.add_argument("--cache-dir", default="")
    ap.add_argument("--out", default="outputs/benchmarks/demo_text_signal")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. corpus.seed=1")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    rows, pooled = [], []
    started = time.perf_counter()
    for fold in args.folds:
        out = Path(args.out) / f"fold{fold}"
        cfg = compose_fold(fold, args, out)
        train(cfg)
        frame, classes = read_predictions(out / "predictions.csv")
        index = {c: i for i, c in enumerate(classes)}
        target = frame["label"].map(index).to_numpy()
        audio = frame[[f"prob_{c}" for c in classes]].to_numpy()
        text = text_probabilities(cfg, frame["utterance_id"].tolist(), classes, args.C)
        fused = (audio + text) / 2
        pooled.append((target, audio, text, fused))
        rows.append({"fold": fold, "audio_UA": ua(target, audio.argmax(1), classes),
                     "text_UA": ua(target, text.argmax(1), classes), "fusion_UA": ua(target, fused.argmax(1), classes),
                     **overlap(target, audio.argmax(1), text.argmax(1))})  # fmt: skip

    table = pd.DataFrame(rows)
    target, audio, text, fused = (np.concatenate(parts) for parts in zip(*pooled, strict=True))
    all_rows = {"fold": "pooled", "audio_UA": ua(target, audio.argmax(1), classes),
                "text_UA": ua(target, text.argmax(1), classes), "fusion_UA": ua(target, fused.argmax(1), classes),
                **overlap(target, audio.argmax(1), text.argmax(1))}  # fmt: skip
    table = pd.concat([table, pd.DataFrame([all_rows])], ignore_index=True)
    print(f"\n== demo corpus, LOSO, iemocap4, seed {args.seed}, text C={args.C} "
          f"{' '.join(args.overrides)} ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    folds = table[table["fold"] != "pooled"]
    print("mean +- std over folds: " + ", ".join(
        f"{k} {folds[k].mean():.3f} +- {folds[k].std(ddof=0):.3f}" for k in ("audio_UA", "text_UA", "fusion_UA")))  # fmt: skip
    recalls = {name: classification_metrics(target, probs.argmax(1), classes, "pooled")
               for name, probs in (("audio", audio), ("text", text), ("fusion", fused))}  # fmt: skip
    print("pooled recall per class: " + "; ".join(
        f"{name} " + " ".join(f"{c} {m[f'pooled/recall_{c}']:.2f}" for c in classes) for name, m in recalls.items()))  # fmt: skip
    print(f"chance UA {1 / len(classes):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
