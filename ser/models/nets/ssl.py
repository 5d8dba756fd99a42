"""The SUPERB-style head on a pretrained speech encoder's hidden states (`model=ssl_head`).

    softmax(layer logits)-weighted sum of the L layers -> Linear(D, proj_dim) -> pooling over time
    (mean, masked to each utterance's frames, or attentive) -> dropout -> Linear(proj_dim, n_classes)

as in s3prl's SUPERB emotion task and EmoBox. Inputs (`ser.data.SSLDataModule`): `(B, L, D)` time
means (`features.store=mean`: the layer sum and the projection are linear, so projecting the means
is exactly mean pooling of the projected frames) or `(B, T, L, D)` frames with their lengths
(`features.store=frames`). The layer weights are read with `layer_weights()`.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "attention")


class SSLHead(nn.Module):
    """Learnable layer weights, a projection, pooling over time and a linear output."""

    def __init__(
        self,
        n_layers: int,
        input_dim: int,
        n_classes: int,
        proj_dim: int = 256,
        pooling: str = "mean",
        dropout: float = 0.0,
        frames: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"model.net.pooling={pooling!r} is unknown: use mean or attention")
        if pooling == "attention" and not frames:
            raise ValueError(
                "model.net.pooling=attention needs the frames: set features.store=frames (store=mean keeps only time means)"
            )
        self.pooling = pooling
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))  # uniform weights to start, as s3prl
        self.proj = nn.Linear(input_dim, proj_dim)
        self.attention = nn.Linear(proj_dim, 1) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(proj_dim, n_classes)

    def layer_weights(self) -> torch.Tensor:
        """The weight of each layer in the sum (softmax of the learned logits; sums to 1)."""
        return torch.softmax(self.layer_logits.float(), dim=0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`(B, L, D)` layer means, or `(B, T, L, D)` frames with `lengths` `(B,)` -> `(B, n_classes)` logits."""
        w = self.layer_weights().to(x.dtype)
        if x.ndim == 3:
            pooled = self.proj(torch.einsum("bld,l->bd", x, w))
        else:
            h = self.proj(torch.einsum("btld,l->btd", x, w))  # (B, T, P)
            if lengths is None:
                lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
            mask = (
                torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
            )  # (B, T)
            if self.attention is not None:
                scores = self.attention(torch.tanh(h)).squeeze(-1).masked_fill(~mask, float("-inf"))
                pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * h).sum(dim=1)
            else:
                m = mask.to(h.dtype).unsqueeze(-1)
                pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        return self.out(self.dropout(pooled))
