"""Assemble the bundled demo corpus (data/demo/) and the hand-labelled seed set (annotations/seed/)
from the hand-written parts in data/parts/.

Every part carries hand-assigned scores for educational value (edu) and linguistic quality (lq).
A document is one part, or parts combined and transformed the way real corpora hold them: wrapped
in web boilerplate, OCR-damaged, truncated, mixed with another language, duplicated. Each recipe
below says how it moves the scores, so a document's labels follow from its parts' labels and the
damage done to them. The output is deterministic (seeded) and committed; rerun after editing parts:

    python tools/build_demo_corpus.py
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
import zstandard

from curate.sources import fallback_id

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "data" / "parts"
DEMO = ROOT / "data" / "demo"
SEED = ROOT / "annotations" / "seed"
CULTURAX_FILE = DEMO / "culturax" / "no" / "no_part_00000.parquet"
SEED_SHARE = 0.8  # the rest stays unlabelled, for the annotation stage to label
CREATED = "2026-11-22T00:00:00Z"
ISO3 = {"nb": "nob", "nn": "nno", "sv": "swe", "da": "dan", "fi": "fin", "en": "eng"}


@dataclass
class Doc:
    text: str
    lang: str
    edu: int
    lq: int
    kind: str
    recipe: str
    parts: list[str]
    shape: str  # ncc | hplt_v1 | hplt_v2 | culturax | plain
    meta: dict = field(default_factory=dict)
    id: str = ""


def clamp(x: int) -> int:
    return max(0, min(5, x))


def load_parts() -> dict[str, dict]:
    parts: dict[str, dict] = {}
    for name in ("educational_nb", "educational_other", "news_reports", "informal", "junk"):
        for p in yaml.safe_load((PARTS / f"{name}.yaml").read_text(encoding="utf-8")):
            p.setdefault("lang", "nb")
            p.setdefault("kind", "educational")
            parts[p["id"]] = p
    return parts


# --- transformations -----------------------------------------------------------------------

OCR_SWAPS = [
    ("rn", "m"),
    ("m", "rn"),
    ("e", "c"),
    ("l", "1"),
    ("i", "í"),
    ("o", "0"),
    ("ø", "o"),
    ("å", "a"),
    ("æ", "ae"),
    ("h", "li"),
    ("u", "n"),
    ("n", "u"),
    ("t", "f"),
    ("s", "f"),
    (",", "."),
    (".", ","),
    ("a", "á"),
]


def ocr_damage(text: str, rate: float, rng: random.Random) -> str:
    """Scan errors: confused glyphs, broken hyphenation, lost spaces, running page headers."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate:
            a, b = rng.choice(OCR_SWAPS)
            w = w.replace(a, b, 1) if a in w else w + rng.choice(["'", "„", "^", "~", ""])
        elif r < rate * 1.4 and len(w) > 6:
            cut = len(w) // 2
            w = f"{w[:cut]}-\n{w[cut:]}"
        if out and rng.random() < rate * 0.3:
            out[-1] += w  # a lost space glues two words
            continue
        out.append(w)
    damaged = " ".join(out)
    if rate >= 0.05:
        lines = damaged.split("\n")
        page = rng.randint(5, 300)
        for i in range(len(lines) - 1, 0, -max(2, len(lines) // 3)):
            lines.insert(i, f"— {page + i} —")
        damaged = "\n".join(lines)
    return damaged


def truncate(text: str, rng: random.Random) -> str:
    cut = int(len(text) * rng.uniform(0.35, 0.6))
    return text[:cut].rstrip()


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip().split("\n")[0])
    return match.group(1) if match else text.split("\n")[0]


def near_duplicate(text: str, rng: random.Random) -> str:
    """A re-published copy: numbers nudged, an update stamp, a share line."""

    def nudge(m: re.Match) -> str:
        n = int(m.group(0))
        return str(n + rng.choice([1, 2, -1])) if n > 20 and rng.random() < 0.5 else m.group(0)

    stamp = rng.choice(["Oppdatert", "Publisert", "Sist endret"])
    body = re.sub(r"\d+", nudge, text)
    when = (
        f"{rng.randint(1, 28)}.{rng.randint(1, 12)} kl. {rng.randint(7, 22)}:{rng.randint(10, 59)}"
    )
    return f"{body}\n{stamp} {when}\nDel artikkelen: Facebook | X | E-post"


class Builder:
    def __init__(self, seed: int = 2026):
        self.rng = random.Random(seed)
        self.parts = load_parts()
        self.vocab = yaml.safe_load((PARTS / "vocab.yaml").read_text(encoding="utf-8"))
        for group in ("spam", "link_words"):  # YAML reads 2024 as a number
            self.vocab[group] = {k: [str(w) for w in v] for k, v in self.vocab[group].items()}
        self.docs: list[Doc] = []

    def by(self, *kinds: str, lang: str | None = None) -> list[dict]:
        return [
            p
            for p in self.parts.values()
            if p["kind"] in kinds and (lang is None or p["lang"] == lang)
        ]

    def add(self, text, lang, edu, lq, kind, recipe, parts, shape, **meta) -> None:
        self.docs.append(Doc(text, lang, clamp(edu), clamp(lq), kind, recipe, parts, shape, meta))

    def boiler(self, kind: str, lang: str) -> dict:
        pool = self.by(kind, lang=lang) or self.by(kind, lang="nb")
        return self.rng.choice(pool)

    # --- recipes ---------------------------------------------------------------------------

    def clean(self) -> None:
        shapes = {"educational": "ncc", "report": "ncc", "news": "hplt_v2"}
        for p in self.parts.values():
            shape = shapes.get(p["kind"], self.rng.choice(["hplt_v1", "hplt_v2", "culturax"]))
            self.add(p["text"], p["lang"], p["edu"], p["lq"], p["kind"], "clean", [p["id"]], shape)

    def web_wrapped(self) -> None:
        """Main text between a menu, a cookie banner and a legal footer, as a crawler extracts it.
        Boilerplate costs linguistic quality (more pieces, more cost); the content's value stays."""
        for p in self.by("educational", "news", "report", "product", "forum"):
            if p["kind"] in ("product", "forum") and self.rng.random() < 0.5:
                continue
            lang = p["lang"]
            pieces = [
                self.boiler("menu", lang)["text"],
                p["text"],
                self.boiler("legal", lang)["text"],
            ]
            penalty = 1
            if self.rng.random() < 0.5:
                pieces.insert(0, self.boiler("cookie", lang)["text"])
                penalty = 2
            shape = self.rng.choice(["hplt_v1", "hplt_v2", "culturax"])
            self.add(
                "\n".join(pieces),
                lang,
                p["edu"],
                min(p["lq"] - penalty, 3),
                p["kind"],
                f"web_wrapped(boilerplate={len(pieces) - 1})",
                [p["id"]],
                shape,
            )

    def ocr(self) -> None:
        """Library scans (NCC): light damage costs 1 lq point, medium caps lq at 2, heavy at 1
        and costs 1 edu point because parts of the content become illegible."""
        levels = [("light", 0.015), ("medium", 0.05), ("heavy", 0.14)]
        for i, p in enumerate(self.by("educational", "report", "news")):
            if p["lang"] not in ("nb", "nn", "da", "sv"):
                continue
            for name, rate in (levels[i % 3], levels[(i + 1) % 3]):
                edu, lq = p["edu"], p["lq"]
                if name == "light":
                    lq -= 1
                elif name == "medium":
                    lq = min(lq, 2)
                else:
                    lq, edu = min(lq, 1), edu - 1
                self.add(
                    ocr_damage(p["text"], rate, self.rng),
                    p["lang"],
                    edu,
                    lq,
                    p["kind"],
                    f"ocr({name})",
                    [p["id"]],
                    "ncc",
                    doc_type="newspaper_ocr" if p["kind"] == "news" else "book",
                )

    def chapters(self) -> None:
        """Two or three educational parts of one language joined as sections of a longer text."""
        for lang in ("nb", "nn", "sv", "da", "en"):
            pool = self.by("educational", lang=lang)
            self.rng.shuffle(pool)
            for start in range(0, len(pool) - 1, 2):
                group = pool[start : start + self.rng.choice([2, 3])]
                if len(group) < 2:
                    break
                text = "\n\n".join(f"{g['topic'].capitalize()}\n{g['text']}" for g in group)
                self.add(
                    text,
                    lang,
                    max(g["edu"] for g in group),
                    min(g["lq"] for g in group),
                    "educational",
                    "chapters",
                    [g["id"] for g in group],
                    "ncc",
                    doc_type="book",
                )

    def books(self) -> None:
        """Whole books: every educational part of a language, or every report, in one document."""
        for lang, kinds, title in (
            ("nb", ("educational",), "Kunnskap for alle"),
            ("nn", ("educational",), "Lesebok for ungdomssteget"),
            ("nb", ("report", "educational", "news"), "Samlede utredninger"),
        ):
            pool = [p for k in kinds for p in self.by(k, lang=lang)]
            sections = [
                f"Kapittel {i}. {p.get('topic', 'Utredning').capitalize()}\n{p['text']}"
                for i, p in enumerate(pool, 1)
            ]
            self.add(
                f"{title}\n\n" + "\n\n".join(sections),
                lang,
                max(p["edu"] for p in pool),
                min(p["lq"] for p in pool),
                "educational",
                "book",
                [p["id"] for p in pool],
                "ncc",
                doc_type="book",
            )
            heavy = ocr_damage(self.docs[-1].text, 0.05, self.rng)
            self.add(
                heavy,
                lang,
                max(p["edu"] for p in pool),
                2,
                "educational",
                "book+ocr(medium)",
                [p["id"] for p in pool],
                "ncc",
                doc_type="book",
            )

    def mixed_language(self) -> None:
        """A page whose paragraphs switch language mid-way: lq capped at 2 (inconsistent with
        the declared language); the content keeps most of its value."""
        nordic = self.by("educational", "news", lang="nb") + self.by("educational", lang="nn")
        foreign = (
            self.by("educational", "news", lang="en")
            + self.by("educational", lang="sv")
            + self.by("educational", lang="da")
            + self.by("educational", lang="fi")
        )
        for p in self.rng.sample(nordic, 20):
            other = self.rng.choice(foreign)
            paras = p["text"].split("\n")
            mid = max(1, len(paras) // 2)
            text = "\n".join(paras[:mid] + other["text"].split("\n")[:1] + paras[mid:])
            self.add(
                text,
                p["lang"],
                p["edu"] - 1,
                min(p["lq"], 2),
                "mixed_language",
                "mixed_language",
                [p["id"], other["id"]],
                "hplt_v1",
            )

    def truncated(self) -> None:
        """Cut off mid-sentence by a broken extractor: one point off both scales."""
        for p in self.rng.sample(self.by("educational", "news", "report"), 20):
            self.add(
                truncate(p["text"], self.rng),
                p["lang"],
                p["edu"] - 1,
                p["lq"] - 1,
                p["kind"],
                "truncated",
                [p["id"]],
                self.rng.choice(["hplt_v2", "culturax"]),
            )

    def one_sentence(self) -> None:
        """One sentence lifted out of a text (a teaser, a snippet): too short to teach (edu <= 1)
        and a fragment (lq <= 3)."""
        pool = self.by("educational", "news", "report")
        for p in self.rng.sample(pool, 40):
            edu = 1 if p["edu"] >= 3 else 0
            self.add(
                first_sentence(p["text"]),
                p["lang"],
                edu,
                min(p["lq"], 3),
                "snippet",
                "first_sentence",
                [p["id"]],
                self.rng.choice(["hplt_v1", "culturax"]),
            )

    def forum_threads(self) -> None:
        pairs = [
            ("forum-nb-bil", "forum-nb-bil-svar"),
            ("forum-nb-hytte", "forum-nb-hytte-svar"),
            ("forum-nb-datamaskin", "forum-nb-ssd-svar"),
            ("forum-sv-renovering", "forum-sv-svar"),
            ("forum-nb-skole", "forum-nb-krangel"),
        ]
        for q, a in pairs:
            qp, ap = self.parts[q], self.parts[a]
            text = f"{qp['text']}\n\n{ap['text']}"
            self.add(
                text,
                qp["lang"],
                max(qp["edu"], ap["edu"]),
                (qp["lq"] + ap["lq"]) // 2,
                "forum",
                "thread",
                [q, a],
                "hplt_v1",
            )

    def spam(self) -> None:
        """SEO keyword pages, generated as they are in the wild; a grammatical lead-in lifts lq
        to 1 at most."""
        for i in range(60):
            lang = self.rng.choice(["nb", "nb", "nb", "sv", "da", "en"])
            words = self.vocab["spam"][lang]
            phrases = [
                " ".join(self.rng.sample(words, self.rng.randint(2, 4)))
                for _ in range(self.rng.randint(6, 40))
            ]
            sep = self.rng.choice([" | ", ", ", " - ", "\n", " "])
            text = sep.join(phrases)
            lq = 0
            if i % 4 == 0 and lang == "nb":
                text = "Her finner du de beste tilbudene. " + text
                lq = 1
            self.add(
                text,
                lang,
                0,
                lq,
                "spam",
                "keyword_spam",
                [f"vocab.spam.{lang}"],
                self.rng.choice(["hplt_v1", "hplt_v2", "culturax"]),
            )

    def link_lists(self) -> None:
        for _ in range(35):
            lang = self.rng.choice(["nb", "nb", "sv", "da"])
            lines = []
            for _ in range(self.rng.randint(5, 25)):
                domain = self.rng.choice(self.vocab["domains"])
                slug = "-".join(self.rng.sample(self.vocab["spam"][lang], 2)).replace(" ", "-")
                word = self.rng.choice(self.vocab["link_words"][lang])
                lines.append(f"{word} » https://{domain}/{slug}/{self.rng.randint(1000, 99999)}")
            self.add(
                "\n".join(lines),
                lang,
                0,
                0,
                "link_list",
                "link_list",
                [f"vocab.link_words.{lang}"],
                self.rng.choice(["hplt_v1", "hplt_v2"]),
            )

    def boilerplate_pages(self) -> None:
        """Pages whose extracted text is nothing but menus, banners and footers."""
        for _ in range(30):
            lang = self.rng.choice(["nb", "nb", "nn", "sv", "da"])
            kinds = self.rng.sample(["menu", "cookie", "legal"], self.rng.randint(2, 3))
            pieces = [self.boiler(k, lang) for k in kinds]
            lq = 1 if any(p["kind"] == "legal" and p["lq"] >= 2 for p in pieces) else 0
            self.add(
                "\n".join(p["text"] for p in pieces),
                lang,
                0,
                lq,
                "boilerplate",
                "boilerplate_only",
                [p["id"] for p in pieces],
                self.rng.choice(["hplt_v1", "hplt_v2", "culturax"]),
            )

    def duplicates(self) -> None:
        """Re-crawled pages: exact copies under another id, and near-copies re-published."""
        originals = [
            d
            for d in self.docs
            if d.recipe in ("clean", "web_wrapped(boilerplate=2)", "web_wrapped(boilerplate=3)")
        ]
        for d in self.rng.sample(originals, 25):
            self.add(
                d.text,
                d.lang,
                d.edu,
                d.lq,
                d.kind,
                "exact_duplicate",
                d.parts,
                "culturax" if d.shape != "culturax" else "hplt_v1",
            )
        news = [d for d in self.docs if d.recipe == "clean" and d.kind in ("news", "educational")]
        for d in self.rng.sample(news, 30):
            self.add(
                near_duplicate(d.text, self.rng),
                d.lang,
                d.edu,
                d.lq - 1,
                d.kind,
                "near_duplicate",
                d.parts,
                self.rng.choice(["hplt_v1", "hplt_v2"]),
            )

    def build(self) -> list[Doc]:
        for recipe in (
            self.clean,
            self.web_wrapped,
            self.ocr,
            self.chapters,
            self.books,
            self.mixed_language,
            self.truncated,
            self.one_sentence,
            self.forum_threads,
            self.spam,
            self.link_lists,
            self.boilerplate_pages,
        ):
            recipe()
        self.duplicates()
        self.rng.shuffle(self.docs)
        return self.docs


# --- writing in each source's schema ---------------------------------------------------------


def url_for(doc: Doc, rng: random.Random) -> str:
    domain = rng.choice(
        [
            "nrk-eksempel.no",
            "lokalavisa.no",
            "forum.eksempel.no",
            "butikken.no",
            "skolen.eksempel.no",
            "wiki.eksempel.no",
            "kommune.eksempel.no",
            "eksempel.se",
            "eksempel.dk",
            "example.com",
        ]
    )
    return f"https://{domain}/{doc.kind}/{rng.randint(10000, 999999)}"


def ncc_row(doc: Doc, i: int, rng: random.Random) -> dict:
    doc_type = doc.meta.get("doc_type") or (
        "government_" + doc.lang if doc.kind == "report" else "book"
    )
    year = rng.randint(1950, 2022)
    doc.id = f"{doc_type}_{year}_{i:05d}"
    return {
        "id": doc.id,
        "doc_type": doc_type,
        "publish_year": year,
        "lang_fyear": ISO3[doc.lang],
        "ocr_date": f"20{rng.randint(12, 21)}",
        "text": doc.text,
    }


def paragraph_langs(doc: Doc) -> list[str]:
    return [doc.lang for p in doc.text.split("\n") if p.strip()]


def hplt_v1_row(doc: Doc, i: int, rng: random.Random) -> dict:
    doc.id = f"hplt12-{hashlib.md5(f'{i}'.encode()).hexdigest()[:16]}"
    langs = paragraph_langs(doc)
    return {
        "id": doc.id,
        "document_lang": doc.lang,
        "scores": [round(rng.uniform(0.2, 0.99), 3) for _ in langs],
        "langs": langs,
        "text": doc.text,
        "url": url_for(doc, rng),
        "collection": rng.choice(["wide00006", "cc40"]),
    }


def hplt_v2_row(doc: Doc, i: int, rng: random.Random) -> dict:
    doc.id = hashlib.md5(f"v2-{i}".encode()).hexdigest()
    code = f"{ISO3[doc.lang]}_Latn"
    return {
        "id": doc.id,
        "text": doc.text,
        "url": url_for(doc, rng),
        "lang": [code, "dan_Latn" if doc.lang != "da" else "nob_Latn", "swe_Latn"],
        "prob": [round(rng.uniform(0.6, 0.99), 4), round(rng.uniform(0.0, 0.2), 4), 0.0],
        "seg_langs": [code for _ in paragraph_langs(doc)],
        "robotstxt": "allowed",
        "filter": "keep",
        "pii": [],
        "doc_scores": [round(rng.uniform(3, 9), 1)],
    }


def culturax_row(doc: Doc, line: int, rng: random.Random) -> dict:
    doc.id = fallback_id(CULTURAX_FILE, line)  # CulturaX rows have no id
    return {
        "text": doc.text,
        "timestamp": f"20{rng.randint(17, 23)}/0{rng.randint(1, 9)}/1{rng.randint(0, 9)} 12:00:00",
        "url": url_for(doc, rng),
        "source": rng.choice(["mC4", "OSCAR-2301", "OSCAR-2019"]),
    }


def write_jsonl(path: Path, rows: list[str]) -> None:
    data = ("\n".join(rows) + "\n").encode("utf-8")
    if path.name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:  # mtime=0: reproducible bytes
            gz.write(data)
        data = buf.getvalue()
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor(level=10).compress(data)
    path.write_bytes(data)


def write_corpus(docs: list[Doc]) -> None:
    rng = random.Random(7)
    for old in DEMO.rglob("*"):
        if old.is_file():
            old.unlink()
    (DEMO / "plain").mkdir(parents=True, exist_ok=True)
    by_shape: dict[str, list[Doc]] = {}
    for d in docs:
        by_shape.setdefault(d.shape, []).append(d)
    # A few short educational texts arrive as plain files, as users' own collections do.
    plain = [d for d in by_shape["ncc"] if d.recipe == "clean"][:6]
    for i, d in enumerate(plain):
        by_shape["ncc"].remove(d)
        d.shape, d.id = "plain", f"notat_{i + 1:02d}"
        (DEMO / "plain" / f"{d.id}.txt").write_text(d.text, encoding="utf-8")
    ncc = [
        json.dumps(ncc_row(d, i, rng), ensure_ascii=False) for i, d in enumerate(by_shape["ncc"])
    ]
    write_jsonl(DEMO / "ncc_demo.jsonl.gz", ncc)
    v2 = [
        json.dumps(hplt_v2_row(d, i, rng), ensure_ascii=False)
        for i, d in enumerate(by_shape["hplt_v2"])
    ]
    write_jsonl(DEMO / "hplt_v2_nob_Latn.jsonl.zst", v2)
    # CulturaX is split by language; its Norwegian split holds only Norwegian here.
    foreign = [d for d in by_shape["culturax"] if d.lang not in ("nb", "nn")]
    by_shape["culturax"] = [d for d in by_shape["culturax"] if d.lang in ("nb", "nn")]
    v1 = [
        json.dumps(hplt_v1_row(d, i, rng), ensure_ascii=False)
        for i, d in enumerate(by_shape["hplt_v1"] + foreign)
    ]
    # Real crawl dumps hold broken rows; the demo keeps three so `curate inspect` shows them.
    v1[10:10] = [
        '{"id": "hplt12-broken", "document_lang": "nb", "text": "Avkuttet linje uten slutt',
        '{"id": "hplt12-notext", "document_lang": "nb", "text": null, "url": "https://eksempel.no/"}',
        '{"id": "hplt12-number", "document_lang": "nb", "text": 404}',
    ]
    write_jsonl(DEMO / "hplt_v1.2_nb.jsonl.zst", v1)
    cx = [culturax_row(d, line, rng) for line, d in enumerate(by_shape["culturax"], start=1)]
    CULTURAX_FILE.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(cx), CULTURAX_FILE)


def write_seed(docs: list[Doc]) -> Counter:
    SEED.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    labelled = [d for d in docs if d.recipe != "exact_duplicate" and rng.random() < SEED_SHARE]
    labelled.sort(key=lambda d: d.id)
    counts: Counter = Counter()
    for task, attr in (("educational_value", "edu"), ("linguistic_quality", "lq")):
        rows = []
        for d in labelled:
            score = getattr(d, attr)
            counts[(task, score)] += 1
            rows.append(
                json.dumps(
                    {
                        "id": d.id,
                        "text_sha256": hashlib.sha256(d.text.encode("utf-8")).hexdigest(),
                        "task": task,
                        "score": score,
                        "rationale": f"{d.kind}; {d.recipe}; parts: {', '.join(d.parts)}",
                        "annotator": {"backend": "hand", "model": None, "prompt_sha256": None},
                        "usage": None,
                        "created": CREATED,
                    },
                    ensure_ascii=False,
                )
            )
        (SEED / f"{task}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = [
        json.dumps(
            {
                "id": d.id,
                "lang": d.lang,
                "kind": d.kind,
                "recipe": d.recipe,
                "shape": d.shape,
                "educational_value": d.edu,
                "linguistic_quality": d.lq,
                "parts": d.parts,
            },
            ensure_ascii=False,
        )
        for d in sorted(docs, key=lambda d: d.id)
    ]
    (ROOT / "data" / "demo_manifest.jsonl").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    return counts


def main() -> None:
    docs = Builder().build()
    write_corpus(docs)
    counts = write_seed(docs)
    print(f"{len(docs)} documents; shapes {Counter(d.shape for d in docs)}")
    print(f"languages {Counter(d.lang for d in docs)}")
    for task in ("educational_value", "linguistic_quality"):
        per = {s: counts[(task, s)] for s in range(6)}
        print(f"seed {task}: {per} (total {sum(per.values())})")
        low = [s for s, n in per.items() if n < 25]
        if low:
            raise SystemExit(f"seed {task}: fewer than 25 examples for scores {low}")


if __name__ == "__main__":
    main()
