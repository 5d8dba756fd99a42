"""Text nets on word ids: a vocabulary from training transcripts only, padding that changes nothing,
and a data module that hands the trained vocabulary back for new transcripts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ser.data.tokens import TokenDataModule
from ser.features import FeatureSet
from ser.fold import FoldData
from ser.models.nets.text import TextCNN, TextLSTM
from ser.splits import Split
from ser.vocabulary import PAD, UNK, Vocabulary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = ["i am so happy today", "this is awful i hate it", "happy happy day", "leave me alone",
         "what a lovely surprise", "only in the test set zebra"]  # fmt: skip


def text_fold(texts: list[str], train: list[int], val: list[int], test: list[int]) -> FoldData:
    manifest = pd.DataFrame({"utterance_id": [f"u{i}" for i in range(len(texts))], "speaker": "s",
                             "target": np.arange(len(texts)) % 2})  # fmt: skip
    split = Split("loso", 1, 2, np.array(train), np.array(val), np.array(test), ("s2",))
    features = FeatureSet("text", list(manifest["utterance_id"]), list(texts), ["text"])
    return FoldData(manifest, ["neu", "hap"], split, features)


def test_vocabulary_orders_by_frequency_and_maps_unseen_words_to_unknown() -> None:
    vocab = Vocabulary.fit(["b a a", "c a b"], min_count=1)
    assert vocab.words == (PAD, UNK, "a", "b", "c")  # a x3, b x2, c x1
    assert [ids.tolist() for ids in vocab.encode(["a zebra c", ""])] == [[2, 1, 4], [1]]
    assert Vocabulary.fit(["b a a", "c a b"], min_count=2).words == (PAD, UNK, "a", "b")
    assert Vocabulary.fit(["b a a", "c a b"], max_size=3).words == (PAD, UNK, "a")


def test_data_module_fits_the_vocabulary_on_training_rows_only() -> None:
    fold = text_fold(TEXTS, train=[0, 1, 2, 3], val=[4], test=[5])
    dm = TokenDataModule(fold, batch_size=2)
    dm.setup("fit")
    assert "happy" in dm.vocabulary.words
    for word in ("lovely", "surprise", "zebra"):  # validation and test words: never an id of their own
        assert word not in dm.vocabulary.words
    assert dm.tensors[5].tolist() == [1] * 6  # no word of the test row occurs in training: all unknown
    batch = next(iter(dm.test_dataloader()))
    assert batch["x"].dtype == torch.long and batch["lengths"].tolist() == [6]
    # a trained model's vocabulary comes back through `stats`: the same ids for the same words
    again = TokenDataModule(text_fold(["zebra happy"], [], [], [0]), stats=dm.stats_dict())
    again.setup("predict")
    assert again.tensors[0].tolist() == [1, dm.vocabulary.index["happy"]]


def test_an_audio_view_is_refused_in_one_line() -> None:
    fold = text_fold(TEXTS, [0, 1], [2], [3])
    fold.features.view = "acoustic"
    with pytest.raises(ValueError, match="data=tokens needs the text view"):
        TokenDataModule(fold)


@pytest.mark.parametrize("net", [TextCNN(3, 20, embed_dim=16, channels=8), TextLSTM(3, 20, embed_dim=16, hidden=8)])
def test_padding_changes_no_logit(net: torch.nn.Module) -> None:
    net.eval()
    x = torch.tensor([[5, 6, 7, 0], [3, 4, 2, 8]])
    lengths = torch.tensor([3, 4])
    padded = torch.cat([x, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(net(x, lengths), net(padded, lengths), atol=1e-6, rtol=0)
    assert net(x, lengths).shape == (2, 3)


def test_pretrained_vectors_initialise_the_table_with_a_zero_padding_row() -> None:
    vectors = torch.randn(20, 16)
    net = TextCNN(3, 20, embed_dim=16, channels=8, vectors=vectors)
    torch.testing.assert_close(net.embedding.weight[1:], vectors[1:])
    assert float(net.embedding.weight[0].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="do not fit"):
        TextCNN(3, 21, embed_dim=16, vectors=vectors)
