"""The real-text reference corpus (`../shared/reference`) and its committed train/validation/test
split.

The corpus is not part of the repository (its licences ask for credit and share-alike); the split
is, as id lists shipped in the package (`curate/resources/reference_split/`), so every benchmark
and every classifier trained here tunes on the same documents and is measured on the same
untouched test documents.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from pathlib import Path

from curate.documents import Document, read_documents
from curate.errors import InputError, MissingInput
from curate.package_files import package_file

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = {"train": 0.65, "validation": 0.15, "test": 0.20}
SPLIT_SEED = 20261123
SPLIT_DIR = package_file("reference_split")
CREDIT = (
    "Reference corpus: NorQuAD (ltgoslo, CC0; Wikipedia parts CC BY-SA), Norwegian laws and "
    "regulations (Lovdata via norwegian-laws, NLOD 2.0), NTREX-128 (Microsoft, CC BY-SA 4.0), "
    "LIA Nynorsk treebank (UD, CC BY-SA 4.0)."
)

# Written, edited prose: the documents a quality filter must keep. LIA is spoken dialect
# transcribed without punctuation: real language, but not prose, so it is reported on its own.
PROSE_SOURCES = ("norquad", "laws", "ntrex")


class ReferenceMissing(MissingInput):
    pass


def shared_dir(path, variable: str, name: str, pattern: str, missing: type, what: str) -> Path:
    """A real-text folder beside the repository: `path`, else $`variable`, else ../shared/`name`;
    `missing` is raised, naming where it looked, when no file there matches `pattern`."""
    found = Path(path or os.environ.get(variable) or f"../shared/{name}")
    if not any(found.glob(pattern)):
        raise missing(
            f"no {what} at {found.resolve()}: it lives beside the repository as "
            f"../shared/{name} (or set {variable})"
        )
    return found


def reference_dir(path: str | os.PathLike | None = None) -> Path:
    """The reference corpus folder: `path`, else $CURATE_REFERENCE, else ../shared/reference."""
    return shared_dir(
        path, "CURATE_REFERENCE", "reference", "*.jsonl.gz", ReferenceMissing, "reference corpus"
    )


def load_reference(path: str | os.PathLike | None = None) -> list[Document]:
    """Every reference document, with `source` = its file (norquad, laws, ntrex, lia) and
    `metadata['genre']`, in a stable order."""
    docs = []
    for file in sorted(reference_dir(path).glob("*.jsonl.gz")):
        source = file.name.removesuffix(".jsonl.gz")
        for doc in read_documents([file], source="curate", strict=True):
            doc.source = source
            docs.append(doc)
    return docs


def split_group(doc: Document) -> str:
    """Documents that must land in one split: NTREX holds the same article in five languages
    (`ntrex/nob/bbc.1`, `ntrex/swe/bbc.1`), so no translation tests what its twin trained."""
    if doc.source == "ntrex":
        return "ntrex/" + doc.id.rsplit("/", 1)[-1]
    return doc.id


def make_split(docs: list[Document], seed: int = SPLIT_SEED) -> dict[str, str]:
    """id -> split, by document group, stratified by source and language, seeded."""
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    members: dict[str, list[str]] = defaultdict(list)
    for doc in docs:
        group = split_group(doc)
        if group not in members:
            key = (doc.source or "", "all" if doc.source == "ntrex" else doc.lang or "")
            strata[key].append(group)
        members[group].append(doc.id)
    by_group = assign_strata(strata, seed)
    return {doc_id: by_group[group] for group, ids in members.items() for doc_id in ids}


def assign_strata(strata: dict[tuple[str, ...], list[str]], seed: int) -> dict[str, str]:
    """item -> split: each stratum shuffled with one seeded generator (strata in sorted order)
    and cut at SPLIT_FRACTIONS, so every stratum is split in the same proportions."""
    rng = random.Random(seed)
    assignment = {}
    for key in sorted(strata):
        items = sorted(strata[key])
        rng.shuffle(items)
        n_test = round(len(items) * SPLIT_FRACTIONS["test"])
        n_val = round(len(items) * SPLIT_FRACTIONS["validation"])
        for i, item in enumerate(items):
            assignment[item] = (
                "test" if i < n_test else "validation" if i < n_test + n_val else "train"
            )
    return assignment


def write_split(assignment: dict[str, str], out_dir: Path = SPLIT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        ids = sorted(i for i, s in assignment.items() if s == name)
        (out_dir / f"{name}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")


def load_split(split_dir: Path = SPLIT_DIR) -> dict[str, str]:
    """id -> split from the committed id lists."""
    assignment = {}
    for name in SPLITS:
        for doc_id in (split_dir / f"{name}.txt").read_text(encoding="utf-8").split():
            assignment[doc_id] = name
    return assignment


def reference_splits(path: str | os.PathLike | None = None) -> dict[str, list[Document]]:
    """The reference documents by committed split; every document must be in the split."""
    return by_split(load_reference(path), load_split(), "reference document")


def by_split(docs: list[Document], assignment: dict[str, str], what: str):
    """Documents by their committed split (`metadata['split']` set); every one must be in it."""
    splits: dict[str, list[Document]] = {name: [] for name in SPLITS}
    for doc in docs:
        if doc.id not in assignment:
            raise InputError(f"{what} {doc.id} is in no split: rebuild the split")
        doc.metadata["split"] = assignment[doc.id]
        splits[assignment[doc.id]].append(doc)
    return splits


def is_prose(doc: Document) -> bool:
    return doc.source in PROSE_SOURCES


def training_text(path: str | os.PathLike | None = None) -> tuple[list[Document], list[str]]:
    """What `curate synthesize --reference` learns from: the nb/nn prose of the train and
    validation splits as clean text, and the other languages' texts of those splits as donors
    for the language_mix damage. The test split is never touched."""
    splits = reference_splits(path)
    docs = splits["train"] + splits["validation"]
    clean = [d for d in docs if d.lang in ("nb", "nn") and is_prose(d)]
    donors = [d.text for d in docs if d.lang not in ("nb", "nn")]
    return clean, donors
