"""Word-id sequences `(B, T)` with their lengths for the text nets (the `text` view: cleaned
transcripts). The vocabulary is fit on the training rows only and saved with the model, so
validation and test words that training never saw are the unknown word."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from ser.config import TokenSettings
from ser.data.base import FoldDataModule, stack_targets
from ser.features.sentence_encoder import EncoderError, word_vectors
from ser.fold import FoldData
from ser.models.nets.text import PAD_ID
from ser.vocabulary import UNK, Vocabulary

log = logging.getLogger(__name__)


class TokenDataset(Dataset):
    """Word-id sequences; in training, a share `word_dropout` of the words becomes the unknown word."""

    def __init__(self, ids: list[torch.Tensor], targets: np.ndarray, word_dropout: float = 0.0, unk_id: int = 1):
        self.ids, self.targets = ids, targets
        self.word_dropout, self.unk_id = float(word_dropout), int(unk_id)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.ids[i]
        if self.word_dropout > 0:
            x = torch.where(torch.rand(len(x)) < self.word_dropout, torch.full_like(x, self.unk_id), x)
        return {"x": x, "y": self.targets[i]}


def collate_tokens(items: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    xs = [it["x"] for it in items]
    return {
        "x": pad_sequence(xs, batch_first=True, padding_value=PAD_ID),
        "lengths": torch.tensor([len(x) for x in xs], dtype=torch.long),
        "y": stack_targets(items),
    }


class TokenDataModule(FoldDataModule):
    """The `text` view as word ids.

    Settings (`TokenSettings`, besides `FoldDataModule`'s): `min_count` and `max_vocab` (which
    training words get an id), `max_words` (words kept per transcript), `word_dropout` (training
    augmentation). A trained model's `stats_dict()` carries its vocabulary: given back as `stats`,
    new transcripts are encoded with it instead of fitting a new one.
    """

    view = "text"
    settings_type = TokenSettings

    def __init__(self, fold: FoldData, stats: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(fold, stats, **kwargs)
        if self.fold.features.view != "text":
            raise ValueError(
                f"data=tokens needs the text view (features=text), not {self.fold.features.view}: "
                "text_cnn and text_lstm read the cleaned transcripts"
            )
        words = (stats or {}).get("vocabulary")
        self.vocabulary: Vocabulary | None = Vocabulary(tuple(words)) if words else None

    def setup(self, stage: str | None = None) -> None:
        """Fit the vocabulary on the training transcripts (unless a trained model gave its own) and
        encode every row; a no-op after the first call."""
        if self.tensors is not None:
            return
        fold, s = self.fold, self.settings
        texts = [str(t) for t in fold.features.data]
        if self.vocabulary is None:
            self.vocabulary = Vocabulary.fit(
                [texts[i] for i in fold.split.train], int(s.min_count), int(s.max_vocab)
            )
        self.set_targets()
        self.tensors = [torch.from_numpy(a) for a in self.vocabulary.encode(texts, int(s.max_words))]
        self.arrays = []  # nothing to standardise: word ids

    def stats_dict(self) -> dict[str, Any]:
        return {"normalize": "none", "vocabulary": list(self.vocabulary.words) if self.vocabulary else None}

    def init_net(self, net: torch.nn.Module) -> None:
        """With `pretrained` set: the net's word embeddings start from the encoder's token embeddings."""
        source = self.settings.pretrained
        if not source:
            return
        table = getattr(net, "embedding", None)
        if not isinstance(table, torch.nn.Embedding):
            raise ValueError(f"data.pretrained={source}: the net {type(net).__name__} has no word embedding table")
        try:
            vectors = word_vectors(self.vocabulary.words, source)
        except EncoderError as err:  # its message names features.encoder, the text view's setting
            raise EncoderError(str(err).replace("features.encoder", "data.pretrained").replace("leave the default", "use")) from None
        if vectors.shape[1] != table.embedding_dim:
            raise ValueError(
                f"data.pretrained={source} gives {vectors.shape[1]}-value word vectors: set model.net.embed_dim={vectors.shape[1]}"
            )
        with torch.no_grad():
            table.weight.copy_(torch.from_numpy(vectors))
        log.info("word embeddings of %d words start from %s's token embeddings", len(vectors), source)

    def net_inputs(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocabulary)}

    def train_dataset(self) -> Dataset:
        rows = self.fold.split.train
        dropout = float(self.settings.word_dropout) if self.augment else 0.0
        unk = self.vocabulary.words.index(UNK)
        return TokenDataset([self.tensors[i] for i in rows], self.batch_targets(rows), dropout, unk)

    def eval_dataset(self, rows: np.ndarray) -> Dataset:
        return TokenDataset([self.tensors[i] for i in rows], self.batch_targets(rows))

    collate_train = staticmethod(collate_tokens)
    collate_eval = staticmethod(collate_tokens)
