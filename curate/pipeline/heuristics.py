"""datatrove's Gopher quality filter made usable for Nordic text: stop-word lists per language
(written here) and the ISO 639-3 codes datatrove's word tokenizers expect. With its English
defaults, Gopher's stop-word rule drops every Norwegian document."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.errors import InputError
from curate.pipeline.steps import SetAsideErrors, document_language
from curate.pipeline.words import words_for

ISO3 = {"nb": "nob", "nn": "nno", "sv": "swe", "da": "dan", "fi": "fin", "en": "eng"}

STOP_WORDS = {
    "nb": "og i det som en på er til av at for med ikke den de har et jeg han hun vi dere seg "
    "men om så fra var kan skal vil ble blir også når hvor hva hvordan eller etter over "
    "under mot ved der her dette disse sin sitt sine mange noen alle".split(),
    "nn": "og i det som ein eit på er til av at for med ikkje den dei har eg han ho vi de seg "
    "men om så frå var kan skal vil vart blir òg når kvar kva korleis eller etter over "
    "under mot ved der her dette desse sin sitt sine mange nokre alle".split(),
    "sv": "och i det som en ett på är till av att för med inte den de har jag han hon vi ni sig "
    "men om så från var kan ska vill blev också när var vad hur eller efter över under".split(),
    "da": "og i det som en et på er til af at for med ikke den de har jeg han hun vi I sig men "
    "om så fra var kan skal vil blev også når hvor hvad hvordan eller efter over under".split(),
    "fi": "ja on ei se että hän oli ovat mutta kun niin kuin myös tai jos sen joka mitä tämä "
    "nämä ne me te minä sinä hänen heidän ole olla voi vain jo nyt".split(),
    "en": "the be to of and a in that have it for not on with he as you do at this but his by "
    "from they we say her she or an will my one all would there their what so".split(),
}


class PerLanguage:
    """A step that takes `by_language: {lang: {params}}` in a spec: one filter per language
    (curate.pipeline.build.build_by_language)."""

    per_language = True


class NordicGopherQuality(PerLanguage, SetAsideErrors, GopherQualityFilter):
    """Gopher's rules with stop words for `languages` (union) and the word tokenizer of the
    first language (Bokmål and Nynorsk share spaCy's blank `nb` tokenizer)."""

    name = "🥇 gopher (nordic)"

    def __init__(
        self,
        languages: list[str] = ("nb", "nn"),
        min_doc_words: int = 50,
        max_doc_words: int = 100000,
        min_avg_word_length: int = 3,
        max_avg_word_length: int = 10,
        max_symbol_word_ratio: float = 0.1,
        max_bullet_lines_ratio: float = 0.9,
        max_ellipsis_lines_ratio: float = 0.3,
        max_non_alpha_words_ratio: float = 0.8,
        min_stop_words: int = 2,
        exclusion_writer: DiskWriter | None = None,
    ):
        unknown = [lang for lang in languages if lang not in STOP_WORDS]
        if unknown:
            raise InputError(f"no stop words for {unknown}; available: {sorted(STOP_WORDS)}")
        stop_words = sorted({w for lang in languages for w in STOP_WORDS[lang]})
        super().__init__(
            min_doc_words=min_doc_words,
            max_doc_words=max_doc_words,
            min_avg_word_length=min_avg_word_length,
            max_avg_word_length=max_avg_word_length,
            max_symbol_word_ratio=max_symbol_word_ratio,
            max_bullet_lines_ratio=max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=max_non_alpha_words_ratio,
            min_stop_words=min_stop_words,
            stop_words=stop_words,
            exclusion_writer=exclusion_writer,
            language=words_for(ISO3[languages[0]]),
        )


class ByLanguage(SetAsideErrors, BaseFilter):
    """One filter per language: the document's identified language (the language step's, else
    its declared one) picks the filter, `None` the one for every other language."""

    def __init__(self, filters: dict[str | None, BaseFilter], exclusion_writer=None):
        self.name = f"{filters[None].name} (by language)"  # before datatrove names its stats
        super().__init__(exclusion_writer=exclusion_writer)
        self.filters = filters

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filters.get(document_language(doc), self.filters[None]).filter(doc)


# datatrove's filters as the spec's steps, setting aside a document they cannot judge
class GopherRepetition(PerLanguage, SetAsideErrors, GopherRepetitionFilter):
    pass


class C4Quality(PerLanguage, SetAsideErrors, C4QualityFilter):
    pass


class FineWebQuality(PerLanguage, SetAsideErrors, FineWebQualityFilter):
    pass
