"""Line-level repair of web pages before they are judged: the navigation, menu, button, share,
cookie and "read more" lines a crawler's text extraction leaves around the prose, removed line
by line (C4's and FineWeb-2's idea, with Nordic word lists), so a page of good prose inside a
menu is judged as its prose.

What each document lost is in its metadata (`lines_removed`, `chars_removed`, `clean_rules`)
and in the run's stats (`lines_removed`, `chars_removed`, `removed: <rule>`). A page with no
letters left is never emptied silently: it is dropped with the reason "nothing left after line
cleaning" into the step's exclusion folder, its text as it came.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cached_property

import yaml
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.errors import InputError
from curate.package_files import package_file
from curate.pipeline.steps import SetAsideErrors

LEFTOVERS = package_file("line_clean", "leftovers.yaml")
LANGUAGES = ("nb", "nn", "da", "sv", "en")
# Characters that decorate links and buttons ("Les mer »", "› Hjem", "| Del |").
DECORATION = "»«›‹→←↑↓>|•·*#+-–—_=~^/\\[](){}<>✓✔✕×▶►◄▼▲…:., \t"
# A line ending so is (part of) a sentence, never a button: commas end list items of statutes.
SENTENCE_END = (".", "!", "?", '."', ".»", ".”", "!»", "?»", ":", ";", ",")
LETTER = re.compile(r"[^\W\d_]")
DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\b\d{1,2}:\d{2}\b")
WORD, LETTERS, DIGIT = re.compile(r"\w+"), re.compile(r"[^\W\d_]+"), re.compile(r"\d")
YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
TRAILER_CHARS = 40
NOTHING_LEFT = "nothing left after line cleaning"


def load_leftovers(languages: Iterable[str]) -> dict[str, set[str]]:
    """The word lists of `languages`, merged per kind (exact, prefix, trailer, cookie, ...)."""
    table = yaml.safe_load(LEFTOVERS.read_text(encoding="utf-8"))
    unknown = [lang for lang in languages if lang not in table]
    if unknown:
        raise InputError(f"no leftover word list for {unknown}; have {sorted(table)}")
    merged: dict[str, set[str]] = {}
    for lang in languages:
        for kind, words in table[lang].items():
            merged.setdefault(kind, set()).update(str(w).lower() for w in words)
    return merged


def normalise(line: str) -> str:
    return " ".join(line.lower().strip(DECORATION).split())


def is_item(line: str) -> bool:
    """A list item ("- Skriftlig eksamen"): content of statutes and recipes, kept by the
    repeated-line and edge rules."""
    return line.lstrip().startswith(("- ", "• ", "* ", "– "))


def ends_sentence(line: str) -> bool:
    return line.rstrip().endswith(SENTENCE_END)


class LineCleaner(SetAsideErrors, BaseFilter):
    """Removes leftover lines; see the module docstring. Rules, in order of a line's check:
    `symbols` (no letter), `ui` (a button or menu entry of the word lists), `cookie` (a consent
    banner line), `date` (only a date, a time or a byline), `repeated` (a short non-sentence line
    that occurs more than once: menus, usernames, "Anonymous poster"), `edge` (a run of at least
    `min_edge_run` very short non-sentence lines at the top or bottom: a menu block); and
    `trailer`, a "Les mer »" link cut off the end of a longer line."""

    name = "🧹 clean lines"

    def __init__(
        self,
        languages: list[str] = LANGUAGES,
        max_ui_words: int = 6,
        max_repeat_words: int = 8,
        max_date_words: int = 8,
        max_cookie_words: int = 60,
        min_edge_run: int = 3,
        max_edge_words: int = 3,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        self.words = load_leftovers(languages)  # fail before any task starts
        self.max_ui_words, self.max_repeat_words = max_ui_words, max_repeat_words
        self.max_date_words, self.max_cookie_words = max_date_words, max_cookie_words
        self.min_edge_run, self.max_edge_words = min_edge_run, max_edge_words

    @cached_property
    def trailer(self) -> re.Pattern:
        words = sorted(self.words["trailer"], key=len, reverse=True)
        pattern = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
        # "statsbudsjett... Les mer »": the teaser's ellipsis goes with the link, a full stop stays
        return re.compile(rf"(?i)(?<=\S)(?:\s*(?:\.\.\.|…))?\s*(?:{pattern})[\s»›>→.…]*$")

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cleaned, removed = self.clean_text(doc.text)
        rules = Counter(rule for rule, _ in removed)
        chars = sum(len(text) for _, text in removed)
        if not rules:
            return True
        doc.metadata.update(
            lines_removed=sum(n for r, n in rules.items() if r != "trailer"),
            chars_removed=chars,
            clean_rules=dict(rules),
        )
        self.stat_update("lines_removed", value=doc.metadata["lines_removed"])
        self.stat_update("chars_removed", value=chars)
        for rule, count in rules.items():
            self.stat_update(f"removed: {rule}", value=count)
        if not LETTER.search(cleaned):
            return False, NOTHING_LEFT
        doc.text = cleaned
        return True

    def clean_text(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        """(the text without its leftover lines, [(rule, removed text)])."""
        kept, removed = self.clean(text.split("\n"))
        return "\n".join(kept).strip("\n"), removed

    def clean(self, lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """(kept lines, [(rule, removed text)]); a trailer cut keeps the rest of its line."""
        counts = Counter(normalise(line) for line in lines if line.strip())
        verdicts = [self.rule(line, counts) for line in lines]
        self.mark_edges(lines, verdicts)
        kept, removed = [], []
        for line, rule in zip(lines, verdicts, strict=True):
            if rule:
                removed.append((rule, line))
                continue
            tail = max(0, len(line) - TRAILER_CHARS)  # a link ends the line: search its end only
            cut = self.trailer.search(line, tail)
            if cut and len(line[: cut.start()].split()) > self.max_ui_words:
                removed.append(("trailer", cut.group()))
                line = line[: cut.start()]
            kept.append(line)
        return kept, removed

    def rule(self, line: str, counts: Counter) -> str | None:
        if not line.strip():
            return None
        if not LETTER.search(line) and not line.lstrip().startswith("§"):
            return "symbols"
        norm, n_words = normalise(line), len(line.split())
        sentence = ends_sentence(line)
        if norm in self.words["exact"] or (
            n_words <= self.max_ui_words
            and not sentence
            and any(norm.startswith(p) for p in self.words["prefix"])
        ):
            return "ui"
        tokens = set(WORD.findall(norm))
        if (
            n_words <= self.max_cookie_words
            and tokens & self.words["cookie"]
            and tokens & self.words["consent"]
        ):
            return "cookie"
        if n_words <= self.max_date_words and not sentence and self.only_date(norm):
            return "date"
        repeated = counts[norm] > 1 and n_words <= self.max_repeat_words
        if repeated and not (sentence or is_item(line)):
            return "repeated"
        return None

    def only_date(self, norm: str) -> bool:
        """A date or time with at most three other words ("Skrevet 07 mars 2015 - 15:50",
        "april 2011", "(Innlegget ble redigert 17.03.19 18:05)"); "§ 3. Formål" is no date."""
        words = LETTERS.findall(DATE.sub(" ", norm))
        months = [w for w in words if w in self.words["months"]]
        if DATE.search(norm) or (months and DIGIT.search(norm)):
            return len(words) - len(months) <= 3
        # a year alone with one word: "Valget 2019", not "Forordning (EF) nr. 37/2005"
        return bool(YEAR.search(norm)) and len(words) <= 1

    def mark_edges(self, lines: list[str], verdicts: list[str | None]) -> None:
        """Runs of very short non-sentence lines at the top and the bottom: a menu block."""
        for order in (range(len(lines)), range(len(lines) - 1, -1, -1)):
            run = []
            for i in order:
                line = lines[i]
                if not line.strip() or verdicts[i]:
                    continue
                short = len(line.split()) <= self.max_edge_words
                if short and not ends_sentence(line) and not is_item(line):
                    run.append(i)
                    continue
                break
            if len(run) >= self.min_edge_run:
                for i in run:
                    verdicts[i] = "edge"
