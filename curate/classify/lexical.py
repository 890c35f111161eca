"""Lexical: a ridge regression over hashed word and character n-grams, blended with the encoder's
score. The bag-of-n-grams classifier of DCLM and fastText, at the size a CPU bundle affords: an
encoder pretrained on another language (the demo's English MiniLM) ranks Norwegian text mostly by
genre, while the words themselves say what a text teaches (on the reference validation split, a
ridge over n-grams of 285 hand-labelled documents reached Spearman 0.78 against the encoder's 0.56).

Word unigrams and bigrams plus character 3-5-grams inside words (Norwegian compounds share their
parts), hashed into a fixed number of buckets with crc32 (stable across processes), counts
log-scaled and each document's vector L2-normalised. Fitting uses scikit-learn; scoring is numpy
only, so a bundle that carries `lexical.npz` still runs with onnxruntime and tokenizers alone.
Word order barely reaches these features: damage that keeps the words (shuffling) is the fluency
model's and the encoder's to see, and such damaged copies are left out of fitting.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

from curate.classify.fluency import WORD
from curate.errors import InputError

LEXICAL_FILE = "lexical.npz"
BUCKETS = 1 << 20


@lru_cache(maxsize=1 << 18)
def word_buckets(word: str, low: int, high: int, buckets: int) -> tuple[int, ...]:
    """The buckets of a word's unigram and of its character n-grams (padded with spaces)."""
    padded = f" {word} "
    grams = [f"w {word}"]
    for n in range(low, high + 1):
        grams += [f"c{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return tuple(zlib.crc32(g.encode()) % buckets for g in grams)


@lru_cache(maxsize=2048)
def text_vector(
    text: str, char_ngrams: tuple[int, int], buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """(buckets, values) of a text's normalised log-count vector: the buckets of each word's
    unigram and character n-grams (cached per word: the same wherever it occurs), then of its
    word pairs. Cached per text: the tasks of a spec score the same batch of texts one after
    another with models of the same features (the caller cuts the text to its max_chars)."""
    words = WORD.findall(text.lower())
    low, high = char_ngrams
    own = [word_buckets(w, low, high, buckets) for w in words]
    pairs = [
        zlib.crc32(f"b {a} {b}".encode()) % buckets
        for a, b in zip(words[:-1], words[1:], strict=True)
    ]
    found, counts = np.unique(
        np.fromiter(chain(chain.from_iterable(own), pairs), dtype=np.int64), return_counts=True
    )
    values = np.log1p(counts)
    norm = np.linalg.norm(values)
    values = values / norm if norm else values
    found.flags.writeable = values.flags.writeable = False  # shared by every caller
    return found, values


def blend(encoder: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """The task's score before the fluency penalty: `weight` of the lexical model's score."""
    return ((1.0 - weight) * encoder + weight * lexical).astype(np.float32)


class LexicalModel:
    def __init__(
        self,
        coef: np.ndarray,
        intercept: float,
        max_chars: int = 3000,
        char_ngrams: tuple[int, int] = (3, 5),
    ):
        self.coef, self.intercept = coef.astype(np.float32), float(intercept)
        self.max_chars, self.char_ngrams = max_chars, tuple(char_ngrams)
        self.buckets = len(coef)
        self.examples = 0  # how many training examples `fit` saw (not saved: metrics.json has it)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(buckets, values) of the text's normalised log-count vector."""
        return text_vector(text[: self.max_chars], self.char_ngrams, self.buckets)

    def matrix(self, texts: Sequence[str]):
        """The texts' vectors as a scipy sparse matrix, for fitting."""
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for text in texts:
            buckets, values = self.vector(text)
            indices.append(buckets)
            data.append(values)
            indptr.append(indptr[-1] + len(buckets))
        return csr_matrix(
            (np.concatenate(data or [[]]), np.concatenate(indices or [[]]), indptr),
            shape=(len(texts), self.buckets),
        )

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            buckets, values = self.vector(text)
            out[i] = self.intercept + float(values @ self.coef[buckets])
        return out

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        scores: Sequence[float],
        alpha: float = 0.1,
        max_chars: int = 3000,
        char_ngrams: tuple[int, int] = (3, 5),
        buckets: int = BUCKETS,
    ) -> LexicalModel:
        from sklearn.linear_model import Ridge

        if len(texts) < 2:
            raise InputError("the lexical model needs at least 2 training examples")
        model = cls(np.zeros(buckets), 0.0, max_chars, char_ngrams)
        ridge = Ridge(alpha=alpha).fit(model.matrix(texts), np.asarray(scores, dtype=np.float64))
        fitted = cls(ridge.coef_, ridge.intercept_, max_chars, char_ngrams)
        fitted.examples = len(texts)
        return fitted

    def save(self, path: Path) -> None:
        """Sparse and compressed: only buckets the training text reached have a weight."""
        nonzero = np.flatnonzero(self.coef)
        np.savez_compressed(
            path,
            buckets=np.int64(self.buckets),
            index=nonzero.astype(np.int32),
            weight=self.coef[nonzero],
            intercept=self.intercept,
            max_chars=np.int64(self.max_chars),
            char_ngrams=np.array(self.char_ngrams, dtype=np.int64),
        )

    @classmethod
    def load(cls, path: Path) -> LexicalModel:
        with np.load(path) as data:
            coef = np.zeros(int(data["buckets"]), dtype=np.float32)
            coef[data["index"]] = data["weight"]
            return cls(
                coef,
                float(data["intercept"]),
                int(data["max_chars"]),
                tuple(int(n) for n in data["char_ngrams"]),
            )
