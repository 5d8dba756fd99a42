"""Ensembles pool aligned predictions only, learn only from validation, and refuse mismatches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser import combiners
from ser.cv import cv_summary
from ser.ensemble import gather_evidence, group_by_fold, learn_weights, load_member, pool_fold, run_ensemble
from ser.runs import FitResult, Predictions, find_runs, read_predictions, write_run

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["neu", "hap", "sad", "ang"]


def fake_run(path: Path, seed: int, fold: int = 1, ids: list[str] | None = None, classes: list[str] = CLASSES) -> Path:
    """Write a run directory with random (but seeded) probabilities on a fixed labelled set."""
    rng = np.random.default_rng(seed)
    ids = ids or [f"u{i:02d}" for i in range(24)]
    target = np.arange(len(ids)) % len(classes)
    def probs(n: int) -> np.ndarray:
        p = rng.dirichlet(np.ones(len(classes)), size=n)
        p[np.arange(n), np.arange(n) % len(classes)] += 0.3  # better than chance
        return p / p.sum(1, keepdims=True)
    val_ids = [f"v{i:02d}" for i in range(16)]
    result = FitResult(
        val=Predictions(val_ids, np.arange(16) % len(classes), probs(16)),
        test=Predictions(list(reversed(ids)), target[::-1], probs(len(ids))),  # order differs between runs
    )
    write_run(path, result, classes, fold, {"corpus": "demo", "labels": "iemocap4", "split": "loso"})
    return path


def test_mean_equals_hand_computed_average(tmp_path: Path) -> None:
    runs = [fake_run(tmp_path / name, seed) for seed, name in enumerate("abc")]
    members = [load_member(r) for r in runs]
    result, _ = pool_fold(members, "mean")
    frames = [read_predictions(r / "predictions.csv")[0].set_index("utterance_id").sort_index() for r in runs]
    cols = [f"prob_{c}" for c in CLASSES]
    expected = sum(f[cols].to_numpy() for f in frames) / 3
    assert result.test.utterance_id == sorted(frames[0].index)
    np.testing.assert_allclose(result.test.probs, expected)
    assert list(result.test.target) == [CLASSES.index(lbl) for lbl in frames[0]["label"]]


def test_different_test_sets_are_refused(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "a", 0)
    b = fake_run(tmp_path / "b", 1, ids=[f"x{i:02d}" for i in range(24)])
    with pytest.raises(ValueError, match="test sets differ in fold 1"):
        pool_fold([load_member(a), load_member(b)], "mean")


def test_different_class_orders_are_refused(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "a", 0)
    b = fake_run(tmp_path / "b", 1, classes=["ang", "sad", "hap", "neu"])
    with pytest.raises(ValueError, match="class orders differ"):
        pool_fold([load_member(a), load_member(b)], "mean")


def test_different_folds_are_refused(tmp_path: Path) -> None:
    runs = [fake_run(tmp_path / "a1", 0, 1), fake_run(tmp_path / "a2", 1, 2), fake_run(tmp_path / "b1", 2, 1)]
    with pytest.raises(ValueError, match="every fold needs the same members") as err:
        group_by_fold([load_member(r) for r in runs])
    # the message names the fold that lacks a member and the run it has
    assert f"fold 2 has 1 ({tmp_path / 'a2'})" in str(err.value)


def test_one_run_per_fold_is_refused_naming_it(tmp_path: Path) -> None:
    only = fake_run(tmp_path / "only", 0, 1)
    with pytest.raises(ValueError, match=f"fold 1 has only {only}"):
        group_by_fold([load_member(only)])


def test_ensemble_entry_point_names_the_runs_that_cannot_pool(tmp_path: Path) -> None:
    a, b = fake_run(tmp_path / "a", 0, 1), fake_run(tmp_path / "b", 1, 2)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "ensemble.py"), f"runs=[{a},{b}]", f"paths.output_dir={tmp_path / 'out'}"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == f"error: an ensemble needs at least two runs per fold: fold 1 has only {a}; fold 2 has only {b}"
    assert not (tmp_path / "out").exists()  # a failed call leaves no empty output folder


def test_different_protocols_are_refused(tmp_path: Path) -> None:
    a, b = fake_run(tmp_path / "a", 0), fake_run(tmp_path / "b", 1)
    metrics = (b / "metrics.json").read_text().replace('"split": "loso"', '"split": "random"')
    (b / "metrics.json").write_text(metrics)
    with pytest.raises(ValueError, match="different protocols") as err:
        group_by_fold([load_member(a), load_member(b)])
    assert f"split=random: {b}" in str(err.value) and f"split=loso: {a}" in str(err.value)


def test_runs_on_different_corpus_subsets_are_refused(tmp_path: Path) -> None:
    def with_subset(run: Path, subset: str) -> Path:
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "corpus_subset": subset}))
        return run

    whole = with_subset(fake_run(tmp_path / "whole", 0), "all")
    improvised = with_subset(fake_run(tmp_path / "improvised", 1), "improvised")
    older = fake_run(tmp_path / "older", 2)  # written before metrics.json recorded the subset
    with pytest.raises(ValueError, match="different protocols") as err:
        group_by_fold([load_member(whole), load_member(improvised)])
    assert f"corpus=demo subset=improvised labels=iemocap4 split=loso: {improvised}" in str(err.value)
    assert f"corpus=demo labels=iemocap4 split=loso: {whole}" in str(err.value)
    assert len(group_by_fold([load_member(whole), load_member(older)])[1]) == 2  # both the whole corpus


def test_ensemble_records_the_subset_of_its_members(tmp_path: Path, compose_config) -> None:
    runs = []
    for seed, name in enumerate("ab"):
        run = fake_run(tmp_path / name, seed)
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "corpus_subset": "improvised"}))
        runs.append(run)
    cfg = compose_config([f"runs=[{runs[0]},{runs[1]}]"], config_name="ensemble", out_dir=tmp_path / "out")
    run_ensemble(cfg)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["corpus_subset"] == "improvised"


def test_missing_run_dir_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no run"):
        find_runs([tmp_path / "empty"])


def test_weighted_and_stack_learn_from_validation_only(tmp_path: Path) -> None:
    runs = [fake_run(tmp_path / name, seed) for seed, name in enumerate("ab")]
    members = [load_member(r) for r in runs]
    _, info = pool_fold(members, "weighted")
    stacked, _ = pool_fold(members, "stack")
    # Scramble the test probabilities: what was learned must not move.
    for m in members:
        m.test.probs = m.test.probs[::-1].copy()
    _, info_after = pool_fold(members, "weighted")
    assert info["weights"] == info_after["weights"]
    assert pytest.approx(sum(info["weights"])) == 1.0
    stacked_after, _ = pool_fold(members, "stack")
    assert not np.allclose(stacked.test.probs, stacked_after.test.probs)  # same meta-model, new inputs
    assert np.allclose(stacked.val.probs, stacked_after.val.probs)


def member_probs(target: np.ndarray, signal: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities with `signal` extra mass on the true class (0: noise)."""
    p = rng.dirichlet(np.ones(len(CLASSES)), size=len(target))
    p[np.arange(len(target)), target] += signal
    return p / p.sum(1, keepdims=True)


def test_learn_weights_prefers_the_informative_member() -> None:
    rng = np.random.default_rng(0)
    target = np.arange(40) % 4
    w = learn_weights(target, [member_probs(target, 0.0, rng), member_probs(target, 2.0, rng)])
    assert w[1] > w[0]


def test_tiny_evidence_keeps_weights_near_equal() -> None:
    rng = np.random.default_rng(1)
    target = np.arange(8) % 4
    probs = [member_probs(target, 0.0, rng), member_probs(target, 3.0, rng), member_probs(target, 0.5, rng)]
    w, learned = combiners.learn_weights(target, probs, prior_rows=100)
    assert learned["shrinkage"] == pytest.approx(100 / 108)
    assert max(learned["fitted_weights"]) > 0.8  # what the 8 rows alone would choose ...
    np.testing.assert_allclose(w, 1 / 3, atol=0.06)  # ... is mostly held back
    assert pytest.approx(w.sum()) == 1.0


def test_more_evidence_gives_the_better_member_more_weight() -> None:
    rng = np.random.default_rng(2)
    weights = []
    for n in (8, 80, 2000):
        target = np.arange(n) % 4
        probs = [member_probs(target, 0.3, rng), member_probs(target, 3.0, rng), member_probs(target, 0.3, rng)]
        weights.append(learn_weights(target, probs, prior_rows=100)[1])
    assert weights[0] < weights[1] < weights[2]
    assert weights[2] > 0.8


def test_stack_does_not_collapse_on_little_or_lopsided_evidence() -> None:
    rng = np.random.default_rng(3)
    test_target = np.arange(200) % 4
    test_probs = [member_probs(test_target, 1.0, rng), member_probs(test_target, 1.5, rng)]
    geometric = np.log(test_probs[0]) + np.log(test_probs[1])
    for target in (np.array([0, 1, 2, 3]), np.array([0] * 30 + [1])):  # four rows; 30 of one class
        probs = [member_probs(target, 1.0, rng), member_probs(target, 1.5, rng)]
        stacked = combiners.Stacker(2, 4).fit(target, probs).predict_proba(test_probs)
        assert set(stacked.argmax(1)) == {0, 1, 2, 3}
        assert (stacked.argmax(1) == geometric.argmax(1)).mean() > 0.9  # stays near the geometric mean
    # plenty of evidence: it learns (the better member drives more), and stays as good as the mean
    target = np.arange(2000) % 4
    probs = [member_probs(target, 1.0, rng), member_probs(target, 1.5, rng)]
    stacker = combiners.Stacker(2, 4).fit(target, probs)
    scale = stacker.member_scale()
    assert scale[1] > scale[0]
    stacked_ua = (stacker.predict_proba(test_probs).argmax(1) == test_target).mean()
    assert stacked_ua >= (np.mean(test_probs, axis=0).argmax(1) == test_target).mean() - 0.02


def loso_runs(root: Path, signals: dict[str, float], speakers: int = 5, per_speaker: int = 40) -> Path:
    """A LOSO sweep of fake runs: fold f tests speaker f and validates on speaker f+1, so fold f's
    test utterances are fold f-1's validation utterances (as with a validation speaker drawn
    from the training speakers). Member quality = `signals[name]`."""
    ids = {s: [f"s{s}_{i:02d}" for i in range(per_speaker)] for s in range(speakers)}
    target = np.arange(per_speaker) % len(CLASSES)
    for fold in range(1, speakers + 1):
        test_speaker, val_speaker = fold - 1, fold % speakers
        for k, (name, signal) in enumerate(signals.items()):
            rng = np.random.default_rng([fold, k])
            result = FitResult(
                val=Predictions(ids[val_speaker], target, member_probs(target, signal, rng)),
                test=Predictions(ids[test_speaker], target, member_probs(target, signal, rng)),
            )
            info = {"model": name, "seed": 0, "corpus": "demo", "labels": "iemocap4", "split": "loso"}
            write_run(root / f"{name}_fold{fold}", result, CLASSES, fold, info)
    return root


def relabel(run_dir: Path, name: str, ids: set[str], mapping: dict[str, str]) -> None:
    """Rewrite the labels of `ids` in a run's predictions file `name`."""
    frame = pd.read_csv(run_dir / name, dtype={"utterance_id": str})
    rows = frame["utterance_id"].isin(ids)
    frame.loc[rows, "label"] = frame.loc[rows, "label"].map(mapping)
    frame.to_csv(run_dir / name, index=False)


def test_cross_fold_evidence_leaves_out_this_folds_test_utterances(tmp_path: Path) -> None:
    sweep = loso_runs(tmp_path / "sweep", {"a": 1.0, "b": 0.5})
    by_fold = group_by_fold([load_member(r) for r in find_runs([sweep])])
    evidence = gather_evidence(by_fold, 1)
    # fold 5 validates on speaker 0, fold 1's test speaker: all 40 rows left out
    assert evidence.rows_by_fold == {1: 40, 2: 40, 3: 40, 4: 40, 5: 0}
    assert evidence.excluded == 40 and len(evidence.target) == 160
    own = gather_evidence(by_fold, 1, "own")
    assert own.rows_by_fold == {1: 40} and own.excluded == 0
    # members listed in another order in one fold are matched by model, not by position
    by_fold[3] = by_fold[3][::-1]
    swapped = gather_evidence(by_fold, 1)
    for mine, theirs in zip(evidence.probs, swapped.probs, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("method", ["weighted", "stack"])
def test_test_labels_do_not_move_weights_or_predictions(tmp_path: Path, compose_config, method: str) -> None:
    """Permute fold 1's test labels wherever they appear (its predictions.csv and fold 5's
    validation file): fold 1's weights and pooled probabilities stay; permuting other validation
    labels moves them, so the check can fail."""
    def pooled(out: Path) -> tuple[np.ndarray, dict]:
        frame = pd.read_csv(out / "fold1" / "predictions.csv").sort_values("utterance_id")
        meta = json.loads((out / "fold1" / "metrics.json").read_text())
        return frame[[f"prob_{c}" for c in CLASSES]].to_numpy(), meta

    def ensemble(name: str) -> tuple[np.ndarray, dict]:
        cfg = compose_config([f"runs=[{sweep}]", f"method={method}"], config_name="ensemble", out_dir=tmp_path / name)
        run_ensemble(cfg)
        return pooled(tmp_path / name)

    sweep = loso_runs(tmp_path / "sweep", {"a": 1.0, "b": 0.3, "c": 0.6})
    before, meta = ensemble("before")
    assert meta["evidence"]["rows"] == 160 and meta["evidence"]["excluded_test_rows"] == 40
    shuffle = dict(zip(CLASSES, CLASSES[1:] + CLASSES[:1], strict=True))
    fold1_test = {f"s0_{i:02d}" for i in range(40)}
    for member in "abc":
        relabel(sweep / f"{member}_fold1", "predictions.csv", fold1_test, shuffle)
        relabel(sweep / f"{member}_fold5", "val_predictions.csv", fold1_test, shuffle)
    after, meta_after = ensemble("after")
    np.testing.assert_array_equal(before, after)
    learned = "weights" if method == "weighted" else "stack_member_scale"
    assert meta[learned] == meta_after[learned]
    assert meta_after["test/ua"] != meta["test/ua"]  # the labels did change
    fold2_val = {f"s1_{i:02d}" for i in range(40)}  # fold 1's own validation speaker
    for member in "abc":
        relabel(sweep / f"{member}_fold1", "val_predictions.csv", fold2_val, shuffle)
        relabel(sweep / f"{member}_fold2", "predictions.csv", fold2_val, shuffle)
    moved, meta_moved = ensemble("moved")
    assert meta_moved[learned] != meta[learned]
    learned_table = pd.read_csv(tmp_path / "before" / "learned.csv")
    assert list(learned_table["fold"]) == [1, 2, 3, 4, 5] and set(learned_table["evidence_rows"]) == {160}


def test_vote_majority(tmp_path: Path) -> None:
    runs = [fake_run(tmp_path / name, seed) for seed, name in enumerate("abc")]
    members = [load_member(r) for r in runs]
    result, _ = pool_fold(members, "vote")
    preds = np.stack([m.test.probs[np.argsort(m.test.utterance_id)].argmax(1) for m in members])
    for i, row in enumerate(preds.T):
        counts = np.bincount(row, minlength=4)
        if counts.max() >= 2:
            assert result.test.pred[i] == counts.argmax()


def test_multirun_folder_pools_fold_by_fold(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun"
    for fold in (1, 2):
        for k, model in enumerate(("cnn", "svm")):
            fake_run(sweep / f"{model}_fold{fold}", 10 * fold + k, fold)
    groups = group_by_fold([load_member(r) for r in find_runs([sweep])])
    assert list(groups) == [1, 2] and all(len(ms) == 2 for ms in groups.values())
    summary = cv_summary([sweep / "cnn_fold1", sweep / "cnn_fold2"])
    per_fold = [pd.read_json(sweep / f"cnn_fold{f}" / "metrics.json", typ="series")["test/ua"] for f in (1, 2)]
    assert summary["test/ua_mean"] == pytest.approx(np.mean(per_fold))
    assert summary["test/ua_std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert summary["folds"] == "1,2" and summary["runs"] == 2


def test_report_of_a_multirun_folder(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from ser.reports import main as report_main

    sweep = tmp_path / "multirun"
    for fold in (1, 2):
        for k, model in enumerate(("cnn", "svm")):
            run = fake_run(sweep / f"{model}_fold{fold}", 10 * fold + k, fold)
            (run / ".hydra").mkdir()
            (run / ".hydra" / "overrides.yaml").write_text(f"- model={model}\n- split.fold={fold}\n")
            (run / "csv").mkdir()
            (run / "csv" / "metrics.csv").write_text("epoch,step,train/loss,val/loss,val/ua\n0,1,1.3,1.2,0.4\n1,2,1.0,1.1,0.5\n")
    out = tmp_path / "board"
    assert report_main([str(sweep), "--out", str(out)]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    assert sorted(board["configuration"]) == ["model=cnn", "model=svm"]
    assert list(board["runs"]) == [2, 2]
    assert board["test/ua_mean"].is_monotonic_decreasing
    expected = cv_summary([sweep / "svm_fold1", sweep / "svm_fold2"])["test/ua_mean"]
    assert board.set_index("configuration").loc["model=svm", "test/ua_mean"] == pytest.approx(expected)
    for name in ("leaderboard.md", "leaderboard.png", "confusion_01.png", "confusion_02.png", "per_class_recall.csv"):
        assert (out / name).is_file(), name
    assert len(list(out.glob("curves_*.png"))) == 4
    assert "model=cnn" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert report_main([str(tmp_path / "nothing")]) == 2
    assert not (tmp_path / "report").exists()  # the default --out folder is not created for a wrong path


def test_evaluation_is_logged_under_the_input_runs_names(tmp_path: Path) -> None:
    """Logger configs resolve against the evaluated run's config (W&B project/group/name likewise)."""
    from omegaconf import OmegaConf

    from ser.evaluate import log_like_inputs

    run = fake_run(tmp_path / "run", 0)
    (run / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create({"model": {"name": "cnn"}, "run_group": "cnn-demo"}), run / ".hydra" / "config.yaml")
    logger_cfg = OmegaConf.create(
        {"csv": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(tmp_path / "logs"),
                 "name": "${model.name}-${run_group}", "version": ""}}
    )  # fmt: skip
    log_like_inputs(logger_cfg, run, {"evaluate/test/ua": 0.5}, "evaluate")
    logged = pd.read_csv(tmp_path / "logs" / "cnn-cnn-demo" / "metrics.csv")
    assert logged["evaluate/test/ua"].tolist() == [0.5]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("evidence=all", "unknown evidence=all: choose evidence=folds"),
        ("prior_rows=-1", "prior_rows=-1 must be a number >= 0"),
        ("stack_l2=lots", "stack_l2=lots must be a number >= 0"),
    ],
)
def test_bad_learning_settings_are_one_line_errors(tmp_path: Path, compose_config, override: str, message: str) -> None:
    sweep = loso_runs(tmp_path / "sweep", {"a": 1.0, "b": 0.5}, speakers=2, per_speaker=8)
    cfg = compose_config([f"runs=[{sweep}]", "method=weighted", override], config_name="ensemble", out_dir=tmp_path / "out")
    with pytest.raises(ValueError, match=message):
        run_ensemble(cfg)
    assert not (tmp_path / "out").exists()


def test_runs_that_cannot_be_matched_across_folds_learn_from_their_own_fold(tmp_path: Path) -> None:
    sweep = loso_runs(tmp_path / "sweep", {"a": 1.0, "b": 0.5})
    for fold in range(1, 6):  # two seeds of one model: nothing tells fold 1's first run from fold 2's
        metrics = json.loads((sweep / f"b_fold{fold}" / "metrics.json").read_text())
        (sweep / f"b_fold{fold}" / "metrics.json").write_text(json.dumps({**metrics, "model": "a"}))
    by_fold = group_by_fold([load_member(r) for r in find_runs([sweep])])
    evidence = gather_evidence(by_fold, 2)
    assert evidence.source == "own" and evidence.rows_by_fold == {2: 40}
    assert "cannot be told apart" in evidence.note
