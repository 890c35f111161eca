"""datatrove pipeline steps. They follow datatrove's conventions: counters through
`stat_update`, timing through `track_time`, and nothing unpicklable built in `__init__` (models
and sessions load lazily in each worker)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from datatrove.data import Document as DTDocument
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters import FTFYFormatter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.logging import logger
from datatrove.utils.typeshelper import StatHints

from curate.classify.bundle import read_manifest
from curate.classify.calibrate import ALL, CHOOSE_BY, choose_on_curve, curve_for
from curate.classify.torch_encoder import TORCH_FILES
from curate.documents import DEFAULT_MAX_CHARS, ReadReport, read_file_documents
from curate.errors import InputError
from curate.pipeline.layout import SCORE_DROP, STEP_ERROR


class CurateReader(BaseDiskReader):
    """Reads jsonl(.gz/.zst), parquet and txt in any source schema (NCC, HPLT, CulturaX, curate)
    through curate's adapters. Bad rows are counted per reason in the step's stats and logged
    with file and line; they never stop the task. Local files only (the adapters open paths)."""

    name = "📖 curate reader"

    def __init__(
        self,
        data_folder,
        source: str = "auto",
        max_chars: int = DEFAULT_MAX_CHARS,
        glob_pattern: str | None = None,
        limit: int = -1,
    ):
        super().__init__(
            data_folder=data_folder,
            limit=limit,
            glob_pattern=glob_pattern,
            recursive=True,
            add_file_path=False,
        )
        self.source = source
        self.max_chars = max_chars

    def read_file(self, filepath: str) -> Iterator[DTDocument]:
        path = Path(self.data_folder.resolve_paths(filepath))
        report = ReadReport()
        for line, doc in read_file_documents(path, self.source, report, max_chars=self.max_chars):
            metadata = {
                **doc.metadata,
                "lang": doc.lang,
                "source": doc.source,
                "file": str(filepath),
                "line": line,
            }
            yield DTDocument(text=doc.text, id=doc.id, metadata=metadata)
        for reason, count in report.bad_reasons.items():
            self.stat_update(f"bad_rows: {reason}", value=count)
        if report.bad_count:
            self.stat_update("bad_rows", value=report.bad_count)
            for bad in report.bad_examples:  # into the task's log, with file and line
                logger.warning(f"bad input set aside: {bad}")


class SetAsideErrors:
    """For a datatrove filter: a document the filter cannot judge (it raises) is dropped with the
    reason `error: <exception type>` into the step's exclusion folder, with the message in
    `metadata["step_error"]` and the task log, and the task goes on."""

    def filter_batch(self, batch: list[DTDocument]) -> list[bool | tuple[bool, str]]:
        return [self.judge(doc) for doc in batch]

    def judge(self, doc: DTDocument) -> bool | tuple[bool, str]:
        try:
            return self.filter(doc)
        except Exception as err:  # one document must not end a task of millions
            message = f"{type(err).__name__}: {err}"[:500]
            logger.warning(f"{self.name}: document {doc.id} set aside: {message}")
            doc.metadata[STEP_ERROR] = message
            return False, f"error: {type(err).__name__}"


class QualityScorer(PipelineStep):
    """Adds metadata[<task>] and metadata[<task>_int] from one or more classifier bundles,
    scoring `batch_size` documents at a time (length-sorted inside the classifier). With
    `embeddings`, also each text's vector from the first bundle's encoder (its embedding
    layer: no second encoder pass; metadata["embedding"]) for a semantic_dedup step after it.

    The cascade (`cascade: true`, the default; curate.classify.cascade): where a score_filter
    after this step judges a task and the bundle carries a fitted cascade, the side models score
    every document and the encoder only those whose cheap score falls in the band around their
    language's threshold. metadata[<task>_judge] says which path judged a document ("cheap" or
    "encoder"); the stats count both, per language. Tasks no later step judges, and every task
    with `cascade: false`, get the encoder for every document."""

    name = "🎯 quality scorer"
    type = "🔢 - SCORER"
    path_params = ("bundles",)  # curate.pipeline.spec: covered by --root and the run identity

    def __init__(
        self,
        bundles: list[str],
        batch_size: int = 256,
        variant: str = "int8",
        threads: int | None = None,
        device: str = "cpu",
        embeddings: bool = False,
        cascade: bool = True,
    ):
        super().__init__()
        self.bundles = [str(b) for b in bundles]
        self.device, self.embeddings, self.cascade = device, embeddings, cascade
        for bundle in self.bundles:  # fail before any task starts, not in every worker
            read_manifest(bundle)
        if embeddings and not all((Path(self.bundles[0]) / f).exists() for f in TORCH_FILES):
            raise InputError(
                f"quality_scorer embeddings: {self.bundles[0]} has no torch copy of its encoder "
                "(the text vectors come from its embedding layer); export it again"
            )
        self.batch_size, self.variant, self.threads = batch_size, variant, threads
        self.decisions: dict[str, list[dict[str | None, float]]] = {}
        self._classifiers = None

    def decided_by(self, thresholds: dict[str, dict[str | None, float]]) -> None:
        """A later step keeps a document when its task score reaches these thresholds
        ({task: {language: threshold}}): the cascade's bands sit around them."""
        for task, by_language in thresholds.items():
            self.decisions.setdefault(task, []).append(dict(by_language))

    @property
    def classifiers(self):
        if self._classifiers is None:
            from curate.classify import QualityClassifier

            self._classifiers = [
                QualityClassifier.load(
                    b, variant=self.variant, intra_op_num_threads=self.threads, device=self.device
                )
                for b in self.bundles
            ]
        return self._classifiers

    def __getstate__(self):
        return {**self.__dict__, "_classifiers": None}

    def windows(self, clf, langs: list[str | None]) -> dict:
        """{task: each document's bands} for the bundle's tasks the cascade judges (one
        cascade.Band per threshold a later step applies to the document's language)."""
        out = {}
        for task in clf.tasks:
            cascade = clf.cascade(task)
            if cascade is None or task not in self.decisions:
                continue
            bands = {
                lang: [
                    cascade.band(lang, t)
                    for by_language in self.decisions[task]
                    if (t := by_language.get(lang, by_language.get(None))) is not None
                ]
                for lang in set(langs)
            }
            out[task] = [bands[lang] for lang in langs]
        return out

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        from curate.classify.scoring import add_scores

        data = iter(data or [])
        while batch := list(islice(data, self.batch_size)):
            langs = [document_language(doc) for doc in batch]
            with self.track_time(unit="batch"):
                add_scores(
                    batch,
                    self.classifiers,
                    embeddings=self.embeddings,
                    windows=(lambda c: self.windows(c, langs)) if self.cascade else None,  # noqa: B023
                )
            for doc, lang in zip(batch, langs, strict=True):
                self.stat_update("scored")
                for task in (t for clf in self.classifiers for t in clf.tasks):
                    if judge := doc.metadata.get(f"{task}_judge"):
                        self.stat_update(f"{task} {judge}", f"{task} {judge}: {lang}")
                yield doc


def document_language(doc: DTDocument) -> str | None:
    """The identified language (the language step's) before the declared one."""
    return doc.metadata.get("lang_id") or doc.metadata.get("lang")


class ScoreFilter(SetAsideErrors, BaseFilter):
    """Keeps a document when every task's score reaches its threshold for the document's
    language. Scores and thresholds are on the task's label scale (bundles from before the
    label-scale map: raw scores). A threshold is, by precedence:

    - `thresholds`: given per task, a number (every language) or a mapping language -> number;
    - one of `threshold`, `keep_share`, `min_precision`, `min_recall` (CHOOSE_BY), chosen for
      each language on the bundle's trade-off curves of calibration `domain` ("web", "edited",
      "all"; curate.classify.calibrate): e.g. `keep_share: 0.1` keeps the share of that domain's
      validation documents, `min_recall: 0.95` keeps 95% of its documents labelled at least the
      positive label, `threshold: 3` is the label scale's 3 for every language;
    - else the bundle's own thresholds (calibrated at training, per language where it has them).

    `tasks` picks some tasks of a bundle that holds several. Each judged document records
    `metadata[<task>_threshold]`; dropped ones go to the exclusion writer with `filter_reason`
    naming the task and threshold (a label for datatrove's stats) and `metadata["score_drop"]`
    holding task, score and threshold. `choices` records how each threshold was chosen and
    what it keeps on validation, for the run's report."""

    name = "🎚 score filter"
    path_params = ("bundles",)

    def __init__(
        self,
        bundles: list[str] | None = None,
        thresholds: dict[str, float | dict[str, float]] | None = None,
        exclusion_writer: DiskWriter | None = None,
        tasks: list[str] | None = None,
        domain: str | None = None,
        threshold: float | None = None,
        keep_share: float | None = None,
        min_precision: float | None = None,
        min_recall: float | None = None,
    ):
        super().__init__(exclusion_writer=exclusion_writer)
        self.bundles = [str(b) for b in bundles or []]
        self.thresholds, self.choices = {}, {}
        specs = {t.task: t for b in self.bundles for t in read_manifest(b).tasks}
        if tasks is not None:  # some of the tasks of a bundle that holds several
            unknown = sorted(set(tasks) - set(specs))
            if unknown:
                raise InputError(f"score_filter tasks {unknown} are in none of {bundles}")
            specs = {t: specs[t] for t in tasks}
        by = chosen_by(threshold, keep_share, min_precision, min_recall)
        for task, spec in specs.items():
            if by is None:
                self.thresholds[task] = spec.language_thresholds()
            else:
                self.thresholds[task], self.choices[task] = thresholds_on_curves(spec, domain, *by)
        for task, given in (thresholds or {}).items():
            self.thresholds[task] = dict(given) if isinstance(given, dict) else {None: given}
            self.choices.pop(task, None)
        if not self.thresholds:
            raise InputError("ScoreFilter needs bundles or thresholds")

    def threshold(self, task: str, lang: str | None) -> float | None:
        by_language = self.thresholds[task]
        return by_language.get(lang, by_language.get(None))

    def filter(self, doc: DTDocument) -> bool | tuple[bool, str]:
        lang = document_language(doc)
        for task in self.thresholds:
            threshold = self.threshold(task, lang)
            if threshold is None:
                return False, f"{task}: no threshold for language {lang}"
            doc.metadata[f"{task}_threshold"] = threshold
            score = doc.metadata.get(task)
            if score is None:
                return False, f"{task} missing (run QualityScorer first)"
            if score < threshold:
                doc.metadata[SCORE_DROP] = {"task": task, "score": score, "threshold": threshold}
                return False, f"{task} < {threshold:.2f}"  # stable: datatrove counts reasons
        return True


def chosen_by(*values: float | None) -> tuple[str, float] | None:
    """(way, value) for the one of CHOOSE_BY given, None for none."""
    given = [(by, v) for by, v in zip(CHOOSE_BY, values, strict=True) if v is not None]
    if len(given) > 1:
        raise InputError(f"score_filter: give one of {', '.join(CHOOSE_BY)}, not {dict(given)}")
    return given[0] if given else None


def thresholds_on_curves(spec, domain: str | None, by: str, value: float):
    """A task's threshold per language chosen on its curves, and the record of each choice."""
    if by == "threshold" and domain is None:
        return {None: float(value)}, {}
    if not spec.curves:
        raise InputError(
            f"{spec.task}: the bundle has no trade-off curves (exported before curate computed "
            f"them); give `threshold` or `thresholds`, or export the classifier again"
        )
    if domain is None:
        raise InputError(f"score_filter {by}: name a calibration `domain` ({sorted(spec.curves)})")
    languages = [lang for lang in spec.curves.get(domain, {}) if lang != ALL]
    out, record = {}, {}
    for lang in [None, *languages]:
        curve, used = curve_for(spec.curves, domain, lang, by)
        t, point, how = choose_on_curve(curve, by, value)
        out[lang] = t
        record[lang or ALL] = {
            "threshold": t,
            **point,
            "chosen_by": f"{how} on {domain} validation ({used})",
        }
    return out, {"domain": domain, "by": by, "value": value, "languages": record}


class FixEncoding(FTFYFormatter):
    """datatrove's ftfy formatter (mojibake, HTML entities in plain text, control characters),
    counting the documents it changed (`repaired`) and marking them
    `metadata["encoding_repaired"]`. Run it before language ID: "sÃ¥" is not Norwegian to a
    language identifier, "så" is."""

    name = "🩹 fix encoding"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                fixed = self.format(doc.text)
            if fixed != doc.text:
                doc.text = fixed
                doc.metadata["encoding_repaired"] = True
                self.stat_update("repaired")
            yield doc
