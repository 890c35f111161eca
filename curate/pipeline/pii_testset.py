"""A labelled test set for the `pii` step (curate.pipeline.pii), written by this generator.

Each document is Nordic prose in the shapes personal data takes on the web (contact lines, forms,
payment notes, case documents) with the true matches' spans and kinds recorded. Check digits are
computed here from the published rules, not by the validators under test: fødselsnummer and
D-nummer (two mod-11 digits), Swedish personnummer and samordningsnummer (Luhn), henkilötunnus
(mod-31 check character), Danish CPR (a date; after "CPR"), Norwegian kontonummer (mod 11), phone
numbers in each country's printed forms. Beside them stand the numbers that must be left alone:
the same kinds with a wrong check digit or an impossible date, a CPR-shaped number without its
context, and the numbers of clean text (dates, prices, law references, ISBNs, organisation,
order and customer numbers, postcodes, section numbers, private IPs).

    docs = generate(n=400, seed=0)   # [{"id", "lang", "text", "spans": [[start, end, kind]]}]
    scores = evaluate(docs)          # {kind: {"precision", "recall", "tp", "fp", "fn"}}, misses

The test set is written by the same hands as the patterns, so it shows the patterns do what
they were written to do; `benchmarks/hygiene.py` adds what real text does to them.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

FI_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
W1, W2 = [3, 7, 6, 1, 8, 9, 4, 5, 2], [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
ACCOUNT_W = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]


def mod11(digits: str, weights: list[int]) -> int | None:
    """The mod-11 check digit, or None where the rule gives 10 (no such number is issued)."""
    k = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if k == 11 else None if k == 10 else k


def luhn_digit(digits: str) -> int:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def birth_date(rng: random.Random, first: int = 1945, last: int = 2005) -> date:
    return date(first, 1, 1) + timedelta(
        days=rng.randrange((date(last, 12, 31) - date(first, 1, 1)).days)
    )


def fodselsnummer(rng: random.Random, d_number: bool = False, valid: bool = True) -> str:
    while True:
        born = birth_date(rng, 1945, 1999)
        day = born.day + (40 if d_number else 0)
        base = f"{day:02d}{born.month:02d}{born.year % 100:02d}{rng.randrange(0, 500):03d}"
        k1 = mod11(base, W1)
        if k1 is None:
            continue
        k2 = mod11(base + str(k1), W2)
        if k2 is None:
            continue
        if not valid:
            k2 = (k2 + rng.randrange(1, 10)) % 10
        number = f"{base}{k1}{k2}"
        return number if rng.random() < 0.7 else f"{number[:6]} {number[6:]}"


def personnummer(rng: random.Random, samordning: bool = False, valid: bool = True) -> str:
    born = birth_date(rng)
    day = born.day + (60 if samordning else 0)
    base = f"{born.year % 100:02d}{born.month:02d}{day:02d}{rng.randrange(0, 1000):03d}"
    check = luhn_digit(base)
    if not valid:
        check = (check + rng.randrange(1, 10)) % 10
    short = f"{base[:6]}-{base[6:]}{check}"
    return short if rng.random() < 0.6 else f"{born.year // 100}{short}"


def henkilotunnus(rng: random.Random, valid: bool = True) -> str:
    born = birth_date(rng)
    sign = "-" if born.year < 2000 else "A"
    individual = rng.randrange(2, 900)
    base = f"{born.day:02d}{born.month:02d}{born.year % 100:02d}"
    check = FI_CHECK[int(f"{base}{individual:03d}") % 31]
    if not valid:
        check = FI_CHECK[(FI_CHECK.index(check) + rng.randrange(1, 31)) % 31]
    return f"{base}{sign}{individual:03d}{check}"


def cpr(rng: random.Random, valid: bool = True) -> str:
    """The serial's first digit names the century: 0-3 the 1900s, 4 (years 00-36) the 2000s."""
    born = birth_date(rng)
    day = born.day if valid else rng.choice([32, 33, 35, 40, 45])
    first = rng.randrange(0, 4) if born.year < 2000 else 4
    return f"{day:02d}{born.month:02d}{born.year % 100:02d}-{first}{rng.randrange(0, 1000):03d}"


def kontonummer(rng: random.Random, valid: bool = True) -> str:
    while True:
        base = (
            f"{rng.randrange(1000, 9999)}{rng.randrange(0, 100):02d}{rng.randrange(0, 10000):04d}"
        )
        k = mod11(base, ACCOUNT_W)
        if k is not None:
            break
    if not valid:
        k = (k + rng.randrange(1, 10)) % 10
    n = f"{base}{k}"
    sep = rng.choice([".", " "])
    return f"{n[:4]}{sep}{n[4:6]}{sep}{n[6:]}" if rng.random() < 0.8 else n


# allocated first two digits (Nkom's and the Danish Agency's numbering plans): Norwegian mobiles
# 40-41, 45-48, 90-99, and landline areas; Danish numbers
NO_PREFIXES = [40, 41, 45, 46, 47, 48, *range(90, 100), 22, 23, 32, 33, 35, 37, 38, 51, 52, 53,
               55, 56, 57, 61, 62, 63, 64, 66, 67, 69, *range(70, 80)]  # fmt: skip
DK_PREFIXES = [*range(20, 37), *range(38, 83), *range(86, 95), *range(96, 100)]


def phone(rng: random.Random, country: str) -> str:
    d = lambda k: "".join(str(rng.randrange(10)) for _ in range(k))  # noqa: E731
    if country in ("no", "dk"):
        n = str(rng.choice(NO_PREFIXES if country == "no" else DK_PREFIXES)) + d(6)
        form = rng.choice(["pairs", "mobile", "plain", "intl"])
        if form == "pairs" or (form == "mobile" and n[0] not in "49"):
            text = f"{n[:2]} {n[2:4]} {n[4:6]} {n[6:]}"
        elif form == "mobile":
            text = f"{n[:3]} {n[3:5]} {n[5:]}"
        elif form == "plain":
            text = n
        else:
            text = f"+{47 if country == 'no' else 45} {n[:2]} {n[2:4]} {n[4:6]} {n[6:]}"
        return text
    if country == "se":
        if rng.random() < 0.5:
            return f"07{rng.choice('0236')}-{d(3)} {d(2)} {d(2)}"
        if rng.random() < 0.5:
            return f"08-{d(3)} {d(3)} {d(2)}"
        return f"+46 7{rng.choice('0236')} {d(3)} {d(2)} {d(2)}"
    mobile = rng.choice(["40", "41", "44", "45", "50"])
    return f"0{mobile} {d(3)} {d(4)}" if rng.random() < 0.6 else f"+358 {mobile} {d(3)} {d(4)}"


def email(rng: random.Random) -> str:
    first = rng.choice(["ola", "kari", "per", "ingrid", "lars", "anna", "erik", "sigrid", "mikko"])
    last = rng.choice(["nordmann", "hansen", "berg", "lund", "svensson", "jensen", "virtanen"])
    domain = rng.choice(["gmail.com", "online.no", "firma.no", "kommune.no", "live.se", "mail.dk"])
    return (
        f"{first}.{last}@{domain}" if rng.random() < 0.7 else f"{first}{rng.randrange(99)}@{domain}"
    )


def public_ip(rng: random.Random) -> str:
    first = rng.choice([84, 85, 88, 91, 129, 158, 193, 212])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# (language, template, kind or None, generator). {x} is the number; kind None: must stay.
POSITIVE = [
    ("nb", "Søkerens fødselsnummer er {x}, og søknaden ble mottatt i går.", "no_fodselsnummer",
     lambda r: fodselsnummer(r)),
    ("nb", "Oppgi D-nummer {x} i skjemaet når du ikke har norsk fødselsnummer.", "no_fodselsnummer",
     lambda r: fodselsnummer(r, d_number=True)),
    ("nn", "Pasienten, fnr. {x}, vart skriven ut same dag.", "no_fodselsnummer",
     lambda r: fodselsnummer(r)),
    ("sv", "Mitt personnummer är {x} om ni behöver det till ansökan.", "se_personnummer",
     lambda r: personnummer(r)),
    ("sv", "Samordningsnummer {x} tilldelades av Skatteverket.", "se_personnummer",
     lambda r: personnummer(r, samordning=True)),
    ("fi", "Henkilötunnus {x} on merkitty hakemukseen.", "fi_henkilotunnus",
     lambda r: henkilotunnus(r)),
    ("sv", "Sökande med finsk personbeteckning {x} ska bifoga intyg.", "fi_henkilotunnus",
     lambda r: henkilotunnus(r)),
    ("da", "Ansøgeren skal oplyse CPR-nr. {x} ved henvendelse til kommunen.", "dk_cpr",
     lambda r: cpr(r)),
    ("da", "Mit cpr-nummer er {x}, hvis I skal bruge det.", "dk_cpr", lambda r: cpr(r)),
    ("nb", "Betal kontingent til kontonummer {x} innen fristen.", "no_bank_account",
     lambda r: kontonummer(r)),
    ("nn", "Gåver kan setjast inn på konto {x}, merk innbetalinga med namn.", "no_bank_account",
     lambda r: kontonummer(r)),
    ("nb", "Ta kontakt med Kari på tlf. {x} for mer informasjon.", "phone",
     lambda r: phone(r, "no")),
    ("nb", "Ring oss på {x} i åpningstiden.", "phone", lambda r: phone(r, "no")),
    ("nn", "Leiar i laget kan nåast på mobil {x} heile veka.", "phone", lambda r: phone(r, "no")),
    ("da", "Du kan ringe til os på telefon {x} alle hverdage.", "phone", lambda r: phone(r, "dk")),
    ("sv", "Kontakta rektor på telefon {x} för frågor om antagningen.", "phone",
     lambda r: phone(r, "se")),
    ("fi", "Lisätietoja antaa koordinaattori, puh. {x}.", "phone", lambda r: phone(r, "fi")),
    ("nb", "Spørsmål om påmelding? Kontakt Ola Hansen ({x}).", "phone", lambda r: phone(r, "no")),
    ("nb", "Tlf.:{x} / e-post til styret.", "phone", lambda r: phone(r, "no")),
    ("sv", "Växel: {x}", "phone", lambda r: phone(r, "se")),
    ("nb", "Send CV til {x} innen 1. mars.", "email", lambda r: email(r)),
    ("nb", "Spørsmål kan sendes til {x}", "email", lambda r: email(r)),
    ("sv", "Frågor mejlas till {x} senast fredag.", "email", lambda r: email(r)),
    ("nb", "Innlegget ble skrevet fra IP-adressen {x} klokken 23.14.", "ip",
     lambda r: public_ip(r)),
]  # fmt: skip


def digits_of(r: random.Random, low: int, high: int) -> str:
    return str(r.randrange(low, high))


def nb_date(r: random.Random) -> str:
    return birth_date(r).strftime("%d.%m.%Y")


def law_id(r: random.Random) -> str:
    return f"LOV-{birth_date(r).isoformat()}-{r.randrange(1, 130)}"


def isbn(r: random.Random) -> str:
    return f"978-82-{r.randrange(10, 99)}-{r.randrange(10000, 99999)}-{r.randrange(10)}"


def grouped(r: random.Random, first: tuple[int, int]) -> str:
    return f"{r.randrange(*first)} {r.randrange(100, 999)} {r.randrange(100, 999)}"


def section(r: random.Random) -> str:
    return ".".join(str(r.randrange(1, 9)) for _ in range(4))


def private_ip(r: random.Random) -> str:
    return f"192.168.{r.randrange(256)}.{r.randrange(1, 255)}"


def years(r: random.Random) -> str:
    start = r.randrange(1990, 2015)
    return " ".join(str(y) for y in range(start, start + 4))


NEGATIVE = [  # the same kinds, invalid, and the numbers of clean text
    ("nb", "Fødselsnummeret {x} i søknaden er feil.", lambda r: fodselsnummer(r, valid=False)),
    ("sv", "Personnumret {x} är ogiltigt.", lambda r: personnummer(r, valid=False)),
    ("fi", "Henkilötunnus {x} ei kelpaa.", lambda r: henkilotunnus(r, valid=False)),
    ("da", "CPR-nr. {x} findes ikke, datoen er umulig.", lambda r: cpr(r, valid=False)),
    ("nb", "Kontonummeret {x} har feil kontrollsiffer.", lambda r: kontonummer(r, valid=False)),
    ("da", "Ordrenummer {x} er afsendt fra lageret.", lambda r: cpr(r)),
    ("nb", "Loven trådte i kraft {x}, samme dag som forskriften.", nb_date),
    ("sv", "Beslutet fattades {x} av kommunfullmäktige.", lambda r: birth_date(r).isoformat()),
    ("nb", "Jf. lov 17. juni 2005 nr. {x} om arbeidsmiljø § 3.", lambda r: digits_of(r, 1, 130)),
    ("nb", "Se {x} om arbeidsmiljø, arbeidstid og stillingsvern.", law_id),
    ("nb", "Boken har ISBN {x} og kom ut i fjor.", isbn),
    ("nb", "Leiligheten er lagt ut for kr {x},- med fellesgjeld.", lambda r: grouped(r, (1, 9))),
    ("nb", "Selskapet har org.nr. {x} i Brønnøysund.", lambda r: grouped(r, (800, 999))),
    ("da", "Virksomheden har CVR-nr. {x} i Aarhus.", lambda r: digits_of(r, 10**7, 10**8)),
    ("nb", "Oppgi kundenummer {x} når du kontakter oss.", lambda r: digits_of(r, 10**10, 10**11)),
    ("nb", "Adressen er Storgata 12, {x} Oslo.", lambda r: f"{r.randrange(1, 1300):04d}"),
    ("nb", "Se punkt {x} i vedlegget om beregninger.", section),
    ("nb", "Ruteren har den lokale adressen {x} som standard.", private_ip),
    ("sv", "Diarienummer {x} gäller ärendet.", lambda r: f"{digits_of(r, 2010, 2025)}-77"),
    ("nb", "Befolkningen økte fra {x} innbyggere i fjor.", lambda r: grouped(r, (1, 5))),
    ("nb", "Tabellen viser årene {x} side om side.", years),
    ("nb", "Vi solgte {x} eksemplarer av boka.", lambda r: digits_of(r, 10**7, 10**8)),
]  # fmt: skip


def generate(n: int = 400, seed: int = 0) -> list[dict]:
    """`n` documents of 3 to 6 sentences, each document a mix of positive and negative
    sentences in one language; spans are the true matches (start, end, kind)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        lang = rng.choice(["nb", "nn", "sv", "da", "fi"])
        pool_pos = [t for t in POSITIVE if t[0] == lang] or POSITIVE
        pool_neg = [t for t in NEGATIVE if t[0] == lang] or NEGATIVE
        text, spans = "", []
        for _ in range(rng.randrange(3, 7)):
            if rng.random() < 0.5:
                _, template, kind, make = rng.choice(pool_pos)
            else:
                _, template, make = rng.choice(pool_neg)
                kind = None
            value = make(rng)
            before, after = template.split("{x}")
            start = len(text) + (1 if text else 0) + len(before)
            text = f"{text} {before}{value}{after}" if text else f"{before}{value}{after}"
            if kind:
                spans.append([start, start + len(value), kind])
        docs.append({"id": f"pii-{seed}-{i}", "lang": lang, "text": text, "spans": spans})
    return docs


def evaluate(docs: list[dict], kinds: list[str] | None = None) -> tuple[dict, list[tuple]]:
    """Precision and recall per kind: a match counts when its span and kind are a true one's.
    Also every miss and false match as (FP or FN, kind, document text around it)."""
    from curate.pipeline.pii import chosen_kinds, find_pii

    chosen = chosen_kinds(kinds)
    tp, fp, fn, misses = Counter(), Counter(), Counter(), []
    for doc in docs:
        truth = {(s, e): kind for s, e, kind in doc["spans"]}
        found = {(s, e): kind.name for s, e, kind in find_pii(doc["text"], chosen)}
        for span, kind in found.items():
            hit = truth.get(span) == kind
            (tp if hit else fp)[kind] += 1
            if not hit:
                misses.append(("FP", kind, doc["text"][max(0, span[0] - 40) : span[1] + 10]))
        for span, kind in truth.items():
            if found.get(span) != kind:
                fn[kind] += 1
                misses.append(("FN", kind, doc["text"][max(0, span[0] - 40) : span[1] + 10]))
    scores = {}
    for kind in sorted({*tp, *fp, *fn}):
        scores[kind] = {
            "precision": tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 0.0,
            "recall": tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 0.0,
            "tp": tp[kind],
            "fp": fp[kind],
            "fn": fn[kind],
        }
    return scores, misses
