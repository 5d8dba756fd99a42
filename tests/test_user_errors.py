"""Every user mistake at an entry point ends in one line naming the fix, a non-zero exit, no traceback,
and no empty output folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def call(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run an entry point (`train.py ...` or `-m module ...`) from `cwd` as a user would."""
    command = [sys.executable, *(args if args[0] == "-m" else [str(ROOT / args[0]), *args[1:]])]
    # `-m ser...` from another folder imports this checkout's `ser`, not whichever one is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 2, no traceback, and stderr ending in one `error: ...` line holding `fragments`."""
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def fake_multirun(folder: Path) -> Path:
    """A multirun folder holding two finished runs (enough for the run-folder checks)."""
    for job in ("0_split.fold=1", "1_split.fold=2"):
        (folder / job / ".hydra").mkdir(parents=True)
        (folder / job / ".hydra" / "config.yaml").write_text("model: {name: dnn}\n")
        (folder / job / "metrics.json").write_text("{}")
    (folder / "multirun.yaml").write_text("{}\n")
    return folder


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train.py", "corpus=emodb"], ["corpus=emodb needs corpus.root=PATH"]),
        (["train.py", "corpus=emodb", "corpus.root=does/not/exist"], ["does/not/exist does not exist", "corpus.root"]),
        (["train.py", "corpus=manifest", "corpus.path=missing.csv"], ["missing.csv does not exist", "corpus.path"]),
        (["train.py", "corpus=emodbx"], ["Could not find 'corpus/emodbx'", "demo, emodb, iemocap, manifest, msp_improv"]),
        (["train.py", "model"], ["cannot parse override 'model'", "key=value"]),
        (["evaluate.py"], ["run is required: pass run=RUN_DIR"]),
        (["evaluate.py", "run=no/such/run"], ["no/such/run does not exist", "run="]),
        (["ensemble.py"], ["runs is required: pass runs="]),
        (["-m", "ser.corpora", "corpus=foo"], ["Could not find 'corpus/foo'", "demo, emodb, iemocap, manifest, msp_improv"]),
        (["-m", "ser.corpora", "corpus=iemocap"], ["corpus=iemocap needs corpus.root=PATH"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0].endswith((".py", "-m")) else None,
)
def test_mistake_is_one_line_and_leaves_no_folder(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    proc = call(args, tmp_path)
    assert_one_line_error(proc, *fragments)
    assert list(tmp_path.iterdir()) == []  # no outputs/ left behind, nor anything else


def test_multirun_folder_as_run_says_what_to_pass(tmp_path: Path) -> None:
    sweep = fake_multirun(tmp_path / "multirun" / "sweep")
    for extra in ([], ["audio=clip.wav"]):
        proc = call(["evaluate.py", f"run={sweep}", *extra], tmp_path)
        assert_one_line_error(proc, "is a multirun folder: pass one of its runs", "ensemble.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multirun"]


def test_corpora_help_lists_the_choices(tmp_path: Path) -> None:
    proc = call(["-m", "ser.corpora", "--help"], tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: python -m ser.corpora")
    for name in ("demo, emodb, iemocap, manifest, msp_improv", "emodb7", "iemocap4", "corpus.root=PATH"):
        assert name in proc.stdout


def test_a_failed_run_keeps_the_folders_of_other_runs(tmp_path: Path) -> None:
    """Only the failed call's own folder goes: another run's folder, however empty, stays."""
    other = tmp_path / "outputs" / "train" / "2026-01-01_00-00-00_dnn_loso1"
    (other / ".hydra").mkdir(parents=True)
    (other / "train.log").write_text("")
    proc = call(["train.py", "corpus=emodb"], tmp_path)
    assert_one_line_error(proc, "corpus.root")
    assert [p.name for p in (tmp_path / "outputs" / "train").iterdir()] == [other.name]


def test_a_run_that_fails_after_the_loggers_started_leaves_no_folder(tmp_path: Path, tmp_path_factory) -> None:
    """The CSV logger has written its hparams.yaml when a missing word-vector source stops training."""
    cache = tmp_path_factory.mktemp("cache")
    proc = call(["train.py", "model=text_cnn", "data.pretrained=no/such/encoder", f"paths.cache_dir={cache}",
                 "corpus.utterances_per_speaker=12", "jobs=1"], tmp_path)  # fmt: skip
    assert_one_line_error(proc, "data.pretrained=no/such/encoder: no such folder")
    assert list(tmp_path.iterdir()) == []
