"""A generated corpus of everything that goes wrong in real dumps, with the exact number of
readable documents and of bad rows a reader must report."""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

PROSE = (
    "Dette er dokument {n} om kysten. Fiskeværene langs kysten vokste fram der fisken kom "
    "inn om vinteren, og handelen med tørrfisk bandt Nord-Norge til Bergen og Europa i flere "
    "hundre år. Mange av husene står fortsatt, og de forteller om et hardt liv ved havet."
)
ODD_BUT_VALID = [
    "مرحبا بكم في النرويج. هذه الجملة مكتوبة من اليمين إلى اليسار.",  # right-to-left
    "שלום, זהו טקסט בעברית שנכתב מימין לשמאל.",
    "🌊🐟🏔️ ✨ 🇳🇴🇳🇴 😀😀😀",  # emoji only
    "Blanding: נורבגיה og Norge 🇳🇴 i samme setning.",
]


@dataclass
class BadCorpus:
    folder: Path
    documents: int  # rows that must become documents
    bad_rows: int  # rows (or file breaks) that must be reported


def write_bad_corpus(folder: Path) -> BadCorpus:
    folder.mkdir(parents=True)
    documents = bad = 0
    lines = []
    for n in range(30):
        lines.append(json.dumps({"id": f"ok{n}", "text": PROSE.format(n=n)}, ensure_ascii=False))
    for n, text in enumerate(ODD_BUT_VALID):
        lines.append(json.dumps({"id": f"odd{n}", "text": text}, ensure_ascii=False))
    documents += len(lines)
    broken = [
        '{"id": "b1", "text": "unterminated',  # broken JSON
        '{"id": "b2"}',  # missing text
        '{"id": "b3", "text": null}',
        '{"id": "b4", "text": 42}',
        '{"id": "b5", "text": "   "}',
        json.dumps({"id": "b6", "text": "NUL \u0000 inside"}),
        "[1, 2, 3]",  # not an object
    ]
    bad += len(broken)
    body = "\n".join(lines[:17] + broken + lines[17:]) + "\n"
    (folder / "mixed.jsonl").write_text(body, encoding="utf-8")

    good = json.dumps({"id": "utf8-ok", "text": PROSE.format(n="utf8")}).encode()
    (folder / "invalid_utf8.jsonl").write_bytes(good + b"\n" + b'{"id": "u", "text": "\xff\xfe"}\n')
    documents, bad = documents + 1, bad + 1

    huge = {"id": "huge", "text": "ord " * 5_000_000}  # 20 MB of text: over --max-chars
    (folder / "huge.jsonl").write_text(json.dumps(huge) + "\n" + good.decode() + "\n")
    documents, bad = documents + 1, bad + 1

    rows = "".join(
        json.dumps({"id": f"gz{n}", "text": PROSE.format(n=f"gz{n}")}) + "\n" for n in range(60)
    ).encode()
    packed = gzip.compress(rows)
    truncated = packed[: len(packed) * 2 // 3]
    (folder / "truncated.jsonl.gz").write_bytes(truncated)
    recoverable = zlib.decompressobj(31).decompress(truncated)
    documents += recoverable.count(b"\n")  # complete rows before the break
    bad += 1  # the break itself
    return BadCorpus(folder, documents, bad)
