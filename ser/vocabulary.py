"""A word vocabulary for the text nets: built from the training part's (cleaned) transcripts only,
so no validation or test word ever gets its own id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PAD, UNK = "<pad>", "<unk>"


def tokens(text: str) -> list[str]:
    """Words of a cleaned transcript (the cleaning has already split off punctuation and events)."""
    return text.split()


@dataclass(frozen=True)
class Vocabulary:
    """Words in id order: 0 is padding, 1 the unknown word, then the training words by frequency."""

    words: tuple[str, ...]

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, max_size: int = 20000) -> Vocabulary:
        """The words that occur at least `min_count` times in `texts`, most frequent first (ties
        alphabetical, so the ids do not depend on the order of the texts), at most `max_size`."""
        counts = Counter(w for text in texts for w in tokens(text))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((PAD, UNK, *kept[: max(0, max_size - 2)]))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, texts: Sequence[str], max_words: int = 0) -> list[np.ndarray]:
        """Word ids per text (unknown words -> 1); an empty text becomes one unknown word, so every
        sequence has a length of at least 1; `max_words` > 0 keeps the first `max_words`."""
        index, unk = self.index, self.words.index(UNK)
        out = []
        for text in texts:
            ids = [index.get(w, unk) for w in tokens(text)] or [unk]
            if max_words > 0:
                ids = ids[:max_words]
            out.append(np.asarray(ids, dtype=np.int64))
        return out
