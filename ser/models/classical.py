"""The `classical` model family: the run life cycle for scikit-learn-API estimators (scikit-learn, XGBoost).

`CLASSICAL.fit(cfg, fold, out_dir, loggers)` trains on the fold's training part, selects on its
validation part, predicts class probabilities for validation and test, and saves `model.joblib`;
`ser.train` writes the same artifacts as for a neural run from what it returns. `CLASSICAL.load`
and `CLASSICAL.predict_proba` use a finished run's model on new features.

Inputs: a fixed-length vector view (`acoustic`, `text_embedding`) gives an `(N, D)` matrix; the
`text` view gives the `(N,)` column of cleaned transcripts, and the model config's `vectorizer`
(`model=text_tfidf`: word and character TF-IDF, `ser.models.tfidf`) takes the numeric
preprocessing's place. Either way the input stage is fit on the training part only and saved in
front of the estimator, so everything below (weights, selection, saving, re-evaluation) is the same.

What the adapter adds to a bare estimator, and why:
- Preprocessing fit on the training part only, saved with the model: infinities -> NaN, NaN imputed
  with the training median, constant columns dropped (they carry nothing and break some scalers),
  standard scaling (for the text view: the vectorizer, whose vocabulary and IDF see training text only).
- Class balancing that reaches the estimator: `sample_weight=` is passed by keyword (the original
  notebooks passed it positionally to `GridSearchCV.fit`, where it landed in `groups` and was ignored).
  An estimator whose `fit` takes no weights gets a class-balanced resample of the training part.
- Validation use where the estimator supports it: XGBoost's `eval_set` (early stopping when
  `early_stopping_rounds` is set), HistGradientBoosting's `X_val`/`y_val`, and for any estimator a
  small grid (`model.select`) chosen on the validation speakers' UA.
- Internal cross-validation (stacking's out-of-fold probabilities, the SVM's probability
  calibration) split by speaker, so what is learnt from held-out folds comes from unseen speakers,
  as at test time. Stacking's out-of-fold rows stay aligned with their labels (the notebooks'
  version misaligned them).
- Optional per-speaker standardisation (`model.speaker_norm`, `ser.normalize`).
- Dimensional tasks (`task=regression`, `ser.task`): a regressor (`model=svr`, `ridge`,
  `xgboost_reg`) is fit once per attribute on the scaled training values (XGBoost early-stopped on
  the validation speakers' values, `model.select` chosen on their mean CCC), and its estimates are
  written back in the corpus's scale. A classifier with `task=regression`, a regressor without it
  and `task=multitask` (two heads: neural nets) are one-line errors.

`model.joblib` is a pickle: load it only from runs you produced yourself (trusted source), since
unpickling can run arbitrary code.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone, is_regressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GroupKFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from ser.features import FeatureSet
from ser.features.store import text_column
from ser.fold import FoldData
from ser.metrics import classification_metrics, regression_metrics
from ser.models.family import ModelFamily
from ser.models.feature_select import feature_select_step
from ser.normalize import pooled_stats, speaker_stats, standardize_by_speaker
from ser.runs import FitResult, Predictions
from ser.task import Task, task_settings

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------------
# The saved model
# ---------------------------------------------------------------------------------------------------


@dataclass
class SklearnModel:
    """A fitted pipeline (preprocessing + estimator) with what is needed to use it on new data."""

    pipeline: Pipeline
    classes: list[str]
    feature_names: list[str]
    speaker_norm: bool = False
    # per-speaker (mean, std) used at training time, so a re-evaluation reproduces the run exactly
    speaker_stats: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # (mean, std) pooled over the training speakers: for new speakers with too little audio
    pooled_stats: tuple[np.ndarray, np.ndarray] | None = None
    features: dict = field(default_factory=dict)  # the feature-view config the model was trained on
    info: dict = field(default_factory=dict)  # model name, library versions, selected parameters
    inputs: str = "vector"  # vector: (N, D) matrices | text: (N,) columns of cleaned transcripts
    task: dict = field(default_factory=dict)  # ser.task.Task.to_dict() of a regression model; {}: classification

    @property
    def fold_task(self) -> Task:
        return Task.from_dict(self.task)

    def predict_proba(
        self,
        X: np.ndarray,
        speakers: list[str] | np.ndarray | None = None,
        stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Class probabilities `(N, len(classes))` for a feature matrix of the training view (for a text
        model: the column of cleaned transcripts).

        A model trained with `speaker_norm` needs the speaker of every row: each speaker's rows are
        standardised with `stats[speaker]` when given, else with the statistics saved at training
        time for a known speaker, else with statistics computed from this speaker's rows in `X` (so
        pass all of a new speaker's utterances together; `ser.load(...).predict` handles speakers
        with little audio).
        """
        if self.fold_task.name == "regression":
            return np.zeros((len(X), 0))
        return _full_probs(self.pipeline, self._inputs(X, speakers, stats), len(self.classes))

    def predict_values(
        self,
        X: np.ndarray,
        speakers: list[str] | np.ndarray | None = None,
        stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """A regression model's estimates `(N, K)` of `fold_task.attributes`, in the corpus's scale;
        inputs as for `predict_proba`."""
        task = self.fold_task
        if not task.has_values:
            raise ValueError("this model predicts classes, not dimensional attributes (trained with task=classification)")
        return task.inverse(self.pipeline.predict(self._inputs(X, speakers, stats)))

    def _inputs(
        self, X: np.ndarray, speakers: list[str] | np.ndarray | None, stats: dict[str, tuple[np.ndarray, np.ndarray]] | None
    ) -> np.ndarray:
        """The estimator's input: text as a column, a matrix checked and standardised per speaker."""
        if self.inputs == "text":
            return text_column(X)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"expected a (N, {len(self.feature_names)}) feature matrix, got shape {X.shape}")
        if self.speaker_norm:
            if speakers is None:
                raise ValueError("this model was trained with model.speaker_norm=true: pass speakers= (one id per row)")
            speakers = np.asarray(speakers).astype(str)
            given = stats or {}
            stats = {s: given.get(s, self.speaker_stats.get(s)) for s in set(speakers) if s in given or s in self.speaker_stats}
            new = np.isin(speakers, list(set(speakers) - set(stats)))
            if new.any():
                stats.update(speaker_stats(X[new], speakers[new]))
            X = standardize_by_speaker(X, speakers, stats=stats)
        return X

    def save(self, path: str | Path) -> Path:
        """Write the model with joblib (a pickle: share it only with people who trust you)."""
        path = Path(path)
        payload = {"format": FORMAT_VERSION, **self.__dict__}
        joblib.dump(payload, path)
        return path


def load_model(run_dir: str | Path) -> SklearnModel:
    """Load `model.joblib` from a run directory (or the file itself).

    Trusted source only: joblib files are pickles, and unpickling a file someone else made can run
    arbitrary code. Load only models you or your team trained.
    """
    path = Path(run_dir)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the directory of a train.py run of a classical model")
    payload = joblib.load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a model.joblib written by ser (format {FORMAT_VERSION})")
    payload.pop("format")
    return SklearnModel(**payload)


# ---------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------


def inf_to_nan(X: np.ndarray) -> np.ndarray:
    """Replace +-inf by NaN so the imputer handles them (module level so that pipelines pickle)."""
    X = np.asarray(X, dtype=np.float64)
    return np.where(np.isfinite(X), X, np.nan)


def preprocessor() -> Pipeline:
    """Non-finite -> NaN, median imputation, constant columns dropped, standard scaling."""
    return Pipeline(
        [
            ("finite", FunctionTransformer(inf_to_nan)),
            # keep_empty_features: an all-NaN column becomes constant 0 and is dropped by the next step,
            # so every column is handled by one rule
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("drop_constant", VarianceThreshold(0.0)),
            ("scale", StandardScaler()),
        ]
    )


def input_stage(model_cfg: DictConfig | dict, inputs: str, seed: int = 0) -> Pipeline:
    """The unfitted stage in front of the estimator: `preprocessor()` for vector inputs (followed by
    the `model.feature_select` step when one is set), the model's `vectorizer` (a `_target_` node)
    for text; one-line errors when a model and a view do not fit."""
    vectorizer = model_cfg.get("vectorizer")
    name = model_cfg.get("name", "")
    if inputs == "text":
        if not vectorizer:
            raise ValueError(
                f"model={name} takes numeric features, but features=text gives transcripts: use model=text_tfidf, "
                f"or features=text_embedding for sentence-embedding vectors"
            )
        return Pipeline([("vectorize", instantiate(vectorizer, _convert_="all"))])
    if vectorizer:
        raise ValueError(f"model={name} reads transcripts (it has a vectorizer): it needs features=text")
    pre = preprocessor()
    node = model_cfg.get("feature_select")
    step = feature_select_step(
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node, seed
    )
    if step is not None:
        pre.steps.append(("feature_select", step))
    return pre


def build_estimator(model_cfg: DictConfig | dict) -> Any:
    """Instantiate `model.estimator` (a `_target_` node; lists stay lists for ensembles)."""
    node = model_cfg["estimator"]
    if node is None or "_target_" not in node:
        raise ValueError("model.estimator needs a _target_ (e.g. sklearn.svm.SVC) for model.family=classical")
    return instantiate(node, _convert_="all")


def voting(estimators: Mapping[str, Any], **params: Any) -> VotingClassifier:
    """A `VotingClassifier` from a name -> estimator mapping.

    The mapping is the config-friendly form: one member is overridden by name
    (`model.estimator.estimators.rf.n_estimators=100`) rather than by list position.
    """
    return VotingClassifier(list(estimators.items()), **params)


def stacking(estimators: Mapping[str, Any], **params: Any) -> StackingClassifier:
    """A `StackingClassifier` from a name -> estimator mapping (see `voting`)."""
    return StackingClassifier(list(estimators.items()), **params)


def fit_parameters(estimator: Any) -> set[str]:
    """Names of the keyword arguments the estimator's `fit` accepts."""
    return set(inspect.signature(estimator.fit).parameters)


def accepts_sample_weight(estimator: Any) -> bool:
    """Whether `fit` takes `sample_weight` (directly, or through `**fit_params` as in Voting/Stacking)."""
    params = inspect.signature(estimator.fit).parameters
    return "sample_weight" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def class_weights(y: np.ndarray, mode: str | None) -> np.ndarray | None:
    """Per-sample weights that give every class the same total weight (`balanced`), or None."""
    if mode in (None, "none", False):
        return None
    if mode != "balanced":
        raise ValueError(f"model.class_weight={mode!r} is unknown: use balanced or null")
    return compute_sample_weight("balanced", y)


def balanced_resample(y: np.ndarray, seed: int) -> np.ndarray:
    """Row indices that oversample every class up to the largest class's count (with replacement)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    rows = [np.flatnonzero(y == c) for c in classes]
    extra = [rng.choice(r, size=counts.max() - len(r), replace=True) for r in rows]
    return np.sort(np.concatenate(rows + extra))


def speaker_cv(estimator: Any, y: np.ndarray, speakers: np.ndarray) -> Any:
    """Give an estimator with an integer `cv` speaker-grouped folds of the training part.

    Applies to stacking (out-of-fold probabilities for the meta-model) and calibration
    (`CalibratedClassifierCV`, the SVM's probabilities): what is fit on held-out folds then comes from
    models that never saw the speaker they score, like the test probabilities it stands in for.
    """
    params = estimator.get_params(deep=False)
    if "cv" not in params or not (params["cv"] is None or isinstance(params["cv"], int)):
        return estimator
    n_speakers = len(np.unique(speakers))
    n_splits = min(int(params["cv"] or 5), n_speakers)
    if n_splits < 2:
        return estimator
    folds = list(GroupKFold(n_splits=n_splits).split(np.zeros(len(y)), y, groups=speakers))
    return estimator.set_params(cv=folds)


def _full_probs(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """`predict_proba` placed into columns 0..n_classes-1 by the estimator's own `classes_`."""
    p = model.predict_proba(X)
    out = np.zeros((len(X), n_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = p
    return out


def model_inputs(feats: FeatureSet) -> tuple[np.ndarray, str]:
    """What the estimators get, and its kind: an `(N, D)` float32 matrix (`vector`) for a
    fixed-length view, the `(N,)` column of cleaned transcripts (`text`) for the text view; a clear
    error for views of variable-size arrays."""
    if feats.is_text:
        return feats.matrix(), "text"
    if len(feats.data) and np.asarray(feats.data[0]).ndim != 1:
        raise ValueError(
            f"model.family=classical needs a fixed-length view (features=acoustic, text_embedding or text); this view "
            f"gives arrays of shape {np.asarray(feats.data[0]).shape} per utterance"
        )
    return np.asarray(feats.matrix(), dtype=np.float32), "vector"


def n_inputs_used(pipeline: Pipeline) -> int:
    """Columns the estimator sees: numeric features left after dropping constant ones, or the size of
    the vectorizer's vocabulary (every n-gram of the training transcripts)."""
    if "feature_select" in pipeline.named_steps:
        return int(pipeline.named_steps["feature_select"].get_support().sum())
    if "drop_constant" in pipeline.named_steps:
        return int(pipeline.named_steps["drop_constant"].get_support().sum())
    return len(pipeline.named_steps["vectorize"].get_feature_names_out())


# ---------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------


def fit_estimator(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    class_weight: str | None = "balanced",
    speakers: np.ndarray | None = None,
    seed: int = 0,
    pre: Pipeline | None = None,
) -> Pipeline:
    """Fit preprocessing + a clone of `estimator` on (X, y); return the fitted pipeline.

    `pre` is the unfitted input stage (`input_stage`; default: `preprocessor()` for a matrix); it is
    fit on (X, y)'s rows only. The validation part, when given, reaches estimators that can use it
    (XGBoost `eval_set`, HistGradientBoosting `X_val`), transformed by that stage.
    """
    pre = clone(pre if pre is not None else preprocessor()).fit(X, y)  # y: for a feature_select step
    Xt = pre.transform(X)
    est = clone(estimator)
    kwargs: dict[str, Any] = {}
    weights = class_weights(y, class_weight)
    if weights is not None:
        if accepts_sample_weight(est):
            kwargs["sample_weight"] = weights  # by keyword: positionally it may land in another argument
        else:
            log.info("%s.fit takes no sample_weight: balancing classes by oversampling instead", type(est).__name__)
            rows = balanced_resample(y, seed)
            Xt, y = Xt[rows], y[rows]
            speakers = None if speakers is None else np.asarray(speakers)[rows]
    if speakers is not None:
        est = speaker_cv(est, y, np.asarray(speakers))
    params = fit_parameters(est)
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    # validation weights balanced like training ones, so early stopping follows a class-balanced loss
    val_weights = class_weights(y_val, class_weight) if has_val else None
    if has_val and "eval_set" in params:  # XGBoost, LightGBM
        kwargs["eval_set"] = [(pre.transform(X_val), y_val)]
        kwargs["verbose"] = False
        if val_weights is not None and "sample_weight_eval_set" in params:
            kwargs["sample_weight_eval_set"] = [val_weights]
    elif has_val and "X_val" in params and getattr(est, "early_stopping", False) is True:  # HistGradientBoosting
        kwargs["X_val"] = pre.transform(X_val)
        kwargs["y_val"] = y_val
        if val_weights is not None:
            kwargs["sample_weight_val"] = val_weights
    est.fit(Xt, y, **kwargs)
    return Pipeline(pre.steps + [("model", est)])


def select_on_validation(
    estimator: Any,
    grid: dict[str, list],
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    loggers: list,
    **fit_kwargs: Any,
) -> tuple[Pipeline, dict, list[dict]]:  # fit_kwargs: those of fit_estimator (class_weight, pre, ...)
    """Fit every grid point on train, keep the one with the best validation UA (first on ties).

    Returns the fitted pipeline, its parameters, and one record per candidate.
    """

    def fit(params: dict) -> Pipeline:
        est, kwargs = with_params(estimator, fit_kwargs, params)
        return fit_estimator(est, X, y, X_val, y_val, **kwargs)

    def score(model: Pipeline) -> float:
        pred = _full_probs(model, X_val, n_classes).argmax(axis=1)
        return classification_metrics(y_val, pred, [str(i) for i in range(n_classes)], "val")["val/ua"]

    return _select_best(grid, len(y_val), fit, score, "ua", "UA", loggers)


def _select_best(
    grid: dict[str, list], n_val: int, fit: Callable[[dict], Pipeline], score: Callable[[Pipeline], float],
    key: str, name: str, loggers: list,
) -> tuple[Pipeline, dict, list[dict]]:  # fmt: skip
    """The grid search both selections share: `fit(params)` every grid point, `score(model)` it on
    validation (nan without validation rows), keep the best (first on ties); records and logged
    metrics are `val/<key>` and `select/val_<key>`, the log line says `val <name>`."""
    candidates = list(ParameterGrid(grid)) if grid else [{}]
    if len(candidates) > 1 and n_val == 0:
        raise ValueError("model.select needs validation data, but this split has none (split.val_speakers=0?)")
    best, best_params, best_score, records = None, {}, -np.inf, []
    for step, params in enumerate(candidates):
        model = fit(params)
        value = score(model) if n_val else float("nan")
        records.append({"params": params, f"val/{key}": value})
        if len(candidates) > 1:
            log.info("select %d/%d %s: val %s %.4f", step + 1, len(candidates), params, name, value)
            for lg in loggers:
                lg.log_metrics({f"select/val_{key}": value}, step=step)
        if best is None or value > best_score:
            best, best_params, best_score = model, params, value
    return best, best_params, records


class AttributeRegressors(BaseEstimator):
    """One fitted regressor per attribute, predicting `(N, K)` together (what SVR, which has one
    output, needs; also lets XGBoost early-stop each attribute on its own validation curve)."""

    def __init__(self, estimators: list | None = None) -> None:
        self.estimators = estimators

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> AttributeRegressors:
        """The regressors come fitted (`fit_regressors`); a pipeline's checks only need this method."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.estimators)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([est.predict(X) for est in self.estimators])

    def evals_result(self) -> dict:
        """The first attribute's validation curve (for `_log_curves`)."""
        return self.estimators[0].evals_result() if hasattr(self.estimators[0], "evals_result") else {}

    @property
    def best_iteration(self) -> int | None:
        return getattr(self.estimators[0], "best_iteration", None)


def fit_regressors(
    estimator: Any, X: np.ndarray, V: np.ndarray, X_val: np.ndarray | None, V_val: np.ndarray | None,
    pre: Pipeline | None = None,
) -> Pipeline:  # fmt: skip
    """Fit the input stage on X's rows, then one clone of `estimator` per column of the scaled values
    `V` (validation values reach estimators with an `eval_set`); return the fitted pipeline."""
    pre = clone(pre if pre is not None else preprocessor()).fit(X)
    Xt = pre.transform(X)
    has_val = X_val is not None and V_val is not None and len(V_val) > 0
    Xv = pre.transform(X_val) if has_val else None
    fitted = []
    for k in range(V.shape[1]):
        est = clone(estimator)
        kwargs: dict[str, Any] = {}
        if has_val and "eval_set" in fit_parameters(est):
            kwargs = {"eval_set": [(Xv, V_val[:, k])], "verbose": False}
        fitted.append(est.fit(Xt, V[:, k], **kwargs))
    return Pipeline(pre.steps + [("model", AttributeRegressors(fitted))])


def select_regressor_on_validation(
    estimator: Any, grid: dict[str, list], X: np.ndarray, V: np.ndarray, X_val: np.ndarray, V_val: np.ndarray,
    attributes: list[str], loggers: list, pre: Pipeline | None = None,
) -> tuple[Pipeline, dict, list[dict]]:  # fmt: skip
    """`select_on_validation` for regressors: the grid point with the best mean validation CCC."""

    def fit(params: dict) -> Pipeline:
        return fit_regressors(clone(estimator).set_params(**params), X, V, X_val, V_val, pre)

    def score(model: Pipeline) -> float:
        return regression_metrics(V_val, model.predict(X_val), attributes, "val")["val/ccc_mean"]

    return _select_best(grid, len(V_val), fit, score, "ccc_mean", "CCC", loggers)


def _fit_extras(
    curves: dict, grid: dict, selected: dict, records: list[dict], model: Pipeline, X: np.ndarray, inputs: str
) -> dict[str, Any]:
    """What metrics.json records of a classical fit: boosting curves, the grid's choice and
    candidates (when there was a grid), and how many input columns the model has and uses."""
    extra: dict[str, Any] = {f"model/{k}": v for k, v in curves.items()}
    if grid:
        extra["select/params"] = _jsonable(selected)
        extra["select/candidates"] = _jsonable(records)
    n_used = n_inputs_used(model)
    extra["model/n_features"] = int(X.shape[1]) if inputs == "vector" else n_used
    extra["model/n_features_used"] = n_used
    return extra


def check_estimator_task(estimator: Any, task: str, name: str) -> None:
    """One line when the model config's estimator and `task=` (its name) do not fit together."""
    if task == "multitask":
        raise ValueError(
            f"task=multitask trains one neural net with a class head and an attribute head; model={name} is classical: "
            f"use a neural model (model=dnn), or run task=classification and task=regression separately"
        )
    regressor = is_regressor(estimator)
    if task == "regression" and not regressor:
        raise ValueError(f"model={name} is a classifier; task=regression needs a regressor: model=svr, ridge or xgboost_reg")
    if task == "classification" and regressor:
        raise ValueError(f"model={name} is a regressor: train it with task=regression (or choose a classifier)")


PRE_PREFIX = "feature_select__"  # grid keys that set the input stage's selector, not the estimator


def with_params(estimator: Any, fit_kwargs: dict, params: dict) -> tuple[Any, dict]:
    """A clone of `estimator` with a grid point's parameters, and the fit keywords for it: those
    prefixed `feature_select__` set a clone of `fit_kwargs["pre"]` (the input stage) instead."""
    pre_params = {k: v for k, v in params.items() if k.startswith(PRE_PREFIX)}
    est_params = {k: v for k, v in params.items() if not k.startswith(PRE_PREFIX)}
    if pre_params:
        pre = fit_kwargs.get("pre")
        if pre is None or "feature_select" not in pre.named_steps:
            raise ValueError(
                f"model.select sets {', '.join(pre_params)}, but model.feature_select.method is none"
            )
        fit_kwargs = dict(fit_kwargs, pre=clone(pre).set_params(**pre_params))
    return clone(estimator).set_params(**est_params), fit_kwargs


def scoring_estimator(estimator: Any) -> Any:
    """What inner folds score: a calibrated estimator's own classifier (its grid keys are
    `estimator__...` either way). Calibration refits the classifier once per calibration fold and
    barely moves the arg-max, so scoring without it is several times cheaper for the same choice."""
    if isinstance(estimator, CalibratedClassifierCV):
        return _Uncalibrated(estimator=clone(estimator.estimator))
    return estimator


class _Uncalibrated(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier under the name `estimator`, so `estimator__C` grid keys reach it as they reach
    CalibratedClassifierCV's; `fit` passes sample weights through."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> _Uncalibrated:
        self.estimator_ = clone(self.estimator).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(X)


def inner_folds(speakers: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-speakers-out folds over these rows: `n_folds` speaker groups (0 or more than the
    speakers: one speaker per fold)."""
    n_speakers = len(np.unique(speakers))
    if n_speakers < 2:
        raise ValueError("model.select_on=inner needs at least 2 training speakers; use model.select_on=val")
    n = n_speakers if n_folds <= 0 else min(n_folds, n_speakers)
    return list(GroupKFold(n_splits=n).split(np.zeros(len(speakers)), groups=speakers))


def select_on_inner(
    estimator: Any,
    grid: dict[str, list],
    X: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    n_classes: int,
    n_folds: int,
    loggers: list,
    **fit_kwargs: Any,
) -> tuple[dict, list[dict]]:
    """Score every grid point by its mean UA over leave-speakers-out folds of (X, y) -- rows of the
    training speakers only, never test rows -- and return the best parameters (first on ties) and
    one record per candidate. The caller refits the winner."""
    candidates = list(ParameterGrid(grid)) if grid else [{}]
    folds = inner_folds(speakers, n_folds)
    names = [str(i) for i in range(n_classes)]
    best_params, best_ua, records = {}, -np.inf, []
    for step, params in enumerate(candidates):
        uas = []
        for fit_rows, held in folds:
            est, kwargs = with_params(scoring_estimator(estimator), dict(fit_kwargs, speakers=speakers[fit_rows]), params)
            model = fit_estimator(est, X[fit_rows], y[fit_rows], **kwargs)
            pred = np.asarray(model.predict(X[held]), dtype=int)
            uas.append(classification_metrics(y[held], pred, names, "inner")["inner/ua"])
        ua = float(np.mean(uas))
        records.append({"params": params, "inner/ua": ua, "inner/ua_folds": uas})
        log.info(
            "select %d/%d %s: inner UA %.4f over %d folds", step + 1, len(candidates), params, ua, len(folds)
        )
        for lg in loggers:
            lg.log_metrics({"select/inner_ua": ua}, step=step)
        if ua > best_ua:
            best_params, best_ua = params, ua
    return best_params, records


def refit_on(
    model: Pipeline, params: dict, estimator: Any, X: np.ndarray, y: np.ndarray, speakers: np.ndarray, fit_kwargs: dict
) -> Pipeline:
    """The chosen grid point fit again on (X, y): the training and validation rows together. A model
    that early-stopped on the validation speakers keeps the number of rounds it stopped at."""
    est, kwargs = with_params(estimator, dict(fit_kwargs, speakers=speakers), params)
    best_iteration = getattr(model.named_steps["model"], "best_iteration", None)
    if best_iteration is not None and "early_stopping_rounds" in est.get_params():
        est.set_params(n_estimators=int(best_iteration) + 1, early_stopping_rounds=None)
    return fit_estimator(est, X, y, **kwargs)


def _log_curves(model: Pipeline, loggers: list) -> dict:
    """Send the estimator's validation curve (XGBoost `evals_result`) to the loggers; return a summary."""
    est = model.named_steps["model"]
    summary: dict[str, Any] = {}
    if hasattr(est, "evals_result"):
        try:
            curves = est.evals_result()
        except Exception:  # noqa: BLE001 - not fitted with an eval_set: no curve to log
            curves = {}
        for metric, values in curves.get("validation_0", {}).items():
            for step, v in enumerate(values):
                for lg in loggers:
                    lg.log_metrics({f"val/{metric}": float(v)}, step=step)
        best_iteration = getattr(est, "best_iteration", None)
        if best_iteration is not None:
            summary["best_iteration"] = int(best_iteration)
    if getattr(est, "n_iter_", None) is not None and np.ndim(est.n_iter_) == 0:
        summary["n_iter"] = int(est.n_iter_)
    return summary


def _jsonable(value: Any) -> Any:
    """Plain Python values for metrics.json (numpy scalars -> float/int)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _versions() -> dict[str, str]:
    """Library versions recorded with the model (a pickle loads reliably only under the same ones)."""
    versions = {}
    for package in ("scikit-learn", "xgboost"):
        try:
            versions[package.replace("scikit-learn", "sklearn")] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


class ClassicalFamily(ModelFamily):
    """`model.family: classical`: scikit-learn-API estimators (`model.estimator`) behind one adapter."""

    name = "classical"

    def fit(self, cfg: DictConfig, data: FoldData, out_dir: str | Path, loggers: list) -> FitResult:
        """Train on `data.split.train`, select on `.val`, predict `.val` and `.test`; save `model.joblib`.

        `data` needs a fixed-length feature view (`features=acoustic`, `text_embedding`) or, for a model
        with a `vectorizer`, the text view (`features=text`). Returns the validation and test
        probabilities for `ser.runs.write_run`; `loggers` (Lightning loggers) receive validation metrics,
        selection candidates and boosting curves.
        """
        model_cfg = cfg.model
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        seed = int(cfg.get("seed", 0))
        split, manifest = data.split, data.manifest
        n_classes = len(data.classes)

        X, inputs = model_inputs(data.features)
        pre = input_stage(model_cfg, inputs, seed=int(cfg.get("seed", 0)))
        y = manifest["target"].to_numpy(dtype=int)
        speakers = manifest["speaker"].astype(str).to_numpy()
        speaker_norm = bool(model_cfg.get("speaker_norm", False))
        if speaker_norm and inputs == "text":
            raise ValueError(f"model.speaker_norm=true standardises numeric features; model={model_cfg.get('name')} "
                             f"reads transcripts: set model.speaker_norm=false")  # fmt: skip
        stats = speaker_stats(X, speakers) if speaker_norm else {}  # each speaker's own audio, never a label
        if speaker_norm:
            X = standardize_by_speaker(X, speakers, stats=stats)
        tr, va, te = split.train, split.val, split.test

        estimator = build_estimator(model_cfg)
        check_estimator_task(estimator, data.task.name, str(model_cfg.get("name", "")))
        select = model_cfg.get("select")
        grid = OmegaConf.to_container(select, resolve=True) if select else {}
        refit = str(model_cfg.get("refit", "train"))
        if refit not in ("train", "train_val"):
            raise ValueError(f"model.refit={refit!r} is unknown: use train or train_val")
        select_on = str(model_cfg.get("select_on", "val"))
        if select_on not in ("val", "inner"):
            raise ValueError(
                f"model.select_on={select_on!r} is unknown: use val (the validation speakers) or inner"
            )
        n_jobs = int(cfg.get("jobs", -1) or -1)
        ids = manifest["utterance_id"].astype(str).to_numpy()
        # OpenMP/BLAS pools (HistGradientBoosting, XGBoost, numpy) otherwise take every core, whatever
        # `jobs` says; on a shared machine their idle spinning slows a fit down many times
        if data.task.name == "regression":
            with threadpool_limits(limits=n_jobs if n_jobs > 0 else None):
                return self._fit_regression(cfg, data, out, loggers, estimator, grid, X, inputs, pre, speaker_norm,
                                            stats, speakers, ids)  # fmt: skip
        with threadpool_limits(limits=n_jobs if n_jobs > 0 else None):
            started = time.perf_counter()
            fit_kwargs = dict(class_weight=model_cfg.get("class_weight", "balanced"), seed=seed, pre=pre)
            if select_on == "inner" and grid:
                # candidates scored on speaker folds of train + validation rows; the winner is then
                # fit on the training part, so validation predictions come from a model that never saw them
                rows = np.concatenate([tr, va])
                selected, records = select_on_inner(
                    estimator, grid, X[rows], y[rows], speakers[rows], n_classes,
                    int(model_cfg.get("inner_folds", 0) or 0), loggers, **fit_kwargs,
                )  # fmt: skip
                model, _, _ = select_on_validation(
                    estimator,
                    {k: [v] for k, v in selected.items()},
                    X[tr],
                    y[tr],
                    X[va],
                    y[va],
                    n_classes,
                    [],
                    speakers=speakers[tr],
                    **fit_kwargs,
                )
            else:
                model, selected, records = select_on_validation(
                    estimator,
                    grid,
                    X[tr],
                    y[tr],
                    X[va],
                    y[va],
                    n_classes,
                    loggers,
                    speakers=speakers[tr],
                    **fit_kwargs,
                )
            val_probs = _full_probs(model, X[va], n_classes) if len(va) else np.zeros((0, n_classes))
            curves = _log_curves(model, loggers)
            if refit == "train_val" and len(va):
                # validation predictions above come from the model fit on the training part alone; the
                # model kept (and its test predictions) is the chosen one refit on train + validation
                model = refit_on(model, selected, estimator, X[np.concatenate([tr, va])],
                                 y[np.concatenate([tr, va])], speakers[np.concatenate([tr, va])], fit_kwargs)  # fmt: skip
            fitted = time.perf_counter() - started
            started = time.perf_counter()
            val = Predictions(list(ids[va]), y[va], val_probs)
            test = Predictions(list(ids[te]), y[te], _full_probs(model, X[te], n_classes))
            predicted = time.perf_counter() - started

        extra = _fit_extras(curves, grid, selected, records, model, X, inputs)
        extra["model/refit"] = refit
        n_used = extra["model/n_features_used"]
        if len(va):
            val_metrics = classification_metrics(y[va], val.pred, data.classes, "val")
            for lg in loggers:
                lg.log_metrics({k: val_metrics[k] for k in ("val/wa", "val/ua", "val/macro_f1")})

        SklearnModel(
            pipeline=model,
            classes=list(data.classes),
            feature_names=list(getattr(data.features, "names", []) or [f"f{i}" for i in range(X.shape[1])]),
            inputs=inputs,
            speaker_norm=speaker_norm,
            speaker_stats=stats,
            pooled_stats=pooled_stats(stats, speakers[tr]) if speaker_norm else None,
            features=OmegaConf.to_container(cfg.features, resolve=True) if "features" in cfg else {},
            info=_jsonable({"model": str(model_cfg.get("name", "")), "selected": selected, **_versions()}),
        ).save(out / MODEL_FILE)
        log.info("%s: fit %.1fs on %d utterances, %d %s (%d used)", model_cfg.get("name"), fitted, len(tr),
                 extra["model/n_features"], "n-grams" if inputs == "text" else "features", n_used)  # fmt: skip
        return FitResult(val=val, test=test, times={"fit": fitted, "predict": predicted}, extra=extra)

    def check(self, cfg: DictConfig) -> None:
        """Before any data is read: the estimator must be a regressor exactly when `task=regression`."""
        check_estimator_task(build_estimator(cfg.model), task_settings(cfg).name, str(cfg.model.get("name", "")))

    def _fit_regression(
        self, cfg: DictConfig, data: FoldData, out: Path, loggers: list, estimator: Any, grid: dict, X: np.ndarray,
        inputs: str, pre: Pipeline, speaker_norm: bool, stats: dict, speakers: np.ndarray, ids: np.ndarray,
    ) -> FitResult:  # fmt: skip
        """`fit` for `task=regression`: one regressor per attribute on the scaled training values."""
        task, split = data.task, data.split
        tr, va, te = split.train, split.val, split.test
        attributes = list(task.attributes)
        V = task.transform(data.values())
        started = time.perf_counter()
        model, selected, records = select_regressor_on_validation(
            estimator, grid, X[tr], V[tr], X[va], V[va], attributes, loggers, pre=pre
        )
        fitted = time.perf_counter() - started
        started = time.perf_counter()

        def part(rows: np.ndarray) -> Predictions:
            estimates = task.inverse(model.predict(X[rows])) if len(rows) else np.zeros((0, len(attributes)))
            return Predictions(list(ids[rows]), np.full(len(rows), -1), np.zeros((len(rows), 0)), attributes,
                               data.values(rows), estimates)  # fmt: skip

        val, test = part(va), part(te)
        predicted = time.perf_counter() - started
        extra = _fit_extras(_log_curves(model, loggers), grid, selected, records, model, X, inputs)
        if len(va):
            val_metrics = regression_metrics(val.values, val.estimates, attributes, "val")
            for lg in loggers:
                lg.log_metrics({k: v for k, v in val_metrics.items() if k.startswith("val/ccc_")})
        model_cfg = cfg.model
        SklearnModel(
            pipeline=model,
            classes=[],
            feature_names=list(getattr(data.features, "names", []) or [f"f{i}" for i in range(X.shape[1])]),
            inputs=inputs,
            speaker_norm=speaker_norm,
            speaker_stats=stats,
            pooled_stats=pooled_stats(stats, speakers[tr]) if speaker_norm else None,
            features=OmegaConf.to_container(cfg.features, resolve=True) if "features" in cfg else {},
            info=_jsonable({"model": str(model_cfg.get("name", "")), "selected": selected, **_versions()}),
            task=task.to_dict(),
        ).save(out / MODEL_FILE)
        log.info("%s: fit %.1fs on %d utterances, %d attributes", model_cfg.get("name"), fitted, len(tr), len(attributes))
        return FitResult(val=val, test=test, times={"fit": fitted, "predict": predicted}, extra=extra)

    def load(self, run_dir: str | Path) -> SklearnModel:
        """`model.joblib` of a run: trusted runs only (a pickle)."""
        return load_model(run_dir)

    def predict_values(
        self, model: SklearnModel, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        speakers = manifest["speaker"].astype(str).to_numpy() if model.speaker_norm else None
        return model.predict_values(model_inputs(features)[0], speakers, speaker_stats)

    def task(self, model: SklearnModel) -> Task:
        return model.fold_task

    def predict_proba(
        self, model: SklearnModel, manifest: pd.DataFrame, features: FeatureSet, speaker_stats: dict | None = None
    ) -> np.ndarray:
        speakers = manifest["speaker"].astype(str).to_numpy() if model.speaker_norm else None
        return model.predict_proba(model_inputs(features)[0], speakers, speaker_stats)

    def speaker_fallback(self, model: SklearnModel) -> tuple[np.ndarray, np.ndarray] | None:
        return model.pooled_stats if model.speaker_norm else None


CLASSICAL = ClassicalFamily()
