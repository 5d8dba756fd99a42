"""corpus=multi (parts, prefixes, corpus column), the common label sets, and the corpus-level and
predefined protocols: cross_corpus, leave_one_corpus_out, predefined; their artifacts, summaries,
ensembles and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from omegaconf import OmegaConf

from ser.corpora import demo, iemocap, load_corpus, make_manifest
from ser.corpora.__main__ import main as report_main
from ser.corpora.multi import combine, compose_part, compose_parts
from ser.labels import LabelSet, apply_labels
from ser.splits import make_split

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb"
needs_emodb = pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"EmoDB not found at {EMODB}")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The raw labels each reader gives (the shared convention); common4/common6 must read them all.
RAW_LABELS = {
    "emodb": ["ang", "bor", "dis", "fea", "hap", "sad", "neu"],
    "iemocap": ["neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx"],
    "ravdess": ["neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"],
    "crema_d": ["ang", "dis", "fea", "hap", "neu", "sad"],
    "msp_podcast": ["ang", "sad", "hap", "sur", "fea", "dis", "con", "neu", "oth", "xxx"],
    "tess": ["ang", "dis", "fea", "hap", "neu", "sur", "sad"],
    "savee": ["ang", "dis", "fea", "hap", "neu", "sad", "sur"],
    "msp_improv": ["ang", "hap", "sad", "neu", "oth", "xxx"],
}


def label_set(name: str) -> LabelSet:
    return LabelSet.from_config(OmegaConf.load(ROOT / "conf" / "labels" / f"{name}.yaml"))


# ---------------------------------------------------------------------------------------------------
# Label sets
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "classes"),
    [("common4", ["neu", "hap", "sad", "ang"]), ("common6", ["neu", "hap", "sad", "ang", "fea", "dis"])],
)
def test_common_label_sets_map_every_corpus_onto_shared_classes(name: str, classes: list[str]) -> None:
    labels = label_set(name)
    assert list(labels.classes) == classes
    for corpus, raw in RAW_LABELS.items():
        kept = {r: labels.map[r] for r in raw if r in labels.map}
        # each shared class the corpus has maps onto itself; IEMOCAP's excited is happy (iemocap4)
        assert {r: c for r, c in kept.items() if r != "exc"} == {c: c for c in classes if c in raw}, corpus
    assert labels.map["exc"] == "hap"
    for dropped in ("cal", "bor", "sur", "con", "fru", "oth", "xxx"):
        assert dropped not in labels.map


# ---------------------------------------------------------------------------------------------------
# Parts and the combined manifest (no audio needed)
# ---------------------------------------------------------------------------------------------------
def small_manifest(speakers: list[str], labels: list[str], skipped=()) -> pd.DataFrame:
    rows = [
        dict(utterance_id=f"{s}_{i}", path=f"/x/{s}_{i}.wav", duration=1.0, speaker=s, group=s, label=lab)
        for s in speakers
        for i, lab in enumerate(labels)
    ]
    return make_manifest(rows, list(skipped))


def test_combine_prefixes_ids_speakers_groups_and_keeps_skipped_items() -> None:
    a = small_manifest(["s1", "s2"], ["ang", "neu"], skipped=[("/x/bad.wav", "unreadable_wav")])
    b = small_manifest(["s1"], ["hap", "bor"])  # the same speaker id in another corpus is another person
    b["partition"] = ["train", "test"]
    df = combine([("emodb", a), ("other", b)])
    assert len(df) == 6 and df["utterance_id"].is_unique
    assert set(df["speaker"]) == {"emodb/s1", "emodb/s2", "other/s1"}
    assert set(df["group"]) == set(df["speaker"])
    assert df.loc[df["utterance_id"] == "emodb/s2_0", "corpus"].item() == "emodb"
    assert df.groupby("corpus").size().to_dict() == {"emodb": 4, "other": 2}
    assert list(df.loc[df["corpus"] == "emodb", "partition"]) == ["", "", "", ""]  # not given: empty
    assert df.attrs["skipped"] == [("emodb: /x/bad.wav", "unreadable_wav")]
    labelled, classes = apply_labels(df, replace(label_set("common4"), empty_classes="drop"))
    assert classes == ["neu", "hap", "ang"] and len(labelled) == 5  # no sad utterance; bor dropped
    assert labelled.attrs["skipped"][-1] == ("other/s1_1", "label bor not in common4")


def test_a_part_takes_its_corpus_config_keys_merged_on_top(tmp_path: Path) -> None:
    part = compose_part(0, {"name": "emodb", "root": "some/where"})
    assert part == {
        "_target_": "ser.corpora.emodb.read",
        "name": "emodb",
        "root": "some/where",
        "alias": "emodb",
    }
    assert compose_part(0, part) == part  # composing twice changes nothing
    demo_part = compose_part(1, {"name": "demo", "cache_dir": str(tmp_path), "utterances_per_speaker": 6})
    assert (
        demo_part["seed"] == 0 and demo_part["subset"] == "all" and demo_part["utterances_per_speaker"] == 6
    )
    two = compose_parts(
        [{"name": "manifest", "path": "a.csv"}, {"name": "manifest", "path": "b.csv", "alias": "b"}]
    )
    assert [p["alias"] for p in two] == ["manifest", "b"]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            [{"name": "emodbb", "root": "x"}],
            r"^corpus.parts\[0\]: unknown corpus 'emodbb': choose one of audformat, crema_d, demo, emodb, ",
        ),
        ([{"name": "multi"}], r"^corpus.parts\[0\]: unknown corpus 'multi': a part cannot itself be multi$"),
        ([{"root": "x"}], r"^corpus.parts\[0\] needs a name: write corpus.parts=\[\{name: emodb"),
        (
            [{"name": "emodb", "roots": "x"}],
            r"^corpus.parts\[0\].roots is not a setting of corpus emodb .*did you mean root\?$",
        ),
        (
            [{"name": "demo", "cache_dir": "x"}, {"name": "emodb"}],
            r"^corpus.parts\[1\] \(corpus emodb\) needs root: write \{name: emodb, root: PATH\}$",
        ),
        (
            [{"name": "demo"}],
            r"^corpus.parts\[0\] \(corpus demo\): .*paths.cache_dir.*: give cache_dir in the part$",
        ),
        (
            [{"name": "manifest", "path": "a"}, {"name": "manifest", "path": "b"}],
            r"two parts are called manifest: give one of them alias=",
        ),
        ({"name": "emodb"}, r"^corpus.parts must be a list of corpus configs"),
        ([], r"^corpus.parts must be a list of corpus configs"),
    ],
)
def test_bad_parts_are_one_line_errors(parts, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        compose_parts(parts)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------------
# Splits on a combined manifest (no audio needed)
# ---------------------------------------------------------------------------------------------------
def labelled_corpora(n_corpora: int = 3, speakers: int = 3, per_speaker: int = 8) -> pd.DataFrame:
    rows = []
    for c in range(n_corpora):
        for s in range(speakers):
            for i in range(per_speaker):
                spk = f"c{c}/s{s}"
                rows.append(
                    dict(utterance_id=f"c{c}/s{s}u{i}", corpus=f"c{c}", speaker=spk, group=spk, target=i % 4)
                )
    df = pd.DataFrame(rows)
    df["class_name"] = df["target"].map(dict(enumerate(["neu", "hap", "sad", "ang"])))
    return df


def column(df: pd.DataFrame, rows: np.ndarray, name: str = "corpus") -> set[str]:
    return set(df[name].to_numpy()[rows])


def test_cross_corpus_tests_on_one_corpus_and_validates_on_the_others() -> None:
    df = labelled_corpora()
    split = make_split(df, "cross_corpus", 1, seed=0, val_speakers=2, test="c1")
    assert (split.method, split.fold, split.n_folds, split.test_groups) == ("cross_corpus", 1, 1, ("c1",))
    assert column(df, split.test) == {"c1"} and len(split.test) == (df["corpus"] == "c1").sum()
    assert column(df, split.train) | column(df, split.val) == {"c0", "c2"}
    assert len(column(df, split.val, "speaker")) == 2
    assert not column(df, split.val, "speaker") & column(df, split.train, "speaker")
    assert sorted(np.concatenate([split.train, split.val, split.test])) == list(range(len(df)))
    # validation speakers are chosen as loso chooses them: seeded, so the same seed gives the same ones
    again = make_split(df, "cross_corpus", 1, seed=0, val_speakers=2, test="c1")
    assert np.array_equal(split.val, again.val)


def test_leave_one_corpus_out_tests_every_corpus_once() -> None:
    df = labelled_corpora()
    tested = []
    for fold in (1, 2, 3):
        split = make_split(df, "leave_one_corpus_out", fold, seed=0)
        assert split.n_folds == 3 and split.test_groups == (f"c{fold - 1}",)  # sorted corpus names
        assert column(df, split.test) == {f"c{fold - 1}"}
        assert f"c{fold - 1}" not in column(df, split.train) | column(df, split.val)
        tested += list(split.test)
    assert sorted(tested) == list(range(len(df)))
    # cross_corpus with split.test=c2 is fold 3 of leave_one_corpus_out, validation speakers included
    cross = make_split(df, "cross_corpus", 1, seed=1, val_speakers=2, test="c2")
    fold3 = make_split(df, "leave_one_corpus_out", 3, seed=1, val_speakers=2)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(cross, part), getattr(fold3, part)), part


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("cross_corpus", {}, r"^split=cross_corpus needs split.test=CORPUS, one of c0, c1, c2$"),
        (
            "cross_corpus",
            {"test": "c9"},
            r"^split.test=c9 is not one of the corpora: choose split.test= one of c0, c1, c2$",
        ),
        (
            "cross_corpus",
            {"test": "c1", "fold": 2},
            r"^split=cross_corpus has one fold, not split.fold=2: .*leave_one_corpus_out",
        ),
        (
            "leave_one_corpus_out",
            {"fold": 4},
            r"^split.fold=4 is out of range: leave_one_corpus_out has folds 1..3",
        ),
    ],
)
def test_corpus_split_mistakes_are_one_line(method: str, kwargs: dict, message: str) -> None:
    fold = kwargs.pop("fold", 1)
    with pytest.raises(ValueError, match=message):
        make_split(labelled_corpora(), method, fold, **kwargs)


def test_corpus_splits_need_two_corpora() -> None:
    one = labelled_corpora(n_corpora=1)
    for df in (one, one.drop(columns="corpus")):
        with pytest.raises(
            ValueError, match=r"^split=leave_one_corpus_out needs two or more corpora: use corpus=multi"
        ):
            make_split(df, "leave_one_corpus_out", 1)


def test_predefined_reads_the_partition_column(caplog: pytest.LogCaptureFixture) -> None:
    df = labelled_corpora(n_corpora=1, speakers=5)
    partition = {"c0/s0": "train", "c0/s1": "Train", "c0/s2": "val", "c0/s3": "test", "c0/s4": "test2"}
    df["partition"] = df["speaker"].map(partition)
    split = make_split(df, "predefined", 1)
    assert (split.method, split.fold, split.n_folds, split.test_groups) == ("predefined", 1, 1, ("c0/s3",))
    assert column(df, split.train, "speaker") == {"c0/s0", "c0/s1"}  # case does not matter
    assert column(df, split.val, "speaker") == {"c0/s2"} and column(df, split.test, "speaker") == {"c0/s3"}
    assert "8 utterances whose partition is not train/val/test are not used" in caplog.text
    with pytest.raises(
        ValueError,
        match=r"^split=predefined: the val partition is empty \(the partition column holds test, test2, train\)",
    ):
        make_split(df.assign(partition=df["partition"].replace({"val": "train"})), "predefined", 1)
    with pytest.raises(
        ValueError,
        match=r"^split=predefined needs a partition column \(train / val / test\): this corpus has none",
    ):
        make_split(df.drop(columns="partition"), "predefined", 1)


# ---------------------------------------------------------------------------------------------------
# Real corpora: the demo, a CSV manifest corpus written here, EmoDB
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multi_cache")


@pytest.fixture(scope="module")
def csv_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second corpus as a CSV manifest: another demo corpus (seed 1, other voices), sessions 1-3
    train, 4 val, 5 test in its partition column."""
    root = tmp_path_factory.mktemp("csv_corpus")
    demo.generate(root / "audio", seed=1, utterances_per_speaker=10)
    table = iemocap.read(root / "audio")
    table["speaker"] = "csv_" + table["speaker"]
    table["partition"] = table["group"].map(
        {"Ses01": "train", "Ses02": "train", "Ses03": "train", "Ses04": "val", "Ses05": "test"}
    )
    csv = root / "second.csv"
    table[["utterance_id", "path", "offset", "duration", "speaker", "group", "label", "partition"]].to_csv(
        csv, index=False
    )
    return csv


def overrides(cache_dir: Path, parts: str, *extra: str) -> list[str]:
    return [f"paths.cache_dir={cache_dir}", "corpus=multi", f"corpus.parts={parts}", "labels=common4",
            "jobs=1", "~logger", *extra]  # fmt: skip


def demo_and_csv(csv: Path) -> str:
    return f"[{{name: demo, utterances_per_speaker: 12}}, {{name: manifest, path: {csv}, alias: second}}]"


def test_multi_manifest_from_the_config_and_its_data_report(
    compose_config, cache_dir: Path, csv_corpus: Path, capsys
) -> None:
    cfg = compose_config(overrides(cache_dir, demo_and_csv(csv_corpus)))
    df = load_corpus(cfg.corpus)
    assert set(df["corpus"]) == {"demo", "second"}
    assert (
        df["utterance_id"].str.match(r"^(demo|second)/").all()
        and df["speaker"].str.match(r"^(demo|second)/").all()
    )
    assert set(df.loc[df["corpus"] == "demo", "partition"]) == {""}
    assert (
        report_main(
            [
                "corpus=multi",
                f"corpus.parts={demo_and_csv(csv_corpus)}",
                f"paths.cache_dir={cache_dir}",
                "labels=common4",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "corpus=multi labels=common4:" in out and "20 speakers, 10 groups" in out
    assert "corpus      demo  second  total" in out  # the per-corpus table
    assert "label fru not in common4" in out


def read_run(run: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics, pd.read_csv(run / "predictions.csv"), pd.read_csv(run / "val_predictions.csv")


def write_overrides(run: Path, items: list[str]) -> None:
    """What Hydra writes into a run's .hydra/ (the summaries group runs by these)."""
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(items))


def test_leave_one_corpus_out_and_predefined_train_and_record_the_protocol(
    train_run, cache_dir: Path, csv_corpus: Path, tmp_path: Path
) -> None:
    from ser.cv import summarize_runs

    runs = []
    for fold in (1, 2):
        run = tmp_path / f"loco{fold}"
        metrics = train_run(
            overrides(
                cache_dir,
                demo_and_csv(csv_corpus),
                "split=leave_one_corpus_out",
                f"split.fold={fold}",
                "model=svm",
            ),
            run,
        )
        write_overrides(run, ["model=svm", f"split.fold={fold}"])
        runs.append(run)
        test_corpus = ["demo", "second"][fold - 1]
        assert (metrics["split"], metrics["fold"], metrics["test_groups"]) == (
            "leave_one_corpus_out",
            fold,
            [test_corpus],
        )
        assert metrics["test_corpora"] == [test_corpus] and metrics["train_corpora"] == [
            {"demo": "second", "second": "demo"}[test_corpus]
        ]
        _, test, val = read_run(run)
        assert (
            test["utterance_id"].str.startswith(f"{test_corpus}/").all()
            and not val["utterance_id"].str.startswith(f"{test_corpus}/").any()
        )
        assert set(test["fold"]) == {fold}
    summary = summarize_runs(runs)
    assert len(summary) == 1 and summary.loc[0, "runs"] == 2 and summary.loc[0, "folds"] == "1,2"

    # predefined: the CSV corpus's own partitions
    run = tmp_path / "predefined"
    metrics = train_run([f"paths.cache_dir={cache_dir}", "corpus=manifest", f"corpus.path={csv_corpus}", "labels=common4",
                         "split=predefined", "model=svm", "jobs=1", "~logger"], run)  # fmt: skip
    table = pd.read_csv(csv_corpus)
    kept = table[table["label"].isin(["neu", "hap", "exc", "sad", "ang"])]
    assert (metrics["split"], metrics["fold"]) == ("predefined", 1)
    assert (
        metrics["test/n"] == (kept["partition"] == "test").sum()
        and metrics["n_val"] == (kept["partition"] == "val").sum()
    )
    assert metrics["test_groups"] == ["Ses05"]


@pytest.mark.slow
@needs_emodb
def test_emodb_and_demo_cross_corpus_artifacts_reevaluation_and_ensemble(
    train_run, compose_config, cache_dir: Path, tmp_path: Path
) -> None:
    from ser.ensemble import run_ensemble
    from ser.evaluate import reevaluate

    parts = f"[{{name: emodb, root: {EMODB}}}, {{name: demo, utterances_per_speaker: 12}}]"
    runs = []
    for model in ("svm", "logreg"):
        run = tmp_path / model
        # each speaker standardised on their own statistics: what carries a model across corpora
        extra = ["split=cross_corpus", "split.test=emodb", f"model={model}", "model.speaker_norm=true"]
        metrics = train_run(overrides(cache_dir, parts, *extra), run)
        runs.append(run)
        for name in ("predictions.csv", "val_predictions.csv", "metrics.json", "confusion_matrix.png"):
            assert (run / name).is_file(), name
        assert (metrics["corpus"], metrics["labels"], metrics["split"], metrics["fold"]) == (
            "multi",
            "common4",
            "cross_corpus",
            1,
        )
        assert metrics["test_groups"] == ["emodb"] and metrics["train_corpora"] == ["demo"]
        assert metrics["test/n"] == 339  # EmoDB's neu, hap, sad, ang utterances
        _, test, val = read_run(run)
        assert (
            test["utterance_id"].str.startswith("emodb/").all()
            and val["utterance_id"].str.startswith("demo/").all()
        )
        assert (
            metrics["test/ua"] > 0.25
        )  # four classes: a model that learned nothing transferable scores 0.25
    assert reevaluate(runs[0], tmp_path / "eval", threads=1)["matches_training"]

    cfg = compose_config(
        [f"runs=[{runs[0]},{runs[1]}]", "method=mean"], config_name="ensemble", out_dir=tmp_path / "ensemble"
    )
    summary = run_ensemble(cfg)
    fused = json.loads((tmp_path / "ensemble" / "metrics.json").read_text())
    assert (fused["split"], fused["fold"], fused["test/n"]) == ("cross_corpus", 1, 339)
    assert summary["runs"] == 1 and summary["folds"] == "1"


def test_cross_corpus_runs_pool_in_an_ensemble_and_reevaluate(
    train_run, compose_config, cache_dir: Path, csv_corpus: Path, tmp_path: Path
) -> None:
    from ser.ensemble import run_ensemble
    from ser.evaluate import reevaluate

    runs = []
    for model in ("svm", "xgboost"):
        run = tmp_path / model
        extra = ["split=cross_corpus", "split.test=second", f"model={model}"]
        metrics = train_run(overrides(cache_dir, demo_and_csv(csv_corpus), *extra), run)
        runs.append(run)
        for name in ("predictions.csv", "val_predictions.csv", "metrics.json", "confusion_matrix.png"):
            assert (run / name).is_file(), name
        assert (metrics["split"], metrics["fold"], metrics["test_groups"]) == ("cross_corpus", 1, ["second"])
        _, test, val = read_run(run)
        assert (
            test["utterance_id"].str.startswith("second/").all()
            and val["utterance_id"].str.startswith("demo/").all()
        )
    assert reevaluate(runs[0], tmp_path / "eval", threads=1)["matches_training"]
    out = tmp_path / "ensemble"
    cfg = compose_config([f"runs=[{runs[0]},{runs[1]}]", "method=mean"], config_name="ensemble", out_dir=out)
    summary = run_ensemble(cfg)
    fused, test, _ = read_run(out)
    assert (fused["split"], fused["fold"], summary["folds"]) == ("cross_corpus", 1, "1")
    assert sorted(test["utterance_id"]) == sorted(read_run(runs[0])[1]["utterance_id"])


def tone_corpora(folder: Path) -> str:
    """Two tiny CSV corpora of tones (a, b), without a partition column; their corpus.parts value."""
    for corpus in ("a", "b"):
        lines = ["path,label,speaker"]
        for i, label in enumerate(["neu", "hap", "sad", "ang"] * 2):
            wav = folder / "audio" / f"{corpus}{i}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav, 0.1 * np.sin(np.linspace(0, 300 * (i + 1), 8000)), 16000)
            lines.append(f"{wav},{label},{corpus}_s{i % 3}")
        (folder / f"{corpus}.csv").write_text("\n".join(lines) + "\n")
    return f"[{{name: manifest, path: {folder / 'a.csv'}, alias: a}}, {{name: manifest, path: {folder / 'b.csv'}, alias: b}}]"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["corpus.parts=[{name: ravdes, root: x}]"],
            "corpus.parts[0]: unknown corpus 'ravdes': choose one of audformat, crema_d, demo, emodb",
        ),
        (
            [],
            "corpus=multi needs corpus.parts='[{name: emodb, root: PATH}, {name: demo}]' on the command line",
        ),
        (["PARTS", "split=cross_corpus"], "split=cross_corpus needs split.test=CORPUS, one of a, b"),
        (
            ["PARTS", "split=cross_corpus", "split.test=emodb"],
            "split.test=emodb is not one of the corpora: choose split.test= one of a, b",
        ),
        (
            ["PARTS", "split=predefined"],
            "split=predefined needs a partition column (train / val / test): this corpus has none",
        ),
    ],
    ids=[
        "unknown part",
        "no parts",
        "no split.test",
        "split.test not a part",
        "predefined without partition",
    ],
)
def test_multi_mistakes_are_one_line(compose_config, extra: list[str], message: str, tmp_path: Path) -> None:
    from ser.cli import one_line
    from ser.train import train

    parts = tone_corpora(tmp_path)
    args = [f"corpus.parts={parts}" if e == "PARTS" else e for e in extra]
    cfg = compose_config(["corpus=multi", *args, "labels=common4", "model=svm", "jobs=1", "~logger",
                          f"paths.cache_dir={tmp_path / 'cache'}"], out_dir=tmp_path / "run")  # fmt: skip
    with pytest.raises(ValueError) as err:
        train(cfg)
    assert one_line(err.value) == str(err.value) and str(err.value).startswith(message), str(err.value)
    assert not (tmp_path / "run").exists()


def test_train_py_ends_a_missing_split_test_in_one_line(tmp_path: Path) -> None:
    """Through the entry point: after the features were extracted, one line and no run folder."""
    parts = tone_corpora(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    args = ["corpus=multi", f"corpus.parts={parts}", "labels=common4", "split=cross_corpus", "model=svm", "jobs=1",
            f"paths.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=work, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    # the feature extraction's progress bar comes first; the error is the one line after it
    lines = [line for line in proc.stderr.strip().splitlines() if "features[" not in line]
    assert lines == ["error: split=cross_corpus needs split.test=CORPUS, one of a, b"], proc.stderr
    assert "Traceback" not in proc.stdout and list(work.iterdir()) == []
