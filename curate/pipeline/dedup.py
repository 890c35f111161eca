"""Deduplication as datatrove's multi-stage dedup, one spec step each, keeping the best copy.

A dedup step cuts the pipeline. The documents that reach it are written once (by the stage that
runs the steps before it); its signature stage reads them back, the middle stages find the
duplicate clusters and pick the copy each keeps (curate.pipeline.clusters: `keep: first |
best_score | longest | source_priority`), and the next stage reads them once more, drops the
other copies and runs the steps after it. No step runs twice."""

from __future__ import annotations

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
POLICY_KEYS = {"keep", "sources"}


def document_text(doc) -> str:  # return annotation is read by datatrove to pick the hash input
    return doc.text


class Dedup:
    """One dedup step: `signature()` ends a stage, `middle()` are the stages between,
    `filter()` drops the duplicates (optionally into an exclusion writer). `scored_tasks` are
    the tasks a quality_scorer before this step scores (for `keep: best_score`)."""

    allowed: set[str] = set()
    needs_embeddings = False  # a quality_scorer with `embeddings: true` must come before it

    def __init__(self, name: str, index: int, params: dict[str, Any], work: Path, scored_tasks=()):
        unknown = set(params) - self.allowed - POLICY_KEYS
        if unknown:
            raise SpecError(
                f"step {index} ({name}): unknown parameters {sorted(unknown)}; "
                f"allowed: {sorted(self.allowed | POLICY_KEYS)}"
            )
        self.name, self.index, self.work = name, index, work
        self.params = {k: v for k, v in params.items() if k not in POLICY_KEYS}
        try:
            self.policy = KeepPolicy(
                params.get("keep", "first"), scored_tasks, params.get("sources") or ()
            )
        except ValueError as err:
            raise SpecError(f"step {index} ({name}): {err}") from err

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


class MinhashDedup(Dedup):
    """datatrove's MinHash: signatures, buckets (one task per bucket), clusters, filter."""

    allowed = {"language", "n_grams", "num_buckets", "hashes_per_bucket", "seed"}

    def config(self):
        from datatrove.pipeline.dedup.minhash import MinhashConfig

        return MinhashConfig(**{k: v for k, v in self.params.items() if k != "language"})

    def signature(self) -> list:
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        language = self.params.get("language", "nb")
        return [
            self.members(),
            MinhashDedupSignature(
                output_folder=str(self.work / "signatures"),
                config=self.config(),
                language=words_for(ISO3.get(language, language)),
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

    allowed: set[str] = set()

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

    allowed = {"threshold", "cluster_size", "seed"}
    needs_embeddings = True

    def signature(self) -> list:
        return [self.members(), RecordVectors(output_folder=str(self.work / "signatures"))]

    def middle(self) -> list[Stage]:
        clusters = SemanticClusters(
            input_folder=str(self.work / "signatures"),
            members_folder=str(self.work / "members"),
            output_folder=str(self.work / "clusters"),
            **self.params,
        )
        return [([clusters], {"tasks": 1})]

    def filter(self, exclusion_writer: DiskWriter | None) -> list:
        return [DropMetadata([EMBEDDING]), *super().filter(exclusion_writer)]


DEDUPS = {"minhash_dedup": MinhashDedup, "exact_dedup": ExactDedup, "semantic_dedup": SemanticDedup}
