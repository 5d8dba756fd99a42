"""Speech emotion recognition metrics: classes (integer targets and predictions) and dimensional
attributes (CCC, Pearson, MSE, MAE).

WA is plain accuracy; UA is the mean recall over the classes present in the reference labels (a
speaker who never acted a class must not add a zero recall for it); macro-F1 averages over the same
present classes.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], stage: str = "test") -> dict:
    """Return `{stage}/wa`, `{stage}/ua`, `{stage}/macro_f1`, per-class recall and counts."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    present = np.unique(y_true)
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(len(classes)), where=support > 0)
    out = {
        f"{stage}/wa": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        f"{stage}/ua": float(recall[present].mean()) if len(present) else float("nan"),
        f"{stage}/macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        f"{stage}/n": int(len(y_true)),
    }
    for i, name in enumerate(classes):
        if support[i] > 0:
            out[f"{stage}/recall_{name}"] = float(recall[i])
        out[f"{stage}/count_{name}"] = int(support[i])
    return out



def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's concordance correlation coefficient: `2 cov / (var_true + var_pred + (mean_true - mean_pred)^2)`
    with population (1/N) moments; 1 for perfect agreement, 0 for none, NaN with fewer than two values."""
    x, y = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    denominator = x.var() + y.var() + (mx - my) ** 2
    return float(2 * cov / denominator) if denominator > 0 else float("nan")


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson's correlation; NaN when either side is constant or has fewer than two values."""
    x, y = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


REGRESSION_SCORES = ("ccc", "pearson", "mse", "mae")


def regression_metrics(values: np.ndarray, estimates: np.ndarray, attributes: list[str], stage: str = "test") -> dict:
    """`{stage}/ccc_<attr>`, `pearson_<attr>`, `mse_<attr>`, `mae_<attr>` per attribute and their
    means over the attributes (`{stage}/ccc_mean`, ...), on `(N, K)` reference values and estimates
    in the corpus's scale."""
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(attributes))
    estimates = np.asarray(estimates, dtype=np.float64).reshape(-1, len(attributes))
    out: dict = {}
    per: dict[str, list[float]] = {s: [] for s in REGRESSION_SCORES}
    for k, name in enumerate(attributes):
        x, y = values[:, k], estimates[:, k]
        scores = {
            "ccc": ccc(x, y),
            "pearson": pearson(x, y),
            "mse": float(((x - y) ** 2).mean()) if len(x) else float("nan"),
            "mae": float(np.abs(x - y).mean()) if len(x) else float("nan"),
        }
        for score, value in scores.items():
            out[f"{stage}/{score}_{name}"] = value
            per[score].append(value)
    for score, values_k in per.items():
        out[f"{stage}/{score}_mean"] = float(np.mean(values_k)) if values_k else float("nan")
    out[f"{stage}/n"] = int(len(values))
    return out
