"""Deduplication as datatrove's own multi-stage dedup, one spec step each.

A dedup step cuts the pipeline: its signature stage reads the corpus through every step before
it, the middle stages find duplicates across all tasks, and the final stage drops them. The
steps before a dedup therefore run once per dedup plus once in the final stage; they are
deterministic, so document indices match between stages. Put cheap steps (language, heuristics)
before dedup and the classifier scorer after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.pipeline import SpecError
from curate.pipeline.heuristics import ISO3

Stage = tuple[list, dict[str, int]]


def document_text(doc) -> str:  # return annotation is read by datatrove to pick the hash input
    return doc.text


class Dedup:
    """One dedup step: `signature()` ends a stage, `middle()` are the stages between,
    `filter()` drops the duplicates (optionally into an exclusion writer)."""

    allowed: set[str] = set()

    def __init__(self, name: str, index: int, params: dict[str, Any], work: Path):
        unknown = set(params) - self.allowed
        if unknown:
            raise SpecError(
                f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
                f"allowed: {sorted(self.allowed)}"
            )
        self.params, self.work = dict(params), work


class MinhashDedup(Dedup):
    """datatrove's MinHash: signatures, buckets (one task per bucket), clusters, filter."""

    allowed = {"language", "n_grams", "num_buckets", "hashes_per_bucket", "seed"}

    def config(self):
        from datatrove.pipeline.dedup.minhash import MinhashConfig

        return MinhashConfig(**{k: v for k, v in self.params.items() if k != "language"})

    def signature(self):
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        language = self.params.get("language", "nb")
        return MinhashDedupSignature(
            output_folder=str(self.work / "signatures"),
            config=self.config(),
            language=ISO3.get(language, language),
        )

    def middle(self) -> list[Stage]:
        from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster

        config = self.config()
        buckets = MinhashDedupBuckets(
            input_folder=str(self.work / "signatures"),
            output_folder=str(self.work / "buckets"),
            config=config,
        )
        clusters = MinhashDedupCluster(
            input_folder=str(self.work / "buckets"),
            output_folder=str(self.work / "remove_ids"),
            config=config,
        )
        return [([buckets], {"tasks": config.num_buckets}), ([clusters], {"tasks": 1})]

    def filter(self, exclusion_writer: DiskWriter | None):
        from datatrove.pipeline.dedup.minhash import MinhashDedupFilter

        return MinhashDedupFilter(
            input_folder=str(self.work / "remove_ids"), exclusion_writer=exclusion_writer
        )


class ExactDedup(Dedup):
    """datatrove's exact dedup on the full text (a 64-bit xxhash): signatures, one finder
    task, filter. Of identical texts the first by (task, position) is kept."""

    allowed: set[str] = set()

    @staticmethod
    def config():
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig

        return ExactDedupConfig(content_getter=document_text)

    def signature(self):
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupSignature

        return ExactDedupSignature(
            output_folder=str(self.work / "signatures"), config=self.config()
        )

    def middle(self) -> list[Stage]:
        from datatrove.pipeline.dedup.exact_dedup import ExactFindDedups

        finder = ExactFindDedups(
            data_folder=str(self.work / "signatures"),
            output_folder=str(self.work / "duplicates"),
            config=self.config(),
        )
        return [([finder], {"tasks": 1})]

    def filter(self, exclusion_writer: DiskWriter | None):
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupFilter

        return ExactDedupFilter(
            data_folder=str(self.work / "duplicates"),
            config=self.config(),
            exclusion_writer=exclusion_writer,
        )


DEDUPS = {"minhash_dedup": MinhashDedup, "exact_dedup": ExactDedup}
