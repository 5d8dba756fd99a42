"""A bidirectional LSTM over frame sequences (the sequence view), pooled into one utterance vector."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

POOLING = ("mean", "attention")


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """`(B, max_len)` boolean mask, True on real frames and False on padding."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class LSTM(nn.Module):
    """Bidirectional LSTM -> mean or attention pooling over real frames -> linear classifier.

    Padded frames never reach the pooling: the sequences are packed for the LSTM and masked after it.
    """

    def __init__(
        self,
        n_classes: int,
        input_dim: int,
        hidden: int = 128,
        layers: int = 2,
        dropout: float = 0.2,
        bidirectional: bool = True,
        pooling: str = "attention",
    ) -> None:
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"model.net.pooling={pooling!r}: choose one of {', '.join(POOLING)}")
        self.pooling = pooling
        self.input_norm = nn.LayerNorm(input_dim)
        self.lstm = nn.LSTM(
            input_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        d_out = hidden * (2 if bidirectional else 1)
        self.attention = nn.Linear(d_out, 1) if pooling == "attention" else None
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_out, n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
        packed = pack_padded_sequence(
            self.input_norm(x), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.pool_and_classify(out, length_mask(lengths, x.shape[1]))

    def pool_and_classify(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from the LSTM's `(B, T, d_out)` outputs, pooled over the frames where `mask` is True.

        A method of its own so that an LSTM run without packing (`ser.export`'s ONNX graph) pools
        exactly as training did.
        """
        if self.attention is not None:
            scores = self.attention(out).squeeze(-1).masked_fill(~mask, float("-inf"))
            pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * out).sum(dim=1)
        else:
            m = mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        return self.head(pooled)
