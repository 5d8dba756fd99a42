"""Lightning's overhead over a plain PyTorch loop, and the share of step time spent waiting for data.

Both loops train the same net (same initial weights) on the same batches of the demo corpus: the
data module's training loader, the same optimizer, loss and training metrics, the same number of
epochs, no validation, checkpointing, progress bar or logging in either (and, as in train.py,
without lightning's per-step NVML probe on a machine with no GPU). Runs alternate (plain,
Lightning, plain, ...) so that load from other processes hits both alike; the best and the median
epoch time of each are reported (the first epoch of each run is left out: it warms allocators).

    python benchmarks/bench_training.py --model cnn --epochs 3 --repeats 3
    python benchmarks/bench_training.py --model dnn --epochs 10 --threads 1 --repeats 10

Prints one line per loop and the overhead; the data share is the time spent in the loader's
`next()` (plain loop) or between one batch's end and the next batch's start (Lightning: loading
plus Lightning's own per-batch work), over the epoch time.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ser.fold import prepare_fold
from ser.models.neural import build_datamodule, build_module, skip_nvml_check_without_gpu

ROOT = Path(__file__).resolve().parents[1]


class BatchGapTimer(L.Callback):
    """Seconds between one training batch's end and the next one's start (data loading + glue)."""

    def __init__(self) -> None:
        self.gap = 0.0
        self._end: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._end = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._end is not None:
            self.gap += time.perf_counter() - self._end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._end = time.perf_counter()


def plain_epochs(module: L.LightningModule, loader, epochs: int) -> tuple[list[float], float]:
    """Train with a hand-written loop; return per-epoch seconds and seconds waiting for batches."""
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    metric = module.metrics["train_metrics"]  # the same per-batch work as training_step
    module.train()
    times, waiting = [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            waiting += time.perf_counter() - t0
            logits = module(batch)
            loss = module.loss(logits, batch["y"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            metric.update(logits.detach(), batch["y"], loss)
        metric.compute()
        metric.reset()
        times.append(time.perf_counter() - start)
    return times, waiting


def lightning_epochs(module: L.LightningModule, dm, epochs: int) -> tuple[list[float], float]:
    """Train with `Trainer.fit` (validation and extras off); return per-epoch seconds and batch gaps."""

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.t = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.times.append(time.perf_counter() - self.t)

    timer, gaps = EpochTimer(), BatchGapTimer()
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
        callbacks=[timer, gaps],
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    return timer.times, gaps.gap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. data.batch_size=64")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    skip_nvml_check_without_gpu()  # as train.py does: both loops then skip the per-step NVML probe

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"model={args.model}", f"data.num_workers={args.num_workers}", *args.overrides],
        )
    L.seed_everything(int(cfg.seed))
    dm = build_datamodule(cfg, prepare_fold(cfg))
    dm.setup("fit")
    reference = build_module(cfg, dm)
    loader = dm.train_dataloader()
    print(
        f"model={args.model} view={dm.view} train utterances={len(dm.fold.split.train)} "
        f"batches/epoch={len(loader)} batch_size={dm.batch_size} threads={torch.get_num_threads()} "
        f"num_workers={args.num_workers} epochs={args.epochs} repeats={args.repeats}"
    )
    plain_t, light_t, plain_wait, light_gap, plain_total, light_total = [], [], 0.0, 0.0, 0.0, 0.0
    for _ in range(args.repeats):
        L.seed_everything(0, verbose=False)
        times, waiting = plain_epochs(copy.deepcopy(reference), loader, args.epochs)
        plain_t += times[1:] if len(times) > 1 else times  # the first epoch warms up allocators
        plain_wait += waiting
        plain_total += sum(times)
        L.seed_everything(0, verbose=False)
        times, gap = lightning_epochs(copy.deepcopy(reference), dm, args.epochs)
        light_t += times[1:] if len(times) > 1 else times
        light_gap += gap
        light_total += sum(times)
    plain, light = statistics.median(plain_t), statistics.median(light_t)
    plain_best, light_best = min(plain_t), min(light_t)
    print(
        f"plain PyTorch loop: {plain:.4f} s/epoch median, {plain_best:.4f} best; "
        f"waiting for data {100 * plain_wait / plain_total:.1f} % of step time"
    )
    print(
        f"Lightning Trainer : {light:.4f} s/epoch median, {light_best:.4f} best; "
        f"between batches {100 * light_gap / light_total:.1f} % of step time"
    )
    # The best epoch is what each loop costs when nothing else disturbs it (other load only ever
    # adds time); the median shows the same under whatever load the machine had.
    print(f"Lightning overhead: {100 * (light_best / plain_best - 1):+.1f} % (best epochs), "
          f"{100 * (light / plain - 1):+.1f} % (medians)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
