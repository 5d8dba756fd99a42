"""IEMOCAP reader on fixture trees written in the release's exact layout, quirks included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.corpora import iemocap

SR = 16000


def write_wav(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.1 * np.sin(2 * np.pi * 200 * t), SR, subtype="PCM_16")


def write_session(root: Path, n: int, dialogs: dict[str, list[tuple[str, str]]]) -> None:
    """Write one session: dialogs maps dialog name -> [(utterance suffix like F000, label)]."""
    session = root / f"Session{n}"
    emo = session / "dialog" / "EmoEvaluation"
    trans = session / "dialog" / "transcriptions"
    emo.mkdir(parents=True)
    trans.mkdir(parents=True)
    for dialog, utts in dialogs.items():
        label_lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        text_lines = []
        for i, (suffix, label) in enumerate(utts):
            utt = f"{dialog}_{suffix}"
            start, end = 1.0 + 2 * i, 1.5 + 2 * i
            label_lines += [
                f"[{start:.4f} - {end:.4f}]\t{utt}\t{label}\t[2.5000, 3.0000, 3.5000]",
                "C-E1:\tNeutral state;\t()",
                "A-E1:\tval 3; act 2; dom  2;\t()",
                "",
            ]
            text_lines.append(f"{utt} [{start:08.4f}-{end:08.4f}]: words of {utt}.")
            write_wav(session / "sentences" / "wav" / dialog / f"{utt}.wav")
        text_lines.append(f"{dialog}_MXX0 [000.0000-001.0000]: [LAUGHTER]")  # not an utterance
        text_lines.append("M: this line is no utterance either")
        (emo / f"{dialog}.txt").write_text("\n".join(label_lines) + "\n")
        (trans / f"{dialog}.txt").write_text("\n".join(text_lines) + "\n")
        # AppleDouble twins (binary, not UTF-8) beside the real files
        (emo / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\xff\xfe\x80binary")
        (trans / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\xff\xfe\x80binary")
    # sub-folders holding .txt files of other formats
    for sub in ("Categorical", "Attribute", "Self-evaluation"):
        (emo / sub).mkdir()
        (emo / sub / f"Ses0{n}F_impro01_e1_cat.txt").write_text("Ses01F_impro01_F000 :Neutral state; ()\n")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    root = tmp_path / "IEMOCAP_full_release"
    for n in (1, 2):
        write_session(
            root,
            n,
            {
                f"Ses0{n}F_impro01": [("F000", "neu"), ("M000", "exc"), ("F001", "xxx")],
                f"Ses0{n}M_impro05a": [("M000", "ang"), ("F000", "sad")],
                f"Ses0{n}M_script01_1b": [("F000", "hap"), ("M001", "fru")],
            },
        )
    return root


def test_reads_every_labelled_utterance_with_speaker_and_transcript(release: Path) -> None:
    df = iemocap.read(release, sessions=[1, 2])
    assert len(df) == 14
    row = df.set_index("utterance_id").loc["Ses01F_impro01_M000"]
    assert row["speaker"] == "Ses01_M"  # the letter before the number, not the one after Ses01
    assert row["group"] == "Ses01" and row["gender"] == "M" and row["label"] == "exc"
    assert row["transcript"] == "words of Ses01F_impro01_M000."
    assert (row["valence"], row["arousal"], row["dominance"]) == (2.5, 3.0, 3.5)
    assert row["duration"] == pytest.approx(0.5)
    assert Path(row["path"]).is_file()
    assert "Ses02M_script01_1b_F000" in set(df["utterance_id"])  # letter-suffixed dialogs
    assert "Ses01M_impro05a_M000" in set(df["utterance_id"])
    assert sorted(df["speaker"].unique()) == ["Ses01_F", "Ses01_M", "Ses02_F", "Ses02_M"]
    assert df.attrs["skipped"] == []


def test_root_one_level_off_is_found(release: Path) -> None:
    doubled = release.parent / "outer"
    release.rename(release.parent / "inner")
    doubled.mkdir()
    (release.parent / "inner").rename(doubled / "IEMOCAP_full_release")
    assert len(iemocap.read(doubled, sessions=[1, 2])) == 14


def test_missing_session_names_its_path(release: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Session3"):
        iemocap.read(release, sessions=[1, 2, 3])


def test_missing_root_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus.root"):
        iemocap.read(tmp_path / "nowhere")


def test_missing_wav_is_skipped_and_reported(release: Path, caplog: pytest.LogCaptureFixture) -> None:
    wav = release / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    wav.unlink()
    df = iemocap.read(release, sessions=[1, 2])
    assert len(df) == 13
    assert df.attrs["skipped"] == [(str(wav), "missing_wav")]
    assert str(wav) in caplog.text


def test_unreadable_and_truncated_wavs_are_skipped_with_their_reasons(release: Path) -> None:
    wavs = release / "Session1/sentences/wav/Ses01F_impro01"
    garbage, cut = wavs / "Ses01F_impro01_F000.wav", wavs / "Ses01F_impro01_M000.wav"
    garbage.write_bytes(b"not audio at all" * 50)
    cut.write_bytes(cut.read_bytes()[:200])  # the header still promises the whole clip
    df = iemocap.read(release, sessions=[1, 2])
    assert len(df) == 12
    assert df.attrs["skipped"] == [(str(garbage), "unreadable_wav"), (str(cut), "truncated_wav")]


def test_unreadable_label_file_is_skipped_and_reported(release: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = release / "Session2/dialog/EmoEvaluation/Ses02M_impro05a.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    df = iemocap.read(release, sessions=[1, 2])
    assert len(df) == 12
    assert (str(bad), "unreadable_label_file") in df.attrs["skipped"]
    assert str(bad) in caplog.text


def test_speaker_of_uses_the_letter_before_the_number() -> None:
    assert iemocap.speaker_of("Ses03M_impro05a_F012") == ("Ses03_F", "Ses03", "F")
    assert iemocap.speaker_of("Ses05F_script01_1b_M003") == ("Ses05_M", "Ses05", "M")


IMPROVISED = {f"Ses0{n}{d}" for n in (1, 2) for d in ("F_impro01_F000", "F_impro01_M000", "F_impro01_F001",
                                                       "M_impro05a_M000", "M_impro05a_F000")}  # fmt: skip
SCRIPTED = {f"Ses0{n}M_script01_1b_{s}" for n in (1, 2) for s in ("F000", "M001")}


def test_dialog_kind_reads_the_dialog_name() -> None:
    assert iemocap.dialog_kind("Ses01F_impro01") == "improvised"
    assert iemocap.dialog_kind("Ses03M_impro05a") == "improvised"
    assert iemocap.dialog_kind("Ses01F_script01_1") == "scripted"
    assert iemocap.dialog_kind("Ses05M_script01_1b") == "scripted"
    assert iemocap.dialog_kind("Ses05M_other") == ""


def test_subset_improvised_keeps_only_improvised_dialogs_and_counts_the_rest(release: Path) -> None:
    df = iemocap.read(release, sessions=[1, 2], subset="improvised")
    assert set(df["utterance_id"]) == IMPROVISED
    assert sorted(df.attrs["skipped"]) == sorted((utt, "not in subset improvised") for utt in SCRIPTED)


def test_subset_scripted_keeps_only_scripted_dialogs_and_counts_the_rest(release: Path) -> None:
    df = iemocap.read(release, sessions=[1, 2], subset="scripted")
    assert set(df["utterance_id"]) == SCRIPTED
    assert sorted(df.attrs["skipped"]) == sorted((utt, "not in subset scripted") for utt in IMPROVISED)
    assert (df["transcript"] == df["utterance_id"].map(lambda u: f"words of {u}.")).all()


def test_subset_all_is_the_default_and_skips_nothing(release: Path) -> None:
    df = iemocap.read(release, sessions=[1, 2], subset="all")
    assert set(df["utterance_id"]) == IMPROVISED | SCRIPTED
    assert df.attrs["skipped"] == []
    assert df.equals(iemocap.read(release, sessions=[1, 2]))


def test_utterances_outside_the_subset_are_not_opened(release: Path) -> None:
    """A broken wav of a scripted dialog does not matter to an improvised-only reading."""
    wav = release / "Session1/sentences/wav/Ses01M_script01_1b/Ses01M_script01_1b_F000.wav"
    wav.unlink()
    df = iemocap.read(release, sessions=[1, 2], subset="improvised")
    assert ("Ses01M_script01_1b_F000", "not in subset improvised") in df.attrs["skipped"]
    assert not any(reason == "missing_wav" for _, reason in df.attrs["skipped"])


def test_bad_subset_is_a_one_line_error(release: Path) -> None:
    with pytest.raises(ValueError, match=r"^corpus.subset='impro' is not a choice: use corpus.subset=improvised, "
                                         r"scripted or all$"):  # fmt: skip
        iemocap.read(release, sessions=[1, 2], subset="impro")


def test_subset_without_its_dialogs_names_the_setting(tmp_path: Path) -> None:
    root = tmp_path / "IEMOCAP_full_release"
    write_session(root, 1, {"Ses01F_impro01": [("F000", "neu"), ("M000", "ang")]})
    with pytest.raises(ValueError, match="corpus.subset=scripted keeps no utterance under .*use corpus.subset=all"):
        iemocap.read(root, sessions=[1], subset="scripted")


def test_data_report_counts_the_subset_and_the_missing_transcripts(release: Path, capsys: pytest.CaptureFixture) -> None:
    from ser.corpora.__main__ import main as report_main

    text_file = release / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    lines = text_file.read_text().splitlines()
    text_file.write_text("\n".join(line for line in lines if not line.startswith("Ses01F_impro01_M000 ")) + "\n")
    args = ["corpus=iemocap", f"corpus.root={release}", "corpus.sessions=[1,2]", "labels=all"]
    assert report_main([*args, "corpus.subset=improvised"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("corpus=iemocap subset=improvised labels=all: 10 utterances, 4 speakers, 2 groups")
    assert out[1] == "without transcript: 1 of 10 utterances"
    assert "       4  not in subset improvised" in out
    assert not any("script01" in line for line in out)  # a choice is counted, not listed utterance by utterance

    assert report_main([*args, "corpus.subset=scripted"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "without transcript: 0 of 4 utterances"
    assert "      10  not in subset scripted" in out


def test_data_report_bad_subset_is_one_line(release: Path, capsys: pytest.CaptureFixture) -> None:
    from ser.corpora.__main__ import main as report_main

    assert report_main(["corpus=iemocap", f"corpus.root={release}", "corpus.subset=both"]) == 2
    err = capsys.readouterr().err
    assert err == "error: corpus.subset='both' is not a choice: use corpus.subset=improvised, scripted or all\n"
