"""ONNX export of neural runs (`python -m ser.export run=RUN_DIR`): onnxruntime against PyTorch.

One tiny run per net (1 epoch, 2 training batches) on a small demo corpus; features are extracted
once per view into a cache the module shares. Inputs are the fold's real test utterances,
standardised as the exported JSON says, at two different lengths where the time axis is dynamic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ser.export import export_run
from ser.fold import FoldData, prepare_fold
from ser.models import get_family
from ser.normalize import speaker_stats
from ser.runs import load_run_config

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[1]
NETS = ["cnn", "resnet18", "dnn", "lstm"]
TOLERANCE = 1e-4

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export_cache")


def tiny(cache_dir: Path, model: str) -> list[str]:
    """Overrides for the quickest run that still trains and tests a checkpoint."""
    common = [f"paths.cache_dir={cache_dir}", "corpus.utterances_per_speaker=12", "jobs=1", "~logger", f"model={model}"]
    if model == "svm":
        return common
    return [*common, "trainer.accelerator=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
            "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "data.batch_size=8",
            *(["data.max_frames=100"] if model == "lstm" else [])]  # fmt: skip


def cli(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start `python -m ser.export ARGS` in `cwd`, importing this checkout's `ser` (one thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ser.export", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def finished(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a started command."""
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.fixture(scope="module", params=NETS)
def exported(request: pytest.FixtureRequest, train_run, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """(net, run dir, ONNX session, JSON description). The dnn is exported through the command
    line (from an empty folder, to check it writes nothing there), the others in-process."""
    net = request.param
    run = tmp_path_factory.mktemp(f"run_{net}")
    train_run(tiny(cache_dir, net), run)
    if net == "dnn":
        elsewhere = tmp_path_factory.mktemp("cwd")
        code, out, err = finished(cli([f"run={run}"], elsewhere))
        assert code == 0, err[-3000:]
        assert out.splitlines()[-2:] == [str(run / "model.onnx"), str(run / "model.onnx.json")]
        assert list(elsewhere.iterdir()) == []  # no outputs/, .hydra/ or log file
    else:
        export_run(run)
    meta = json.loads((run / "model.onnx.json").read_text())
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    return net, run, session, meta


# ---------------------------------------------------------------------- what the JSON tells a caller
def standardised_test_arrays(fold: FoldData, meta: dict) -> list[np.ndarray]:
    """The test utterances' feature arrays, standardised as `meta["normalization"]` says: global
    statistics from the JSON, or each (test) speaker's own statistics for per-speaker runs."""
    norm = meta["normalization"]
    rows = fold.split.test
    arrays = [np.asarray(fold.features.data[i], dtype=np.float64) for i in rows]
    axis = norm["feature_axis"]
    if norm["mode"] == "speaker":
        speakers = fold.manifest["speaker"].to_numpy()[rows].astype(str)
        own = speaker_stats(arrays, speakers, axis)
        stats = [own[s] for s in speakers]
    else:
        stats = [(np.asarray(norm["mean"]), np.asarray(norm["std"]))] * len(arrays)
    out = []
    for x, (mean, std) in zip(arrays, stats, strict=True):
        shape = [1] * x.ndim
        shape[axis] = -1
        z = (x - mean.reshape(shape)) / std.reshape(shape)
        out.append(np.where(np.isfinite(z), z, 0.0).astype(np.float32))
    return out


def windows(x: np.ndarray, frames: int, hop: int) -> np.ndarray:
    """`(n, 1, n_mels, frames)` windows of `(n_mels, T)` as the JSON's `evaluation.how` describes."""
    t = x.shape[1]
    if t <= frames:
        return np.pad(x, ((0, 0), (0, frames - t)))[None, None]
    starts = list(range(0, t - frames + 1, hop))
    if starts[-1] != t - frames:
        starts.append(t - frames)
    return np.stack([x[:, s : s + frames] for s in starts])[:, None]


def padded(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sequences `(T_i, D)` padded with NaN-free garbage to the longest, and their lengths."""
    longest = max(len(s) for s in seqs)
    batch = np.full((len(seqs), longest, seqs[0].shape[1]), 7.0, dtype=np.float32)  # padding must not matter
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = s
    return batch, np.array([len(s) for s in seqs], dtype=np.int64)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def onnx_probs(session, **inputs: np.ndarray) -> np.ndarray:
    return session.run(["probabilities"], inputs)[0]


# ---------------------------------------------------------------------- tests
def test_graph_inputs_and_outputs_are_the_ones_the_json_names(exported) -> None:
    net, _, session, meta = exported
    assert [(i.name, i.shape) for i in session.get_inputs()] == [(i["name"], i["shape"]) for i in meta["inputs"]]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]
    assert meta["classes"] == ["neu", "hap", "sad", "ang"] and meta["sample_rate"] == 16000
    view = {"cnn": "logmel", "resnet18": "logmel", "dnn": "acoustic", "lstm": "sequence"}[net]
    assert meta["features"]["view"] == view == meta["features"]["settings"]["view"]
    time_axes = {"logmel": {"0": "batch", "3": "frames"}, "acoustic": {"0": "batch"}, "sequence": {"0": "batch", "1": "frames"}}
    assert meta["dynamic_axes"]["x"] == time_axes[view]
    assert meta["normalization"]["mode"] == ("speaker" if net == "dnn" else "global")
    assert len(meta["normalization"]["mean"]) == len(meta["features"]["names"])


def test_onnxruntime_matches_pytorch_on_test_utterances_of_two_lengths(exported) -> None:
    """The same standardised test inputs through the checkpoint's net in PyTorch (the LSTM with its
    packed sequences) and through onnxruntime: logits and probabilities within 1e-4 (logits too: a
    barely trained net's probabilities are all near 1/4 and would hide a wrong graph)."""
    net, run, session, meta = exported
    fold = prepare_fold(load_run_config(run))
    arrays = standardised_test_arrays(fold, meta)
    module = get_family("neural").load(run).module.net.eval()
    calls: list[dict[str, np.ndarray]] = []
    if meta["features"]["view"] == "logmel":
        longest = max(arrays, key=lambda a: a.shape[1])
        frames = meta["evaluation"].get("window_frames", 200)
        assert longest.shape[1] > frames
        calls = [{"x": windows(arrays[0], frames, frames // 2)}, {"x": longest[None, None]}]  # two lengths
    elif meta["features"]["view"] == "sequence":
        by_length = sorted(arrays, key=len)
        assert len(by_length[0]) < len(by_length[-1])
        x, lengths = padded(arrays)
        calls = [{"x": x, "lengths": lengths}, {"x": by_length[0][None], "lengths": np.array([len(by_length[0])])}]
    else:
        calls = [{"x": np.stack(arrays)}, {"x": np.stack(arrays[:1])}]
    time_lengths = {c["x"].shape[-1 if meta["features"]["view"] == "logmel" else 1] for c in calls}
    if meta["features"]["view"] != "acoustic":
        assert len(time_lengths) == 2, time_lengths
    for inputs in calls:
        with torch.no_grad():
            logits = module(*(torch.from_numpy(v) for v in inputs.values()))
        expected = {"logits": logits.numpy(), "probabilities": torch.softmax(logits, dim=1).numpy()}
        got = dict(zip(expected, session.run(list(expected), inputs), strict=True))
        for name in expected:
            assert got[name].shape == expected[name].shape == (len(inputs["x"]), len(meta["classes"]))
            diff = float(np.abs(got[name] - expected[name]).max())
            print(f"{net}: x {inputs['x'].shape}, {name}: max |onnxruntime - pytorch| = {diff:.2e}")
            assert diff < TOLERANCE, name


def test_following_the_json_reproduces_the_runs_test_predictions(exported) -> None:
    """Standardise, cut windows and combine as `normalization` and `evaluation` say: the run's own
    test probabilities (predictions.csv) in the JSON's class order, within 1e-4."""
    net, run, session, meta = exported
    fold = prepare_fold(load_run_config(run))
    arrays = standardised_test_arrays(fold, meta)
    evaluation = meta["evaluation"]
    if evaluation["mode"] == "windows":
        probs = []
        for x in arrays:
            logits = session.run(["logits"], {"x": windows(x, evaluation["window_frames"], evaluation["hop_frames"])})[0]
            probs.append(softmax(logits.mean(axis=0, keepdims=True))[0])
        probs = np.array(probs)
    elif evaluation["mode"] == "sequences":
        x, lengths = padded(arrays)
        probs = onnx_probs(session, x=x, lengths=lengths)
    else:
        probs = onnx_probs(session, x=np.stack(arrays))
    saved = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str})
    assert saved["utterance_id"].tolist() == [fold.features.ids[i] for i in fold.split.test]
    expected = saved[[f"prob_{c}" for c in meta["classes"]]].to_numpy()
    assert np.abs(probs - expected).max() < TOLERANCE, net


def test_classical_run_and_missing_run_end_in_one_line(train_run, cache_dir: Path, tmp_path: Path) -> None:
    """`python -m ser.export` on an svm run and without run=: one `error:` line each, exit code 2,
    no traceback, nothing written."""
    svm = tmp_path / "svm"
    train_run(tiny(cache_dir, "svm"), svm)
    cases = {
        f"run={svm}": f"error: {svm} is a classical (scikit-learn) run; ONNX export covers neural runs "
                      f"(cnn, resnet18, resnet34, dnn, lstm): use ser.load({svm}).predict instead",
        "": "error: pass run=RUN_DIR, the folder of a finished train.py run",
    }  # fmt: skip
    started = {arg: cli([arg] if arg else [], tmp_path) for arg in cases}  # both at once: mostly imports
    for arg, message in cases.items():
        code, out, err = finished(started[arg])
        assert code == 2, (arg, out, err)
        assert "Traceback" not in out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), (arg, err)
    assert not list(tmp_path.rglob("*.onnx*"))


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path} is not a finished train.py run \(needs .hydra/config.yaml and metrics.json\)$"):
        export_run(tmp_path)
    with pytest.raises(ValueError, match=r"^opset=9: choose an ONNX opset from 11 to 20"):
        export_run(tmp_path, opset=9)


@pytest.mark.parametrize(
    "settings", [{"bidirectional": True, "pooling": "attention", "layers": 2}, {"bidirectional": False, "pooling": "mean", "layers": 1}],
    ids=["bi-attention-2", "uni-mean-1"],
)  # fmt: skip
def test_unpacked_lstm_graph_matches_the_packed_net_on_padded_batches(settings: dict, tmp_path: Path) -> None:
    """Other LSTM settings than the default, untrained: the exported graph on a padded batch of
    three lengths equals the packed net, and a batch of one of another length too."""
    from ser.export import graph_of, write_onnx
    from ser.models.nets.lstm import LSTM

    torch.manual_seed(0)
    net = LSTM(4, input_dim=5, hidden=8, dropout=0.0, **settings).eval()
    graph = graph_of(net, "sequence", 5, frames=30)
    write_onnx(graph, tmp_path / "lstm.onnx")
    session = ort.InferenceSession(str(tmp_path / "lstm.onnx"), providers=["CPUExecutionProvider"])
    for x, lengths in [(torch.randn(3, 41, 5), torch.tensor([41, 17, 3])), (torch.randn(1, 9, 5), torch.tensor([9]))]:
        with torch.no_grad():
            expected = net(x, lengths).numpy()
        got = session.run(["logits"], {"x": x.numpy(), "lengths": lengths.numpy()})[0]
        assert np.abs(got - expected).max() < TOLERANCE
