"""Export a neural run to ONNX: `python -m ser.export run=RUN_DIR [out=PATH] [opset=17]`.

Writes `model.onnx` and `model.onnx.json` beside it (default: inside the run folder; `out=` names
another `.onnx` file or a folder). The graph takes the net's input *after* standardisation and
returns, for every input row, the class `logits` and `probabilities` (their softmax) in the run's
class order. The JSON holds what a caller needs besides the graph: the classes, the sample rate,
the feature view with its settings and column names, the input and output names and shapes (dynamic
axes by name), the normalisation statistics with how to apply them, and how the run turned the
net's outputs into an utterance's probabilities (`evaluation`).

Inputs, by feature view:
- logmel (cnn, resnet18, resnet34): `x` float32 `(batch, 1, n_mels, frames)`, batch and frames
  dynamic. The run scored an utterance by averaging the logits of its sliding windows.
- acoustic (dnn): `x` float32 `(batch, n_features)`.
- sequence (lstm): `x` float32 `(batch, frames, n_features)`, padded after each sequence's end with
  anything, and `lengths` int64 `(batch,)`. ONNX has no packed sequences (torch 2.9 exports
  `pack_padded_sequence` into a graph that is off by ~1e-2), so the graph runs each LSTM direction
  over the padded batch, the backward one on every sequence reversed within its own length: padding
  never reaches a real frame, and the result is that of training's packed sequences.
- opensmile (dnn on functionals, lstm on lld): as acoustic and sequence; the JSON's
  `features.computed_by` names the openSMILE call that makes `x` (openSMILE is no ONNX graph, but
  the graph never holds the features: it starts after them, for every view).

The legacy TorchScript exporter (`dynamo=False`) writes the graph: it needs no `onnxscript`, works
offline and keeps the batch axis of these nets dynamic (torch 2.9's torch.export-based exporter
specialises the LSTM graph to the example's batch size).

Classical runs (scikit-learn, XGBoost) are not exported: their pipelines (imputation, per-speaker
standardisation, feature selection, XGBoost) have no clean converter path; `ser.load(RUN).predict`
serves them.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import yaml
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ser import __version__
from ser.api import check_run_dir
from ser.cli import run, user_errors
from ser.data.spectrogram import evaluation_hop
from ser.features import OpenSmileConfig, is_text_view, make_audio_config, view_feature_names
from ser.features.opensmile import opensmile_version
from ser.models import get_family
from ser.models.nets.lstm import LSTM
from ser.runs import load_run_config

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
ONNX_FILE = "model.onnx"
META_SUFFIX = ".json"  # model.onnx -> model.onnx.json
OUTPUTS = ("logits", "probabilities")
# opsets the TorchScript exporter of torch 2.9 writes these graphs in (GatherElements needs 11)
OPSETS = range(11, 21)
# torch < 2.5 has no `dynamo` argument: its exporter is the TorchScript one anyway
TORCHSCRIPT_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
# the axis of a view's per-utterance array that holds the features (as the data modules standardise)
FEATURE_AXIS = {"logmel": 0, "acoustic": -1, "sequence": -1}
ARRAY_SHAPE = {"logmel": ["n_mels", "frames"], "acoustic": ["n_features"], "sequence": ["frames", "n_features"]}


class ExportError(ValueError):
    """A run that cannot be exported, or a missing package; the message is one line naming the fix."""


def neural_model_names() -> list[str]:
    """The model configs of `conf/model/` whose family is neural (what this exporter covers), grouped
    by the feature view they override `/features` with (logmel, acoustic, sequence)."""
    found = []
    for path in sorted(CONF_DIR.glob("model/*.yaml")):
        node = yaml.safe_load(path.read_text()) or {}
        model = node.get("model") or {}
        if model.get("family") != "neural":
            continue
        views = [d["override /features"] for d in node.get("defaults", []) if isinstance(d, dict) and "override /features" in d]
        reads_text = any(isinstance(d, dict) and any(str(k).startswith("/features@") for k in d) for d in node.get("defaults", []))
        if (views and views[0] not in FEATURE_AXIS) or reads_text:
            continue  # nets on transcripts (text_cnn, text_lstm, fusion_mlp): not exported
        order = list(FEATURE_AXIS).index(views[0]) if views and views[0] in FEATURE_AXIS else len(FEATURE_AXIS)
        found.append((order, str(model.get("name", path.stem))))
    return [name for _, name in sorted(found)]


# ---------------------------------------------------------------------- the graphs
class LogitsAndProbabilities(nn.Module):
    """A net that maps `x` to logits, with their softmax as a second output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(x)
        return logits, torch.softmax(logits, dim=1)


class PaddedLSTM(nn.Module):
    """ser's `LSTM` net on a padded batch plus lengths, without packing (see the module docstring).

    Each layer and direction of the net's `nn.LSTM` becomes a one-layer, one-direction `nn.LSTM`
    with the same weights. The forward direction's output at a real frame depends on earlier frames
    only, so trailing padding cannot reach it; the backward direction runs on each sequence reversed
    within its length (padding stays at the end), and its outputs are put back in time order.
    Dropout between layers is off at inference, so nothing else differs from the packed net.
    """

    def __init__(self, net: LSTM) -> None:
        super().__init__()
        self.net = net
        lstm = net.lstm
        self.directions = 2 if lstm.bidirectional else 1
        self.steps = nn.ModuleList()  # layer-major: (layer 0 forward, layer 0 backward, layer 1 ...)
        for layer in range(lstm.num_layers):
            for suffix in ("", "_reverse")[: self.directions]:
                d_in = lstm.input_size if layer == 0 else lstm.hidden_size * self.directions
                one = nn.LSTM(d_in, lstm.hidden_size, batch_first=True, bias=lstm.bias)
                params = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if lstm.bias else ("weight_ih", "weight_hh")
                for name in params:
                    getattr(one, f"{name}_l0").data.copy_(getattr(lstm, f"{name}_l{layer}{suffix}").data)
                self.steps.append(one)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.arange(x.shape[1], device=x.device)[None, :]
        mask = t < lengths[:, None]
        # frame t of the reversed sequence: frame len-1-t of the original; padding stays in place
        # (the map is its own inverse, so the same index puts the outputs back)
        reverse = torch.where(mask, lengths[:, None] - 1 - t, t)
        h = self.net.input_norm(x)
        for layer in range(len(self.steps) // self.directions):
            outs = [self.steps[layer * self.directions](h)[0]]
            if self.directions == 2:
                backward = self.steps[layer * self.directions + 1](torch.gather(h, 1, _expanded(reverse, h)))[0]
                outs.append(torch.gather(backward, 1, _expanded(reverse, backward)))
            h = torch.cat(outs, dim=2)
        logits = self.net.pool_and_classify(h, mask)
        return logits, torch.softmax(logits, dim=1)


def _expanded(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A `(B, T)` time index expanded over the feature axis of `like` `(B, T, D)`, for `gather`."""
    return index[:, :, None].expand(-1, -1, like.shape[2])


@dataclass
class Graph:
    """What `torch.onnx.export` needs for one view: the module, example inputs and the axis names."""

    module: nn.Module
    inputs: dict[str, tuple[list[int | str], str]]  # name -> (shape with named dynamic axes, dtype)
    examples: tuple[torch.Tensor, ...]

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {name: {i: d for i, d in enumerate(shape) if isinstance(d, str)} for name, (shape, _) in self.inputs.items()}
        return {**axes, **{name: {0: "batch"} for name in OUTPUTS}}


def graph_of(net: nn.Module, view: str, n_features: int, frames: int = 200) -> Graph:
    """The ONNX-exportable module of a net on `view`, with example inputs of `frames` frames."""
    if view == "logmel":
        return Graph(LogitsAndProbabilities(net), {"x": (["batch", 1, n_features, "frames"], "float32")},
                     (torch.randn(2, 1, n_features, frames),))  # fmt: skip
    if view == "acoustic":
        return Graph(LogitsAndProbabilities(net), {"x": (["batch", n_features], "float32")}, (torch.randn(2, n_features),))
    if view == "sequence":
        if not isinstance(net, LSTM):
            raise ExportError(f"no ONNX graph for {type(net).__name__} on frame sequences: only ser's LSTM net is covered")
        # lengths below the padded length in the example, so tracing sees the general case
        inputs = {"x": (["batch", "frames", n_features], "float32"), "lengths": (["batch"], "int64")}
        return Graph(PaddedLSTM(net), inputs, (torch.randn(2, frames, n_features), torch.tensor([frames, frames // 2])))
    raise ExportError(f"no ONNX graph for the {view!r} feature view")


# ---------------------------------------------------------------------- what the JSON tells a caller
NORMALIZATION_HOW = {
    "global": "before the graph: (features - mean) / std along feature_axis of each utterance's array, "
              "then non-finite values -> 0; mean and std are the training utterances' statistics",
    "speaker": "before the graph: (features - mean) / std along feature_axis, then non-finite values -> 0, "
               "with each speaker's own mean and std over all of their utterances (as the run was trained "
               "and tested); for a speaker with little audio (ser.load(...).predict: under 30 s) use the mean "
               "and std given here, pooled over the training speakers",
    "none": "no standardisation: only non-finite values -> 0",
}  # fmt: skip


def evaluation_of(view: str, data: dict[str, Any]) -> dict[str, Any]:
    """How the run turned the graph's per-row outputs into one utterance's probabilities."""
    if view == "logmel" and data.get("eval_mode", "windows") == "windows":
        frames = int(data.get("crop_frames", 200))
        hop = evaluation_hop(frames, data.get("window_hop"))
        return {"mode": "windows", "window_frames": frames, "hop_frames": hop,
                "how": f"cut the standardised (n_mels, T) spectrogram into windows of {frames} frames every {hop} "
                       f"frames, the last one ending at T (an utterance of at most {frames} frames is one window, "
                       "zero-padded at the end); pass them as one batch with a channel axis, average the logits "
                       "over the windows and take their softmax"}  # fmt: skip
    if view == "logmel":
        return {"mode": "full", "how": "one whole utterance per call (batch of 1: padding would enter the pooling); "
                                       "its probabilities are the utterance's"}  # fmt: skip
    if view == "sequence":
        return {"mode": "sequences", "how": "whole standardised sequences, padded after their end to the longest of "
                                            "the batch, lengths = each one's frames (>= 1); padding changes no result"}  # fmt: skip
    return {"mode": "vectors", "how": "one standardised vector per utterance and row"}


def normalization_of(stats: dict[str, Any] | None, view: str) -> dict[str, Any]:
    """The run's standardisation: mode, statistics (pooled for per-speaker runs) and how to apply them."""
    stats = stats or {}
    mode = stats.get("normalize") or "none"
    mean, std = (stats.get("pooled_mean"), stats.get("pooled_std")) if mode == "speaker" else (stats.get("mean"), stats.get("std"))
    if mode != "none" and mean is None:
        raise ExportError(f"the checkpoint saved no {'pooled ' if mode == 'speaker' else ''}normalisation statistics: retrain the run with this ser version")
    return {"mode": mode, "feature_axis": FEATURE_AXIS[view], "mean": mean, "std": std, "how": NORMALIZATION_HOW[mode]}


def computed_by(features: Any) -> dict[str, str]:
    """For the opensmile view, which extractor makes the graph's input (the graph holds only the net)."""
    if not isinstance(features, OpenSmileConfig):
        return {}
    level = "Functionals" if features.level == "functionals" else "LowLevelDescriptors"
    return {"computed_by": f"opensmile {opensmile_version()} (Python package): opensmile.Smile(feature_set="
                           f"opensmile.FeatureSet.{features.feature_set}, feature_level=opensmile.FeatureLevel.{level})"
                           f" on float32 mono audio at {features.sample_rate} Hz"}  # fmt: skip


# ---------------------------------------------------------------------- export
@dataclass
class Exported:
    """The files an export wrote and the description stored in the JSON."""

    onnx_path: Path
    meta_path: Path
    meta: dict[str, Any]


def onnx_path_of(run_dir: Path, out: str | Path | None) -> Path:
    """Where the graph goes: `out` when it names a `.onnx` file, `out/model.onnx` for a folder,
    `<run>/model.onnx` by default."""
    if out is None or str(out) == "":
        return run_dir / ONNX_FILE
    out = Path(out).expanduser()
    return out if out.suffix == ".onnx" else out / ONNX_FILE


def export_run(run_dir: str | Path, out: str | Path | None = None, opset: int = 17) -> Exported:
    """Export a finished neural run's net to ONNX with its description (see the module docstring).

    Raises one-line errors (`ExportError`, `FileNotFoundError`) for a classical run, a path that is
    not a run, or a run without checkpoint.
    """
    if not isinstance(opset, int) or opset not in OPSETS:
        raise ExportError(f"opset={opset!r}: choose an ONNX opset from {OPSETS.start} to {OPSETS.stop - 1} (default 17)")
    run_dir = check_run_dir(run_dir)
    cfg = load_run_config(run_dir)
    family = get_family(cfg.model.family)
    if family.name != "neural":
        raise ExportError(
            f"{run_dir} is a classical (scikit-learn) run; ONNX export covers neural runs "
            f"({', '.join(neural_model_names())}): use ser.load({run_dir}).predict instead"
        )
    if is_text_view(cfg.features) or cfg.get("text_features"):
        raise ExportError(
            f"{run_dir} reads transcripts (model={cfg.model.name}); ONNX export covers the audio nets "
            f"({', '.join(neural_model_names())}): use ser.load({run_dir}) in Python instead"
        )
    task = str((cfg.get("task") or {}).get("name", "classification"))
    if task != "classification":
        raise ExportError(
            f"{run_dir} is a {task} run (task={task}); ONNX export covers classification nets (logits and "
            f"probabilities): use ser.load({run_dir}).predict, which gives pred_<attribute> in the corpus's scale"
        )
    if importlib.util.find_spec("onnx") is None:  # torch writes the file through it
        raise ExportError("ONNX export needs the onnx package: pip install onnx onnxruntime")
    model = family.load(run_dir)
    module = model.module
    features = make_audio_config(OmegaConf.to_container(cfg.features, resolve=True))
    data = OmegaConf.to_container(cfg.data, resolve=True)
    view = get_class(data["_target_"]).view  # the array layout: logmel, acoustic (vectors), sequence (frames)
    names = view_feature_names(features)
    expected = module.hparams.net_inputs.get("input_dim", len(names))
    if expected != len(names):
        raise ExportError(f"{run_dir}: the net takes {expected} features but the run's feature settings give {len(names)}")
    normalization = normalization_of(module.hparams.data_stats, view)  # before writing: it may fail
    graph = graph_of(module.net.eval(), view, len(names), int(data.get("crop_frames", 200)))

    path = onnx_path_of(run_dir, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_onnx(graph, path, opset)

    classes = list(module.hparams.classes)
    meta = {
        "format": "ser-onnx/1",
        "run": str(run_dir.resolve()),
        "model": str(cfg.model.name),
        "classes": classes,
        "sample_rate": int(features.sample_rate),
        "features": {"view": features.view, "array_shape": ARRAY_SHAPE[view], "settings": asdict(features), "names": names,
                     **computed_by(features)},
        "normalization": normalization,
        "inputs": [{"name": n, "shape": shape, "dtype": dtype} for n, (shape, dtype) in graph.inputs.items()],
        "outputs": [{"name": n, "shape": ["batch", len(classes)], "dtype": "float32"} for n in OUTPUTS],
        "dynamic_axes": {n: {str(i): d for i, d in axes.items()} for n, axes in graph.dynamic_axes.items()},
        "evaluation": evaluation_of(view, data),
        "opset": opset,
        "versions": {"ser": __version__, "torch": torch.__version__},
        "check": check_graph(path, graph),
    }
    meta_path = path.with_name(path.name + META_SUFFIX)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return Exported(path, meta_path, meta)


def write_onnx(graph: Graph, path: Path, opset: int = 17) -> None:
    """`torch.onnx.export` of a `Graph`: its input names, the outputs `logits` and `probabilities`,
    its dynamic axes, with the TorchScript exporter (module docstring)."""
    with warnings.catch_warnings():
        # the deprecation notice of the TorchScript exporter, chosen on purpose
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")  # h0 is zeros of the input's batch
        # nn.LSTM's own input-size checks, traced on the example input; the graph has dynamic axes
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.modules\.rnn")
        torch.onnx.export(
            graph.module.eval(), graph.examples, str(path), input_names=list(graph.inputs), output_names=list(OUTPUTS),
            dynamic_axes=graph.dynamic_axes, opset_version=opset, **TORCHSCRIPT_EXPORTER,
        )  # fmt: skip


def check_graph(path: Path, graph: Graph) -> dict[str, Any]:
    """onnxruntime's outputs against PyTorch's on random inputs of two lengths (where a time axis is
    dynamic): the largest absolute difference, or why no check ran."""
    try:
        import onnxruntime  # optional: exporting needs torch only
    except ImportError:
        log.warning("onnxruntime is not installed: %s was not checked against PyTorch", path)
        return {"onnxruntime": None}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    for scale in (1.0, 1.5):  # the example's length and a longer one
        inputs = []
        for name, example in zip(graph.inputs, graph.examples, strict=True):
            if name == "lengths":
                inputs.append((example.float() * scale).long())
            else:
                shape = list(example.shape)
                for axis, axis_name in graph.dynamic_axes[name].items():
                    if axis_name == "frames":
                        shape[axis] = int(shape[axis] * scale)
                inputs.append(torch.randn(shape, generator=generator))
        with torch.no_grad():
            expected = graph.module(*inputs)
        got = session.run(list(OUTPUTS), {n: t.numpy() for n, t in zip(graph.inputs, inputs, strict=True)})
        worst = max(worst, *(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True)))
    return {"onnxruntime": onnxruntime.__version__, "max_abs_diff_random_inputs": worst}


@hydra.main(config_path="../conf", config_name="export", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    """`python -m ser.export run=RUN_DIR [out=PATH] [opset=17]`: export, then print the paths written."""
    if OmegaConf.is_missing(cfg, "run"):
        raise ExportError("pass run=RUN_DIR, the folder of a finished train.py run (e.g. run=outputs/train/<date>_cnn_loso1)")
    done = export_run(cfg.run, cfg.out, cfg.opset)
    diff = done.meta["check"].get("max_abs_diff_random_inputs")
    if diff is not None:
        print(f"onnxruntime vs PyTorch on random inputs: max |difference| {diff:.1e}")
    print(done.onnx_path)
    print(done.meta_path)


if __name__ == "__main__":
    run(main)
