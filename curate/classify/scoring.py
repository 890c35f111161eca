"""`curate score`: add classifier scores to every document of a corpus, streaming."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from tqdm import tqdm

from curate.classify.runtime import QualityClassifier
from curate.documents import DocumentWriter, ReadReport, read_documents


@dataclass
class ScoreSummary:
    documents: int
    seconds: float
    bad_rows: int
    kept: dict[str, int]

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0


def add_scores(docs, classifiers: list[QualityClassifier]) -> None:
    """Write metadata[<task>] (float on the label scale), metadata[<task>_int] (rounded,
    clipped, as FineWeb-Edu's int_score) and metadata[<task>_raw] (before the label-scale map)
    in place."""
    texts = [d.text for d in docs]
    for clf in classifiers:
        for task, (scores, raw) in clf.scores_and_raw(texts).items():  # one encoder pass
            lo, hi = clf.scale_of(task)
            for doc, s, r in zip(docs, scores, raw, strict=True):
                doc.metadata[task] = round(float(s), 4)
                doc.metadata[f"{task}_int"] = int(min(max(round(float(s)), lo), hi))
                doc.metadata[f"{task}_raw"] = round(float(r), 4)


def score_corpus(
    classifiers: list[QualityClassifier],
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike,
    chunk_size: int = 1024,
    progress: bool = True,
) -> tuple[ScoreSummary, ReadReport]:
    report = ReadReport()
    docs = read_documents(inputs, report=report)
    kept = {task: 0 for c in classifiers for task in c.tasks}
    n = 0
    start = time.monotonic()
    with (
        DocumentWriter(output) as writer,
        tqdm(desc="score", unit=" docs", disable=not progress) as bar,
    ):
        while chunk := list(itertools.islice(docs, chunk_size)):
            add_scores(chunk, classifiers)
            for doc in chunk:
                writer.write(doc)
                for c in classifiers:
                    for task in c.tasks:
                        kept[task] += doc.metadata[task] >= c.threshold_for(doc.lang, task)
            n += len(chunk)
            bar.update(len(chunk))
    return ScoreSummary(n, time.monotonic() - start, report.bad_count, kept), report
