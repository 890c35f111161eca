"""Words for the steps that count them (Gopher repetition and quality, FineWeb, C4, MinHash): the
same words datatrove's spaCy tokenizer gives, segmented once per distinct whitespace-separated
chunk instead of once per document and step.

spaCy's tokenizer splits on whitespace first and then works on each chunk alone (prefixes,
suffixes, infixes, special cases), so a chunk's tokens do not depend on the text around it. Web
text repeats its chunks (a Zipf vocabulary), so a per-process table chunk -> tokens answers
most of a page from memory; the chunks not in it are tokenised by spaCy in one call per
document, and a chunk of letters only that is no special case is its own single token (checked
against spaCy on every chunk of the web and reference samples: `tests/test_words.py`,
`benchmarks/filter_throughput.py`).

Measured on the web and reference samples (8,150 documents, 1.4 M words): datatrove's
tokenizer 12.3 s; this one 5.3 s with an empty table and 0.8 s once the table holds the
sample's chunks; the words are identical on every document, original and MinHash-simplified.
Steps of one stage also share one segmentation of a document: datatrove's `split_into_words`
caches on (text, tokenizer), and these tokenizers compare equal per spaCy language.

`CURATE_DATATROVE_WORDS=1` hands the steps datatrove's own tokenizer (the baseline of
benchmarks/filter_throughput.py).
"""

from __future__ import annotations

import os
from typing import Any

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer, load_word_tokenizer

MAX_CHUNKS = 500_000  # per spaCy language and process; the table starts over beyond it
_CHUNKS: dict[str, dict[str, tuple[str, ...]]] = {}


class SharedWords(WordTokenizer):
    """datatrove's word tokenizer for `language` (ISO 639-3), answering `word_tokenize` from
    the per-process chunk table. Sentences go to datatrove's tokenizer unchanged."""

    def __init__(self, language: str):
        super().__init__(language)
        self._inner: WordTokenizer | None = None

    @property
    def inner(self) -> WordTokenizer:
        if self._inner is None:
            self._inner = load_word_tokenizer(self.language)
        return self._inner

    @property
    def key(self) -> str:
        """spaCy's language: Bokmål and Nynorsk share the blank `nb` tokenizer."""
        inner = self.inner
        return f"spacy:{inner.language}" if isinstance(inner, SpaCyTokenizer) else self.language

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedWords) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_inner": None}

    def word_tokenize(self, text: str) -> list[str]:
        inner = self.inner
        if not isinstance(inner, SpaCyTokenizer):
            return inner.word_tokenize(text)
        table = _CHUNKS.setdefault(self.key, {})
        chunks = text.split()
        missing = {c for c in chunks if c not in table}
        if missing:
            if len(table) + len(missing) > MAX_CHUNKS:
                table.clear()
            table.update(self.segment(inner, sorted(missing)))
        return [word for chunk in chunks for word in table[chunk]]

    @staticmethod
    def segment(inner: SpaCyTokenizer, chunks: list[str]) -> dict[str, tuple[str, ...]]:
        """Each chunk's tokens: letters-only chunks that are no special case stand alone; the
        rest go through spaCy in one call, joined by spaces, its tokens assigned back to their
        chunk by character offset."""
        nlp = inner.tokenizer
        special = nlp.tokenizer.rules or {}
        out = {c: (c,) for c in chunks if c.isalpha() and c not in special}
        rest = [c for c in chunks if c not in out]
        if not rest:
            return out
        starts, pos = [], 0
        for chunk in rest:
            starts.append(pos)
            pos += len(chunk) + 1
        words: list[list[str]] = [[] for _ in rest]
        nlp.max_length = max(nlp.max_length, pos + 10)
        with nlp.memory_zone():
            index = 0
            for token in nlp.tokenizer(" ".join(rest)):
                while index + 1 < len(rest) and token.idx >= starts[index + 1]:
                    index += 1
                if text := token.text.strip():
                    words[index].append(text)
        out.update({c: tuple(w) for c, w in zip(rest, words, strict=True)})
        return out

    def sent_tokenize(self, text: str) -> list[str]:
        return self.inner.sent_tokenize(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self.inner.span_tokenize(text)


def words_for(language: str) -> str | WordTokenizer:
    """What a datatrove step takes as its `language` (ISO 639-3): the shared tokenizer, or the
    code itself under CURATE_DATATROVE_WORDS=1."""
    if os.environ.get("CURATE_DATATROVE_WORDS") == "1":
        return language
    return SharedWords(language)
