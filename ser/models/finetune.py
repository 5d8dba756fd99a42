"""Staged fine-tuning of a pretrained backbone (the original notebooks' ResNet34 + SGD recipe).

Phase 1 trains only the head on a frozen backbone; at `unfreeze_at_epoch` the named stages (by
default the last ResNet stage, `layer4`) join the optimizer at `lr_factor` times the head's learning
rate, so the pretrained filters move slowly while the head keeps learning.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import Optimizer


class FreezeThenUnfreeze(BaseFinetuning):
    """Freeze `net`'s `frozen` stages (all but the head); unfreeze `unfreeze` at an epoch.

    Args:
        frozen: attribute names of the net's modules frozen at the start (batch norm stays trainable).
        unfreeze: the subset of `frozen` to unfreeze at `unfreeze_at_epoch`.
        unfreeze_at_epoch: the first epoch (0-based) of phase 2.
        lr_factor: learning rate of the unfrozen stages relative to the optimizer's current one.
    """

    def __init__(
        self,
        frozen: Sequence[str] = ("stem", "layer1", "layer2", "layer3", "layer4"),
        unfreeze: Sequence[str] = ("layer4",),
        unfreeze_at_epoch: int = 5,
        lr_factor: float = 0.1,
    ) -> None:
        super().__init__()
        missing = set(unfreeze) - set(frozen)
        if missing:
            raise ValueError(f"FreezeThenUnfreeze: {sorted(missing)} are in `unfreeze` but not in `frozen`")
        self.frozen, self.unfreeze = list(frozen), list(unfreeze)
        self.unfreeze_at_epoch, self.lr_factor = int(unfreeze_at_epoch), float(lr_factor)

    def _modules(self, pl_module: L.LightningModule, names: Sequence[str]) -> list:
        net = pl_module.net
        absent = [n for n in names if not hasattr(net, n)]
        if absent:
            raise ValueError(f"FreezeThenUnfreeze: the net {type(net).__name__} has no {absent}")
        return [getattr(net, n) for n in names]

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        self.freeze(self._modules(pl_module, self.frozen), train_bn=True)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if epoch == self.unfreeze_at_epoch:
            lr = optimizer.param_groups[0]["lr"] * self.lr_factor
            self.unfreeze_and_add_param_group(
                self._modules(pl_module, self.unfreeze), optimizer, lr=lr, train_bn=True
            )
