"""`model.feature_select`: supervised column selection inside the classical pipeline.

The selector is one more step of the preprocessing pipeline (after scaling, before the estimator),
so it is fit on the training rows only, saved in `model.joblib`, and applied by re-evaluation,
`predict` and `ser.load` exactly as at training time. `model.select` grids reach it by the prefix
`feature_select__` (e.g. `{feature_select__k: [0.25, 0.5, 1.0]}`).

    method: none        # none | anova (ANOVA F) | mutual_info | l1 (|weights| of an L1 linear SVM)
    k: 0.5              # int >= 1: keep that many columns; float in (0, 1]: keep that share
    C: 0.1              # l1 only: inverse regularisation of the L1 model (smaller keeps fewer)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, f_classif, mutual_info_classif
from sklearn.svm import LinearSVC

METHODS = ("none", "anova", "mutual_info", "l1")


class FeatureSelector(SelectorMixin, BaseEstimator):
    """Keep the `k` best columns by ANOVA F, mutual information or the |weights| of an L1 linear SVM."""

    def __init__(self, method: str = "anova", k: float = 0.5, C: float = 0.1, random_state: int = 0) -> None:
        self.method = method
        self.k = k
        self.C = C
        self.random_state = random_state

    def _n_keep(self, n_cols: int) -> int:
        k = self.k
        if isinstance(k, bool) or not isinstance(k, (int, float)) or k <= 0:
            raise ValueError(
                f"model.feature_select.k={k!r}: use an integer >= 1 (columns) or a share in (0, 1]"
            )
        if isinstance(k, float) and k <= 1:
            return max(1, int(round(k * n_cols)))
        return min(int(k), n_cols)

    def fit(self, X: np.ndarray, y: np.ndarray) -> FeatureSelector:
        """Score every column on (X, y) -- training rows only -- and keep the top k."""
        if self.method not in METHODS[1:]:
            raise ValueError(
                f"model.feature_select.method={self.method!r} is unknown: use one of {', '.join(METHODS)}"
            )
        X = np.asarray(X)
        if self.method == "anova":
            scores = np.nan_to_num(f_classif(X, y)[0], nan=0.0)
        elif self.method == "mutual_info":
            scores = mutual_info_classif(X, y, random_state=self.random_state)
        else:
            # liblinear's L1 linear SVM (one-vs-rest): multiclass and fast on a few hundred rows
            svm = LinearSVC(penalty="l1", dual=False, C=self.C, class_weight="balanced", max_iter=5000)
            scores = np.abs(svm.fit(X, y).coef_).sum(axis=0)
        keep = np.argsort(-scores, kind="stable")[: self._n_keep(X.shape[1])]
        self.scores_ = scores
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[keep] = True
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.support_


def feature_select_step(node: Mapping[str, Any] | None, seed: int = 0) -> FeatureSelector | None:
    """The selector a `model.feature_select` node asks for, or None (absent, empty or method none)."""
    if not node:
        return None
    node = dict(node)
    unknown = sorted(set(node) - {"method", "k", "C"})
    if unknown:
        raise ValueError(f"model.feature_select: unknown key(s) {', '.join(unknown)}; use method, k, C")
    method = str(node.get("method", "none"))
    if method not in METHODS:
        raise ValueError(
            f"model.feature_select.method={method!r} is unknown: use one of {', '.join(METHODS)}"
        )
    if method == "none":
        return None
    return FeatureSelector(
        method=method, k=node.get("k", 0.5), C=float(node.get("C", 0.1)), random_state=seed
    )
