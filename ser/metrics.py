"""Speech emotion recognition metrics on integer targets and predictions.

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

