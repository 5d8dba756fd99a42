"""EmoDB reader, CSV manifest reader (every bad input; bad rows skipped and reported), label sets
and the data report."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir

from ser.corpora import emodb, load_corpus, manifest
from ser.corpora.__main__ import CONF_DIR
from ser.corpora.__main__ import main as report_main
from ser.corpora.manifest_schema import MANIFEST_COLUMNS
from ser.corpora.report import count_without_transcript
from ser.labels import LabelSet, apply_labels

ROOT = Path(__file__).resolve().parents[1]
EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
needs_emodb = pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"EmoDB not found at {EMODB}")


def labels(name: str) -> LabelSet:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return LabelSet.from_config(compose("data_report", overrides=[f"labels={name}"]).labels)


@needs_emodb
def test_emodb_has_535_utterances_10_speakers_7_labels() -> None:
    df = emodb.read(EMODB)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert len(df) == 535
    assert df["speaker"].nunique() == 10 and df["group"].nunique() == 10
    counts = df["label"].value_counts().to_dict()
    assert counts == {"ang": 127, "bor": 81, "neu": 79, "hap": 71, "fea": 69, "sad": 62, "dis": 46}
    assert set(df.loc[df["speaker"] == "emodb08", "gender"]) == {"F"}
    assert set(df.loc[df["speaker"] == "emodb03", "gender"]) == {"M"}
    assert (df["transcript"] != "").all()
    assert abs(df["duration"].sum() - (24 * 60 + 47)) < 2  # README: 24 min 47 s
    kept, classes = apply_labels(df, labels("emodb7"))
    assert len(kept) == 535 and len(classes) == 7


def test_emodb_missing_root_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus.root"):
        emodb.read(tmp_path / "missing")


def write_tone(path: Path, seconds: float = 0.4, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.linspace(0, 600, int(seconds * sr))), sr)


@pytest.fixture
def csv_corpus(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        write_tone(tmp_path / "audio" / f"{name}.wav")
    csv = tmp_path / "corpus.csv"
    csv.write_text("path,label,speaker,offset,duration\naudio/a.wav,ang,s1,,\naudio/b.wav,sad,s2,0.1,0.2\naudio/c.wav,neu,s1,,\n")
    return csv


def test_manifest_reads_relative_paths_and_fills_optional_columns(csv_corpus: Path) -> None:
    df = manifest.read(csv_corpus)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert list(df["utterance_id"]) == ["a", "b@0.1", "c"]
    assert Path(df.loc[0, "path"]) == (csv_corpus.parent / "audio" / "a.wav").resolve()
    assert df.loc[0, "duration"] == pytest.approx(0.4)
    assert df.loc[1, "offset"] == pytest.approx(0.1) and df.loc[1, "duration"] == pytest.approx(0.2)
    assert list(df["group"]) == ["s1", "s2", "s1"]


def test_manifest_keeps_the_optional_columns_it_is_given(csv_corpus: Path) -> None:
    csv_corpus.write_text("path,label,speaker,partition,corpus\naudio/a.wav,ang,s1,train,x\naudio/c.wav,neu,s2,test,x\n")
    df = manifest.read(csv_corpus)
    assert list(df.columns) == MANIFEST_COLUMNS + ["corpus", "partition"]
    assert list(df["partition"]) == ["train", "test"] and set(df["corpus"]) == {"x"}


@pytest.mark.parametrize(
    "content, message",
    [
        ("path,label\naudio/a.wav,ang\n", r"corpus.csv lacks required column\(s\) speaker"),
        ("path,label,speaker\naudio/zz.wav,ang,s1\n", r"corpus.csv: every row was skipped \(1 missing_audio\), e.g. row 2: .*zz.wav"),
        ("path,label,speaker,duration\naudio/a.wav,ang,s1,nan\n", r"row 2: duration 'nan' is not a number"),
        ("path,label,speaker,utterance_id\naudio/a.wav,ang,s1,u1\naudio/b.wav,ang,s1,u1\n", r"rows 2 and 3: duplicate utterance_id 'u1'"),
        ("path,label,speaker\naudio/a.wav,,s1\n", r"row 2: empty label"),
        ("path,label,speaker,offset\naudio/a.wav,ang,s1,abc\n", r"row 2: offset 'abc' is not a number"),
        ("path,label,speaker,colour\naudio/a.wav,ang,s1,red\n", r"unknown column\(s\) colour"),
    ],
)
def test_manifest_bad_input_is_one_line_error(csv_corpus: Path, content: str, message: str) -> None:
    csv_corpus.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        manifest.read(csv_corpus)
    assert "\n" not in str(err.value) and str(csv_corpus) in str(err.value)


def test_manifest_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus.path"):
        manifest.read(tmp_path / "none.csv")


@pytest.fixture
def bad_rows_csv(tmp_path: Path) -> Path:
    """Two good files and a row for each way a row's audio can be bad (CSV rows 3-7)."""
    audio = tmp_path / "audio"
    write_tone(audio / "good.wav")
    write_tone(audio / "good2.wav")
    (audio / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    write_tone(audio / "cut.wav", seconds=1.0)  # then cut after 0.0625 s, as by an interrupted copy
    (audio / "cut.wav").write_bytes((audio / "cut.wav").read_bytes()[: 44 + 1000 * 2])
    csv = tmp_path / "corpus.csv"
    csv.write_text(
        "path,label,speaker,offset,duration\n"
        "audio/good.wav,ang,s1,,\n"  # row 2
        "audio/gone.wav,sad,s1,,\n"  # 3: missing
        "audio/garbage.wav,neu,s2,,\n"  # 4: not audio
        "audio/cut.wav,hap,s2,,\n"  # 5: truncated
        "audio/good.wav,ang,s1,5,\n"  # 6: offset after the end of the 0.4 s file
        "audio/good2.wav,sad,s2,0.1,2.0\n"  # 7: segment ends after the end
        "audio/good2.wav,sad,s2,,\n"  # 8
    )
    return csv


BAD_ROWS = {3: ("gone.wav", "missing_audio"), 4: ("garbage.wav", "unreadable_audio"), 5: ("cut.wav", "truncated_audio"),
            6: ("good.wav", "bad_offset"), 7: ("good2.wav", "bad_duration")}  # fmt: skip


def test_manifest_skips_each_bad_row_with_its_reason(bad_rows_csv: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ser.corpora.manifest"):
        df = manifest.read(bad_rows_csv)
    assert list(df["utterance_id"]) == ["good", "good2"]
    assert df["duration"].tolist() == pytest.approx([0.4, 0.4])
    audio = bad_rows_csv.parent / "audio"
    assert df.attrs["skipped"] == [(f"row {row}: {audio / name}", reason) for row, (name, reason) in BAD_ROWS.items()]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(BAD_ROWS)
    for message, (row, (name, reason)) in zip(warnings, BAD_ROWS.items(), strict=True):
        assert f"{bad_rows_csv} row {row}: " in message and name in message and reason in message
    assert "header promises 16000 samples (1.00 s), the file holds 1000" in warnings[2]


def test_data_report_lists_every_bad_row(bad_rows_csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert report_main(["corpus=manifest", f"corpus.path={bad_rows_csv}", "labels=iemocap4"]) == 0
    out = capsys.readouterr().out
    assert "corpus=manifest labels=iemocap4: 2 utterances, 2 speakers" in out
    lines = out.splitlines()
    for row, (name, reason) in BAD_ROWS.items():
        at = lines.index(f"       1  {reason}")
        assert lines[at + 1] == f"          row {row}: {bad_rows_csv.parent / 'audio' / name}"


def test_transcripts_of_blanks_count_as_missing(tmp_path: Path) -> None:
    for name in "abc":
        write_tone(tmp_path / "audio" / f"{name}.wav")
    csv = tmp_path / "corpus.csv"
    csv.write_text('path,label,speaker,transcript\naudio/a.wav,ang,s1,Get out!\naudio/b.wav,sad,s2,"  "\naudio/c.wav,neu,s1,\n')
    assert count_without_transcript(manifest.read(csv)) == 2


def test_manifest_on_error_raise_stops_at_the_first_bad_row(bad_rows_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"corpus.csv row 3: audio file .*gone.wav does not exist; "
                                         r"fix the row, or set corpus.on_error=skip to skip such rows") as err:  # fmt: skip
        manifest.read(bad_rows_csv, on_error="raise")
    assert "\n" not in str(err.value)
    lines = bad_rows_csv.read_text().splitlines()
    bad_rows_csv.write_text("\n".join([lines[0], lines[1], lines[4]]) + "\n")  # the good row, the truncated one
    with pytest.raises(ValueError, match=r"row 3: audio .*cut.wav is truncated: its header promises 16000 samples"):
        manifest.read(bad_rows_csv, on_error="raise")
    with pytest.raises(ValueError, match=r"corpus.on_error='maybe' is not a choice: use corpus.on_error=skip or"):
        manifest.read(bad_rows_csv, on_error="maybe")


def test_manifest_structural_problems_stay_errors_when_skipping(bad_rows_csv: Path) -> None:
    """Skipping is for rows whose audio is bad; a mistake in the CSV itself still stops the reading,
    even on a row whose audio is missing too."""
    text = bad_rows_csv.read_text()
    bad_rows_csv.write_text(text.replace("audio/gone.wav,sad,s1", "audio/gone.wav,sad,"))
    with pytest.raises(ValueError, match=r"row 3: empty speaker"):
        manifest.read(bad_rows_csv)


def run_module(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_data_report_command_keeps_going_and_stops_in_one_line(bad_rows_csv: Path) -> None:
    proc = run_module(["-m", "ser.corpora", "corpus=manifest", f"corpus.path={bad_rows_csv}", "labels=all"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "2 utterances" in proc.stdout and f"row 5: {bad_rows_csv.parent / 'audio' / 'cut.wav'}" in proc.stdout
    assert sum("skipped (" in line for line in proc.stderr.splitlines()) == len(BAD_ROWS)
    proc = run_module(["-m", "ser.corpora", "corpus=manifest", f"corpus.path={bad_rows_csv}", "corpus.on_error=raise"])
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[0]]
    assert proc.stderr.startswith(f"error: manifest {bad_rows_csv} row 3: audio file ") and "corpus.on_error=skip" in proc.stderr


def test_train_py_on_a_missing_manifest_is_one_line(tmp_path: Path) -> None:
    proc = run_module(["train.py", "corpus=manifest", f"corpus.path={tmp_path / 'MISSING.csv'}",
                       f"hydra.run.dir={tmp_path / 'run'}"])  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]  # after Lightning's "Seed set"
    assert errors == [proc.stderr.strip().splitlines()[-1]] == [
        f"error: manifest {tmp_path / 'MISSING.csv'} does not exist: set corpus.path to a CSV with columns path,label,speaker"
    ]


def test_iemocap4_merges_excited_and_seed_set_drops_it() -> None:
    raw = pd.DataFrame({"utterance_id": list("abcdefg"), "label": ["neu", "exc", "hap", "fru", "xxx", "ang", "sad"]})
    kept, classes = apply_labels(raw, labels("iemocap4"))
    assert classes == ["neu", "hap", "sad", "ang"]
    assert list(kept["class_name"]) == ["neu", "hap", "hap", "ang", "sad"]
    assert list(kept["target"]) == [0, 1, 1, 3, 2]
    assert ("d", "label fru not in iemocap4") in kept.attrs["skipped"]
    seed_kept, _ = apply_labels(raw, labels("iemocap_seed"))
    assert list(seed_kept["utterance_id"]) == ["a", "c", "f", "g"]
    all_kept, all_classes = apply_labels(raw, labels("all"))
    assert len(all_kept) == 7 and all_classes == sorted(raw["label"])


def test_classes_without_utterances_stop_or_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    raw = pd.DataFrame({"utterance_id": list("abcde"), "label": ["neu", "hap", "sad", "ang", "ang"]})
    with pytest.raises(ValueError, match=r"iemocap6: class\(es\) exc, fru have no utterance .*labels.empty_classes=drop"):
        apply_labels(raw, labels("iemocap6"))
    dropping = LabelSet(name="iemocap6", classes=("neu", "hap", "exc", "sad", "ang", "fru"), empty_classes="drop")
    kept, classes = apply_labels(raw, dropping)
    assert classes == ["neu", "hap", "sad", "ang"]  # no class the model could never see
    assert list(kept["target"]) == [0, 1, 2, 3, 3]
    assert "exc, fru" in caplog.text
    with pytest.raises(ValueError, match="labels.empty_classes=keep is not a choice"):
        LabelSet.from_config({"name": "x", "classes": ["a"], "empty_classes": "keep"})


def test_every_label_set_config_loads() -> None:
    names = sorted(p.stem for p in (CONF_DIR / "labels").glob("*.yaml"))
    assert {"all", "common4", "common6", "emodb7", "iemocap4", "iemocap6", "iemocap_seed", "ravdess8", "crema6", "tess7", "savee7"} <= set(names)
    for name in names:
        assert labels(name).name == name


def test_unset_corpus_root_is_one_line_error() -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("data_report", overrides=["corpus=iemocap"])
    with pytest.raises(ValueError, match=r"corpus=iemocap needs corpus.root=PATH"):
        load_corpus(cfg.corpus)


def test_data_report_from_a_csv_corpus(csv_corpus: Path, capsys: pytest.CaptureFixture) -> None:
    assert report_main(["corpus=manifest", f"corpus.path={csv_corpus}", "labels=iemocap4"]) == 0
    out = capsys.readouterr().out
    assert "corpus=manifest labels=iemocap4: 3 utterances, 2 speakers, 2 groups" in out
    assert "without transcript: 3 of 3 utterances" in out  # the CSV has no transcript column
    assert "skipped: none" in out
    # the fixture has no happy utterance: a zero row and a line saying what training would do
    assert [line.split() for line in out.splitlines() if line.startswith("hap")] == [["hap", "0", "0", "0"]]
    assert out.rstrip().endswith("no utterance for class(es) hap: train.py stops at them unless labels.empty_classes=drop")


@needs_emodb
def test_data_report_on_emodb(capsys: pytest.CaptureFixture) -> None:
    assert report_main(["corpus=emodb", f"corpus.root={EMODB}", "labels=iemocap4"]) == 0
    out = capsys.readouterr().out
    assert "corpus=emodb labels=iemocap4: 339 utterances, 10 speakers" in out
    assert "label bor not in iemocap4" in out and "label dis not in iemocap4" in out
