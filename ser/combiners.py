"""How a classification ensemble turns its members' probabilities into one: pure array functions.

Each combiner takes a list of `(n, n_classes)` probability arrays, one per member, with rows
aligned. `weighted` and `stack` are fit on validation evidence (`target` + members' probabilities)
and then applied to test probabilities; `ser.ensemble` decides which rows count as evidence. A
regression ensemble needs combiners of its own (on values, not probabilities) and belongs in a
module beside this one.

Both learned combiners shrink towards the untrained ensemble, with a pull that fades as the
evidence grows, so a fold with one validation speaker cannot pick an extreme combination:

- `weighted`: w = lam * (1/M, ..., 1/M) + (1 - lam) * w_fit, with lam = prior_rows / (prior_rows + n),
  n the evidence rows and w_fit the weights (on a 0.1 grid of the simplex) whose weighted mean of
  probabilities has the highest UA on the evidence, ties broken by log-likelihood.
- `stack`: logistic regression on the members' log-probabilities (a weight per member and class,
  a bias per class) whose L2 penalty (strength `stack_l2`, against a class-balanced log-loss
  summed over the n rows) pulls it towards the equal-weight geometric mean of the members, not
  towards zero: with little evidence it stays that mean and never collapses to one class.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize

# Log-probabilities are clipped here: one member's 0 must not veto a class for the whole ensemble.
LOG_FLOOR = np.log(1e-4)


def mean_pool(probs: list[np.ndarray]) -> np.ndarray:
    """Average of the members' probabilities."""
    return np.mean(probs, axis=0)


def vote_pool(probs: list[np.ndarray]) -> np.ndarray:
    """Vote shares per class; ties broken by a small share of the mean probability."""
    n_classes = probs[0].shape[1]
    votes = sum(np.eye(n_classes)[p.argmax(1)] for p in probs) / len(probs)
    pooled = votes + 1e-3 * np.mean(probs, axis=0)
    return pooled / pooled.sum(axis=1, keepdims=True)


def weighted_pool(probs: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted mean of the members' probabilities."""
    return sum(w * p for w, p in zip(weights, probs, strict=True))


def balanced_row_weights(target: np.ndarray) -> np.ndarray:
    """Per-row weights that give every present class the same total (mean 1): log-loss ~ UA."""
    classes, counts = np.unique(target, return_counts=True)
    per_class = dict(zip(classes, len(target) / (len(classes) * counts), strict=True))
    return np.array([per_class[t] for t in target], dtype=float)


def unweighted_accuracy(target: np.ndarray, pred: np.ndarray) -> float:
    """UA: mean recall over the classes present in `target` (as `ser.metrics` counts it)."""
    return float(np.mean([(pred[target == c] == c).mean() for c in np.unique(target)]))


def fit_weights(target: np.ndarray, probs: list[np.ndarray], step: float = 0.1) -> np.ndarray:
    """Simplex weights (grid of `step`) maximising the evidence's UA, the figure the ensemble is
    judged by; ties broken by the class-balanced log-likelihood. Equal weights without evidence."""
    n_members = len(probs)
    if len(target) == 0:
        return np.full(n_members, 1 / n_members)
    rows = balanced_row_weights(target)
    ticks = int(round(1 / step))
    best, best_score = np.full(n_members, 1 / n_members), (-1.0, -np.inf)
    for combo in itertools.product(range(ticks + 1), repeat=n_members - 1):
        if sum(combo) > ticks:
            continue
        w = np.array([*combo, ticks - sum(combo)]) / ticks
        pooled = weighted_pool(probs, w)
        log_lik = float((rows * np.log(np.clip(pooled[np.arange(len(target)), target], 1e-12, None))).mean())
        score = (round(unweighted_accuracy(target, pooled.argmax(1)), 12), log_lik)
        if score > best_score:
            best, best_score = w, score
    return best


def shrinkage(n_rows: int, prior_rows: float) -> float:
    """The pull towards equal weights: prior_rows / (prior_rows + n_rows), 1 without evidence."""
    return float(prior_rows / (prior_rows + n_rows)) if prior_rows + n_rows > 0 else 1.0


def learn_weights(
    target: np.ndarray, probs: list[np.ndarray], prior_rows: float = 100.0
) -> tuple[np.ndarray, dict]:
    """Shrunk weights for `weighted` and what went into them (fitted weights, shrinkage)."""
    fitted = fit_weights(target, probs)
    lam = shrinkage(len(target), prior_rows)
    equal = np.full(len(probs), 1 / len(probs))
    weights = lam * equal + (1 - lam) * fitted
    return weights, {"fitted_weights": [float(x) for x in fitted], "shrinkage": lam}


class Stacker:
    """Logistic regression on the members' log-probabilities, pulled towards their equal-weight
    geometric mean: logit_k = sum_m a_mk * log p_mk + b_k (a weight per member and class, a bias per
    class), penalty l2 / 2 * |(a, b) - (1/M, 0)|^2 against the class-balanced log-loss summed over
    the rows. No cross-class terms: with 7 classes they are M*K*K weights that a few hundred
    validation rows cannot pin down (on EmoDB they cost about 0.02 UA)."""

    def __init__(self, n_members: int, n_classes: int, l2: float = 10.0) -> None:
        self.n_members, self.n_classes, self.l2 = n_members, n_classes, l2
        # coefficient matrix (members' log-probabilities and a bias row -> class logits); only the
        # diagonal of each member's block and the bias row are free
        prior = np.zeros((n_members * n_classes + 1, n_classes))
        free = np.zeros(prior.shape, dtype=bool)
        for m in range(n_members):
            prior[m * n_classes : (m + 1) * n_classes] = np.eye(n_classes) / n_members
            free[m * n_classes : (m + 1) * n_classes] = np.eye(n_classes, dtype=bool)
        free[-1] = True
        self.prior, self.free = prior, free
        self.coef = prior.copy()

    def _design(self, probs: list[np.ndarray]) -> np.ndarray:
        logs = [np.maximum(np.log(np.clip(p, 1e-300, None)), LOG_FLOOR) for p in probs]
        return np.hstack([*logs, np.ones((len(probs[0]), 1))])

    def fit(self, target: np.ndarray, probs: list[np.ndarray]) -> Stacker:
        """Fit on evidence; with no rows the model stays the geometric mean."""
        if len(target) == 0:
            return self
        x, rows = self._design(probs), balanced_row_weights(target)
        # Only the classes the evidence holds are learned, and the likelihood compares only them:
        # a class no row shows keeps its prior column instead of being pushed down everywhere.
        present = np.unique(target)
        onehot = np.eye(self.n_classes)[target][:, present]
        prior, free = self.prior[:, present], self.free[:, present]

        def loss(values: np.ndarray) -> tuple[float, np.ndarray]:
            coef = prior.copy()
            coef[free] = values
            logits = x @ coef
            logits -= logits.max(axis=1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            diff = coef - prior
            nll = -float((rows * (onehot * log_p).sum(axis=1)).sum())
            grad = x.T @ (rows[:, None] * (np.exp(log_p) - onehot)) + self.l2 * diff
            return nll + 0.5 * self.l2 * float((diff**2).sum()), grad[free]

        found = minimize(loss, prior[free], jac=True, method="L-BFGS-B")
        fitted = prior.copy()
        fitted[free] = found.x
        self.coef = self.prior.copy()
        self.coef[:, present] = fitted
        return self

    def predict_proba(self, probs: list[np.ndarray]) -> np.ndarray:
        logits = self._design(probs) @ self.coef
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def member_scale(self) -> list[float]:
        """How much each member's log-probabilities drive the logits (its weights a_mk averaged over
        the classes): 1/M each at the prior; a summary of what stacking learned."""
        k = self.n_classes
        return [float(np.trace(self.coef[m * k : (m + 1) * k]) / k) for m in range(self.n_members)]
