"""`curate synthesize`: labelled training data without an LLM. Clean text a user trusts becomes
positives; damaged copies of it (curate.degrade) become negatives with the score the
guidelines give each kind of damage. Both are written as a corpus plus annotation records, the
same files `curate annotate` writes, so `curate train` takes them as they are."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curate.annotations import AnnotationRecord, records_file, write_records
from curate.degrade import FAMILIES, UnknownFamily, damaged_copies, needs_donors
from curate.documents import Document, text_sha256, write_documents
from curate.errors import InputError
from curate.tasks import get_task

ANNOTATOR = {"backend": "synthetic", "model": "curate.degrade", "prompt_sha256": None}


def synthetic_record(doc: Document, task: str, score: int, rationale: str) -> AnnotationRecord:
    """An annotation record for a label made here. A document's split (the reference corpus's,
    which damaged copies inherit) goes into the record, so the label keeps it whichever corpus
    `curate train` finds the text in."""
    return AnnotationRecord(
        id=doc.id,
        task=task,
        score=score,
        text_sha256=text_sha256(doc.text),
        rationale=rationale,
        annotator=dict(ANNOTATOR),
        split=doc.metadata.get("split") or None,
    )


def pick_families(
    doc: Document,
    families: Sequence[str],
    copies: int,
    seed: int,
    weights: dict[str, float] | None = None,
) -> list[str]:
    """`copies` different families for one document, seeded by its id; families with a larger
    weight (default 1) are picked more often: the hard ones need more examples."""
    rng = random.Random(f"{seed}/{doc.id}/families")
    pool = list(families)
    chosen = []
    while pool and len(chosen) < copies:
        family = rng.choices(pool, [(weights or {}).get(f, 1.0) for f in pool])[0]
        chosen.append(family)
        pool.remove(family)
    return chosen


def synthesize(
    clean: Sequence[Document],
    out_dir: str | os.PathLike,
    donors: Sequence[str] = (),
    families: Sequence[str] = tuple(FAMILIES),
    copies: int = 2,
    tasks: Sequence[str] = ("linguistic_quality",),
    clean_score: int | None = None,
    seed: int = 0,
    weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Writes OUT/documents.jsonl.gz (clean documents and their damaged copies) and
    OUT/<task>.jsonl for every task. Each clean document gets `copies` damaged copies of
    different families (chosen per document, seeded), labelled with the task's damage score for
    the family (curate.tasks). Clean documents are labelled with `clean_score` (default: the
    task's) only for tasks that give clean text a score: educational value needs a reader."""
    unknown = (set(families) | set(weights or {})) - set(FAMILIES)
    if unknown:
        raise UnknownFamily(f"unknown damage families {sorted(unknown)}; known: {sorted(FAMILIES)}")
    if any(w <= 0 for w in (weights or {}).values()):
        raise InputError(f"damage family weights must be positive: {weights}")
    needing = [f for f in families if needs_donors(f)]
    if needing and not donors:
        raise InputError(f"{', '.join(needing)} needs --donors: documents in other languages")
    out = Path(out_dir)
    damaged: list[Document] = []
    for doc in clean:
        picked = pick_families(doc, families, copies, seed, weights)
        damaged += damaged_copies([doc], picked, donors, seed)
    counts: dict[str, Counter] = {}
    for spec in [get_task(t) for t in tasks]:
        task = spec.name
        records = [
            synthetic_record(d, task, score, f"damage: {family}")
            for d in damaged
            if (score := spec.damage_score(family := d.metadata["damage"])) is not None
        ]
        if spec.clean_score is not None:
            score = clean_score if clean_score is not None else spec.clean_score
            records += [synthetic_record(d, task, score, "clean source text") for d in clean]
        write_records(records, records_file(out, task))
        counts[task] = Counter(r.score for r in records)
    n = write_documents([*clean, *damaged], out / "documents.jsonl.gz")
    return {"documents": n, "clean": len(clean), "damaged": len(damaged), "labels": counts}
