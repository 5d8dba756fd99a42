"""torchvision ResNet-18/34 on one-channel log-mel spectrograms.

`pretrained=true` starts from ImageNet weights, read only from the local torch cache (the framework
never downloads at run time): the first convolution's RGB filters are summed into one input channel,
and the 1000-class layer is replaced by a fresh `n_classes` head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models

ARCHITECTURES = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
}


def cached_weights_path(arch: str) -> Path:
    """Where torchvision keeps the ImageNet weights of `arch` (`$TORCH_HOME/hub/checkpoints/...`)."""
    weights = ARCHITECTURES[arch][1]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def load_imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of `arch` from the local cache, or a clear error saying how to get it."""
    path = cached_weights_path(arch)
    if not path.is_file():
        weights = ARCHITECTURES[arch][1]
        raise FileNotFoundError(
            f"model.net.pretrained=true needs the ImageNet weights of {arch} at {path}. On a machine with "
            f"internet run: python -c \"import torchvision; torchvision.models.{arch}(weights='IMAGENET1K_V1')\" "
            f"(or download {weights.url}) and copy the file there; or train from scratch with model.net.pretrained=false"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


class ResNet(nn.Module):
    """A torchvision ResNet with a one-channel stem and an `n_classes` head.

    The stages are exposed as attributes (`stem`, `layer1` ... `layer4`, `head`) so fine-tuning
    recipes can freeze and unfreeze them by name.
    """

    def __init__(
        self,
        n_classes: int,
        arch: str = "resnet18",
        pretrained: bool = False,
        dropout: float = 0.2,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"model.net.arch={arch!r}: choose one of {', '.join(ARCHITECTURES)}")
        base = ARCHITECTURES[arch][0](weights=None)
        if pretrained:
            base.load_state_dict(load_imagenet_state(arch))
        rgb = base.conv1.weight.data  # (64, 3, 7, 7)
        conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        # Summing the RGB filters keeps a pretrained stem's response to a grey image unchanged.
        conv1.weight.data = rgb.sum(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) / in_channels
        self.stem = nn.Sequential(conv1, base.bn1, base.relu, base.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            base.layer1,
            base.layer2,
            base.layer3,
            base.layer4,
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(base.fc.in_features, n_classes)
        )

    def backbone(self) -> list[nn.Module]:
        """Every module except the classification head, input side first."""
        return [self.stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.backbone():
            x = stage(x)
        return self.head(self.pool(x))
