"""Collect benchmarks/results/*.json into benchmarks/RESULTS.md: one table per benchmark, each
with the machine it ran on and the date its result file was written.

    python benchmarks/results_table.py      (make bench runs it last)
"""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def written(path: Path) -> str:
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def section(name: str) -> tuple[Path, str] | None:
    md, js = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
    if not md.exists():
        return None
    return js if js.exists() else md, md.read_text().strip()


def main() -> None:
    parts = [
        "# Benchmark results",
        "",
        "Written by `make bench` (each script can also run alone; see its docstring). Ratios "
        "compare variants measured on the same input in the same run. Machine of this file: "
        f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.system()}.",
    ]
    titles = {
        "quality": "Judgement on real text: classifiers and specs, clean reference prose vs "
        "damaged copies (`benchmarks/quality.py`)",
        "demo_recipe": "The classifiers `make demo` trains (quick recipe) vs `make train`'s, "
        "every judgement figure of quality.py (`benchmarks/demo_recipe.py`)",
        "learning_curve_lexical": "Learning curve on the web labels, the lexical model alone "
        "(`benchmarks/learning_curve.py --lexical-only`)",
        "learning_curve": "Learning curve on the web labels, the classifiers retrained "
        "(`benchmarks/learning_curve.py`: about 45 min per educational-value run on 2 cores)",
        "score": "Scorer: transformers pipeline vs torch vs onnxruntime fp32/int8 "
        "(`benchmarks/score_throughput.py`)",
        "score_ceiling": "Scorer vs this CPU's int8 limit, per token budget "
        "(`benchmarks/score_ceiling.py`)",
        "score_tasks": "Both tasks: two single-task bundles vs one encoder with a head per "
        "task (`benchmarks/score_tasks.py`)",
        "filter": "Filtering: datatrove pipeline vs the classifiers alone, 1 -> 2 workers, "
        "per-step time (`benchmarks/filter_throughput.py`)",
        "filter_web": "Filtering the web sample: before this release, words counted once, and "
        "the cascade, one run (`benchmarks/filter_throughput.py --only-web`)",
        "filter_steps": "Filtering: the demo spec's steps, each run once "
        "(`benchmarks/filter_throughput.py --only-spec`)",
        "hygiene": "Corpus hygiene: personal data, URLs, semantic duplicates on real text "
        "(`benchmarks/hygiene.py`)",
        "annotate": "Annotation: requests/s vs the latency bound under injected faults "
        "(`benchmarks/annotate_throughput.py`)",
        "lm": "LM pretraining: curate (Lightning) vs transformers Trainer "
        "(`benchmarks/lm_throughput.py`)",
        "posttrain": "Post-training: LoRA vs full fine-tuning, and translation cost "
        "(`benchmarks/posttrain.py`)",
        "translation_checks": "Translation checks on real human translations (NTREX) "
        "(`benchmarks/translation_checks.py`)",
        "ablation": "Ablation: do the filters give a better model? (`make ablate`, "
        "`benchmarks/ablation.py`)",
    }
    for name, title in titles.items():
        found = section(name)
        parts += ["", f"## {title}", ""]
        if found is None:
            parts.append("not run yet")
            continue
        path, table = found
        parts += [f"Result written {written(path)}.", "", table]
    out = RESULTS.parent / "RESULTS.md"
    out.write_text("\n".join(parts) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
