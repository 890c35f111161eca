"""`curate inspect`: what is in a corpus, and what in it is broken."""

from __future__ import annotations

import os
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from curate.documents import DEFAULT_MAX_CHARS, ReadReport, read_documents

PERCENTILES = (5, 25, 50, 75, 95, 100)


@dataclass
class CorpusStats:
    report: ReadReport = field(default_factory=ReadReport)
    languages: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    chars: array = field(default_factory=lambda: array("q"))
    words: array = field(default_factory=lambda: array("q"))

    def percentiles(self, values: array) -> dict[str, int]:
        if not values:
            return {f"p{p}": 0 for p in PERCENTILES}
        arr = np.frombuffer(values, dtype=np.int64)
        return {
            f"p{p}": int(v)
            for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True)
        }

    def to_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "files": r.files,
            "rows": r.rows,
            "documents": r.documents,
            "bad_rows": r.bad_count,
            "bad_reasons": dict(r.bad_reasons),
            "bad_examples": [str(b) for b in r.bad_examples],
            "languages": dict(self.languages.most_common()),
            "sources": dict(self.sources.most_common()),
            "chars": self.percentiles(self.chars),
            "words": self.percentiles(self.words),
            "total_chars": int(sum(self.chars)),
            "total_words": int(sum(self.words)),
        }


def inspect_corpus(
    paths: Iterable[str | os.PathLike],
    source: str = "auto",
    strict: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
    progress: bool = True,
) -> CorpusStats:
    stats = CorpusStats()
    docs = read_documents(
        paths, source=source, report=stats.report, strict=strict, max_chars=max_chars
    )
    for doc in tqdm(docs, desc="inspect", unit=" docs", disable=not progress):
        stats.languages[doc.lang or "unknown"] += 1
        stats.sources[doc.source or "unknown"] += 1
        stats.chars.append(len(doc.text))
        stats.words.append(len(doc.text.split()))
    return stats
