"""Which copy of a duplicate cluster survives, and how big the cluster was.

datatrove's dedup keeps the first document of a cluster (MinHash: the union-find root; exact:
the lowest index) and, for MinHash, can write each cluster's id and size. Here the kept copy is
chosen by a policy instead, and a cluster's size counts every document it stands for (a document
that already absorbed an earlier dedup's copies brings its own `cluster_size`):

  - `RecordMembers`, just before a dedup's signature step, writes per task one row per document
    in the order the signature step sees them: the policy's priority and the document's size;
  - `ExactClusters` / `MinhashClusters` (one task) group the duplicates, keep the highest
    priority of each group (ties: the first by task and position, datatrove's rule), and write
    datatrove's `.remove`, `.clusters` and `.sizes` files, which datatrove's MinhashDedupFilter
    reads for both kinds of dedup;
  - `RecordCluster`, after the filter, turns datatrove's metadata into `cluster_size` and
    `cluster_id` on every document it passes.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.binaryio import read_tuples_from_file
from datatrove.utils.typeshelper import ExtensionHelperSD, StatHints

from curate.errors import InputError, MissingInput

KEEP_POLICIES = ("first", "best_score", "longest", "source_priority")
MEMBER_DTYPE = np.dtype([("priority", "<f8"), ("size", "<u4")])
MEMBERS_SUFFIX = ".members.npy"
CLUSTER_SIZE, CLUSTER_ID, REHYDRATED_COPY = "cluster_size", "cluster_id", "rehydrated_copy"

Member = tuple[int, int]  # (task rank, document index in that task)


class KeepPolicy:
    """The priority of a document within its cluster: the highest is kept.

    first: all equal (datatrove's rule decides); longest: characters; best_score: the mean of
    the documents' scores for `tasks` (metadata written by quality_scorer; a document without
    them ranks last); source_priority: earlier in `sources` ranks higher, unknown sources last."""

    def __init__(self, keep: str = "first", tasks: Iterable[str] = (), sources: Iterable[str] = ()):
        if keep not in KEEP_POLICIES:
            raise InputError(f"keep: {keep!r}; allowed: {list(KEEP_POLICIES)}")
        self.keep, self.tasks, self.sources = keep, list(tasks), list(sources)
        if keep == "best_score" and not self.tasks:
            raise InputError("keep: best_score needs a quality_scorer step before the dedup")
        if keep == "source_priority" and not self.sources:
            raise InputError("keep: source_priority needs `sources: [first, second, ...]`")

    def __call__(self, doc: Document) -> float:
        if self.keep == "longest":
            return float(len(doc.text))
        if self.keep == "best_score":
            scores = [doc.metadata.get(t) for t in self.tasks]
            if any(s is None for s in scores):
                return float("-inf")
            return float(np.mean(scores))
        if self.keep == "source_priority":
            source = doc.metadata.get("source")
            rank = self.sources.index(source) if source in self.sources else len(self.sources)
            return float(-rank)
        return 0.0


class RecordMembers(PipelineStep):
    """Passes documents on unchanged, writing `<rank>.members.npy`: (priority, size) per
    document, in order. Put it right before a dedup's signature step."""

    type = "🫂 - DEDUP"
    name = "🏷 cluster members"

    def __init__(self, output_folder, policy: KeepPolicy):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.policy = policy

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        rows = []
        for doc in data:
            with self.track_time():
                rows.append((self.policy(doc), int(doc.metadata.get(CLUSTER_SIZE, 1))))
            yield doc
        with self.output_folder.open(f"{rank:05d}{MEMBERS_SUFFIX}", "wb") as f:
            np.save(f, np.array(rows, dtype=MEMBER_DTYPE))


class ResolveClusters(PipelineStep):
    """One task: groups of duplicates → datatrove's MinHash filter files (`.remove`,
    `.clusters`, `.sizes` per task rank), keeping each group's highest-priority member."""

    type = "🫂 - DEDUP"
    name = "🏆 keep the best copy"

    def __init__(self, input_folder, members_folder, output_folder):
        super().__init__()
        self.input_folder = get_datafolder(input_folder)
        self.members_folder = get_datafolder(members_folder)
        self.output_folder = get_datafolder(output_folder)

    def groups(self) -> Iterable[list[Member]]:
        raise NotImplementedError

    def load_members(self) -> list[np.ndarray]:
        files = self.members_folder.list_files(glob_pattern=f"*{MEMBERS_SUFFIX}")
        ranks = [int(name.split(".")[0]) for name in files]
        if ranks != list(range(len(ranks))):
            raise MissingInput(f"cluster member files missing: found ranks {ranks}")
        out = []
        for name in files:
            with self.members_folder.open(name, "rb") as f:
                out.append(np.load(f))
        return out

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1):
        assert world_size == 1, "clusters are resolved in one task"
        with self.track_time():
            members = self.load_members()
            files = {kind: defaultdict(list) for kind in ("remove", "clusters", "sizes")}
            for cluster_id, group in enumerate(self.groups()):
                self.resolve(cluster_id, sorted(group), members, files)
            self.write(files, len(members))

    def resolve(self, cluster_id: int, group: list[Member], members, files) -> None:
        rows = [members[r][d] for r, d in group]
        best = max(range(len(group)), key=lambda i: (rows[i]["priority"], -i))
        size = int(sum(int(row["size"]) for row in rows))
        for i, (r, d) in enumerate(group):
            if i != best:
                files["remove"][r].append((d,))
            files["clusters"][r].append((d, cluster_id))
            files["sizes"][r].append((d, size))
        self.stat_update("clusters")
        self.stat_update("cluster_size", value=size, unit="cluster")
        self.stat_update("to_remove", value=len(group) - 1)

    def write(self, files: dict[str, dict[int, list]], ranks: int) -> None:
        """Every rank gets every file, empty or not: the filter loads cluster metadata only
        where a `.remove` file exists."""
        for kind, by_rank in files.items():
            fmt = "<I" if kind == "remove" else "<II"
            for r in range(ranks):
                rows = sorted(by_rank.get(r, []))
                payload = b"".join(struct.pack(fmt, *row) for row in rows)
                with self.output_folder.open(f"{r:06d}.{kind}", "wb") as f:
                    f.write(payload)


class MinhashClusters(ResolveClusters):
    """Connected components of datatrove's MinHash duplicate pairs (`.dups` files)."""

    name = "🎯 MinHash clusters, best copy"

    def groups(self) -> Iterable[list[Member]]:
        def pairs():
            for name in self.input_folder.list_files(glob_pattern="*.dups"):
                with self.input_folder.open(name, "rb") as f:
                    for f1, d1, f2, d2 in read_tuples_from_file(f, "4I"):
                        yield (f1, d1), (f2, d2)

        return connected_components(pairs())


def connected_components(pairs: Iterable[tuple[Member, Member]]) -> Iterable[list[Member]]:
    """The groups that pairs of duplicates join (union-find, path compression)."""
    parent: dict[Member, Member] = {}

    def find(x: Member) -> Member:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for first, second in pairs:
        a, b = find(first), find(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    clusters: dict[Member, list[Member]] = defaultdict(list)
    for node in list(parent):
        clusters[find(node)].append(node)
    for root, nodes in clusters.items():
        yield list({root, *nodes})


class ExactClusters(ResolveClusters):
    """Documents with the same hash in datatrove's exact-dedup signature files."""

    name = "💥 exact clusters, best copy"

    def groups(self) -> Iterable[list[Member]]:
        from datatrove.pipeline.dedup.exact_dedup import get_sig_dtype
        from datatrove.utils.hashing import HashConfig

        dtype = get_sig_dtype(HashConfig())
        suffix = ExtensionHelperSD.stage_1_signature
        hashes, where = [], []
        for name in self.input_folder.list_files(glob_pattern=f"*/*{suffix}"):
            with self.input_folder.open(name, "rb") as f:
                sigs = np.frombuffer(f.read(), dtype=dtype)
            rank = int(name.split("/")[-1].removesuffix(suffix))
            hashes.append(sigs["hash"])
            where.append(np.stack([np.full(len(sigs), rank), sigs["doc"]], axis=1))
        if not hashes:
            return
        hashes, where = np.concatenate(hashes), np.concatenate(where)
        order = np.argsort(hashes, kind="stable")
        hashes, where = hashes[order], where[order]
        starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
        for start, end in zip(starts, [*starts[1:], len(hashes)], strict=True):
            if end - start > 1:
                yield [(int(r), int(d)) for r, d in where[start:end]]


class RecordCluster(PipelineStep):
    """After the filter: `cluster_size` and `cluster_id` (`<step>-<n>`) for members of a
    cluster; documents in none keep what they had (size 1, their own id as cluster id)."""

    type = "🫂 - DEDUP"
    name = "🏷 cluster size"

    def __init__(self, step: str):
        super().__init__()
        self.step = step

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        for doc in data:
            self.stat_update(StatHints.total)
            cluster = doc.metadata.pop("minhash_cluster_id", -1)
            size = doc.metadata.pop("minhash_cluster_size", 1)
            if cluster != -1:
                doc.metadata[CLUSTER_SIZE] = size
                doc.metadata[CLUSTER_ID] = f"{self.step}-{cluster}"
            doc.metadata.setdefault(CLUSTER_SIZE, 1)
            doc.metadata.setdefault(CLUSTER_ID, doc.id)
            yield doc


# FineWeb-2's upsampling weights (github.com/huggingface/fineweb-2, README, "Rehydration"):
# a document from a cluster of size >= key (and below the next key) is written that many times;
# clusters of 1,000 and more are assumed to be low-quality boilerplate and written once.
FINEWEB2_REHYDRATION = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}


class Rehydrate(PipelineStep):
    """Repeats each document by its `cluster_size` (set by a dedup step before it) through a
    table {minimum cluster size: copies}, FineWeb-2's by default, so the kept documents are a
    training mixture as they stand. Copies after the first get the id `<id>#<n>` and
    `metadata["rehydrated_copy"] = n`."""

    type = "🔁 - REHYDRATE"
    name = "🔁 rehydrate"

    def __init__(self, weights: dict[int, int] | None = None):
        super().__init__()
        table = {int(k): int(v) for k, v in (weights or FINEWEB2_REHYDRATION).items()}
        if 1 not in table or any(v < 1 for v in table.values()):
            raise InputError(f"weights need an entry for size 1 and copies >= 1: {table}")
        self.sizes = sorted(table)
        self.copies = [table[size] for size in self.sizes]

    def copies_for(self, size: int) -> int:
        from bisect import bisect_right

        return self.copies[max(bisect_right(self.sizes, size) - 1, 0)]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        for doc in data:
            self.stat_update(StatHints.total)
            copies = self.copies_for(int(doc.metadata.get(CLUSTER_SIZE, 1)))
            self.stat_update("written", value=copies)
            yield doc
            for n in range(1, copies):
                copy = Document(text=doc.text, id=f"{doc.id}#{n}", metadata=dict(doc.metadata))
                copy.metadata[REHYDRATED_COPY] = n
                yield copy


VECTORS_SUFFIX = ".vectors.npy"


class DropMetadata(PipelineStep):
    """Removes metadata keys that served a step and have no place in the output (text vectors
    after semantic dedup)."""

    type = "🫂 - DEDUP"
    name = "🧹 drop metadata"

    def __init__(self, keys: list[str]):
        super().__init__()
        self.keys = list(keys)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        for doc in data:
            for key in self.keys:
                doc.metadata.pop(key, None)
            yield doc


class RecordVectors(PipelineStep):
    """Semantic dedup's signature step: writes `<rank>.vectors.npy`, each document's text
    vector (float16, from quality_scorer's `embeddings`) in order; a document without one gets
    zeros and is never merged. The vectors leave the documents' metadata here."""

    type = "🫂 - DEDUP"
    name = "🧭 text vectors"

    def __init__(self, output_folder):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        from curate.classify.scoring import EMBEDDING, vector_from_metadata

        rows: list[np.ndarray | None] = []
        for doc in data:
            with self.track_time():
                value = doc.metadata.get(EMBEDDING)
                rows.append(vector_from_metadata(value) if value else None)
            if value is None:
                self.stat_update("no_embedding")
            yield doc
        dim = next((len(r) for r in rows if r is not None), 0)
        matrix = np.zeros((len(rows), dim), dtype=np.float16)
        for i, row in enumerate(rows):
            if row is not None:
                matrix[i] = row
        with self.output_folder.open(f"{rank:05d}{VECTORS_SUFFIX}", "wb") as f:
            np.save(f, matrix)


class SemanticClusters(ResolveClusters):
    """Groups of documents whose text vectors lie within `threshold` cosine similarity: spherical
    k-means splits the collection into clusters of about `cluster_size` documents (SemDedup's
    way, NeMo Curator's too), then every pair inside a cluster is compared and pairs at or above
    the threshold are joined (connected components)."""

    name = "🧭 semantic clusters, best copy"

    def __init__(
        self,
        input_folder,
        members_folder,
        output_folder,
        threshold: float = 0.958,
        cluster_size: int = 5000,
        seed: int = 0,
    ):
        super().__init__(input_folder, members_folder, output_folder)
        self.threshold, self.cluster_size, self.seed = threshold, cluster_size, seed

    def load_vectors(self) -> tuple[np.ndarray, list[Member]]:
        files = self.input_folder.list_files(glob_pattern=f"*{VECTORS_SUFFIX}")
        blocks, where = [], []
        for name in files:
            with self.input_folder.open(name, "rb") as f:
                block = np.load(f).astype(np.float32)
            rank = int(name.split(".")[0])
            blocks.append(block)
            where += [(rank, d) for d in range(len(block))]
        dims = {b.shape[1] for b in blocks if len(b) and b.shape[1]}
        if len(dims) > 1:
            raise InputError(f"text vectors of different sizes {sorted(dims)}: one bundle only")
        dim = dims.pop() if dims else 0
        blocks = [b if b.shape[1] else np.zeros((len(b), dim), np.float32) for b in blocks]
        return (np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)), where

    def groups(self) -> Iterable[list[Member]]:
        vectors, where = self.load_vectors()
        live = np.flatnonzero(np.abs(vectors).sum(axis=1) > 0) if len(vectors) else []

        def pairs():
            for members in kmeans_partition(vectors[live], self.cluster_size, self.seed):
                index = live[members]
                for a, b in close_pairs(vectors[index], self.threshold):
                    yield where[int(index[a])], where[int(index[b])]

        return connected_components(pairs())


def kmeans_partition(vectors: np.ndarray, cluster_size: int, seed: int, rounds: int = 10):
    """Index arrays of a spherical k-means partition into clusters of about `cluster_size`."""
    n = len(vectors)
    k = max(1, round(n / cluster_size))
    if k == 1:
        return [np.arange(n)] if n else []
    rng = np.random.default_rng(seed)
    centroids = vectors[rng.choice(n, size=k, replace=False)]
    for _ in range(rounds):
        assigned = np.argmax(vectors @ centroids.T, axis=1)
        for c in range(k):
            members = vectors[assigned == c]
            if len(members):
                mean = members.sum(axis=0)
                centroids[c] = mean / max(np.linalg.norm(mean), 1e-12)
    assigned = np.argmax(vectors @ centroids.T, axis=1)
    return [np.flatnonzero(assigned == c) for c in range(k) if (assigned == c).any()]


def close_pairs(vectors: np.ndarray, threshold: float, block: int = 1024):
    """(i, j), i < j, of unit vectors with cosine similarity >= threshold, in row blocks."""
    for start in range(0, len(vectors), block):
        sims = vectors[start : start + block] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows + start, cols, strict=True):
            if r < c:
                yield int(r), int(c)
