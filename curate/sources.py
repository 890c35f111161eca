"""Source schemas (NCC, HPLT v1.2 and v2, CulturaX, plain files, our own) mapped onto Document.

Each adapter takes one raw row (already checked to carry a string ``text``) and returns a
Document. Fields the Document has no slot for go to ``metadata`` unchanged, so nothing a source
provides is lost. ``detect_schema`` guesses the schema from the field names of a row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, KeysView
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.document import Document
from curate.errors import InputError

# ISO 639-3 and HPLT v2 script-tagged codes -> the ISO 639-1 codes the rest of curate uses.
_LANG_CODES = {
    "nob": "nb",
    "nno": "nn",
    "nor": "no",
    "swe": "sv",
    "dan": "da",
    "fin": "fi",
    "eng": "en",
    "isl": "is",
    "fao": "fo",
    "sme": "se",
    "deu": "de",
    "est": "et",
    "no": "no",
    "nb": "nb",
    "nn": "nn",
    "sv": "sv",
    "da": "da",
    "fi": "fi",
    "en": "en",
}


def normalize_lang(code: Any) -> str | None:
    """Map 'nob', 'nob_Latn', 'NB' and similar onto ISO 639-1 ('nb'); unknown codes pass through."""
    if not isinstance(code, str) or not code.strip():
        return None
    base = code.strip().split("_")[0].split("-")[0].lower()
    return _LANG_CODES.get(base, base)


def _rest(row: dict, used: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in used}


def fallback_id(path: Path, line: int) -> str:
    """An id for rows that carry none: file name without suffixes, then the line number."""
    return f"{path.name.split('.')[0]}/{line}"


def culturax_lang(path: Path) -> str | None:
    """CulturaX is split by language: files are named like ``no/no_part_00000.parquet``."""
    match = re.match(r"([a-z]{2,3})_part_\d+", path.name)
    return match.group(1) if match else None


def from_ncc(row: dict, path: Path, line: int) -> Document:
    """Norwegian Colossal Corpus: id, doc_type, publish_year, lang_fyear, ocr_date, text."""
    return Document(
        id=str(row.get("id") or fallback_id(path, line)),
        text=row["text"],
        lang=normalize_lang(row.get("lang_fyear") or row.get("lang_fasttext")),
        source="ncc",
        metadata=_rest(row, {"id", "text"}),
    )


def from_hplt_v1(row: dict, path: Path, line: int) -> Document:
    """HPLT v1.2: id, document_lang (CLD2), scores, langs (per paragraph), text, url, collection."""
    return Document(
        id=str(row.get("id") or fallback_id(path, line)),
        text=row["text"],
        lang=normalize_lang(row.get("document_lang")),
        source="hplt",
        metadata=_rest(row, {"id", "text"}),
    )


def from_hplt_v2(row: dict, path: Path, line: int) -> Document:
    """HPLT v2: id, text, url, lang (top-3 list), prob, seg_langs, robotstxt, filter, pii,
    doc_scores."""
    lang = row.get("lang")
    if isinstance(lang, list):
        lang = lang[0] if lang else None
    return Document(
        id=str(row.get("id") or fallback_id(path, line)),
        text=row["text"],
        lang=normalize_lang(lang),
        source="hplt",
        metadata=_rest(row, {"id", "text"}),
    )


def from_culturax(row: dict, path: Path, line: int) -> Document:
    """CulturaX: text, timestamp, url, source (mC4 or OSCAR-xxxx). No id: file/line is one."""
    return Document(
        id=fallback_id(path, line),
        text=row["text"],
        lang=normalize_lang(row.get("lang") or culturax_lang(path)),
        source="culturax",
        metadata=_rest(row, {"text"}),
    )


def from_curate(row: dict, path: Path, line: int) -> Document:
    """Our own Document rows (and plain text files): id, text, lang, source, metadata."""
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):  # parquet files written by curate store metadata as JSON
        metadata = json.loads(metadata)
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata is not an object: got {type(metadata).__name__}")
    extra = _rest(row, {"id", "text", "lang", "source", "metadata"})
    return Document(
        id=str(row.get("id") or fallback_id(path, line)),
        text=row["text"],
        # datatrove's writers keep lang and source inside metadata
        lang=normalize_lang(row.get("lang") or metadata.get("lang")),
        source=_str_or_none(row.get("source") or metadata.get("source")),
        metadata={**metadata, **extra},
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Schema:
    """A source schema: its name (`--source`, `input.source`), the adapter that maps a row onto
    a Document, and how `auto` recognises its rows by their field names."""

    name: str
    adapt: Callable[[dict, Path, int], Document]
    recognise: Callable[[KeysView], bool]


# Adding a schema is its adapter above and one entry here. `auto` tries them in this order; our
# own format comes last and takes any row.
SOURCE_SCHEMAS = [
    Schema(
        "ncc", from_ncc, lambda k: "doc_type" in k and ("publish_year" in k or "lang_fyear" in k)
    ),
    Schema("hplt_v1", from_hplt_v1, lambda k: "document_lang" in k or "collection" in k),
    Schema("hplt_v2", from_hplt_v2, lambda k: bool({"seg_langs", "doc_scores", "robotstxt"} & k)),
    Schema("culturax", from_culturax, lambda k: "timestamp" in k and "url" in k and "id" not in k),
    Schema("curate", from_curate, lambda k: True),
]
SCHEMAS = ("auto", *(s.name for s in SOURCE_SCHEMAS))


def detect_schema(row: dict) -> str:
    """Guess a row's schema from its field names."""
    return next(s.name for s in SOURCE_SCHEMAS if s.recognise(row.keys()))


def row_to_document(row: dict, schema: str, path: Path, line: int) -> Document:
    """Map one raw row onto a Document; raises ValueError naming what is wrong."""
    adapters = {s.name: s.adapt for s in SOURCE_SCHEMAS}
    if schema != "auto" and schema not in adapters:
        known = ", ".join(["auto", *adapters])
        raise InputError(f"unknown source schema {schema!r}; choose one of {known}")
    return adapters[detect_schema(row) if schema == "auto" else schema](row, path, line)
