"""Pool the predictions of several runs, fold by fold, on aligned utterances.

Members are run directories (holding `predictions.csv` and `val_predictions.csv`); a multirun
folder stands for every run inside it. Runs are grouped by fold; within a fold every member must
have the same test utterances, labels and class order, or pooling is refused: the original
notebooks averaged probabilities over three different random test sets, which measures nothing.

Methods (the array maths in `ser.combiners`): `mean` (average of probabilities), `vote` (majority
of predicted classes, ties broken by mean probability), `weighted` (a weighted mean whose weights
are fit on validation evidence and shrunk towards equal weights) and `stack` (a logistic
regression on the members' log-probabilities, pulled towards their geometric mean).

`weighted` and `stack` learn from validation evidence only (`gather_evidence`): by default the
validation predictions of every fold of the given runs (`evidence=folds`), less any row that is one
of this fold's test utterances; `evidence=own` keeps this fold's validation predictions alone, one
speaker in LOSO, too few to choose weights from. Nothing is ever learned from a test label: each
fold's metrics.json and the ensemble's `learned.csv` record the evidence and what was learned.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from ser import combiners
from ser.cv import IGNORED_KEYS, configuration_of, cv_summary
from ser.ensemble_regression import pool_regression_fold, summary_line, with_pooled_values
from ser.loggers import build_loggers
from ser.render import markdown_table, results_table, summary_markdown
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
    run_overrides,
    write_run,
)

log = logging.getLogger(__name__)

# which evidence and weights each fold used (weighted, stack), in the ensemble folder
LEARNED = "learned.csv"
METHODS = ("mean", "weighted", "vote", "stack")
EVIDENCE = ("folds", "own")  # what weighted / stack learn from (gather_evidence)
# defaults of `weighted`'s shrinkage and `stack`'s L2 pull (conf/ensemble.yaml: prior_rows, stack_l2)
PRIOR_ROWS = 100.0
STACK_L2 = 10.0


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


@dataclass
class Evidence:
    """The validation rows one fold's `weighted` / `stack` learn from, members' columns aligned with
    that fold's members, and where they came from."""

    target: np.ndarray
    probs: list[np.ndarray]
    source: str  # "folds": the validation rows of every fold; "own": this fold's only
    rows_by_fold: dict[int, int]  # fold -> validation rows taken from it
    excluded: int = 0  # validation rows of other folds left out because they are this fold's test utterances
    note: str = ""  # why `folds` fell back to `own`, when it did

    def describe(self) -> dict:
        """What metrics.json records about the evidence."""
        out = {"source": self.source, "rows": len(self.target), "rows_by_fold": {str(k): v for k, v in self.rows_by_fold.items()},
               "excluded_test_rows": self.excluded}  # fmt: skip
        return {**out, "note": self.note} if self.note else out


def member_key(member: Member) -> str:
    """What makes runs of different folds the same member: model, overrides (fold aside) and seed."""
    meta = read_metrics(member.run_dir)
    ignored = tuple(k for k in IGNORED_KEYS if k != "seed")
    return f"{meta.get('model', '')}|{configuration_of(run_overrides(member.run_dir), ignored)}|seed={meta.get('seed', '')}"


def _matched_members(by_fold: dict[int, list[Member]]) -> tuple[dict[int, list[Member]] | None, str]:
    """Every fold's members in the order of the first fold's, matched by `member_key`; None (and the
    reason) when the keys are not unique within a fold or differ between folds."""
    keys = {fold: [member_key(m) for m in ms] for fold, ms in by_fold.items()}
    first_fold, first = next(iter(keys.items()))
    for fold, ks in keys.items():
        if len(set(ks)) != len(ks):
            return None, f"fold {fold} has members that cannot be told apart (same model, overrides and seed)"
        if set(ks) != set(first):
            return None, f"folds {first_fold} and {fold} hold different members"
    return {fold: [ms[keys[fold].index(k)] for k in first] for fold, ms in by_fold.items()}, ""


def gather_evidence(by_fold: dict[int, list[Member]], fold: int, source: str = "folds") -> Evidence:
    """The validation rows `fold`'s ensemble may learn from, never one of its test utterances.

    `source=own`: this fold's validation predictions. `source=folds`: those plus the validation
    predictions of every other fold, except rows whose utterance is one of this fold's test
    utterances (in LOSO, the folds whose validation speaker sits in this fold's test group). The
    other folds' runs are the same configurations trained on other speakers, this fold's test
    speakers among them; what they add is evidence about how the configurations compare, and no
    label of this fold's test utterances enters. Falls back to `own` (saying why) when the runs
    of different folds cannot be matched member by member.
    """
    if source not in EVIDENCE:
        raise ValueError(f"unknown evidence={source}: choose evidence=folds (every fold's validation rows) or evidence=own")
    members = by_fold[fold]
    own = _val_rows(members)
    if source == "own" or len(by_fold) == 1:
        return Evidence(own[0], own[1], "own", {fold: len(own[0])})
    matched, reason = _matched_members(by_fold)
    if matched is None:
        log.warning("fold %d learns from its own validation predictions only: %s", fold, reason)
        return Evidence(own[0], own[1], "own", {fold: len(own[0])}, note=reason)
    test_ids = set(_align(members, "test")[0])
    # columns in this fold's member order (by identity: Members hold arrays, == would compare them)
    order = [next(i for i, x in enumerate(matched[fold]) if x is m) for m in members]
    targets, probs, rows_by_fold, excluded = [], [[] for _ in members], {}, 0
    for g, ms in matched.items():
        if ms[0].classes != members[0].classes:
            raise ValueError(
                f"class orders differ between folds: {ms[0].run_dir} has {ms[0].classes}, "
                f"{members[0].run_dir} has {members[0].classes}"
            )
        ids, target, val_probs = _val_rows_with_ids(ms)
        keep = np.array([u not in test_ids for u in ids], dtype=bool)
        excluded += int((~keep).sum())
        rows_by_fold[g] = int(keep.sum())
        targets.append(target[keep])
        for column, i in enumerate(order):
            probs[column].append(val_probs[i][keep])
    n_classes = len(members[0].classes)
    stacked = [np.concatenate(p) if p else np.zeros((0, n_classes)) for p in probs]
    return Evidence(np.concatenate(targets).astype(int), stacked, "folds", rows_by_fold, excluded)


def _val_rows_with_ids(members: list[Member]) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """A fold's aligned validation rows; none when a member has no validation predictions."""
    if any(len(m.val.utterance_id) == 0 for m in members):
        return [], np.zeros(0, int), [np.zeros((0, len(m.classes))) for m in members]
    return _align(members, "val")


def _val_rows(members: list[Member]) -> tuple[np.ndarray, list[np.ndarray]]:
    _, target, probs = _val_rows_with_ids(members)
    return target, probs


def learn_weights(target: np.ndarray, probs: list[np.ndarray], prior_rows: float = PRIOR_ROWS) -> np.ndarray:
    """`weighted`'s weights from validation evidence, shrunk towards equal (see `ser.combiners`)."""
    return combiners.learn_weights(target, probs, prior_rows)[0]


def pool_fold(
    members: list[Member],
    method: str,
    seed: int = 0,
    evidence: Evidence | None = None,
    prior_rows: float = PRIOR_ROWS,
    stack_l2: float = STACK_L2,
) -> tuple[FitResult, dict]:
    """Pool one fold's members; return the pooled predictions and what was learned.

    `weighted` and `stack` learn from `evidence` (default: this fold's validation predictions;
    `run_ensemble` passes `gather_evidence`'s). Every method is deterministic; `seed` is kept for
    callers.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose method= one of {', '.join(METHODS)}")
    if not members[0].test.has_classes:  # regression runs: their attributes pooled by ser.ensemble_regression
        return pool_regression_fold(members, method)
    classes = members[0].classes
    test_ids, test_target, test_probs = _align(members, "test")
    needs_val = method in ("weighted", "stack")
    if needs_val and any(len(m.val.utterance_id) == 0 for m in members):
        raise ValueError(f"method={method} learns from validation predictions, but a run has no {VAL_PREDICTIONS}")
    val_ids, val_target, val_probs = _val_rows_with_ids(members)
    info: dict = {"members": [str(m.run_dir) for m in members]}
    if needs_val and evidence is None:
        evidence = Evidence(val_target, val_probs, "own", {members[0].fold: len(val_target)})
    if method == "mean":
        pool = combiners.mean_pool
    elif method == "vote":
        pool = combiners.vote_pool
    elif method == "weighted":
        w, learned = combiners.learn_weights(evidence.target, evidence.probs, prior_rows)
        info.update({"evidence": evidence.describe(), "weights": [float(x) for x in w], **learned, "prior_rows": prior_rows})

        def pool(p: list[np.ndarray]) -> np.ndarray:
            return combiners.weighted_pool(p, w)
    else:  # stack: meta-model on the evidence, pulled towards the members' geometric mean
        stacker = combiners.Stacker(len(members), len(classes), stack_l2).fit(evidence.target, evidence.probs)
        info.update({"evidence": evidence.describe(), "stack_member_scale": stacker.member_scale(), "stack_l2": stack_l2})
        pool = stacker.predict_proba  # on validation: in-sample, for reference only
    pooled_test = pool(test_probs)
    pooled_val = pool(val_probs) if len(val_ids) else np.zeros((0, len(classes)))
    val = Predictions(val_ids, val_target, pooled_val)
    result = FitResult(val=val, test=Predictions(test_ids, test_target, pooled_test))
    if members[0].test.has_values:  # multitask runs: their attributes too (ser.ensemble_regression)
        result = with_pooled_values(result, members, method, info)
    return result, info


def _learning_settings(cfg: DictConfig) -> tuple[str, float, float]:
    """`evidence`, `prior_rows` and `stack_l2`, checked before anything is read or written."""
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}: choose method= one of {', '.join(METHODS)}")
    source = str(cfg.get("evidence", "folds"))
    if source not in EVIDENCE:
        raise ValueError(f"unknown evidence={source}: choose evidence=folds (every fold's validation rows) or evidence=own")
    values = {}
    for key, default in (("prior_rows", PRIOR_ROWS), ("stack_l2", STACK_L2)):
        value = cfg.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key}={value} must be a number >= 0 (default {default:g})")
        values[key] = float(value)
    return source, values["prior_rows"], values["stack_l2"]


def run_ensemble(cfg: DictConfig) -> dict:
    """Hydra entry: pool `cfg.runs` with `cfg.method`, write artifacts, return the CV summary."""
    runs = list(cfg.runs) if OmegaConf.is_list(cfg.runs) or isinstance(cfg.runs, list) else [cfg.runs]
    source, prior_rows, stack_l2 = _learning_settings(cfg)
    members = [load_member(r) for r in find_runs(runs)]
    by_fold = group_by_fold(members)
    out = output_dir(cfg)
    corpus, labels, split, subset = members[0].protocol
    fold_dirs, learned = [], []
    for fold, fold_members in by_fold.items():
        # classification members learn from pooled evidence; regression runs weigh by their own validation CCC
        learns = cfg.method in ("weighted", "stack") and fold_members[0].test.has_classes
        evidence = gather_evidence(by_fold, fold, source) if learns else None
        result, info = pool_fold(fold_members, cfg.method, int(cfg.seed), evidence, prior_rows, stack_l2)
        if evidence is not None:
            learned.append(_learned_row(fold, fold_members, info))
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
    learned_table = pd.DataFrame(learned)
    if learned:  # which evidence and which weights each fold used, side by side
        learned_table.to_csv(out / LEARNED, index=False)
    if len(by_fold) > 1:
        table = pd.DataFrame([summary])
        table.to_csv(out / "summary.csv", index=False)
        text = summary_markdown(table)
        if learned:
            text += f"\nWhat each fold learned from (evidence) and learned (`{LEARNED}`):\n\n" + markdown_table(learned_table)
        (out / "summary.md").write_text(text)
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


def _learned_row(fold: int, members: list[Member], info: dict) -> dict:
    """One row of `learned.csv`: a fold's evidence and what `weighted` / `stack` made of it."""
    ev = info["evidence"]
    row = {"fold": fold, "evidence": ev["source"], "evidence_rows": ev["rows"],
           "evidence_folds": " ".join(f"{k}:{v}" for k, v in ev["rows_by_fold"].items()),
           "excluded_test_rows": ev["excluded_test_rows"]}  # fmt: skip
    names = [_member_name(m) for m in members]
    if len(set(names)) < len(names):  # e.g. seeds of one configuration: number them
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    if "weights" in info:
        row["shrinkage"] = info["shrinkage"]
        row.update({f"weight_{n}": w for n, w in zip(names, info["weights"], strict=True)})
        row.update({f"fitted_{n}": w for n, w in zip(names, info["fitted_weights"], strict=True)})
    else:
        row.update({f"scale_{n}": w for n, w in zip(names, info["stack_member_scale"], strict=True)})
    return row


def _member_name(member: Member) -> str:
    """A short column name for a member: its model and overrides (fold aside), else its folder."""
    config = configuration_of(run_overrides(member.run_dir))
    model = str(read_metrics(member.run_dir).get("model", ""))
    return config if config != "(defaults)" else model or member.run_dir.name


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
