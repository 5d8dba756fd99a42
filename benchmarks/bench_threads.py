"""Fit time of the default models with torch's default thread count vs `threads=auto`, alone and
next to busy processes.

Trains the model (`ser.train.train`, the demo corpus, LOSO fold 1, default settings) `--repeats`
times per thread setting, first with the machine to itself, then with neighbours that keep
cores busy: `loops` (`--loops` processes spinning a tight Python loop, one per core by default) and
`torch` (one process running small matrix products with torch's default threads, as another
training or test run does); they are stopped after their turn. Settings
alternate within each repeat so that drifting load hits them alike. Prints one row per (model,
neighbour, threads) with the median, fastest and slowest fit seconds (`time/fit_s` of the run).

    python benchmarks/bench_threads.py                         # dnn, 3 repeats, every neighbour
    python benchmarks/bench_threads.py --models dnn cnn --repeats 3 --epochs 2 --threads default auto 2

`default` is the count torch starts with (one per core); `auto` is what `threads=auto` picks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ser.threads import available_cores, choose_threads
from ser.train import train

ROOT = Path(__file__).resolve().parents[1]
# The neighbours: Python loops that each keep one core busy, or another torch job with torch's
# default threads (small matrix products, as a second training or test run does).
LOOP = "while True:\n    pass\n"
TORCH_JOB = "import torch\nx, w = torch.randn(64, 256), torch.randn(256, 256)\nwhile True:\n    torch.relu(x @ w).sum()\n"


def fit_seconds(model: str, threads: int, epochs: int | None, out: Path, overrides: list[str]) -> float:
    """Train `model` once with `threads` torch threads; return its fit time in seconds."""
    GlobalHydra.instance().clear()
    extra = [f"trainer.max_epochs={epochs}"] if epochs else []
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[
            f"model={model}", "split.fold=1", f"threads={threads}", "~logger", f"paths.output_dir={out}",
            "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", *extra, *overrides,
        ])  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # train() prints its results table
        return float(train(cfg)["time/fit_s"])


def start_neighbour(kind: str, loops: int) -> list[subprocess.Popen]:
    """The processes of neighbour `kind`: none, `loops` (that many busy loops) or one torch job."""
    codes = {"none": [], "loops": [LOOP] * loops, "torch": [TORCH_JOB]}[kind]
    procs = [subprocess.Popen([sys.executable, "-c", code]) for code in codes]
    time.sleep(2.0 if procs else 0.0)  # let them start (the torch job imports torch first)
    return procs


def stop(hogs: list[subprocess.Popen]) -> None:
    for p in hogs:
        p.terminate()
    for p in hogs:
        p.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["dnn"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the model's own)")
    parser.add_argument("--threads", nargs="+", default=["default", "auto"], help="default | auto | N ...")
    parser.add_argument("--neighbours", nargs="+", default=["none", "loops", "torch"], choices=["none", "loops", "torch"])
    parser.add_argument("--loops", type=int, default=available_cores(), help="busy loops of `loops` (default: one per core)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args(argv)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    default = torch.get_num_threads()
    counts = {name: default if name == "default" else choose_threads(name) for name in args.threads}
    print(f"cores available: {available_cores()}, torch {torch.__version__}: default {default} threads, "
          f"auto {choose_threads('auto')}; {args.repeats} repeats; loops neighbour: {args.loops} busy loops")  # fmt: skip
    times: dict[tuple[str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:  # first run of each model: features into the cache, allocators warm
            fit_seconds(model, default, args.epochs, Path(tmp) / f"warm_{model}", args.overrides)
        for neighbour in args.neighbours:
            hogs = start_neighbour(neighbour, args.loops)
            try:
                for rep in range(args.repeats):
                    for model in args.models:
                        for name, count in counts.items():
                            out = Path(tmp) / f"{model}_{neighbour}_{name}_{rep}".replace(" ", "_")
                            seconds = fit_seconds(model, count, args.epochs, out, args.overrides)
                            times.setdefault((model, neighbour, name), []).append(seconds)
                            print(f"  {model} neighbour={neighbour} threads={name}({count}): {seconds:.2f} s", file=sys.stderr)
            finally:
                stop(hogs)
    print()
    print("| model | neighbour | threads | fit s, median | fastest | slowest |")
    print("|---|---|---|---|---|---|")
    for (model, neighbour, name), values in times.items():
        print(f"| {model} | {neighbour} | {name} ({counts[name]}) | {statistics.median(values):.2f} | "
              f"{min(values):.2f} | {max(values):.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
