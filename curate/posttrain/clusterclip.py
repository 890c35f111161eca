"""ClusterClip sampling (Shao et al. 2024, "Balanced Data Sampling for Language Model Training
with Clustering", Findings of ACL 2024), as used for Ahma-3B-Instruct's SFT data.

The paper clusters the training data by embedding (KMeans), then samples so that every cluster
is drawn equally often: rare clusters' examples come up more often than under random sampling,
common clusters' less. Drawing a small cluster that often would repeat its examples until the
model overfits them, so a repetition clip knocks an example out of the pool once it has been
drawn `clip` times; a cluster whose examples are all knocked out leaves the draw, and the
others share its turns. Within a cluster, examples come in a fresh random order each pass, so
no example is drawn twice before its cluster's other examples were drawn once.

Our reading, from the paper's description (its pseudo-code was not at hand offline): the draw
picks a cluster uniformly among those with examples left, then that cluster's next example.
The sampler stops at `size` draws, or earlier when the clip has emptied every cluster (said in
the result)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from curate.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ClusterClipConfig:
    clusters: int = 30  # KMeans k (Ahma-3B-Instruct: 30)
    clip: int = 4  # most draws of one example
    embedder: str = "auto"  # hashed, a classifier bundle folder, or auto (curate.posttrain.embed)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.clusters < 1 or self.clip < 1:
            raise InputError(
                f"clusterclip: clusters and clip must be 1 or more, got {self.clusters}, "
                f"{self.clip}"
            )


@dataclass
class ClusterClipResult:
    indices: list[int]  # drawn examples, in draw order
    labels: np.ndarray  # cluster of every input example
    sizes_before: list[int] = field(default_factory=list)  # examples per cluster
    sizes_after: list[int] = field(default_factory=list)  # draws per cluster
    exhausted: bool = False  # the clip emptied every cluster before `size` draws


LSA_DIMS = 128


def cluster(vectors, k: int, seed: int = 0) -> np.ndarray:
    """KMeans labels; k is lowered to the number of examples when there are fewer. Sparse
    n-gram vectors are first reduced to LSA_DIMS dimensions (truncated SVD, re-normalised):
    KMeans on 2^18 sparse features spends its time on the centroids' dense 2^18 columns."""
    from scipy import sparse
    from sklearn.cluster import KMeans

    n = vectors.shape[0]
    if sparse.issparse(vectors) and n > 2:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        svd = TruncatedSVD(min(LSA_DIMS, n - 1), random_state=seed)
        vectors = normalize(svd.fit_transform(vectors))
    k = max(1, min(k, n))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)


def clusterclip_sample(
    labels: np.ndarray, size: int, clip: int, seed: int = 0
) -> ClusterClipResult:
    """`size` draws balanced across the clusters in `labels`, no example more than `clip`
    times."""
    if clip < 1:
        raise InputError("clip must be at least 1")
    rng = np.random.default_rng(seed)
    ids = sorted(set(labels.tolist()))
    members = {c: np.flatnonzero(labels == c) for c in ids}
    queues: dict[int, list[int]] = {c: [] for c in ids}
    draws = {c: np.zeros(len(members[c]), dtype=int) for c in ids}  # per member
    alive = [c for c in ids if len(members[c])]
    out: list[int] = []
    while len(out) < size and alive:
        c = alive[rng.integers(len(alive))]
        if not queues[c]:  # a new pass over the cluster's examples still under the clip
            left = np.flatnonzero(draws[c] < clip)
            queues[c] = rng.permutation(left).tolist()
        j = queues[c].pop()
        draws[c][j] += 1
        out.append(int(members[c][j]))
        if (draws[c] >= clip).all():
            alive.remove(c)
    result = ClusterClipResult(out, labels, exhausted=len(out) < size)
    result.sizes_before = [len(members[c]) for c in ids]
    result.sizes_after = [int(draws[c].sum()) for c in ids]
    if result.exhausted:
        log.warning("ClusterClip: the clip (%d) emptied every cluster after %d of %d draws",
                    clip, len(out), size)  # fmt: skip
    return result


def clusterclip(texts: list[str], size: int, config: ClusterClipConfig) -> ClusterClipResult:
    from curate.posttrain.embed import make_embedder

    embedder = make_embedder(config.embedder)
    log.info("ClusterClip: embedding %d texts with %s", len(texts), embedder.name)
    labels = cluster(embedder.embed(texts), config.clusters, config.seed)
    return clusterclip_sample(labels, size, config.clip, config.seed)


def plot_cluster_sizes(result: ClusterClipResult, path) -> None:
    """Examples per cluster before, draws per cluster after: the balance ClusterClip made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(result.sizes_before)[::-1]
    x = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(x - 0.2, np.array(result.sizes_before)[order], 0.4, label="examples (before)")
    ax.bar(x + 0.2, np.array(result.sizes_after)[order], 0.4, label="draws (after ClusterClip)")
    ax.set_xlabel("cluster (largest first)")
    ax.set_ylabel("rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
