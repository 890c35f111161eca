"""`curate score`: add classifier scores to every document of a corpus, streaming."""

from __future__ import annotations

import base64
import itertools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from curate.classify.cascade import CHEAP, ENCODER, judged_scores
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


EMBEDDING = "embedding"  # metadata key: the text's vector, as `vector_to_metadata` writes it


def add_scores(
    docs,
    classifiers: list[QualityClassifier],
    embeddings: bool = False,
    windows: Callable[[QualityClassifier], dict] | None = None,
) -> None:
    """Write metadata[<task>] (float on the label scale), metadata[<task>_int] (rounded,
    clipped, as FineWeb-Edu's int_score) and metadata[<task>_raw] (before the label-scale map)
    in place; with `embeddings`, also metadata["embedding"], the first bundle's text vector
    (QualityClassifier.text_vectors: its encoder's embedding layer, no second encoder pass).
    With `windows` (a bundle -> {task: each document's bands}), the cascade judges
    (curate.classify.cascade.judged_scores) and metadata[<task>_judge] says which path did."""
    texts = [d.text for d in docs]
    if windows is None:
        every = [
            {t: (s, r, None) for t, (s, r) in c.scores_and_raw(texts).items()} for c in classifiers
        ]
    else:
        every = judged_scores(classifiers, texts, windows)
    for clf, judged in zip(classifiers, every, strict=True):
        for task, (scores, raw, by_encoder) in judged.items():
            lo, hi = clf.scale_of(task)
            for i, (doc, s, r) in enumerate(zip(docs, scores, raw, strict=True)):
                doc.metadata[task] = round(float(s), 4)
                doc.metadata[f"{task}_int"] = int(min(max(round(float(s)), lo), hi))
                doc.metadata[f"{task}_raw"] = round(float(r), 4)
                if by_encoder is not None:
                    doc.metadata[f"{task}_judge"] = ENCODER if by_encoder[i] else CHEAP
    if embeddings and classifiers:
        for doc, vector in zip(docs, classifiers[0].text_vectors(texts), strict=True):
            doc.metadata[EMBEDDING] = vector_to_metadata(vector)


def vector_to_metadata(vector: np.ndarray) -> str:
    """float16, base64: 384 dimensions take 1,024 characters of JSON."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def vector_from_metadata(value: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value), dtype="<f2").astype(np.float32)


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
