"""Pool the predictions of several runs, fold by fold, on aligned utterances.

Members are run directories (holding `predictions.csv` and `val_predictions.csv`); a multirun
folder stands for every run inside it. Runs are grouped by fold; within a fold every member must
have the same test utterances, labels and class order, or pooling is refused: the original
notebooks averaged probabilities over three different random test sets, which measures nothing.

Methods: `mean` (average of probabilities), `weighted` (weights chosen on validation predictions),
`vote` (majority of predicted classes, ties broken by mean probability) and `stack` (a logistic
regression trained on the members' validation probabilities). Nothing is ever learned from test.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict
from sklearn.linear_model import LogisticRegression

from ser.cv import cv_summary
from ser.ensemble_regression import pool_regression_fold, summary_line, with_pooled_values
from ser.loggers import build_loggers
from ser.metrics import classification_metrics
from ser.render import results_table, summary_markdown
from ser.runs import (
    PREDICTIONS,
    VAL_PREDICTIONS,
    FitResult,
    Predictions,
    find_runs,
    frame_to_predictions,
    output_dir,
    read_metrics,
    read_predictions,
    write_run,
)

log = logging.getLogger(__name__)

METHODS = ("mean", "weighted", "vote", "stack")


@dataclass
class Member:
    """One run's predictions on one fold."""

    run_dir: Path
    fold: int
    classes: list[str]
    test: Predictions
    val: Predictions
    protocol: tuple[str, str, str, str]  # (corpus, labels, split method, subset or "") from metrics.json


def load_member(run_dir: Path) -> Member:
    """Read a run's test and validation predictions."""
    test_frame, classes = read_predictions(run_dir / PREDICTIONS)
    folds = test_frame["fold"].unique()
    if len(folds) != 1:
        raise ValueError(f"{run_dir / PREDICTIONS} mixes folds {sorted(folds)}: pass single-fold runs")
    val_path = run_dir / VAL_PREDICTIONS
    if val_path.is_file():
        val_frame, val_classes = read_predictions(val_path)
        if val_classes != classes:
            raise ValueError(f"{val_path}: class order {val_classes} differs from its predictions.csv {classes}")
        val = frame_to_predictions(val_frame, classes)
    else:
        val = Predictions([], np.zeros(0, int), np.zeros((0, len(classes))))
    meta = read_metrics(run_dir)
    # "" = the whole corpus: runs from before `corpus_subset` existed pool with `subset=all` runs
    subset = str(meta.get("corpus_subset", ""))
    subset = "" if subset == "all" else subset
    protocol = (str(meta.get("corpus", "")), str(meta.get("labels", "")), str(meta.get("split", "")), subset)
    return Member(run_dir, int(folds[0]), classes, frame_to_predictions(test_frame, classes), val, protocol)


def group_by_fold(members: list[Member]) -> dict[int, list[Member]]:
    """Group members by fold; refuse (naming the runs and folds) when they cannot be pooled."""
    protocols: dict[tuple[str, str, str, str], list[Member]] = defaultdict(list)
    for m in members:
        protocols[m.protocol].append(m)
    if len(protocols) > 1:
        described = "; ".join(
            f"corpus={c}{f' subset={sub}' if sub else ''} labels={lab} split={s}: {_names(ms)}"
            for (c, lab, s, sub), ms in sorted(protocols.items())
        )
        raise ValueError(f"runs come from different protocols, which cannot be pooled: {described}")
    by_fold: dict[int, list[Member]] = defaultdict(list)
    for m in members:
        by_fold[m.fold].append(m)
    sizes = {fold: len(ms) for fold, ms in by_fold.items()}
    most = max(sizes.values())
    if min(sizes.values()) != most:
        short = "; ".join(
            f"fold {fold} has {len(ms)} ({_names(ms)})" for fold, ms in sorted(by_fold.items()) if len(ms) < most
        )
        raise ValueError(f"every fold needs the same members, but other folds have {most} runs: {short}")
    if most < 2:
        alone = "; ".join(f"fold {fold} has only {_names(ms)}" for fold, ms in sorted(by_fold.items()))
        raise ValueError(f"an ensemble needs at least two runs per fold: {alone}")
    return dict(sorted(by_fold.items()))


def _names(members: list[Member]) -> str:
    """The run folders of `members`, comma-separated, for error messages."""
    return ", ".join(str(m.run_dir) for m in members)


def _align(members: list[Member], part: str) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """Order every member's predictions by utterance_id; refuse when utterances or labels differ."""
    first = members[0]
    ref: Predictions = getattr(first, part)
    ids = sorted(ref.utterance_id)
    probs = []
    for m in members:
        if m.classes != first.classes:
            raise ValueError(f"class orders differ: {m.run_dir} has {m.classes}, {first.run_dir} has {first.classes}")
        p: Predictions = getattr(m, part)
        if sorted(p.utterance_id) != ids:
            raise ValueError(
                f"{part} sets differ in fold {m.fold}: {m.run_dir} and {first.run_dir} predict different utterances"
            )
        order = np.argsort(p.utterance_id)
        if not np.array_equal(p.target[order], ref.target[np.argsort(ref.utterance_id)]):
            raise ValueError(f"labels differ in fold {m.fold} between {m.run_dir} and {first.run_dir}")
        probs.append(p.probs[order])
    target = ref.target[np.argsort(ref.utterance_id)]
    return ids, target, probs


def _ua(target: np.ndarray, probs: np.ndarray, classes: list[str]) -> float:
    return classification_metrics(target, probs.argmax(1), classes)["test/ua"]


def learn_weights(target: np.ndarray, probs: list[np.ndarray], classes: list[str], step: float = 0.1) -> np.ndarray:
    """Weights on the simplex (grid of `step`) that maximise validation UA, ties broken by log-loss."""
    n = len(probs)
    ticks = int(round(1 / step))
    best, best_score = np.full(n, 1 / n), (-1.0, -np.inf)
    for combo in itertools.product(range(ticks + 1), repeat=n - 1):
        if sum(combo) > ticks:
            continue
        w = np.array([*combo, ticks - sum(combo)]) / ticks
        pooled = sum(wi * p for wi, p in zip(w, probs, strict=True))
        log_lik = float(np.log(np.clip(pooled[np.arange(len(target)), target], 1e-12, None)).mean())
        score = (round(_ua(target, pooled, classes), 12), log_lik)
        if score > best_score:
            best, best_score = w, score
    return best


def _vote(probs: list[np.ndarray]) -> np.ndarray:
    """Vote shares per class; ties broken by a small share of the mean probability."""
    n_classes = probs[0].shape[1]
    votes = sum(np.eye(n_classes)[p.argmax(1)] for p in probs) / len(probs)
    tie_break = 1e-3 * np.mean(probs, axis=0)
    pooled = votes + tie_break
    return pooled / pooled.sum(axis=1, keepdims=True)


def pool_fold(members: list[Member], method: str, seed: int = 0) -> tuple[FitResult, dict]:
    """Pool one fold's members; return the pooled predictions and what was learned (weights)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose method= one of {', '.join(METHODS)}")
    if not members[0].test.has_classes:  # regression runs: their attributes pooled by ser.ensemble_regression
        return pool_regression_fold(members, method)
    classes = members[0].classes
    test_ids, test_target, test_probs = _align(members, "test")
    needs_val = method in ("weighted", "stack")
    if needs_val and any(len(m.val.utterance_id) == 0 for m in members):
        raise ValueError(f"method={method} learns from validation predictions, but a run has no {VAL_PREDICTIONS}")
    val_ids, val_target, val_probs = _align(members, "val") if all(len(m.val.utterance_id) for m in members) else ([], np.zeros(0, int), [])
    info: dict = {"members": [str(m.run_dir) for m in members]}
    if method == "mean":
        pooled_test, pooled_val = np.mean(test_probs, axis=0), np.mean(val_probs, axis=0) if val_probs else None
    elif method == "vote":
        pooled_test, pooled_val = _vote(test_probs), _vote(val_probs) if val_probs else None
    elif method == "weighted":
        w = learn_weights(val_target, val_probs, classes)
        info["weights"] = [float(x) for x in w]
        pooled_test = sum(wi * p for wi, p in zip(w, test_probs, strict=True))
        pooled_val = sum(wi * p for wi, p in zip(w, val_probs, strict=True))
    else:  # stack: meta-model on validation probabilities, rows aligned with their labels
        meta = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        meta.fit(np.hstack(val_probs), val_target)
        full = np.zeros((len(test_ids), len(classes)))
        full[:, meta.classes_] = meta.predict_proba(np.hstack(test_probs))
        pooled_test = full
        pooled_val = np.zeros((len(val_ids), len(classes)))
        pooled_val[:, meta.classes_] = meta.predict_proba(np.hstack(val_probs))  # in-sample: for reference only
    val = Predictions(val_ids, val_target, pooled_val) if pooled_val is not None else Predictions([], np.zeros(0, int), np.zeros((0, len(classes))))
    result = FitResult(val=val, test=Predictions(test_ids, test_target, pooled_test))
    if members[0].test.has_values:  # multitask runs: their attributes too (ser.ensemble_regression)
        result = with_pooled_values(result, members, method, info)
    return result, info


def run_ensemble(cfg: DictConfig) -> dict:
    """Hydra entry: pool `cfg.runs` with `cfg.method`, write artifacts, return the CV summary."""
    runs = list(cfg.runs) if OmegaConf.is_list(cfg.runs) or isinstance(cfg.runs, list) else [cfg.runs]
    members = [load_member(r) for r in find_runs(runs)]
    by_fold = group_by_fold(members)
    out = output_dir(cfg)
    corpus, labels, split, subset = members[0].protocol
    fold_dirs = []
    for fold, fold_members in by_fold.items():
        result, info = pool_fold(fold_members, cfg.method, int(cfg.seed))
        fold_dir = out if len(by_fold) == 1 else out / f"fold{fold}"
        info.update({"model": f"ensemble-{cfg.method}", "corpus": corpus, "labels": labels, "split": split, "method": cfg.method})
        if subset:
            info["corpus_subset"] = subset
        metrics = write_run(fold_dir, result, fold_members[0].classes, fold, info)
        headline = "UA" if "test/ua" in metrics else "CCC"  # regression runs: mean CCC
        log.info("fold %d: %d members, test %s %.3f", fold, len(fold_members), headline,
                 metrics["test/ua" if headline == "UA" else "test/ccc_mean"])  # fmt: skip
        fold_dirs.append(fold_dir)
    summary = {"configuration": f"ensemble-{cfg.method}", **cv_summary(fold_dirs)}
    if len(by_fold) > 1:
        table = pd.DataFrame([summary])
        table.to_csv(out / "summary.csv", index=False)
        (out / "summary.md").write_text(summary_markdown(table))
    else:
        print(results_table(metrics, fold_members[0].classes))
    per_fold = len(next(iter(by_fold.values())))
    figures = [summary_line(summary)] if "test/ccc_mean_mean" in summary else []
    if "test/ua_mean" in summary:
        figures.insert(0, f"UA {summary['test/ua_mean']:.3f} +- {summary['test/ua_std']:.3f}, "
                          f"WA {summary['test/wa_mean']:.3f} +- {summary['test/wa_std']:.3f}, pooled UA {summary['pooled/ua']:.3f}")  # fmt: skip
    print(f"ensemble {cfg.method} of {per_fold} members per fold ({len(members)} runs) over {len(by_fold)} fold(s): "
          f"{'; '.join(figures)}")
    _follow_inputs_on_wandb(cfg, [m.run_dir for m in members])
    loggers = build_loggers(cfg.get("logger"))
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        lg.log_metrics({f"ensemble/{k}": v for k, v in summary.items() if isinstance(v, float)})
        lg.save()
    print(f"ensemble folder: {out}")
    return summary


def _follow_inputs_on_wandb(cfg: DictConfig, run_dirs: list[Path]) -> None:
    """Log the ensemble to the W&B project of its inputs, in their group when they share one."""
    if not cfg.get("logger") or "wandb" not in cfg.logger:
        return
    projects, groups = set(), set()
    for run in run_dirs:
        saved = run / ".hydra" / "config.yaml"
        if saved.is_file():
            member_cfg = OmegaConf.load(saved)
            projects.add(OmegaConf.select(member_cfg, "logger.wandb.project", default=None))
            groups.add(OmegaConf.select(member_cfg, "run_group", default=None))
    with open_dict(cfg):
        if len(projects) == 1 and None not in projects:
            cfg.logger.wandb.project = projects.pop()
        if len(groups) == 1 and None not in groups:
            cfg.logger.wandb.group = groups.pop()
        cfg.logger.wandb.job_type = "ensemble"
