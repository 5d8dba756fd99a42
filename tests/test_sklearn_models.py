"""Classical models (`model.family=sklearn`): life cycle, saved models, bad columns, class balancing,
stacking alignment, per-speaker normalisation, and full `train(cfg)` runs on the demo corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from ser.features import FeatureSet
from ser.fold import FoldData
from ser.models.classical import CLASSICAL, balanced_resample, fit_estimator, load_model, speaker_cv
from ser.normalize import speaker_stats, standardize_by_speaker
from ser.splits import make_split

CONF = Path(__file__).resolve().parents[1] / "conf"
CONFIGS = ["svm", "logreg", "rf", "gbm", "xgboost", "mlp", "ml_ensemble", "stacking"]
CLASSES = ["neu", "hap", "sad", "ang"]

# Smaller estimators so every config fits in about a second on a busy CPU; the configs stay as shipped.
SMALL = {
    "rf": ["model.estimator.n_estimators=30"],
    "gbm": ["model.estimator.max_iter=30"],
    "xgboost": ["model.estimator.n_estimators=60", "model.estimator.early_stopping_rounds=10"],
    "mlp": ["model.estimator.hidden_layer_sizes=[32]", "model.estimator.max_iter=100"],
    "ml_ensemble": [
        "model.estimator.estimators.gbm.max_iter=20",
        "model.estimator.estimators.rf.n_estimators=20",
        "model.estimator.estimators.xgboost.n_estimators=20",
    ],
    "stacking": [
        "model.estimator.cv=3",
        "model.estimator.estimators.rf.n_estimators=20",
        "model.estimator.estimators.xgboost.n_estimators=20",
    ],
}


def synthetic_fold(
    n_speakers: int = 6,
    per_speaker: int = 40,
    n_features: int = 20,
    signal: float = 2.0,
    speaker_offset: float = 0.3,
    seed: int = 0,
    fold: int = 1,
) -> FoldData:
    """Speakers with an offset of their own; the first features carry the class; some columns are bad."""
    rng = np.random.default_rng(seed)
    rows, X = [], []
    for s in range(n_speakers):
        offset = rng.normal(scale=speaker_offset, size=n_features)  # speaker identity, as pitch level would be
        for i in range(per_speaker):
            target = i % len(CLASSES)
            x = rng.normal(size=n_features) + offset
            x[: len(CLASSES)] += signal * np.eye(len(CLASSES))[target]
            rows.append(dict(utterance_id=f"s{s}_u{i:03d}", speaker=f"S{s}", group=f"S{s}", target=target))
            X.append(x)
    manifest = pd.DataFrame(rows)
    manifest["class_name"] = manifest["target"].map(dict(enumerate(CLASSES)))
    X = np.asarray(X, dtype=np.float32)
    X[:, -1] = 7.0  # constant
    X[:, -2] = np.nan  # never measured
    X[::4, -3] = np.nan  # sometimes missing (e.g. pitch of an unvoiced utterance)
    X[1::9, -4] = np.inf
    split = make_split(manifest, "loso", fold, seed=0)
    names = [f"x{i}" for i in range(n_features)]
    return FoldData(manifest, list(CLASSES), split, FeatureSet("acoustic", list(manifest["utterance_id"]), list(X), names))


def model_config(name: str, *overrides: str):
    """The shipped `conf/model/<name>.yaml` with the keys it interpolates, shrunk by SMALL."""
    shipped = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    cfg = OmegaConf.merge(
        {"seed": 0, "jobs": 1, "features": {"view": "acoustic"}},
        {"model": shipped.model},
        OmegaConf.from_dotlist(SMALL.get(name, []) + list(overrides)),
    )
    return cfg


class RecordingLogger:
    """Collects what is logged, like the CSV logger would."""

    def __init__(self) -> None:
        self.metrics: list[dict] = []

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        self.metrics.append(dict(metrics))


@pytest.fixture(scope="module")
def fold() -> FoldData:
    return synthetic_fold()


# ------------------------------------------------------------------ life cycle, save and load


@pytest.mark.parametrize("name", CONFIGS)
def test_config_fits_predicts_and_reloads_identically(name: str, fold: FoldData, tmp_path: Path) -> None:
    lg = RecordingLogger()
    result = CLASSICAL.fit(model_config(name), fold, tmp_path, [lg])

    assert result.test.utterance_id == list(fold.manifest["utterance_id"].iloc[fold.split.test])
    assert result.val.probs.shape == (len(fold.split.val), len(CLASSES))
    np.testing.assert_allclose(result.test.probs.sum(axis=1), 1.0, atol=1e-6)
    assert (result.test.pred == result.test.target).mean() > 0.5  # chance is 0.25
    assert any("val/ua" in m for m in lg.metrics)

    model = load_model(tmp_path)
    X = fold.features.matrix()[fold.split.test]
    speakers = fold.manifest["speaker"].to_numpy()[fold.split.test] if model.speaker_norm else None
    np.testing.assert_array_equal(model.predict_proba(X, speakers=speakers), result.test.probs)
    assert model.classes == CLASSES and len(model.feature_names) == X.shape[1]


def test_load_model_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.joblib"):
        load_model(tmp_path)


# ------------------------------------------------------------------ bad columns


def test_nan_inf_and_constant_columns_are_handled(fold: FoldData, tmp_path: Path) -> None:
    result = CLASSICAL.fit(model_config("logreg"), fold, tmp_path, [])
    # the constant and the all-NaN column are dropped; partly-NaN and inf-holding columns are imputed and kept
    assert result.extra["model/n_features"] == 20
    assert result.extra["model/n_features_used"] == 18
    assert np.isfinite(result.test.probs).all()
    X = fold.features.matrix()[fold.split.test].copy()
    X[:, 0] = np.nan  # a column that was complete in training goes missing at test time
    assert np.isfinite(load_model(tmp_path).predict_proba(X)).all()


# ------------------------------------------------------------------ class balancing


def imbalanced(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two overlapping classes, 9:1 in training and balanced in the evaluation set."""
    rng = np.random.default_rng(seed)

    def draw(n0: int, n1: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        return rng.normal(size=(len(y), 5)) + 0.8 * y[:, None], y

    X, y = draw(450, 50)
    X_eval, y_eval = draw(200, 200)
    return X, y, X_eval, y_eval


@pytest.mark.parametrize("name", ["logreg", "svm", "xgboost", "gbm", "ml_ensemble"])
def test_class_weights_reach_the_estimator(name: str) -> None:
    """Balanced weights must raise the minority class's recall: fails if the weights are dropped."""
    from ser.models.classical import build_estimator

    X, y, X_eval, y_eval = imbalanced()
    est = build_estimator(model_config(name).model)
    if name in ("xgboost", "gbm"):  # no validation data here: turn their early stopping off
        est.set_params(**({"early_stopping_rounds": None} if name == "xgboost" else {"early_stopping": False}))
    recall = {}
    for mode in ("balanced", None):
        with threadpool_limits(1):  # as fit() does with `jobs`: idle OpenMP threads are slow on busy CPUs
            model = fit_estimator(est, X, y, class_weight=mode)
        recall[mode] = (model.predict_proba(X_eval).argmax(axis=1)[y_eval == 1] == 1).mean()
    assert recall["balanced"] > recall[None] + 0.2, recall


class WeightSpy(ClassifierMixin, BaseEstimator):
    """Records the sample weights its `fit` receives."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.seen_weight_ = sample_weight
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_weights_arrive_by_keyword_also_inside_a_vote() -> None:
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    X = np.random.default_rng(0).normal(size=(40, 3))
    direct = fit_estimator(WeightSpy(), X, y).named_steps["model"]
    vote = fit_estimator(VotingClassifier([("spy", WeightSpy())], voting="soft"), X, y).named_steps["model"]
    for spy in (direct, vote.estimators_[0]):
        w = spy.seen_weight_
        assert w is not None and np.isclose(w[y == 0].sum(), w[y == 1].sum())


def test_estimator_without_weights_gets_a_balanced_resample() -> None:
    y = np.r_[np.zeros(30, int), np.ones(5, int), np.full(10, 2)]
    rows = balanced_resample(y, seed=0)
    assert np.bincount(y[rows]).tolist() == [30, 30, 30]
    X, y2, X_eval, y_eval = imbalanced()
    model = fit_estimator(KNeighborsClassifier(15), X, y2, class_weight="balanced")
    plain = fit_estimator(KNeighborsClassifier(15), X, y2, class_weight=None)
    minority = y_eval == 1
    assert (model.predict(X_eval)[minority] == 1).mean() > (plain.predict(X_eval)[minority] == 1).mean() + 0.2


# ------------------------------------------------------------------ stacking


def test_stacking_out_of_fold_rows_stay_aligned_and_split_by_speaker() -> None:
    """With a clean signal, a meta-model on aligned out-of-fold probabilities is near perfect;
    misaligned rows (the notebooks' bug) would leave it near chance."""
    fold = synthetic_fold(signal=6.0)
    X, y = fold.features.matrix(), fold.manifest["target"].to_numpy()
    speakers = fold.manifest["speaker"].to_numpy()
    tr, te = fold.split.train, fold.split.test
    stack = StackingClassifier([("lr", LogisticRegression(max_iter=500))], final_estimator=LogisticRegression(), cv=4)
    model = fit_estimator(stack, X[tr], y[tr], speakers=speakers[tr])
    assert (model.predict_proba(X[te]).argmax(axis=1) == y[te]).mean() > 0.95

    folds = speaker_cv(stack, y[tr], speakers[tr]).get_params()["cv"]
    assert len(folds) == 4
    for inner_train, inner_test in folds:
        assert not set(speakers[tr][inner_train]) & set(speakers[tr][inner_test])


# ------------------------------------------------------------------ model selection on validation


def test_grid_is_chosen_on_validation_ua(fold: FoldData, tmp_path: Path) -> None:
    lg = RecordingLogger()
    # strong L1 zeroes every coefficient (uniform probabilities, UA 0.25); the L2 candidate must win
    cfg = model_config("logreg", "model.select={l1_ratio: [1.0, 0.0], C: [0.001], solver: [saga]}")
    result = CLASSICAL.fit(cfg, fold, tmp_path, [lg])
    assert result.extra["select/params"] == {"C": 0.001, "l1_ratio": 0.0, "solver": "saga"}
    assert [r["val/ua"] for r in result.extra["select/candidates"]][0] == pytest.approx(0.25)
    assert sum("select/val_ua" in m for m in lg.metrics) == 2


def test_xgboost_early_stops_on_validation(fold: FoldData, tmp_path: Path) -> None:
    cfg = model_config("xgboost", "model.estimator.n_estimators=400", "model.estimator.early_stopping_rounds=5")
    lg = RecordingLogger()
    result = CLASSICAL.fit(cfg, fold, tmp_path, [lg])
    assert result.extra["model/best_iteration"] < 399
    assert any("val/mlogloss" in m for m in lg.metrics)


# ------------------------------------------------------------------ per-speaker normalisation


def test_standardize_by_speaker_matrix_and_sequences() -> None:
    rng = np.random.default_rng(0)
    speakers = np.array(["a"] * 10 + ["b"] * 10)
    X = rng.normal(size=(20, 3)) + np.where(speakers == "a", 5.0, -5.0)[:, None]
    X[:, 2] = np.where(speakers == "a", 1.0, 2.0)  # constant within each speaker
    X[3, 1] = np.nan
    Z = standardize_by_speaker(X.astype(np.float32), speakers)
    for s in ("a", "b"):
        np.testing.assert_allclose(np.nanmean(Z[speakers == s], axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.nanstd(Z[speakers == s, :2], axis=0), 1.0, atol=1e-5)
    assert np.isnan(Z[3, 1]) and np.isfinite(np.delete(Z, 3, axis=0)).all()

    # log-mel-like (F, T) arrays: statistics per feature row, pooled over frames and utterances
    seqs = [rng.normal(loc=10.0 if s == "a" else -3.0, size=(4, int(rng.integers(5, 9)))) for s in speakers]
    out = standardize_by_speaker(seqs, speakers, feature_axis=0)
    assert [o.shape for o in out] == [s.shape for s in seqs]
    pooled_a = np.concatenate([o for o, s in zip(out, speakers, strict=True) if s == "a"], axis=1)
    np.testing.assert_allclose(pooled_a.mean(axis=1), 0.0, atol=1e-5)
    assert set(speaker_stats(seqs, speakers, feature_axis=0)) == {"a", "b"}


def test_speaker_norm_helps_when_speakers_differ_and_needs_speakers_at_predict(tmp_path: Path) -> None:
    fold = synthetic_fold(signal=1.5, speaker_offset=3.0, seed=3)
    plain = CLASSICAL.fit(model_config("logreg"), fold, tmp_path / "plain", [])
    normed = CLASSICAL.fit(model_config("logreg", "model.speaker_norm=true"), fold, tmp_path / "norm", [])
    acc = {k: (r.test.pred == r.test.target).mean() for k, r in {"plain": plain, "norm": normed}.items()}
    assert acc["norm"] > acc["plain"], acc
    model = load_model(tmp_path / "norm")
    X = fold.features.matrix()[fold.split.test]
    with pytest.raises(ValueError, match="speakers="):
        model.predict_proba(X)
    speakers = fold.manifest["speaker"].to_numpy()[fold.split.test]
    np.testing.assert_array_equal(model.predict_proba(X, speakers), normed.test.probs)
    # a speaker the model never met is standardised with the statistics of the rows given for them
    np.testing.assert_allclose(model.predict_proba(X, ["someone new"] * len(X)), normed.test.probs, atol=1e-5)


# ------------------------------------------------------------------ full runs on the demo corpus


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`SER_CACHE` when set (shares the generated demo and its features across test runs), else a temp dir."""
    if os.environ.get("SER_CACHE"):
        return Path(os.environ["SER_CACHE"])
    return tmp_path_factory.mktemp("ser_cache")


@pytest.mark.parametrize("name", CONFIGS)
def test_train_on_demo_writes_the_run_artifacts(compose_config, name: str, demo_cache: Path, tmp_path: Path) -> None:
    from ser.train import train

    cfg = compose_config(
        [
            f"model={name}",
            "corpus.utterances_per_speaker=12",
            f"paths.cache_dir={demo_cache}",
            "jobs=1",
            *SMALL.get(name, []),
        ],
        out_dir=tmp_path,
    )
    assert cfg.features.view == "acoustic"  # the model config picks its view
    metrics = train(cfg)
    for artifact in ("predictions.csv", "val_predictions.csv", "metrics.json", "confusion_matrix.png", "model.joblib"):
        assert (tmp_path / artifact).is_file(), artifact
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["model"] == name and 0.0 <= saved["test/ua"] <= 1.0 and "val/ua" in saved
    assert metrics["test/wa"] == saved["test/wa"]
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert [c for c in predictions.columns if c.startswith("prob_")] == [f"prob_{c}" for c in cfg.labels.classes]
    assert (tmp_path / "csv" / "metrics.csv").is_file()


# ------------------------------------------------------------------ feature selection, inner-fold selection


@pytest.mark.parametrize("method", ["anova", "mutual_info", "l1"])
def test_feature_select_keeps_the_informative_columns_fit_on_training_rows(
    method: str, tmp_path: Path
) -> None:
    fold = synthetic_fold(n_features=40)
    cfg = model_config("logreg", f"model.feature_select.method={method}", "model.feature_select.k=4")
    result = CLASSICAL.fit(cfg, fold, tmp_path, [])
    assert result.extra["model/n_features_used"] == 4
    model = load_model(tmp_path)
    selector = model.pipeline.named_steps["feature_select"]
    usable = np.asarray(fold.features.names)[model.pipeline.named_steps["drop_constant"].get_support()]
    kept = usable[selector.get_support()]
    # the columns that carry the class (mutual information, a k-NN estimate on 160 rows, may swap one)
    assert len({"x0", "x1", "x2", "x3"} & set(kept)) >= (3 if method == "mutual_info" else 4)
    assert selector.n_features_in_ == 38  # after the constant and the all-NaN column are dropped
    # the saved pipeline applies the same selection to new rows
    X = np.asarray(fold.features.matrix(), dtype=np.float32)
    np.testing.assert_allclose(model.predict_proba(X[fold.split.test]), result.test.probs, atol=1e-9)


def test_feature_select_never_sees_test_rows(tmp_path: Path) -> None:
    """Scramble the test rows' features: the selection (fit on training rows) must not change."""
    fold = synthetic_fold(n_features=40)
    cfg = model_config("logreg", "model.feature_select.method=anova", "model.feature_select.k=0.25")
    CLASSICAL.fit(cfg, fold, tmp_path / "a", [])
    X = np.asarray(fold.features.matrix(), dtype=np.float32).copy()
    X[fold.split.test] = np.random.default_rng(5).normal(size=(len(fold.split.test), X.shape[1])) * 100
    changed = FoldData(
        fold.manifest,
        fold.classes,
        fold.split,
        FeatureSet("acoustic", fold.features.ids, list(X), fold.features.names),
    )
    CLASSICAL.fit(cfg, changed, tmp_path / "b", [])
    masks = [load_model(tmp_path / d).pipeline.named_steps["feature_select"].get_support() for d in "ab"]
    assert masks[0].sum() == 10 and (masks[0] == masks[1]).all()  # 25 % of 38 usable columns, rounded


def test_inner_selection_scores_speaker_folds_and_refits_on_train(fold: FoldData, tmp_path: Path) -> None:
    lg = RecordingLogger()
    cfg = model_config(
        "logreg",
        "model.select={l1_ratio: [1.0, 0.0], C: [0.001], solver: [saga]}",
        "model.select_on=inner",
        "model.inner_folds=3",
    )
    result = CLASSICAL.fit(cfg, fold, tmp_path, [lg])
    assert result.extra["select/params"] == {"C": 0.001, "l1_ratio": 0.0, "solver": "saga"}
    first, second = result.extra["select/candidates"]
    assert len(first["inner/ua_folds"]) == 3 and first["inner/ua"] == pytest.approx(0.25)
    assert second["inner/ua"] > 0.5
    assert sum("select/inner_ua" in m for m in lg.metrics) == 2
    # the winner is refit on the training speakers only: same model as fitting that point directly
    point = ["model.estimator.C=0.001", "model.estimator.l1_ratio=0.0", "model.estimator.solver=saga"]
    direct = CLASSICAL.fit(model_config("logreg", *point), fold, tmp_path / "direct", [])
    np.testing.assert_allclose(result.test.probs, direct.test.probs, atol=1e-9)


def test_inner_selection_never_sees_test_rows(fold: FoldData, tmp_path: Path) -> None:
    cfg = model_config("logreg", "model.select={C: [0.001, 0.01, 1.0]}", "model.select_on=inner")
    base = CLASSICAL.fit(cfg, fold, tmp_path / "a", [])
    X = np.asarray(fold.features.matrix(), dtype=np.float32).copy()
    X[fold.split.test] = np.random.default_rng(5).normal(size=(len(fold.split.test), X.shape[1])) * 100
    changed = FoldData(
        fold.manifest,
        fold.classes,
        fold.split,
        FeatureSet("acoustic", fold.features.ids, list(X), fold.features.names),
    )
    again = CLASSICAL.fit(cfg, changed, tmp_path / "b", [])
    assert base.extra["select/candidates"] == again.extra["select/candidates"]
    n_train_speakers = fold.manifest.iloc[np.concatenate([fold.split.train, fold.split.val])][
        "speaker"
    ].nunique()
    assert len(base.extra["select/candidates"][0]["inner/ua_folds"]) == n_train_speakers  # inner_folds=0


def test_grid_reaches_the_feature_selector(fold: FoldData, tmp_path: Path) -> None:
    cfg = model_config(
        "logreg",
        "model.feature_select.method=anova",
        "model.select={feature_select__k: [1, 4]}",
        "model.select_on=inner",
    )
    result = CLASSICAL.fit(cfg, fold, tmp_path, [])
    assert result.extra["select/params"] == {"feature_select__k": 4}  # one column cannot tell four classes
    assert result.extra["model/n_features_used"] == 4


def test_selection_settings_errors_are_one_line(fold: FoldData, tmp_path: Path) -> None:
    cases = [
        (["model.select_on=test"], "model.select_on='test' is unknown"),
        (["model.feature_select.method=chi"], "model.feature_select.method='chi' is unknown"),
        (["model.feature_select.method=anova", "model.feature_select.k=0"], "model.feature_select.k=0"),
        (["model.select={feature_select__k: [1, 2]}"], "model.feature_select.method is none"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
            CLASSICAL.fit(model_config("logreg", *overrides), fold, tmp_path, [])


def test_refit_on_train_val_keeps_validation_predictions_out_of_sample(fold: FoldData, tmp_path: Path) -> None:
    plain = CLASSICAL.fit(model_config("logreg"), fold, tmp_path / "train", [])
    refit = CLASSICAL.fit(model_config("logreg", "model.refit=train_val"), fold, tmp_path / "both", [])
    # validation rows are scored by the model that never trained on them ...
    np.testing.assert_allclose(refit.val.probs, plain.val.probs, atol=1e-12)
    # ... and the saved model, which scores the test rows, is fit on training + validation rows
    rows = np.concatenate([fold.split.train, fold.split.val])
    X, y = np.asarray(fold.features.matrix(), dtype=np.float32), fold.manifest["target"].to_numpy()
    direct = fit_estimator(LogisticRegression(C=0.1, max_iter=2000, random_state=0), X[rows], y[rows])
    np.testing.assert_allclose(refit.test.probs, direct.predict_proba(X[fold.split.test]), atol=1e-6)
    assert not np.allclose(refit.test.probs, plain.test.probs)
    np.testing.assert_allclose(load_model(tmp_path / "both").predict_proba(X[fold.split.test]), refit.test.probs)


def test_refit_keeps_the_early_stopped_rounds(fold: FoldData, tmp_path: Path) -> None:
    cfg = model_config(
        "xgboost", "model.estimator.n_estimators=400", "model.estimator.early_stopping_rounds=5", "model.refit=train_val"
    )
    result = CLASSICAL.fit(cfg, fold, tmp_path, [])
    booster = load_model(tmp_path).pipeline.named_steps["model"]
    assert booster.get_params()["n_estimators"] == result.extra["model/best_iteration"] + 1 < 400


def test_inner_selection_of_the_calibrated_svm_scores_its_classifier(fold: FoldData, tmp_path: Path) -> None:
    grid = "model.select={estimator__gamma: [1000.0, 0.05], feature_select__k: [1.0]}"  # (the shipped grid has k)
    result = CLASSICAL.fit(model_config("svm", grid, "model.select_on=inner", "model.inner_folds=3"), fold, tmp_path, [])
    assert result.extra["select/params"] == {"estimator__gamma": 0.05, "feature_select__k": 1.0}
    low, high = (r["inner/ua"] for r in result.extra["select/candidates"])
    assert low < 0.5 < high  # so narrow a kernel only remembers the training rows
    assert load_model(tmp_path).pipeline.named_steps["model"].estimator.gamma == 0.05  # the kept model is calibrated
