"""The goals of "Decisions that fit the web" (#34) on the web test split (never trained or tuned
on), nb and nn each, beside the previous release's figures (the quality.json this run
replaces), and the reference-corpus figures that moved by more than 2 points.

A previous figure the previous release did not measure reads "—"; the share of all pages kept
is derived from its label groups (every nb/nn test page is labelled, so lq >= 3, lq = 2 and
lq <= 1 partition them).
"""

from __future__ import annotations

LANGS = ("nb", "nn")
LQ_GROUPS = ("lq>=3", "lq=2", "lq<=1")


def kept_share(section: dict | None, group: str, lang: str) -> float | None:
    """Share of `group` pages in `lang` kept, from a gate's or a spec's figures."""
    if not section:
        return None
    kept, n = section.get("kept", {}), section.get("n", {})
    key = f"{group}/{lang}"
    if key in kept:
        return kept[key]
    if group == "all" and all(f"{g}/{lang}" in n for g in LQ_GROUPS):
        total = sum(n[f"{g}/{lang}"] for g in LQ_GROUPS)
        return sum(n[f"{g}/{lang}"] * kept[f"{g}/{lang}"] for g in LQ_GROUPS) / total
    return None


def figures(data: dict, lang: str) -> dict[str, float | None]:
    """The goals' figures for one language from one run's quality.json."""
    web = data.get("web", {})
    edu = web.get("bundles", {}).get("educational_value", {})
    lq = web.get("bundles", {}).get("linguistic_quality", {})
    hand = edu.get("hand_labels", {}).get(lang, {})
    clf = hand.get("classifier", {})
    base = hand.get("baselines", {})
    # the previous release's specs used the bundles' own thresholds: its `gate`
    edu_gate = edu.get("spec_gate", edu.get("gate"))
    lq_gate = lq.get("spec_gate", lq.get("gate"))
    lq_bad_kept = kept_share(lq_gate, "lq<=1", lang)
    spec = web.get("specs", {}).get("demo.yaml")
    return {
        "edu_f1_at_3": clf.get("binary_at_threshold", {}).get("3", {}).get("f1"),
        "edu_spearman": clf.get("spearman"),
        "edu_mse": clf.get("mse"),
        "edu_mse_majority": base.get("majority_class", {}).get("mse"),
        "edu_mse_length": base.get("length_only", {}).get("mse"),
        "edu_gate_kept": kept_share(edu_gate, "all", lang),
        "edu_gate_kept_of_3": kept_share(edu_gate, "edu>=3", lang) if edu_gate else None,
        "lq_kept_of_3": kept_share(lq_gate, "lq>=3", lang),
        "lq_dropped_of_1": None if lq_bad_kept is None else 1 - lq_bad_kept,
        "demo_spec_kept": kept_share(spec, "all", lang),
    }


GOALS = [  # (figure, what, goal text, met(value, figures))
    ("edu_f1_at_3", "edu: binary F1 at 3", ">= 0.60", lambda v, f: v >= 0.6),
    ("edu_spearman", "edu: Spearman", ">= 0.70", lambda v, f: v >= 0.7),
    (
        "edu_mse",
        "edu: MSE (majority / length baseline)",
        "below both",
        lambda v, f: v < min(f["edu_mse_majority"], f["edu_mse_length"]),
    ),
    ("edu_gate_kept", "edu gate alone: pages kept", "5-15%", lambda v, f: 0.05 <= v <= 0.15),
    ("edu_gate_kept_of_3", "edu gate alone: labelled >= 3 kept", ">= 60%", lambda v, f: v >= 0.6),
    ("lq_kept_of_3", "LQ gate: labelled >= 3 kept", ">= 95%", lambda v, f: v >= 0.95),
    ("lq_dropped_of_1", "LQ gate: labelled <= 1 dropped", ">= 90%", lambda v, f: v >= 0.9),
    ("demo_spec_kept", "demo spec: web test pages kept", "3-15%", lambda v, f: 0.03 <= v <= 0.15),
]


def cell(key: str, f: dict) -> str:
    v = f[key]
    if v is None:
        return "—"
    if key == "edu_mse":
        return f"{v:.2f} ({f['edu_mse_majority']:.2f} / {f['edu_mse_length']:.2f})"
    return f"{v:.3f}" if key in ("edu_f1_at_3", "edu_spearman") else f"{v:.1%}"


def goals_table(now: dict, before: dict | None) -> list[str]:
    lines = [
        "## Goals on the web test split (#34; never trained or tuned on)",
        "",
        "Gates at the thresholds `pipelines/demo.yaml` chooses (the previous release: the "
        "bundles' own thresholds, which its specs used).",
        "",
        "| figure | goal | before nb | before nn | now nb | now nn | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, what, goal, met in GOALS:
        was = [figures(before or {}, lang) for lang in LANGS]
        is_ = [figures(now, lang) for lang in LANGS]
        verdict = []
        for lang, f in zip(LANGS, is_, strict=True):
            if f[key] is not None:
                verdict.append(f"{lang} {'yes' if met(f[key], f) else 'no'}")
        cells = [cell(key, f) for f in (*was, *is_)]
        lines.append(f"| {what} | {goal} | " + " | ".join(cells) + f" | {', '.join(verdict)} |")
    return [*lines, "", *reference_moves(now, before), ""]


def reference_moves(now: dict, before: dict | None, points: float = 0.02) -> list[str]:
    """Every reference-corpus share kept (bundles alone and specs, final step) that moved the
    wrong way by more than `points`: clean prose kept less, damaged copies kept more."""
    if not before:
        return ["No previous quality.json: nothing to compare the reference figures with."]
    worse = []
    for kind in ("bundles", "specs"):
        for name, r in now.get(kind, {}).items():
            old = before.get(kind, {}).get(name)
            if not old:
                continue
            for group, share in r.get("kept", {}).items():
                was = old.get("kept", {}).get(group)
                if was is None:
                    continue
                change = share - was if group.startswith("clean") else was - share
                if change < -points:
                    worse.append(f"| {kind[:-1]} {name} | {group} | {was:.1%} | {share:.1%} |")
    if not worse:
        return [
            f"Reference test split: no share kept moved the wrong way by more than {points:.0%}."
        ]
    return [
        f"Reference test split: shares kept that moved the wrong way by more than {points:.0%} "
        "(clean prose kept less, damaged copies kept more):",
        "",
        "| where | group | before | now |",
        "|---|---|---|---|",
        *worse,
    ]
