"""The demo ablation's results into benchmarks/results/ (ablation.md, ablation.json and the
learning curves as ablation_<task>.png), with a summary of which differences from the baseline
are beyond the seeds' noise. Runs `make ablate` first when its results are not there (about 25
minutes on 2 CPU cores; a finished ablation is only read).

    python benchmarks/ablation.py [--ablation out/ablate/demo]
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import click

from curate.reference import CREDIT as REFERENCE_CREDIT
from curate.web import CREDIT as WEB_CREDIT

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def summary(results: dict) -> list[str]:
    """One line per task with signal: the variants beyond noise from the baseline, better or
    worse; and the tasks without signal."""
    base = results["baseline"]
    lines = []
    for task, sig in results["signals"].items():
        if not sig["signal"]:
            continue
        found = [
            f"{d['variant']} {'better' if d['better'] else 'worse'} ({d['delta']:+.3g})"
            for d in results["differences"][task]
            if d["beyond_noise"]
        ]
        verdict = ", ".join(found) if found else f"none beyond noise vs {base}"
        lines.append(f"- `{task}`: {verdict}")
    signals = results["signals"].items()
    flagged = [f"`{t}` ({', '.join(s['flags'])})" for t, s in signals if s["flags"]]
    if flagged:
        lines.append("- no signal (left out of the judgement): " + ", ".join(flagged))
    return lines


@click.command()
@click.option("--ablation", default="out/ablate/demo", show_default=True, type=click.Path())
def main(ablation: str) -> None:
    folder = ROOT / ablation
    if not (folder / "results.json").exists():
        out = Path(ablation).parent.parent  # make's OUT: <OUT>/ablate/demo
        subprocess.run(["make", "ablate", f"OUT={out}"], cwd=ROOT, check=True)
    results = json.loads((folder / "results.json").read_text())
    table = (folder / "table.md").read_text().split("\n", 1)[1].strip()  # without its title
    for old in RESULTS.glob("ablation_*.png"):
        old.unlink()
    for plot in sorted((folder / "curves").glob("*.png")):
        shutil.copy(plot, RESULTS / f"ablation_{plot.name}")
    plots = "\n".join(
        f"![{p.stem}](results/{p.name})" for p in sorted(RESULTS.glob("ablation_*.png"))
    )
    text = [
        f"Ablation `{results['name']}` (`make ablate`, lm/ablate.demo.yaml): "
        f"{results['trained_tokens']:,} tokens per run ({results['steps']} steps), seeds "
        f"{results['seeds']}; baseline `{results['baseline']}`. Trained on real HPLT nb/nn pages "
        "of the web sample's train and validation splits; scored on the test splits of the "
        f"reference corpus and the web sample. {WEB_CREDIT} {REFERENCE_CREDIT}",
        "",
        "**Beyond noise** (every seed of the variant better, or worse, than every seed of the "
        "baseline), per task with signal:",
        "",
        *summary(results),
        "",
        table.replace("\n## ", "\n### "),
        "",
        "### Learning curves (mean over seeds; band: min to max)",
        "",
        plots,
    ]
    (RESULTS / "ablation.md").write_text("\n".join(text) + "\n")
    (RESULTS / "ablation.json").write_text(json.dumps(results, indent=2))
    click.echo(f"wrote {RESULTS / 'ablation.md'}")


if __name__ == "__main__":
    main()
