"""TF-IDF vectors of transcripts: the input stage of `model=text_tfidf` (`model.vectorizer`).

The classical adapter (`ser.models.classical`) uses `model.vectorizer` in place of its numeric
preprocessing when the view is `text`, and fits it on the training rows only, like the scaler
of a vector model: vocabulary and IDF never see a validation or test transcript.

Word n-grams catch the words and short phrases that carry emotion ("so happy", "not fair"); character
n-grams within words catch their variants and misspellings (`amazing`, `amazed`) that a word
vocabulary fit on a few hundred lines has not seen. The text arrives cleaned by the text view
(`ser.text`), so the vectorizers neither lower-case nor strip anything themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

# Words (inner apostrophes kept: don't), one-letter words (i, a) and event tokens (<laughter>).
TOKEN_PATTERN = r"<\w+>|\b\w[\w']*\b"


def tfidf_ngrams(
    word_ngrams: Sequence[int] = (1, 2),
    char_ngrams: Sequence[int] = (2, 5),
    min_df: int = 1,
    sublinear_tf: bool = True,
    max_features: int | None = None,
) -> FeatureUnion:
    """Word and character TF-IDF side by side (a sparse matrix with both blocks).

    `word_ngrams` / `char_ngrams`: (min, max) n-gram lengths; an empty or null range leaves that
    block out. `max_features` caps each block's vocabulary (the most frequent n-grams of training).
    """
    blocks = []
    if word_ngrams:
        blocks.append(("word", TfidfVectorizer(
            analyzer="word", ngram_range=tuple(word_ngrams), token_pattern=TOKEN_PATTERN, lowercase=False,
            min_df=min_df, sublinear_tf=sublinear_tf, max_features=max_features,
        )))  # fmt: skip
    if char_ngrams:
        blocks.append(("char", TfidfVectorizer(
            analyzer="char_wb", ngram_range=tuple(char_ngrams), lowercase=False,
            min_df=min_df, sublinear_tf=sublinear_tf, max_features=max_features,
        )))  # fmt: skip
    if not blocks:
        raise ValueError("model.vectorizer: give word_ngrams or char_ngrams (both are empty)")
    return FeatureUnion(blocks)
