"""Feature engine behaviour: shapes, names, finiteness on edge cases, cache, damaged files, CLI."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from ser.audio import AudioError, TruncatedAudioError, audio_duration, load_audio
from ser.features import FeatureSet, cache_key, compute_view, extract_view, feature_names, make_config
from ser.features.descriptors import _mean_of_extremes
from ser.features.functionals import functionals, grouped_functionals

SR = 16000


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _voice(seconds: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A crude voiced sound: harmonics with vibrato and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))) / SR
    y = sum(0.2 / k * np.sin(k * phase) for k in range(1, 6))
    return (y + np.random.default_rng(seed).normal(0, 0.005, len(t))).astype(np.float32)


@pytest.fixture()
def corpus(tmp_path: Path) -> pd.DataFrame:
    """Four small wav files (one stereo 44.1 kHz) and a manifest over them."""
    rows = []
    for i, seconds in enumerate([0.6, 1.1, 0.8]):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, _voice(seconds, 120 + 40 * i, seed=i), SR)
        rows.append({"utterance_id": f"u{i}", "path": str(path), "offset": 0.0, "duration": seconds})
    stereo = tmp_path / "stereo.wav"
    y = _voice(0.7, 200, seed=9)
    t44 = np.linspace(0, 0.7, int(0.7 * 44100), endpoint=False)
    y44 = np.interp(t44, np.arange(len(y)) / SR, y).astype(np.float32)
    sf.write(stereo, np.stack([y44, 0.5 * y44], axis=1), 44100)
    rows.append({"utterance_id": "u3", "path": str(stereo), "offset": 0.0, "duration": 0.7})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- audio


def test_load_audio_downmixes_and_resamples_once(corpus: pd.DataFrame) -> None:
    y = load_audio(corpus.loc[3, "path"], sample_rate=SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 0.7 * SR) <= 2


def test_load_audio_segment(corpus: pd.DataFrame) -> None:
    whole = load_audio(corpus.loc[1, "path"])
    part = load_audio(corpus.loc[1, "path"], offset=0.25, duration=0.5)
    assert len(part) == 8000
    np.testing.assert_array_equal(part, whole[4000:12000])


def test_load_audio_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    with pytest.raises(AudioError) as err:
        load_audio(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_pcm_wav_fast_path_agrees_with_soundfile(tmp_path: Path) -> None:
    """The direct 16-bit PCM reader gives soundfile's samples and durations; other encodings and
    files that cannot be read name the file."""
    rng = np.random.default_rng(3)
    stereo = rng.uniform(-0.5, 0.5, (22050, 2)).astype(np.float32)
    pcm = tmp_path / "pcm.wav"
    sf.write(pcm, stereo, 22050, subtype="PCM_16")
    ref = sf.read(pcm, dtype="float32")[0]
    np.testing.assert_array_equal(load_audio(pcm, sample_rate=22050), ref.mean(axis=1))
    np.testing.assert_array_equal(load_audio(pcm, 0.2, 0.3, 22050), ref[4410:11025].mean(axis=1))
    assert audio_duration(pcm) == sf.info(pcm).duration == 1.0
    float_wav = tmp_path / "float.wav"  # not 16-bit PCM: soundfile reads it
    sf.write(float_wav, stereo, 22050, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(float_wav, sample_rate=22050), stereo.mean(axis=1), atol=1e-7)
    assert audio_duration(float_wav) == 1.0
    with pytest.raises(AudioError, match="nowhere.wav"):
        audio_duration(tmp_path / "nowhere.wav")


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT", "PCM_24"])
def test_truncated_wav_is_an_error_not_a_shorter_clip(subtype: str, tmp_path: Path) -> None:
    """A WAV cut short (its header promises 22050 frames, half are there) would read as a 0.5 s clip:
    the fast path (16-bit PCM) and soundfile's (other encodings) both refuse it, naming the file."""
    wav = tmp_path / f"{subtype}.wav"
    sf.write(wav, np.zeros((22050, 2), np.float32), 22050, subtype=subtype)
    whole = wav.stat().st_size
    frame = 2 * {"PCM_16": 2, "FLOAT": 4, "PCM_24": 3}[subtype]
    wav.write_bytes(wav.read_bytes()[: whole - 11025 * frame])
    for read in (audio_duration, load_audio):
        with pytest.raises(TruncatedAudioError, match=r"header promises 22050 samples \(1.00 s\), the file holds 11025") as err:
            read(wav)
        assert str(wav) in str(err.value) and "\n" not in str(err.value)
    wav.write_bytes(wav.read_bytes() + bytes(11025 * frame))  # made whole again: reads as before
    assert audio_duration(wav) == 1.0 and len(load_audio(wav, sample_rate=22050)) == 22050


def test_wav_with_unknown_data_size_reads_what_it_holds(tmp_path: Path) -> None:
    """Streaming writers leave the data size at 0xFFFFFFFF (unknown): that is no truncation."""
    wav = tmp_path / "stream.wav"
    sf.write(wav, np.full(16000, 0.25, np.float32), 16000, subtype="PCM_16")
    raw = bytearray(wav.read_bytes())
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = b"\xff\xff\xff\xff"
    wav.write_bytes(bytes(raw))
    assert audio_duration(wav) == 1.0
    np.testing.assert_allclose(load_audio(wav), 0.25, atol=1e-4)


# ---------------------------------------------------------------- views


@pytest.mark.parametrize("view", ["logmel", "acoustic", "sequence"])
def test_silent_and_very_short_clips_give_finite_features(view: str) -> None:
    cfg = make_config({"view": view})
    waves = [
        np.zeros(SR, np.float32),  # digital silence
        np.zeros(int(0.05 * SR), np.float32),  # 50 ms of silence
        _voice(0.05),  # 50 ms of voice
        np.full(400, 1e-9, np.float32),  # below the ZCR threshold
        np.zeros(1, np.float32),  # a single sample
    ]
    rows = compute_view(waves, cfg)
    assert len(rows) == len(waves)
    for r in rows:
        assert r.dtype == np.float32 and np.isfinite(r).all()
        assert r.shape[1] == len(feature_names(cfg))


def test_view_shapes_and_names() -> None:
    y = _voice(1.0)
    logmel = compute_view([y], make_config({"view": "logmel", "n_mels": 128}))[0]
    assert logmel.shape == (101, 128)
    # every group on, the optional ones too
    on = {g: ["mean", "std", "p50"] for g in ("loudness", "perturbation", "formants")}
    acoustic_cfg = make_config({"view": "acoustic", "functionals": on})
    names = feature_names(acoustic_cfg)
    assert len(names) == len(set(names)) == compute_view([y], acoustic_cfg)[0].shape[1]
    for expected in ("mfcc1_mean", "mfcc13_dd_std", "mel64_std", "contrast7_mean", "chroma_A_mean",
                     "centroid_p90", "rolloff_slope", "flatness_mean", "zcr_std", "rms_max",
                     "f0_mean", "f0_p50", "hnr_db_mean", "voicing_ratio", "spread_mean", "entropy_p50",
                     "alpha_ratio_mean", "hammarberg_std", "slope_0_500_mean", "jitter_mean", "shimmer_p50",
                     "F1_mean", "F3_bw_p50", "loudness_std", "f0_iqr", "rms_db_linerr", "entropy_kurt"):  # fmt: skip
        assert expected in names
    seq = compute_view([y], make_config({"view": "sequence"}))[0]
    assert seq.shape == (101, len(feature_names(make_config({"view": "sequence"}))))
    chunked_cfg = make_config({"view": "sequence", "chunks": 5})
    chunks = compute_view([y, np.zeros(300, np.float32)], chunked_cfg)
    assert [c.shape for c in chunks] == [(5, 2 * seq.shape[1])] * 2


def test_acoustic_pitch_statistics_follow_the_voice() -> None:
    cfg = make_config({"view": "acoustic"})
    names = feature_names(cfg)
    low, high = compute_view([_voice(1.0, 110), _voice(1.0, 220)], cfg)
    f0 = names.index("f0_p50")
    assert abs(low[0, f0] / 110 - 1) < 0.05 and abs(high[0, f0] / 220 - 1) < 0.05
    assert low[0, names.index("voicing_ratio")] > 0.8
    every_frame = compute_view([_voice(1.0, 110)], make_config({"view": "acoustic", "pitch_hop_ms": 10}))[0]
    assert abs(every_frame[0, f0] / low[0, f0] - 1) < 0.01  # the 20 ms pitch grid changes little


def test_batched_equals_one_by_one() -> None:
    cfg = make_config({"view": "acoustic"})
    waves = [_voice(0.5, 150, 1), _voice(0.9, 230, 2), np.zeros(800, np.float32)]
    together = compute_view(waves, cfg)
    for w, r in zip(waves, together, strict=True):
        np.testing.assert_allclose(compute_view([w], cfg)[0], r, rtol=1e-4, atol=1e-3)


def test_functionals_match_numpy() -> None:
    rng = np.random.default_rng(0)
    lengths = [5, 1, 17, 40]
    x = rng.normal(size=(sum(lengths), 3)).astype(np.float32)
    mask = rng.random(sum(lengths)) > 0.4
    mask[5] = False  # the one-row segment has no counted row -> zeros
    names = ["mean", "std", "min", "max", "p10", "p50", "p90", "slope"]
    for m in (None, mask):
        out = functionals(
            torch.from_numpy(x), lengths, names, 0.01, None if m is None else torch.from_numpy(m)
        )
        start = 0
        for b, n in enumerate(lengths):
            seg, t = x[start : start + n], np.arange(n) * 0.01
            if m is not None:
                seg, t = seg[m[start : start + n]], t[m[start : start + n]]
            start += n
            if len(seg) == 0:
                assert (out[b] == 0).all()
                continue
            slope = np.polyfit(t, seg, 1)[0] if len(seg) > 1 else np.zeros(3)
            ref = [
                seg.mean(0),
                seg.std(0),
                seg.min(0),
                seg.max(0),
                *np.percentile(seg, [10, 50, 90], axis=0),
                slope,
            ]
            np.testing.assert_allclose(out[b].numpy(), np.stack(ref, 1), rtol=1e-4, atol=1e-4)


def test_extra_functionals_match_numpy_and_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(3)
    lengths = [6, 1, 25, 60]
    x = rng.normal(size=(sum(lengths), 2)).astype(np.float64)
    mask = rng.random(sum(lengths)) > 0.3
    mask[6] = False  # the one-row segment has no counted row -> zeros
    names = ["iqr", "range", "skew", "kurt", "rise", "linerr"]
    for m in (None, mask):
        out = functionals(
            torch.from_numpy(x), lengths, names, 0.01, None if m is None else torch.from_numpy(m)
        )
        start = 0
        for b, n in enumerate(lengths):
            seg, t = x[start : start + n], np.arange(n) * 0.01
            if m is not None:
                seg, t = seg[m[start : start + n]], t[m[start : start + n]]
            start += n
            if len(seg) < 2:
                assert (out[b] == 0).all()
                continue
            fit = [np.polyval(np.polyfit(t, seg[:, j], 1), t) for j in range(2)]
            ref = [
                np.percentile(seg, 75, axis=0) - np.percentile(seg, 25, axis=0),
                np.ptp(seg, axis=0),
                stats.skew(seg, axis=0),
                stats.kurtosis(seg, axis=0, fisher=False),
                (np.diff(seg, axis=0) > 0).mean(axis=0),  # over consecutive counted frames
                np.sqrt(np.mean((seg - np.stack(fit, 1)) ** 2, axis=0)),
            ]
            np.testing.assert_allclose(out[b].numpy(), np.stack(ref, 1), rtol=1e-6, atol=1e-6)


def test_grouped_functionals_equal_one_call_per_group() -> None:
    rng = np.random.default_rng(1)
    lengths = [7, 30, 1, 12]
    x = torch.from_numpy(rng.normal(size=(sum(lengths), 9)).astype(np.float32))
    mask = torch.from_numpy(rng.random(sum(lengths)) > 0.3)
    groups = [
        (3, ["mean", "std", "min", "max", "slope"]),
        (4, ["mean", "std", "range", "kurt"]),  # range beside groups that want only min or max
        (2, ["p10", "max", "p90", "mean", "iqr", "linerr", "rise"]),
    ]
    for m in (None, mask):
        together = grouped_functionals(x, lengths, groups, 0.01, m)
        start = 0
        for (width, names), got in zip(groups, together, strict=True):
            alone = functionals(x[:, start : start + width], lengths, names, 0.01, m)
            torch.testing.assert_close(got, alone)
            start += width


def test_mean_of_extremes_matches_a_sort_with_ties() -> None:
    rng = np.random.default_rng(2)
    for rows in (2, 3, 7, 102):
        x = torch.from_numpy(rng.integers(0, 5, (rows, 40)).astype(np.float32))  # many ties
        s = x.sort(dim=0).values
        for n in (1, 2, 3):
            if n > rows:
                continue
            torch.testing.assert_close(_mean_of_extremes(x, n, largest=False), s[:n].mean(dim=0))
            torch.testing.assert_close(_mean_of_extremes(x, n, largest=True), s[-n:].mean(dim=0))


def test_bad_settings_fail_with_one_line() -> None:
    with pytest.raises(ValueError, match="view"):
        make_config({"view": "mfcc"})
    with pytest.raises(ValueError, match="yin_frame_ms"):
        make_config({"view": "acoustic", "f0_min": 20})


# ---------------------------------------------------------------- extraction, cache, damaged files


def test_cache_miss_then_hit(corpus: pd.DataFrame, tmp_path: Path, caplog) -> None:
    cache = tmp_path / "cache"
    cfg = {"view": "acoustic", "jobs": 1, "force": False}  # runtime keys are tolerated
    with caplog.at_level(logging.INFO, logger="ser.features"):
        first = extract_view(corpus, cfg, cache_dir=cache, jobs=1, progress=False)
        second = extract_view(corpus, cfg, cache_dir=cache, jobs=1, progress=False)
    assert isinstance(first, FeatureSet)
    assert not first.cache_hit and second.cache_hit
    assert "feature cache miss" in caplog.text and "feature cache hit" in caplog.text
    assert first.ids == second.ids == list(corpus["utterance_id"])
    assert second.matrix().shape == (4, len(first.names))
    np.testing.assert_array_equal(first.matrix(), second.matrix())
    assert len(list((cache / "features").iterdir())) == 1  # no temporary folders left behind
    again = extract_view(corpus, cfg, cache_dir=cache, jobs=1, force=True, progress=False)
    assert not again.cache_hit


def test_cache_key_follows_content_and_settings(corpus: pd.DataFrame) -> None:
    base = make_config({"view": "logmel"})
    key = cache_key(corpus, base)
    assert cache_key(corpus, make_config({"view": "logmel", "jobs": 4, "force": True})) == key
    assert cache_key(corpus, make_config({"view": "logmel", "n_mels": 128})) != key
    assert cache_key(corpus.iloc[:3], base) != key
    path = Path(corpus.loc[0, "path"])
    sf.write(path, _voice(0.6, 300), SR)  # same name, new content
    assert cache_key(corpus, base) != key


def test_manifest_segments_are_honoured(corpus: pd.DataFrame, tmp_path: Path) -> None:
    path = corpus.loc[1, "path"]  # 1.1 s
    segments = pd.DataFrame(
        [
            {"utterance_id": "first", "path": path, "offset": 0.0, "duration": 0.5},
            {"utterance_id": "second", "path": path, "offset": 0.5, "duration": 0.5},
            {"utterance_id": "rest", "path": path, "offset": 0.5, "duration": float("nan")},
        ]
    )
    fs = extract_view(segments, {"view": "logmel"}, cache_dir=tmp_path, jobs=1, progress=False)
    assert [x.shape[1] for x in fs.data] == [51, 51, 1 + int(0.6 * SR) // 160]


def test_views_through_extract_view(corpus: pd.DataFrame, tmp_path: Path) -> None:
    logmel = extract_view(
        corpus, {"view": "logmel", "n_mels": 64}, cache_dir=tmp_path, jobs=1, progress=False
    )
    assert [x.shape[0] for x in logmel.data] == [64] * 4
    assert logmel.data[1].shape[1] == 1 + int(1.1 * SR) // 160
    seq = extract_view(corpus, {"view": "sequence", "chunks": 5}, cache_dir=tmp_path, jobs=1, progress=False)
    assert seq.matrix().shape == (4, 5, len(seq.names))


def test_damaged_and_missing_files_are_skipped_and_reported(corpus: pd.DataFrame, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    cut = tmp_path / "cut.wav"  # a whole clip of the corpus, cut short after 0.1 s
    cut.write_bytes(Path(corpus.loc[0, "path"]).read_bytes()[: 44 + int(0.1 * SR) * 2])
    extra = pd.DataFrame(
        [
            {"utterance_id": "broken", "path": str(bad), "offset": 0.0, "duration": 1.0},
            {"utterance_id": "gone", "path": str(tmp_path / "missing.wav"), "offset": 0.0, "duration": 1.0},
            {"utterance_id": "cut", "path": str(cut), "offset": 0.0, "duration": 1.0},
        ]
    )
    manifest = pd.concat([corpus.iloc[:2], extra, corpus.iloc[2:]], ignore_index=True)
    fs = extract_view(manifest, {"view": "acoustic"}, cache_dir=tmp_path / "c", jobs=1, progress=False)
    assert fs.ids == ["u0", "u1", "u2", "u3"]
    reasons = dict(fs.skipped)
    assert set(reasons) == {"broken", "gone", "cut"}
    assert str(bad) in reasons["broken"] and "missing.wav" in reasons["gone"]
    assert str(cut) in reasons["cut"] and "truncated" in reasons["cut"]
    assert np.isfinite(fs.matrix()).all()


# ---------------------------------------------------------------- command line and images


def test_cli_ends_with_one_summary_line(corpus: pd.DataFrame, tmp_path: Path, capsys) -> None:
    from ser.features.__main__ import main

    folder = Path(corpus.loc[0, "path"]).parent
    out = tmp_path / "feats.npz"
    assert main([str(folder), "--set", "acoustic", "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"clips=4 audio_s=[\d.]+ wall_s=[\d.]+ x_realtime=[\d.]+", lines[0])
    saved = np.load(out)
    assert saved["rows"].shape == (4, len(saved["names"]))


def test_spectrogram_png(tmp_path: Path) -> None:
    from ser.features.images import save_spectrogram_png

    cfg = make_config({"view": "logmel"})
    logmel = compute_view([_voice(0.5)], cfg)[0].T
    path = save_spectrogram_png(logmel, tmp_path / "spec.png", cfg, title="voice")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_parallel_extraction_matches_one_process(corpus: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    import ser.features.extract as extract

    monkeypatch.setattr(extract, "MIN_PARALLEL_AUDIO_SECONDS", 0.0)
    one = extract_view(
        corpus, {"view": "acoustic", "batch_seconds": 1.0}, cache_dir=tmp_path / "a", jobs=1, progress=False
    )
    two = extract_view(
        corpus, {"view": "acoustic", "batch_seconds": 1.0}, cache_dir=tmp_path / "b", jobs=2, progress=False
    )
    assert one.ids == two.ids
    np.testing.assert_allclose(one.matrix(), two.matrix(), rtol=1e-5, atol=1e-5)


def test_rhythm_counts_voiced_segments_and_their_lengths() -> None:
    """Three 0.3 s voiced bursts with 0.2 s pauses: 3 segments of ~0.3 s, pauses of ~0.2 s."""
    cfg = make_config({"view": "acoustic"})
    names = feature_names(cfg)
    gap = np.zeros(int(0.2 * SR), np.float32)
    y = np.concatenate([gap, _voice(0.3), gap, _voice(0.3, seed=1), gap, _voice(0.3, seed=2), gap])
    row = compute_view([y], cfg)[0][0]
    get = {n: row[names.index(n)] for n in names[-6:]}
    seconds = len(y) / SR
    assert get["voiced_segments_per_s"] == pytest.approx(3 / seconds, rel=0.01)
    assert get["voiced_segment_mean_s"] == pytest.approx(0.3, abs=0.04)
    assert get["unvoiced_segment_mean_s"] == pytest.approx(0.2, abs=0.04)
    assert "voiced_segments_per_s" not in feature_names(make_config({"view": "acoustic", "rhythm": False}))


def test_mfcc_count_and_optional_groups_follow_the_view() -> None:
    assert make_config({"view": "acoustic"}).n_mfcc == 20 and make_config({"view": "sequence"}).n_mfcc == 13
    assert make_config({"view": "acoustic", "n_mfcc": 13}).n_mfcc == 13
    off = feature_names(make_config({"view": "acoustic"}))
    assert not any(n.startswith(("F1_", "jitter", "loudness_", "entropy_d")) for n in off[:-6])
    # deltas of spectral_shape come with lld_delta even when spectral_shape itself is off
    cfg = make_config({"view": "acoustic", "functionals": {"lld_delta": ["std"], "spectral_shape": []}})
    names = feature_names(cfg)
    assert "entropy_d_std" in names and "entropy_mean" not in names
    assert compute_view([_voice(0.5)], cfg)[0].shape == (1, len(names))
