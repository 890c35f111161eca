"""Fluency: a word-bigram language model of clean text, CCNet's perplexity signal at the size a
CPU bundle affords. Text whose word pairs clean text never showed (scrambled word order,
sentences in another language, scanning noise) gets a low mean log-probability per word; the
classifier's score is lowered by how far that falls below clean text's usual range.

numpy only (no torch), so a bundle that carries `fluency.npz` still runs with onnxruntime and
tokenizers alone. Words are hashed into a fixed number of buckets (crc32, stable across
processes), so the model's size does not grow with the corpus.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORD = re.compile(r"\w+|[^\w\s]")
FLUENCY_FILE = "fluency.npz"
BUCKETS = 1 << 21
PAIR_MULTIPLIER = 1_000_003  # a prime: (h1 * P + h2) mod BUCKETS spreads word pairs


def word_hashes(text: str, max_words: int, buckets: int) -> np.ndarray:
    words = WORD.findall(text.lower())[:max_words]
    return np.array([zlib.crc32(w.encode()) for w in words], dtype=np.int64) % buckets


@dataclass
class FluencyParams:
    """How the log-probability becomes a penalty: `weight * min(z + margin, 0)`, z being the
    document's log-probability standardised by clean validation text (`mean`, `std`). Only text
    well below clean text's range is penalised; fluent text is never raised."""

    mean: float
    std: float
    weight: float = 1.5
    margin: float = 1.0
    max_words: int = 400

    def penalty(self, log_probs: np.ndarray) -> np.ndarray:
        z = (np.asarray(log_probs, dtype=np.float64) - self.mean) / self.std
        return (self.weight * np.minimum(z + self.margin, 0.0)).astype(np.float32)


class WordBigramLM:
    """Interpolated bigram model over hashed lower-cased words and punctuation."""

    def __init__(
        self, unigram: np.ndarray, bigram: np.ndarray, context: np.ndarray, mix: float = 0.7
    ):
        self.unigram, self.bigram, self.context, self.mix = unigram, bigram, context, mix
        self.buckets = len(unigram)
        self.unigram_p = unigram / unigram.sum()

    @classmethod
    def fit(cls, texts: Iterable[str], buckets: int = BUCKETS) -> WordBigramLM:
        unigram = np.ones(buckets, dtype=np.float32)  # add-one: no word has probability 0
        bigram = np.zeros(buckets, dtype=np.float32)
        context = np.zeros(buckets, dtype=np.float32)
        for text in texts:
            h = word_hashes(text, len(text), buckets)
            np.add.at(unigram, h, 1)
            np.add.at(context, h[:-1], 1)
            np.add.at(bigram, (h[:-1] * PAIR_MULTIPLIER + h[1:]) % buckets, 1)
        return cls(unigram, bigram, context)

    def log_prob(self, texts: Sequence[str], max_words: int = 400) -> np.ndarray:
        """Mean log-probability per word of each text's first `max_words` words."""
        out = np.empty(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            h = word_hashes(text, max_words, self.buckets)
            if len(h) < 2:
                out[i] = np.log(self.unigram_p.min())  # nothing to judge: as unlikely as it gets
                continue
            pair = self.bigram[(h[:-1] * PAIR_MULTIPLIER + h[1:]) % self.buckets]
            p_pair = pair / np.maximum(self.context[h[:-1]], 1.0)
            p = self.mix * p_pair + (1 - self.mix) * self.unigram_p[h[1:]]
            out[i] = float(np.log(p).mean())
        return out

    def save(self, path: Path) -> None:
        """Sparse and compressed: most buckets of a bigram table are empty."""
        arrays = {}
        for name in ("unigram", "bigram", "context"):
            table = getattr(self, name)
            nonzero = np.flatnonzero(table != (1 if name == "unigram" else 0))
            arrays[f"{name}_index"] = nonzero.astype(np.int32)
            arrays[f"{name}_count"] = table[nonzero]
        np.savez_compressed(path, buckets=np.int64(self.buckets), mix=self.mix, **arrays)

    @classmethod
    def load(cls, path: Path) -> WordBigramLM:
        with np.load(path) as data:
            buckets = int(data["buckets"])
            tables = {}
            for name, base in (("unigram", 1.0), ("bigram", 0.0), ("context", 0.0)):
                table = np.full(buckets, base, dtype=np.float32)
                table[data[f"{name}_index"]] = data[f"{name}_count"]
                tables[name] = table
            return cls(**tables, mix=float(data["mix"]))
