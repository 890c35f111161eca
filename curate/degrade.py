"""Damage clean text the way real crawls damage it, for benchmarks and for labelled negatives.

Each damage family is a function `(text, rng, donors) -> text`. The families are the faults seen
in web and library corpora: scrambled word order, OCR/character noise, UTF-8 read as
Windows-1252 (mojibake), pages dominated by boilerplate, keyword spam, fragments (teasers, cut
sentences), sentences switching to another language, machine-like repetition, and leftover
markup. Each task file (curate.tasks, `damage_scores`) gives each family the score its
guidelines (`annotations/guidelines.md`) give such a document, so damaged copies of clean text
can serve as labelled training data without an LLM (`curate synthesize`). Adding a family is a
function here (`@uses_donors` if it takes material from other documents), its entry in
FAMILIES, and its score in each task file.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from curate.documents import Document
from curate.errors import CurateError, InputError

Damage = Callable[[str, random.Random, Sequence[str]], str]


class UnknownFamily(CurateError, ValueError):
    """A damage family that curate.degrade does not have."""


def uses_donors(damage: Damage) -> Damage:
    """Marks a family that takes its material from donor documents (in other languages):
    `curate synthesize` asks for them when the family is chosen."""
    damage.needs_donors = True  # type: ignore[attr-defined]
    return damage


def needs_donors(family: str) -> bool:
    return getattr(FAMILIES[family], "needs_donors", False)


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅÄÖ0-9«\"'])")


def sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in SENTENCE_END.split(line) if s.strip()]


def word_shuffle(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """Every line's words in random order: the vocabulary stays, the language goes."""
    out = []
    for line in text.split("\n"):
        words = line.split()
        rng.shuffle(words)
        out.append(" ".join(words))
    return "\n".join(out)


OCR_SWAPS = [
    ("rn", "m"), ("m", "rn"), ("l", "1"), ("i", "l"), ("e", "c"), ("o", "0"), ("å", "a"),
    ("ø", "o"), ("æ", "ae"), ("h", "li"), ("u", "n"), ("n", "u"), ("t", "f"), ("f", "t"),
    ("d", "cl"), ("S", "5"), ("B", "8"), ("a", "e"), ("g", "q"),
]  # fmt: skip


def char_noise(
    text: str, rng: random.Random, donors: Sequence[str] = (), rate: float = 0.25
) -> str:
    """Scanning noise: confused glyphs, stray marks, lost spaces, words broken across lines."""
    out: list[str] = []
    for word in text.split(" "):
        r = rng.random()
        if r < rate:
            a, b = rng.choice(OCR_SWAPS)
            word = word.replace(a, b, 1) if a in word else word + rng.choice("'^~„,.")
        elif r < rate * 1.3 and len(word) > 6:
            word = f"{word[: len(word) // 2]}-\n{word[len(word) // 2 :]}"
        if out and rng.random() < rate * 0.3:
            out[-1] += word
            continue
        out.append(word)
    return " ".join(out)


def mojibake(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """UTF-8 bytes decoded as Windows-1252 (Latin-1 for the five bytes it leaves undefined): the
    commonest encoding damage in Nordic crawls ("sÃ¥ fÃ¸r"). ftfy repairs it."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(bytes([byte]).decode("latin-1"))
    return "".join(out)


BOILERPLATE = [
    "Hjem | Nyheter | Sport | Kultur | Økonomi | Meninger | Kontakt oss",
    "Vi bruker informasjonskapsler (cookies) for å gi deg en bedre opplevelse. Ved å fortsette å "
    "bruke nettstedet godtar du vår bruk av informasjonskapsler. Les mer | Godta alle | Avvis",
    "Logg inn | Registrer deg | Glemt passord?",
    "Del artikkelen: Facebook | X | LinkedIn | E-post | Kopier lenke",
    "© 2024 Alle rettigheter reservert. Ansvarlig redaktør: Kari Nordmann. Personvern | "
    "Vilkår for bruk | Annonser hos oss",
    "Abonner på vårt nyhetsbrev! Skriv inn e-postadressen din og få de siste sakene rett i "
    "innboksen.",
    "Les også: Slik sparer du penger på strøm i vinter",
    "Mest lest | Siste nytt | Video | Podkast | Tips oss",
    "Annonse",
    "Relaterte saker",
    "Kommentarer (0) — Du må være logget inn for å kommentere.",
    "Følg oss på Facebook og Instagram",
    "Tilbake til toppen ↑",
    "Side 1 av 3 « Forrige | Neste »",
    "Kundeservice: Åpent hverdager 08–16. Telefon 22 00 00 00",
    "Vi bruk informasjonskapslar for å gje deg ei betre oppleving. Godta | Avvis | Innstillingar",
]


def boilerplate(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """A page that is mostly chrome: the article shrinks to a short lead inside menus, banners,
    share lines and footers."""
    lead = " ".join(sentences(text)[: rng.randint(1, 2)])
    top = rng.sample(BOILERPLATE, rng.randint(4, 6))
    bottom = rng.sample(BOILERPLATE, rng.randint(5, 8))
    return "\n".join([*top, lead, *bottom])


SPAM_WORDS = [
    "billig", "tilbud", "beste pris", "kjøp nå", "gratis frakt", "rabattkode", "oslo", "bergen",
    "trondheim", "stavanger", "anmeldelse", "test 2024", "topp 10", "salg", "black friday",
    "forbrukslån", "uten sikkerhet", "refinansiering", "rask svar", "kredittkort", "casino",
    "bonus", "gratisspinn", "slanking", "kosttilskudd", "vinterdekk", "elsykkel", "iphone",
    "strømavtale", "spotpris", "leiebil", "flybilletter", "hotell", "rørlegger", "tannlege",
]  # fmt: skip


def spam(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """Keyword stuffing: the page's own nouns mixed with commercial keywords, line after line."""
    own = [w.strip(".,:;!?«»()") for w in text.split() if len(w) > 5][:60] or ["norge"]
    lines = []
    for _ in range(rng.randint(8, 16)):
        words = rng.sample(SPAM_WORDS, 4) + rng.sample(own, min(3, len(own)))
        rng.shuffle(words)
        sep = rng.choice([" ", " - ", " | ", ", "])
        lines.append(sep.join(words))
    return "\n".join(lines)


def fragments(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """Teasers and cut sentences: the first words of a few sentences, nothing finished."""
    pieces = sentences(text)
    picked = rng.sample(pieces, min(len(pieces), rng.randint(3, 6)))
    out = []
    for s in picked:
        words = s.split()
        out.append(" ".join(words[: max(2, int(len(words) * rng.uniform(0.3, 0.6)))]))
    return "\n".join(out)


@uses_donors
def language_mix(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """About half the sentences replaced by sentences from other-language documents."""
    pool = [s for d in donors for s in sentences(d)]
    if not pool:
        raise InputError("language_mix needs donor documents in other languages")
    out = []
    for line in text.split("\n"):
        parts = [rng.choice(pool) if rng.random() < 0.5 else s for s in SENTENCE_END.split(line)]
        out.append(" ".join(parts))
    return "\n".join(out)


def repetition(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """Machine-like loops: one or two sentences repeated to the document's length, as generated
    or scraped-in-a-loop pages show."""
    pieces = sentences(text)
    start = rng.randrange(max(1, len(pieces) - 1))
    loop = pieces[start : start + rng.randint(1, 2)]
    out: list[str] = []
    while sum(map(len, out)) < min(len(text), 3000):
        out.extend(loop)
    return " ".join(out) if rng.random() < 0.5 else "\n".join(out)


MARKUP = [
    "<div class=\"article-body\">", "</div>", "<p>", "</p>", "&nbsp;", "<br/>", "&amp;",
    "<span style=\"font-weight:bold\">", "</span>", "{{ article.title }}", "&quot;",
    "<script>window.dataLayer=window.dataLayer||[];</script>", "<a href=\"/nyheter\">", "</a>",
]  # fmt: skip


def markup(text: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    """HTML that the extractor left in: tags, entities and template code between the words."""
    out = []
    for word in text.split(" "):
        out.append(word)
        if rng.random() < 0.3:
            out.append(rng.choice(MARKUP))
    return " ".join(out)


FAMILIES: dict[str, Damage] = {
    "word_shuffle": word_shuffle,
    "char_noise": char_noise,
    "mojibake": mojibake,
    "boilerplate": boilerplate,
    "spam": spam,
    "fragments": fragments,
    "language_mix": language_mix,
    "repetition": repetition,
    "markup": markup,
}


def degrade(text: str, family: str, rng: random.Random, donors: Sequence[str] = ()) -> str:
    if family not in FAMILIES:
        raise UnknownFamily(f"unknown damage family {family!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[family](text, rng, donors)


def damaged_copies(
    docs: Sequence[Document],
    families: Sequence[str],
    donors: Sequence[str] = (),
    seed: int = 0,
) -> list[Document]:
    """One damaged copy of every document per family, seeded by document and family so the same
    call gives the same copies. Each copy records its family and the original's id."""
    copies = []
    for doc in docs:
        for family in families:
            rng = random.Random(f"{seed}/{doc.id}/{family}")
            copies.append(
                Document(
                    id=f"{doc.id}#{family}",
                    text=degrade(doc.text, family, rng, donors),
                    lang=doc.lang,
                    source=doc.source,
                    metadata={**doc.metadata, "damage": family, "original_id": doc.id},
                )
            )
    return copies
