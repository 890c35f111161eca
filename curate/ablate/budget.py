"""The same token budget for every variant: each run trains on a sample of its variant's
documents that holds enough tokens for `steps` full windows. A variant with fewer tokens than
that is sampled with replacement (documents repeat), and its table row says how often."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curate.atomic import write_atomic
from curate.documents import ReadReport, read_documents, write_documents
from curate.errors import CurateError


@dataclass
class Sample:
    documents: int  # distinct documents the variant has
    tokens: int  # their tokens (each as BOS + text + EOS, as curate pretrain counts them)
    drawn_documents: int
    drawn_tokens: int
    with_replacement: bool
    bad_rows: int
    sources: list[str] = field(default_factory=list)  # what it was drawn from (a changed variant)

    @property
    def repeats(self) -> float:
        """How often the sample holds each of the variant's tokens on average."""
        return self.drawn_tokens / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "repeats": self.repeats}


class EmptyVariant(CurateError, ValueError):
    """Nothing of a variant passed its filters: no sample to train on."""


def count_tokens(texts: list[str], tokenizer) -> list[int]:
    return [len(ids) + 2 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def draw(lengths: list[int], needed: int, rng: random.Random) -> tuple[list[int], bool]:
    """Document indices holding at least `needed` tokens: a seeded shuffle taken in order, then,
    if the variant runs out, documents drawn with replacement."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    picked, total = [], 0
    for i in order:
        if total >= needed:
            return picked, False
        picked.append(i)
        total += lengths[i]
    if total >= needed:
        return picked, False
    while total < needed:
        i = rng.randrange(len(lengths))
        picked.append(i)
        total += lengths[i]
    return picked, True


def sample_documents(sources: list[str], tokenizer, needed: int, seed: int, target: Path) -> Sample:
    """Write to `target` (jsonl, atomically) a seeded sample of the documents under `sources`
    with at least `needed` tokens."""
    report = ReadReport()
    docs = list(read_documents(sources, report=report))
    if not docs:
        raise EmptyVariant(f"no documents in {[str(s) for s in sources]} (nothing passed)")
    lengths = count_tokens([d.text for d in docs], tokenizer)
    picked, replaced = draw(lengths, needed, random.Random(seed))
    rows = []
    for n, i in enumerate(picked):
        row = docs[i].to_dict()
        row["id"] = f"{docs[i].id}#{n}" if replaced else docs[i].id
        rows.append(row)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_documents(rows, target)  # atomic
    sample = Sample(
        documents=len(docs),
        tokens=sum(lengths),
        drawn_documents=len(picked),
        drawn_tokens=sum(lengths[i] for i in picked),
        with_replacement=replaced,
        bad_rows=report.bad_count,
        sources=list(sources),
    )
    write_atomic(target.with_suffix(".sample.json"), json.dumps(sample.to_dict(), indent=2))
    return sample


def read_sample(target: Path) -> Sample | None:
    """The sample written before (a resumed ablation draws nothing again), or None."""
    meta = target.with_suffix(".sample.json")
    if not (target.exists() and meta.exists()):
        return None
    values = json.loads(meta.read_text(encoding="utf-8"))
    values.pop("repeats", None)
    return Sample(**values)
