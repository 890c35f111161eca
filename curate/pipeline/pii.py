"""Personal data out of the text: e-mail addresses and public IPs (datatrove's patterns) and the
Nordic kinds no peer knows: national identity numbers validated by their checksum and date
(python-stdnum), Nordic phone numbers (Google's libphonenumber plan, through `phonenumbers`) and
Norwegian bank account numbers (mod 11).

A kind is a candidate pattern, a validator, and where needed a context: words that must stand
just before the number (Danish CPR numbers have had no checksum since 2007; a bare run of eight
digits is a phone number only after "tlf." or a country code). Every kind finds its candidates in
the original text; overlapping matches go to the kind listed first; then the matches, and only
they, are replaced in one pass. A run of digits that fails its check is left as it was, so dates,
prices, law references, ISBNs and order numbers are never touched. Adding a kind is one entry in
KINDS."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.utils.typeshelper import StatHints

from curate.errors import InputError

PII_METADATA = "pii"  # {kind: replacements} on each changed document
CONTEXT_CHARS = 40  # how far before a number its context words may stand

# Digits that belong to no longer number: not after a word character, separator or a digit
# group ("1234 56 78903" is one number), not before one, nor before a decimal part.
START = r"(?<![\w+\-/.,])(?<!\d[ .])"
END = r"(?![\w\-/]|[.,]\d|[ .]\d)"


@dataclass(frozen=True)
class Form:
    """One way a kind is written: a candidate pattern, and the words that must stand in the
    CONTEXT_CHARS before it (None: none needed)."""

    pattern: re.Pattern
    context: re.Pattern | None = None
    guarded: bool = False  # not after words of other numbers (NOT_PII_WORDS: "org.nr.", "CVR")
    not_after: re.Pattern | None = None  # words that rule it out

    def allows(self, text: str, start: int) -> bool:
        """The context words stand in the CONTEXT_CHARS before `start`, after any number there
        (in "tlf. 22 33 44 55, org.nr. 987 654 321" the second number's context is "org.nr."),
        and, for a guarded form, no word of another kind of number stands closer."""
        if not self.context and not self.guarded:
            return True
        before = re.split(r"\d", text[max(0, start - CONTEXT_CHARS) : start])[-1]
        if self.not_after and self.not_after.search(before):
            return False
        last = -1
        if self.context:
            found = [m.start() for m in self.context.finditer(before)]
            if not found:
                return False
            last = found[-1]
        other = [m.start() for m in NOT_PII_WORDS.finditer(before)] if self.guarded else []
        return not other or other[-1] < last


@dataclass(frozen=True)
class PIIKind:
    """One kind of personal data: its forms find candidates, `valid` checks each, and
    `placeholder` replaces the valid ones. `needs`: a cheap test, texts without it have none."""

    name: str
    placeholder: str
    valid: Callable[[str], bool]
    forms: tuple[Form, ...]
    needs: str = r"\d"

    def matches(self, text: str) -> list[tuple[int, int]]:
        if not re.search(self.needs, text):
            return []
        spans = []
        for form in self.forms:
            for m in form.pattern.finditer(text):
                if not form.allows(text, m.start()):
                    continue
                if self.valid(m.group(0)):
                    spans.append(m.span())
        return spans


def stdnum_valid(module: str, **kwargs) -> Callable[[str], bool]:
    from importlib import import_module

    validate = import_module(f"stdnum.{module}").validate

    def valid(number: str) -> bool:
        try:
            validate(number, **kwargs)
        except Exception:  # stdnum's ValidationError family, and dates it cannot build
            return False
        return True

    return valid


def swedish_valid(number: str) -> bool:
    """Personnummer, or samordningsnummer (the day plus 60), which stdnum's module refuses."""
    from stdnum import luhn
    from stdnum.se import personnummer

    digits = re.sub(r"\D", "", number)
    if not luhn.is_valid(digits[-10:]):
        return False
    day_at = len(digits) - 6
    day = int(digits[day_at : day_at + 2])
    if day > 60:  # samordningsnummer: check the date with the real day
        digits = f"{digits[:day_at]}{day - 60:02d}{digits[day_at + 2 :]}"
    sign = "+" if "+" in number else "-"
    try:
        return personnummer.get_birth_date(f"{digits[:-4]}{sign}{digits[-4:]}") <= date.today()
    except Exception:
        return False


DATE = re.compile(r"\d{1,2}([-.])\d{1,2}\1(?:19|20)\d{2}|(?:19|20)\d{2}([-.])\d{1,2}\2\d{1,2}")


def phone_valid(number: str) -> bool:
    """A number of the Nordic countries' numbering plans (libphonenumber's metadata), that is
    not a date written with dashes or dots."""
    import phonenumbers

    if DATE.fullmatch(number.strip()):
        return False

    for region in NORDIC_REGIONS:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed) and (
            number.lstrip().startswith(("+", "00"))
            or phonenumbers.region_code_for_number(parsed) == region
        ):
            return True
    return False


def public_ip(candidate: str) -> bool:
    """A public address; four one-digit parts are a section number ("3.4.1.1")."""
    if all(len(part) == 1 for part in candidate.split(".")):
        return False
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


def words(*alternatives: str) -> re.Pattern:
    return re.compile(r"(?i)\b(?:" + "|".join(alternatives) + r")\b")


NORDIC_REGIONS = ("NO", "SE", "DK", "FI")
# datatrove's PIIFormatter patterns (datatrove.pipeline.formatters.pii), with its public-IP rule
EMAIL = (
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
IP = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
PHONE_WORDS = words(
    r"tlf\.?", "telefon", "telefonnummer", "telefonnr", "tel", "telephone", "phone", r"mob\.?",
    "mobil", "mobilnummer", "mobilnr", "mobiltelefon", "ring", "ringe", "ringer", "fax", "faks",
    "sms", "puh", "puhelin", "puhelinnumero", "gsm", "kontakt", "kontaktperson", "tlfnr", "telnr",
    "tfn", "växel", "vxl", "telefonväxel", "mobiltel", "vagttelefon", "tipstelefon", "telefonnr",
    "mob.nr", "vipps",
)  # fmt: skip
# numbers that are not personal: organisation and VAT numbers, article, order, case numbers
NOT_PII_WORDS = words(
    "cvr", r"org\.? ?nr", "orgnr", "organisasjonsnummer", "organisationsnummer", "org", "vat",
    "mva", "moms", r"art\.? ?nr", "artikkelnr", "varenr", "varenummer", "ordrenr", "ordrenummer",
    "ordre", r"j\.? ?nr", "journalnr", "saksnr", "saksnummer", "ean", "isbn", "issn", "faktura",
    "fakturanr", "kid", "ref", "referanse", "referens", "dnr", "diarienr", "y-tunnus",
    "kundenummer", "kundenr", "medlemsnummer", "medlemsnr", "ordrenummer", "bestillingsnummer",
    "serienummer",
)  # fmt: skip
ACCOUNT_WORDS = words(
    "konto", "kontonr", "kontonummer", "bankkonto", "kontonummeret", "bankkontonummer",
    "kontonummer", "konto nr", "giro", "gironummer",
)  # fmt: skip
CPR_WORDS = words("cpr", "cpr-nr", "cpr-nummer", "cprnr")
# another country's identity number: a Finnish or Danish date-and-serial is no Swedish one
OTHER_ID_WORDS = words("henkilötunnus", "hetu", "personbeteckning", "cpr", "cpr-nr", "cpr-nummer")
NATIONAL_ID_WORDS = words(
    "personnummer", "personnr", "samordningsnummer", "fødselsnummer", "fødselsnr", "fnr",
    "d-nummer", "personnummret", "pnr", "id-nummer",
)  # fmt: skip


def form(pattern: str, context: re.Pattern | None = None) -> Form:
    return Form(re.compile(pattern), context)


def digits(
    pattern: str, context: re.Pattern | None = None, not_after: re.Pattern | None = None
) -> Form:
    """A form made of digits that must not be part of a longer number, nor follow the name of
    another kind of number."""
    return Form(re.compile(START + pattern + END), context, guarded=True, not_after=not_after)


KINDS: dict[str, PIIKind] = {
    kind.name: kind
    for kind in (
        PIIKind("email", "email@example.com", lambda _: True, (form(EMAIL),), needs="@"),
        PIIKind("ip", "0.0.0.0", public_ip, (digits(IP),), needs=r"\d\."),
        # fødselsnummer and D-nummer: 11 digits, two mod-11 check digits, a real birth date
        PIIKind(
            "no_fodselsnummer",
            "<fødselsnummer>",
            stdnum_valid("no.fodselsnummer"),
            (digits(r"\d{6} ?\d{5}"),),
        ),
        # CPR: a date and four digits; no checksum since 2007, so only after "CPR" (first: a
        # CPR can pass the Swedish or Finnish check)
        PIIKind(
            "dk_cpr", "<cpr-nummer>", stdnum_valid("dk.cpr"), (digits(r"\d{6}-?\d{4}", CPR_WORDS),)
        ),
        # personnummer / samordningsnummer: (YY)YYMMDD-NNNC, Luhn; a bare run of 10 digits
        # needs context (it is as often a Swedish phone number)
        PIIKind(
            "se_personnummer",
            "<personnummer>",
            swedish_valid,
            (
                digits(r"(?:(?:19|20)\d{6}[-+]?\d{4}|\d{6}[-+]\d{4})", not_after=OTHER_ID_WORDS),
                digits(r"\d{10}", NATIONAL_ID_WORDS),
            ),
        ),
        PIIKind(
            "fi_henkilotunnus",
            "<henkilötunnus>",
            stdnum_valid("fi.hetu"),
            (digits(r"\d{6}[-+ABCDEFYXWVU]\d{3}[0-9ABCDEFHJKLMNPRSTUVWXY]"),),
        ),
        # kontonummer: 11 digits, mod 11; grouped 4.2.5 as banks print it, or after "konto"
        PIIKind(
            "no_bank_account",
            "<kontonummer>",
            stdnum_valid("no.kontonr"),
            (digits(r"\d{4}([. ])\d{2}\1\d{5}"), digits(r"\d{11}", ACCOUNT_WORDS)),
        ),
        # phone numbers: with a country code; in a grouped form each country prints; or a run
        # of 8 to 10 digits after "tlf.", "mobil", "ring" and the like
        PIIKind(
            "phone",
            "<telefonnummer>",
            phone_valid,
            (
                form(
                    r"(?<![\w+])(?:\+|00)(?:47|46|45|358)[ -]?(?:\(0\) ?)?\d(?:[ -]?\d){5,11}" + END
                ),
                digits(
                    r"(?:\d{2} \d{2} \d{2} \d{2}"  # NO, DK: 22 33 44 55
                    r"|[49]\d{2} \d{2} \d{3}"  # NO mobiles: 912 34 567
                    r"|0\d{1,3}-\d{2,3}(?: ?\d{2,3}){1,2}"  # SE: 08-123 456 78, 070-123 45 67
                    r"|0[1-9]\d{0,2} \d{3} \d{3,4})"  # FI: 040 123 4567, 09 123 4567
                ),
                digits(r"\d(?:[ -]?\d){7,9}", PHONE_WORDS),
            ),
        ),
    )
}


def find_pii(text: str, kinds: list[PIIKind]) -> list[tuple[int, int, PIIKind]]:
    """Non-overlapping matches in text order; where two overlap, the kind listed first wins."""
    taken: list[tuple[int, int, PIIKind]] = []
    for kind in kinds:
        for start, end in kind.matches(text):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
    return sorted(taken, key=lambda t: t[0])


def redact(text: str, kinds: list[PIIKind]) -> tuple[str, Counter]:
    """The text with every match replaced by its kind's placeholder, and the count per kind."""
    found = find_pii(text, kinds)
    if not found:
        return text, Counter()
    parts, at = [], 0
    for start, end, kind in found:
        parts += [text[at:start], kind.placeholder]
        at = end
    parts.append(text[at:])
    return "".join(parts), Counter(kind.name for _, _, kind in found)


def chosen_kinds(names: list[str] | None) -> list[PIIKind]:
    if names is None:
        return list(KINDS.values())
    unknown = sorted(set(names) - set(KINDS))
    if unknown:
        raise InputError(f"pii kinds {unknown} are unknown; known: {list(KINDS)}")
    return [KINDS[name] for name in KINDS if name in names]


class PIIRemover(BaseFormatter):
    """The `pii` step: replaces personal data (KINDS; `kinds` picks some) with a fixed
    placeholder per kind, records `metadata["pii"] = {kind: count}` on each changed document,
    and counts `pii: <kind>` and `changed` in the run's stats. Put it before dedup (two copies
    that differ only in a phone number are then exact duplicates)."""

    name = "🕵 personal data"

    def __init__(self, kinds: list[str] | None = None):
        super().__init__()
        self.kinds = chosen_kinds(kinds)

    def format(self, text: str) -> str:
        return redact(text, self.kinds)[0]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                doc.text, counts = redact(doc.text, self.kinds)
            if counts:
                doc.metadata[PII_METADATA] = dict(counts)
                self.stat_update("changed")
                for kind, n in counts.items():
                    self.stat_update(f"pii: {kind}", value=n)
            yield doc
