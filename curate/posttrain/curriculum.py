"""A length curriculum as Ahma-3B-Instruct ordered its SFT data: four length bins, training
runs through them shortest first, and a share of short examples is kept throughout (spread
evenly over the whole order) so the model does not forget short answers by the end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.errors import InputError


@dataclass
class CurriculumConfig:
    bins: int = 4
    short_share: float = 0.1  # of the shortest bin's examples, spread over the whole order
    seed: int = 0

    def __post_init__(self) -> None:
        if self.bins < 1 or not 0 <= self.short_share <= 1:
            raise InputError(
                f"curriculum: bins must be 1 or more and short_share in [0, 1], got "
                f"{self.bins} and {self.short_share}"
            )


def curriculum_order(lengths: list[int], config: CurriculumConfig) -> tuple[list[int], list[int]]:
    """(indices in training order, bin of each index): bins by length quantile, each bin
    shuffled, bins in rising order; `short_share` of the shortest bin spread evenly through."""
    rng = np.random.default_rng(config.seed)
    lengths_arr = np.asarray(lengths)
    edges = np.quantile(lengths_arr, np.linspace(0, 1, config.bins + 1)[1:-1])
    bins = np.searchsorted(edges, lengths_arr, side="right")
    shortest = rng.permutation(np.flatnonzero(bins == 0))
    kept_short = shortest[: round(len(shortest) * config.short_share)]
    spread = set(kept_short.tolist())
    main = [
        int(i)
        for b in range(config.bins)
        for i in rng.permutation(np.flatnonzero(bins == b))
        if int(i) not in spread
    ]
    order = list(main)
    # insert from the back so earlier positions stay valid
    slots = np.linspace(0, len(main), len(kept_short) + 2)[1:-1].round().astype(int)
    for slot, i in sorted(zip(slots, kept_short.tolist(), strict=True), reverse=True):
        order.insert(int(slot), int(i))
    return order, [int(bins[i]) for i in order]
