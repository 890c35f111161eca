"""Join annotations with their documents, check them, and split them by score."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from sklearn.model_selection import train_test_split

from curate.annotations import AnnotationRecord, iter_records
from curate.documents import read_documents, text_sha256
from curate.errors import InputError

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
DOMAINS = ("edited", "web")  # where a document comes from, for thresholds chosen per domain


@cache
def committed_splits() -> tuple[frozenset[str], frozenset[str]]:
    """The ids of the reference corpus (edited prose) and of the web sample."""
    from curate.reference import load_split
    from curate.web import load_web_split

    return frozenset(load_split()), frozenset(load_web_split())


@dataclass
class Example:
    id: str
    text: str
    score: int
    lang: str | None = None
    source: str | None = None
    split: str | None = None  # fixed by the annotation or the document; None = split here
    damage: str | None = None  # a damaged copy's damage family (curate.degrade)


@dataclass
class LabelReport:
    annotations: int = 0
    used: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < 50:
            self.examples.append(f"{where}: {reason}")
        logger.info("annotation skipped: %s: %s", where, reason)


def read_annotations(
    paths: Iterable[str | os.PathLike], task: str, report: LabelReport
) -> dict[str, tuple[AnnotationRecord, str]]:
    """id -> (annotation, 'file:line') for `task`; a later duplicate replaces an earlier one."""
    found: dict[str, tuple[AnnotationRecord, str]] = {}
    for record, where in iter_records(paths, report.skip):
        if record.task != task:
            continue
        report.annotations += 1
        if record.id in found:
            report.skip("duplicate id (the later annotation is used)", where)
        found[record.id] = (record, where)
    return found


def load_examples(
    annotations: Iterable[str | os.PathLike],
    corpus: Iterable[str | os.PathLike],
    task: str,
    scale: tuple[int, int],
) -> tuple[list[Example], LabelReport]:
    report = LabelReport()
    wanted = read_annotations(annotations, task, report)
    if not wanted:
        raise InputError(f"no annotations for task {task!r} in {list(map(str, annotations))}")
    examples = []
    seen = set()
    changed = set()  # ids whose text differed; another corpus may hold the annotated text
    for doc in read_documents(corpus):
        if doc.id not in wanted or doc.id in seen:
            continue
        record, where = wanted[doc.id]
        sha = record.text_sha256
        if sha and sha != text_sha256(doc.text):
            changed.add(doc.id)
            continue
        seen.add(doc.id)
        score = record.score
        if (
            not isinstance(score, int)
            or isinstance(score, bool)
            or not scale[0] <= score <= scale[1]
        ):
            report.skip(f"score {score!r} outside the scale {scale}", where)
            continue
        split = record.split or doc.metadata.get("split")
        if split is not None and split not in SPLITS:
            report.skip(f"split {split!r} is not one of {SPLITS}", where)
            continue
        damage = doc.metadata.get("damage")
        examples.append(Example(doc.id, doc.text, score, doc.lang, doc.source, split, damage))
    for doc_id in sorted(changed - seen):
        report.skip("the document's text changed since it was annotated", wanted[doc_id][1])
    for doc_id in wanted.keys() - seen - changed:
        report.skip("document not found in the corpus", wanted[doc_id][1])
    report.used = len(examples)
    return examples, report


def split_examples(
    examples: list[Example], validation: float, test: float, seed: int
) -> dict[str, list[Example]]:
    """Train/validation/test. An example whose annotation or document names its split (the
    reference corpus's committed split, and damaged copies, which follow their original) goes
    there; the rest are split here, stratified by score and seeded. Every split must be
    non-empty."""
    splits = {name: [e for e in examples if e.split == name] for name in SPLITS}
    free = [e for e in examples if e.split is None]
    if free:
        for name, part in random_split(free, validation, test, seed).items():
            splits[name] += part
    for name, part in splits.items():
        if not part:
            raise InputError(f"the {name} split is empty: {len(examples)} examples are too few")
    return splits


def random_split(
    examples: list[Example], validation: float, test: float, seed: int
) -> dict[str, list[Example]]:
    """Every score needs at least 3 examples so that each split can hold one."""
    counts = Counter(e.score for e in examples)
    rare = {s: n for s, n in counts.items() if n < 3}
    if rare:
        raise InputError(
            f"scores with fewer than 3 examples cannot be split: {rare}; "
            "annotate more documents or merge classes"
        )
    labels = [e.score for e in examples]
    try:
        rest, test_set = train_test_split(
            examples, test_size=test, random_state=seed, stratify=labels
        )
        rest_labels = [e.score for e in rest]
        train, val = train_test_split(
            rest, test_size=validation / (1 - test), random_state=seed, stratify=rest_labels
        )
    except ValueError as err:  # scikit-learn's: too few examples for a stratified split
        raise InputError(f"cannot split {len(examples)} examples by score: {err}") from err
    return {"train": train, "validation": val, "test": test_set}


def example_domains(examples: list[Example]) -> list[str | None]:
    """Each example's domain: "web" for the web sample's pages, "edited" for the reference
    corpus's prose and damaged copies of it, None for the rest (the demo seed set, an LLM's
    annotations of a user's corpus)."""
    edited, web = committed_splits()
    return [
        "web" if e.id in web else "edited" if e.id in edited or e.damage else None for e in examples
    ]
