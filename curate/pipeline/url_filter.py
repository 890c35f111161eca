"""The `url_filter` step: datatrove's URLFilter (its blocklists of adult, gambling and malware
domains and URLs, its banned and soft-banned URL words) with a Nordic word list of gambling,
escort and adult terms (curate/resources/url_filter/nordic_words.txt), the user's own block and
allow lists, and documents without a URL kept and counted, never an error.

The URL is `metadata["url"]`: HPLT (v1.2, v2, v3) and CulturaX rows carry one, the Norwegian
Colossal Corpus (books, newspapers, public documents) does not."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.url_filter import URLFilter, normalize
from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.errors import InputError
from curate.package_files import package_file
from curate.pipeline.steps import SetAsideErrors

URL_KEY = "url"
# datatrove's list attributes, as given before download_data adds its own lists to them
LISTS = (
    "block_listed_domains",
    "block_listed_url",
    "banned_words",
    "banned_subwords",
    "soft_banned_words",
)
NORDIC_WORDS = package_file("url_filter", "nordic_words.txt")


def read_list(path: str | Path, what: str) -> list[str]:
    """One entry per line; blank lines and lines starting with # are left out."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InputError(f"url_filter {what}: cannot read {path}: {err}") from err
    return [line.strip().lower() for line in lines if line.strip() and not line.startswith("#")]


class NordicURLFilter(SetAsideErrors, URLFilter):
    """Drops a document whose URL's domain, subdomain or full URL is blocklisted, whose URL holds
    a banned word (datatrove's lists and `block_words`), or whose host name holds a word of the
    Nordic list (`nordic_words`: spam sites carry "casino" or "escort" in their names, while a
    news article about casinos carries it in its path), with the rule as `filter_reason`.
    `block_file`: more domains (one per line); `allow_file`: domains never dropped (checked
    first). Documents without a URL pass and are counted (`no_url`); a URL that cannot be parsed
    sets its document aside (SetAsideErrors).

    The public-suffix list is tldextract's bundled copy: a filtering worker needs no network."""

    name = "🔗 url filter"
    path_params = ("block_file", "allow_file", "nordic_words")

    def __init__(
        self,
        exclusion_writer: DiskWriter | None = None,
        block_file: str | None = None,
        allow_file: str | None = None,
        nordic_words: str | None = None,
        block_words: list[str] | None = None,
        use_integrated_lists: bool = True,
        soft_word_threshold: int = 2,
    ):
        from tldextract import TLDExtract

        self.block_file, self.allow_file = block_file, allow_file
        self.nordic_words = nordic_words or str(NORDIC_WORDS)
        blocked = read_list(block_file, "block_file") if block_file else []
        super().__init__(
            soft_word_threshold=soft_word_threshold,
            extra_domains=blocked,
            banned_words=block_words,
            use_integrated_lists=use_integrated_lists,
            exclusion_writer=exclusion_writer,
        )
        self.allowed = set(read_list(allow_file, "allow_file")) if allow_file else set()
        self.given = {key: set(getattr(self, key)) for key in LISTS}
        self.host_words = [normalize(w) for w in read_list(self.nordic_words, "nordic_words")]
        self.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled snapshot, offline

    def run(self, data, rank: int = 0, world_size: int = 1):
        """datatrove's run, then the 4.5 M loaded domains let go: a later stage's executor.json
        serialises every earlier stage's steps as they stand (138 MB a stage, 3 s each)."""
        try:
            yield from super().run(data, rank, world_size)
        finally:
            for key, given in self.given.items():
                setattr(self, key, set(given))
            self._downloaded = False

    def download_data(self):
        """datatrove's lists, less the words of the Nordic list: "porno" is the ordinary
        Norwegian, Swedish and Danish word a news or public-health page uses in its path, so it
        counts in host names only."""
        fresh = not self._downloaded
        super().download_data()
        if fresh:
            self.banned_words -= set(self.host_words)

    def filter(self, document: Document) -> bool | tuple[bool, str]:
        url = document.metadata.get(URL_KEY)
        if not url:
            self.stat_update("no_url")
            return True
        parts = self.tldextractor(url)
        host = parts.fqdn or parts.domain  # an IP address has no public suffix
        domain = getattr(parts, "top_domain_under_public_suffix", None) or parts.registered_domain
        if domain in self.allowed or host in self.allowed:
            self.stat_update("allowed")
            return True
        self.download_data()
        if host in self.block_listed_domains:  # datatrove's check misses listed IP addresses
            return False, "domain"
        word = next((w for w in self.host_words if w in normalize(host)), None)
        if word:
            return False, f"nordic_word: {word}"
        return super().filter(document)
