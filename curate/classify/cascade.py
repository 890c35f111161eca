"""The cascade: the side models judge every document, the encoder only those it can still decide.

A task's score is the encoder's blended with its lexical model and lowered by its fluency
penalty, then mapped onto the label scale (curate.classify.side). The side models cost about a
millisecond a document; the encoder about twelve. Most web pages sit far from a keep threshold,
where the encoder cannot change the decision. So the cheap score puts the lexical model's guess
of the encoder score (a straight line fitted on the fitting texts) in the encoder's place, and
only documents whose cheap score falls inside a band around the threshold reach the encoder.

The band is fitted per language and per threshold (a grid over the label scale: a spec's
threshold is chosen after export) on texts like the ones to be filtered, with no labels: the
narrowest band outside which the cheap decision matches the full model's on `target` (default
99.5%) of the documents the full model keeps, and on `target` of those it drops, widened by a
margin per language, itself chosen on the fitting texts by cross-fitting (a band fitted to
exactly `target` sits on extreme quantiles of its texts and falls short on others; see
`cross_fitted_margin`). `curate cascade` fits it and writes it, with the agreement, the
held-out agreement and the share that reaches the encoder at every grid point, into the
bundle's classifier.json (`cascade` of each task); this module is that record's owner.

Where no threshold applies (`curate score`, `curate mix`), every document gets the full model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from curate.classify.bundle import update_task
from curate.classify.calibrate import ALL
from curate.classify.side import SideModels, SideParts
from curate.errors import InputError

TARGET = 0.995
GRID_STEP = 0.05  # grid of thresholds on the label scale
MARGIN = 0.1  # the margin of cascades fitted before margins were cross-fitted per language
MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)  # candidates, in label points
FOLDS = 5
COVERAGE = 0.95  # share of the live grid points where the held-out agreement must meet target
MIN_SIDE = 5  # a grid point is live when this many fitting texts fall on each side of it
MIN_LANGUAGE_TEXTS = 100  # fewer fitting texts in a language: its band is the pooled one
CHEAP, ENCODER = "cheap", "encoder"  # which path judged a document


class Band(NamedTuple):
    """Cheap scores in [low, high) go to the encoder; `threshold` is the keep threshold the band
    sits around (a page the encoder scores below it is dropped)."""

    low: float
    high: float
    threshold: float


@dataclass(frozen=True)
class Cascade:
    """A task's fitted cascade, as classifier.json stores it."""

    target: float
    slope: float
    intercept: float
    grid: list[float]
    # language -> per grid threshold: below, above, agreement, encoder (share), kept
    # (agreement on the documents the full model keeps), held_out (cross-fitted agreement with
    # the margin); n (fitting texts) and margin (label points added on each side of its bands)
    bands: dict[str, dict[str, Any]]
    fitted_on: dict[str, Any]
    margin: float = MARGIN  # for bands without their own (fitted before margins were per band)

    @classmethod
    def from_dict(cls, stored: dict[str, Any] | None) -> Cascade | None:
        if not stored:
            return None
        return cls(**{k: stored[k] for k in cls.__dataclass_fields__ if k in stored})

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def cheap_raw(self, side: SideModels, parts: SideParts) -> np.ndarray:
        """The raw score with the lexical model's guess in the encoder's place."""
        return side.combine(self.slope * parts.lexical + self.intercept, parts)

    def band(self, lang: str | None, threshold: float) -> Band:
        """Cheap scores in [low, high) go to the encoder. Between two grid points, the
        low end of the one below and the high end of the one above: every document the full
        model keeps at `threshold` it keeps at the lower point, every one it drops it drops at
        the upper, so both points' agreement holds."""
        band = self.bands.get(lang or ALL) or self.bands[ALL]
        grid = np.asarray(self.grid)
        right = int(np.clip(np.searchsorted(grid, threshold), 0, len(grid) - 1))
        left = max(right - 1, 0) if grid[right] > threshold else right
        low = min(grid[left] - band["below"][left], threshold)
        high = max(grid[right] + band["above"][right], threshold)
        margin = band.get("margin", self.margin)
        return Band(float(low - margin), float(high + margin), float(threshold))

    def point(self, lang: str | None, threshold: float) -> dict[str, float]:
        """The fitting texts' agreement and share reaching the encoder at the grid point
        nearest `threshold` (language, else pooled)."""
        key = lang if lang in self.bands else ALL
        i = int(np.argmin(np.abs(np.asarray(self.grid) - threshold)))
        band = self.bands[key]
        return {
            "language": key,
            "threshold": self.grid[i],
            "agreement": band["agreement"][i],
            "encoder": band["encoder"][i],
            "kept": band["kept"][i],
            "held_out": band["held_out"][i] if "held_out" in band else None,
            "margin": band.get("margin", self.margin),
        }


def fit_band(cheap: np.ndarray, full: np.ndarray, threshold: float, target: float):
    """(below, above, agreement, encoder share, kept agreement): the narrowest band
    [threshold - below, threshold + above) outside which the cheap decision matches the full
    model's on `target` of the documents the full model keeps and on `target` of those it drops,
    each side on its own: at a high threshold the kept few would otherwise vanish in the
    overall agreement (cheap models lose most at the top of the scale)."""
    n = len(cheap)
    keep = full >= threshold
    kept, dropped = np.sort(cheap[keep]), np.sort(cheap[~keep])
    misses = int(np.floor((1 - target) * len(kept) + 1e-9))  # kept docs the cheap path may drop
    wrongs = int(np.floor((1 - target) * len(dropped) + 1e-9))
    low = min(threshold, float(kept[misses])) if len(kept) > misses else threshold
    high = threshold
    if len(dropped) > wrongs:
        high = max(threshold, float(np.nextafter(dropped[len(dropped) - 1 - wrongs], np.inf)))
    missed = int((kept < low).sum())
    wrong = int((dropped >= high).sum())
    inside = int(((cheap >= low) & (cheap < high)).sum())
    return (
        threshold - low,
        high - threshold,
        1 - (missed + wrong) / n if n else 1.0,
        inside / n if n else 0.0,
        1 - missed / len(kept) if len(kept) else 1.0,
    )


def cross_fitted_margin(
    cheap: np.ndarray, full: np.ndarray, grid: list[float], target: float, seed: int = 0
) -> tuple[float, list[float]]:
    """(margin, held-out agreement at each grid point): the smallest of MARGINS with which bands
    fitted on four fifths of the texts match the full model's decision on `target` of the fifth
    left out (errors summed over the five folds) at COVERAGE of the live grid points (each side
    of the decision holds MIN_SIDE texts). Chosen on the fitting texts alone, no test split:
    web validation pages, five folds, margin 0.1 met 99.5% at 95-99% of the nb/nn thresholds of
    both tasks, 0.05 at 79-85%."""
    n = len(cheap)
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, FOLDS)
    errors = np.zeros((len(MARGINS), len(grid)))
    for held in folds:
        train = np.setdiff1d(order, held)
        for i, threshold in enumerate(grid):
            below, above, *_ = fit_band(cheap[train], full[train], threshold, target)
            keep, judged = full[held] >= threshold, cheap[held]
            for j, margin in enumerate(MARGINS):
                inside = (judged >= threshold - below - margin) & (
                    judged < threshold + above + margin
                )
                errors[j, i] += int((np.where(inside, keep, judged >= threshold) != keep).sum())
    held_out = 1 - errors / max(n, 1)
    kept = np.array([(full >= t).sum() for t in grid])
    live = (kept >= MIN_SIDE) & (n - kept >= MIN_SIDE)
    for j, margin in enumerate(MARGINS):
        if not live.any() or (held_out[j, live] >= target).mean() >= COVERAGE:
            return margin, [round(float(a), 4) for a in held_out[j]]
    return MARGINS[-1], [round(float(a), 4) for a in held_out[-1]]


def fit_cascade(
    side: SideModels,
    parts: SideParts,
    encoder: np.ndarray,
    langs: list[str | None],
    scale: tuple[int, int],
    target: float = TARGET,
    fitted_on: dict[str, Any] | None = None,
) -> Cascade:
    """A task's cascade from its fitting texts' side-model parts and encoder scores."""
    if parts.lexical is None:
        raise InputError("the cascade needs the task's lexical model (its cheap judge)")
    if not 0.5 < target < 1:
        raise InputError(f"cascade target must be in (0.5, 1): {target}")
    slope, intercept = np.polyfit(parts.lexical.astype(float), encoder.astype(float), 1)
    full = side.calibrate(side.combine(encoder, parts))
    draft = Cascade(target, float(slope), float(intercept), [], {}, {})
    cheap = side.calibrate(draft.cheap_raw(side, parts))
    grid = [round(float(t), 4) for t in np.arange(scale[0], scale[1] + 1e-9, GRID_STEP)]
    langs_array = np.asarray([lang or ALL for lang in langs], dtype=object)
    groups = {ALL: np.ones(len(cheap), bool)}
    for lang in sorted(set(langs_array) - {ALL}):
        mine = langs_array == lang
        if mine.sum() >= MIN_LANGUAGE_TEXTS:
            groups[lang] = mine
    bands = {}
    for key, mine in groups.items():
        fits = [fit_band(cheap[mine], full[mine], t, target) for t in grid]
        bands[key] = {
            name: [round(float(f[i]), 4) for f in fits]
            for i, name in enumerate(("below", "above", "agreement", "encoder", "kept"))
        }
        for side_name in ("below", "above"):  # rounded outward: the band never narrows
            bands[key][side_name] = [float(np.ceil(f * 1e4) / 1e4) for f in bands[key][side_name]]
        bands[key]["n"] = int(mine.sum())
        margin, held_out = cross_fitted_margin(cheap[mine], full[mine], grid, target)
        bands[key]["margin"], bands[key]["held_out"] = margin, held_out
    record = {**(fitted_on or {}), "texts": len(cheap)}
    margin = bands[ALL]["margin"]
    return Cascade(target, float(slope), float(intercept), grid, bands, record, margin)


@dataclass
class CheapJudgement:
    """One task's cascade on some documents: the cheap raw score and score, and whether it
    falls inside one of the document's bands (the encoder decides) or below one (a later
    score_filter drops the document whatever the other tasks say)."""

    parts: SideParts
    raw: np.ndarray
    score: np.ndarray
    inside: np.ndarray
    below: np.ndarray


def cheap_judgement(
    side: SideModels, cascade: Cascade, texts: list[str], windows
) -> CheapJudgement:
    """`windows`: each document's bands (`Band`), one per threshold it will meet."""
    parts = side.parts(texts)
    raw = cascade.cheap_raw(side, parts)
    score = side.calibrate(raw)
    pairs = list(zip(score, windows, strict=True))
    inside = [any(b.low <= c < b.high for b in mine) for c, mine in pairs]
    # no band: the document's language has no threshold, the score_filter drops it
    below = [not mine or any(c < b.low for b in mine) for c, mine in pairs]
    return CheapJudgement(parts, raw, score, np.array(inside, bool), np.array(below, bool))


def judged_scores(classifiers, texts: list[str], windows_of) -> list[dict[str, tuple]]:
    """Per bundle, every task's (score, raw score, judged by the encoder) through the cascade.
    `windows_of(clf)` gives {task: each document's bands} for the tasks a later step judges.
    A bundle's encoder runs on the documents inside some band of one of its tasks, unless the
    cheap score of some task already drops them below a band, or an earlier bundle's encoder
    scored them below a threshold (the final decision is then made: list the more selective
    bundle first); a task without bands or without a fitted cascade sends every document to its
    encoder."""
    live = np.array([bool(t and t.strip()) for t in texts], dtype=bool)
    cheap: list[dict[str, CheapJudgement | None]] = []
    every_window = []
    for clf in classifiers:
        windows = windows_of(clf)
        every_window.append(windows)
        mine: dict[str, CheapJudgement | None] = {}
        for task in clf.tasks:
            cascade = clf.cascade(task)
            if cascade is not None and task in windows:
                side = clf.side_models(task)
                mine[task] = cheap_judgement(side, cascade, texts, windows[task])
            else:
                mine[task] = None
        cheap.append(mine)
    dropped = np.zeros(len(texts), bool)
    for mine in cheap:
        for judgement in mine.values():
            if judgement is not None:
                dropped |= judgement.below & ~judgement.inside
    out = []
    for clf, mine, windows in zip(classifiers, cheap, every_window, strict=True):
        need = ~live
        for judgement in mine.values():
            need = need | (np.ones_like(live) if judgement is None else judgement.inside & ~dropped)
        rows = np.flatnonzero(need)
        parts = {t: j.parts.select(rows) for t, j in mine.items() if j is not None}
        full = clf.scores_and_raw([texts[i] for i in rows], parts) if len(rows) else {}
        scored = {}
        for task, judgement in mine.items():
            empty = np.zeros(len(texts), np.float32)
            score = empty.copy() if judgement is None else judgement.score.astype(np.float32)
            raw = empty.copy() if judgement is None else judgement.raw.astype(np.float32)
            if len(rows):
                score[rows], raw[rows] = full[task]
                if judgement is not None:  # the later bundles' encoders skip what this drops
                    dropped[rows] |= fails(score[rows], [windows[task][i] for i in rows])
            scored[task] = (score, raw, need)
        out.append(scored)
    return out


def fails(scores: np.ndarray, windows) -> np.ndarray:
    """Documents whose full score is below a threshold they will meet."""
    pairs = zip(scores, windows, strict=True)
    return np.array([any(s < b.threshold for b in mine) for s, mine in pairs], dtype=bool)


def fit_bundle(
    clf, texts: list[str], langs: list[str | None], target: float = TARGET, **fitted_on
) -> dict[str, Cascade]:
    """Fit every task with a lexical model of the bundle `clf` (a QualityClassifier, int8:
    the encoder the pipeline runs) on `texts`, and write each task's cascade into the bundle's
    classifier.json."""
    judged = [t for t in clf.tasks if clf.side_models(t).lexical is not None]
    if not judged:
        raise InputError(f"{clf.path}: no task has a lexical model, the cascade's cheap judge")
    encoder = clf.encoder_scores(texts)
    out = {}
    for column, task in enumerate(clf.tasks):
        if task not in judged:
            continue
        side = clf.side_models(task)
        parts = side.parts(texts)
        out[task] = fit_cascade(
            side, parts, encoder[:, column], langs, clf.scale_of(task), target, fitted_on
        )
        update_task(clf.path, task, cascade=out[task].to_dict())
    return out
