"""Deduplication as datatrove's multi-stage dedup, one spec step each, keeping the best copy.

A dedup step cuts the pipeline. The documents that reach it are written once (by the stage that
runs the steps before it); its signature stage reads them back, the middle stages find the
duplicate clusters and pick the copy each keeps (curate.pipeline.clusters: `keep: first |
best_score | longest | source_priority`), and the next stage reads them once more, drops the
other copies and runs the steps after it. No step runs twice."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.classify.scoring import EMBEDDING
from curate.pipeline import SpecError
from curate.pipeline.clusters import (
    DropMetadata,
    ExactClusters,
    KeepPolicy,
    MinhashClusters,
    RecordCluster,
    RecordMembers,
    RecordVectors,
    SemanticClusters,
)
from curate.pipeline.heuristics import ISO3
from curate.pipeline.words import words_for

Stage = tuple[list, dict[str, int]]


def document_text(doc) -> str:  # return annotation is read by datatrove to pick the hash input
    return doc.text


class Dedup:
    """One dedup step (curate.pipeline.build cuts the stages at every step of this class). A
    spec's parameters are its constructor's keyword arguments (each subclass
    adds its own to `keep` and `sources`, the keep policy's), checked like every step's
    (curate.pipeline.build); `bind` gives it its place in the run. Then `signature()` ends a
    stage, `middle()` are the stages between, `filter()` drops the duplicates (optionally into an
    exclusion writer)."""

    needs_embeddings = False  # a quality_scorer with `embeddings: true` must come before it

    def __init__(self, keep: str = "first", sources: Iterable[str] = ()):
        self.keep, self.sources = keep, list(sources or ())
        self.name, self.index, self.work = "", 0, Path()
        self.policy: KeepPolicy | None = None

    def bind(self, name: str, index: int, work: Path, scored_tasks: Iterable[str] = ()) -> Dedup:
        """The step's name and index in the spec, its work folder, and the tasks a
        quality_scorer before it scores (for `keep: best_score`)."""
        self.name, self.index, self.work = name, index, work
        try:
            self.policy = KeepPolicy(self.keep, scored_tasks, self.sources)
        except ValueError as err:
            raise SpecError(f"step {index} ({name}): {err}") from err
        return self

    def members(self) -> RecordMembers:
        return RecordMembers(output_folder=str(self.work / "members"), policy=self.policy)

    def filter(self, exclusion_writer: DiskWriter | None) -> list:
        from datatrove.pipeline.dedup.minhash import MinhashDedupFilter

        return [
            MinhashDedupFilter(
                input_folder=str(self.work / "clusters"),
                exclusion_writer=exclusion_writer,
                load_cluster_ids=True,
                load_cluster_sizes=True,
            ),
            RecordCluster(step=f"{self.index:02d}_{self.name}"),
        ]


def given(**params: Any) -> dict[str, Any]:
    """The parameters a spec set (None: the library's own default)."""
    return {k: v for k, v in params.items() if v is not None}


class MinhashDedup(Dedup):
    """datatrove's MinHash: signatures, buckets (one task per bucket), clusters, filter. Its
    parameters left out take datatrove's MinhashConfig defaults (5-grams, 14 buckets x 8
    hashes); `language` picks the word tokenizer."""

    def __init__(
        self,
        language: str = "nb",
        n_grams: int | None = None,
        num_buckets: int | None = None,
        hashes_per_bucket: int | None = None,
        seed: int | None = None,
        keep: str = "first",
        sources: Iterable[str] = (),
    ):
        super().__init__(keep, sources)
        self.language = language
        self.settings = given(
            n_grams=n_grams, num_buckets=num_buckets, hashes_per_bucket=hashes_per_bucket, seed=seed
        )

    def config(self):
        from datatrove.pipeline.dedup.minhash import MinhashConfig

        return MinhashConfig(**self.settings)

    def signature(self) -> list:
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        language = self.language  # the spec's code, or the tokenizer build.py made of it
        if isinstance(language, str):
            language = words_for(ISO3.get(language, language))
        return [
            self.members(),
            MinhashDedupSignature(
                output_folder=str(self.work / "signatures"),
                config=self.config(),
                language=language,
            ),
        ]

    def middle(self) -> list[Stage]:
        from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

        config = self.config()
        buckets = MinhashDedupBuckets(
            input_folder=str(self.work / "signatures"),
            output_folder=str(self.work / "buckets"),
            config=config,
        )
        clusters = MinhashClusters(
            input_folder=str(self.work / "buckets"),
            members_folder=str(self.work / "members"),
            output_folder=str(self.work / "clusters"),
        )
        return [([buckets], {"tasks": config.num_buckets}), ([clusters], {"tasks": 1})]


class ExactDedup(Dedup):
    """Exact dedup on the full text: datatrove's signatures (a 64-bit xxhash per document),
    then one task groups equal hashes and keeps each group's best copy."""

    def signature(self) -> list:
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupSignature

        config = ExactDedupConfig(content_getter=document_text)
        return [
            self.members(),
            ExactDedupSignature(output_folder=str(self.work / "signatures"), config=config),
        ]

    def middle(self) -> list[Stage]:
        clusters = ExactClusters(
            input_folder=str(self.work / "signatures"),
            members_folder=str(self.work / "members"),
            output_folder=str(self.work / "clusters"),
        )
        return [([clusters], {"tasks": 1})]


class SemanticDedup(Dedup):
    """Near duplicates MinHash misses (reworded copies, templated pages with other names): the
    text vectors the classifier bundle's encoder gave in the quality_scorer's pass (its
    `embeddings: true`), clustered by k-means, pairs at or above cosine `threshold` joined
    (curate.pipeline.clusters.SemanticClusters), the `keep` policy's copy kept."""

    needs_embeddings = True

    def __init__(
        self,
        threshold: float | None = None,
        cluster_size: int | None = None,
        seed: int | None = None,
        keep: str = "first",
        sources: Iterable[str] = (),
    ):
        """Left out: SemanticClusters' defaults (cosine 0.958, k-means clusters of 5,000)."""
        super().__init__(keep, sources)
        self.settings = given(threshold=threshold, cluster_size=cluster_size, seed=seed)

    def signature(self) -> list:
        return [self.members(), RecordVectors(output_folder=str(self.work / "signatures"))]

    def middle(self) -> list[Stage]:
        clusters = SemanticClusters(
            input_folder=str(self.work / "signatures"),
            members_folder=str(self.work / "members"),
            output_folder=str(self.work / "clusters"),
            **self.settings,
        )
        return [([clusters], {"tasks": 1})]

    def filter(self, exclusion_writer: DiskWriter | None) -> list:
        return [DropMetadata([EMBEDDING]), *super().filter(exclusion_writer)]
