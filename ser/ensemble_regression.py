"""Pooling the dimensional estimates (valence, arousal, dominance) of several runs on one fold.

`ser.ensemble` reads the members and groups them by fold; runs with attributes (`task=regression`
or `multitask`) get their `pred_<attribute>` estimates pooled here, utterance by utterance:

- `mean`: the plain average of the members' estimates;
- `weighted`: per attribute, each member weighted by its CCC on the validation utterances (negative
  CCC counts as 0; when no member has a positive one, the plain average). Nothing is learnt from test.

Regression runs have no classes, so `vote` and `stack` (which pool class probabilities) are refused;
a multitask ensemble pools its classes by the chosen method and its attributes by `weighted` when
that method learns from validation (`weighted`, `stack`), else by `mean`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ser.metrics import ccc
from ser.runs import FitResult, Predictions

METHODS = ("mean", "weighted")


class HasPredictions(Protocol):
    """What a pooled member gives (`ser.ensemble.Member`)."""

    run_dir: object
    fold: int
    test: Predictions
    val: Predictions


def aligned_values(
    members: list[HasPredictions], part: str
) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """Utterance ids (sorted), reference values and each member's estimates on them; a one-line error
    when members predict different utterances, attributes or reference values."""
    first: Predictions = getattr(members[0], part)
    ids = sorted(first.utterance_id)
    estimates, reference = [], None
    for m in members:
        p: Predictions = getattr(m, part)
        if p.attributes != first.attributes:
            raise ValueError(
                f"attributes differ: {m.run_dir} has {p.attributes}, {members[0].run_dir} has {first.attributes}"
            )
        if sorted(p.utterance_id) != ids:
            raise ValueError(
                f"{part} sets differ in fold {m.fold}: {m.run_dir} and {members[0].run_dir} predict different utterances"
            )
        order = np.argsort(p.utterance_id)
        if reference is None:
            reference = p.values[order]
        elif not np.allclose(p.values[order], reference, equal_nan=True):
            raise ValueError(
                f"reference values differ in fold {m.fold} between {m.run_dir} and {members[0].run_dir}"
            )
        estimates.append(p.estimates[order])
    return ids, reference, estimates


def ccc_weights(values: np.ndarray, estimates: list[np.ndarray]) -> np.ndarray:
    """`(n_members, K)` weights: each member's validation CCC per attribute, negatives as 0, each
    column summing to 1 (equal weights where no member has a positive CCC)."""
    scores = np.array([[ccc(values[:, k], e[:, k]) for k in range(values.shape[1])] for e in estimates])
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None)
    totals = scores.sum(axis=0)
    equal = np.full_like(scores, 1.0 / len(estimates))
    return np.where(totals > 0, scores / np.where(totals > 0, totals, 1.0), equal)


def pool_values(members: list[HasPredictions], method: str) -> tuple[dict[str, Predictions], dict]:
    """Pooled validation and test estimates (`Predictions` with attributes only) and what was learnt."""
    if method not in METHODS:
        raise ValueError(
            f"method={method} pools class probabilities; regression runs have none: use method=mean or method=weighted "
            f"(weights from each run's validation CCC)"
        )
    attributes = list(members[0].test.attributes)
    test_ids, test_values, test_estimates = aligned_values(members, "test")
    has_val = all(len(m.val.utterance_id) for m in members)
    if method == "weighted" and not has_val:
        raise ValueError(
            "method=weighted learns from validation predictions, but a run has no val_predictions.csv"
        )
    val_ids, val_values, val_estimates = aligned_values(members, "val") if has_val else ([], None, [])
    info: dict = {}
    if method == "weighted":
        weights = ccc_weights(val_values, val_estimates)
        info["attribute_weights"] = {a: [float(w) for w in weights[:, k]] for k, a in enumerate(attributes)}
    else:
        weights = np.full((len(members), len(attributes)), 1.0 / len(members))

    def pooled(ids: list[str], values: np.ndarray | None, estimates: list[np.ndarray]) -> Predictions:
        if not ids:
            return Predictions([], np.zeros(0, int), np.zeros((0, 0)), attributes)
        mixed = sum(w[None, :] * e for w, e in zip(weights, estimates, strict=True))
        return Predictions(ids, np.full(len(ids), -1), np.zeros((len(ids), 0)), attributes, values, mixed)

    return {
        "val": pooled(val_ids, val_values, val_estimates),
        "test": pooled(test_ids, test_values, test_estimates),
    }, info


def pool_regression_fold(members: list[HasPredictions], method: str) -> tuple[FitResult, dict]:
    """Pool one fold of regression runs (no classes): `ser.ensemble.pool_fold` hands them here."""
    parts, info = pool_values(members, method)
    info = {"members": [str(m.run_dir) for m in members], **info}
    return FitResult(val=parts["val"], test=parts["test"]), info


def with_pooled_values(
    result: FitResult, members: list[HasPredictions], method: str, info: dict
) -> FitResult:
    """A multitask ensemble: the pooled classes of `result` with the members' pooled attributes
    (`weighted` for methods that learn from validation, else `mean`); `info` gets their weights."""
    parts, learnt = pool_values(members, "weighted" if method in ("weighted", "stack") else "mean")
    info.update(learnt)
    merged = {}
    for name in ("val", "test"):
        classes, values = getattr(result, name), parts[name]
        if len(classes.utterance_id):
            order = {u: i for i, u in enumerate(values.utterance_id)}
            rows = [order[u] for u in classes.utterance_id]
            merged[name] = Predictions(classes.utterance_id, classes.target, classes.probs, values.attributes,
                                       values.values[rows], values.estimates[rows])  # fmt: skip
        else:
            merged[name] = classes
    return FitResult(val=merged["val"], test=merged["test"], times=result.times, extra=result.extra)


def summary_line(summary: dict) -> str:
    """The figures `ensemble.py` prints for regression runs: mean CCC over folds and pooled."""
    return (f"CCC {summary['test/ccc_mean_mean']:.3f} +- {summary['test/ccc_mean_std']:.3f}, "
            f"pooled CCC {summary['pooled/ccc_mean']:.3f}")  # fmt: skip
