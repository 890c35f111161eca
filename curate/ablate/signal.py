"""Does a task give signal, and which differences between variants are beyond noise?
FineTasks' criteria (Kydlíček et al., 2024), applied to the scored checkpoints of an ablation:

- above chance: the final score, averaged over every run, beats chance (pairs: 0.5, by more
  than two binomial standard errors; perplexity: below the vocabulary size, a uniform guess;
  harness tasks: the chance level given in the config, by two standard errors when
  `lm_eval_limit` gives the item count, else not checked);
- monotonic: the mean over runs of Spearman's rho between step and score (oriented so that
  better is positive) is at least MONOTONIC_RHO;
- seed spread against variant spread: the mean over variants of the standard deviation across
  seeds of the final score, against the standard deviation across variants of its seed mean;
- ranking consistency: the mean Kendall tau between the variants' rankings (by seed mean) at
  consecutive scored checkpoints after the initial one. Reported, not flagged: an ablation has
  few checkpoints (the demo: two pairs), too few to reject a task on.

A task that is not above chance or not monotonic is flagged "no signal". A variant's difference
from the baseline counts as beyond noise only when the two variants' final scores over seeds do
not overlap (every seed of one is better than every seed of the other); with one seed there is
no spread to compare against and nothing is called beyond noise.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import asdict, dataclass, field

from scipy.stats import kendalltau, spearmanr

MONOTONIC_RHO = 0.5
Runs = dict[str, dict[int, list[dict]]]  # variant -> seed -> scored checkpoints, by step


def higher_is_better(task: str) -> bool:
    return not task.startswith("ppl/")


def oriented(task: str, value: float) -> float:
    return value if higher_is_better(task) else -value


@dataclass
class TaskSignal:
    task: str
    chance: float | None
    mean_final: float
    above_chance: bool | None
    monotonicity: float | None
    seed_spread: float | None
    variant_spread: float | None
    ranking: float | None = None  # Kendall tau between consecutive checkpoints' rankings
    flags: list[str] = field(default_factory=list)

    @property
    def signal(self) -> bool:
        return not self.flags

    @property
    def ratio(self) -> float | None:
        """Variant spread over seed spread: above 1, the variants differ more than seeds do."""
        if self.seed_spread and self.variant_spread is not None:
            return self.variant_spread / self.seed_spread
        return None

    def to_dict(self) -> dict:
        return {**asdict(self), "signal": self.signal, "ratio": self.ratio}


@dataclass
class Difference:
    task: str
    variant: str
    delta: float  # variant mean - baseline mean, in the task's units
    better: bool
    beyond_noise: bool | None  # None: one seed, no spread to judge by

    @property
    def direction(self) -> str:
        if math.isclose(self.delta, 0.0, abs_tol=1e-9):
            return "same"
        return "better" if self.better else "worse"


def finals(runs: Runs, task: str) -> dict[str, list[float]]:
    """variant -> the final score of each seed."""
    return {
        variant: [rows[-1]["scores"][task] for rows in seeds.values() if rows]
        for variant, seeds in runs.items()
    }


def monotonicity(runs: Runs, task: str) -> float | None:
    rhos = []
    for seeds in runs.values():
        for rows in seeds.values():
            steps = [r["step"] for r in rows]
            values = [oriented(task, r["scores"][task]) for r in rows]
            if len(rows) >= 3 and len(set(values)) > 1:
                rhos.append(spearmanr(steps, values).statistic)
    return statistics.fmean(rhos) if rhos else None


def ranking_consistency(runs: Runs, task: str) -> float | None:
    """Mean Kendall tau between the variants' rankings (mean over seeds) at consecutive
    checkpoints; step 0 is left out, every variant starting from the same weights there."""
    if len(runs) < 2:
        return None
    by_step: dict[int, dict[str, list[float]]] = {}
    for variant, seeds in runs.items():
        for rows in seeds.values():
            for r in rows:
                by_step.setdefault(r["step"], {}).setdefault(variant, []).append(r["scores"][task])
    steps = [s for s in sorted(by_step) if s > 0 and len(by_step[s]) == len(runs)]
    taus = []
    for a, b in itertools.pairwise(steps):
        ranks = [[statistics.fmean(by_step[s][v]) for v in runs] for s in (a, b)]
        tau = kendalltau(*ranks).statistic
        if not math.isnan(tau):
            taus.append(tau)
    return statistics.fmean(taus) if taus else None


def above_chance(task: str, mean: float, chance: float | None, items: int | None) -> bool | None:
    if chance is None:
        return None
    if higher_is_better(task):
        margin = 2 * math.sqrt(chance * (1 - chance) / items) if items and 0 < chance < 1 else 0
        return mean > chance + margin
    return mean < chance


def task_signal(runs: Runs, task: str, chance: float | None, items: int | None) -> TaskSignal:
    by_variant = finals(runs, task)
    values = [v for vals in by_variant.values() for v in vals]
    mean = statistics.fmean(values)
    spreads = [statistics.stdev(v) for v in by_variant.values() if len(v) >= 2]
    means = [statistics.fmean(v) for v in by_variant.values() if v]
    found = TaskSignal(
        task=task,
        chance=chance,
        mean_final=mean,
        above_chance=above_chance(task, mean, chance, items),
        monotonicity=monotonicity(runs, task),
        seed_spread=statistics.fmean(spreads) if spreads else None,
        variant_spread=statistics.stdev(means) if len(means) >= 2 else None,
        ranking=ranking_consistency(runs, task),
    )
    if found.above_chance is False:
        found.flags.append("not above chance")
    if found.monotonicity is None or found.monotonicity < MONOTONIC_RHO:
        found.flags.append("not monotonic")
    return found


def differences(runs: Runs, task: str, baseline: str) -> list[Difference]:
    by_variant = finals(runs, task)
    base = by_variant.get(baseline) or []
    found = []
    for variant, values in by_variant.items():
        if variant == baseline or not values or not base:
            continue
        delta = statistics.fmean(values) - statistics.fmean(base)
        better = oriented(task, delta) > 0
        if len(values) < 2 or len(base) < 2:
            beyond = None
        else:
            beyond = min(values) > max(base) or max(values) < min(base)
        found.append(Difference(task, variant, delta, better, beyond))
    return found
