"""The early-signal tasks of an ablation, built once from held-out real text (the test splits of
the reference corpus and the web sample, which no variant may train on) and kept as files, so
every run, seed and checkpoint is scored on the same items.

- perplexity per domain: the reference test split by genre (nb/nn), the web test split by
  language, and the web test pages a person called fine. Lower is better.
- minimal pairs, scored by mean log-likelihood per token of what follows a shared prefix
  (curate.ablate.evaluate.pair_accuracy says why per token); accuracy, chance 0.5:
    word_order    a sentence vs the same words shuffled
    continuation  a sentence's true next sentence vs a sentence of like length from another document
    nb_nn_form    after an NTREX sentence in Bokmål (Nynorsk), the next sentence in the same form
                  vs the other form (NTREX translates each article into both)
    language      after an NTREX sentence in nb/nn, the next sentence vs its Swedish or Danish
                  translation
    ocr           a sentence vs an OCR-damaged copy (curate.degrade.char_noise)
- lm-evaluation-harness tasks named in the config, when lm-eval is installed
  (curate.ablate.harness).

Adding a pair task is one builder function in PAIR_BUILDERS.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.atomic import write_atomic
from curate.config import build
from curate.degrade import char_noise, sentences, word_shuffle
from curate.document import Document
from curate.reference import is_prose, reference_splits
from curate.web import hplt_verdict, page_text, web_splits

TASK_FILES_VERSION = "1"
NORWEGIAN = ("nb", "nn")


@dataclass
class TasksConfig:
    perplexity_docs: int = 24  # documents per domain
    perplexity_tokens: int = 256  # the first N tokens of each
    pairs: int = 200  # items per minimal-pair task (fewer where the text runs out)
    pair_tasks: list[str] = field(default_factory=lambda: list(PAIR_BUILDERS))
    min_words: int = 6  # sentences shorter than this make no pair
    max_words: int = 40
    reference: str | None = None  # default $CURATE_REFERENCE, else ../shared/reference
    web: str | None = None  # default $CURATE_WEB, else ../shared/web
    lm_eval: list[str] = field(default_factory=list)  # lm-evaluation-harness task names
    lm_eval_include: str | None = None  # a folder of the user's own task YAMLs
    lm_eval_limit: int | None = None  # items per harness task (None: all)
    lm_eval_chance: dict[str, float] = field(default_factory=dict)  # chance level per task
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.pair_tasks) - set(PAIR_BUILDERS))
        if unknown:
            raise ValueError(f"pair_tasks: unknown {unknown}; known: {sorted(PAIR_BUILDERS)}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TasksConfig:
        return build(cls, raw or {}, "tasks")


@dataclass
class HeldOut:
    """The held-out text the builders read."""

    prose: list[Document]  # reference test split, nb/nn
    web: list[Document]  # web test split, nb/nn, as page text
    ntrex: dict[str, dict[str, list[str]]]  # article -> lang -> lines (test split)


def load_held_out(config: TasksConfig) -> HeldOut:
    reference = reference_splits(config.reference)["test"]
    prose = [d for d in reference if d.lang in NORWEGIAN]
    web = []
    for doc in web_splits(config.web)["test"]:
        if doc.lang in NORWEGIAN:
            doc.text = page_text(doc)
            web.append(doc)
    ntrex: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for doc in reference:
        if doc.source == "ntrex":
            ntrex[doc.id.rsplit("/", 1)[-1]][doc.lang] = [
                line.strip() for line in doc.text.split("\n") if line.strip()
            ]
    return HeldOut(prose, web, dict(ntrex))


def slug(genre: str) -> str:
    """'news (translated from English)' -> 'news_translated'; 'spoken dialect ...' -> 'spoken'."""
    words = re.findall(r"[a-z]+", genre.lower())
    if "translated" in words:
        return f"{words[0]}_translated"
    return words[0] if words else "other"


def perplexity_domains(held: HeldOut, config: TasksConfig) -> dict[str, list[Document]]:
    """domain -> its documents (at most perplexity_docs, a seeded sample)."""
    domains: dict[str, list[Document]] = defaultdict(list)
    for doc in held.prose:
        domains["ref:" + slug(str(doc.metadata.get("genre", "other")))].append(doc)
    for doc in held.web:
        domains[f"web:{doc.lang}"].append(doc)
        if hplt_verdict(doc) == "fine":
            domains["web:fine"].append(doc)
    rng = random.Random(config.seed)
    picked = {}
    for name in sorted(domains):
        docs = sorted(domains[name], key=lambda d: d.id)
        rng.shuffle(docs)
        picked[name] = docs[: config.perplexity_docs]
    return picked


def usable(sentence: str, config: TasksConfig) -> bool:
    return config.min_words <= len(sentence.split()) <= config.max_words


def prose_sentences(held: HeldOut, config: TasksConfig) -> list[tuple[str, list[str]]]:
    """(document id, its sentences) for punctuated nb/nn prose: reference prose and web pages a
    person called fine (LIA's transcripts have no sentence ends)."""
    docs = [d for d in held.prose if is_prose(d)]
    docs += [d for d in held.web if hplt_verdict(d) == "fine"]
    return [(d.id, sentences(d.text)) for d in sorted(docs, key=lambda d: d.id)]


Pair = dict[str, str]


def word_order_pairs(held: HeldOut, config: TasksConfig, rng: random.Random) -> list[Pair]:
    found = []
    for doc_id, sents in prose_sentences(held, config):
        for i, sent in enumerate(sents):
            shuffled = word_shuffle(sent, rng)
            if usable(sent, config) and shuffled != sent:
                found.append({"id": f"{doc_id}#{i}", "prefix": "", "good": sent, "bad": shuffled})
    return found


def continuation_pairs(held: HeldOut, config: TasksConfig, rng: random.Random) -> list[Pair]:
    docs = [
        (doc_id, kept)
        for doc_id, sents in prose_sentences(held, config)
        if len(kept := [s for s in sents if usable(s, config)]) >= 2
    ]
    found = []
    for n, (doc_id, sents) in enumerate(docs):
        others = [s for m, (_, o) in enumerate(docs) if m != n for s in o]
        if not others:  # one usable document: no foreign continuation to offer
            break
        for i in range(len(sents) - 1):
            true_next = sents[i + 1]
            candidates = rng.sample(others, min(20, len(others)))
            foreign = min(candidates, key=lambda s: abs(len(s) - len(true_next)))
            found.append(
                {"id": f"{doc_id}#{i}", "prefix": sents[i], "good": true_next, "bad": foreign}
            )
    return found


def ntrex_pairs(held: HeldOut, wrong: Callable[[str, int], str]) -> list[Pair]:
    """After line i of an article in nb (nn), line i+1 in the same language vs the same line in
    `wrong(lang, i)`; articles whose versions do not align line by line are left out."""
    found = []
    for article in sorted(held.ntrex):
        versions = held.ntrex[article]
        lengths = {len(lines) for lines in versions.values()}
        if len(lengths) != 1 or not set(NORWEGIAN) <= set(versions):
            continue
        for lang in NORWEGIAN:
            lines = versions[lang]
            for i in range(len(lines) - 1):
                other = wrong(lang, i)
                if other in versions:
                    found.append(
                        {
                            "id": f"ntrex/{article}/{lang}#{i}",
                            "prefix": lines[i],
                            "good": lines[i + 1],
                            "bad": versions[other][i + 1],
                        }
                    )
    return found


def nb_nn_form_pairs(held: HeldOut, config: TasksConfig, rng: random.Random) -> list[Pair]:
    return ntrex_pairs(held, lambda lang, i: "nn" if lang == "nb" else "nb")


def language_pairs(held: HeldOut, config: TasksConfig, rng: random.Random) -> list[Pair]:
    return ntrex_pairs(held, lambda lang, i: ("sv", "da")[i % 2])


def ocr_pairs(held: HeldOut, config: TasksConfig, rng: random.Random) -> list[Pair]:
    found = []
    for doc_id, sents in prose_sentences(held, config):
        for i, sent in enumerate(sents):
            damaged = char_noise(sent, rng, rate=0.15).replace("-\n", "- ")
            if usable(sent, config) and damaged != sent:
                found.append({"id": f"{doc_id}#{i}", "prefix": "", "good": sent, "bad": damaged})
    return found


PAIR_BUILDERS: dict[str, Callable[[HeldOut, TasksConfig, random.Random], list[Pair]]] = {
    "word_order": word_order_pairs,
    "continuation": continuation_pairs,
    "nb_nn_form": nb_nn_form_pairs,
    "language": language_pairs,
    "ocr": ocr_pairs,
}


def build_pairs(held: HeldOut, config: TasksConfig) -> dict[str, list[Pair]]:
    """task -> at most `pairs` items, a seeded sample of what the held-out text gives."""
    built = {}
    for name in config.pair_tasks:
        rng = random.Random(f"{config.seed}/{name}")
        items = PAIR_BUILDERS[name](held, config, rng)
        rng.shuffle(items)
        built[name] = items[: config.pairs]
    return built


@dataclass
class TaskSet:
    """What every checkpoint is scored on, as written to <ablation>/tasks/."""

    perplexity: dict[str, list[str]]  # domain -> texts
    pairs: dict[str, list[Pair]]  # task -> items
    config: TasksConfig

    def names(self) -> list[str]:
        return (
            [f"ppl/{d}" for d in self.perplexity]
            + [f"pairs/{t}" for t in self.pairs]
            + [f"lm_eval/{t}" for t in self.config.lm_eval]
        )


def build_tasks(config: TasksConfig) -> TaskSet:
    held = load_held_out(config)
    domains = perplexity_domains(held, config)
    perplexity = {name: [d.text for d in docs] for name, docs in domains.items()}
    return TaskSet(perplexity, build_pairs(held, config), config)


def task_set(folder: Path, config: TasksConfig) -> TaskSet:
    """The task files under `folder`, built on first use; rebuilt when the task settings change
    (a finished run's scores are only comparable with runs scored on the same items)."""
    path = folder / "tasks.json"
    identity = {"version": TASK_FILES_VERSION, "config": asdict(config)}
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved["identity"] == json.loads(json.dumps(identity)):
            return TaskSet(saved["perplexity"], saved["pairs"], config)
    tasks = build_tasks(config)
    folder.mkdir(parents=True, exist_ok=True)
    body = {"identity": identity, "perplexity": tasks.perplexity, "pairs": tasks.pairs}
    write_atomic(path, json.dumps(body, ensure_ascii=False))
    return tasks
