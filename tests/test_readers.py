"""The corpus readers (RAVDESS, CREMA-D, MSP-Podcast, MSP-IMPROV, TESS, SAVEE, audformat) on fixture
trees written from each corpus's documented naming: tiny 16 kHz tones, plus the misnamed, unreadable
and left-out files each reader must skip and report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser.corpora import audformat as audformat_reader
from ser.corpora import crema_d, load_corpus, msp_improv, msp_podcast, ravdess, savee, tess
from ser.corpora.__main__ import main as report_main
from ser.corpora.manifest_schema import MANIFEST_COLUMNS

SR = 16000


def write_wav(path: Path, seconds: float = 0.3, freq: float = 220.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.1 * np.sin(2 * np.pi * freq * t), SR, subtype="PCM_16")
    return path


def write_garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    return path


def write_truncated(path: Path) -> Path:
    write_wav(path, seconds=1.0)
    path.write_bytes(path.read_bytes()[: 44 + 500 * 2])  # as by an interrupted copy
    return path


def skipped(df: pd.DataFrame) -> dict[str, str]:
    """file name (or item) -> reason of what the reader skipped."""
    return {Path(item).name: reason for item, reason in df.attrs["skipped"]}


def one_line_error(excinfo: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------------------------------- RAVDESS


def ravdess_tree(root: Path, actors: tuple[int, ...] = (1, 2, 3, 4)) -> Path:
    """Each actor: the eight emotions in speech (strong intensity for all but neutral, statement 1,
    repetition 1), a song file; actor 2 also a misnamed file and an unreadable wav."""
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        for emo in range(1, 9):
            intensity = 1 if emo == 1 else 2
            write_wav(folder / f"03-01-{emo:02d}-{intensity:02d}-01-01-{actor:02d}.wav", freq=150 + 60 * emo)
        write_wav(folder / f"03-02-03-01-02-01-{actor:02d}.wav")  # song, happy
    write_wav(root / "Actor_02" / "03-01-09-01-01-01-02.wav")  # no emotion 09
    write_garbage(root / "Actor_02" / "03-01-05-01-02-02-02.wav")
    return root


def test_ravdess_reads_speech_with_gender_intensity_and_statement(tmp_path: Path) -> None:
    df = ravdess.read(ravdess_tree(tmp_path / "ravdess"))
    assert list(df.columns) == MANIFEST_COLUMNS + ["intensity"]
    assert len(df) == 4 * 8
    row = df.set_index("utterance_id").loc["03-01-05-02-01-01-03"]
    assert (row["speaker"], row["group"], row["gender"], row["label"]) == ("ravdess03", "ravdess03", "M", "ang")
    assert row["intensity"] == "strong" and row["transcript"] == "Kids are talking by the door."
    assert row["duration"] == pytest.approx(0.3)
    assert set(df.loc[df["speaker"] == "ravdess02", "gender"]) == {"F"}  # even actors are female
    assert sorted(df["label"].unique()) == sorted(["neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"])
    assert set(df.loc[df["label"] == "neu", "intensity"]) == {"normal"}
    assert skipped(df) == {
        **{f"03-02-03-01-02-01-{a:02d}.wav": "not in subset speech" for a in (1, 2, 3, 4)},
        "03-01-09-01-01-01-02.wav": "unexpected_file_name",
        "03-01-05-01-02-02-02.wav": "unreadable_wav",
    }


def test_ravdess_song_files_only_when_asked(tmp_path: Path) -> None:
    root = ravdess_tree(tmp_path / "ravdess")
    assert len(ravdess.read(root, subset="all")) == 4 * 9
    song = ravdess.read(root, subset="song")
    assert list(song["utterance_id"]) == [f"03-02-03-01-02-01-{a:02d}" for a in (1, 2, 3, 4)]
    assert song["transcript"].tolist() == ["Dogs are sitting by the door."] * 4
    with pytest.raises(ValueError, match=r"corpus.subset='both' is not a choice: use corpus.subset=speech, song or all"):
        ravdess.read(root, subset="both")


def test_ravdess_wrong_root_is_one_line_naming_corpus_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        ravdess.read(tmp_path / "missing")
    one_line_error(err, f"RAVDESS folder {tmp_path / 'missing'} does not exist", "corpus.root", "Actor_01..Actor_24")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        ravdess.read(tmp_path / "empty")
    one_line_error(err, f"no RAVDESS audio files (MM-VC-EE-II-SS-RR-AA.wav) under {tmp_path / 'empty'}", "corpus.root")


def test_ravdess_data_report_lists_bad_files_and_counts_song_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = ravdess_tree(tmp_path / "ravdess")
    assert report_main(["corpus=ravdess", f"corpus.root={root}", "labels=ravdess8"]) == 0
    out = capsys.readouterr().out
    assert "corpus=ravdess subset=speech labels=ravdess8: 32 utterances, 4 speakers, 4 groups" in out
    lines = out.splitlines()
    assert "       4  not in subset speech" in lines
    assert not any("03-02-03" in line for line in lines)  # a choice: counted, not listed
    at = lines.index("       1  unreadable_wav")
    assert lines[at + 1] == f"          {root / 'Actor_02' / '03-01-05-01-02-02-02.wav'}"


def test_train_smoke_on_the_ravdess_fixture(tmp_path: Path, train_run) -> None:
    """The reader end to end: model=svm on LOSO fold 1 holds out actor 01 and writes the run artifacts."""
    root = ravdess_tree(tmp_path / "ravdess")
    out = tmp_path / "run"
    metrics = train_run(
        ["model=svm", "corpus=ravdess", f"corpus.root={root}", "labels=ravdess8", "split=loso", "split.fold=1",
         "jobs=1", f"paths.cache_dir={tmp_path / 'cache'}"],
        out,
    )  # fmt: skip
    assert metrics["test_groups"] == ["ravdess01"] and metrics["test/n"] == 8
    assert 0.0 <= metrics["test/ua"] <= 1.0
    predictions = pd.read_csv(out / "predictions.csv")
    assert sorted(predictions["utterance_id"]) == [f"03-01-{e:02d}-{1 if e == 1 else 2:02d}-01-01-01" for e in range(1, 9)]
    assert json.loads((out / "metrics.json").read_text())["corpus_subset"] == "speech"


# ---------------------------------------------------------------------------------------- CREMA-D


def crema_tree(root: Path, demographics: bool = True) -> Path:
    audio = root / "AudioWAV"
    for actor in (1001, 1002, 1091):
        for sent, emo, level in (("DFA", "ANG", "HI"), ("IEO", "NEU", "XX"), ("TAI", "SAD", "LO"), ("MTI", "HAP", "MD")):
            write_wav(audio / f"{actor}_{sent}_{emo}_{level}.wav")
    write_wav(audio / "1001_DFA_ANG_ZZ.wav")  # no intensity ZZ
    write_truncated(audio / "1002_WSI_DIS_XX.wav")
    if demographics:
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
        )
    return root


def test_crema_d_reads_labels_intensity_transcripts_and_gender(tmp_path: Path) -> None:
    df = crema_d.read(crema_tree(tmp_path / "crema"))
    assert len(df) == 12 and list(df.columns) == MANIFEST_COLUMNS + ["intensity"]
    row = df.set_index("utterance_id").loc["1001_DFA_ANG_HI"]
    assert (row["speaker"], row["gender"], row["label"], row["intensity"]) == ("cremad1001", "M", "ang", "high")
    assert row["transcript"] == "Don't forget a jacket."
    genders = df.groupby("speaker")["gender"].first().to_dict()
    assert genders == {"cremad1001": "M", "cremad1002": "F", "cremad1091": ""}  # 1091 not in the table
    assert set(df["intensity"]) == {"high", "unspecified", "low", "medium"}
    assert skipped(df) == {"1001_DFA_ANG_ZZ.wav": "unexpected_file_name", "1002_WSI_DIS_XX.wav": "truncated_wav"}


def test_crema_d_without_demographics_leaves_gender_empty(tmp_path: Path) -> None:
    root = crema_tree(tmp_path / "crema", demographics=False)
    df = crema_d.read(root / "AudioWAV")  # the AudioWAV folder itself works too
    assert len(df) == 12 and set(df["gender"]) == {""}


def test_crema_d_wrong_root_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        crema_d.read(tmp_path / "nope")
    one_line_error(err, "CREMA-D folder", "does not exist", "corpus.root", "AudioWAV/")
    write_wav(tmp_path / "other" / "clip.wav")
    with pytest.raises(FileNotFoundError) as err:
        crema_d.read(tmp_path / "other")
    one_line_error(err, "no CREMA-D audio files (AAAA_SSS_EEE_II.wav)", "corpus.root")


# ------------------------------------------------------------------------------------ MSP-Podcast

PODCAST_ROWS = [
    # FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set
    ("MSP-PODCAST_0001_0001.wav", "A", 5.2, 2.0, 5.8, "127", "Male", "Train"),
    ("MSP-PODCAST_0001_0002.wav", "H", 4.0, 6.1, 4.4, "127", "Male", "Train"),
    ("MSP-PODCAST_0002_0001.wav", "N", 4.0, 4.0, 4.0, "Unknown", "Unknown", "Train"),
    ("MSP-PODCAST_0002_0002.wav", "S", 2.4, 2.2, 3.0, "Unknown", "Unknown", "Development"),
    ("MSP-PODCAST_0003_0001.wav", "X", 3.8, 3.6, 4.2, "310", "Female", "Development"),
    ("MSP-PODCAST_0004_0001.wav", "C", 4.5, 3.0, 5.0, "12", "Female", "Test1"),
    ("MSP-PODCAST_0005_0001.wav", "U", 5.0, 5.0, 4.0, "45", "Male", "Test2"),
    ("MSP-PODCAST_0006_0001.wav", "F", 5.5, 2.5, 3.0, "46", "Female", "Test1"),  # no audio file
    ("MSP-PODCAST_0007_0001.wav", "Q", 4.0, 4.0, 4.0, "47", "Female", "Train"),  # no class Q
]


def podcast_tree(root: Path) -> Path:
    (root / "Labels").mkdir(parents=True)
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    for name, *rest in PODCAST_ROWS:
        lines.append(",".join(str(v) for v in (name, *rest)))
        if name != "MSP-PODCAST_0006_0001.wav":
            write_wav(root / "Audios" / name)
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n")
    (root / "Transcripts").mkdir()
    (root / "Transcripts" / "MSP-PODCAST_0001_0001.txt").write_text("get out of here\n")
    return root


def test_msp_podcast_reads_partitions_dimensions_and_unknown_speakers(tmp_path: Path) -> None:
    df = msp_podcast.read(podcast_tree(tmp_path / "podcast")).set_index("utterance_id")
    assert list(df.reset_index().columns) == MANIFEST_COLUMNS + ["partition"]
    assert list(df.index) == ["MSP-PODCAST_0001_0001", "MSP-PODCAST_0001_0002", "MSP-PODCAST_0002_0001",
                              "MSP-PODCAST_0002_0002", "MSP-PODCAST_0003_0001", "MSP-PODCAST_0004_0001"]  # fmt: skip
    assert df["partition"].tolist() == ["train", "train", "train", "val", "val", "test"]
    assert df["label"].tolist() == ["ang", "hap", "neu", "sad", "xxx", "con"]
    first = df.loc["MSP-PODCAST_0001_0001"]
    assert (first["arousal"], first["valence"], first["dominance"]) == (5.2, 2.0, 5.8)  # the 1-7 scale as is
    assert (first["speaker"], first["gender"], first["transcript"]) == ("msppodcast127", "M", "get out of here")
    unknown = df.loc[["MSP-PODCAST_0002_0001", "MSP-PODCAST_0002_0002"]]
    assert set(unknown["speaker"]) == set(unknown["group"]) == {"msppodcast_unknown"} and set(unknown["gender"]) == {""}
    reasons = dict(msp_podcast.read(tmp_path / "podcast").attrs["skipped"])
    labels = tmp_path / "podcast" / "Labels" / "labels_consensus.csv"
    assert reasons == {
        "MSP-PODCAST_0005_0001.wav": "not chosen: test set Test2 (corpus.test_set=Test1)",
        str(tmp_path / "podcast" / "Audios" / "MSP-PODCAST_0006_0001.wav"): "missing_wav",
        f"{labels} row 10: MSP-PODCAST_0007_0001.wav": "unknown_EmoClass",
    }


def test_msp_podcast_test_set_choice(tmp_path: Path) -> None:
    root = podcast_tree(tmp_path / "podcast")
    test2 = msp_podcast.read(root, test_set="Test2")
    assert test2.loc[test2["partition"] == "test", "utterance_id"].tolist() == ["MSP-PODCAST_0005_0001"]
    every = msp_podcast.read(root, test_set="all")
    assert every.loc[every["partition"] == "test", "utterance_id"].tolist() == ["MSP-PODCAST_0004_0001", "MSP-PODCAST_0005_0001"]
    with pytest.raises(ValueError, match=r"corpus.test_set='Test4' is not a choice: use corpus.test_set=Test1, Test2, Test3 or all"):
        msp_podcast.read(root, test_set="Test4")


def test_msp_podcast_report_counts_the_other_test_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = podcast_tree(tmp_path / "podcast")
    assert report_main(["corpus=msp_podcast", f"corpus.root={root}", "labels=all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "       1  not chosen: test set Test2 (corpus.test_set=Test1)" in lines
    assert not any("MSP-PODCAST_0005_0001" in line for line in lines)
    at = lines.index("       1  missing_wav")
    assert lines[at + 1].endswith("MSP-PODCAST_0006_0001.wav")


def test_msp_podcast_wrong_root_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        msp_podcast.read(tmp_path / "nope")
    one_line_error(err, "MSP-Podcast folder", "corpus.root", "Labels/labels_consensus.csv and Audios/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        msp_podcast.read(tmp_path / "empty")
    one_line_error(err, f"no Labels/labels_consensus.csv under {tmp_path / 'empty'}", "corpus.root")


# ------------------------------------------------------------------------------------- MSP-IMPROV

IMPROV_CLIPS = [
    # clip, consensus class
    ("S01A-F01-P-FM01", "A"),
    ("S01A-M01-R-MF02", "H"),
    ("S02H-F02-S-FM03", "N"),
    ("S03S-M02-T-MF01", "S"),
    ("S04N-F03-I-FM02", "O"),
    ("S05A-M03-P-MF04", "N"),  # no audio
]


def improv_tree(root: Path, label_name: str = "Evaluation.txt", audio_dir: str = "") -> Path:
    lines = []
    for clip, emo in IMPROV_CLIPS:
        lines += [
            f"UTD-IMPROV-{clip}.avi; {emo}; A:2.666667; V:3.000000; D:2.333333 ; N:3.500000;",
            "rater01; Angry; Frustrated; A:3.0; V:2.0; D:3.0; N:3.0;",
            "rater02; Neutral; ; A:2.0; V:4.0; D:2.0; N:4.0;",
            "",
        ]
        session = f"session{int(clip[6:8])}"
        if clip != "S05A-M03-P-MF04":
            write_wav(root / audio_dir / session / clip[:4] / clip.split("-")[2] / f"MSP-IMPROV-{clip}.wav")
    root.mkdir(parents=True, exist_ok=True)
    (root / label_name).write_text("\n".join(lines) + "\n")
    return root


def test_msp_improv_reads_consensus_labels_speakers_and_sessions(tmp_path: Path) -> None:
    df = msp_improv.read(improv_tree(tmp_path / "improv")).set_index("utterance_id")
    assert len(df) == 5
    row = df.loc["MSP-IMPROV-S01A-M01-R-MF02"]
    assert (row["speaker"], row["group"], row["gender"], row["label"]) == ("mspimprovM01", "mspimprovSes01", "M", "hap")
    assert (row["arousal"], row["valence"], row["dominance"]) == pytest.approx((2.666667, 3.0, 2.333333))
    assert df.loc["MSP-IMPROV-S01A-F01-P-FM01", "group"] == "mspimprovSes01"  # the session pairs both actors
    assert df["label"].tolist() == ["ang", "hap", "neu", "sad", "oth"]
    assert df["group"].nunique() == 3 and df["speaker"].nunique() == 5
    assert msp_improv.read(tmp_path / "improv").attrs["skipped"] == [("MSP-IMPROV-S05A-M03-P-MF04", "missing_wav")]


def test_msp_improv_accepts_the_evalution_spelling_and_an_audio_folder(tmp_path: Path) -> None:
    root = improv_tree(tmp_path / "improv", label_name="Evalution.txt", audio_dir="Audio")
    assert len(msp_improv.read(root)) == 5
    assert len(msp_improv.read(tmp_path)) == 5  # the release one folder down


def test_msp_improv_wrong_root_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        msp_improv.read(tmp_path / "nope")
    one_line_error(err, "MSP-IMPROV folder", "does not exist", "corpus.root", "Evaluation.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        msp_improv.read(tmp_path / "empty")
    one_line_error(err, f"no Evaluation.txt under {tmp_path / 'empty'}", "corpus.root")


# ------------------------------------------------------------------------------------ TESS, SAVEE


def test_tess_reads_both_speakers_and_skips_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "TESS Toronto emotional speech set data"
    for spk, folder, emo in (("OAF", "OAF_angry", "angry"), ("OAF", "OAF_Fear", "fear"), ("YAF", "YAF_pleasant_surprised", "ps"),
                             ("YAF", "YAF_sad", "sad"), ("YAF", "YAF_neutral", "neutral")):  # fmt: skip
        for word in ("back", "bar"):
            write_wav(root / folder / f"{spk}_{word}_{emo}.wav")
    write_wav(root / "TESS Toronto emotional speech set data" / "OAF_angry" / "OAF_back_angry.wav")  # a second copy
    write_wav(root / "YAF_sad" / "YAF_bar_sad (1).wav")
    write_garbage(root / "YAF_sad" / "YAF_dog_sad.wav")
    df = tess.read(root)
    assert len(df) == 10 and set(df["gender"]) == {"F"}
    assert df.groupby("speaker").size().to_dict() == {"tessOAF": 4, "tessYAF": 6}
    row = df.set_index("utterance_id").loc["YAF_back_ps"]
    assert (row["label"], row["transcript"]) == ("sur", "Say the word back.")
    assert sorted(df["label"].unique()) == ["ang", "fea", "neu", "sad", "sur"]
    assert skipped(df) == {"OAF_back_angry.wav": "duplicate_file", "YAF_bar_sad (1).wav": "unexpected_file_name",
                           "YAF_dog_sad.wav": "unreadable_wav"}  # fmt: skip
    with pytest.raises(FileNotFoundError) as err:
        tess.read(tmp_path / "nope")
    one_line_error(err, "TESS folder", "corpus.root", "OAF_*/ and YAF_*/")


@pytest.mark.parametrize("layout", ["flat", "folders"])
def test_savee_reads_both_layouts(tmp_path: Path, layout: str) -> None:
    for spk in ("DC", "JE", "JK", "KL"):
        for code in ("a01", "d02", "f03", "h04", "n05", "n30", "sa01", "su15"):
            write_wav(tmp_path / "ALL" / f"{spk}_{code}.wav" if layout == "flat" else tmp_path / "AudioData" / spk / f"{code}.wav")
    bad = tmp_path / ("ALL/XX_a01.wav" if layout == "flat" else "AudioData/DC/x01.wav")
    write_wav(bad)
    write_truncated(tmp_path / ("ALL/KL_h05.wav" if layout == "flat" else "AudioData/KL/h05.wav"))
    df = savee.read(tmp_path)
    assert len(df) == 32 and set(df["gender"]) == {"M"} and df["speaker"].nunique() == 4
    row = df.set_index("utterance_id").loc["JK_sa01"]
    assert (row["speaker"], row["group"], row["label"]) == ("saveeJK", "saveeJK", "sad")
    assert df.groupby("label").size().to_dict() == {"ang": 4, "dis": 4, "fea": 4, "hap": 4, "neu": 8, "sad": 4, "sur": 4}
    assert skipped(df) == {bad.name: "unexpected_file_name", ("KL_h05.wav" if layout == "flat" else "h05.wav"): "truncated_wav"}


def test_savee_wrong_root_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        savee.read(tmp_path / "nope")
    one_line_error(err, "SAVEE folder", "corpus.root", "AudioData/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        savee.read(tmp_path / "empty")
    one_line_error(err, "no SAVEE audio files", "corpus.root")


# -------------------------------------------------------------------------------------- audformat


def audformat_db(root: Path, speakers: bool = True, segmented: bool = False, splits: bool = False) -> Path:
    """A small audformat database: 8 files of two speakers in two folders, an `emotion` table
    (filewise, or segmented into two segments per file), a `files` table with the speaker, whose
    scheme carries the gender; with `splits` the labels in `emotion.train` / `emotion.test` instead."""
    import audformat

    db = audformat.Database("tinydb", source="tests", usage="unrestricted")
    files = [f"audio/{spk}/{n:02d}.wav" for spk in ("s1", "s2") for n in range(4)]
    for f in files:
        write_wav(root / f, seconds=0.6)
    write_garbage(root / "audio" / "s2" / "bad.wav")
    files.append("audio/s2/bad.wav")
    labels = ["anger", "happiness", "neutral", "sadness", "anger", "happiness", None, "boredom", "anger"]
    db.schemes["emotion"] = audformat.Scheme(labels=["anger", "happiness", "neutral", "sadness", "boredom"])
    db.schemes["arousal"] = audformat.Scheme("float", minimum=0, maximum=1)
    if speakers:
        db.schemes["speaker"] = audformat.Scheme(labels={"s1": {"gender": "female"}, "s2": {"gender": "male"}})
        db["files"] = audformat.Table(audformat.filewise_index(files))
        db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
        db["files"]["speaker"].set([f.split("/")[1] for f in files])
    if segmented:
        index = audformat.segmented_index(
            [f for f in files for _ in (0, 1)], starts=[s for _ in files for s in (0.0, 0.3)], ends=[e for _ in files for e in (0.3, None)]
        )
        db["emotion"] = audformat.Table(index)
        db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion")
        db["emotion"]["emotion"].set([lab for lab in labels for _ in (0, 1)])
        if not speakers:  # the speaker in the segmented table itself, each segment its own
            db["emotion"]["talker"] = audformat.Column()
            db["emotion"]["talker"].set([f"{f.split('/')[1]}{part}" for f in files for part in "ab"])
    elif splits:
        db.splits["train"] = audformat.Split("train")
        db.splits["test"] = audformat.Split("test")
        for name, part in (("train", slice(0, 4)), ("test", slice(4, None))):
            db[f"emotion.{name}"] = audformat.Table(audformat.filewise_index(files[part]), split_id=name)
            db[f"emotion.{name}"]["emotion"] = audformat.Column(scheme_id="emotion")
            db[f"emotion.{name}"]["emotion"].set(labels[part])
    else:
        db["emotion"] = audformat.Table(audformat.filewise_index(files))
        db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion")
        db["emotion"]["emotion"].set(labels)
        db["emotion"]["arousal"] = audformat.Column(scheme_id="arousal")
        db["emotion"]["arousal"].set([0.1 * i for i in range(len(files))])
    db.save(str(root))
    return root


def test_audformat_reads_labels_speakers_and_genders(tmp_path: Path) -> None:
    root = audformat_db(tmp_path / "db")
    df = audformat_reader.read(root, table="emotion", column="emotion", arousal="arousal")
    assert list(df.columns) == MANIFEST_COLUMNS
    assert len(df) == 7
    row = df.set_index("utterance_id").loc["audio/s1/00"]
    assert (row["speaker"], row["gender"], row["label"], row["offset"]) == ("tinydb_s1", "F", "ang", 0.0)
    assert row["duration"] == pytest.approx(0.6) and row["path"] == str((root / "audio/s1/00.wav").resolve())
    assert df.set_index("utterance_id").loc["audio/s1/03", "arousal"] == pytest.approx(0.3)
    assert df.groupby("speaker")["gender"].first().to_dict() == {"tinydb_s1": "F", "tinydb_s2": "M"}
    assert sorted(df["label"].unique()) == ["ang", "bor", "hap", "neu", "sad"]  # short names
    assert dict(df.attrs["skipped"]) == {"audio/s2/02.wav": "no_label", "audio/s2/bad.wav": "unreadable_audio"}
    kept = audformat_reader.read(root, short_labels=False)
    assert "anger" in set(kept["label"])


def test_audformat_segments_become_offset_and_duration(tmp_path: Path) -> None:
    df = audformat_reader.read(audformat_db(tmp_path / "db", segmented=True)).set_index("utterance_id")
    assert len(df) == 14
    first, second = df.loc["audio/s1/00@0-0.3"], df.loc["audio/s1/00@0.3-0.6"]
    assert (first["offset"], first["duration"]) == pytest.approx((0.0, 0.3))
    assert (second["offset"], second["duration"]) == pytest.approx((0.3, 0.3))  # an end of NaT: to the end
    assert (first["speaker"], first["gender"]) == ("tinydb_s1", "F")


def test_audformat_speaker_column_of_a_segmented_table(tmp_path: Path) -> None:
    root = audformat_db(tmp_path / "db", speakers=False, segmented=True)
    df = audformat_reader.read(root, speaker="talker").set_index("utterance_id")
    assert df.loc["audio/s2/01@0-0.3", "speaker"] == "tinydb_s2a" and df.loc["audio/s2/01@0.3-0.6", "speaker"] == "tinydb_s2b"
    assert df["speaker"].nunique() == 4
    with pytest.raises(ValueError) as err:
        audformat_reader.read(root, speaker="spk")
    one_line_error(err, "corpus.speaker=spk: neither the label table(s) nor a filewise table of", "has that column")


def test_audformat_split_tables_give_the_partition(tmp_path: Path) -> None:
    root = audformat_db(tmp_path / "db", splits=True)
    df = audformat_reader.read(root, table=["emotion.train", "emotion.test"])
    assert list(df.columns) == MANIFEST_COLUMNS + ["partition"]
    assert df.groupby("partition").size().to_dict() == {"test": 3, "train": 4}


def test_audformat_without_speakers_falls_back_to_folders_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = audformat_db(tmp_path / "db", speakers=False)
    with caplog.at_level(logging.WARNING, logger="ser.corpora.audformat"):
        df = audformat_reader.read(root)
    assert sorted(df["speaker"].unique()) == ["tinydb_audio/s1", "tinydb_audio/s2"] and set(df["gender"]) == {""}
    assert "parent folder taken as its speaker" in caplog.text


def test_audformat_wrong_root_table_or_column_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        audformat_reader.read(tmp_path / "nope")
    one_line_error(err, "audformat folder", "corpus.root", "db.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        audformat_reader.read(tmp_path / "empty")
    one_line_error(err, f"no db.yaml in {tmp_path / 'empty'}", "corpus.root")
    root = audformat_db(tmp_path / "db")
    with pytest.raises(ValueError) as err:
        audformat_reader.read(root, table="emo")
    one_line_error(err, "has no table 'emo'", "corpus.table", "emotion", "files")
    with pytest.raises(ValueError) as err:
        audformat_reader.read(root, column="label")
    one_line_error(err, "has no column 'label'", "corpus.column", "arousal")


def test_audformat_through_its_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = audformat_db(tmp_path / "db")
    assert report_main(["corpus=audformat", f"corpus.root={root}", "corpus.table=emotion", "corpus.column=emotion", "labels=all"]) == 0
    out = capsys.readouterr().out
    assert "corpus=audformat labels=all: 7 utterances, 2 speakers" in out
    assert "audio/s2/bad.wav" in out


# ---------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("corpus", "tree", "n"),
    [("ravdess", ravdess_tree, 32), ("crema_d", crema_tree, 12), ("msp_podcast", podcast_tree, 6), ("msp_improv", improv_tree, 5)],
)
def test_each_corpus_config_reads_its_fixture(compose_config, tmp_path: Path, corpus: str, tree, n: int) -> None:
    root = tree(tmp_path / corpus)
    cfg = compose_config([f"corpus={corpus}", f"corpus.root={root}"], config_name="data_report")
    assert len(load_corpus(cfg.corpus)) == n


@pytest.mark.parametrize("corpus", ["ravdess", "crema_d", "msp_podcast", "msp_improv", "tess", "savee", "audformat"])
def test_unset_root_of_each_corpus_is_one_line(compose_config, corpus: str) -> None:
    cfg = compose_config([f"corpus={corpus}"], config_name="data_report")
    with pytest.raises(ValueError, match=rf"^corpus={corpus} needs corpus.root=PATH on the command line$"):
        load_corpus(cfg.corpus)


def test_audformat_files_of_one_folder_without_speakers_are_one_speaker(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import audformat

    db = audformat.Database("flat")
    files = [f"wav/{n}.wav" for n in range(3)]
    for f in files:
        write_wav(tmp_path / f)
    db.schemes["emotion"] = audformat.Scheme(labels=["anger", "neutral"])
    db["emotion"] = audformat.Table(audformat.filewise_index(files))
    db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion")
    db["emotion"]["emotion"].set(["anger", "neutral", "anger"])
    db.save(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="ser.corpora.audformat"):
        df = audformat_reader.read(tmp_path)
    assert set(df["speaker"]) == {"flat"} and len(df) == 3
    assert "the whole database is one speaker; use split=random" in caplog.text


def test_data_report_of_a_corpus_with_many_groups_gives_class_totals() -> None:
    """MSP-Podcast has over a thousand speakers: a column each would be unreadable."""
    from ser.corpora.report import MAX_GROUP_COLUMNS, data_report

    n = MAX_GROUP_COLUMNS + 1
    labelled = pd.DataFrame({"class_name": ["ang", "neu", "neu"] * n, "group": [f"s{i}" for i in range(3 * n)],
                             "speaker": [f"s{i}" for i in range(3 * n)], "duration": 1.0, "transcript": ""})  # fmt: skip
    lines = data_report(labelled, ["neu", "ang"], "msp_podcast", "all").splitlines()
    assert [line.split() for line in lines[5:8]] == [["neu", str(2 * n)], ["ang", str(n)], ["total", str(3 * n)]]
    assert f"({3 * n} groups: counts per group left out)" in lines
    few = data_report(labelled.iloc[:6], ["neu", "ang"], "msp_podcast", "all").splitlines()
    assert few[3].split()[:3] == ["group", "s0", "s1"] and few[3].split()[-1] == "total"


@pytest.mark.parametrize(
    ("corpus", "holds"),
    [("ravdess", "Actor_01..Actor_24"), ("crema_d", "AudioWAV/"), ("msp_podcast", "Labels/labels_consensus.csv"),
     ("msp_improv", "Evaluation.txt"), ("tess", "OAF_*/"), ("savee", "AudioData/"), ("audformat", "db.yaml")],
)  # fmt: skip
def test_data_report_on_a_wrong_root_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, corpus: str, holds: str) -> None:
    assert report_main([f"corpus={corpus}", f"corpus.root={tmp_path / 'wrong'}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
    assert f"{tmp_path / 'wrong'} does not exist: set corpus.root to the folder holding" in lines[0] and holds in lines[0]


EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
LONG_NAMES = {"ang": "anger", "bor": "boredom", "dis": "disgust", "fea": "fear", "hap": "happiness", "neu": "neutral", "sad": "sadness"}


@pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"EmoDB not found at {EMODB}")
def test_emodb_as_an_audformat_database_reads_like_the_emodb_reader(tmp_path: Path) -> None:
    """Real audio: EmoDB described in audformat (its wav/ linked in, long English labels, a speaker
    scheme carrying the gender) gives the EmoDB reader's manifest."""
    import audformat

    from ser.corpora import emodb

    reference = emodb.read(EMODB).set_index("utterance_id")
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "wav").symlink_to((EMODB / "wav").resolve())
    files = [f"wav/{utt}.wav" for utt in reference.index]
    speakers = reference["speaker"].str.removeprefix("emodb").tolist()
    db = audformat.Database("emodb")
    db.schemes["emotion"] = audformat.Scheme(labels=sorted(LONG_NAMES.values()))
    genders = reference.groupby("speaker")["gender"].first()
    db.schemes["speaker"] = audformat.Scheme(labels={s.removeprefix("emodb"): {"gender": "female" if g == "F" else "male"} for s, g in genders.items()})
    db["files"] = audformat.Table(audformat.filewise_index(files))
    db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
    db["files"]["speaker"].set(speakers)
    db["emotion"] = audformat.Table(audformat.filewise_index(files))
    db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion")
    db["emotion"]["emotion"].set([LONG_NAMES[lab] for lab in reference["label"]])
    db.save(str(tmp_path / "db"))
    df = audformat_reader.read(tmp_path / "db").set_index("utterance_id")
    assert len(df) == 535 and df["speaker"].nunique() == 10
    df.index = df.index.str.removeprefix("wav/")
    df = df.loc[reference.index]
    assert (df["label"] == reference["label"]).all()
    assert (df["gender"] == reference["gender"]).all()
    assert (df["speaker"].str.removeprefix("emodb_") == reference["speaker"].str.removeprefix("emodb")).all()
    np.testing.assert_allclose(df["duration"], reference["duration"])
