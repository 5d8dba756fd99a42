"""`EmotionClassifier`: the one LightningModule that trains every net.

It owns what is common to all nets: the cross-entropy loss (class weights, label smoothing), the SER
metrics per stage (WA, UA, macro-F1 from one confusion matrix, so UA and F1 average over the classes
present in that stage's labels as DESIGN.md asks), best-validation tracking, and the optimizer and
scheduler built from the `optim` and `scheduler` config groups.

Dimensional tasks (`ser.task`): a regression net's output layer gives one value per attribute
(scaled as the fold's `Task` says), trained on the CCC loss (1 - mean CCC over the attributes of a
batch) or MSE, with CCC per attribute as its metrics (`val/ccc_arousal`, `val/ccc_mean`); a multitask
net gives the class logits first and the attribute values after them (two linear heads on one body)
and is trained on cross-entropy + `loss_weight` x the regression loss.

Batches are dicts (see `ser.data`): `x` the inputs, `y` the targets (class indices, or with
attributes `(B, 1 + K)`: class index, then scaled values), optionally `lengths` (frame
sequences) and `owner` (sliding windows at evaluation: window i belongs to utterance `owner[i]`; the
logits of an utterance's windows are averaged).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import MaxMetric, Metric

from ser.task import Task, n_outputs

STAGES = ("train", "val", "test")


def batch_ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Concordance correlation per column of `(B, K)` predictions and targets (population moments)."""
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    cov = ((pred - mp) * (target - mt)).mean(dim=0)
    return 2 * cov / (pred.var(dim=0, unbiased=False) + target.var(dim=0, unbiased=False) + (mp - mt) ** 2 + eps)


class RegressionMetrics(Metric):
    """CCC per attribute, their mean, and the mean regression loss, over an epoch's predictions
    (gathered across DDP processes). CCC is the same in the scaled and the corpus's scale (one
    affine map on both sides), so these figures match metrics.json's."""

    full_state_update = False

    def __init__(self, attributes: Sequence[str]) -> None:
        super().__init__()
        self.attributes = list(attributes)
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("loss_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        self.preds.append(preds.detach().float())
        self.target.append(target.detach().float())
        self.count += len(target)
        if loss is not None:
            self.loss_sum += loss.detach().double() * len(target)

    def compute(self) -> dict[str, torch.Tensor]:
        preds = torch.cat(self.preds) if isinstance(self.preds, list) else self.preds
        target = torch.cat(self.target) if isinstance(self.target, list) else self.target
        values = batch_ccc(preds.double(), target.double(), eps=1e-12).float() if len(target) > 1 else torch.full(
            (len(self.attributes),), float("nan"))  # fmt: skip
        out = {f"ccc_{a}": values[k] for k, a in enumerate(self.attributes)}
        out["ccc_mean"] = values.mean()
        out["loss"] = (self.loss_sum / self.count.clamp_min(1)).float()
        return out


class SERMetrics(Metric):
    """WA, UA, macro-F1 and mean loss from accumulated sums (summed across DDP processes).

    WA is accuracy; UA the mean recall and macro-F1 the mean F1 over the classes present in the
    targets seen (torchmetrics' macro averages would count a class that is only predicted, never
    present, as a zero). The loss is the utterance-weighted mean of the batch losses passed to
    `update`: accumulating it here instead of `self.log(..., on_epoch=True)` in every step saves
    Lightning's per-call bookkeeping (about 2 ms a step on CPU, a third of a small MLP's step).
    """

    full_state_update = False

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.add_state(
            "cm", default=torch.zeros(n_classes, n_classes, dtype=torch.long), dist_reduce_fx="sum"
        )
        self.add_state("loss_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """`preds`: predicted class indices or `(N, C)` logits; `target`: class indices; `loss`: the
        batch's mean loss (optional)."""
        if preds.ndim == 2:
            preds = preds.argmax(dim=1)
        idx = target.long() * self.n_classes + preds.long()
        self.cm += torch.bincount(idx, minlength=self.n_classes**2).reshape(self.n_classes, self.n_classes)
        if loss is not None:
            self.loss_sum += loss.detach().double() * len(target)

    def compute(self) -> dict[str, torch.Tensor]:
        cm = self.cm.double()
        support, predicted, tp = cm.sum(dim=1), cm.sum(dim=0), cm.diagonal()
        present = support > 0
        recall = tp[present] / support[present]
        f1 = 2 * tp[present] / (support[present] + predicted[present])
        total = cm.sum().clamp_min(1)
        return {
            "loss": (self.loss_sum / total).float(),
            "wa": (tp.sum() / total).float(),
            "ua": recall.mean().float(),
            "macro_f1": f1.mean().float(),
        }


def utterance_logits(logits: torch.Tensor, owner: torch.Tensor, n_utterances: int) -> torch.Tensor:
    """Average window logits per utterance (`owner[i]` is the utterance of window i)."""
    sums = torch.zeros(n_utterances, logits.shape[1], dtype=logits.dtype, device=logits.device)
    sums.index_add_(0, owner, logits)
    counts = torch.bincount(owner, minlength=n_utterances).clamp_min(1).to(logits.dtype)
    return sums / counts[:, None]


def _plain(node: Any) -> Any:
    """A config node as plain containers, so checkpoints hold no OmegaConf objects."""
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


class EmotionClassifier(L.LightningModule):
    """Train any `net` that maps a batch's `x` (and `lengths`) to class logits.

    Args:
        net: the `nn.Module` (not saved in hparams; the checkpoint's state dict holds its weights).
        classes: class names in target order.
        optimizer: an `optim/*.yaml` node (`_target_` + arguments, without params).
        scheduler: a `scheduler/*.yaml` node or None; keys `interval` and `monitor` are read here.
        class_weights: cross-entropy weight per class (e.g. inverse training frequency) or None.
        label_smoothing: cross-entropy label smoothing.
        net_inputs: the size arguments the net was built with (e.g. `input_dim`), kept for reloading.
        data_stats: the data module's normalisation (`normalize`, `mean`, `std`), kept for inference.
        task: the fold's `ser.task.Task` as a dict (None: classification), kept for inference: the
            attributes and the scaling that turns the net's outputs back into the corpus's scale.
    """

    def __init__(
        self,
        net: nn.Module,
        classes: Sequence[str],
        optimizer: Mapping | None = None,
        scheduler: Mapping | None = None,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        net_inputs: Mapping[str, Any] | None = None,
        data_stats: Mapping[str, Any] | None = None,
        task: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "classes": list(classes),
                "optimizer": _plain(optimizer),
                "scheduler": _plain(scheduler),
                "class_weights": None if class_weights is None else [float(w) for w in class_weights],
                "label_smoothing": float(label_smoothing),
                # what rebuilding the net and its inputs for inference needs (plain lists: the
                # checkpoint loads with weights_only=True)
                "net_inputs": dict(net_inputs or {}),
                "data_stats": None if data_stats is None else dict(data_stats),
                "task": None if task is None else dict(task),
            }
        )
        self.net = net
        self.task = Task.from_dict(task)
        n = len(classes) if self.task.has_classes else 0
        self.n_classes = n
        self.n_outputs = n_outputs(self.task, len(classes))
        weight = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)
        # ModuleDict keys must not shadow nn.Module attributes ("train"), hence the suffix.
        if self.task.has_classes:
            self.metrics = nn.ModuleDict({f"{stage}_metrics": SERMetrics(n) for stage in STAGES})
        if self.task.has_values:
            attributes = self.task.attributes
            self.value_metrics = nn.ModuleDict({f"{stage}_metrics": RegressionMetrics(attributes) for stage in STAGES})
        self.val_ua_best = MaxMetric()

    # ------------------------------------------------------------------ per-step glue
    # Lightning runs a few dozen hooks around every step. For small nets on CPU (a 5 ms MLP step)
    # their bookkeeping is a visible share of the step; these three overrides keep what they do
    # and skip only work that cannot matter here.
    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` (a string) before and after every hook call; nn.Module's
        # __setattr__ would check parameters, buffers and submodules each time.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Batches are flat dicts of tensors (see ser.data): one `.to` each, instead of Lightning's
        # generic recursive walk over any collection.
        if isinstance(batch, dict) and all(isinstance(v, torch.Tensor) for v in batch.values()):
            return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:  # fmt: skip
        # Called every step; with clipping off (the default) there is nothing to check.
        if gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ------------------------------------------------------------------ forward and steps
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Utterance-level outputs of a batch: class logits, then (regression, multitask) the scaled
        attribute values; windows of one utterance are averaged."""
        lengths = batch.get("lengths")
        logits = self.net(batch["x"]) if lengths is None else self.net(batch["x"], lengths)
        owner = batch.get("owner")
        if owner is not None:
            logits = utterance_logits(logits, owner, len(batch["y"]))
        return logits

    def split_outputs(self, outputs: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(class logits or None, scaled attribute values or None) of the net's outputs."""
        logits = outputs[:, : self.n_classes] if self.task.has_classes else None
        values = outputs[:, self.n_classes :] if self.task.has_values else None
        return logits, values

    def split_targets(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(class indices, scaled values or None) of a batch's `y`."""
        if y.ndim == 1:
            return y, None
        return y[:, 0].long(), y[:, 1:]

    def value_loss(self, values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`task.loss`: 1 - mean CCC over the attributes of the batch (`ccc`), or the mean squared error."""
        if self.task.loss == "mse":
            return F.mse_loss(values.float(), target.float())
        return 1.0 - batch_ccc(values.float(), target.float()).mean()

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy for classes; the regression loss for attributes; their weighted sum for both."""
        logits, values = self.split_outputs(outputs)
        classes, value_target = self.split_targets(target)
        total = None
        if logits is not None:
            total = F.cross_entropy(
                logits.float(), classes, weight=self.class_weight, label_smoothing=self.hparams.label_smoothing
            )
        if values is not None:
            reg = self.value_loss(values, value_target)
            total = reg if total is None else total + self.task.loss_weight * reg
        return total

    def _step(self, batch: Mapping[str, torch.Tensor], stage: str) -> torch.Tensor:
        outputs = self(batch)
        loss = self.loss(outputs, batch["y"])
        logits, values = self.split_outputs(outputs.detach())
        classes, value_target = self.split_targets(batch["y"])
        if logits is not None:
            self.metrics[f"{stage}_metrics"].update(logits, classes, loss)
        if values is not None:
            self.value_metrics[f"{stage}_metrics"].update(values, value_target, None if logits is not None else loss)
        return loss

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Class probabilities, then (regression, multitask) the scaled attribute values."""
        logits, values = self.split_outputs(self(batch).float())
        parts = ([torch.softmax(logits, dim=1)] if logits is not None else []) + ([values] if values is not None else [])
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ epoch ends: metrics
    def _epoch_values(self, stage: str) -> dict[str, torch.Tensor]:
        """The stage's epoch metrics (global under DDP), with its accumulators reset. Multitask: the
        loss is the classification metrics' (the total loss), CCC comes from the regression ones."""
        values: dict[str, torch.Tensor] = {}
        if self.task.has_values:
            values.update(self.value_metrics[f"{stage}_metrics"].compute())
            self.value_metrics[f"{stage}_metrics"].reset()
        if self.task.has_classes:
            values.update(self.metrics[f"{stage}_metrics"].compute())
            self.metrics[f"{stage}_metrics"].reset()
        return values

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        values = self._epoch_values(stage)
        # The values are already global (the metric state is summed across processes); sync_dist only
        # tells Lightning so, at the cost of one all-reduce per epoch under DDP.
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=True)
        return values

    def on_train_start(self) -> None:
        # The sanity check's validation epoch must not count as the best one.
        self.val_ua_best.reset()

    def on_train_epoch_end(self) -> None:
        # Training metrics go straight to the loggers: nothing monitors them, and each `self.log`
        # call costs about 1 ms on CPU (Lightning walks the stored result's attributes on every call),
        # which on a small corpus (8 steps an epoch) was a tenth of the epoch. Validation and test
        # metrics keep `self.log`: checkpointing, early stopping and the sweepers read them.
        values = self._epoch_values("train")
        if self.loggers and self.trainer.is_global_zero:
            row = {f"train/{k}": float(v) for k, v in values.items()}
            row["epoch"] = self.current_epoch
            for logger in self.loggers:
                logger.log_metrics(row, step=self.global_step)

    def on_validation_epoch_end(self) -> None:
        values = self._log_epoch("val")
        if not self.trainer.sanity_checking and "ua" in values:
            self.val_ua_best.update(values["ua"])
            self.log("val/ua_best", self.val_ua_best.compute(), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    # ------------------------------------------------------------------ optimization
    def configure_optimizers(self) -> Any:
        opt_cfg = dict(self.hparams.optimizer or {"_target_": "torch.optim.Adam", "lr": 1e-3})
        opt_cfg.pop("_partial_", None)
        groups = getattr(self.net, "parameter_groups", None)  # nets with their own (layer-wise) learning rates
        if callable(groups):
            # bound after instantiation: Hydra would turn the groups' dicts into config nodes
            optimizer = instantiate(opt_cfg, _partial_=True)(params=groups(float(opt_cfg.get("lr", 1e-3))))
        else:
            optimizer = instantiate(opt_cfg, params=[p for p in self.parameters() if p.requires_grad])
        sched_cfg = dict(self.hparams.scheduler or {})
        if not sched_cfg.get("_target_"):
            return optimizer
        interval = sched_cfg.pop("interval", "epoch")
        monitor = sched_cfg.pop("monitor", "val/ua" if self.task.has_classes else "val/ccc_mean")
        sched_cfg.pop("_partial_", None)
        scheduler = instantiate(sched_cfg, optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval, "monitor": monitor},
        }


# Lightning reads `training_step`'s argument list on every step (inspect.getfullargspec, about
# 0.1 ms); with the signature precomputed that is an attribute lookup.
EmotionClassifier.training_step.__signature__ = inspect.signature(EmotionClassifier.training_step)
