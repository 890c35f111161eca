"""Seeded sampling stratified by (source, language), in one streaming pass (reservoirs)."""

from __future__ import annotations

import random
from collections.abc import Iterable

from curate.documents import Document


def stratified_sample(docs: Iterable[Document], n: int | None, seed: int = 0) -> list[Document]:
    """Up to `n` documents, each (source, lang) stratum represented in proportion to its size
    (largest remainder), every non-empty stratum with at least one when n allows. n=None: all."""
    if n is None:
        return list(docs)
    rng = random.Random(seed)
    reservoirs: dict[tuple, list[Document]] = {}
    seen: dict[tuple, int] = {}
    for doc in docs:
        key = (doc.source or "", doc.lang or "")
        k = seen.get(key, 0)
        seen[key] = k + 1
        res = reservoirs.setdefault(key, [])
        if len(res) < n:
            res.append(doc)
        else:
            j = rng.randrange(k + 1)
            if j < n:
                res[j] = doc
    total = sum(seen.values())
    if total <= n:
        return [d for key in sorted(reservoirs) for d in reservoirs[key]]
    quotas = _allocate(seen, n)
    sample = []
    for key in sorted(reservoirs):
        res = reservoirs[key]
        rng.shuffle(res)
        sample.extend(res[: quotas[key]])
    return sample


def _allocate(sizes: dict[tuple, int], n: int) -> dict[tuple, int]:
    total = sum(sizes.values())
    exact = {k: n * v / total for k, v in sizes.items()}
    quotas = {k: int(v) for k, v in exact.items()}
    if n >= len(sizes):  # give every stratum a voice before proportional shares
        for k in quotas:
            quotas[k] = max(quotas[k], 1)
    left = n - sum(quotas.values())
    for k in sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True):
        if left <= 0:
            break
        quotas[k] += 1
        left -= 1
    while left < 0:  # the minimum of one overshot: take back from the largest
        k = max(quotas, key=quotas.get)
        quotas[k] -= 1
        left += 1
    return quotas
