"""`python -m ser.analysis`: the figures, tables and page it writes, measures and a ranking that come
from the data, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser.analysis.measures import RateSettings, energy_peaks, utterance_measures, voiced_runs
from ser.analysis.ranking import rank_functionals
from ser.analysis.result import AnalysisSettings
from ser.analysis.write import class_speaker_counts, write_analysis
from ser.fold import extract_features, load_labelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIGURES = [
    "duration.png",
    "f0.png",
    "energy.png",
    "speaking_rate.png",
    "top_functionals.png",
    "class_speaker_counts.png",
]
TABLES = ["ranking.csv", "utterances.csv", "class_speaker_counts.csv"]
ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb"


def analysis(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m ser.analysis ARGS` from `cwd`, as a user would run it (this checkout's `ser` first)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "ser.analysis", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def folder_of(proc: subprocess.CompletedProcess) -> Path:
    """The folder named on the last line (`analysis folder: PATH`)."""
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("analysis folder: "), proc.stdout
    return Path(last.removeprefix("analysis folder: "))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The analysis of a small demo corpus (120 utterances): its folder, and the overrides used."""
    work = tmp_path_factory.mktemp("analysis")
    overrides = [f"paths.cache_dir={work / 'cache'}", "corpus.utterances_per_speaker=12", "jobs=1"]
    proc = analysis([*overrides, f"paths.output_dir={work / 'out'}"], work)
    return folder_of(proc), overrides


def test_writes_every_figure_and_table_into_a_run_folder(demo_run) -> None:
    folder, _ = demo_run
    assert folder.parent.name == "analysis" and folder.name.endswith("_demo_iemocap4")
    for name in FIGURES:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    for name in TABLES:
        assert len(pd.read_csv(folder / name)) > 0, name
    assert (folder / ".hydra" / "config.yaml").is_file()


def test_page_references_every_plot_and_every_reference_exists(demo_run) -> None:
    folder, _ = demo_run
    page, report = (folder / "index.html").read_text(), (folder / "report.md").read_text()
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert sorted(set(re.findall(r'<img src="([^"]+)"', page))) == pngs == sorted(FIGURES)
    assert sorted(set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report))) == pngs
    for linked in re.findall(r'href="([^"]+)"', page) + re.findall(r"\]\(([^)]+)\)", report):
        assert (folder / linked).is_file(), linked
    assert "python -m ser.analysis" in page and "corpus.utterances_per_speaker=12" in page


def nearest_median_accuracy(values: np.ndarray, target: np.ndarray) -> float:
    """Accuracy of assigning each utterance to the class whose median of this one column is nearest."""
    classes = np.unique(target)
    medians = np.array([np.median(values[target == c]) for c in classes])
    guess = classes[np.abs(values[:, None] - medians[None, :]).argmin(axis=1)]
    return float(np.mean(guess == target))


def test_ranking_is_computed_from_the_data(demo_run, compose_config, tmp_path: Path) -> None:
    folder, overrides = demo_run
    ranking = pd.read_csv(folder / "ranking.csv")
    cfg = compose_config(overrides, config_name="analysis", out_dir=tmp_path)
    manifest, features = extract_features(cfg, load_labelled(cfg)[0])
    assert features.cache_hit  # the analysis extracted through the feature cache, as train.py does
    x, target = features.matrix(), manifest["target"].to_numpy()
    assert sorted(ranking["functional"]) == sorted(features.names)
    assert (np.diff(ranking["H"]) <= 0).all() and ranking["rank"].tolist() == list(range(1, len(ranking) + 1))
    # the best functional separates the classes better than a randomly drawn one from the lower half
    column = {name: i for i, name in enumerate(features.names)}
    best = x[:, column[ranking["functional"].iloc[0]]]
    other = x[:, column[np.random.default_rng(0).choice(ranking["functional"].iloc[len(ranking) // 2 :])]]
    assert nearest_median_accuracy(best, target) > nearest_median_accuracy(other, target) + 0.1
    # with the labels shuffled, nothing separates the classes as well as the best functional did
    shuffled = np.random.default_rng(1).permutation(target)
    again = rank_functionals(x, list(features.names), shuffled, ["neu", "hap", "sad", "ang"])
    assert again["H"].iloc[0] < 0.5 * ranking["H"].iloc[0]


def test_measures_count_what_the_frames_hold() -> None:
    voiced = np.array([0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    assert voiced_runs(voiced, max_gap=0, min_length=5) == 2  # the lone frame at 18 is too short
    assert voiced_runs(voiced, max_gap=1, min_length=5) == 1  # the 1-frame gap at 7 is bridged
    assert voiced_runs(np.zeros(10, bool), max_gap=2, min_length=1) == 0
    # three syllable-like bumps of 12 dB, 250 ms apart, on 10 ms frames; the third one unvoiced
    t = np.arange(100)
    level = -40 + 12 * np.exp(-0.5 * ((t[:, None] - np.array([20, 45, 70])) / 4) ** 2).sum(axis=1)
    on = np.ones(100, bool)
    assert energy_peaks(level, on, smooth=5, prominence_db=3, distance=10) == 3
    assert energy_peaks(level, on, smooth=5, prominence_db=20, distance=10) == 0
    assert energy_peaks(level, on & (np.abs(t - 70) > 8), smooth=5, prominence_db=3, distance=10) == 2
    frames = np.stack([np.where(on, 200.0, 0.0), on.astype(float), level], axis=1)
    m = utterance_measures(frames, ["f0", "voiced", "rms_db"], 0.01, 2.0, RateSettings())
    assert m["f0_median_hz"] == 200.0 and m["f0_range_st"] == 0.0
    assert m["energy_peaks_per_s"] == 1.5 and m["voiced_segments_per_s"] == 0.5 and m["duration_s"] == 2.0


def test_class_speaker_counts_sum_the_smallest_speakers_beyond_the_limit() -> None:
    manifest = pd.DataFrame({"class_name": list("aabbbc") + ["a"] * 3, "speaker": list("xyxyzz") + ["w"] * 3})
    full = class_speaker_counts(manifest, ["a", "b", "c"], max_speakers=10)
    assert full.loc["a"].tolist() == [3, 1, 1, 0] and list(full.columns) == ["w", "x", "y", "z"]
    capped = class_speaker_counts(manifest, ["a", "b", "c"], max_speakers=3)
    assert list(capped.columns)[-1] == "other (2)" and capped.to_numpy().sum() == len(manifest)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("statistic=median", "statistic=median is not a choice"), ("normalize=gender", "normalize=gender is not a choice"),
     ("rate.smooth_ms=0", "rate.smooth_ms=0.0 must be > 0"), ("features=logmel", "features=logmel: the analysis ranks")],
)  # fmt: skip
def test_bad_settings_stop_before_any_extraction(
    override: str, fragment: str, compose_config, tmp_path: Path
) -> None:
    cfg = compose_config(
        [override, f"paths.cache_dir={tmp_path / 'cache'}"], config_name="analysis", out_dir=tmp_path / "out"
    )
    with pytest.raises(ValueError, match=re.escape(fragment)):
        AnalysisSettings.from_config(cfg)
        write_analysis(cfg, tmp_path / "out")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["labels=nope"], "Could not find 'labels/nope'"),
     (["corpus=emodb", "corpus.root=does/not/exist"], "does/not/exist does not exist")],
)  # fmt: skip
def test_mistake_is_one_line_and_leaves_no_folder(args: list[str], fragment: str, tmp_path: Path) -> None:
    proc = analysis(args, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(not EMODB.is_dir(), reason=f"EmoDB not found at {EMODB}")
def test_emodb_analysis_shows_what_real_speech_holds(tmp_path: Path) -> None:
    folder = folder_of(analysis(["corpus=emodb", f"corpus.root={EMODB}", "labels=emodb7", "jobs=1",
                                 f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path))  # fmt: skip
    utterances = pd.read_csv(folder / "utterances.csv")
    assert len(utterances) == 535 and utterances["f0_median_hz"].notna().all()
    f0 = utterances.groupby("gender")["f0_median_hz"].median()
    assert f0["F"] > 1.4 * f0["M"]  # female voices sit well above male ones
    rate = utterances.groupby("class_name")["voiced_segments_per_s"].median()
    assert rate["sad"] < rate["neu"]  # sad speech is slower
    counts = pd.read_csv(folder / "class_speaker_counts.csv", index_col=0)
    assert counts.shape == (7, 10) and counts.to_numpy().sum() == 535
