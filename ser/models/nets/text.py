"""Nets on word-id sequences `(B, T)` with their lengths (0 is padding): a CNN and an LSTM over
learned word embeddings, optionally initialised from a pretrained encoder's vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ser.models.nets.lstm import LSTM, length_mask

PAD_ID = 0  # the vocabulary's padding id: its embedding stays zero and is never trained


def word_embedding(vocab_size: int, embed_dim: int, vectors: torch.Tensor | None = None) -> nn.Embedding:
    """An embedding table with a zero padding row; `vectors` (vocab_size, embed_dim) initialise it."""
    table = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
    if vectors is not None:
        if tuple(vectors.shape) != (vocab_size, embed_dim):
            raise ValueError(f"word vectors of shape {tuple(vectors.shape)} do not fit a ({vocab_size}, {embed_dim}) table")
        with torch.no_grad():
            table.weight.copy_(vectors)
            table.weight[PAD_ID].zero_()
    return table


class TextCNN(nn.Module):
    """Kim-style CNN: word embeddings -> parallel 1-d convolutions of several widths -> max over the
    real words (padding masked) -> dropout -> linear classifier."""

    def __init__(
        self,
        n_classes: int,
        vocab_size: int,
        embed_dim: int = 128,
        kernel_sizes: Sequence[int] = (2, 3, 4),
        channels: int = 64,
        dropout: float = 0.5,
        vectors: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.embedding = word_embedding(vocab_size, embed_dim, vectors)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, channels, k, padding=k // 2) for k in kernel_sizes)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels * len(kernel_sizes), n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = (x != PAD_ID).sum(dim=1)
        emb = self.embedding(x).transpose(1, 2)  # (B, E, T)
        pooled = []
        for conv in self.convs:
            h = torch.relu(conv(emb))[..., : x.shape[1]]  # even widths give one extra step: drop it
            mask = length_mask(lengths.clamp_min(1), x.shape[1]).unsqueeze(1)
            pooled.append(h.masked_fill(~mask, float("-inf")).amax(dim=2))
        return self.head(torch.cat(pooled, dim=1))


class TextLSTM(nn.Module):
    """Word embeddings -> the sequence view's bidirectional LSTM (packed, so padding never reaches it)
    with attention or mean pooling -> linear classifier."""

    def __init__(
        self,
        n_classes: int,
        vocab_size: int,
        embed_dim: int = 128,
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.3,
        bidirectional: bool = True,
        pooling: str = "attention",
        vectors: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.embedding = word_embedding(vocab_size, embed_dim, vectors)
        self.lstm = LSTM(n_classes, embed_dim, hidden, layers, dropout, bidirectional, pooling)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = (x != PAD_ID).sum(dim=1)
        return self.lstm(self.embedding(x), lengths.clamp_min(1))
