"""Fluency: a word-bigram language model of clean text, CCNet's perplexity signal at the size a
CPU bundle affords. Text whose word pairs clean text never showed (scrambled word order,
sentences in another language, scanning noise) gets a low log-probability per word; the
classifier's score is lowered by how far that falls below clean text's usual range, judged
twice: over the whole text (mean per word) and over its least fluent stretches (a low quantile
of the means of sliding word windows), because a few inserted foreign or scrambled sentences
barely move a long document's mean.

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
    """How the log-probabilities become a penalty:
    `weight * min(z + margin, 0) + window_weight * min(z_window + window_margin, 0)`, z being
    the document's mean log-probability per word and z_window the `window_quantile` quantile of
    its `window`-word sliding means, each standardised by good validation text (`mean`/`std`,
    `window_mean`/`window_std`: median and MAD-scaled spread, so a few odd validation texts do
    not move them). Only text well below good text's range is penalised; fluent text is never
    raised. Bundles written before the window term have window_weight 0."""

    mean: float
    std: float
    weight: float = 1.5
    margin: float = 1.0
    max_words: int = 400
    window: int = 40
    window_quantile: float = 0.25
    window_weight: float = 0.0
    window_margin: float = 0.5
    window_mean: float = 0.0
    window_std: float = 1.0

    def penalty(self, features: np.ndarray) -> np.ndarray:
        """`features`: (n, 2) from WordBigramLM.features, or (n,) mean log-probabilities."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        z = (features[:, 0] - self.mean) / self.std
        out = self.weight * np.minimum(z + self.margin, 0.0)
        if self.window_weight and features.shape[1] > 1:
            z_window = (features[:, 1] - self.window_mean) / self.window_std
            out += self.window_weight * np.minimum(z_window + self.window_margin, 0.0)
        return out.astype(np.float32)

    @classmethod
    def fit(cls, features: np.ndarray, **settings) -> FluencyParams:
        """Standardisation from good validation text's features, robustly."""
        (mean, std), (window_mean, window_std) = (robust_scale(c) for c in features.T)
        return cls(mean, std, window_mean=window_mean, window_std=window_std, **settings)


def fluency_penalty(lm: WordBigramLM, params: FluencyParams, texts: Sequence[str]) -> np.ndarray:
    """The penalty (<= 0) that `params` gives each text under `lm`."""
    return params.penalty(
        lm.features(texts, params.max_words, params.window, params.window_quantile)
    )


def robust_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and the MAD scaled to a normal's standard deviation (never 0)."""
    median = float(np.median(values))
    return median, max(1.4826 * float(np.median(np.abs(values - median))), 1e-6)


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

    def word_log_probs(self, text: str, max_words: int = 400) -> np.ndarray:
        """Log-probability of each of the text's first `max_words` words after the first."""
        h = word_hashes(text, max_words, self.buckets)
        if len(h) < 2:
            return np.array([np.log(self.unigram_p.min())])  # nothing to judge: least likely
        pair = self.bigram[(h[:-1] * PAIR_MULTIPLIER + h[1:]) % self.buckets]
        p_pair = pair / np.maximum(self.context[h[:-1]], 1.0)
        return np.log(self.mix * p_pair + (1 - self.mix) * self.unigram_p[h[1:]])

    def log_prob(self, texts: Sequence[str], max_words: int = 400) -> np.ndarray:
        """Mean log-probability per word of each text's first `max_words` words."""
        return np.array([self.word_log_probs(t, max_words).mean() for t in texts], dtype=np.float32)

    def features(
        self, texts: Sequence[str], max_words: int = 400, window: int = 40, quantile: float = 0.25
    ) -> np.ndarray:
        """(n, 2): each text's mean log-probability per word and the `quantile` quantile of its
        `window`-word sliding means (the mean again for texts shorter than a window)."""
        out = np.empty((len(texts), 2), dtype=np.float32)
        kernel = np.ones(window) / window
        for i, text in enumerate(texts):
            lp = self.word_log_probs(text, max_words)
            out[i, 0] = lp.mean()
            slides = np.convolve(lp, kernel, mode="valid") if len(lp) >= window else lp.mean()
            out[i, 1] = np.quantile(slides, quantile)
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
