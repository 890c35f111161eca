"""The real web sample (`../shared/web`: HPLT v2.0 and v3.0 pages in nb, nn, da and sv, some with
a person's defect flags) and its committed train/validation/test split.

Like the reference corpus, the pages are not part of the repository; the split is, as id lists
shipped in the package (`curate/resources/web_split/`), so the web hand labels, the classifiers
that learn from them, the thresholds calibrated on web validation pages and the benchmark's web
section all agree on which pages are never tuned on (the test split).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from curate.documents import Document, read_documents
from curate.errors import MissingInput
from curate.package_files import package_file
from curate.reference import assign_strata, by_split, load_split, shared_dir, write_split

WEB_SPLIT_SEED = 20261202
WEB_SPLIT_DIR = package_file("web_split")
WEB_FILE = "hplt.jsonl.gz"
CREDIT = (
    "Web sample: HPLT v2.0 and v3.0 cleaned (hplt-project release2_inspection and "
    "release3_inspection; packaging CC0, texts belong to their authors; credit HPLT)."
)
# HPLT's own inspection flags (one person's, on 642 nb/nn pages): a page with none of them set
# and its language marked correct is "fine".
HPLT_FLAGS = ("porn", "unnatural", "artifacts")


class WebMissing(MissingInput):
    pass


def web_dir(path: str | os.PathLike | None = None) -> Path:
    """The web sample folder: `path`, else $CURATE_WEB, else ../shared/web."""
    return shared_dir(path, "CURATE_WEB", "web", WEB_FILE, WebMissing, "web sample")


def load_web(path: str | os.PathLike | None = None) -> list[Document]:
    """Every web page, `source` = "hplt", its release, whole/excerpt and HPLT's flags in
    metadata, in file order."""
    docs = []
    for doc in read_documents([web_dir(path) / WEB_FILE], source="curate", strict=True):
        doc.source = "hplt"
        docs.append(doc)
    return docs


def page_text(doc: Document) -> str:
    """The page as a crawl holds it, as near as the sample allows: an excerpted page's unbroken
    pieces (`segments`), each cut back to whole sentences where the sample cut it (no real page
    ends mid-word: FineWeb's line-punctuation rule dropped most two-excerpt pages for it), one
    after another without the sample's "... (N chars skipped) ..." and ".........." markers
    (Gopher read them as ellipsis lines, language ID as English sentences). v3.0 excerpts are
    the page's first, middle and last characters, so its start and end are kept as they are. A
    whole page is its text. Labellers saw `text`, markers and all: the labels stay on it."""
    segments = doc.metadata.get("segments")
    if not segments:
        return doc.text
    v3 = doc.metadata.get("release") == "v3.0"
    pieces = []
    for i, segment in enumerate(segments):
        segment = segment.strip()  # a cut can fall just before a line break
        if i > 0 or not v3:
            segment = after_first_break(segment)
        if i < len(segments) - 1 or not v3:
            segment = before_last_break(segment)
        pieces.append(segment.strip())
    return "\n".join(p for p in pieces if p)


SENTENCE_BREAK = re.compile(r"[.!?…»”\"]\s|\n")


def after_first_break(text: str) -> str:
    found = SENTENCE_BREAK.search(text)
    return text[found.end() :] if found and found.end() < len(text) else text


def before_last_break(text: str) -> str:
    ends = [m.start() + 1 for m in SENTENCE_BREAK.finditer(text + " ")]
    return text[: ends[-1]] if ends else text


def stratum(doc: Document) -> tuple[str, str, str, str]:
    """Release, language, whole/excerpt, and HPLT's verdict: the few flagged pages (38 marked
    "unnatural") would otherwise fall into the test split by chance or not at all."""
    return (
        str(doc.metadata.get("release")),
        doc.lang or "",
        str(bool(doc.metadata.get("whole"))),
        hplt_verdict(doc) or "uninspected",
    )


def make_web_split(docs: list[Document], seed: int = WEB_SPLIT_SEED) -> dict[str, str]:
    """id -> split, stratified by release, language, whole/excerpt and HPLT verdict, seeded."""
    strata: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for doc in docs:
        strata[stratum(doc)].append(doc.id)
    return assign_strata(strata, seed)


def write_web_split(assignment: dict[str, str]) -> None:
    write_split(assignment, WEB_SPLIT_DIR)


def load_web_split() -> dict[str, str]:
    return load_split(WEB_SPLIT_DIR)


def web_splits(path: str | os.PathLike | None = None) -> dict[str, list[Document]]:
    """The web pages by committed split (`metadata['split']` set); every page must be in it."""
    return by_split(load_web(path), load_web_split(), "web page")


def hplt_verdict(doc: Document) -> str | None:
    """ "fine", the first HPLT flag set ("porn", "unnatural", "artifacts"), "wrong_language", or
    None where the page has no human inspection."""
    human = doc.metadata.get("human")
    if not human:
        return None
    for flag in HPLT_FLAGS:
        if human.get(flag):
            return flag
    if human.get("lang_correct") is False:
        return "wrong_language"
    return "fine"
